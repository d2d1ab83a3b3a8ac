"""Issue 13 item 2: dead scratch is stripped, only for calls known to do nothing else.

A statement whose value nothing reads before it is overwritten, and whose calls are in the table
of effect-free calls (and draw no random numbers), is stripped and listed in the README as
"overwritten before use". Unknown calls are kept; the values the pipeline delivers are the same
(`nb2pipe verify`).
"""

from __future__ import annotations

import pytest
from conftest import make_notebook

from nb2pipe.analysis.cells import analyze
from nb2pipe.api import convert
from nb2pipe.notebook import read_notebook

SETUP = ("code", "import numpy as np\nfrom sklearn.model_selection import cross_val_score\n"
                 "from sklearn.svm import SVC\nfrom sklearn.tree import DecisionTreeClassifier\n"
                 "from sklearn.ensemble import BaggingClassifier, RandomForestClassifier\n"
                 "X = np.arange(80, dtype=float).reshape(40, 2) % 7\ny = np.arange(40) % 2")


def _kinds(tmp_path, cells) -> dict[str, list[str]]:
    """Statement source -> kinds, for the statements that bind `scores` (or `m`)."""
    nb_path = make_notebook(tmp_path / "nb.ipynb", cells)
    nb, _ = read_notebook(nb_path, "nb.ipynb")
    an = analyze(nb)
    return [(st.source_excerpt or "", st.kind) for st in an.stmts
            if {"scores", "m"} & st.binds]


def test_the_issue_example_keeps_only_the_last_fit(tmp_path):
    kinds = _kinds(tmp_path, [SETUP, (
        "code", "bag_model = BaggingClassifier(DecisionTreeClassifier(), n_estimators=5, "
                "random_state=0)\n"
                "scores = cross_val_score(SVC(), X, y, cv=5)\n"
                "scores = cross_val_score(bag_model, X, y, cv=5)\n"
                "scores = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5)\n"
                "scores = cross_val_score(SVC(C=2.0), X, y, cv=5)"),
        ("code", "print(scores.mean())")])
    assert [k for _, k in kinds] == ["dead", "dead", "dead", "code"]


def test_a_value_read_before_it_is_overwritten_is_kept(tmp_path):
    kinds = _kinds(tmp_path, [SETUP, (
        "code", "scores = cross_val_score(SVC(), X, y, cv=5)\nprint(scores.mean())\n"
                "scores = cross_val_score(SVC(C=2.0), X, y, cv=5)")])
    assert [k for _, k in kinds] == ["code", "code"]


def test_a_value_only_displayed_before_it_is_overwritten_is_dead(tmp_path):
    kinds = _kinds(tmp_path, [SETUP, ("code", "scores = np.sqrt(X)\nscores"),
                              ("code", "scores = np.log1p(X)")])
    assert [k for _, k in kinds] == ["dead", "code"]


@pytest.mark.parametrize("first", [
    "scores = cross_val_score(RandomForestClassifier(), X, y, cv=5)",  # draws: no random_state
    "scores = cross_val_score(SVC(probability=True), X, y, cv=5)",  # Platt scaling draws
    "scores = np.random.rand(3)",  # the global generator
    "scores = my_score(X)",  # a notebook function: unknown effects
    "scores = open('x.txt', 'w')",  # not in the table
    "scores = X.sort(axis=0)",  # a method that may change X
    "scores = cross_val_score(SVC(), X, y, cv=splitter)",  # a splitter may shuffle
])
def test_unknown_or_random_calls_are_kept(tmp_path, first):
    kinds = _kinds(tmp_path, [SETUP, ("code", "def my_score(v):\n    return v.sum()\n"
                                               "splitter = 3"),
                              ("code", first), ("code", "scores = np.zeros(2)")])
    assert [k for _, k in kinds] == ["code", "code"]


def test_a_name_a_notebook_function_reads_is_kept(tmp_path):
    kinds = _kinds(tmp_path, [SETUP, ("code", "def total():\n    return scores.sum()"),
                              ("code", "scores = np.sqrt(X)\nt = total()\nscores = np.log1p(X)")])
    assert [k for _, k in kinds] == ["code", "code"]


def test_a_rebinding_that_reads_the_value_or_is_conditional_keeps_it(tmp_path):
    kinds = _kinds(tmp_path, [SETUP, ("code", "scores = np.sqrt(X)\nscores = scores + 1"),
                              ("code", "m = np.sqrt(X)\nif X.sum() > 0:\n    m = np.zeros(1)")])
    assert [k for _, k in kinds] == ["code", "code", "code"]  # the `if` only maybe binds m


def test_stripped_scratch_is_listed_and_verify_still_matches(tmp_path):
    from nb2pipe.validation.verify import verify

    nb = make_notebook(tmp_path / "nb.ipynb", [
        SETUP,
        ("md", "## Try models"),
        ("code", "scores = cross_val_score(SVC(), X, y, cv=5)\nscores"),
        ("code", "scores = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5)"),
        ("md", "## Report"),
        ("code", "best = float(scores.mean())\nprint(best)"),
    ])
    project = tmp_path / "nb_pipeline"
    res = convert(nb, project)
    assert res.ok, [d.format() for d in res.diagnostics]
    step = (project / "nb_pipeline" / "steps" / "try_models.py").read_text()
    assert "SVC()" not in step and "DecisionTreeClassifier(random_state=0)" in step
    readme = (project / "README.md").read_text()
    assert "(overwritten before use): `scores = cross_val_score(SVC(), X, y, cv=5)`" in readme
    report = verify(nb, project, recheck=False)
    assert report.ok, report
