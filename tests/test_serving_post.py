"""Issue 16 item 1: the serving path applies the notebook's post-processing of the model's
predictions (planning/serving_post.py), and the proof compares the post-processed value with
the notebook's own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nb2pipe.analysis.cells import analyze
from nb2pipe.api import convert, plan_notebook
from nb2pipe.emit.serving import module_text
from nb2pipe.notebook import read_notebook
from nb2pipe.planning.serving import derive
from nb2pipe.validation import serving_proof

IMPORTS = """
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression, LinearRegression
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.preprocessing import LabelEncoder
"""
LOAD = ('df = pd.read_csv("data.csv")\n'
        'X = df[["x", "z"]]\n')


def _data(folder: Path) -> None:
    rng = np.random.default_rng(1)
    n = 240
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    frame["price"] = np.exp(2 + frame.x + 0.3 * frame.z + rng.normal(scale=0.1, size=n))
    frame["kind"] = np.where(frame.x + frame.z > 0, "big", "small")
    frame.to_csv(folder / "data.csv", index=False)


def _notebook(notebook_factory, tmp_path: Path, target: str, train: str, after: str) -> Path:
    _data(tmp_path)
    return notebook_factory([
        ("code", IMPORTS),
        ("code", LOAD + target + "\nX_train, X_test, y_train, y_test = train_test_split("
                                 "X, y, test_size=0.25, random_state=0)"),
        ("code", train),
        ("code", after),
    ])


def _derive(path: Path):
    nb, _ = read_notebook(path, path.name)
    serving, diags = derive(analyze(nb))
    assert serving is not None, [d.format() for d in diags]
    return serving


def _roles(serving) -> dict[str, str]:
    return {st.code: st.role for st in serving.post}


REGRESSION = ('y = np.log1p(df["price"])', "model = LinearRegression()\nmodel.fit(X_train, y_train)")
INVERSE = """pred = model.predict(X_test)
price_pred = np.expm1(pred)
mse = mean_squared_error(np.expm1(y_test), price_pred)
mean_price = price_pred.mean()"""


def test_an_inverse_transform_is_post_processing_and_metrics_are_not(notebook_factory,
                                                                     tmp_path):
    serving = _derive(_notebook(notebook_factory, tmp_path, *REGRESSION, INVERSE))
    assert (serving.prediction, serving.output, serving.served) == ("pred", "price_pred",
                                                                     "price_pred")
    roles = _roles(serving)
    assert roles["pred = model.predict(X_test)"] == "predict"
    assert roles["price_pred = np.expm1(pred)"] == "post"
    assert roles["mse = mean_squared_error(np.expm1(y_test), price_pred)"] == "excluded"
    assert roles["mean_price = price_pred.mean()"] == "excluded"
    reasons = {st.code: st.reason for st in serving.post}
    assert "target" in reasons["mse = mean_squared_error(np.expm1(y_test), price_pred)"]
    assert "summarizes" in reasons["mean_price = price_pred.mean()"]


CLASSIFY = ('le = LabelEncoder()\ny = le.fit_transform(df["kind"])',
            "model = LogisticRegression()\nmodel.fit(X_train, y_train)")
THRESHOLD = """THRESHOLD = 0.3
proba = model.predict_proba(X_test)[:, 1]
flag = np.where(proba > THRESHOLD, "yes", "no")
acc = accuracy_score(y_test, proba > THRESHOLD)"""
LABELS = """pred = model.predict(X_test)
names = le.inverse_transform(pred)
print(accuracy_score(y_test, pred))"""


def test_a_thresholded_predict_proba_is_served_as_the_flag(notebook_factory, tmp_path):
    serving = _derive(_notebook(notebook_factory, tmp_path, *CLASSIFY, THRESHOLD))
    assert (serving.prediction, serving.method, serving.output) == ("proba", "predict_proba",
                                                                    "flag")
    # the threshold is set after the model but before the prediction: a value from training
    assert "THRESHOLD" in serving.post_reads
    assert _roles(serving)["acc = accuracy_score(y_test, proba > THRESHOLD)"] == "excluded"


def test_a_prediction_inside_a_metric_is_not_the_prediction(notebook_factory, tmp_path):
    path = _notebook(notebook_factory, tmp_path, *CLASSIFY,
                     "pred = model.predict(X_test)\n"
                     "acc = accuracy_score(y_test, model.predict(X_test))")
    assert _derive(path).prediction == "pred"


def test_label_decoding_reads_the_fitted_encoder_from_training(notebook_factory, tmp_path):
    serving = _derive(_notebook(notebook_factory, tmp_path, *CLASSIFY, LABELS))
    assert serving.output == "names" and "le" in serving.post_reads
    assert _roles(serving)["print(accuracy_score(y_test, pred))"] == "excluded"


def test_two_values_made_from_the_prediction_keep_the_raw_prediction(notebook_factory,
                                                                     tmp_path):
    serving = _derive(_notebook(notebook_factory, tmp_path, *REGRESSION,
                                "pred = model.predict(X_test)\nprice_pred = np.expm1(pred)\n"
                                "pct = pred * 100"))
    assert serving.output == "" and serving.served == "pred"
    assert "several values (pct, price_pred)" in serving.post_note
    assert {st.role for st in serving.post} == {"predict", "excluded"}


@pytest.mark.parametrize("case, expected", [
    (CLASSIFY[:2] + (LABELS,), {"big", "small"}),
    (CLASSIFY[:2] + (THRESHOLD,), {"yes", "no"}),
])
def test_served_answers_are_post_processed_and_proven(notebook_factory, tmp_path, case,
                                                      expected):
    path = _notebook(notebook_factory, tmp_path, *case)
    res = convert(path, tmp_path / "out", capture=True)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert "NB313" in [d.code for d in res.diagnostics], [d.format() for d in res.diagnostics]
    plan = json.loads((tmp_path / "out" / "nb2pipe.plan.json").read_text())
    assert plan["serving"]["verified"]
    text = (tmp_path / "out" / "out" / "serving.py").read_text()
    result = serving_proof.run_proof(text, tmp_path)
    assert result["ok"], result
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "post-processes the prediction" in readme and "evaluation" in readme
    # the served answers are the notebook's labels, not the model's raw numbers
    probe = (text + "\nstate = learn(%r)\nprint(sorted(set(map(str, predict(state.raw.drop("
             "columns=['price', 'kind']).head(40), state)['prediction']))))" % str(tmp_path))
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))) <= expected


def test_the_proof_fails_when_the_post_processing_is_left_out(notebook_factory, tmp_path):
    """Not vacuous: serving the raw prediction instead of the notebook's labels is caught by
    the comparison with the notebook's own value."""
    path = _notebook(notebook_factory, tmp_path, *CLASSIFY, LABELS)
    plan, _, _ = plan_notebook(path, tmp_path / "out")
    from nb2pipe.validation.capture import capture

    cap, err = capture(path, plan)
    assert cap is not None, err
    expected = serving_proof.captured_fingerprint(plan, cap.data)
    assert expected
    good = module_text(plan, plan.serving)
    raw = good.replace('OUTPUT = "names"', 'OUTPUT = "pred"')
    assert raw != good
    ok = serving_proof._against_notebook(serving_proof.run_proof(good, tmp_path), "names",
                                         expected)
    assert ok["ok"], ok
    bad = serving_proof._against_notebook(serving_proof.run_proof(raw, tmp_path), "names",
                                          expected)
    assert not bad["ok"] and "other names than the notebook" in bad["why"]


