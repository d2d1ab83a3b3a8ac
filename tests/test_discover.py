"""Issue 13: steps found in the data flow of notebooks that have no tags and no headings.

Small notebooks for each kind of boundary (load -> clean -> fit -> evaluate), one whose flow has
no narrow point (it stays one step, with NB304), names, `--split flow`, the boundary reasons in
`--json`, headings and tags still winning, and a real run of a discovered pipeline.
"""

from __future__ import annotations

import json
import keyword
import re

import pytest
from conftest import make_notebook
from runner_helpers import cli

from nb2pipe.api import plan_notebook
from nb2pipe.planning import discover

IMPORTS = ("code", "import pandas as pd\nfrom sklearn.ensemble import RandomForestClassifier\n"
                   "from sklearn.metrics import accuracy_score, classification_report, "
                   "confusion_matrix")
LOAD = [("code", "customers = pd.read_csv('customers.csv')"),
        ("code", "customers.head()"),
        ("code", "customers.describe()")]
CLEAN = [("code", "df = customers.dropna()\ndf = df.drop_duplicates()"),
         ("code", "df['ratio'] = df['a'] / (df['b'] + 1)\ndf['a'] = df['a'].clip(0, 100)"),
         ("code", "df.head()")]
FIT = [("code", "X = df[['a', 'b', 'ratio']]\ny = df['label']"),
       ("code", "model = RandomForestClassifier(n_estimators=10, random_state=0)\n"
                "model.fit(X, y)"),
       ("code", "model")]
EVALUATE = [("code", "predictions = model.predict(X)\naccuracy = accuracy_score(y, predictions)"),
            ("code", "matrix = confusion_matrix(y, predictions)\n"
                     "report = classification_report(y, predictions, output_dict=True)"),
            ("code", "score = model.score(X, y)\nprint('accuracy', accuracy, score)")]
CHURN = [IMPORTS, *LOAD, *CLEAN, *FIT, *EVALUATE]


def _data(folder):
    rows = ["a,b,label"] + [f"{(i * 37) % 120},{i % 9},{i % 2}" for i in range(60)]
    (folder / "customers.csv").write_text("\n".join(rows) + "\n")


def _plan(tmp_path, cells, split="auto"):
    nb = make_notebook(tmp_path / "nb.ipynb", cells)
    plan, diags, _ = plan_notebook(nb, tmp_path / "out", split=split)
    assert plan is not None, [d.format() for d in diags]
    return plan, diags


def _cells_of(plan, name):
    return next(s.cells for s in plan.steps if s.name == name)


def test_load_clean_fit_evaluate_become_four_steps_named_for_what_they_do(tmp_path):
    plan, diags = _plan(tmp_path, CHURN)
    assert plan.split == "flow"
    assert [s.name for s in plan.steps] == ["load_customers", "clean_df",
                                            "train_random_forest", "evaluate_model"]
    # each boundary at the phase change, carrying only what the next step reads
    assert _cells_of(plan, "load_customers") == (1, 2, 3, 4)
    assert _cells_of(plan, "clean_df") == (5, 6, 7)
    assert _cells_of(plan, "train_random_forest") == (8, 9, 10)
    assert _cells_of(plan, "evaluate_model") == (11, 12, 13)
    assert plan.step("clean_df").inputs == ("customers",)
    assert plan.step("train_random_forest").inputs == ("df",)
    assert set(plan.step("evaluate_model").inputs) == {"model", "X", "y"}
    assert "NB304" not in {d.code for d in diags}


def test_each_boundary_says_which_values_cross_it(tmp_path):
    plan, _ = _plan(tmp_path, CHURN)
    assert plan.steps[0].boundary == ""
    assert plan.step("clean_df").boundary == "1 value crosses: customers; phase load -> clean"
    assert plan.step("evaluate_model").boundary == (
        "3 values cross: X, model, y; phase fit -> evaluate")


def test_a_flow_with_no_narrow_point_stays_one_step_with_nb304(tmp_path):
    """Every cell updates and reads the same nine values: any cut would carry all of them."""
    names = [f"v{i}" for i in range(9)]
    cells = [("code", "\n".join(f"{n} = {i}" for i, n in enumerate(names)))]
    for k in range(10):
        cells.append(("code", "\n".join(f"{n} = {n} + {names[(i + 1) % 9]} + {k}"
                                         for i, n in enumerate(names))))
    plan, diags = _plan(tmp_path, cells)
    assert plan.split == "single" and len(plan.steps) == 1
    assert "NB304" in {d.code for d in diags}


def test_a_small_notebook_is_not_split(tmp_path):
    plan, diags = _plan(tmp_path, [IMPORTS, LOAD[0], CLEAN[0], FIT[0]])
    assert plan.split == "single"
    assert "NB304" in {d.code for d in diags}


def test_names_are_unique_valid_python_and_kubernetes_names(tmp_path):
    """Two cleaning phases of the same frame, and a name that is also a variable."""
    cells = [IMPORTS, *LOAD, *CLEAN, ("code", "print(df.shape)"), *FIT,
             ("code", "df = df.fillna(0)\ndf = df.rename(columns={'a': 'A'})"),
             ("code", "df = df.drop_duplicates()\ndf = df.astype(float)\nclean_df = 1"),
             ("code", "df.head()"), *EVALUATE]
    plan, _ = _plan(tmp_path, cells)
    names = [s.name for s in plan.steps]
    assert len(names) == len(set(names)) >= 3
    taken = {"customers", "df", "clean_df", "X", "y", "model", "predictions", "accuracy"}
    for s in plan.steps:
        assert s.name.isidentifier() and not keyword.iskeyword(s.name)
        assert s.name not in taken
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", s.k8s_name) and len(s.k8s_name) <= 63


