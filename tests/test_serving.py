"""Issue 16: the serving path, derived (planning/serving.py) and proved against the notebook
(validation/serving_proof.py), or not emitted."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nb2pipe.analysis.cells import analyze
from nb2pipe.api import convert, plan_notebook
from nb2pipe.emit.serving import module_text
from nb2pipe.notebook import read_notebook
from nb2pipe.planning.serving import derive
from nb2pipe.validation.serving_proof import run_proof

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_notebooks"


def _derive(path: Path):
    nb, _ = read_notebook(path, path.name)
    return derive(analyze(nb))


def _by_code(serving) -> dict[str, object]:
    return {st.code.splitlines()[0]: st for st in serving.statements}


def test_churn_request_path_excludes_row_filters_and_the_target():
    serving, diags = _derive(SAMPLES / "churn.ipynb")
    assert diags == [] and serving is not None
    assert (serving.model, serving.input, serving.frame, serving.prediction) == (
        "model", "X_test", "df", "y_pred")
    st = _by_code(serving)
    assert not st['df.dropna(subset=["monthly_charges"], inplace=True)'].serve
    assert not st["df = df[df.tenure_months > 0]"].serve
    assert not st['y = df["churn"]'].serve
    assert not st["model.fit(X_train, y_train)"].serve
    fill = st['df.fillna({"age": df["age"].median(), "region": "unknown", "total_charges": '
              'df["total_charges"].median()}, inplace=True)']
    assert fill.serve and fill.role == "request"
    # the medians are recorded on the training replay and replayed for a request
    assert fill.learn_code.count("__nb2pipe_learned__") == 2
    split = next(s for s in serving.statements if s.role == "split")
    assert split.serve_code == "X_test = X"
    assert st["def cap_outliers(s):"].learn_code.count("__nb2pipe_learned__") == 1
    assert "CAP_Q" in serving.learned


def test_house_prices_loop_over_train_and_test_serves_test_only():
    serving, diags = _derive(SAMPLES / "house_prices.ipynb")
    assert diags == [] and serving is not None
    assert (serving.model, serving.input, serving.frame) == ("best_model", "X_test", "houses")
    loop = next(s for s in serving.statements if s.code.startswith("for d in [train, test]"))
    assert loop.serve and loop.serve_code.startswith("for d in [test]:")
    assert {"lt", "train", "features", "target"} <= set(serving.learned)
    fit = next(s for s in serving.statements if s.code == "lt.fit(train)")
    assert not fit.serve and fit.role == "training"
    pick = next(s for s in serving.statements if s.code.startswith("X_test, y_test"))
    assert pick.serve_code == "X_test = test[features]"


SYNTHETIC = """
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.linear_model import LogisticRegression
"""
TRAIN = """
model = LogisticRegression(max_iter=500)
model.fit(X_train, y_train)
y_pred = model.predict(X_test)
"""


def _synthetic(notebook_factory, tmp_path: Path, middle: str, name: str = "nb.ipynb") -> Path:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                          "city": rng.choice(["a", "b", "c"], size=n)})
    frame["label"] = ((frame.x + 0.5 * frame.z + (frame.city == "a")) > 0.3).astype(int)
    frame.to_csv(tmp_path / "data.csv", index=False)
    return notebook_factory([
        ("code", SYNTHETIC),
        ("code", 'df = pd.read_csv("data.csv")\ndf["xz"] = df["x"] * df["z"]\n'
                 'X = df.drop(columns=["label"])\ny = df["label"]\n'
                 "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, "
                 "random_state=0)"),
        ("code", middle),
        ("code", TRAIN),
    ], name=name)


ENCODE_ON_ALL_ROWS = """
from sklearn.preprocessing import LabelEncoder
le = LabelEncoder().fit(pd.concat([X_train, X_test])["city"])
X_train["city"] = le.transform(X_train["city"])
X_test["city"] = le.transform(X_test["city"])
"""
RANK_WITHIN_TEST = """
X_train["city"] = (X_train["city"] == "a").astype(int)
X_test["city"] = (X_test["city"] == "a").astype(int)
X_train["x"] = X_train["x"].rank(pct=True)
X_test["x"] = X_test["x"].rank(pct=True)
"""
TRAIN_STATS = """
X_train["city"] = (X_train["city"] == "a").astype(int)
X_test["city"] = (X_test["city"] == "a").astype(int)
mu, sd = X_train["x"].mean(), X_train["x"].std()
X_train["x"] = (X_train["x"] - mu) / sd
X_test["x"] = (X_test["x"] - mu) / sd
"""


def test_an_encoder_fitted_on_all_rows_after_the_split_gets_a_diagnostic(notebook_factory,
                                                                         tmp_path):
    path = _synthetic(notebook_factory, tmp_path, ENCODE_ON_ALL_ROWS)
    serving, diags = _derive(path)
    assert serving is None
    assert [d.code for d in diags] == ["NB311"]
    assert "LabelEncoder().fit(pd.concat([X_train, X_test])" in diags[0].message
    assert "serve:skip" in diags[0].message and (diags[0].cell, diags[0].line) == (3, 3)


def _proof(path: Path) -> dict:
    plan, diags, _ = plan_notebook(path, path.parent / "out")
    assert plan is not None and plan.serving is not None, [d.format() for d in diags]
    return run_proof(module_text(plan, plan.serving), path.parent)


def test_the_proof_accepts_statistics_learned_on_the_training_rows(notebook_factory, tmp_path):
    result = _proof(_synthetic(notebook_factory, tmp_path, TRAIN_STATS))
    assert result["ok"], result
    assert result["rows"] == 90 and result["single_rows"] == 25
    assert set(result["required"]) == {"x", "z", "city"}
    assert set(result["optional"]) == {"label"}


def test_the_proof_rejects_a_statistic_of_the_request_batch(notebook_factory, tmp_path):
    # ranks within the evaluation set: the whole batch agrees, a single row does not
    result = _proof(_synthetic(notebook_factory, tmp_path, RANK_WITHIN_TEST))
    assert not result["ok"]
    assert "alone gets another answer" in result["why"]


def test_the_proof_fails_without_the_recorded_training_statistics(tmp_path):
    """The proof is not vacuous: with the churn notebook's recorded medians and quantile caps
    replaced by statistics of the request, it finds the difference."""
    path = SAMPLES / "churn.ipynb"
    plan, _, _ = plan_notebook(path, tmp_path / "out")
    text = module_text(plan, plan.serving).replace(
        "        n = self.seen.get(slot, 0)\n",
        "        return thunk()  # mutated: the request's own statistics\n"
        "        n = self.seen.get(slot, 0)\n")
    assert "mutated" in text
    result = run_proof(text, SAMPLES)
    assert not result["ok"], result
    assert run_proof(module_text(plan, plan.serving), SAMPLES)["ok"]


@pytest.mark.parametrize("name", ["churn", "house_prices", "reviews_tagged"])
def test_samples_get_a_verified_serving_module(name):
    from capture_helpers import captured_project

    project = captured_project(name)
    plan = json.loads((project / "nb2pipe.plan.json").read_text())
    assert plan["serving"]["verified"], plan["serving"]["proof"]
    assert (project / plan["package"] / "serving.py").is_file()
    assert "price" not in plan["serving"]["required"] and "churn" not in plan["serving"][
        "required"]


def test_convert_capture_writes_no_serving_module_that_disagrees(notebook_factory, tmp_path):
    path = _synthetic(notebook_factory, tmp_path, RANK_WITHIN_TEST)
    res = convert(path, tmp_path / "rank_pipeline", capture=True)
    assert res.ok, [d.format() for d in res.diagnostics]
    codes = [d.code for d in res.diagnostics]
    assert "NB312" in codes and "NB313" not in codes
    assert not (tmp_path / "rank_pipeline" / "rank_pipeline" / "serving.py").exists()
    plan = json.loads((tmp_path / "rank_pipeline" / "nb2pipe.plan.json").read_text())
    assert plan["serving"]["verified"] is False and plan["serving"]["proof"]
    from nb2pipe.planning.serving_status import project_serving_status

    st = project_serving_status(tmp_path / "rank_pipeline")
    assert (st["verified"], st["code"]) == (False, "NB312")
    assert st["reason"] == plan["serving"]["proof"]
    # a plain convert keeps the proof's verdict: nothing changes
    again = convert(path, tmp_path / "rank_pipeline")
    assert again.status == "unchanged", again.written


def test_generated_serving_module_predicts_new_rows(tmp_path):
    from capture_helpers import captured_project, copy_project, package_of

    project = copy_project(captured_project("churn"), tmp_path / "churn_pipeline")
    code = (
        "import pandas as pd, sys\n"
        f"from {package_of(project)} import serving\n"
        "state = serving.learn()\n"
        "rows = state.raw.drop(columns=['churn']).head(5)\n"
        "print(serving.predict(rows, state)['prediction'].tolist())\n")
    import subprocess

    env = {**os.environ, "NB2PIPE_WORKDIR": str(SAMPLES)}
    done = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(answers) == 5 and set(answers) <= {0, 1}


# generated serving tests that run for each sample: (passed, skipped); reviews_tagged's only
# request column is free text, so the unseen-category and out-of-range tests do not apply
GENERATED_SERVING_TESTS = {"churn": (15, 0), "house_prices": (15, 0), "reviews_tagged": (13, 2)}


@pytest.mark.parametrize("name", sorted(GENERATED_SERVING_TESTS))
def test_generated_serving_tests_pass(name, tmp_path):
    """Skew, robustness against the in-process service and the performance report, run as
    a user runs them in the generated project."""
    from capture_helpers import captured_project, copy_project, run_generated_tests

    project = copy_project(captured_project(name), tmp_path / f"{name}_pipeline")
    text = (project / "tests" / "test_serving.py").read_text()
    assert '"tests/fixtures/' in text  # compared with the captured predictions
    done = run_generated_tests(project, "tests/test_serving.py", workdir=SAMPLES)
    assert done.returncode == 0, done.stdout + done.stderr
    passed, skipped = GENERATED_SERVING_TESTS[name]
    assert f"{passed} passed" in done.stdout, done.stdout
    assert (f"{skipped} skipped" in done.stdout) == bool(skipped), done.stdout
    # the performance report: in the terminal summary and in a JSON file
    assert "serving performance (in-process, not asserted)" in done.stdout
    report = json.loads((project / ".nb2pipe" / "reports" / "serving-performance.json")
                        .read_text())
    single, batch = report["cases"]["single row"], report["cases"]["batch"]
    assert (single["rows_per_request"], batch["rows_per_request"]) == (1, 100)
    assert 0 < single["p50_ms"] <= single["p99_ms"] and batch["rows_per_second"] > 0


def test_tags_steer_the_serving_path(notebook_factory, tmp_path):
    path = _synthetic(notebook_factory, tmp_path, TRAIN_STATS)
    nb = json.loads(path.read_text())
    nb["cells"][2]["metadata"]["tags"] = ["serve:skip"]  # the encoding cell: training only
    path.write_text(json.dumps(nb))
    serving, _ = _derive(path)
    skipped = [s for s in serving.statements if s.cell == 3]
    assert skipped and not any(s.serve for s in skipped)
    assert {s.reason for s in skipped if s.code.startswith("X_test")} == {"tagged serve:skip"}


def test_serve_model_tag_picks_the_prediction(notebook_factory, tmp_path):
    path = _synthetic(notebook_factory, tmp_path, TRAIN_STATS)
    nb = json.loads(path.read_text())
    nb["cells"][3]["source"] += "\nproba = model.predict_proba(X_test)"
    nb["cells"].append({"cell_type": "code", "metadata": {"tags": ["serve:model"]},
                        "source": "p2 = model.predict_proba(X_test)", "outputs": [],
                        "execution_count": None, "id": "extra"})
    path.write_text(json.dumps(nb))
    serving, _ = _derive(path)
    assert (serving.prediction, serving.method) == ("p2", "predict_proba")


def test_a_notebook_without_a_prediction_has_no_serving_path(notebook_factory):
    path = notebook_factory([("code", "import pandas as pd\nx = pd.DataFrame({'a': [1]})")])
    assert _derive(path) == (None, [])


# ---- issue 16 item 7: `nb2pipe status` says whether the serving path is verified ----------


def test_status_shows_a_verified_serving_path(tmp_path):
    import subprocess

    from capture_helpers import captured_project, copy_project

    project = copy_project(captured_project("churn"), tmp_path / "churn_pipeline")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}
    text = subprocess.run([sys.executable, "-m", "nb2pipe", "status", str(project)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert "serving: verified (churn_pipeline/serving.py answers with y_pred" in text.stdout, (
        text.stdout + text.stderr)
    data = subprocess.run([sys.executable, "-m", "nb2pipe", "status", str(project), "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    serving = json.loads(data.stdout)["serving"]
    assert (serving["verified"], serving["code"], serving["output"]) == (True, "NB313", "y_pred")
    # which run `nb2pipe serve` serves: none before a run stored the serving state
    assert serving["run"] is None and "`nb2pipe run`, then `nb2pipe serve`" in text.stdout
    env["NB2PIPE_WORKDIR"] = str(ROOT / "sample_notebooks")
    assert subprocess.run([sys.executable, "-m", "nb2pipe", "run", str(project)], env=env,
                          capture_output=True, timeout=900).returncode == 0
    text = subprocess.run([sys.executable, "-m", "nb2pipe", "status", str(project)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert "`nb2pipe serve` serves run 1)" in text.stdout, text.stdout


def test_status_says_why_there_is_no_verified_serving_path(notebook_factory, tmp_path):
    from nb2pipe.planning.serving_status import format_serving_status, project_serving_status

    stats = _synthetic(notebook_factory, tmp_path, TRAIN_STATS, name="stats.ipynb")
    assert convert(stats, tmp_path / "stats_pipeline").ok
    st = project_serving_status(tmp_path / "stats_pipeline")
    assert (st["verified"], st["status"], st["code"]) == (False, "not proven", "")
    assert "--capture" in format_serving_status(st)

    refit = _synthetic(notebook_factory, tmp_path, ENCODE_ON_ALL_ROWS, name="refit.ipynb")
    assert convert(refit, tmp_path / "refit_pipeline").ok
    st = project_serving_status(tmp_path / "refit_pipeline")
    assert (st["status"], st["code"]) == ("no serving path", "NB311")
    assert "serving: no serving path [NB311]: no serving path for model.predict" in (
        format_serving_status(st))

    plain = notebook_factory([("code", "x = 1")], name="plain.ipynb")
    assert convert(plain, tmp_path / "plain_pipeline").ok
    assert project_serving_status(tmp_path / "plain_pipeline")["status"] == "none"
    assert project_serving_status(tmp_path / "nowhere") is None
