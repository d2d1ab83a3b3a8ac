"""Each stage alone: the analyzer's facts for a cell, and planner phases on hand-made facts.

The golden trees and the end-to-end tests hold the whole conversion; these pin down one
stage's contract each, so a change shows where it happened.
"""

from __future__ import annotations

import ast
import json
from types import SimpleNamespace

import pytest

from conftest import make_notebook
from nb2pipe.analysis.cells import analyze
from nb2pipe.analysis.model import Mutation, Stmt
from nb2pipe.notebook import read_notebook
from nb2pipe.planning import flow


def facts(tmp_path, *cells: str):
    """The analysis of a notebook made of these code cells."""
    nb = make_notebook(tmp_path / "nb.ipynb", [("code", c) for c in cells])
    notebook, diags = read_notebook(nb)
    assert notebook is not None, diags
    return analyze(notebook)


def stmt(an, text: str) -> Stmt:
    return next(s for s in an.stmts if s.source_excerpt.startswith(text))


# ---- analyzer: facts of one statement ------------------------------------------------------

def test_reads_binds_and_kind_of_an_assignment(tmp_path):
    an = facts(tmp_path, "import pandas as pd\ndf = pd.read_csv('a.csv')\ndf.head()")
    load = stmt(an, "df = pd.read_csv")
    assert (load.kind, load.reads, load.binds) == ("code", ["pd"], {"df"})
    assert [(f.path, f.mode) for f in load.files] == [("a.csv", "read")]
    assert stmt(an, "df.head()").kind == "display"


def test_an_inplace_call_is_a_mutation_of_every_alias(tmp_path):
    an = facts(tmp_path, "a = [1]\nb = a\nb.append(2)")
    (m,) = stmt(an, "b.append").mutations
    assert m.root == "b" and m.affected == {"a", "b"}


@pytest.mark.parametrize("source, shares", [
    ("cols = [c for c in df.columns]", False),  # labels
    ("for c in df:\n    pass\ncols = c", False),  # iterating a frame: labels
    ("cols = sorted(df.columns)", False),
    ("cols = df", True),
    ("cols = [df]", True),
    ("cols = [x for x in [df]]", True),  # the element is the frame itself
    ("cols = df.values", True),  # a view of the data
])
def test_which_values_share_an_object_with_a_frame(tmp_path, source, shares):
    an = facts(tmp_path, "import pandas as pd\ndf = pd.DataFrame({'x': [1]})",
               source + "\ndf['y'] = 1")
    (m,) = stmt(an, "df['y'] = 1").mutations
    assert ("cols" in m.affected) is shares


@pytest.mark.parametrize("method, mutates", [
    ("append", True), ("fit", True), ("unknown_method", True), ("score", False),
    ("to_csv", False), ("get_params", False), ("__len__", False), ("__setitem__", True),
])
def test_a_method_call_mutates_its_receiver_unless_known_not_to(tmp_path, method, mutates):
    an = facts(tmp_path, "obj = make()", f"obj.{method}(1)")
    assert bool(stmt(an, f"obj.{method}").mutations) is mutates


def test_a_function_summary_lists_the_parameters_it_mutates(tmp_path):
    an = facts(tmp_path, "def f(a, b):\n    a.append(1)\n    return b.score(a)")
    (d,) = an.definitions
    assert d.params == ["a", "b"] and d.mutated_params == {"a"}


def test_figures_a_statement_draws_on_or_reads(tmp_path):
    an = facts(tmp_path,
               "import matplotlib.pyplot as plt\nplt.plot([1])\nb, t = plt.ylim()\n"
               "fig, ax = plt.subplots()\nax.plot([2])\nlim = ax.get_xlim()\nplt.show()",
               "lo, hi = plt.ylim()\nw = lim[1]")
    first, again = stmt(an, "plt.plot").figures, stmt(an, "b, t").figures
    assert first and first == again  # pyplot's current figure
    fig = stmt(an, "fig, ax").figures
    assert fig and fig != first and stmt(an, "ax.plot").figures == fig
    assert stmt(an, "lim = ax").figures == fig
    assert not stmt(an, "plt.show").figures  # showing reads nothing back
    # a new cell starts without a current figure (the kernel closed them)
    assert stmt(an, "lo, hi").figures.isdisjoint(first | fig)
    assert stmt(an, "w = lim").figures == fig  # a value read back from that figure


