"""Issue 12, items 7 and 9: the generated code never reads a name it removed and always
compiles; plotting is kept or stripped in whole slices; a cell magic that runs its body in the
notebook's namespace keeps the body; a notebook function that only draws is display code.

The values are checked against the notebook run in a real kernel where plotting state
matters (pyplot's current figure lives in the kernel)."""

from __future__ import annotations

import pytest
from test_analysis import _convert, assert_same, codes, step

from nb2pipe.api import SelfCheckError, _self_check

C, M = "code", "md"


@pytest.fixture
def notebook_factory(tmp_path):
    """conftest's factory, remembering the last notebook (the kernel runs it)."""
    from conftest import make_notebook

    def factory(cells, name="nb.ipynb", **kw):
        factory.last = make_notebook(tmp_path / name, cells, **kw)
        return factory.last

    return factory


def _bodies(res) -> str:
    return "\n".join(s.body for s in res.plan.steps)


def _same_in_kernel(nb_path, res, out, tmp_path, figures=()):
    """The pipeline's final values equal the notebook's, the notebook run by a kernel.
    Figure objects (`figures`) are left out: they cannot be compared, and unpickling one
    before the pipeline runs would make it pyplot's current figure in the pipeline."""
    from notebook_exec import notebook_values, pipeline_compare

    names = [n for n in res.plan.final_names if n not in figures]
    baseline = tmp_path / "baseline.pkl"
    notebook_values(nb_path, names, baseline)
    verdicts = pipeline_compare(out, res.plan.package, baseline)
    assert set(verdicts) == set(names)
    bad = {k: v for k, v in verdicts.items() if v[0] != "equal"}
    assert not bad, bad
    return verdicts


def _same(cells, res, out, names):
    """The named final values of the pipeline (steps run apart, values pickled between
    them) equal the notebook's (cells executed in one namespace)."""
    import matplotlib.pyplot as plt
    from test_analysis import run_isolated, run_notebook

    from nb2pipe.validation.compare import compare

    assert res.ok, [d.format() for d in res.diagnostics]
    plt.close("all")
    nb_values = run_notebook(cells)
    plt.close("all")  # as the kernel does after a cell: the pipeline starts with no figure
    values = run_isolated(out, res.plan.package)
    for n in names:
        assert compare(nb_values[n], values[n]).status == "equal", n


# ---- 7a: the self-check reads the generated modules like pyflakes ---------------------------

def test_unbound_names_are_found_in_every_scope():
    from nb2pipe.emit.namecheck import unbound_names

    src = ("import os\nlimit = 3\n\n\ndef step(df, *, n=1):\n"
           "    rows = [r for r in df if r > n]\n    for i in rows:\n        axis.plot(i)\n"
           "    return {'rows': rows, 'os': os, 'limit': limit, 'size': len(rows), 'z': z}\n\n\n"
           "class Box:\n    k = 1\n\n    def get(self):\n        return k\n")
    assert [n for n, _, _ in unbound_names(src)] == ["axis", "z", "k"]
    assert unbound_names(src)[0] == ("axis", 8, 8)
    # a function named `top` (symtable's module table is named so too) has parameters
    assert unbound_names("def top(df, n=5, *rest, reverse=True, **kw):\n"
                         "    return sorted(df, reverse=reverse)[:n]\n") == []
    # bound somewhere in the scope, through `global`, by an import fallback, or a builtin
    assert unbound_names("def f():\n    global g\n    g = 1\n\n\ndef h():\n    return g, print\n"
                         "try:\n    import foo\nexcept ImportError:\n    foo = None\n") == []


def test_self_check_names_the_module_and_the_name(notebook_factory):
    nb = notebook_factory([(C, "x = 1\nif x > 1:\n    print(never_assigned)\naxis = x")])
    from nb2pipe.notebook import read_notebook

    files = {"pkg/steps/a.py": "def a():\n    y = axis + 1\n    return {'y': y}\n",
             "pkg/common.py": "\n"}
    with pytest.raises(SelfCheckError, match=r"pkg/steps/a\.py:2:9 reads 'axis'"):
        _self_check(files, "pkg", read_notebook(nb)[0])
    # a name the notebook itself never assigns (NB221) fails there too: not our slip
    files["pkg/steps/a.py"] = "def a():\n    return {'y': never_assigned}\n"
    _self_check(files, "pkg", read_notebook(nb)[0])


# ---- 7b: a `case` whose body was display code still compiles --------------------------------

