"""`nb2pipe drift`: new data against the captured training-data profile (issue 4, point 6)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from capture_helpers import SAMPLES, captured_project
from nb2pipe.validation import quality


def _frame(n: int, seed: int, shift: float = 0.0, p=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    rs = np.random.RandomState(seed)
    return pd.DataFrame({"x": rs.normal(10 + shift, 2, n), "k": rs.poisson(4, n),
                         "c": rs.choice(["a", "b", "c"], n, p=list(p))})


def test_no_drift_on_a_fresh_sample():
    prof = quality.profile(_frame(3000, 0))
    rows = quality.drift(_frame(800, 1), prof)
    assert [r["status"] for r in rows] == ["ok", "ok", "ok"], rows


def test_drift_on_a_mean_shift_and_a_category_shift():
    prof = quality.profile(_frame(3000, 0))
    rows = {r["column"]: r for r in quality.drift(_frame(800, 1, shift=2.0,
                                                          p=(0.2, 0.3, 0.5)), prof)}
    assert rows["x"]["status"] == "drift" and rows["x"]["psi"] > 0.2 and rows["x"]["ks"] > 0.2
    assert rows["x"]["ks_pvalue"] < 1e-6
    assert rows["k"]["status"] == "ok"
    assert rows["c"]["status"] == "drift" and rows["c"]["shift"] > 0.2


def test_unseen_categories_count_as_shift():
    prof = quality.profile(_frame(3000, 0))
    new = _frame(800, 1)
    new.loc[new.index % 2 == 0, "c"] = "zzz"
    row = next(r for r in quality.drift(new, prof) if r["column"] == "c")
    assert row["status"] == "drift" and "unseen" in row["note"]


def _fresh_customers(n: int, seed: int) -> pd.DataFrame:
    sys.path.insert(0, str(SAMPLES))
    try:
        import make_samples
    finally:
        sys.path.remove(str(SAMPLES))
    return make_samples.make_customers(n=n, seed=seed)


@pytest.mark.kernel
def test_drift_cli_passes_on_fresh_data_and_fails_on_shifted_data(tmp_path, capsys):
    from nb2pipe.cli import main

    project = captured_project("churn")
    fresh = tmp_path / "fresh.csv"
    _fresh_customers(1000, seed=2024).to_csv(fresh, index=False)
    report = tmp_path / "fresh.json"
    assert main(["drift", str(project), str(fresh), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "load_data.df" in out and "-> OK" in out
    data = json.loads(report.read_text())
    assert data["drift"] is False and data["baseline"] == "load_data.df"

    shifted = pd.read_csv(SAMPLES / "data" / "customers.csv")
    shifted["monthly_charges"] = shifted["monthly_charges"] * 1.25 + 15
    shifted.loc[shifted.index % 2 == 0, "contract"] = "month-to-month"
    path = tmp_path / "shifted.csv"
    shifted.to_csv(path, index=False)
    report = tmp_path / "shifted.json"
    assert main(["drift", str(project), str(path), "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "DRIFT" in out
    data = json.loads(report.read_text())
    assert set(data["drifted"]) == {"monthly_charges", "contract"}, data["drifted"]
    cols = {c["column"]: c for c in data["columns"]}
    assert cols["monthly_charges"]["psi"] >= 0.2 and cols["tenure_months"]["status"] == "ok"


@pytest.mark.kernel
def test_drift_cli_usage_errors(tmp_path, capsys):
    from nb2pipe.cli import main

    assert main(["drift", str(tmp_path), str(tmp_path / "x.csv")]) == 2
    project = captured_project("churn")
    assert main(["drift", str(project), str(tmp_path / "missing.csv")]) == 2
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    assert main(["drift", str(project), str(tmp_path / "d.csv"), "--value", "nope.x"]) == 2