def test_a_function_that_only_draws(tmp_path):
    an = facts(tmp_path, "import matplotlib.pyplot as plt",
               "def draw(d, title):\n    sub = d[d.x > 0]\n    fig, ax = plt.subplots()\n"
               "    ax.set_xticks([])\n    ax.scatter(sub.x, sub.y)\n    plt.title(title)",
               "def draw_and_keep(d):\n    plt.plot(d.x)\n    d['drawn'] = True",
               "def compute(d):\n    return d.x.sum()")
    only = {d.name: d.draws_only for d in an.definitions}
    assert only == {"draw": True, "draw_and_keep": False, "compute": False}


# ---- planner phases on hand-made step states -----------------------------------------------

def _state(name: str, order: int, **kw) -> flow._StepState:
    return flow._StepState(name=name, title=name, cells=[order], prev=[], tags=[], order=order,
                           **kw)


def _mutation_stmt(root: str, affected: set[str], objs: dict[str, frozenset[int]]) -> Stmt:
    st = Stmt(cell=3, seq=1, node=ast.parse("pass").body[0], text=None, lead="", line=1, col=0,
              kind="code")
    st.mutations = [Mutation(root, frozenset(affected), 1, 0)]
    st.alias_objs = objs
    return st


def test_an_alias_group_comes_from_its_latest_producer_in_one_bundle():
    a = _state("a", 0, outputs={"x"}, bound={"x"})
    b = _state("b", 1, outputs={"y"}, bound={"y"}, inputs={"x": "a"})
    b.producer_at_start = {"x": flow.Producer("step", "a")}
    c = _state("c", 2, inputs={"x": "a", "y": "b"})
    c.stmts = [_mutation_stmt("x", {"x", "y"}, {"x": frozenset({1}), "y": frozenset({1})})]
    problems = flow._carry_alias_groups([a, b, c], {s.name: s for s in (a, b, c)})
    assert problems == []
    assert c.inputs == {"x": "b", "y": "b"}  # both from b now
    assert b.outputs == {"x", "y"} and b.bundles == [{"x", "y"}]
    assert a.bundles == []  # x and y were last together in b


def test_an_alias_group_holding_a_parameter_is_nb209():
    a = _state("a", 0, outputs={"y"}, bound={"y"}, params=["p"])
    c = _state("c", 1, inputs={"y": "a"}, params=["p"], outputs={"p", "y"})
    c.stmts = [_mutation_stmt("y", {"p", "y"}, {"p": frozenset({1}), "y": frozenset({1})})]
    (problem,) = flow._carry_alias_groups([a, c], {"a": a, "c": c})
    assert problem[0] == "NB209" and "'p'" in problem[1] and "parameter" in problem[1]


def _no_classes():
    from types import SimpleNamespace

    return SimpleNamespace(definitions=[])


def test_outputs_are_what_later_steps_read_and_final_values():
    a = _state("a", 0, bound={"x", "tmp"}, loop_only={"tmp"})
    b = _state("b", 1, inputs={"x": "a"}, bound={"z"})
    producer = {"x": flow.Producer("step", "a"), "tmp": flow.Producer("step", "a"),
                "z": flow.Producer("step", "b")}
    no_secrets = SimpleNamespace(flow=SimpleNamespace(final=set()))
    flow._derive_outputs(_no_classes(), [a, b], {"a": a, "b": b}, producer, no_secrets)
    assert a.outputs == {"x"}  # a loop variable is not a final value
    assert b.outputs == {"z"}