def test_a_prediction_clipped_in_place_is_served_clipped(notebook_factory, tmp_path):
    serving = _derive(_notebook(notebook_factory, tmp_path, *REGRESSION,
                                "pred = model.predict(X_test)\npred = np.clip(pred, 0, None)"))
    assert serving.output == "pred" and serving.post_note == ""
    assert _roles(serving)["pred = np.clip(pred, 0, None)"] == "post"


def test_a_table_of_request_columns_and_predictions_is_served(notebook_factory, tmp_path):
    """Post-processing may read the request's own rows (`X_test`): for a request they are the
    request's, not the training replay's."""
    path = _notebook(notebook_factory, tmp_path, *REGRESSION,
                     "pred = model.predict(X_test)\n"
                     'table = pd.DataFrame({"x": X_test["x"], "price": np.expm1(pred)})')
    res = convert(path, tmp_path / "out", capture=True)
    assert "NB313" in [d.code for d in res.diagnostics], [d.format() for d in res.diagnostics]
    text = (tmp_path / "out" / "out" / "serving.py").read_text()
    probe = (text + "\nimport pandas as pd\nstate = learn(%r)\n"
             "rows = pd.DataFrame({'x': [0.5, -1.0], 'z': [0.0, 2.0]})\n"
             "print(predict(rows, state).to_json(orient='split'))" % str(tmp_path))
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["columns"] == ["x", "price"]
    assert [row[0] for row in answer["data"]] == [0.5, -1.0]  # the request's x, not training's
    assert all(row[1] > 0 for row in answer["data"])
