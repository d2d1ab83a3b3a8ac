"""Generated Python is black-formatted although black runs only on the notebook's code.

nb2pipe lays out its own scaffolding the way black would (nb2pipe.emit.pyfmt) and formats the
notebook's code a block at a time, cached per notebook. These tests hold that to black itself:
every generated module is left unchanged by black, on the golden trees, the sample notebooks
and a generated notebook of a few hundred cells; the layout helpers agree with black on random
data; and the on-disk cache gives the same bytes and survives corruption.
"""

from __future__ import annotations

import json
import keyword
import os
import sys
from pathlib import Path

import pytest

black = pytest.importorskip("black")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nb2pipe.api import convert  # noqa: E402
from nb2pipe.emit import blackchild, codefmt, pyfmt  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODE = black.Mode()


def _unstable(files: dict[str, str]) -> list[str]:
    """Generated .py files black would change, with the first differing line."""
    bad = []
    for rel, text in sorted(files.items()):
        if not rel.endswith(".py"):
            continue
        formatted = black.format_str(text, mode=MODE)
        if formatted != text:
            a, b = text.splitlines(), formatted.splitlines()
            line = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            bad.append(f"{rel}:{line + 1}: ours {a[line:line + 1]!r} black {b[line:line + 1]!r}")
    return bad


def test_golden_trees_are_black_formatted():
    files = {}
    for path in sorted((REPO / "tests" / "golden").glob("*/expected/**/*.py")):
        files[str(path.relative_to(REPO))] = path.read_text(encoding="utf-8")
    assert len(files) > 100
    assert _unstable(files) == []


@pytest.mark.parametrize("sample", sorted(p.stem for p in (REPO / "sample_notebooks")
                                          .glob("*.ipynb")))
def test_sample_projects_are_black_formatted(sample, tmp_path, monkeypatch):
    monkeypatch.setenv("NB2PIPE_NO_CACHE", "1")
    res = convert(REPO / "sample_notebooks" / f"{sample}.ipynb", tmp_path / "out", dry_run=True)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert _unstable(res.files) == []


def test_generated_notebook_of_300_cells_is_black_formatted(tmp_path, monkeypatch):
    """Long step tables, many imports, Kubeflow components with long argument lists."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from gen_notebook import write_notebook
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    monkeypatch.setenv("NB2PIPE_NO_CACHE", "1")
    nb = write_notebook(300, tmp_path / "a_rather_long_notebook_name_for_long_lines.ipynb",
                        seed=3)
    res = convert(nb, tmp_path / "out", dry_run=True)
    assert res.ok, [d.format() for d in res.diagnostics]
    assert len([r for r in res.files if r.endswith(".py")]) > 40
    assert _unstable(res.files) == []


# ---- the layout helpers against black ------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
names = st.from_regex(r"[a-z_][a-z0-9_]{0,14}", fullmatch=True).filter(
    lambda n: not keyword.iskeyword(n))
scalars = st.one_of(texts, st.integers(-10**6, 10**6), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False))
data = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(names, inner, max_size=6)), max_leaves=25)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=data, depth=st.integers(0, 3), name=names)
def test_data_layout_matches_black(value, depth, name):
    """`NAME = <literal>` laid out at some depth equals black's output for it."""
    ours = pyfmt.block(pyfmt.data(value), depth, f"{name} = ")
    src = "".join(f"{'    ' * d}if x:\n" for d in range(depth)) + ours + "\n"
    assert black.format_str(src, mode=MODE) == src


@settings(max_examples=300, deadline=None, derandomize=True)
@given(func=names, args=st.lists(st.one_of(names, texts.map(pyfmt.q)), max_size=8),
       inner=st.lists(names, max_size=6), depth=st.integers(0, 3), kind=st.sampled_from(
           ["call", "def"]))