@pytest.mark.parametrize("source, may_not_run", [
    ("y = URL + 'x'", False),
    ("try:\n    y = 1\nexcept OSError:\n    y = URL", True),
    ("y = 1 if ok else URL", True),
    ("y = ok or URL", True),
    ("if URL:\n    y = 1", False),  # the test always runs
    ("for i in range(3):\n    y = URL", True),
    ("y = [r for r in URL]", False),  # the first iterable is evaluated at once
    ("y = [r for r in rows if URL]", True),
])
def test_a_read_that_may_not_run(source, may_not_run):
    assert flow._read_may_not_run(ast.parse(source).body[0], "URL") is may_not_run


def test_kept_code_reading_a_figure_keeps_the_drawing_before_it(tmp_path):
    """The last pass of the analysis (figures.keep_needed_plots): the analysis as returned."""
    an = facts(tmp_path,
               "import matplotlib.pyplot as plt\nplt.plot([1, 5])\nplt.title('t')\n"
               "b, t = plt.ylim()\nplt.figure()\nplt.bar([1], [2])\nleft, right = plt.xlim()",
               "span = t - b")
    kinds = {s.source_excerpt: s.kind for s in an.stmts}
    assert kinds["plt.plot([1, 5])"] == kinds["plt.title('t')"] == kinds["b, t = plt.ylim()"] \
        == "code"
    assert kinds["plt.figure()"] == kinds["plt.bar([1], [2])"] == "plot"  # another figure
    assert kinds["left, right = plt.xlim()"] == "plot"  # nothing kept reads it


# ---- file effects: analyzer facts and the file-effect edges phase ---------------------------

@pytest.mark.parametrize("source, effects", [
    ("os.path.getsize('plot.png')", [("plot.png", "stat")]),
    ("os.makedirs('out', exist_ok=True)", [("out", "mkdir")]),
    ("shutil.copy('a.csv', 'b/a.csv')", [("a.csv", "read"), ("b/a.csv", "write")]),
    ("shutil.rmtree('out')", [("out", "delete")]),
    ("shutil.make_archive('dist', 'zip', 'out')", [(None, "write")]),  # any other shutil call
    ("Path('r.txt').write_text('hi')", [("r.txt", "write")]),  # the receiver is the path
    ("open(name, 'w').close()", [(None, "write")]),  # computed: not known before it runs
    ("df.to_csv(path_or_buf='t.csv')", [("t.csv", "write")]),
    ("glob.glob('*.csv')", [("*.csv", "stat")]),
    ("os.path.join('a', 'b')", []),
])
def test_file_effects_of_a_call(tmp_path, source, effects):
    an = facts(tmp_path, "import os\nimport glob\nimport shutil\nfrom pathlib import Path\n"
                         "import pandas as pd\ndf = pd.DataFrame()\nname = 'x'", source)
    assert [(f.path, f.mode) for f in stmt(an, source).files] == effects


def test_a_call_to_a_notebook_function_that_writes_is_a_computed_write(tmp_path):
    an = facts(tmp_path, "def save(rows, path):\n    with open(path, 'w') as fh:\n"
                         "        fh.write(str(rows))\n"
                         "def keep(rows):\n    save(rows, 'r.txt')\n"
                         "def count(rows):\n    return len(rows)",
               "keep([1])", "n = count([1])")
    assert [(f.path, f.mode) for f in stmt(an, "keep([1])").files] == [(None, "write")]
    assert stmt(an, "n = count").files == []


def _ref(path, mode, cell=1):
    from nb2pipe.analysis.model import FileRef

    return FileRef(path=path, mode=mode, cell=cell, line=1, call="f")


def test_a_step_that_writes_a_file_is_upstream_of_a_later_step_that_touches_it():
    from nb2pipe.planning.file_edges import FileEdge, file_effect_edges

    edges = file_effect_edges([
        ("plot", [_ref("plot.png", "write")]),
        ("other", [_ref("data.csv", "read")]),  # another file: may run beside `plot`
        ("report", [_ref("./plot.png", "stat")]),
        ("again", [_ref("plot.png", "read"), _ref("data.csv", "read")]),
    ])
    assert edges == [FileEdge("plot", "report", "file: plot.png", carries=True),
                     FileEdge("plot", "again", "file: plot.png", carries=True)]


