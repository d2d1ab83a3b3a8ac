"""The data-quality rules restated without pandera: the reference the generated schemas
(`<pkg>/schemas.py`, from `nb2pipe.emit.tests.schemas_source`) are tested against.

Not product code: the generated package checks data with its pandera schemas alone. This oracle
is written independently of them (plain pandas/numpy over the captured profile), so
tests/test_schemas.py can show both pass and fail the same tables, case for case.
"""

from __future__ import annotations

import math
from typing import Any

from nb2pipe.validation.quality import TOLERANCES, _as_frame, _columns, _key


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