def test_match_case_left_empty_by_stripping_converts(notebook_factory):
    cells = [(C, "v = 1\ndf = [1]"),
             (C, "match v:\n    case 1:\n        len(df)\n    case _:\n        z = 3")]
    res, _ = _convert(notebook_factory, cells)
    assert res.ok and res.internal_error is None, [d.format() for d in res.diagnostics]
    assert "case 1:\n        pass" in _bodies(res)
    taken = [(C, "v = 2\ndf = [1]"), cells[1]]  # the branch that binds `z` runs
    res, out = _convert(notebook_factory, taken)
    assert_same(taken, res, out)


# ---- 7c: values read back from a figure keep the drawing they read ----------------------------

FIGURE_READS = [
    (M, "## Setup"),
    (C, "import matplotlib.pyplot as plt\nimport numpy as np\nxs = np.arange(10)"),
    (M, "## Draw"),
    (C, "plt.plot(xs, xs ** 2)\nplt.title('squares')\nb, t = plt.ylim()\n"
        "fig, ax = plt.subplots()\nax.plot(xs, -xs, label='down')\nax.plot(xs, 3 * xs, label='up')\n"
        "fig.set_size_inches(4, 3)\nlim = ax.get_xlim()\n"
        "lines, labels = ax.get_legend_handles_labels()\nsize = fig.get_size_inches()"),
    (M, "## Grid"),
    (C, "ranges = {}\nfor k in [1, 2]:\n    plt.figure()\n    plt.hist(xs * k)\n"
        "    lo, hi = plt.xlim()\n    ranges[k] = round(hi - lo, 6)"),
    (M, "## Look"),
    (C, "plt.figure()\nplt.bar(xs, xs)\nleft, right = plt.xlim()\nright - left\nplt.show()"),
    (M, "## Use"),
    (C, "span = t - b\nwidth = lim[1] - lim[0]\nnames = list(labels)\n"
        "area = float(size[0] * size[1])"),
]


@pytest.mark.kernel
def test_values_read_from_a_figure_equal_the_notebooks(notebook_factory, tmp_path):
    res, out = _convert(notebook_factory, FIGURE_READS)
    assert res.ok, [d.format() for d in res.diagnostics]
    draw = step(res, "draw").body
    for drawing in ("plt.plot(xs, xs ** 2)", "ax.plot(xs, -xs, label='down')",
                    "fig.set_size_inches(4, 3)", "plt.title('squares')"):
        assert drawing in draw
    assert "plt.hist(xs * k)" in step(res, "grid").body
    # nothing kept reads the bar chart's limits: the whole slice is stripped
    assert "plt.bar" not in _bodies(res) and "left, right" not in _bodies(res)
    verdicts = _same_in_kernel(notebook_factory.last, res, out, tmp_path,
                               figures=("fig", "ax", "lines"))
    assert set(verdicts) >= {"b", "t", "span", "lim", "width", "labels", "names", "size",
                             "area", "ranges"}


def test_figure_objects_from_an_earlier_cell_keep_their_drawing(notebook_factory):
    cells = [(M, "## Draw"),
             (C, "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
                 "ax.plot([0, 1], [0, 50])\nax2 = ax.twinx()\nax2.plot([0, 1], [5, 7])"),
             (M, "## Read"),
             (C, "top = ax.get_ylim()[1]\ntop2 = ax2.get_ylim()[1]")]
    res, out = _convert(notebook_factory, cells)
    body = step(res, "draw").body
    assert "ax.plot([0, 1], [0, 50])" in body and "ax2.plot([0, 1], [5, 7])" in body
    _same(cells, res, out, ["top", "top2"])


# ---- 7d: a name bound by plotting inside a loop of a kept cell -------------------------------

