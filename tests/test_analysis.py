"""Analyzer and planner behaviour on focused snippets: data-flow edges, diagnostic codes,
and value equality between the notebook (cells executed in one namespace) and the
pipeline run the way pods run it (each step gets independently deserialized copies of its
inputs and a scrambled global random state)."""

from __future__ import annotations

import importlib
import itertools
import pickle
import random
import sys

import pytest

from nb2pipe.api import convert
from nb2pipe.validation.compare import compare

_counter = itertools.count()


def _convert(notebook_factory, cells, **kw):
    nb = notebook_factory(cells)
    name = f"ana{next(_counter)}_pipeline"
    res = convert(nb, nb.parent / name, **kw)
    return res, nb.parent / name


def codes(res):
    return {d.code for d in res.diagnostics}


def step(res, name):
    return res.plan.step(name)


def run_notebook(cells):
    ns: dict = {"__name__": "__main__"}  # as in a kernel: classes belong to __main__
    for cell in cells:
        if cell[0] == "code" and "skip" not in (cell[2] if len(cell) > 2 else []):
            exec(compile(cell[1], "<cell>", "exec"), ns)
    return ns


def run_isolated(out, package):
    """Run steps in order; each input is a separate pickle round trip (as between pods)."""
    sys.path.insert(0, str(out))
    try:
        pipeline = importlib.import_module(f"{package}.pipeline")
        v = dict(pipeline.PARAMETERS)
        bundle_of: dict[str, tuple] = {}  # output name -> the bundle it was saved in
        for name, spec in pipeline.STEPS.items():
            func = getattr(importlib.import_module(f"{package}.steps.{name}"), name)
            copies: dict[str, object] = {}
            for n in spec["inputs"]:  # a bundle's members are unpickled together
                members = [m for m in bundle_of.get(n, (n,)) if m in spec["inputs"]]
                if n not in copies:
                    copies.update(pickle.loads(pickle.dumps({m: v[m] for m in members})))
            args = [copies[n] for n in spec["inputs"]]
            kwargs = {p: v[p] for p in spec["params"]}
            if spec["rng_in"]:
                kwargs["_rng"] = pickle.loads(pickle.dumps(v["_rng"]))
            random.seed()  # a fresh process has fresh random state
            try:
                import numpy as np

                np.random.seed(None)
            except ImportError:
                pass
            v.update(func(*args, **kwargs))
            for members in spec.get("bundles", ()):
                bundle_of.update((m, tuple(members)) for m in members)
        return v
    finally:
        sys.path.remove(str(out))


def assert_same(cells, res, out):
    assert res.ok, [d.format() for d in res.diagnostics]
    nb_values = run_notebook(cells)
    values = run_isolated(out, res.plan.package)
    for n in res.plan.final_names:
        v = compare(nb_values[n], values[n])
        assert v.status == "equal", (n, v)


C, M = "code", "md"


def test_inplace_mutation_is_a_write(notebook_factory):
    cells = [(M, "## A"), (C, "import pandas as pd\ndf = pd.DataFrame({'a': [1.0, None]})"),
             (M, "## B"), (C, "df.fillna(0, inplace=True)"),
             (M, "## C"), (C, "s = df.a.sum()")]
    res, out = _convert(notebook_factory, cells)
    assert step(res, "b").inputs == ("df",) and "df" in step(res, "b").outputs
    assert dict(step(res, "c").input_sources)["df"] == "b"
    assert_same(cells, res, out)


def test_fit_and_setattr_and_augassign_and_del_are_writes(notebook_factory):
    cells = [(M, "## A"), (C, "from sklearn.linear_model import LinearRegression\n"
                               "m = LinearRegression()\nd = {'a': 1, 'b': 2}\nn = 1\nlst = [1]"),
             (M, "## B"), (C, "m.fit([[0], [1], [2]], [0, 1, 2])\ndel d['a']\nn += 1\n"
                               "lst += [2]"),
             (M, "## C"), (C, "p = m.predict([[3]])[0] + len(d) + n + len(lst)")]
    res, out = _convert(notebook_factory, cells)
    assert set(step(res, "b").outputs) >= {"m", "d", "n", "lst"}
    assert {src for _, src in step(res, "c").input_sources} == {"b"}
    assert_same(cells, res, out)