def test_call_and_signature_layout_matches_black(func, args, inner, depth, kind):
    items = list(args) + ([pyfmt.Br(f"{func}_inner(", list(inner), ")")] if kind == "call"
                          else [])
    if kind == "def":
        items = list(dict.fromkeys(a for a in args if a.isidentifier()))
        br = pyfmt.Br(f"def {func}(", items, "):", "def")
        tail = "\n" + "    " * (depth + 1) + "pass"
    else:
        br = pyfmt.Br(f"{func}(", items, ")")
        tail = ""
    ours = pyfmt.block(br, depth) + tail
    opener = "class C{}:\n" if kind == "def" else "if x{}:\n"  # no blank line before a def
    src = "".join("    " * d + opener.format(d) for d in range(depth)) + ours + "\n"
    assert black.format_str(src, mode=MODE) == src


@settings(max_examples=200, deadline=None, derandomize=True)
@given(module=st.lists(names, min_size=1, max_size=4).map(".".join),
       imported=st.lists(names, min_size=1, max_size=8, unique=True))
def test_from_import_layout_matches_black(module, imported):
    src = pyfmt.from_import(module, imported) + "\n"
    assert black.format_str(src, mode=MODE) == src


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=texts)
def test_string_literals_match_black(text):
    lit = pyfmt.q(text)
    assert eval(lit) == text  # noqa: S307 - our own literal
    src = f"x = {lit}\n"
    assert black.format_str(src, mode=MODE) == src


@pytest.mark.parametrize("text", [
    "Title", ' "quoted" start', "ends with a quote\"", "trailing backslash \\",
    "two\\\\", "multi\nline\n    indented\n", "Inputs: a (from b)\n\nReturns: c.\n",
    "x" * 100, "line\n" + "y" * 90, "tab\tinside", "ünïcödé — dash",
])
@pytest.mark.parametrize("depth", [0, 1])
def test_docstrings_match_black(text, depth):
    doc = pyfmt.docstring(text.replace("\\", "\\\\"), depth)
    src = ("def f():\n" if depth else "") + doc + "\n" + ("    pass\n" if depth else "")
    assert black.format_str(src, mode=MODE) == src


# ---- the notebook's code, a block at a time -------------------------------------------------

BLOCKS = [
    "x = 1\n\n\n\ny = 2",
    "for d in [a, b]:\n    d.dropna(inplace=True)\n\n\n\nz = [1,2 , 3]",
    "if x:\n    def helper(v):\n        return v\n    y = helper(1)",
    "# leading comment\nimport os\nx = os.getcwd()",
    "result = some_function_with_a_long_name(argument_number_one, argument_number_two, "
    "argument_three)",
    "class Local:\n    pass\nobj = Local()",
]


@pytest.mark.parametrize("src", BLOCKS)
def test_code_block_in_a_function_matches_black_of_the_whole_function(src):
    body = codefmt.code(src, 1)
    whole = f"def step(a):\n    a = 1\n{body}\n    return a\n"
    assert black.format_str(whole, mode=MODE) == whole


# ---- the per-notebook cache -----------------------------------------------------------------

def test_cache_gives_the_same_bytes_and_survives_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("NB2PIPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NB2PIPE_NO_CACHE", raising=False)
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                   "source": "import pandas as pd\ndf = pd.DataFrame({'a':[1,2]})\n"},
                  {"cell_type": "code", "metadata": {}, "outputs": [],
                   "execution_count": None, "source": "total = df['a'].sum( )\n"}]}))
    first = convert(nb, tmp_path / "a" / "out")
    assert first.ok
    cache_files = list((tmp_path / "cache").rglob("*.json"))
    assert len(cache_files) == 1
    codefmt.CACHE.memory.clear()  # a new process: only the disk cache
    second = convert(nb, tmp_path / "b" / "out")
    assert codefmt.CACHE.loaded_from_disk > 0
    assert second.files == first.files
    cache_files[0].write_bytes(b"\x80\x04garbage")  # corrupt: ignored, rebuilt
    codefmt.CACHE.memory.clear()
    third = convert(nb, tmp_path / "c" / "out")
    assert third.ok and third.files == first.files
    assert any('total = df["a"].sum()' in text for text in third.files.values())


