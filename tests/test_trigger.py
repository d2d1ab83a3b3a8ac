"""`nb2pipe trigger`: due or not, and why, against real runs of sample pipelines (issue 17).

Each reason (code, package, parameter, data, drift) and "nothing due" has its own test; every
decision must land in the store's `triggers` table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from capture_helpers import sample_copy
from nb2pipe.api import convert
from runner_helpers import cli, cli_json, db

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="session")
def ran_samples(tmp_path_factory) -> Path:
    """A copy of sample_notebooks/ with reviews_tagged (parameters) and churn (captured, for
    drift) converted beside their notebooks and run once."""
    root = sample_copy(tmp_path_factory.mktemp("trigger") / "samples")
    for name, capture in (("reviews_tagged", False), ("churn", True)):
        res = convert(root / f"{name}.ipynb", root / f"{name}_pipeline", capture=capture)
        assert res.ok, [d.format() for d in res.diagnostics]
        run = cli("run", root / f"{name}_pipeline", "-q", timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
    return root


@pytest.fixture
def samples(ran_samples, tmp_path) -> Path:
    dest = tmp_path / "samples"
    shutil.copytree(ran_samples, dest)
    return dest


def _triggers(project: Path) -> list[dict]:
    con = db(project)
    try:
        return [dict(r) for r in con.execute("SELECT * FROM triggers ORDER BY id")]
    finally:
        con.close()


def _kinds(decision: dict) -> set[str]:
    return {r["kind"] for r in decision["reasons"]}


def test_nothing_due_after_a_run_exits_0_and_is_recorded(samples):
    project = samples / "reviews_tagged_pipeline"
    proc = cli("trigger", project, "--run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nothing due" in proc.stdout
    rows = _triggers(project)
    assert len(rows) == 1 and rows[0]["due"] == 0 and rows[0]["action"] == "none"
    assert rows[0]["outcome"] == "not due"
    # and no run was started
    con = db(project)
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
    con.close()


def test_code_change_is_due_and_run_clears_it(samples):
    project = samples / "reviews_tagged_pipeline"
    step = project / "reviews_tagged_pipeline" / "steps" / "load_data.py"
    step.write_text(step.read_text() + "\n# edited by hand\n")
    rc, dec = cli_json("trigger", project)
    assert rc == 1 and dec["due"] and dec["outcome"] == "due"  # due, not run: exit 1
    assert _kinds(dec) == {"code"}
    code = next(r for r in dec["reasons"] if r["kind"] == "code")
    assert "load_data" in code["detail"] and code["steps"] == ["load_data"]
    rc, dec = cli_json("trigger", project, "--run")
    assert rc == 0 and dec["action"] == "run" and dec["outcome"] == "finished"
    rc, dec = cli_json("trigger", project)
    assert rc == 0 and not dec["due"]
    rows = _triggers(project)
    assert [(r["due"], r["action"], r["outcome"]) for r in rows] == [
        (1, "none", "due"), (1, "run", "finished"), (0, "none", "not due")]
    assert json.loads(rows[1]["reasons"])[0]["kind"] == "code"
    assert rows[1]["run_id"] == dec_run_id(project)


def dec_run_id(project: Path) -> int:
    con = db(project)
    try:
        return con.execute("SELECT MAX(id) FROM runs").fetchone()[0]
    finally:
        con.close()


def test_parameter_change_is_due(samples):
    project = samples / "reviews_tagged_pipeline"
    rc, dec = cli_json("trigger", project, "--param", "C=2.0")
    assert rc == 1 and _kinds(dec) == {"parameter"}
    assert dec["reasons"][0]["detail"] == "C: 1.0 -> 2.0"
    proc = cli("trigger", project, "--param", "C=2.0")
    assert "parameter: C: 1.0 -> 2.0" in proc.stdout and "not run" in proc.stdout


def test_data_change_is_due(samples):
    project = samples / "reviews_tagged_pipeline"
    data = samples / "data" / "reviews.csv"
    data.write_text(data.read_text() + "great value for the money. five stars.,1\n")
    rc, dec = cli_json("trigger", project, "--run")
    assert rc == 0 and _kinds(dec) == {"data"}
    assert dec["reasons"][0]["detail"] == "data/reviews.csv changed"
    assert dec["outcome"] == "finished"


def test_package_change_is_due(samples):
    project = samples / "reviews_tagged_pipeline"
    # an upgraded package: the store's cached module -> version map is what the next run sees
    con = db(project)
    row = json.loads(con.execute("SELECT value FROM kv WHERE key='package_map'").fetchone()[0])
    old = row["map"]["sklearn"]["scikit-learn"]
    row["map"]["sklearn"] = {"scikit-learn": "0.0.1"}
    with con:
        con.execute("UPDATE kv SET value=? WHERE key='package_map'", (json.dumps(row),))
    con.close()
    rc, dec = cli_json("trigger", project)
    assert rc == 1 and _kinds(dec) == {"package"}
    assert dec["reasons"][0]["detail"] == f"scikit-learn: {old} -> 0.0.1"


def test_watched_source_is_due_until_a_successful_run_saw_it(samples, tmp_path):
    project = samples / "reviews_tagged_pipeline"
    extra = tmp_path / "extra.csv"
    extra.write_text("a,b\n1,2\n")
    url = extra.as_uri()
    rc, dec = cli_json("trigger", project, "--data", url)
    assert rc == 1 and _kinds(dec) == {"data"} and "not seen" in dec["reasons"][0]["detail"]
    rc, dec = cli_json("trigger", project, "--data", url, "--run")
    assert rc == 0 and dec["outcome"] == "finished"
    rc, dec = cli_json("trigger", project, "--data", url)
    assert rc == 0 and not dec["due"]
    extra.write_text("a,b\n1,3\n")
    rc, dec = cli_json("trigger", project, "--data", url)
    assert rc == 1 and dec["reasons"][0]["detail"] == f"{url} changed"


def test_drift_is_due_and_fresh_data_is_not(samples, tmp_path):
    project = samples / "churn_pipeline"
    same = tmp_path / "same.csv"
    shutil.copyfile(samples / "data" / "customers.csv", same)
    rc, dec = cli_json("trigger", project, "--drift", same)
    assert rc == 0 and not dec["due"], dec
    shifted = pd.read_csv(samples / "data" / "customers.csv")
    shifted["monthly_charges"] = shifted["monthly_charges"] * 1.25 + 15
    path = tmp_path / "shifted.csv"
    shifted.to_csv(path, index=False)
    rc, dec = cli_json("trigger", project, "--drift", path)
    assert rc == 1 and _kinds(dec) == {"drift"}
    assert "monthly_charges" in dec["reasons"][0]["detail"]
    assert [r["due"] for r in _triggers(project)] == [0, 1]


def test_usage_errors_exit_2_with_a_message(samples, tmp_path):
    project = samples / "reviews_tagged_pipeline"
    proc = cli("trigger", project, "--data", str(tmp_path / "nope.csv"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("trigger", project, "--drift", str(tmp_path / "nope.csv"))
    assert proc.returncode == 2 and "needs a capture" in proc.stderr
    proc = cli("trigger", tmp_path)
    assert proc.returncode == 2 and "not a generated project" in proc.stderr


def test_submit_when_due_goes_through_nb2pipe_submit(samples):
    project = samples / "reviews_tagged_pipeline"
    rc, dec = cli_json("trigger", project, "--param", "C=2.0")
    assert rc == 1
    proc = cli("trigger", project, "--param", "C=2.0", "--submit", "argo",
               "--submit-option=--dry-run", "--submit-option=--image=registry.example/x:1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kind: Workflow" in proc.stdout and "submit:argo: dry run" in proc.stdout
    row = _triggers(project)[-1]
    assert (row["due"], row["action"], row["outcome"]) == (1, "submit:argo", "dry run")