def test_mutation_through_loop_over_list_of_frames(notebook_factory):
    cells = [(M, "## A"), (C, "import pandas as pd\ntrain = pd.DataFrame({'x': [1, 2]})\n"
                               "test = pd.DataFrame({'x': [3, 4]})"),
             (M, "## B"), (C, "for d in [train, test]:\n    d['y'] = d.x * 2"),
             (M, "## C"), (C, "total = int(train.y.sum() + test.y.sum())")]
    res, out = _convert(notebook_factory, cells)
    assert set(step(res, "b").outputs) == {"train", "test"}
    assert_same(cells, res, out)


def test_mutation_through_a_container_of_models(notebook_factory):
    cells = [(M, "## A"), (C, "from sklearn.linear_model import LinearRegression\n"
                               "models = {'lr': LinearRegression()}"),
             (M, "## B"), (C, "for name, mdl in models.items():\n"
                               "    mdl.fit([[0], [1]], [0, 1])"),
             (M, "## C"), (C, "coef = float(models['lr'].coef_[0])")]
    res, out = _convert(notebook_factory, cells)
    assert "models" in step(res, "b").outputs
    assert_same(cells, res, out)


def test_user_function_mutating_its_argument(notebook_factory):
    cells = [(M, "## A"), (C, "def add_col(frame):\n    frame['z'] = 1\n\n"
                               "import pandas as pd\ndf = pd.DataFrame({'a': [1]})"),
             (M, "## B"), (C, "add_col(df)"),
             (M, "## C"), (C, "cols = list(df.columns)")]
    res, out = _convert(notebook_factory, cells)
    assert "df" in step(res, "b").outputs
    assert_same(cells, res, out)


def test_function_mutating_a_global_through_a_call(notebook_factory):
    cells = [(M, "## A"), (C, "log = []\n\ndef note(x):\n    log.append(x)\n    return x"),
             (M, "## B"), (C, "y = note(3)"),
             (M, "## C"), (C, "n = len(log)")]
    res, out = _convert(notebook_factory, cells)
    assert "log" in step(res, "b").outputs and "log" in step(res, "b").inputs
    assert_same(cells, res, out)


def test_out_keyword_is_a_write_of_that_array(notebook_factory):
    """`np.add(a, b, out=c)` writes its result into `c`: the step mutates `c`, so a later
    step reads the new values, at top level and through a notebook function."""
    cells = [(M, "## A"), (C, "import numpy as np\na = np.ones(3)\nc = np.zeros(3)\n"
                               "d = np.zeros(3)\n\n"
                               "def double_into(x, dest):\n    np.multiply(x, 2, out=dest)"),
             (M, "## B"), (C, "np.add(a, a, out=c)\ndouble_into(a, d)"),
             (M, "## C"), (C, "total = float(c.sum() + d.sum())")]
    res, out = _convert(notebook_factory, cells)
    assert {"c", "d"} <= set(step(res, "b").outputs)
    assert dict(step(res, "c_step").input_sources)["c"] == "b"
    assert dict(step(res, "c_step").input_sources)["d"] == "b"
    assert_same(cells, res, out)


def test_names_sharing_an_object_travel_together(notebook_factory):
    """`b = a` then a mutation through `b` in a later step that also reads `a`: both names
    come from one producer, saved as one artifact, so the mutation reaches both (this used
    to be refused with NB209)."""
    cells = [(M, "## A"), (C, "a = [1]\nb = a"),
             (M, "## B"), (C, "b.append(2)\nz = len(a)"),
             (M, "## C"), (C, "w = len(a) + len(b)")]
    res, out = _convert(notebook_factory, cells)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert step(res, "a_step").bundles == (("a", "b"),)
    assert_same(cells, res, out)


def test_alias_group_passes_through_the_latest_producer(notebook_factory):
    """`a` comes from step a, `b = [a]` from step b: step b hands `a` on with `b`, in one
    artifact, so step c's `a.append` shows in `b[0]` as it did in the notebook."""
    cells = [(M, "## A"), (C, "a = [1]"),
             (M, "## B"), (C, "b = [a]\nn = 1"),
             (M, "## C"), (C, "k = 2"),
             (M, "## D"), (C, "a.append(2)\nz = len(b[0])")]
    res, out = _convert(notebook_factory, cells)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert dict(step(res, "d").input_sources) == {"a": "b_step", "b": "b_step"}
    assert step(res, "b_step").bundles == (("a", "b"),)
    assert_same(cells, res, out)


