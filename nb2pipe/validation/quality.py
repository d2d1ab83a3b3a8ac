"""Data profiles and drift statistics for tables.

This module is self-contained (stdlib + numpy + pandas, imported lazily): nb2pipe injects its
source into the notebook's kernel to profile captured values. It works with pandas 1.5 and
pandas 3.

The generated package checks data with pandera schemas built from these profiles
(`nb2pipe.emit.tests.schemas_source`, margins from TOLERANCES): that is the one implementation
of the data-quality rules. tests/quality_oracle.py restates them without pandera, as the
reference the schemas are tested against. nb2pipe itself does not need pandera.
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