def test_two_process_formatting_gives_the_same_blocks(tmp_path, monkeypatch):
    """The first conversion of a large notebook formats half of its code blocks in a forked
    child; the result is the same as formatting them all here."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from gen_notebook import write_notebook
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    monkeypatch.setenv("NB2PIPE_NO_CACHE", "1")
    nb = write_notebook(120, tmp_path / "nb.ipynb", seed=5)
    serial_env = {"NB2PIPE_NO_PARALLEL": "1"}
    monkeypatch.setattr(codefmt, "PARALLEL_MIN", 1)
    results = {}
    for mode in ("parallel", "serial"):
        for k, v in (serial_env if mode == "serial" else {}).items():
            monkeypatch.setenv(k, v)
        codefmt.CACHE.memory.clear()
        res = convert(nb, tmp_path / mode / "out", dry_run=True)
        assert res.ok, [d.format() for d in res.diagnostics]
        results[mode] = res.files
    assert results["parallel"] == results["serial"]
    blocks = [(t, d) for t, d in __import__("nb2pipe.emit.package", fromlist=["x"])
              .code_blocks(res.plan) if t.strip()]
    assert len(blocks) > 10
    codefmt.CACHE.memory.clear()
    monkeypatch.delenv("NB2PIPE_NO_PARALLEL")
    child = blackchild.FormatterChild.start({codefmt.CACHE.key(t, d): (t, d)
                                              for t, d in blocks})
    got = child.results()
    assert got and all(got[codefmt.CACHE.key(t, d)] == blackchild.format_fragment(t, d)
                       for t, d in blocks)


def _children() -> list[int]:
    me, kids = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
@pytest.mark.parametrize("cells", [
    ["x = (\n"],                                   # refused while planning (NB104)
    ["import os\nx = 1\n", "y = x + 1\n"],         # converts
    ["print(undefined_name)\n"],                   # refused (NB201)
])
def test_no_formatting_child_outlives_a_conversion(tmp_path, monkeypatch, cells):
    monkeypatch.setenv("NB2PIPE_NO_CACHE", "1")
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                   "source": c} for c in cells]}))
    before = set(_children())
    convert(nb, tmp_path / "out")
    assert set(_children()) - before == set()


def test_every_block_black_formats_is_announced_ahead(tmp_path, monkeypatch):
    """The modules ask black only for blocks `code_blocks` announced (so the formatting child
    gets them all, and the main process never waits on an import of black)."""
    from nb2pipe.emit import package

    monkeypatch.setenv("NB2PIPE_NO_CACHE", "1")
    asked: list[tuple[str, int]] = []
    real = blackchild.format_fragment
    monkeypatch.setattr(codefmt, "format_fragment",
                        lambda text, depth: asked.append((text, depth)) or real(text, depth))
    for sample in sorted((REPO / "sample_notebooks").glob("*.ipynb")):
        res = convert(sample, tmp_path / sample.stem / "out", dry_run=True)
        assert res.ok
        announced = set(package.code_blocks(res.plan))
        assert set(asked) <= announced, set(asked) - announced
        asked.clear()


@pytest.mark.parametrize("sample", ["churn", "house_prices"])
def test_captured_projects_are_black_formatted(sample):
    """A capture adds what a dry run cannot show: the serving module and its tests, the
    pandera schemas, the fixtures' tests."""
    from capture_helpers import captured_project

    project = captured_project(sample)
    files = {str(p.relative_to(project)): p.read_text(encoding="utf-8")
             for p in sorted(project.rglob("*.py")) if ".nb2pipe" not in p.parts
             and "build-context" not in p.parts}
    assert any(rel.endswith("serving.py") for rel in files) and any(
        rel.endswith("schemas.py") for rel in files)
    assert _unstable(files) == []