def test_alias_group_with_a_parameter_is_refused(notebook_factory):
    """A pipeline parameter arrives as a literal, not as an object another name holds: a
    mutation that must reach both cannot be carried (NB209 stays for this)."""
    cells = [(C, "lst = [1, 2]", ["parameters"]),
             (M, "## A"), (C, "b = lst"),
             (M, "## B"), (C, "b.append(3)\nz = len(lst)")]
    res, _ = _convert(notebook_factory, cells)
    assert "NB209" in codes(res) and not res.ok, [d.format() for d in res.diagnostics]


@pytest.mark.parametrize("use", ["x = c", "x = c\nc = 5", "print(c)\nc = 5"])
def test_alias_read_after_mutation_through_the_other_name(notebook_factory, use):
    """Found by the long fuzz run: `d.append(3)` changes the object `c` also names, but `c`
    itself is not bound in the step; reading it must bring it in, not leave the step reading
    an unbound local, and it arrives with `d` as one object."""
    cells = [(M, "## A"), (C, "d = [9, 10]\nc = d"),
             (M, "## B"), (C, "d.append(3)\n" + use)]
    res, out = _convert(notebook_factory, cells)
    assert_same(cells, res, out)


@pytest.mark.parametrize("copy", ["d = d.copy()", "import copy\nd = copy.copy(d)",
                                  "d = list(d)", "d = d[:]"])
def test_shallow_copy_of_a_container_shares_its_elements(notebook_factory, copy):
    """Found by the long fuzz run: `d = [e]; d = d.copy()` then `e.append(0)` in a later step
    changes d[0] too. The copy used to count as unrelated, and the pipeline silently returned
    the old d[0]; now `e` and `d` travel together and the change shows through both."""
    cells = [(M, "## A"), (C, "e = [0, 1]\nd = [e]\n" + copy),
             (M, "## B"), (C, "e.append(0)"),
             (M, "## C"), (C, "z = len(d[0])")]
    res, out = _convert(notebook_factory, cells)
    assert_same(cells, res, out)


def test_labels_of_a_frame_are_not_aliases_of_it(notebook_factory):
    """A list of column names built by a comprehension, and a loop variable over a frame's
    labels, share nothing with the frame: mutating the frame later changes neither, and
    they do not travel with it (no bundle, no NB209)."""
    cells = [(M, "## A"), (C, "import pandas as pd\n"
                               "ds = pd.DataFrame({'a': [1.0, None], 'b': [1, 2]})"),
             (M, "## B"), (C, "with_nan = [c for c in ds.columns if ds[c].isnull().sum() > 0]\n"
                               "names = sorted(ds.columns)\nfor i in ds:\n    print(i)"),
             (M, "## C"), (C, "for c in with_nan:\n    ds[c] = ds[c].fillna(0)\n"
                               "last = (i, names, with_nan)")]
    res, out = _convert(notebook_factory, cells)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert all(not s.bundles for s in res.plan.steps)
    assert "with_nan" not in res.plan.steps[2].outputs
    assert_same(cells, res, out)


def test_a_comprehension_over_models_holds_the_models(notebook_factory):
    """Precision must not lose real sharing: `[m for m in models]` holds the same
    estimators, so fitting through the new list changes `models` too."""
    cells = [(M, "## A"), (C, "from sklearn.linear_model import LinearRegression\n"
                               "models = [LinearRegression()]\nms = [m for m in models]"),
             (M, "## B"), (C, "ms[0].fit([[0], [1]], [0, 2])"),
             (M, "## C"), (C, "coef = float(models[0].coef_[0])")]
    res, out = _convert(notebook_factory, cells)
    assert "models" in res.plan.steps[1].outputs
    assert_same(cells, res, out)


def test_a_function_that_only_reads_its_arguments_does_not_mutate_them(notebook_factory):
    cells = [(M, "## A"), (C, "from sklearn.linear_model import LinearRegression\n"
                               "X = [[0], [1], [2]]\ny = [0, 1, 2]\n"
                               "m = LinearRegression().fit(X, y)\nmodels = [m]\n"
                               "def score_of(m, X, y):\n    return m.score(X, y)"),
             (M, "## B"), (C, "s = score_of(m, X, y)"),
             (M, "## C"), (C, "m.fit(X, [0, 2, 4])\nt = float(models[0].coef_[0])")]
    res, out = _convert(notebook_factory, cells)
    assert set(res.plan.steps[1].outputs) == {"s"}
    assert_same(cells, res, out)


