"""Issue 17 item 4: the generated project's whole-pipeline tests (tests/test_pipeline.py) pass
on every sample converted with --capture, and the generated runtime turns a failure reading a
data file into one message naming the step, the file and the problem."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from capture_helpers import (SAMPLE_NAMES, captured_project, package_of, run_generated_tests,
                             sample_copy)
from nb2pipe.api import convert

pytestmark = pytest.mark.kernel

FAULTS = ["test_whole_pipeline_on_a_sample", "test_missing_input_file", "test_empty_input_file",
          "test_malformed_row", "test_required_column_missing"]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_generated_pipeline_tests_pass_on_every_sample(name):
    project = captured_project(name)
    done = run_generated_tests(project, "-rA", "tests/test_pipeline.py")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    passed = set(re.findall(r"^PASSED tests/test_pipeline\.py::(test_\w+)", out, re.M))
    assert passed >= set(FAULTS), out[-4000:]  # each fault case ran, none skipped
    assert "slow: NB2PIPE_SCALE=1" in out  # the scale check is skipped by default


def test_scale_check_reports_time_and_memory_per_step(tmp_path):
    project = captured_project("churn")
    env_done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
         "tests/test_pipeline.py", "-k", "test_scale and 10 and not 100"],
        cwd=str(project), capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "NB2PIPE_SCALE": "1", "MPLBACKEND": "Agg"})
    out = env_done.stdout + env_done.stderr
    assert env_done.returncode == 0, out[-3000:]
    assert "10x the input rows:" in out
    for step in ("load_data", "train", "evaluate"):
        assert re.search(rf"{step}\s+[\d.]+ s\s+[\d.]+ MiB peak", out), out[-3000:]


# ---- the runtime's message, from the step entrypoint a container runs -------------------------

@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    """churn converted (with --capture: the captured columns are the required ones) beside a
    copy of the sample data."""
    root = sample_copy(tmp_path_factory.mktemp("faults") / "samples")
    res = convert(root / "churn.ipynb", root / "churn_pipeline", capture=True)
    assert res.ok, [d.format() for d in res.diagnostics]
    return root


def _break(data, fault: str) -> str:
    path = data / "customers.csv"
    if fault == "missing":
        path.unlink()
        return "the file is missing"
    if fault == "empty":
        path.write_text("")
        return "the file is empty"
    if fault == "malformed":
        lines = path.read_text().splitlines()
        lines.insert(5, ",".join(["1"] * 40))
        path.write_text("\n".join(lines) + "\n")
        return "a malformed row (Expected"
    pd.read_csv(path).drop(columns=["tenure_months"]).to_csv(path, index=False)
    return "a required column is missing: 'tenure_months'"


@pytest.mark.parametrize("fault", ["missing", "empty", "malformed", "column"])
def test_step_entrypoint_names_the_step_the_file_and_the_problem(churn, tmp_path, fault):
    work = tmp_path / "samples"
    shutil.copytree(churn, work)
    problem = _break(work / "data", fault)
    project = work / "churn_pipeline"
    done = subprocess.run([sys.executable, "-m", package_of(project), "step", "load_data",
                           "--inputs", str(tmp_path / "in"), "--outputs", str(tmp_path / "out")],
                          cwd=str(project), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"error: step load_data: data/customers.csv: {problem}"), \
        done.stderr


def test_the_runner_records_the_same_message(churn, tmp_path):
    work = tmp_path / "samples"
    shutil.copytree(churn, work)
    _break(work / "data", "empty")
    done = subprocess.run([sys.executable, "-m", "nb2pipe", "run", str(work / "churn_pipeline"),
                           "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "step load_data: data/customers.csv: the file is empty" in done.stdout