def test_headings_still_win_when_they_give_enough_steps(tmp_path):
    cells = [IMPORTS, ("md", "## Data"), *LOAD, *CLEAN, ("md", "## Model"), *FIT,
             ("md", "## Results"), *EVALUATE]
    plan, _ = _plan(tmp_path, cells)
    assert plan.split == "headings"
    assert [s.name for s in plan.steps] == ["data", "model_step", "results"]  # `model` is taken


def test_headings_name_the_discovered_steps_they_start(tmp_path):
    """One heading only: too few steps, so the flow decides, and the heading names its step."""
    cells = [IMPORTS, *LOAD, *CLEAN, ("md", "## Fitting a forest"), *FIT, *EVALUATE]
    plan, _ = _plan(tmp_path, cells)
    assert plan.split == "flow"
    assert "fitting_a_forest" in [s.name for s in plan.steps]
    assert "heading 'Fitting a forest'" in plan.step("fitting_a_forest").boundary


def test_tags_always_win(tmp_path):
    cells = [(*c, ["step:everything"]) if i == 1 else c for i, c in enumerate(CHURN)]
    plan, _ = _plan(tmp_path, cells)
    assert plan.split == "tags" and [s.name for s in plan.steps] == ["everything"]


def test_split_flow_is_selectable_and_single_still_makes_one_step(tmp_path):
    cells = [IMPORTS, ("md", "## Data"), *LOAD, *CLEAN, ("md", "## Model"), *FIT,
             ("md", "## Results"), *EVALUATE]
    plan, _ = _plan(tmp_path, cells, split="flow")
    assert plan.split == "flow"
    plan, _ = _plan(tmp_path, CHURN, split="single")
    assert plan.split == "single" and len(plan.steps) == 1


def test_phase_of_a_cell_comes_from_its_calls():
    assert discover._phase(["read_csv"]) == "load"
    assert discover._phase(["dropna", "fillna", "fit"]) == "clean"
    assert discover._phase(["RandomForestClassifier", "fit"]) == "fit"
    assert discover._phase(["predict", "accuracy_score"]) == "evaluate"
    assert discover._phase(["print", "len"]) == ""
    assert discover._estimator_words("RandomForestClassifier") == "random_forest"
    assert discover._estimator_words("LinearRegression") == "linear_regression"


@pytest.mark.parametrize("split", ["auto", "flow"])
def test_convert_json_and_readme_show_the_boundaries_and_the_pipeline_runs(tmp_path, split):
    _data(tmp_path)
    nb = make_notebook(tmp_path / "nb.ipynb", CHURN)
    proc = cli("convert", nb, "-o", tmp_path / "out", "--split", split, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = json.loads(proc.stdout)["plan"]
    assert plan["split"] == "flow"
    assert [s.get("boundary", "") for s in plan["steps"]][1] == (
        "1 value crosses: customers; phase load -> clean")
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "1 value crosses: customers; phase load -> clean" in readme
    run = cli("run", tmp_path / "out", "--jobs", "2", timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 finished" in run.stdout


HEADED = [IMPORTS, ("md", "## Data"), *LOAD, *CLEAN, ("md", "## Model"), *FIT,
          ("md", "## Results"), *EVALUATE]


def _tagged(cells, index, *tags):
    return [(*c, list(tags)) if i == index else c for i, c in enumerate(cells)]


def test_one_step_tag_adds_a_step_and_the_heading_sections_stay_steps(tmp_path):
    """Issue 18: one `step:` tag used to replace the heading split by one step."""
    first_clean = HEADED.index(CLEAN[0])
    plan, diags = _plan(tmp_path, _tagged(HEADED, first_clean, "step:clean"))
    assert [s.name for s in plan.steps] == ["data", "clean", "model_step", "results"]
    assert _cells_of(plan, "clean")[0] == first_clean + 1
    assert _cells_of(plan, "data")[-1] == first_clean  # the load cells, the imports before
    # the note says the `## Model` heading ended the tagged step (tags alone would not)
    assert [d.cell for d in diags if d.code == "NB314"] == [HEADED.index(("md", "## Model")) + 1]
    assert "NB307" not in [d.code for d in diags]  # heading names are not the user's tags


def test_a_tag_on_the_first_cell_of_a_section_names_that_section(tmp_path):
    first_fit = HEADED.index(FIT[0])
    plan, diags = _plan(tmp_path, _tagged(HEADED, first_fit, "step:fit"))
    assert [s.name for s in plan.steps] == ["data", "fit", "results"]


def test_a_tag_under_the_heading_keeps_cells_in_the_tagged_step_and_split_tags_ignores_headings(
        tmp_path):
    clean = _tagged(HEADED, HEADED.index(CLEAN[0]), "step:clean")
    fit_too = _tagged(clean, HEADED.index(FIT[0]), "step:clean")  # as NB314 suggests
    results_too = _tagged(fit_too, HEADED.index(EVALUATE[0]), "step:clean")
    plan, diags = _plan(tmp_path, results_too)
    assert [s.name for s in plan.steps] == ["data", "clean"]
    assert "NB314" not in [d.code for d in diags]
    plan, diags = _plan(tmp_path, clean, split="tags")
    assert [s.name for s in plan.steps] == ["clean"] and "NB314" not in [d.code for d in diags]
