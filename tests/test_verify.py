"""verify: the pipeline computes what the notebook computed, step by step (issue 4, point 2),
and capture records what the generated tests need (point 1)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from capture_helpers import (SAMPLE_NAMES, captured_project, copy_project, package_of)
from nb2pipe.validation.compare import DIFFERENT, EQUAL, compare

# ---- readable differences (no kernel) --------------------------------------------------------


def test_frame_difference_names_the_column_and_the_rows():
    a = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]})
    b = a.copy()
    b.loc[1, "x"] = np.nan
    v = compare(a, b)
    assert v.status == DIFFERENT
    assert "column 'x'" in v.detail and "1 of 3 rows" in v.detail and "index 1" in v.detail
    assert "column 'y'" not in v.detail


def test_dropped_rows_are_listed_by_index():
    a = pd.DataFrame({"x": range(10)})
    v = compare(a, a[a.x > 2])
    assert v.status == DIFFERENT
    assert "3 row(s) only in the notebook" in v.detail and "[0, 1, 2]" in v.detail


def test_equal_frames_and_models_are_equal():
    from sklearn.linear_model import LinearRegression

    x = np.arange(20.0).reshape(10, 2)
    m1, m2 = LinearRegression().fit(x, x[:, 0]), LinearRegression().fit(x, x[:, 0])
    assert compare(m1, m2).status == EQUAL
    assert compare(pd.DataFrame(x), pd.DataFrame(x.copy())).status == EQUAL


def test_models_without_comparable_state_compare_by_predictions():
    from sklearn.linear_model import LinearRegression

    from nb2pipe.validation.verify import _compare_predictions

    x = np.arange(20.0).reshape(10, 2)
    a = LinearRegression().fit(x, x[:, 0])
    b = LinearRegression().fit(x, x[:, 0] * 2)
    assert _compare_predictions(a, a, {"X_test": x, "y": x[:, 0]}).status == EQUAL
    v = _compare_predictions(a, b, {"X_test": x})
    assert v.status == DIFFERENT and "predictions on X_test" in v.detail
    assert _compare_predictions(a, b, {"y": x[:, 0]}) is None


# ---- verify on real notebooks ------------------------------------------------------------------


SERVED_SAMPLES = ("churn", "house_prices", "reviews_tagged")  # train a model and predict


@pytest.mark.kernel
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_verify_passes_on_every_sample(name):
    from nb2pipe.validation.capture import CAPTURE_FILE
    from nb2pipe.validation.verify import verify
    from capture_helpers import SAMPLES

    project = captured_project(name)
    report = verify(SAMPLES / f"{name}.ipynb", project)
    assert report.ok, report.format()
    # the serving proof runs too, against this run of the notebook (issue 16, item 2)
    if name in SERVED_SAMPLES:
        assert (report.serving.status, report.serving.code, report.serving.shipped) == (
            "verified", "NB313", True), report.format()
        assert "serving (its serving.py): verified [NB313]" in report.format()
        assert report.to_json()["serving"]["status"] == "verified"
    else:
        assert report.serving is None, report.format()
    counts = report.counts()
    assert counts.get(EQUAL, 0) >= 5
    # every step compared something, the last step's values included
    assert all(s.values for s in report.steps), report.format()
    # capture recorded types, fingerprints, samples and profiles of every step output
    cap = json.loads((project / CAPTURE_FILE).read_text())
    plan = json.loads((project / "nb2pipe.plan.json").read_text())
    for step in plan["steps"]:
        outs = cap["steps"][step["name"]]["outputs"]
        for out in step["outputs"]:
            rec = outs[out]
            assert rec["type"] and rec["fingerprint"].startswith("sha256:") and "sample" in rec
            if rec["type"].startswith("pandas") and rec["type"].endswith("DataFrame"):
                prof = rec["profile"]
                assert prof["rows"] == rec["shape"][0]
                col = next(iter(prof["columns"].values()))
                assert {"dtype", "missing", "kind"} <= set(col)


@pytest.mark.kernel
def test_verify_catches_a_dropped_in_place_mutation(tmp_path, monkeypatch):
    """The conversion 'forgets' df.dropna(..., inplace=True): verify fails with a diff."""
    from nb2pipe.validation.verify import verify
    from capture_helpers import SAMPLES

    monkeypatch.setenv("NB2PIPE_WORKDIR", str(SAMPLES))  # the copy is elsewhere

    project = copy_project(captured_project("churn"), tmp_path / "churn_pipeline")
    step = project / package_of(project) / "steps" / "clean.py"
    text = step.read_text()
    line = 'df.dropna(subset=["monthly_charges"], inplace=True)'
    assert line in text
    step.write_text(text.replace(line, "pass"))
    report = verify(SAMPLES / "churn.ipynb", project, recheck=False)
    assert not report.ok
    clean = next(s for s in report.steps if s.step == "clean")
    assert not clean.error, report.format()
    df = next(v for v in clean.values if v.name == "df")
    assert df.status == DIFFERENT
    assert "row(s) only in the pipeline" in df.detail, df.detail
    later = next(s for s in report.steps if s.step == "features")
    assert later.inputs_differ == ["df"]
    text = report.format()
    assert "DIFFERENT" in text and "result:" in text and "FAILED" in text


@pytest.mark.kernel
def test_verify_catches_a_dropped_setup_call(tmp_path):
    """Each step runs in a fresh interpreter, so a step without its setup replay differs."""
    from nb2pipe.api import convert
    from nb2pipe.validation.verify import verify
    from capture_helpers import ROOT

    nb = ROOT / "tests" / "golden" / "setup_state" / "notebook.ipynb"
    project = tmp_path / "setup_pipeline"
    assert convert(nb, project).ok
    assert verify(nb, project, recheck=False).ok
    step = project / "setup_pipeline" / "steps" / "draw_more.py"
    text = step.read_text()
    assert "_common.setup_setup_step()" in text
    step.write_text(text.replace("_common.setup_setup_step()", "pass"))
    report = verify(nb, project, recheck=False)
    assert not report.ok
    rows = next(v for s in report.steps for v in s.values if v.name == "rows")
    assert rows.status == DIFFERENT and "20" in rows.detail and "60" in rows.detail


@pytest.mark.kernel
def test_unseeded_randomness_is_reported_as_such(tmp_path, notebook_factory):
    from nb2pipe.api import convert
    from nb2pipe.validation.verify import NONDETERMINISTIC, verify

    nb = notebook_factory([
        ("md", "## Draw"),
        ("code", "import numpy as np\nx = np.random.rand(5)\nn = 3"),
        ("md", "## Use"),
        ("code", "total = float(x.sum()) + n"),
    ])
    project = tmp_path / "rand_pipeline"
    assert convert(nb, project).ok
    report = verify(nb, project)
    statuses = {(s.step, v.name): v.status for s in report.steps for v in s.values}
    assert statuses[("draw", "x")] == NONDETERMINISTIC
    assert statuses[("draw", "n")] == EQUAL
    assert report.ok, report.format()  # randomness in the notebook is not a conversion bug
    assert "unseeded randomness" in report.format()


@pytest.mark.kernel
def test_verify_cli_json_and_exit_codes(tmp_path, notebook_factory, capsys):
    from nb2pipe.api import convert
    from nb2pipe.cli import main

    nb = notebook_factory([("md", "## A"), ("code", "a = [1, 2, 3]"), ("md", "## B"),
                           ("code", "a.append(4)\nb = sum(a)")])
    project = tmp_path / "small_pipeline"
    assert convert(nb, project).ok
    assert main(["verify", str(nb), "-o", str(project), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["counts"] == {"equal": 3}
    step = next(p for p in (project / "small_pipeline" / "steps").glob("*.py")
                if "a.append(4)" in p.read_text())
    step.write_text(step.read_text().replace("a.append(4)", "a.append(5)"))
    assert main(["verify", str(nb), "-o", str(project), "--no-recheck"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERENT" in out and "5 vs" not in out and "10 vs 11" in out
    assert main(["verify", str(nb), "-o", str(tmp_path / "nowhere")]) == 2


@pytest.mark.kernel
def test_capture_is_kept_by_a_plain_convert_and_dropped_when_the_notebook_changes(tmp_path):
    import shutil

    from nb2pipe.api import convert
    from nb2pipe.validation.capture import CAPTURE_FILE
    from capture_helpers import ROOT

    nb = tmp_path / "nb" / "notebook.ipynb"
    nb.parent.mkdir()
    shutil.copy(ROOT / "tests" / "golden" / "setup_state" / "notebook.ipynb", nb)
    project = tmp_path / "setup_pipeline"
    assert convert(nb, project, capture=True).ok
    assert (project / CAPTURE_FILE).exists()
    fixtures = sorted(p.relative_to(project) for p in (project / "tests" / "fixtures").rglob("*"))
    again = convert(nb, project)  # no --capture: the capture still matches the notebook
    assert again.status == "unchanged", again.written
    assert sorted(p.relative_to(project) for p in (project / "tests" / "fixtures").rglob("*")) \
        == fixtures
    text = nb.read_text().replace("np.random.rand(2)", "np.random.rand(3)")
    nb.write_text(text)
    changed = convert(nb, project)
    assert changed.ok and not (project / CAPTURE_FILE).exists()
    assert "tests/fixtures/capture.json" in changed.removed


@pytest.mark.kernel
def test_capture_of_a_failing_notebook_is_a_finding(tmp_path, notebook_factory):
    from nb2pipe.api import convert

    nb = notebook_factory([("md", "## A"), ("code", "x = 1"), ("md", "## B"),
                           ("code", "y = x / 0")])
    res = convert(nb, tmp_path / "bad_pipeline", capture=True)
    assert not res.ok and res.exit_code == 1
    diag = next(d for d in res.diagnostics if d.code == "NB405")
    assert "cell 4" in diag.message and "ZeroDivisionError" in diag.message
    assert not (tmp_path / "bad_pipeline").exists()


@pytest.mark.kernel
def test_fixtures_of_names_sharing_an_object_are_one_bundle(tmp_path, notebook_factory):
    """The pipeline hands `a` and `b = [a]` to step d as one artifact; the captured fixtures
    do the same, so the generated step test sees d's `a.append(2)` in `b[0]` too."""
    from capture_helpers import run_generated_tests

    from nb2pipe.api import convert

    nb = notebook_factory([("md", "## A"), ("code", "a = [1]"), ("md", "## B"),
                           ("code", "b = [a]\nn = 1"), ("md", "## D"),
                           ("code", "a.append(2)\nz = len(b[0])")])
    project = tmp_path / "shared_pipeline"
    res = convert(nb, project, capture=True)
    assert res.ok, [d.format() for d in res.diagnostics]
    metas = [json.loads((project / "tests" / "fixtures" / "d" / "inputs" / n / "meta.json")
                        .read_text()) for n in ("a", "b")]
    assert metas[0] == metas[1] and metas[0]["bundle"] == ["a", "b"]
    proc = run_generated_tests(project, "tests/test_steps.py")
    assert proc.returncode == 0, proc.stdout[-3000:]