def test_a_name_no_cell_assigns_is_a_warning_not_a_refusal(notebook_factory):
    """`except` fallbacks that read a name no cell defines never run in the notebook (or it
    would fail there too): the step keeps them as they are, with NB221."""
    cells = [(M, "## A"), (C, "try:\n    data = [1, 2]\nexcept FileNotFoundError:\n"
                               "    data = fetch(URL + 'x.csv')"),
             (M, "## B"), (C, "n = len(data)")]
    res, out = _convert(notebook_factory, cells)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert {d.code for d in res.diagnostics if d.code == "NB221"} == {"NB221"}
    assert sorted(d.message.split("'")[1] for d in res.diagnostics if d.code == "NB221") \
        == ["URL", "fetch"]
    assert_same(cells, res, out)


def test_copy_of_a_dataframe_is_independent(notebook_factory):
    """pandas' .copy() is deep: the usual `df2 = df.copy()` then changing df2 converts."""
    cells = [(M, "## A"), (C, "import pandas as pd\ndf = pd.DataFrame({'x': [1, 2]})\n"
                             "df2 = df.copy()"),
             (M, "## B"), (C, "df2['x'] = df2['x'] * 10"),
             (M, "## C"), (C, "total = int(df['x'].sum() + df2['x'].sum())")]
    res, out = _convert(notebook_factory, cells)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert "df" not in step(res, "b").inputs
    assert_same(cells, res, out)


def test_alias_mutated_and_read_in_one_step_converts(notebook_factory):
    cells = [(M, "## A"), (C, "d = [9, 10]"),
             (M, "## B"), (C, "c = d\nd.append(3)\nx = len(c)"),
             (M, "## C"), (C, "y = x + len(d)")]
    res, out = _convert(notebook_factory, cells)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert_same(cells, res, out)


def test_conditional_rebinding_passes_the_old_value_through(notebook_factory):
    cells = [(M, "## A"), (C, "x = 1\nflag = False"),
             (M, "## B"), (C, "if flag:\n    x = 2"),
             (M, "## C"), (C, "y = x + 1")]
    res, out = _convert(notebook_factory, cells)
    assert "x" in step(res, "b").inputs and "x" in step(res, "b").outputs
    assert_same(cells, res, out)


def test_names_local_to_comprehensions_and_lambdas_are_not_inputs(notebook_factory):
    cells = [(M, "## A"), (C, "xs = [1, 2, 3]"),
             (M, "## B"), (C, "sq = [i * i for i in xs]\nf = lambda k: k + 1\n"
                               "g = {k: v for k, v in zip(xs, sq)}\nh = (j for j in xs)\n"
                               "hl = list(h)")]
    res, out = _convert(notebook_factory, cells)
    assert step(res, "b").inputs == ("xs",)
    assert "NB201" not in codes(res)


def test_query_at_references_are_reads(notebook_factory):
    cells = [(M, "## A"), (C, "import pandas as pd\nlimit = 1\n"
                               "df = pd.DataFrame({'a': [0, 1, 2]})"),
             (M, "## B"), (C, "small = df.query('a > @limit')")]
    res, out = _convert(notebook_factory, cells)
    assert set(step(res, "b").inputs) == {"df", "limit"}
    assert_same(cells, res, out)


def test_rng_state_is_threaded_between_steps(notebook_factory):
    cells = [(M, "## A"), (C, "import numpy as np\nnp.random.seed(0)\nfirst = np.random.rand(2)"),
             (M, "## B"), (C, "second = np.random.rand(2)"),
             (M, "## C"), (C, "third = np.random.permutation(5)")]
    res, out = _convert(notebook_factory, cells)
    assert step(res, "b").rng_in and step(res, "b").rng_out and step(res, "c").rng_in
    assert_same(cells, res, out)


def test_unseeded_notebook_has_no_rng_threading(notebook_factory):
    cells = [(M, "## A"), (C, "import random\nx = random.random()"), (M, "## B"),
             (C, "y = random.random()")]
    res, _ = _convert(notebook_factory, cells)
    assert not any(s.rng_in or s.rng_out for s in res.plan.steps)


def test_setup_state_replayed_in_later_steps(notebook_factory):
    cells = [(M, "## A"), (C, "import pandas as pd\npd.set_option('display.precision', 3)\n"
                               "x = 1"),
             (M, "## B"), (C, "p = pd.get_option('display.precision') + x")]
    res, out = _convert(notebook_factory, cells)
    assert step(res, "b").setup_from == ("a",)
    src = (out / res.plan.package / "steps" / "b.py").read_text()
    assert "_common.setup_a()" in src
    pd = pytest.importorskip("pandas")
    pd.reset_option("display.precision")
    assert_same(cells, res, out)


