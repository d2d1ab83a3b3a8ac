"""Type-aware comparison of values: notebook baseline vs pipeline result.

Returns a verdict per value: "equal", "different" (with a readable reason) or
"not comparable" (with the reason). Figures and modules are not comparable; fitted models
compare by parameters and fitted attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

EQUAL, DIFFERENT, NOT_COMPARABLE = "equal", "different", "not comparable"


@dataclass(frozen=True)
class Verdict:
    status: str
    detail: str = ""


def _mod(v: Any) -> str:
    return type(v).__module__ or ""


def compare(
    a: Any, b: Any, rtol: float = 1e-9, atol: float = 1e-12, depth: int = 0
) -> Verdict:
    if depth > 30:
        return Verdict(NOT_COMPARABLE, "nested too deeply")
    ta, tb = type(a), type(b)
    if _mod(a).startswith(("matplotlib", "plotly", "seaborn", "bokeh", "altair")):
        return Verdict(NOT_COMPARABLE, "figure")
    if ta.__name__ == "module":
        return Verdict(NOT_COMPARABLE, "module")
    if (
        ta is not tb
        and not (_is_number(a) and _is_number(b))
        and not _same_class(ta, tb)
    ):
        return Verdict(DIFFERENT, f"type {ta.__name__} vs {tb.__name__}")
    if _mod(a).startswith("pandas"):
        return _compare_pandas(a, b, rtol, atol)
    if ta.__name__ == "ndarray" and _mod(a) == "numpy":
        return _compare_array(a, b, rtol, atol)
    if _is_number(a):
        return _compare_number(a, b, rtol, atol)
    if isinstance(a, (str, bytes, bool, type(None))):
        return (
            Verdict(EQUAL)
            if a == b
            else Verdict(DIFFERENT, f"{_short(a)} vs {_short(b)}")
        )
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return Verdict(DIFFERENT, f"length {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            v = compare(x, y, rtol, atol, depth + 1)
            if v.status != EQUAL:
                return Verdict(v.status, f"[{i}]: {v.detail}")
        return Verdict(EQUAL)
    if isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            if set(a.keys()) != set(b.keys()):
                return Verdict(
                    DIFFERENT, f"keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
                )
        for k in a:
            v = compare(a[k], b[k], rtol, atol, depth + 1)
            if v.status != EQUAL:
                return Verdict(v.status, f"[{k!r}]: {v.detail}")
        return Verdict(EQUAL)
    if isinstance(a, (set, frozenset)):
        return Verdict(EQUAL) if a == b else Verdict(DIFFERENT, "set contents differ")
    if hasattr(a, "get_params") and callable(a.get_params):
        return _compare_estimator(a, b, rtol, atol, depth)
    try:
        eq = a == b
        if isinstance(eq, bool):
            if eq:
                return Verdict(EQUAL)
            if type(a).__eq__ is not object.__eq__:
                return Verdict(DIFFERENT, f"{_short(a)} vs {_short(b)}")
    except (
        Exception
    ):  # noqa: BLE001 - any failing __eq__ just means "compare the state"
        pass
    if hasattr(a, "__dict__") and hasattr(b, "__dict__") and (vars(a) or vars(b)):
        return compare(vars(a), vars(b), rtol, atol, depth + 1)
    try:  # extension types (e.g. a fitted tree) expose their state for pickling
        sa, sb = a.__getstate__(), b.__getstate__()
    except Exception:  # noqa: BLE001
        sa = sb = None
    if isinstance(sa, (dict, tuple)) and type(sa) is type(sb):
        return compare(sa, sb, rtol, atol, depth + 1)
    return Verdict(NOT_COMPARABLE, f"no comparison for {ta.__name__}")


def _same_class(ta: type, tb: type) -> bool:
    """A class defined in the notebook (__main__) and its copy in the shared module."""
    import re

    def base(t: type) -> str:
        return re.sub(r"__v[0-9]+$", "", t.__qualname__)

    return base(ta) == base(tb) and "__main__" in (ta.__module__, tb.__module__)


def _is_number(v: Any) -> bool:
    import numbers

    return isinstance(v, numbers.Number) and not isinstance(v, bool)


def _compare_number(a: Any, b: Any, rtol: float, atol: float) -> Verdict:
    try:
        fa, fb = complex(a), complex(b)
    except (TypeError, ValueError):
        return Verdict(EQUAL) if a == b else Verdict(DIFFERENT, f"{a!r} vs {b!r}")
    if fa == fb or (all(math.isnan(x) for x in (fa.real, fb.real))):
        return Verdict(EQUAL)
    if abs(fa - fb) <= atol + rtol * abs(fb):
        return Verdict(EQUAL)
    return Verdict(DIFFERENT, f"{a!r} vs {b!r}")


def _compare_array(a: Any, b: Any, rtol: float, atol: float) -> Verdict:
    import numpy as np

    if a.shape != b.shape:
        return Verdict(DIFFERENT, f"shape {a.shape} vs {b.shape}")
    if a.dtype != b.dtype:
        return Verdict(DIFFERENT, f"dtype {a.dtype} vs {b.dtype}")
    if a.dtype.kind in "fc":
        ok = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    elif a.dtype.kind == "O":
        ok = np.array(
            [
                compare(x, y, rtol, atol).status == EQUAL
                for x, y in zip(a.ravel(), b.ravel())
            ]
        ).reshape(a.shape)
    else:
        ok = a == b
    if a.dtype.kind == "O":
        statuses = [
            compare(x, y, rtol, atol).status for x, y in zip(a.ravel(), b.ravel())
        ]
        if DIFFERENT not in statuses and NOT_COMPARABLE in statuses:
            return Verdict(NOT_COMPARABLE, "elements cannot be compared")
    bad = int(np.size(ok) - np.count_nonzero(ok))
    if bad:
        return Verdict(DIFFERENT, f"{bad} of {a.size} elements differ")
    return Verdict(EQUAL)


def _compare_pandas(a: Any, b: Any, rtol: float, atol: float) -> Verdict:
    import pandas as pd

    try:
        if isinstance(a, pd.DataFrame):
            if a.shape != b.shape:
                return Verdict(
                    DIFFERENT, f"shape {a.shape} vs {b.shape}" + _index_diff(a, b)
                )
            if list(a.columns) != list(b.columns):
                return Verdict(
                    DIFFERENT,
                    f"columns differ: {list(a.columns)[:8]} vs "
                    f"{list(b.columns)[:8]}",
                )
            for col in a.columns:
                if str(a[col].dtype) != str(b[col].dtype):
                    return Verdict(
                        DIFFERENT,
                        f"column {col!r}: dtype {a[col].dtype} vs " f"{b[col].dtype}",
                    )
            try:
                pd.testing.assert_frame_equal(
                    a, b, check_exact=False, rtol=rtol, atol=atol
                )
            except AssertionError:
                where = _frame_diff(a, b, rtol, atol)
                if where:
                    return Verdict(DIFFERENT, where)
                raise
            return Verdict(EQUAL)
        if isinstance(a, pd.Series):
            if len(a) != len(b):
                return Verdict(
                    DIFFERENT, f"length {len(a)} vs {len(b)}" + _index_diff(a, b)
                )
            pd.testing.assert_series_equal(
                a, b, check_exact=False, rtol=rtol, atol=atol
            )
            return Verdict(EQUAL)
        if isinstance(a, pd.Index):
            pd.testing.assert_index_equal(a, b)
            return Verdict(EQUAL)
    except AssertionError as exc:
        first = str(exc).strip().split("\n")
        return Verdict(DIFFERENT, " ".join(x.strip() for x in first[:3])[:300])
    return (
        Verdict(EQUAL) if a == b else Verdict(DIFFERENT, f"{_short(a)} vs {_short(b)}")
    )


def _index_diff(a: Any, b: Any) -> str:
    """Which index labels only one side has (the rows a filter kept or dropped)."""
    try:
        only_a = a.index.difference(b.index)
        only_b = b.index.difference(a.index)
    except Exception:  # noqa: BLE001 - unorderable or odd indexes: no detail
        return ""
    parts = []
    if len(only_a):
        parts.append(
            f"{len(only_a)} row(s) only in the notebook, e.g. index "
            f"{list(only_a[:5])}"
        )
    if len(only_b):
        parts.append(
            f"{len(only_b)} row(s) only in the pipeline, e.g. index "
            f"{list(only_b[:5])}"
        )
    return ("; " + "; ".join(parts)) if parts else ""


def _frame_diff(a: Any, b: Any, rtol: float, atol: float) -> str:
    """Which columns differ and in how many rows (frames of the same shape and columns)."""
    import pandas as pd

    if not a.index.equals(b.index):
        return (
            "index differs: "
            + _short(list(a.index[:5]))
            + " vs "
            + _short(list(b.index[:5]))
        )
    parts = []
    for i, col in enumerate(a.columns):
        x, y = a.iloc[:, i], b.iloc[:, i]
        try:
            pd.testing.assert_series_equal(
                x, y, check_exact=False, rtol=rtol, atol=atol, check_names=False
            )
            continue
        except AssertionError:
            pass
        try:
            xa, ya = x.to_numpy(), y.to_numpy()
            if xa.dtype.kind in "fc" and ya.dtype.kind in "fc":
                import numpy as np

                same = np.isclose(xa, ya, rtol=rtol, atol=atol, equal_nan=True)
            else:
                same = (x.isna().to_numpy() & y.isna().to_numpy()) | (xa == ya)
            bad = [j for j, ok in enumerate(same) if not ok]
        except Exception:  # noqa: BLE001
            bad = []
        if bad:
            j = bad[0]
            parts.append(
                f"column {col!r}: {len(bad)} of {len(a)} rows differ (first at index "
                f"{a.index[j]!r}: {_short(_item(x.iloc[j]))} vs {_short(_item(y.iloc[j]))})"
            )
        else:
            parts.append(f"column {col!r} differs")
    if not parts:
        return ""
    more = f"; and {len(parts) - 3} more column(s)" if len(parts) > 3 else ""
    return "; ".join(parts[:3]) + more


def _item(v: Any) -> Any:
    try:
        return v.item() if hasattr(v, "item") else v
    except (ValueError, TypeError):
        return v


def _compare_estimator(a: Any, b: Any, rtol: float, atol: float, depth: int) -> Verdict:
    v = compare(
        _plain(a.get_params(deep=False)),
        _plain(b.get_params(deep=False)),
        rtol,
        atol,
        depth + 1,
    )
    if v.status != EQUAL:
        return Verdict(v.status, f"parameters: {v.detail}")
    fitted_a = {
        k: x for k, x in vars(a).items() if k.endswith("_") and not k.startswith("_")
    }
    fitted_b = {
        k: x for k, x in vars(b).items() if k.endswith("_") and not k.startswith("_")
    }
    if set(fitted_a) != set(fitted_b):
        return Verdict(
            DIFFERENT, f"fitted attributes {sorted(fitted_a)} vs {sorted(fitted_b)}"
        )
    for k in sorted(fitted_a):
        v = compare(fitted_a[k], fitted_b[k], rtol, atol, depth + 1)
        if v.status == DIFFERENT:
            return Verdict(DIFFERENT, f"fitted {k}: {v.detail}")
    return Verdict(EQUAL)


def _plain(params: dict) -> dict:
    """Nested estimators compare by their own parameters."""
    out = {}
    for k, v in params.items():
        out[k] = (
            (type(v).__name__, _plain(v.get_params(deep=False)))
            if hasattr(v, "get_params") and not isinstance(v, type)
            else v
        )
    return out


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."
