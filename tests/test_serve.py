"""Issue 16 items 3-4: `nb2pipe serve` on the churn sample's verified serving path, started as
a real process on 127.0.0.1 and called over HTTP; bad requests get a 4xx naming the column."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import free_port

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parent.parent
STARTUP_POLLS = 600  # 0.5 s apart: the replay refits the model before the server listens

GOOD = {"gender": "Male", "age": 40.0, "region": "north", "contract": "month-to-month",
        "internet_service": "fiber", "payment_method": "card", "tenure_months": 3,
        "monthly_charges": 80.5, "total_charges": 240.0, "support_calls": 4}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from capture_helpers import captured_project, copy_project

    project = copy_project(captured_project("churn"),
                           tmp_path_factory.mktemp("s") / "churn_pipeline")
    port = free_port()
    env = {**os.environ, "NB2PIPE_WORKDIR": str(ROOT / "sample_notebooks"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # a recorded run: the service serves its model (from the store), not a refit
    subprocess.run([sys.executable, "-m", "nb2pipe", "run", str(project)], env=env,
                   check=True, capture_output=True, timeout=900)
    proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "serve", str(project), "--port",
                             str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(STARTUP_POLLS):
            if proc.poll() is not None:
                pytest.fail(f"nb2pipe serve exited: {proc.stdout.read()}")
            try:
                if httpx.get(f"{base}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("nb2pipe serve did not become ready")
        yield base, project
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _rows(*rows):
    return {"rows": list(rows)}


def test_health_and_v2_metadata(server):
    base, _ = server
    assert httpx.get(f"{base}/health/live").json() == {"live": True}
    assert httpx.get(f"{base}/v2/health/ready").status_code == 200
    meta = httpx.get(f"{base}/v2/models/churn_pipeline").json()
    assert meta["parameters"] == {"model_from": "run 1"}
    assert [i["name"] for i in meta["inputs"]][:2] == ["gender", "age"]
    assert httpx.get(f"{base}/v2/models/churn_pipeline/ready").status_code == 200


def test_openapi_schema_comes_from_the_training_data(server):
    base, _ = server
    row = httpx.get(f"{base}/openapi.json").json()["components"]["schemas"]["Row"]
    assert row["properties"]["contract"]["enum"] == ["month-to-month", "one-year", "two-year"]
    assert "churn" not in row.get("required", []) and "gender" in row["required"]
    assert row["additionalProperties"] is False
    assert row["properties"]["support_calls"]["description"].startswith("in training: 0 to 7")


def test_records_and_v2_answers_agree(server):
    base, _ = server
    one = httpx.post(f"{base}/predict", json=_rows(GOOD)).json()
    assert one["predictions"] in ([0], [1]) and one["drift"] == []
    inputs = [{"name": k, "shape": [1], "datatype": "FP64" if isinstance(v, float) else
               "INT64" if isinstance(v, int) else "BYTES", "data": [v]} for k, v in GOOD.items()]
    v2 = httpx.post(f"{base}/v2/models/churn_pipeline/infer", json={"inputs": inputs}).json()
    assert v2["outputs"][0]["data"] == one["predictions"]


def test_served_answers_are_the_notebooks(server):
    """Raw rows of the evaluation set in, the notebook's own predictions out (the capture's
    y_pred fixture)."""
    import numpy as np
    import pandas as pd

    base, project = server
    fixture = next((project / "tests" / "fixtures").rglob("y_pred/value.npy"), None)
    if fixture is None:
        pytest.skip("no y_pred fixture captured")
    expected = np.load(fixture, allow_pickle=False)
    code = ("import json, sys; sys.path.insert(0, '.'); from churn_pipeline import serving; "
            "s = serving.learn(); print(json.dumps([str(x) for x in s.test_labels]))")
    env = {**os.environ, "NB2PIPE_WORKDIR": str(ROOT / "sample_notebooks")}
    labels = json.loads(subprocess.run([sys.executable, "-c", code], cwd=project, env=env,
                                       capture_output=True, text=True, check=True,
                                       timeout=600).stdout.splitlines()[-1])
    raw = pd.read_csv(ROOT / "sample_notebooks" / "data" / "customers.csv")
    rows = raw.loc[[int(x) for x in labels]].drop(columns=["churn"])
    records = json.loads(rows.to_json(orient="records"))
    got = httpx.post(f"{base}/predict", json=_rows(*records), timeout=120).json()
    assert got["predictions"] == expected.tolist()


@pytest.mark.parametrize("row, column, problem", [
    ({k: v for k, v in GOOD.items() if k != "tenure_months"}, "tenure_months", "missing"),
    ({**GOOD, "favourite_colour": "red"}, "favourite_colour", "extra_forbidden"),
    ({**GOOD, "age": "forty"}, "age", "float_parsing"),
    ({**GOOD, "monthly_charges": None}, "monthly_charges", "float_type"),
    ({**GOOD, "contract": "ten-year"}, "contract", "literal_error"),
])
def test_bad_rows_get_422_naming_the_column(server, row, column, problem):
    base, _ = server
    res = httpx.post(f"{base}/predict", json=_rows(row))
    assert res.status_code == 422
    detail = res.json()["detail"]
    assert any(d["loc"][-1] == column and d["type"] == problem for d in detail), detail


def test_empty_huge_and_malformed_requests_get_4xx(server):
    base, _ = server
    empty = httpx.post(f"{base}/predict", json=_rows())
    assert empty.status_code == 422 and "at least one row" in empty.json()["detail"]
    huge = httpx.post(f"{base}/predict", json=_rows(*[GOOD] * 10_001), timeout=120)
    assert huge.status_code == 422 and "at most 10000" in json.dumps(huge.json())
    bad = httpx.post(f"{base}/predict", content=b'{"rows": [', headers={
        "content-type": "application/json"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "json_invalid"
    v2 = httpx.post(f"{base}/v2/models/churn_pipeline/infer", json={"inputs": [
        {"name": "age", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]},
        {"name": "gender", "shape": [1], "datatype": "BYTES", "data": ["Male"]}]})
    assert v2.status_code == 422 and "same number of values" in v2.json()["detail"]


def test_out_of_range_values_are_served_and_flagged(server):
    base, _ = server
    res = httpx.post(f"{base}/predict", json=_rows({**GOOD, "support_calls": 400}))
    assert res.status_code == 200
    assert res.json()["drift"] == [{"row": 0, "column": "support_calls", "value": 400,
                                    "range": [0.0, 7.0]}]


def test_serve_refuses_a_run_that_does_not_exist(server):
    _, project = server
    done = subprocess.run([sys.executable, "-m", "nb2pipe", "serve", str(project), "--run",
                           "99"], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(ROOT),
                               "NB2PIPE_WORKDIR": str(ROOT / "sample_notebooks")})
    assert done.returncode == 1 and "cannot serve the model of run 99" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_a_project_without_a_verified_path(tmp_path):
    (tmp_path / "nb2pipe.plan.json").write_text("{}")
    done = subprocess.run([sys.executable, "-m", "nb2pipe", "serve", str(tmp_path)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1 and "not a generated project" in done.stderr
    assert "Traceback" not in done.stderr