def test_a_computed_path_orders_a_writer_before_every_later_step_on_the_file_system():
    from nb2pipe.planning.file_edges import file_effect_edges

    edges = file_effect_edges([
        ("make", [_ref(None, "write", cell=2)]),
        ("pure", []),  # no file effect: free to run beside `make`
        ("load", [_ref("data.csv", "read")]),
        ("look", [_ref(None, "read")]),
    ])
    assert [(e.upstream, e.downstream, e.reason) for e in edges] == [
        ("make", "load", "file system: computed path (cell 2, line 1)"),
        ("make", "look", "file system: computed path (cell 2, line 1)")]


def test_a_write_waits_for_earlier_readers_and_a_folder_holds_its_files():
    from nb2pipe.planning.file_edges import file_effect_edges

    edges = file_effect_edges([
        ("read", [_ref("out/a.csv", "read")]),
        ("clean", [_ref("out", "delete")]),  # must not remove what `read` still reads
        ("mk", [_ref("out", "mkdir")]),
        ("write", [_ref("out/a.csv", "write")]),
    ])
    pairs = {(e.upstream, e.downstream) for e in edges}
    assert pairs == {("read", "clean"), ("read", "mk"), ("read", "write"), ("clean", "mk"),
                     ("clean", "write"), ("mk", "write")}
    assert file_effect_edges([("a", [_ref("x.csv", "read")]),
                              ("b", [_ref("x.csv", "stat")])]) == []  # two readers


def test_edges_the_other_links_imply_are_left_out_unless_they_carry_a_file():
    from nb2pipe.planning.file_edges import FileEdge, without_implied

    edges = [FileEdge("a", "b", "file: x"), FileEdge("a", "c", "file: x"),
             FileEdge("b", "c", "file: y"), FileEdge("a", "d", "file: z", carries=True)]
    kept = without_implied(edges, {"a": set(), "b": set(), "c": set(), "d": {"c"}})
    assert kept == [FileEdge("a", "b", "file: x"), FileEdge("b", "c", "file: y"),
                    FileEdge("a", "d", "file: z", carries=True)]


def test_the_plan_gives_each_file_edge_its_reason(tmp_path):
    from nb2pipe.api import convert

    nb = make_notebook(tmp_path / "nb.ipynb", [
        ("md", "## Plot"), ("code", "import os\nwith open('plot.txt', 'w') as fh:\n"
                                    "    fh.write('x')"),
        ("md", "## Report"), ("code", "size = os.path.getsize('plot.txt')")])
    res = convert(nb, tmp_path / "out")
    assert res.ok, [d.format() for d in res.diagnostics]
    report = res.plan.step("report")
    assert report.upstream == ("plot",)
    assert report.file_edges == (("plot", "file: plot.txt"),)
    assert json.loads(res.plan.dumps())["steps"][1]["file_edges"] == [["plot",
                                                                       "file: plot.txt"]]


# ---- the analysis is final: planning reads it and changes nothing ---------------------------

def _snapshot(an) -> list:
    def fields(obj):
        return {k: repr(v) for k, v in vars(obj).items() if k not in ("node",)}
    return [fields(s) for s in an.stmts] + [fields(d) for d in an.definitions]


@pytest.mark.parametrize("sample", ["churn", "house_prices", "forecast"])
def test_planning_changes_nothing_in_the_analysis(sample):
    """Issue 14 item 1: analysis results are not changed after analysis (emit names, the
    globals a function reads and the plots kept code needs are analysis passes)."""
    from pathlib import Path

    from nb2pipe.planning import split as splitting

    root = Path(__file__).resolve().parent.parent
    notebook, diags = read_notebook(root / "sample_notebooks" / f"{sample}.ipynb")
    an = analyze(notebook)
    before = _snapshot(an)
    mode, groups = splitting.split(notebook, "auto", diags, an)
    names = splitting.assign_names(groups, set(), notebook, diags, from_tags=(mode == "tags"))
    plan = flow.build_plan(an, groups, names, mode, "pkg", ".", diags)
    assert plan is not None and plan.steps
    assert _snapshot(an) == before
