"""Issue 16: the state the serving path learns from the training data (fill values, fitted
encoders, training columns) comes from the training run's artifacts. The step that fits the
model stores it beside the model (`_serving`); `nb2pipe serve` loads both from one run and
learns nothing at start-up. On the churn sample: `age` is filled with its median and support
calls are capped at a quantile, both learned from the training data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_notebooks"

# prints what `nb2pipe serve` would serve: where from, and the statistics of the state
_SERVED = r"""
import json, sys
from pathlib import Path
from nb2pipe.service.cli import load_service
service, why = load_service(Path(sys.argv[1]), sys.argv[2])
if service is None:
    print(json.dumps({"why": why}))
else:
    records = {f"{k[0]}:{k[1]}": [float(v) for v in vs]
               for k, vs in service.state.records.items()}
    print(json.dumps({"source": service.source, "records": records}))
"""


def _env(workdir: Path) -> dict[str, str]:
    return {**os.environ, "NB2PIPE_WORKDIR": str(workdir), "MPLBACKEND": "Agg",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _nb2pipe(*args: str, workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nb2pipe", *args], env=_env(workdir),
                          capture_output=True, text=True, timeout=900)


def _served(project: Path, run: str, workdir: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", _SERVED, str(project), run], cwd=project,
                          env=_env(workdir), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture()
def churn(tmp_path):
    """A captured churn project and a copy of the notebook's folder it reads its data from."""
    from capture_helpers import captured_project, copy_project

    project = copy_project(captured_project("churn"), tmp_path / "churn_pipeline")
    workdir = tmp_path / "notebooks"
    shutil.copytree(SAMPLES / "data", workdir / "data")
    return project, workdir


def _older_customers(workdir: Path) -> None:
    """The same customers ten years older: another median age for the fill value."""
    import pandas as pd

    path = workdir / "data" / "customers.csv"
    df = pd.read_csv(path)
    df["age"] = df["age"] + 10
    df.to_csv(path, index=False)


def test_each_run_stores_its_state_and_serve_uses_the_chosen_runs(churn):
    project, workdir = churn
    assert _nb2pipe("run", str(project), workdir=workdir).returncode == 0
    _older_customers(workdir)
    assert _nb2pipe("run", str(project), workdir=workdir).returncode == 0
    first, latest = _served(project, "1", workdir), _served(project, "latest", workdir)
    assert first["source"] == "run 1" and latest["source"] == "run 2"
    # each run's own training data: only the age median (the `fillna` value) moved, by 10
    moved = {k: latest["records"][k][0] - v[0] for k, v in first["records"].items()
             if v != latest["records"][k]}
    assert list(moved.values()) == [pytest.approx(10)], moved
    # the runs stored it: the training data gone, the service still starts, learning nothing
    (workdir / "data" / "customers.csv").unlink()
    assert _served(project, "1", workdir)["records"] == first["records"]


def test_the_state_is_a_value_of_the_step_that_fits_the_model(churn):
    from nb2pipe.tracking.store import Store

    project, workdir = churn
    assert _nb2pipe("run", str(project), workdir=workdir).returncode == 0
    store = Store(project, create=False)
    try:
        outputs = {s: store.outputs_of(store.latest_finished(s)["id"])
                   for s in ("features", "train", "evaluate")}
    finally:
        store.close()
    assert "_serving" in outputs["train"] and "model" in outputs["train"]
    assert "_serving" not in outputs["features"] and "_serving" not in outputs["evaluate"]
    # a second run with nothing changed is served from the cache, state included
    again = _nb2pipe("run", str(project), workdir=workdir)
    assert again.returncode == 0 and _served(project, "2", workdir)["source"] == "run 2"


def test_a_run_that_cannot_learn_the_state_still_trains_and_is_not_served(churn):
    project, workdir = churn
    serving = project / "churn_pipeline" / "serving.py"
    serving.write_text(serving.read_text(encoding="utf-8") + (
        "\n\ndef for_run(model):\n    raise RuntimeError('no state today')\n"),
        encoding="utf-8")
    done = _nb2pipe("run", str(project), workdir=workdir)
    assert done.returncode == 0, done.stderr
    shown = _nb2pipe("runs", "logs", str(project), "1", "train", workdir=workdir)
    assert "no serving state stored (RuntimeError: no state today)" in (
        shown.stdout + shown.stderr)
    served = _nb2pipe("serve", str(project), workdir=workdir)
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert "run 1 stored no serving state" in served.stderr


def test_without_a_run_serve_says_to_run_the_pipeline(churn):
    project, workdir = churn
    served = _nb2pipe("serve", str(project), workdir=workdir)
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert f"nb2pipe run {project}" in served.stderr


def test_given_the_runs_model_the_replay_does_not_fit_it_again(churn):
    """`for_run` skips the statements that only make or fit the model (the run fitted it)."""
    project, workdir = churn
    plan = json.loads((project / "nb2pipe.plan.json").read_text())
    only = [s["key"] for s in plan["serving"]["statements"] if s.get("model_only")]
    assert only, "the churn notebook makes and fits its model in statements of their own"
    code = (
        "import sys, json\n"
        "from churn_pipeline import serving\n"
        "fresh = serving.learn()\n"
        "model = fresh.model\n"
        "def refit(*a, **k):\n"
        "    raise AssertionError('fitted again')\n"
        "model.fit = refit\n"
        "state = serving.for_run(model)\n"
        "state.model = fresh.model\n"
        "print(json.dumps({'same': bool(serving.same(state.reference, fresh.reference)),\n"
        "                  'records': state.records == fresh.records,\n"
        "                  'proof': serving.prove(state)['ok'],\n"
        "                  'rows': len(state.raw), 'eval': len(state.test_labels)}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=project, env=_env(SAMPLES),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    # the state keeps only the evaluation rows of the raw data (the proof's and the tests')
    assert got == {"same": True, "records": True, "proof": True, "rows": got["eval"],
                   "eval": got["eval"]}


def test_a_state_that_would_hold_a_secret_is_never_stored(churn):
    """Secrets never reach artifacts: a path whose request statements read a value built from
    a secret gets no stored state, no serving manifests, and serve says why."""
    import dataclasses

    from nb2pipe.emit import package, serve_k8s
    from nb2pipe.planning import serving_status
    from nb2pipe.planning.model import PipelinePlan
    from nb2pipe.service.cli import _run_values

    project, _ = churn
    plan = PipelinePlan.load(project)
    assert serving_status.state_step(plan) is not None
    assert '"serving_state": True' in package.pipeline_module(plan)
    learned = sorted({n for st in plan.serving.statements for n in st.learned})
    assert learned == ["CAP_Q"]  # the cap's quantile, set in a training-only cell
    secret = dataclasses.replace(plan, secret_derived=(("CAP_Q", ("CAP_TOKEN",)),))
    why = serving_status.unservable_reason(secret)
    assert "CAP_Q, built from a secret" in why
    assert serving_status.state_step(secret) is None
    assert '"serving_state"' not in package.pipeline_module(secret)
    assert serve_k8s.not_deployed_reason(secret) == why
    assert _run_values(project, secret, "latest") == (None, why)
    status = serving_status.serving_status(secret, project)
    assert "not servable: the request path reads CAP_Q" in serving_status.format_serving_status(
        status)
