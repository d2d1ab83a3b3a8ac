"""Small helpers for segmentation.ipynb (imported with ``sys.path.append(".")``)."""

import numpy as np


def add_spend(df):
    """Return a copy of ``df`` with ``annual_spend`` and ``log_spend`` columns added."""
    out = df.copy()
    out["annual_spend"] = out["orders_per_year"] * out["avg_basket"]
    out["log_spend"] = np.log1p(out["annual_spend"])
    return out


def name_segments(profile):
    """Give each row (cluster) of a per-segment mean profile a readable name."""
    names = []
    for _, row in profile.iterrows():
        if row["recency_days"] > 120:
            names.append("lapsed")
        elif row["pct_discount"] > 0.3:
            names.append("bargain hunters")
        elif row["orders_per_year"] > 20:
            names.append("loyal")
        else:
            names.append("occasional big baskets")
    return names