@pytest.mark.kernel
def test_verify_fails_when_the_shipped_serving_module_disagrees(tmp_path, monkeypatch):
    """A serving.py that computes its fill values and caps from the request (not training)
    gives other predictions: verify's serving proof finds it and verify fails."""
    from nb2pipe.validation.verify import verify
    from capture_helpers import SAMPLES

    monkeypatch.setenv("NB2PIPE_WORKDIR", str(SAMPLES))
    project = copy_project(captured_project("churn"), tmp_path / "churn_pipeline")
    module = project / package_of(project) / "serving.py"
    text = module.read_text()
    needle = "        n = self.seen.get(slot, 0)\n"
    assert needle in text
    module.write_text(text.replace(needle, "        return thunk()  # the request's own\n"
                                           + needle))
    report = verify(SAMPLES / "churn.ipynb", project, recheck=False, serving=True)
    assert report.serving.status == "not verified" and report.serving.code == "NB312"
    assert not report.ok and "NOT VERIFIED [NB312]" in report.format()
    assert all(v.status != DIFFERENT for s in report.steps for v in s.values)


@pytest.mark.kernel
def test_verify_says_why_a_project_has_no_serving_module(tmp_path, notebook_factory):
    """No serving.py and a path that disagrees with the notebook: verify reports NB312 and
    still passes (the pipeline itself is the notebook's)."""
    import numpy as np
    import pandas as pd

    from nb2pipe.api import convert
    from nb2pipe.validation.verify import verify

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200)})
    frame["label"] = (frame.x + frame.z > 0).astype(int)
    frame.to_csv(tmp_path / "data.csv", index=False)
    nb = notebook_factory([
        ("code", "import pandas as pd\nfrom sklearn.model_selection import train_test_split\n"
                 "from sklearn.linear_model import LogisticRegression"),
        ("code", 'df = pd.read_csv("data.csv")\nX = df[["x", "z"]]\ny = df["label"]\n'
                 "X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)\n"
                 'X_test["x"] = X_test["x"].rank(pct=True)\n'
                 'X_train["x"] = X_train["x"].rank(pct=True)'),
        ("code", "model = LogisticRegression().fit(X_train, y_train)\n"
                 "y_pred = model.predict(X_test)"),
    ])
    res = convert(nb, tmp_path / "rank_pipeline")
    assert res.ok, [d.format() for d in res.diagnostics]
    report = verify(nb, tmp_path / "rank_pipeline", recheck=False)
    assert (report.serving.status, report.serving.code, report.serving.shipped) == (
        "not verified", "NB312", False), report.format()
    assert "alone gets another answer" in report.serving.message
    assert report.ok, report.format()