def test_redefined_function_latest_version_used_later(notebook_factory):
    cells = [(M, "## A"), (C, "def f():\n    return 1"), (C, "a = f()"),
             (M, "## B"), (C, "def f():\n    return 2"), (C, "b = f()")]
    res, out = _convert(notebook_factory, cells)
    common = (out / res.plan.package / "common.py").read_text()
    assert "def f__v1" in common and "def f()" in common
    assert_same(cells, res, out)


def test_redefinition_used_by_another_function_before_last_definition(notebook_factory):
    cells = [(C, "def g():\n    return 1\n\ndef h():\n    return g()"), (C, "a = h()"),
             (C, "def g():\n    return 2"), (C, "b = h()")]
    res, _ = _convert(notebook_factory, cells)
    assert "NB207" in codes(res)


def test_function_reading_global_gets_keyword_parameter(notebook_factory):
    cells = [(M, "## A"), (C, "K = 3\ndef times(x):\n    return x * K"),
             (M, "## B"), (C, "y = times(2)\nys = list(map(times, [1, 2]))")]
    res, out = _convert(notebook_factory, cells)
    assert "NB205" in codes(res)
    common = (out / res.plan.package / "common.py").read_text()
    assert "def times(x, *, K)" in common
    assert step(res, "b").inputs == ("K",)
    assert_same(cells, res, out)


def test_class_attribute_reading_global_is_refused(notebook_factory):
    # the class body runs when common.py is imported, before any step sets K
    cells = [(C, "K = 3\nclass A:\n    size = K * 2\n    def f(self):\n        return K"),
             (C, "v = A().f()")]
    res, _ = _convert(notebook_factory, cells)
    d = next(d for d in res.diagnostics if d.code == "NB208")
    assert (d.cell, d.line, d.col) == (1, 3, 11)


def test_class_method_reading_global_converts(notebook_factory):
    cells = [(C, "K = 3\nclass A:\n    def f(self):\n        return K"), (C, "v = A().f()")]
    res, out = _convert(notebook_factory, cells)
    assert "NB208" not in codes(res)
    assert_same(cells, res, out)


def test_global_statement_is_refused(notebook_factory):
    cells = [(C, "n = 0\ndef inc():\n    global n\n    n += 1"), (C, "inc()")]
    res, _ = _convert(notebook_factory, cells)
    assert "NB206" in codes(res)


def test_read_before_assignment(notebook_factory):
    cells = [(C, "y = x + 1"), (C, "x = 1")]
    res, _ = _convert(notebook_factory, cells)
    d = next(d for d in res.diagnostics if d.code == "NB201")
    assert (d.cell, d.line, d.col) == (1, 1, 4)
    assert "cell 2" in d.message
    assert d.format() == "nb.ipynb:cell_1:1:5: NB201 name 'x' is read before it is assigned; " \
                         "it is assigned later, in cell 2"


def test_plot_kept_when_saved_and_binding_restored(notebook_factory):
    cells = [(M, "## A"), (C, "import matplotlib\nmatplotlib.use('Agg')\n"
                               "import matplotlib.pyplot as plt\nxs = [1, 2]"),
             (M, "## B"), (C, "fig, ax = plt.subplots()\nax.plot(xs)\n"
                               "fig.savefig('plot_test_out.png')\nplt.show()"),
             (M, "## C"), (C, "plt.figure()\nplt.plot(xs)")]
    res, out = _convert(notebook_factory, cells)
    b = step(res, "b")
    assert any(f.path == "plot_test_out.png" and f.mode == "write" for f in b.files)
    src = (out / res.plan.package / "steps" / "b.py").read_text()
    assert "ax.plot(xs)" in src and "plt.show" not in src
    assert "c" in res.plan.dropped_steps


def test_file_written_then_read_orders_steps(notebook_factory):
    cells = [(M, "## W"), (C, "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv('t.csv')"),
             (M, "## R"), (C, "df = pd.read_csv('t.csv')")]
    res, _ = _convert(notebook_factory, cells)
    assert step(res, "r").upstream == ("w",)


def test_prev_tags_add_edges_and_missing_prev_is_an_error(notebook_factory):
    cells = [(C, "a = 1", ["step:one"]), (C, "b = 2", ["step:two", "prev:one"]),
             (C, "c = 3", ["step:three", "prev:nothere"])]
    res, _ = _convert(notebook_factory, cells)
    assert "NB302" in codes(res)