def test_loop_over_subplots_in_a_saved_figure_keeps_its_axis(notebook_factory, tmp_path,
                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    cells = [(C, "import matplotlib.pyplot as plt\nimport numpy as np\nn = 2"),
             (C, "fig, ax = plt.subplots(2, 2)\nfor row in range(n):\n    for col in range(n):\n"
                 "        axis = ax[row][col]\n        axis.plot([row, col])\n"
                 "        axis.axis([0, 1, 0, 1])\nfig.savefig('grid.png')"),
             (C, "fig2, ax2 = plt.subplots(1, 2)\nfor i in range(2):\n    axis2 = ax2[i]\n"
                 "    axis2.axis([0, 1, 0, 1])\ntotal = n * 2")]
    res, out = _convert(notebook_factory, cells)
    assert "NB201" not in codes(res), [d.format() for d in res.diagnostics]
    body = _bodies(res)
    assert "axis = ax[row][col]" in body and "axis.axis([0, 1, 0, 1])" in body
    assert "axis2" not in body and "fig2" not in body  # not saved: the whole loop is display
    _same(cells, res, out, ["n", "total"])
    assert (tmp_path / "grid.png").exists()


def test_loop_keeps_the_drawing_a_kept_value_reads_back(notebook_factory):
    cells = [(C, "import matplotlib.pyplot as plt\nspans = []\nfor k in [1, 3]:\n"
                 "    plt.figure()\n    plt.plot([0, k], [0, 10 * k])\n    lo, hi = plt.ylim()\n"
                 "    spans.append(round(hi - lo, 6))\n    plt.close()")]
    res, out = _convert(notebook_factory, cells)
    body = _bodies(res)
    assert "plt.plot([0, k], [0, 10 * k])" in body and "lo, hi = plt.ylim()" in body
    _same(cells, res, out, ["spans"])


# ---- 7e: a cell magic that runs its body in the namespace keeps it ---------------------------

@pytest.mark.kernel
def test_profiled_cell_keeps_the_values_it_computes(notebook_factory, tmp_path):
    cells = [(M, "## Fit"), (C, "data = list(range(10))"),
             (C, "%%prun -q\ntotal = sum(data)\nsquares = [x * x for x in data]"),
             (M, "## Use"), (C, "mean = total / len(squares)")]
    res, out = _convert(notebook_factory, cells)
    assert "NB201" not in codes(res), [d.format() for d in res.diagnostics]
    assert "total = sum(data)" in step(res, "fit").body
    _same_in_kernel(notebook_factory.last, res, out, tmp_path)


def test_timeit_cell_is_still_display(notebook_factory):
    cells = [(C, "data = list(range(10))"), (C, "%%timeit\nsum(data)"), (C, "n = len(data)")]
    res, _ = _convert(notebook_factory, cells)
    assert "sum(data)" not in _bodies(res)


# ---- 9: a call to a notebook function that only draws is display code ------------------------

DRAWING_FUNCTION = [
    (C, "import matplotlib\nimport matplotlib.pyplot as plt\nimport pandas as pd\n"
        "df = pd.DataFrame({'location': ['Hebbal', 'Hebbal', 'Other'], 'bhk': [2, 3, 2],\n"
        "                   'sqft': [1000.0, 1500.0, 900.0], 'price': [50.0, 80.0, 40.0]})"),
    (C, "def plot_scatter(df, location):\n    bhk2 = df[(df.location == location) & (df.bhk == 2)]\n"
        "    bhk3 = df[(df.location == location) & (df.bhk == 3)]\n"
        "    matplotlib.rcParams['figure.figsize'] = (15, 10)\n"
        "    fig, ax = plt.subplots()\n    ax.scatter(bhk2.sqft, bhk2.price, label='2 BHK')\n"
        "    ax.scatter(bhk3.sqft, bhk3.price, marker='+', label='3 BHK')\n"
        "    ax.set_xticks([])\n    plt.title(location)\n    plt.legend()\n    plt.show()"),
    (C, "plot_scatter(df, 'Hebbal')\nmean_price = df.price.mean()"),
]


def test_call_to_a_function_that_only_draws_is_stripped(notebook_factory):
    res, out = _convert(notebook_factory, DRAWING_FUNCTION)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert "plot_scatter" not in _bodies(res)
    assert not res.plan.definitions  # nothing kept uses it: not in common.py either
    assert "matplotlib" not in (out / f"{res.plan.package}/common.py").read_text()
    assert_same(DRAWING_FUNCTION, res, out)


def test_drawing_function_stays_in_common_when_kept_code_uses_it(notebook_factory):
    cells = DRAWING_FUNCTION + [(C, "plotters = {'scatter': plot_scatter}")]
    res, _ = _convert(notebook_factory, cells)
    assert [d.name for d in res.plan.definitions] == ["plot_scatter"]
    assert "plot_scatter(df, 'Hebbal')" not in _bodies(res)


@pytest.mark.parametrize("body", [
    "    plt.plot(d.x)\n    return len(d)",  # returns a value
    "    plt.plot(d.x)\n    print(len(d))",  # prints to the step log
    "    plt.plot(d.x)\n    d['seen'] = 1",  # changes its argument
    "    plt.plot(d.x)\n    plt.savefig('d.png')",  # writes a file
    "    d2 = d.copy()\n    d2.to_csv('d.csv')",  # writes, and draws nothing
])
def test_function_with_other_effects_is_not_display(notebook_factory, body, tmp_path,
                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    cells = [(C, "import matplotlib.pyplot as plt\nimport pandas as pd\n"
                 "df = pd.DataFrame({'x': [1, 2]})"),
             (C, f"def show_it(d):\n{body}"), (C, "show_it(df)")]
    res, _ = _convert(notebook_factory, cells)
    assert "show_it(df)" in _bodies(res)
