"""Issue 19 item 1: every run also an MLflow run, checked against a real MLflow tracking server
(SQLite backend, a temporary artifact root, on 127.0.0.1) through MLflow's own client.

mlflow pins older pyarrow and python-dateutil than the main test venv, so these run in their
own venv (.ci/setup.d/70-mlflow.sh; tests/run.sh runs them):
    .venv-test-mlflow/bin/python -m pytest -q -p no:cacheprovider -m mlflow tests/test_mlflow.py
Without mlflow only the last test runs (the clear message when it is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from runner_helpers import cli, cli_json, project_from
from servers import free_port, http_ok, wait_until

MODEL = [
    ("code", "import pandas as pd\nfrom sklearn.linear_model import LogisticRegression",
     ["imports"]),
    ("code", "C = 0.5", ["pipeline-parameters"]),
    ("code", "df = pd.DataFrame({'a': [float(i % 7) for i in range(60)],\n"
             "                   'b': [float(i % 5) for i in range(60)]})\n"
             "df['y'] = (df['a'] + df['b'] > 5).astype(int)", ["step:load"]),
    ("code", "X = df[['a', 'b']]\ny = df['y']\n"
             "model = LogisticRegression(C=C).fit(X, y)\nprint('trained on', len(X))",
     ["step:train", "prev:load"]),
    ("code", "accuracy = float(model.score(X, y))", ["step:evaluate", "prev:train"]),
    ("code", "accuracy", ["pipeline-metrics"]),
]


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return tmp_path_factory.mktemp("mlflow_templates")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    proc = subprocess.Popen(
        [exe, "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=open(root / "server.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    wait_until(http_ok(f"{uri}/health"), proc, "the MLflow server", root / "server.log",
               every=0.25)
    yield uri
    os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


@pytest.mark.mlflow
def test_run_logged_to_mlflow_with_steps_lineage_model_and_registry(server, templates,
                                                                      tmp_path):
    from mlflow.tracking import MlflowClient

    project = project_from(MODEL, "model", templates, tmp_path / "nb")
    env = {"MLFLOW_TRACKING_URI": ""}
    rc, out = cli_json("run", project, "--mlflow", server, "--register", "nb2pipe-model",
                       "--param", "C=0.25", env=env, timeout=300)
    assert rc == 0, out
    logged = out["mlflow"]
    client = MlflowClient(server)
    parent = client.get_run(logged["run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["C"] == "0.25"
    assert parent.data.metrics["accuracy"] > 0.5
    assert parent.data.tags["nb2pipe.run"] == str(out["run"])
    assert parent.data.tags["nb2pipe.notebook_hash"]
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    by_name = {r.info.run_name: r for r in children}
    assert set(by_name) == {"load", "train", "evaluate"}
    train = by_name["train"]
    assert train.data.params["C"] == "0.25"
    tags = train.data.tags
    assert any(k.startswith("nb2pipe.code.") and k.endswith("steps/train.py") for k in tags)
    assert "nb2pipe.package.sklearn" in tags or "nb2pipe.package.scikit-learn" in tags
    assert tags["nb2pipe.input.df"] and tags["nb2pipe.output.model"]
    assert by_name["evaluate"].data.metrics["accuracy"] == parent.data.metrics["accuracy"]
    log = client.download_artifacts(train.info.run_id, "logs/stdout.txt", str(tmp_path))
    assert "trained on 60" in Path(log).read_text()
    assert logged["models"] == [{"step": "train", "name": "model",
                                 "uri": logged["models"][0]["uri"]}]
    # the model: sklearn flavour, a signature and an input example from the run's data
    import mlflow.sklearn
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(server)

    info = get_model_info(logged["models"][0]["uri"])
    assert "sklearn" in info.flavors
    assert [c.name for c in info.signature.inputs.inputs] == ["a", "b"]
    assert info.saved_input_example_info is not None
    loaded = mlflow.sklearn.load_model(logged["models"][0]["uri"])
    assert loaded.predict([[6.0, 4.0]]).tolist() == [1]
    versions = client.search_model_versions("name = 'nb2pipe-model'")
    assert [v.version for v in versions] == [logged["registered"]["version"]] == ["1"]
    # nb2pipe's own store is the same as without MLflow
    rc, show = cli_json("runs", "show", project, str(out["run"]))
    assert rc == 0 and show["metrics"]["accuracy"] == parent.data.metrics["accuracy"]
    # served from the cache, the run is logged too (cached steps say where from)
    rc, again = cli_json("run", project, "--param", "C=0.25", env={
        "MLFLOW_TRACKING_URI": server}, timeout=300)
    assert rc == 0 and "mlflow" in again
    step = client.get_run(again["mlflow"]["steps"]["train"])
    assert step.data.tags["nb2pipe.cached_from_run"] == str(out["run"])


def test_mlflow_missing_or_unused_gives_a_clear_message(templates, tmp_path):
    project = project_from(MODEL, "model", templates, tmp_path / "nb")
    proc = cli("run", project, "--register", "m", env={"MLFLOW_TRACKING_URI": ""})
    assert proc.returncode == 2 and "--register needs MLflow" in proc.stderr
    try:
        import mlflow  # noqa: F401
    except ImportError:
        proc = cli("run", project, "--mlflow", "http://127.0.0.1:9")
        assert proc.returncode == 2 and "nb2pipe[mlflow]" in proc.stderr
        proc = cli("run", project, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
        assert proc.returncode == 0 and "not logged to MLflow" in proc.stderr
    assert "Traceback" not in proc.stderr
