"""Acceptance: for every sample notebook, `nb2pipe run` on its converted project gives the same
final values as executing the notebook (nbclient), compared type-aware from the run's store."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest
from conftest import SAMPLE_NAMES, SAMPLES

from nb2pipe.api import convert
from nb2pipe.validation.compare import EQUAL, NOT_COMPARABLE, compare
from notebook_exec import notebook_values
from nb2pipe.runner.report import load_values


@pytest.mark.kernel
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_run_matches_notebook(name, tmp_path):
    # the pipeline runs in a copy of the samples folder, so it can run while the kernel
    # executes the original without the two writing the same outputs/ files
    work = tmp_path / "samples"
    shutil.copytree(SAMPLES, work, ignore=shutil.ignore_patterns("outputs", "*_pipeline",
                                                                 "__pycache__"))
    project = tmp_path / f"{name}_pipeline"
    res = convert(work / f"{name}.ipynb", project)
    assert res.ok, [d.format() for d in res.diagnostics]
    run = subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", str(project), "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    names = list(res.plan.final_names)
    baseline_file = tmp_path / "baseline.pkl"
    try:
        notebook_values(SAMPLES / f"{name}.ipynb", names, baseline_file)
    finally:
        out, err = run.communicate(timeout=300)
    assert run.returncode == 0, out + err
    baseline = cloudpickle.loads(baseline_file.read_bytes())
    assert baseline, "the notebook produced none of the final values"
    values = load_values(project, names=list(baseline))
    problems = {}
    for var, expected in baseline.items():
        if var not in values:
            problems[var] = "missing from the run"
            continue
        verdict = compare(expected, values[var])
        if verdict.status == NOT_COMPARABLE and verdict.detail in ("figure", "module"):
            continue
        if verdict.status != EQUAL:
            problems[var] = f"{verdict.status}: {verdict.detail}"
    assert not problems, f"{name}: {problems}"
    # a second run is served entirely from the store
    again = subprocess.run([sys.executable, "-m", "nb2pipe", "run", str(project), "-q"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert Path(project / ".nb2pipe" / "runs.db").exists()
