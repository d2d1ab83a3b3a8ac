"""Data profiles, data-quality checks and drift statistics for tables.

This module is self-contained (stdlib + numpy + pandas, imported lazily): nb2pipe injects its
source into the notebook's kernel to profile captured values. It works with pandas 1.5 and
pandas 3.

The generated package checks data with pandera schemas built from these profiles
(`nb2pipe.emit.tests.schemas_source`, margins from TOLERANCES); `check` here is the reference
they agree with, case for case (tests/test_schemas.py). nb2pipe itself does not need pandera.
"""

from __future__ import annotations

import math
from typing import Any

PROFILE_VERSION = 1
MAX_CATEGORIES = 50  # a column with more distinct values is not treated as categorical
N_BINS = 20  # quantile bins kept for PSI / KS

# Tolerances of the checks (override per call).
TOLERANCES: dict[str, float] = {
    "range_margin": 0.1,  # allowed overshoot of [min, max], as a fraction of the range ...
    "range_std": 1.0,  # ... plus this many baseline standard deviations (sampling tails);
    "range_share": 0.002,  # a share of values up to this may fall just outside (rare tails),
    # none beyond three times the margin
    "mean_std": 0.25,  # allowed mean shift, in baseline standard deviations
    "std_ratio": 1.5,  # allowed std ratio (either way)
    "proportion": 0.05,  # allowed absolute change of a category's share
    "missing": 0.02,  # allowed rise of the missing share of a column that had missing values
}


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _kind(col: Any) -> str:
    import pandas as pd

    dt = col.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dt):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "datetime"
    if (
        isinstance(dt, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dt)
        or pd.api.types.is_string_dtype(dt)
    ):
        try:
            n = col.nunique(dropna=True)
        except TypeError:  # unhashable values
            return "other"
        return "categorical" if n <= MAX_CATEGORIES else "text"
    return "other"


def _key(v: Any) -> str:
    if isinstance(v, (bool, str)):
        return str(v)
    f = _num(v)
    if f is not None and f == int(f):
        return str(int(f))
    return str(v)


def profile_column(col: Any) -> dict[str, Any]:
    """Dtype, missing count and, by kind, range/moments/quantile bins or category shares."""
    import numpy as np

    out: dict[str, Any] = {
        "dtype": str(col.dtype),
        "kind": _kind(col),
        "missing": int(col.isna().sum()),
        "count": int(len(col)),
    }
    values = col.dropna()
    if out["kind"] == "numeric" and len(values):
        arr = values.to_numpy(dtype="float64")
        arr = arr[np.isfinite(arr)]
        if len(arr):
            out.update(
                min=float(arr.min()),
                max=float(arr.max()),
                mean=float(arr.mean()),
                std=float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
            )
            edges = sorted(
                set(
                    float(x)
                    for x in np.quantile(arr, np.linspace(0, 1, N_BINS + 1)[1:-1])
                )
            )
            out["edges"] = edges
            out["fractions"] = _bin_fractions(arr, edges)
    elif out["kind"] == "categorical" and len(values):
        shares = values.map(_key).value_counts(normalize=True)
        out["categories"] = {str(k): float(v) for k, v in sorted(shares.items())}
    elif out["kind"] == "text":
        out["n_unique"] = int(values.nunique())
    return out


