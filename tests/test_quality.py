"""Generated unit tests, data-quality checks, validation step and model performance tests
(issue 4, points 3-5): they pass as generated and fail on broken code and corrupted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capture_helpers import (SAMPLE_NAMES, SAMPLES, captured_project, copy_project,
                             package_of, run_generated_tests, sample_copy)
from nb2pipe.validation import quality
from quality_oracle import check as oracle_check

# ---- the checks themselves (no kernel) -------------------------------------------------------


def _frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rs = np.random.RandomState(seed)
    return pd.DataFrame({
        "amount": rs.normal(100, 15, n),
        "count": rs.poisson(3, n),
        "plan": rs.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
        "age": np.where(rs.rand(n) < 0.05, np.nan, rs.randint(18, 80, n)),
    })


def test_profile_records_what_the_checks_need():
    prof = quality.profile(_frame())
    cols = prof["columns"]
    assert prof["rows"] == 1000
    assert cols["amount"]["kind"] == "numeric" and cols["amount"]["missing"] == 0
    assert {"min", "max", "mean", "std", "edges", "fractions"} <= set(cols["amount"])
    assert cols["plan"]["kind"] == "categorical"
    assert set(cols["plan"]["categories"]) == {"basic", "plus", "pro"}
    assert abs(sum(cols["plan"]["categories"].values()) - 1) < 1e-9
    assert cols["age"]["missing"] > 0
    assert quality.profile([1, 2]) is None
    assert quality.profile(pd.Series([1.0, 2.0], name="s"))["kind"] == "series"


def test_same_data_and_a_fresh_sample_pass():
    prof = quality.profile(_frame())
    assert oracle_check(_frame(), prof) == []
    assert oracle_check(_frame(600, seed=1), prof) == []


@pytest.mark.parametrize("corrupt,expect", [
    (lambda d: d.assign(amount=d.amount.mask(d.index % 10 == 0)), "missing value"),
    (lambda d: d.assign(amount=d.amount.where(d.index != 3, 1e6)), "outside the observed range"),
    (lambda d: d.assign(plan=d.plan.where(d.index % 50 != 0, "enterprise")), "unseen categor"),
    (lambda d: d.assign(plan=d.plan.where(d.index % 3 != 0, "pro")), "share of 'pro'"),
    (lambda d: d.assign(amount=d.amount + 30), "mean"),
    (lambda d: d.assign(count=d["count"].astype(float)), "dtype"),
    (lambda d: d.drop(columns=["plan"]), "missing"),
])
def test_each_corruption_is_reported(corrupt, expect):
    prof = quality.profile(_frame())
    problems = oracle_check(corrupt(_frame()), prof)
    assert any(expect in p for p in problems), problems


# ---- generated tests on the sample notebooks ---------------------------------------------------


NOT_APPLICABLE = ("slow: NB2PIPE_SCALE=1", "no categorical request column",
                  "no numeric request column")


@pytest.mark.kernel
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_generated_tests_pass_as_generated(name):
    project = captured_project(name)
    proc = run_generated_tests(project)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    # nothing skipped but the scale check, which is skipped by default (NB2PIPE_SCALE=1), and
    # serving cases the data has no column for (free text only: no category, no range)
    skips = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all(any(why in line for why in NOT_APPLICABLE) for line in skips), (
        proc.stdout[-2000:])


@pytest.mark.kernel
def test_generated_step_test_fails_when_a_step_is_broken(tmp_path):
    project = copy_project(captured_project("churn"), tmp_path / "churn_pipeline")
    step = project / package_of(project) / "steps" / "features.py"
    text = step.read_text()
    assert '(df["tenure_months"] < 6)' in text
    step.write_text(text.replace('(df["tenure_months"] < 6)', '(df["tenure_months"] < 12)'))
    proc = run_generated_tests(project, "tests/test_steps.py", "-k", "reproduces",
                               workdir=SAMPLES)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "test_step_reproduces_captured_outputs[features]" in proc.stdout
    assert "column 'is_new'" in proc.stdout  # a readable reason
    # the other steps still reproduce their fixtures
    assert "1 failed, 4 passed" in proc.stdout, proc.stdout[-1500:]


@pytest.mark.kernel
def test_generated_tests_without_capture_are_marked_stubs(tmp_path):
    from nb2pipe.api import convert

    project = tmp_path / "churn_pipeline"
    assert convert(SAMPLES / "churn.ipynb", project).ok
    proc = run_generated_tests(project, "tests/test_steps.py", "tests/test_data_quality.py",
                               "tests/test_model_performance.py", "-k", "not pipeline_runs")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "skipped" in proc.stdout and "--capture" in proc.stdout
    assert "5 passed, 7 skipped" in proc.stdout, proc.stdout[-1500:]


def _corrupt_customers(kind: str, path) -> None:
    df = pd.read_csv(path)
    idx = df.index
    if kind == "missing":
        df.loc[idx % 7 == 0, "gender"] = np.nan
    elif kind == "out_of_range":
        df.loc[idx % 97 == 0, "support_calls"] = 250
    elif kind == "unseen":
        df.loc[idx % 40 == 0, "contract"] = "lifetime"
    elif kind == "skewed":
        df.loc[idx % 3 == 0, "internet_service"] = "fiber"
    df.to_csv(path, index=False)


@pytest.fixture(scope="module")
def churn_captured():
    return captured_project("churn")


@pytest.mark.kernel
@pytest.mark.parametrize("kind,expect", [
    ("missing", "column 'gender'"),
    ("out_of_range", "column 'support_calls'"),
    ("unseen", "unseen categories ['lifetime']"),
    ("skewed", "share of 'fiber'"),
])
def test_generated_data_quality_tests_fail_on_corrupted_data(tmp_path, churn_captured, kind,
                                                             expect):
    # (the same tests pass on the intact data: test_generated_tests_pass_as_generated)
    data = sample_copy(tmp_path / "samples")
    _corrupt_customers(kind, data / "data" / "customers.csv")
    bad = run_generated_tests(churn_captured, "tests/test_data_quality.py", workdir=data)
    assert bad.returncode == 1, bad.stdout[-2000:]
    assert expect in bad.stdout, bad.stdout[-3000:]


@pytest.mark.kernel
def test_validation_step_fails_the_run_with_a_report(tmp_path, churn_captured):
    import os
    import subprocess
    import sys

    data = sample_copy(tmp_path / "samples")
    env = dict(os.environ, NB2PIPE_WORKDIR=str(data), MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", f"{package_of(churn_captured)}.validate"]
    good = subprocess.run(cmd, cwd=churn_captured, env=env, capture_output=True, text=True)
    assert good.returncode == 0, good.stderr[-2000:]
    _corrupt_customers("unseen", data / "data" / "customers.csv")
    bad = subprocess.run(cmd, cwd=churn_captured, env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "data quality check failed" in bad.stderr
    assert "step load_data" in bad.stderr and "'lifetime'" in bad.stderr


@pytest.mark.kernel
def test_model_performance_tests_come_from_the_metrics(tmp_path):
    """reviews_tagged has a pipeline-metrics cell; house_prices assigns r2_score and co."""
    text = (captured_project("reviews_tagged") / "tests" / "test_model_performance.py"
            ).read_text()
    assert '"accuracy": [' in text and '"f1": [' in text
    text = (captured_project("house_prices") / "tests" / "test_model_performance.py"
            ).read_text()
    for metric in ('"r2"', '"mae"', '"rmse"'):
        assert metric in text
    assert '"lower"' in text and '"higher"' in text
    # a worse model fails the test
    project = copy_project(captured_project("reviews_tagged"), tmp_path / "reviews_pipeline")
    step = project / package_of(project) / "steps" / "evaluate.py"
    text = step.read_text()
    assert "y_pred = model.predict(X_test)" in text
    step.write_text(text.replace("y_pred = model.predict(X_test)",
                                 "y_pred = 1 - model.predict(X_test)"))
    proc = run_generated_tests(project, "tests/test_model_performance.py", workdir=SAMPLES)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "accuracy =" in proc.stdout and "captured" in proc.stdout