def test_step_names_are_identifiers_and_k8s_names(notebook_factory):
    cells = [(M, "## 1. Load the Data (raw) — ünïcode!"), (C, "x = 1"),
             (M, "## class"), (C, "y = x"), (M, "## Load the data"), (C, "z = y"),
             (M, "## x"), (C, "w = z")]
    res, _ = _convert(notebook_factory, cells)
    names = [s.name for s in res.plan.steps]
    assert names[0] == "load_the_data_raw_unicode"
    assert len(set(names)) == 4
    import keyword
    import re

    for s in res.plan.steps:
        assert s.name.isidentifier() and not keyword.iskeyword(s.name)
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", s.k8s_name)
    assert "x" not in names  # would shadow the notebook variable x


def test_markers_split_like_tags(notebook_factory):
    cells = [(C, "# nb2pipe: step load\nx = 1"), (C, "# nb2pipe: skip\nprint('scratch')"),
             (C, "# nb2pipe: step use\ny = x + 1")]
    res, _ = _convert(notebook_factory, cells)
    assert [s.name for s in res.plan.steps] == ["load", "use"]


def test_sections_without_code_merge(notebook_factory):
    cells = [(M, "# Title"), (C, "import math"), (M, "## Intro\ntext"), (M, "## Work"),
             (C, "x = math.pi"), (M, "## Notes"), (M, "## More"), (C, "y = x * 2")]
    res, _ = _convert(notebook_factory, cells)
    assert [s.name for s in res.plan.steps] == ["work", "more"]


def test_helper_module_next_to_notebook_is_local(notebook_factory, tmp_path):
    (tmp_path / "myhelpers.py").write_text("def twice(x):\n    return 2 * x\n")
    cells = [(C, "import myhelpers\nv = myhelpers.twice(2)")]
    res, out = _convert(notebook_factory, cells)
    assert res.plan.local_modules == ("myhelpers",)
    assert "myhelpers" not in (out / "requirements.txt").read_text()
    values = run_isolated(out, res.plan.package)
    assert values["v"] == 4


def test_parameters_cell_must_be_literal(notebook_factory):
    cells = [(C, "import math\nn = 3\nm = math.sqrt(4)", ["parameters"]), (C, "k = n")]
    res, _ = _convert(notebook_factory, cells)
    assert "NB306" in codes(res)


def test_exec_eval_globals_star_import(notebook_factory):
    for src, code in [("exec('x = 1')", "NB203"), ("y = eval('1')", "NB203"),
                      ("globals()['z'] = 1", "NB204"), ("from no_such_module_nb2pipe import *", "NB202")]:
        res, _ = _convert(notebook_factory, [(C, src)])
        assert code in codes(res) and not res.ok, src


@pytest.mark.parametrize("src, expected", [
    ("sys.path.append('../..')", ["../.."]),
    ("sys.path.insert(0, os.path.abspath('..'))", [".."]),
    ("sys.path.append(os.path.join('..', 'src'))", ["../src"]),
    ("sys.path.append(str(Path('lib')))", ["lib"]),
    ("sys.path.append(root)", []),  # computed: left to setup replay
    ("path.append('x')", []),  # not sys.path
])
def test_literal_folders_put_on_sys_path(src, expected):
    import ast

    from nb2pipe.analysis.syspath import import_paths

    imports = {"sys": "sys", "os": "os", "Path": "pathlib.Path"}
    assert import_paths([ast.parse(src)], imports) == expected


def test_a_value_read_from_plot_state_keeps_the_drawing_before_it(notebook_factory):
    """`b, t = plt.ylim()` after drawing reads limits the drawing set: the step keeps the
    drawing of that cell with it (not the read alone, which would see an empty figure)."""
    import matplotlib

    matplotlib.use("Agg")
    cells = [(M, "## A"), (C, "import matplotlib.pyplot as plt\nplt.figure()\n"
                               "plt.plot([0, 10], [0, 50])\nplt.title('t')\nb, t = plt.ylim()\n"
                               "plt.show()"),
             (M, "## B"), (C, "span = t - b")]
    res, out = _convert(notebook_factory, cells)
    assert res.ok, [d.format() for d in res.diagnostics]
    body = res.plan.steps[0].body
    assert "plt.plot([0, 10], [0, 50])" in body and "plt.show()" not in body
    import matplotlib.pyplot as plt

    plt.close("all")
    assert_same(cells, res, out)