def _bin_fractions(arr: Any, edges: list[float]) -> list[float]:
    import numpy as np

    idx = np.searchsorted(np.asarray(edges, dtype="float64"), arr, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    total = max(int(counts.sum()), 1)
    return [float(c) / total for c in counts]


def profile(value: Any) -> dict[str, Any] | None:
    """Profile of a DataFrame or Series (None for anything else)."""
    import pandas as pd

    if isinstance(value, pd.Series):
        frame, kind = value.to_frame(name=str(value.name)), "series"
    elif isinstance(value, pd.DataFrame):
        frame, kind = value, "frame"
    else:
        return None
    cols: dict[str, Any] = {}
    for i, name in enumerate(frame.columns):
        key = str(name)
        if key in cols:
            continue
        cols[key] = profile_column(frame.iloc[:, i])
    return {
        "version": PROFILE_VERSION,
        "kind": kind,
        "rows": int(len(frame)),
        "columns": cols,
    }


def _as_frame(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.Series):
        return value.to_frame(name=str(value.name))
    return value


def _columns(frame: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, name in enumerate(frame.columns):
        out.setdefault(str(name), frame.iloc[:, i])
    return out


def check(value: Any, prof: dict[str, Any], **tolerances: float) -> list[str]:
    """Data-quality problems of value against its captured profile; empty when it passes.

    Missing columns, changed dtypes, missing values where there were none (or many more),
    values outside the observed range (with a margin), mean/std outside their band, unseen
    categories and category shares that moved beyond tolerance (bias).
    """
    import numpy as np
    import pandas as pd

    tol = dict(TOLERANCES, **tolerances)
    if not isinstance(value, (pd.DataFrame, pd.Series)):
        return [f"expected a table, got {type(value).__name__}"]
    cols = _columns(_as_frame(value))
    problems: list[str] = []
    for name, base in prof["columns"].items():
        if name not in cols:
            problems.append(f"column {name!r}: missing")
            continue
        col = cols[name]
        n = max(len(col), 1)
        if str(col.dtype) != base["dtype"]:
            problems.append(
                f"column {name!r}: dtype {col.dtype} (expected {base['dtype']})"
            )
        miss = int(col.isna().sum())
        base_share = base["missing"] / max(base["count"], 1)
        if base["missing"] == 0 and miss:
            problems.append(
                f"column {name!r}: {miss} missing value(s) in {n} rows (there "
                "were none)"
            )
        elif miss / n > base_share + tol["missing"] + 4 * math.sqrt(
            base_share * (1 - base_share) / n
        ):
            problems.append(
                f"column {name!r}: {miss / n:.1%} missing (was {base_share:.1%})"
            )
        values = col.dropna()
        if base["kind"] == "numeric" and "min" in base:
            if not pd.api.types.is_numeric_dtype(
                values.dtype
            ) or pd.api.types.is_bool_dtype(values.dtype):
                continue
            arr = values.to_numpy(dtype="float64")
            span = base["max"] - base["min"]
            margin = tol["range_margin"] * (
                span if span > 0 else max(abs(base["max"]), 1.0)
            ) + tol["range_std"] * (base.get("std") or 0.0)
            lo, hi = base["min"] - margin, base["max"] + margin
            out = int(np.count_nonzero((arr < lo) | (arr > hi)))
            far = int(
                np.count_nonzero((arr < lo - 2 * margin) | (arr > hi + 2 * margin))
            )
            if far or out > tol["range_share"] * len(arr):
                bad = arr[(arr < lo) | (arr > hi)]
                problems.append(
                    f"column {name!r}: {out} value(s) outside the observed range "
                    f"[{base['min']:.6g}, {base['max']:.6g}] (+/- {margin:.3g}), "
                    f"e.g. {bad[0]:.6g}"
                )
            if len(arr) > 1 and base.get("std") is not None:
                s0 = base["std"]
                mean, std = float(arr.mean()), float(arr.std(ddof=1))
                band = tol["mean_std"] * s0 + 4 * s0 / math.sqrt(len(arr))
                if s0 > 0 and abs(mean - base["mean"]) > band:
                    problems.append(
                        f"column {name!r}: mean {mean:.6g} outside "
                        f"{base['mean']:.6g} +/- {band:.3g}"
                    )
                if s0 > 0 and not (
                    s0 / tol["std_ratio"] <= std <= s0 * tol["std_ratio"]
                ):
                    problems.append(
                        f"column {name!r}: std {std:.6g} (expected about " f"{s0:.6g})"
                    )
        elif base["kind"] == "categorical" and "categories" in base:
            known = base["categories"]
            keys = values.map(_key)
            unseen = keys[~keys.isin(list(known))]
            if len(unseen):
                shown = sorted(set(unseen))[:5]
                problems.append(
                    f"column {name!r}: {len(unseen)} value(s) in unseen "
                    f"categories {shown}"
                )
            shares = keys.value_counts(normalize=True)
            m = max(len(keys), 1)
            for cat, p0 in known.items():
                p = float(shares.get(cat, 0.0))
                allowed = tol["proportion"] + 4 * math.sqrt(p0 * (1 - p0) / m)
                if abs(p - p0) > allowed:
                    problems.append(
                        f"column {name!r}: share of {cat!r} is {p:.1%} (was "
                        f"{p0:.1%}, tolerance {allowed:.1%})"
                    )
    return problems


class DataQualityError(Exception):
    """Raised by the validation step: the data does not look like the captured data."""


def report(problems: dict[str, list[str]]) -> str:
    """A readable report of problems by value."""
    lines = []
    for where, items in problems.items():
        if items:
            lines.append(f"{where}: {len(items)} problem(s)")
            lines.extend(f"  - {p}" for p in items)
    return "\n".join(lines)


# ---- drift -----------------------------------------------------------------------------------


def _psi(expected: list[float], actual: list[float]) -> float:
    eps = 1e-4
    total = 0.0
    for e, a in zip(expected, actual):
        e, a = max(e, eps), max(a, eps)
        total += (a - e) * math.log(a / e)
    return total


def _ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic two-sample Kolmogorov-Smirnov p-value."""
    if n <= 0 or m <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 1e-3:
        return 1.0
    s = sum(
        2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101)
    )
    return min(max(s, 0.0), 1.0)


def drift(
    value: Any,
    prof: dict[str, Any],
    psi_threshold: float = 0.2,
    ks_alpha: float = 0.001,
    ks_min: float = 0.1,
) -> list[dict[str, Any]]:
    """Per column drift of value against the profile: PSI (+ KS at the bin edges) for numbers,
    PSI and total variation over categories (unseen values pooled) for categoricals.

    status is "drift" when PSI >= psi_threshold, or (numbers) when the KS statistic is at least
    ks_min and significant at ks_alpha; "ok" otherwise; "skipped" for other kinds.
    """
    import numpy as np

    cols = _columns(_as_frame(value))
    rows: list[dict[str, Any]] = []
    for name, base in prof["columns"].items():
        row: dict[str, Any] = {
            "column": name,
            "kind": base["kind"],
            "psi": None,
            "ks": None,
            "ks_pvalue": None,
            "shift": None,
            "status": "ok",
            "note": "",
        }
        rows.append(row)
        if name not in cols:
            row.update(status="drift", note="column missing")
            continue
        values = cols[name].dropna()
        if base["kind"] == "numeric" and "edges" in base:
            try:
                arr = values.to_numpy(dtype="float64")
            except (TypeError, ValueError):
                row.update(status="drift", note=f"not numeric ({cols[name].dtype})")
                continue
            arr = arr[np.isfinite(arr)]
            if not len(arr):
                row.update(status="drift", note="no values")
                continue
            actual = _bin_fractions(arr, base["edges"])
            psi = _psi(base["fractions"], actual)
            cum_e = np.cumsum(base["fractions"])[:-1]
            cum_a = np.cumsum(actual)[:-1]
            d = float(np.max(np.abs(cum_e - cum_a))) if len(cum_e) else 0.0
            # the baseline's extremes matter too: mass beyond them is a shift
            below = float(np.mean(arr < base["min"]))
            above = float(np.mean(arr > base["max"]))
            d = max(d, below, above)
            p = _ks_pvalue(d, base["count"] - base["missing"], len(arr))
            row.update(psi=round(psi, 6), ks=round(d, 6), ks_pvalue=float(f"{p:.3g}"))
            if psi >= psi_threshold or (d >= ks_min and p < ks_alpha):
                row["status"] = "drift"
        elif base["kind"] == "categorical" and "categories" in base:
            shares = values.map(_key).value_counts(normalize=True)
            known = base["categories"]
            exp = list(known.values()) + [0.0]
            act = [float(shares.get(c, 0.0)) for c in known]
            act.append(max(0.0, 1.0 - sum(act)))
            psi = _psi(exp, act)
            tv = 0.5 * sum(abs(a - e) for a, e in zip(act, exp))
            row.update(psi=round(psi, 6), shift=round(tv, 6))
            if act[-1] > 0:
                row["note"] = f"{act[-1]:.1%} unseen"
            if psi >= psi_threshold:
                row["status"] = "drift"
        else:
            row["status"] = "skipped"
            row["note"] = f"{base['kind']} column"
    return rows
