from __future__ import annotations

import ast
import math
from typing import Any

try:  # pandera 0.24+ keeps its pandas API here (required with pandas 3)
    import pandera.pandas as pa
except ImportError:  # pandera 0.20-0.23 (pandas 1.5), or none
    try:
        import pandera as pa
    except ImportError:
        pa = None  # needed only once there is a schema (require_pandera)

# __TOLERANCES__


class DataQualityError(Exception):
    """Raised by the validation step: the data does not look like the captured data."""


def require_pandera() -> None:
    if pa is None:
        raise ImportError(
            "the data-quality schemas need pandera: pip install -r requirements-test.txt"
        )


def _key(value: Any) -> str:
    """A category's name as the profile recorded it (1.0 and 1 are both "1")."""
    if isinstance(value, (bool, str)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isfinite(number) and number == int(number):
        return str(int(number))
    return str(value)


def _keys(series: Any) -> Any:
    """Each value's category name; without a Python call per value where the dtype tells."""
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return series.astype(str)
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return series  # strings are their own names
    return series.map(_key)


# ---- the checks pandera has no built-in for: tolerances, proportions (bias) -----------------


def dtype_is(dtype: str) -> pa.Check:
    """The column's dtype is exactly `dtype` as pandas names it (pandera's own dtype check
    lets int64 and Int64, object and str, datetime units stand for each other)."""
    return pa.Check(
        lambda s: str(s.dtype) == dtype,
        name="dtype_is",
        error=f"dtype {dtype}",
        ignore_na=False,
    )


def missing_share_below(share: float) -> pa.Check:
    """A column that had missing values: their share may rise by the `missing` tolerance
    plus four standard errors of the captured share, no more."""

    def holds(s: Any) -> bool:
        n = max(len(s), 1)
        noise = 4 * math.sqrt(share * (1 - share) / n)
        return bool(s.isna().sum() / n <= share + TOLERANCES["missing"] + noise)

    return pa.Check(
        holds,
        name="missing_share",
        error=f"missing share up to {share:.1%} + tolerance",
        ignore_na=False,
    )


def mostly_in_range(low: float, high: float) -> pa.Check:
    """At most the `range_share` of the values outside [low, high] (rare tails); the values
    outside are the failure cases when there are more."""

    def holds(s: Any) -> Any:
        inside = (s >= low) & (s <= high)
        if (~inside).sum() <= TOLERANCES["range_share"] * len(s):
            return inside | True
        return inside

    return pa.Check(
        holds, name="mostly_in_range", error=f"in_range({low:.6g}, {high:.6g})"
    )


def mean_near(mean: float, std: float) -> pa.Check:
    """The mean within `mean_std` captured standard deviations (plus four standard errors)."""

    def holds(s: Any) -> bool:
        if len(s) < 2:
            return True
        band = TOLERANCES["mean_std"] * std + 4 * std / math.sqrt(len(s))
        return bool(abs(float(s.astype("float64").mean()) - mean) <= band)

    return pa.Check(holds, name="mean_near", error=f"mean near {mean:.6g}")


def std_near(std: float) -> pa.Check:
    """The standard deviation within a factor `std_ratio` of the captured one."""

    def holds(s: Any) -> bool:
        if len(s) < 2:
            return True
        now = float(s.astype("float64").std(ddof=1))
        return bool(
            std / TOLERANCES["std_ratio"] <= now <= std * TOLERANCES["std_ratio"]
        )

    return pa.Check(holds, name="std_near", error=f"std near {std:.6g}")


def known_categories(categories: list[str]) -> pa.Check:
    """Every value one of the captured categories, compared by name as the profile recorded
    them (an object column may hold 1 and "1")."""
    return pa.Check(
        lambda s: _keys(s).isin(categories),
        name="known_categories",
        error=f"isin({categories})",
    )


def share_near(category: str, share: float) -> pa.Check:
    """The share of one category within the `proportion` tolerance of the captured share
    (plus four standard errors): a shift in the data's make-up (bias)."""

    def holds(s: Any) -> bool:
        n = max(len(s), 1)
        now = float((_keys(s) == category).sum()) / n
        allowed = TOLERANCES["proportion"] + 4 * math.sqrt(share * (1 - share) / n)
        return bool(abs(now - share) <= allowed)

    return pa.Check(
        holds, name="share_near", error=f"share of {category!r} near {share:.1%}"
    )


# ---- one schema per checked table: `step.name` -> DataFrameSchema ---------------------------

# __SCHEMAS__


def check(value: Any, schema: pa.DataFrameSchema) -> list[str]:
    """Data-quality problems of a table against its schema; empty when it passes."""
    import pandas as pd

    if isinstance(value, pd.Series):
        value = value.to_frame(name=str(value.name))
    if not isinstance(value, pd.DataFrame):
        return [f"expected a table, got {type(value).__name__}"]
    names = [str(c) for c in value.columns]
    if names != list(value.columns) or len(set(names)) != len(names):
        value = value.loc[:, ~pd.Index(names).duplicated()]  # the first of each name
        value.columns = [str(c) for c in value.columns]
    try:
        schema.validate(value, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return problems(exc.failure_cases, value)
    return []


def problems(failures: Any, frame: Any) -> list[str]:
    """pandera's failure cases as one readable line per column and check."""
    out = set()
    for (column, check), cases in failures.groupby(["column", "check"], sort=False):
        if check == "column_in_dataframe":
            out.update(f"column {c!r}: missing" for c in cases["failure_case"])
            continue
        values = cases.loc[cases["index"].notna(), "failure_case"].tolist()
        out.add(_problem(str(column), str(check), values, frame))
    return sorted(out)


def _problem(column: str, check: str, values: list, frame: Any) -> str:
    name = f"column {column!r}"
    # pandera's dtype('int64') and dtype_is's "dtype int64" say the same
    if check.startswith("dtype"):
        expected = check[len("dtype") :].strip(" ()'\"")
        return f"{name}: dtype {frame[column].dtype} (expected {expected})"
    if check == "not_nullable":
        return f"{name}: {len(values)} missing value(s) in {len(frame)} rows (there were none)"
    if check.startswith("isin("):
        shown = sorted({_key(v) for v in values})[:5]
        return f"{name}: {len(values)} value(s) in unseen categories {shown}"
    if check.startswith("in_range(") and values:
        return (
            f"{name}: {len(values)} value(s) outside the observed range "
            f"{check[len('in_range'):]}, e.g. {values[0]}"
        )
    present = frame[column].dropna()
    if check.startswith("share of "):
        category = ast.literal_eval(check[len("share of ") : check.rindex(" near ")])
        now = float((_keys(present) == category).mean()) if len(present) else 0.0
        was = check.rsplit(" near ", 1)[1]
        return f"{name}: share of {category!r} is {now:.1%} (was {was}, tolerance exceeded)"
    if check.startswith(("mean near ", "std near ")):
        stat = check.split(" ")[0]
        now = getattr(present.astype("float64"), stat)()
        return f"{name}: {stat} {now:.6g} (expected {check})"
    return f"{name}: not {check}"


def report(found: dict[str, list[str]]) -> str:
    """A readable report of problems by value."""
    lines = []
    for where, items in found.items():
        if items:
            lines.append(f"{where}: {len(items)} problem(s)")
            lines.extend(f"  - {p}" for p in items)
    return "\n".join(lines)
