"""What the notebook editor shows on each cell (nb2pipe/jupyter/cellmarks.py): its step, why a
step starts there, stripped lines and skipped cells with their reasons; and the preview of an
unsaved notebook through a real jupyter-server (POST /nb2pipe/preview)."""

from __future__ import annotations

import json

import nbformat
import pytest
from conftest import make_notebook
from tornado.httpclient import HTTPClientError

from nb2pipe.api import plan_notebook
from nb2pipe.jupyter.cellmarks import cell_marks, explanations
from sample_nb import write_sample

pytest_plugins = ["pytest_jupyter.jupyter_server"]

CELLS = [
    ("md", "# Title"),
    ("code", "import pandas as pd\nimport matplotlib.pyplot as plt"),  # 2
    ("md", "## Load"),
    ("code", "df = pd.DataFrame({'a': [1, 2, None]})\ndf.head()"),  # 4: display stripped
    ("md", "## Clean"),
    ("code", "%matplotlib inline\nclean = df.dropna()"),  # 6: magic stripped
    ("code", "plt.plot(clean['a'])\nplt.show()", ["skip"]),  # 7: skipped by tag
    ("code", "total = clean['a'].sum()", ["step:total_up"]),  # 8: tag starts a step
    ("md", "## Report"),
    ("code", "report = {'total': float(total)}\nplt.plot([total])\nprint(report)"),  # 10
]


def _marks(tmp_path, cells=CELLS):
    nb_path = make_notebook(tmp_path / "nb.ipynb", cells)
    plan, diags, nb = plan_notebook(nb_path, tmp_path / "out")
    assert plan is not None, [d.format() for d in diags]
    return {m["cell"]: m for m in cell_marks(plan, nb)}, plan


def test_each_code_cell_has_its_step_and_the_reason_a_step_starts(tmp_path):
    marks, plan = _marks(tmp_path)
    assert [s.name for s in plan.steps] == ["load", "clean_step", "total_up", "report_step"]
    assert sorted(marks) == [2, 4, 6, 7, 8, 10]  # code cells only
    assert {i: m["step"] for i, m in marks.items()} == {
        2: "load", 4: "load", 6: "clean_step", 7: None, 8: "total_up", 10: "report_step"}
    assert {i: m["start"] for i, m in marks.items()} == {
        2: "first", 4: None, 6: "heading", 7: None, 8: "tag", 10: "heading"}


def test_stripped_lines_and_skipped_cells_carry_their_reason(tmp_path):
    marks, _ = _marks(tmp_path)
    assert marks[7]["skipped"] == "skip tag" and marks[7]["step"] is None
    assert [(s["line"], s["end"], s["reason"]) for s in marks[4]["stripped"]] == [
        (2, 2, "display (a bare expression or display call)")]
    assert [(s["line"], s["reason"]) for s in marks[6]["stripped"]] == [(1, "IPython magic")]
    assert [(s["line"], s["reason"]) for s in marks[10]["stripped"]] == [(2, "plotting")]
    assert all(m["skipped"] is None for i, m in marks.items() if i != 7)


def test_a_multi_line_statement_spans_its_lines(tmp_path):
    cells = [("code", "import pandas as pd"),
             ("code", "df = pd.DataFrame({'a': [1]})\ndisplay(\n    df,\n)\nn = len(df)")]
    marks, _ = _marks(tmp_path, cells)
    assert [(s["line"], s["end"]) for s in marks[2]["stripped"]] == [(2, 4)]


def test_explanations_are_nb2pipe_explain_for_each_code_found(tmp_path):
    _, plan = _marks(tmp_path)
    nb_path = tmp_path / "nb.ipynb"
    _, diags, _ = plan_notebook(nb_path, tmp_path / "out")
    text = explanations(diags)
    assert set(text) == {d.code for d in diags} and text
    assert all(t.startswith(f"{code} (") and "How to fix:" in t for code, t in text.items())


# ---- through a real jupyter-server ---------------------------------------------------------

@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nb2pipe.jupyter": True}}}


async def test_post_preview_plans_the_unsaved_notebook_and_saves_nothing(jp_fetch, jp_root_dir):
    path = write_sample(jp_root_dir / "sales.ipynb")
    before = path.read_bytes()
    content = json.loads(before)
    content["cells"][-1]["metadata"]["tags"] = ["skip"]  # an edit the editor has not saved
    r = await jp_fetch("nb2pipe", "preview", method="POST",
                       body=json.dumps({"path": "sales.ipynb", "notebook": content}))
    data = json.loads(r.body)
    assert [s["name"] for s in data["plan"]["steps"]] == ["load", "clean_step"]
    marks = {m["cell"]: m for m in data["cells"]}
    assert marks[7]["skipped"] == "skip tag"
    assert marks[5]["stripped"][0]["reason"].startswith("display")
    assert set(data["explain"]) == {d["code"] for d in data["diagnostics"]}
    assert path.read_bytes() == before

    r = await jp_fetch("nb2pipe", "preview", params={"path": "sales.ipynb"})  # the saved file
    data = json.loads(r.body)
    assert [s["name"] for s in data["plan"]["steps"]] == ["load", "clean_step", "summarize"]
    assert {m["cell"]: m["step"] for m in data["cells"]} == {
        3: "load", 5: "clean_step", 7: "summarize"}


@pytest.mark.parametrize("body", [
    {"path": "sales.ipynb"}, {"path": "sales.ipynb", "notebook": "{}"},
    {"path": "sales.ipynb", "notebook": [1]}, {"notebook": {}},
    {"path": "../sales.ipynb", "notebook": {}},
])
async def test_post_preview_refuses_bad_bodies_with_4xx(jp_fetch, jp_root_dir, body):
    write_sample(jp_root_dir / "sales.ipynb")
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("nb2pipe", "preview", method="POST", body=json.dumps(body))
    assert 400 <= info.value.code < 500
    assert json.loads(info.value.response.body)["message"]


async def test_post_preview_of_broken_content_gives_diagnostics(jp_fetch, jp_root_dir):
    write_sample(jp_root_dir / "sales.ipynb")
    r = await jp_fetch("nb2pipe", "preview", method="POST",
                       body=json.dumps({"path": "sales.ipynb", "notebook": {"cells": 3}}))
    data = json.loads(r.body)
    assert data["plan"] is None and data["cells"] == []
    assert [d["code"] for d in data["diagnostics"]] == ["NB102"]
    assert nbformat.read(str(jp_root_dir / "sales.ipynb"), 4).cells  # untouched
