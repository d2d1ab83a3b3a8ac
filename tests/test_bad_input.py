"""Bad and odd inputs: every one gives the right diagnostic code, with a location, the right
exit code, and never a traceback. The input notebook is never modified, and a failed
conversion writes nothing.

Exit codes: 0 ok (warnings allowed), 1 error findings, 2 usage, 3 internal error.
Locations: `NAME.ipynb:cell_N:LINE:COL: NBxxx ...`, or `NAME.ipynb: NBxxx ...` for problems
with the whole file (or the output folder).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nb2pipe.api import convert
from nb2pipe.diagnostics import CODES

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

PY_KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
DIAG_LINE = re.compile(r"\bNB\d{3}\b")
CELL_LOC = re.compile(
    r"^(?P<name>[^\n]+?\.ipynb):cell_(?P<cell>\d+):(?P<line>\d+):(?P<col>\d+): "
    r"(?P<code>NB\d{3}) \S")
FILE_LOC = re.compile(r"^(?P<name>[^\n]+?\.ipynb): (?P<code>NB\d{3}) \S")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \".*\", line \d+",
                       re.MULTILINE)


def code(src: str, *tags: str):
    cell = new_code_cell(src)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def md(src: str):
    return new_markdown_cell(src)


def write_nb(path: Path, cells: list, kernel: dict | None = None) -> Path:
    """An nbformat-4 notebook; a plain string in `cells` is a code cell."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = kernel or PY_KERNEL
    nb.cells = [code(c) if isinstance(c, str) else c for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def raw_cell(src, **extra) -> dict:
    cell = {"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
            "execution_count": None}
    cell.update(extra)
    return cell


def write_raw(path: Path, doc) -> Path:
    """Raw text / bytes / JSON-able data, for files that nbformat would refuse to write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(doc, bytes):
        path.write_bytes(doc)
    elif isinstance(doc, str):
        path.write_text(doc, encoding="utf-8")
    else:
        path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def v4(cells: list, metadata: dict | None = None) -> dict:
    return {"cells": cells, "metadata": {} if metadata is None else metadata, "nbformat": 4,
            "nbformat_minor": 5}


def snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    if folder.is_file():
        return {".": folder.read_bytes()}
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_no_traceback(*texts: str) -> None:
    for text in texts:
        assert not TRACEBACK.search(text), f"traceback in the output:\n{text}"


def assert_locations(stderr: str, nb_name: str) -> None:
    """Every diagnostic line the CLI prints has a location naming the notebook."""
    for line in stderr.splitlines():
        if not DIAG_LINE.search(line) or line.startswith("nb2pipe: "):
            continue
        m = CELL_LOC.match(line) or FILE_LOC.match(line)
        assert m, f"diagnostic without a location: {line!r}"
        assert m["name"] == nb_name, line


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    nb: Path
    out: Path

    def lines(self, code: str) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if f" {code} " in ln]

    def expect(self, code: str, loc=None) -> str:
        """Assert `code` was reported; loc None: at file level; (cell,), (cell, line) or
        (cell, line, col): in that cell (line, column 1-based)."""
        lines = self.lines(code)
        assert lines, f"{code} not reported; stderr:\n{self.stderr}"
        if loc is None:
            hits = [ln for ln in lines if FILE_LOC.match(ln)]
            assert hits, f"{code} has no file-level location: {lines}"
            assert FILE_LOC.match(hits[0])["name"] == self.nb.name
            return hits[0]
        for ln in lines:
            m = CELL_LOC.match(ln)
            if m and m["name"] == self.nb.name and tuple(
                    int(m[k]) for k in ("cell", "line", "col")[: len(loc)]) == tuple(loc):
                return ln
        raise AssertionError(f"{code} not at cell/line/col {loc}: {lines}")


def cli(*args: str, cwd: Path | None = None, env: dict | None = None,
        umask: int = -1) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "nb2pipe", *args], capture_output=True,
                         text=True, cwd=cwd, env=env, umask=umask, timeout=120)
    assert_no_traceback(res.stdout, res.stderr)
    return res


def cli_inproc(*args: str) -> subprocess.CompletedProcess:
    """`nb2pipe.cli.main` in this process: the same exit code and output as the command, without
    paying the ~1 s of imports (black, kubernetes, IPython) that every successful subprocess
    conversion costs. Used for successful conversions to keep the suite fast; every failing
    case runs the real command."""
    from nb2pipe.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    res = subprocess.CompletedProcess(["nb2pipe", *args], rc, out.getvalue(), err.getvalue())
    assert_no_traceback(res.stdout, res.stderr)
    return res


def run_convert(nb: Path, out: Path | None = None, *extra: str, cwd: Path | None = None,
                out_arg: str | None = None, inproc: bool = False, umask: int = -1) -> Run:
    """Run `nb2pipe convert` and check what holds for every run: no traceback, the notebook's
    bytes unchanged, every diagnostic located, and a failed run leaves the output as it was."""
    out = out if out is not None else nb.parent / "out"
    before_nb = nb.read_bytes() if nb.is_file() else None
    before_out = snapshot(out)
    argv = ("convert", str(nb), "-o", out_arg or str(out), *extra)
    if inproc:
        assert cwd is None
        res = cli_inproc(*argv)
    else:
        res = cli(*argv, cwd=cwd, umask=umask)
    if before_nb is not None:
        assert nb.read_bytes() == before_nb, "the input notebook was modified"
    assert_locations(res.stderr, nb.name)
    if res.returncode != 0:
        assert snapshot(out) == before_out, "a failed conversion wrote to the output folder"
    else:
        assert (out / "nb2pipe.lock.json").is_file() or "--dry-run" in extra
    assert res.returncode in (0, 1, 2, 3)
    return Run(res.returncode, res.stdout, res.stderr, nb, out)


# ---------------------------------------------------------------------------------------------
# the table of bad / odd notebooks: (id, builder, code, exit code, location)
# location: None = whole file; (cell,), (cell, line) or (cell, line, col)
# ---------------------------------------------------------------------------------------------

Builder = Callable[[Path], Path]


@dataclass
class Case:
    id: str
    build: Builder
    code: str
    rc: int
    loc: tuple | None = None
    marks: tuple = ()


def _nb(cells, kernel=None) -> Builder:
    return lambda p: write_nb(p, cells, kernel)


def _raw(doc) -> Builder:
    return lambda p: write_raw(p, doc)


V3_BROKEN = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": 5}
SURROGATE = ('{"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], '
             '"execution_count": null, "source": "x = \'\\ud800\'\\nprint(x)"}], '
             '"metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
LATIN1 = (b'{"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], '
          b'"execution_count": null, "source": "x = \'caf\xe9\'"}], "metadata": {}, '
          b'"nbformat": 4, "nbformat_minor": 5}')
# NB111 starts above 2000 lines; 2100 assignments keep the run short (black formats the step).
HUGE = "\n".join(f"v{i} = {i}" for i in range(2100)) + "\nprint(v1 + v2099)\n"
CASES = [
    # ---- reading: whole-file problems ---------------------------------------------------
    Case("malformed_json", _raw('{"cells": [{"cell_type": "code",'), "NB101", 1),
    Case("empty_file", _raw(""), "NB101", 1),
    Case("whitespace_file", _raw("  \n\t\n"), "NB101", 1),
    Case("json_list", _raw("[1, 2, 3]"), "NB101", 1),
    Case("json_not_notebook", _raw({"name": "x", "version": 1}), "NB101", 1),
    Case("json_nested_too_deep", _raw("[" * 100_000), "NB101", 1),
    Case("nbformat_5", _raw({"cells": [], "metadata": {}, "nbformat": 5,
                             "nbformat_minor": 0}), "NB102", 1),
    Case("nbformat_x", _raw({"cells": [], "metadata": {}, "nbformat": "x",
                             "nbformat_minor": 0}), "NB102", 1),
    Case("nbformat_true", _raw({"cells": [raw_cell("x = 1\nprint(x)")], "metadata": {},
                                "nbformat": True, "nbformat_minor": 0}), "NB102", 1),
    Case("nbformat_3_broken", _raw(V3_BROKEN), "NB102", 1),
    Case("cells_not_a_list", _raw({"cells": {"a": 1}, "metadata": {}, "nbformat": 4,
                                   "nbformat_minor": 5}), "NB102", 1),
    Case("unknown_cell_type", _raw(v4([{"cell_type": "heading", "metadata": {},
                                        "source": "x"}])), "NB102", 1),
    Case("source_not_text", _raw(v4([raw_cell(42)])), "NB102", 1),
    Case("tags_not_a_list", _raw(v4([raw_cell("x = 1", metadata={"tags": "skip"})])),
         "NB102", 1),
    Case("metadata_null", _raw({"cells": [raw_cell("x = 1\nprint(x)")], "metadata": None,
                                "nbformat": 4, "nbformat_minor": 5}), "NB102", 1),
    Case("kernelspec_is_a_string", _raw(v4([raw_cell("x = 1\nprint(x)")],
                                           {"kernelspec": "python3"})), "NB102", 1),
    Case("language_info_is_a_list", _raw(v4([raw_cell("x = 1\nprint(x)")],
                                            {"language_info": ["python"]})), "NB102", 1),
    Case("r_kernel", _nb(["x <- 1\nprint(x)"], {"name": "ir", "display_name": "R",
                                                "language": "R"}), "NB103", 1),
    Case("julia_kernel", _nb(["x = 1\nprintln(x)"], {"name": "julia-1.9", "language": "julia",
                                                     "display_name": "Julia 1.9"}), "NB103", 1),
    Case("latin1_bytes", _raw(LATIN1), "NB108", 1),
    Case("lone_surrogate_escape", _raw(SURROGATE), "NB108", 1, (1, 1, 6)),
    Case("no_cells", _nb([]), "NB105", 1),
    Case("only_markdown", _nb([md("# Title\n\nSome text.")]), "NB105", 1),
    Case("only_empty_code_cells", _nb(["", "   \n\n", md("## x")]), "NB105", 1),
    Case("only_skipped_code", _nb([code("x = 1\nprint(x)", "skip")]), "NB105", 1),
    Case("only_display_code", _nb(["1 + 1\n", "'hello'\n"]), "NB105", 1),
    # ---- reading: cell problems ---------------------------------------------------------
    Case("syntax_error", _nb(["x = 1\n", "a = 1\ny = (\n"]), "NB104", 1, (2, 2, 5)),
    Case("syntax_error_def", _nb([md("# t"), "a = 1\n", "def f(:\n    pass\n"]), "NB104", 1,
         (3, 1, 7)),
    Case("syntax_error_tabs", _nb(["if True:\n\tx = 1\n        y = 2\n"]), "NB104", 1, (1, 3)),
    Case("syntax_error_after_line_magic",
         _nb(["%matplotlib inline\nimport os\n\nx = = 1\n"]), "NB104", 1, (1, 4, 5)),
    Case("syntax_error_after_shell_escape", _nb(["!ls\nx = (\n"]), "NB104", 1, (1, 2, 5)),
    Case("syntax_error_in_time_magic", _nb(["%%time\nx = 1\ny = = 2\n"]), "NB104", 1,
         (1, 3, 5)),
    Case("nul_byte_in_cell", _raw(v4([raw_cell("x = 1\x00\nprint(x)")])), "NB104", 1, (1,)),
    Case("nested_too_deeply", _nb(["x = " + "(" * 300 + "1" + ")" * 300 + "\nprint(x)"]),
         "NB104", 1, (1, 1)),
    Case("cell_magic_bash", _nb(["%%bash\necho hi > f.txt\n", "x = 1\nprint(x)"]), "NB106", 0,
         (1, 1, 1)),
    Case("cell_magic_writefile", _nb(["%%writefile helper.py\nX = 1\n", "x = 2\nprint(x)"]),
         "NB106", 0, (1, 1, 1)),
    Case("unknown_tag", _nb([code("x = 1\nprint(x)", "stpe:foo")]), "NB107", 0, (1, 1, 1)),
    Case("flag_tag_misspelt", _nb(["x = 1\n", code("print(x)", "pipeline_metrics")]), "NB107",
         0, (2, 1, 1)),
    Case("marker_comment_typo", _nb(["# nb2pipe: stpe load\nx = 1\nprint(x)"]), "NB107", 0,
         (1, 1, 1)),
    Case("shell_output_assigned", _nb(["x = !ls\nprint(x)"]), "NB109", 1, (1, 1, 1)),
    Case("shell_command_stripped", _nb(["!ls -la\nx = 1\nprint(x)"]), "NB109", 0, (1, 1, 1)),
    Case("line_magic_cd", _nb(["%cd /tmp\nx = 1\nprint(x)"]), "NB110", 0, (1, 1, 1)),
    Case("huge_cell", _nb([HUGE]), "NB111", 0, (1, 1, 1)),
    # ---- analysis -----------------------------------------------------------------------
    Case("used_before_defined_later_cell", _nb(["y = 1\nprint(x)\n", "x = 2\nprint(y)\n"]),
         "NB201", 1, (1, 2)),
    Case("used_never_defined", _nb(["a = 1\n", "b = a + undefined_name\nprint(b)"]), "NB201",
         1, (2, 1)),
    Case("defined_only_in_skipped_cell", _nb([code("x = 1\n", "skip"), "print(x)\n"]),
         "NB201", 1, (2, 1)),
    Case("star_import", _nb(["from no_such_module_nb2pipe import *\nprint(join('a', 'b'))"]),
         "NB202", 1, (1, 1, 1)),
    Case("eval", _nb(["x = eval('1 + 1')\nprint(x)"]), "NB203", 1, (1, 1, 5)),
    Case("exec", _nb(["exec('y = 1')\nprint(1)"]), "NB203", 1, (1, 1, 1)),
    Case("globals_assignment", _nb(['globals()["x"] = 1\nprint(1)']), "NB204", 1, (1, 1, 1)),
    Case("function_global_assignment",
         _nb(["x = 0\ndef bump():\n    global x\n    x = 1\nbump()\nprint(x)\n"]), "NB206", 1,
         (1, 2, 1)),
    Case("redefined_function",
         _nb(["def f():\n    return 1\n", "def g():\n    return f()\n", "print(g())\n",
              "def f():\n    return 2\n", "print(g())\n"]), "NB207", 1, (2, 1, 1)),
    Case("class_attribute_reads_global",
         _nb(["k = 3\n", "class A:\n    size = k\n    def f(self):\n        return self.size\n"
              "print(A().f())\n"]),
         "NB208", 1, (2, 2, 12)),
    Case("alias_of_a_parameter_crosses_steps",
         _nb([code("a = [1]\n", "parameters"), code("b = a\n", "step:load"),
              code("b.append(1)\nprint(a)\n", "step:use")]),
         "NB209", 1, (3, 1)),
    Case("top_level_await", _nb(["import asyncio\nawait asyncio.sleep(0)\n"]), "NB210", 1,
         (1, 2, 1)),
    Case("top_level_return", _nb(["x = 1\nreturn x\n"]), "NB210", 1, (1, 2, 1)),
    Case("top_level_yield", _nb(["x = 1\nyield x\n"]), "NB210", 1, (1, 2, 1)),
    Case("import_and_assign", _nb(["import os\nos = 1\nprint(os)\n"]), "NB211", 0, (1, 2, 1)),
    Case("default_reads_global", _nb(["k = 1\ndef f(x=k):\n    return x\nprint(f())\n"]),
         "NB212", 1, (1, 2, 9)),
    Case("magic_output_assigned", _nb(["x = %time 1\nprint(x)"]), "NB213", 1, (1, 1, 1)),
    # ---- planning -----------------------------------------------------------------------
    Case("duplicate_noncontiguous_steps",
         _nb([code("a = 1\n", "step:a"), code("b = a + 1\n", "step:b"),
              code("c = a + b\nprint(c)\n", "step:a")]), "NB301", 1, (3, 1, 1)),
    Case("prev_missing_step",
         _nb([code("a = 1\n", "step:a"), code("b = a + 1\nprint(b)\n", "step:b", "prev:nope")]),
         "NB302", 1, (2, 1, 1)),
    Case("prev_cycle",
         _nb([code("a = 1\n", "step:a", "prev:b"),
              code("b = a + 1\nprint(b)\n", "step:b", "prev:a")]), "NB303", 1, (1,)),
    Case("parameters_non_literal",
         _nb(["import math\n", code("alpha = math.sqrt(2)\nbeta = 3\n", "parameters"),
              "print(alpha, beta)"]), "NB306", 1, (2, 1, 1)),
    Case("step_name_keyword", _nb([code("x = 1\n", "step:class"),
                                   code("print(x)\n", "step:Load Data!")]), "NB307", 0, (1, 1, 1)),
    Case("metric_unknown_variable",
         _nb(["acc = 0.5\n", code("accuracy\n", "pipeline-metrics")]), "NB308", 1, (2, 1, 1)),
]


def _param(c: Case):
    return pytest.param(c, id=c.id, marks=c.marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_notebook_cli(case: Case, tmp_path: Path):
    nb = case.build(tmp_path / f"{case.id}.ipynb")
    run = run_convert(nb, inproc=case.rc == 0)  # failures: the real command, in a subprocess
    assert run.rc == case.rc, f"exit {run.rc}, expected {case.rc}:\n{run.stderr}"
    run.expect(case.code, case.loc)
    if case.rc == 0:
        assert "converted ->" in run.stdout
        assert CODES[case.code].severity != "error"
    else:
        assert "not converted" in run.stderr
        assert not run.out.exists()


@pytest.mark.parametrize("case", [_param(c) for c in CASES if c.rc == 1])
def test_bad_notebook_api(case: Case, tmp_path: Path):
    """The Python API never raises and gives the same code and location as the CLI."""
    nb = case.build(tmp_path / f"{case.id}.ipynb")
    before = nb.read_bytes()
    res = convert(nb, tmp_path / "out")
    assert nb.read_bytes() == before
    assert not (tmp_path / "out").exists()
    assert res.status == "failed" and res.exit_code == 1 and res.internal_error is None
    found = [d for d in res.diagnostics if d.code == case.code]
    assert found, res.diagnostics
    assert any(d.is_error for d in res.diagnostics)
    locs = [d.location() for d in found]
    if case.loc is None:
        assert f"{nb.name}" in locs, locs
    else:
        want = f"{nb.name}:cell_" + ":".join(str(x) for x in case.loc)
        assert any(loc == want or loc.startswith(want + ":") for loc in locs), locs
    for d in res.diagnostics:
        assert d.format().startswith(d.location() + f": {d.code} ")


def test_warnings_only_exit_0_real_command(tmp_path: Path):
    """Several warnings at once, through the real command: exit 0, each located, files written."""
    nb = write_nb(tmp_path / "warn.ipynb", [
        "%%bash\necho hi\n",
        code("import os\nos = 1\n", "stpe:load"),
        "%cd /tmp\n!ls\nx = os + 1\nprint(x)\n",
    ])
    run = run_convert(nb)
    assert run.rc == 0, run.stderr
    assert "converted ->" in run.stdout
    run.expect("NB106", (1, 1, 1))
    run.expect("NB107", (2, 1, 1))
    run.expect("NB211", (2, 2, 1))
    run.expect("NB110", (3, 1, 1))
    run.expect("NB109", (3, 2, 1))


# ---------------------------------------------------------------------------------------------
# specific messages
# ---------------------------------------------------------------------------------------------

def test_used_before_defined_says_where(tmp_path: Path):
    run = run_convert(write_nb(tmp_path / "later.ipynb", ["print(x)\n", "x = 2\n"]))
    assert run.rc == 1
    line = run.expect("NB201", (1, 1))
    assert "'x'" in line and "cell 2" in line


def test_skipped_definition_says_skipped(tmp_path: Path):
    run = run_convert(write_nb(tmp_path / "skip.ipynb", [code("x = 1\n", "skip"), "print(x)\n"]))
    assert run.rc == 1
    assert "skipped" in run.expect("NB201", (2, 1))


def test_cycle_names_both_steps(tmp_path: Path):
    nb = write_nb(tmp_path / "cycle.ipynb", [code("a = 1\n", "step:load", "prev:train"),
                                             code("b = a + 1\nprint(b)\n", "step:train",
                                                  "prev:load")])
    line = run_convert(nb).expect("NB303", (1,))
    assert "load" in line and "train" in line


# ---------------------------------------------------------------------------------------------
# odd inputs that must convert
# ---------------------------------------------------------------------------------------------

def test_nbformat3_is_upgraded(tmp_path: Path):
    v3 = {"metadata": {"name": ""}, "nbformat": 3, "nbformat_minor": 0, "worksheets": [{
        "metadata": {}, "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Old notebook\n"]},
            {"cell_type": "code", "collapsed": False, "input": ["x = 1\n", "print(x + 1)\n"],
             "language": "python", "metadata": {}, "outputs": []}]}]}
    run = run_convert(write_raw(tmp_path / "old.ipynb", v3), inproc=True)
    assert run.rc == 0, run.stderr
    assert "converted ->" in run.stdout
    assert not [ln for ln in run.stderr.splitlines() if DIAG_LINE.search(ln)]
    assert "x = 1" in "".join(p.read_text() for p in run.out.rglob("*.py"))


def test_pip_install_becomes_requirement(tmp_path: Path):
    nb = write_nb(tmp_path / "pip.ipynb",
                  ["!pip install foo\n%pip install -q 'bar>=2'\nimport os\nx = 1\nprint(x)"])
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    reqs = (run.out / "requirements.txt").read_text().splitlines()
    assert "foo" in reqs and "bar>=2" in reqs
    code_text = "".join(p.read_text() for p in run.out.rglob("*.py"))
    assert "install foo" not in code_text and "get_ipython" not in code_text


def test_crlf_sources(tmp_path: Path):
    nb = write_nb(tmp_path / "crlf.ipynb", [md("# Load\r\n"), "x = 1\r\ny = x + 1\r\n",
                                            "if y:\r\n    print(y)\r\n"])
    assert b"\\r\\n" in nb.read_bytes()
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    for p in run.out.rglob("*.py"):
        text = p.read_bytes()
        assert b"\r" not in text
        compile(text, str(p), "exec")


def test_utf8_bom(tmp_path: Path):
    text = "\ufeff" + json.dumps(v4([raw_cell("x = 1\nprint(x)")]))
    run = run_convert(write_raw(tmp_path / "bom.ipynb", text), inproc=True)
    assert run.rc == 0, run.stderr


def test_path_with_spaces_and_unicode(tmp_path: Path):
    nb = write_nb(tmp_path / "my dätä folder" / "Ünïcode nötebook é 📓.ipynb",
                  ["données = [1, 2, 3]\n", "total = sum(données)\nprint(total)\n"])
    out = tmp_path / "öut folder" / "the pipeline"
    run = run_convert(nb, out, umask=0o022)
    assert run.rc == 0, run.stderr
    for p in out.rglob("*"):  # written via a temporary file: the umask applies, not 0o600
        if p.is_file():
            assert p.stat().st_mode & 0o777 == 0o644, p
    assert nb.name in run.stdout
    assert (out / "nb2pipe.lock.json").is_file()
    lock = json.loads((out / "nb2pipe.lock.json").read_text(encoding="utf-8"))
    assert (out / lock["notebook"]).resolve() == nb.resolve()


def test_unicode_location_in_diagnostic(tmp_path: Path):
    nb = write_nb(tmp_path / "dir é" / "nötebook.ipynb", ["s = 'é😀'\n", "x = 1\ny = = 2\n"])
    run_convert(nb).expect("NB104", (2, 2, 5))


# ---------------------------------------------------------------------------------------------
# output folder problems
# ---------------------------------------------------------------------------------------------

def test_output_is_notebook_folder(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    run = run_convert(nb, tmp_path)
    assert run.rc == 1
    run.expect("NB404")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ipynb"]


def test_output_is_notebook_folder_relative(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    run = run_convert(nb, tmp_path, cwd=tmp_path, out_arg=".")
    assert run.rc == 1
    run.expect("NB404")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ipynb"]


def test_output_is_the_notebook_file(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    run = run_convert(nb, nb)
    assert run.rc == 1
    run.expect("NB404")


def test_output_not_writable(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: a file in the way instead
            blocker = tmp_path / "blocker.txt"
            blocker.write_text("not a folder")
            out = blocker / "sub"
        else:
            out = locked / "out"
        run = run_convert(nb, out)
    finally:
        locked.chmod(0o700)
    assert run.rc == 1
    run.expect("NB402")
    assert not out.exists()
    if out.parent.is_file():
        assert out.parent.read_text() == "not a folder"


def test_folder_in_the_way_writes_nothing(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    out = tmp_path / "out"
    (out / "README.md").mkdir(parents=True)
    run = run_convert(nb, out, inproc=True)  # checks the folder is left exactly as it was
    assert run.rc == 1
    assert "README.md" in run.expect("NB402")
    assert [p.name for p in out.iterdir()] == ["README.md"]


def test_hand_edit_kept_then_forced(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", [md("# Load"), "x = 1\n", md("# Use"), "print(x + 1)"])
    out = tmp_path / "out"
    assert convert(nb, out).status == "converted"
    readme = out / "README.md"
    generated = readme.read_bytes()
    edited = generated.decode("utf-8") + "\nMy own notes.\n"
    readme.write_text(edited, encoding="utf-8")

    kept = run_convert(nb, out)
    assert kept.rc == 0, kept.stderr
    assert "README.md" in kept.expect("NB401")
    assert readme.read_text(encoding="utf-8") == edited

    forced = run_convert(nb, out, "--force", inproc=True)
    assert forced.rc == 0, forced.stderr
    assert not forced.lines("NB401")
    assert readme.read_bytes() == generated


def test_reconvert_unchanged(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    out = tmp_path / "out"
    assert convert(nb, out).status == "converted"
    before = snapshot(out)
    run = run_convert(nb, out, inproc=True)
    assert run.rc == 0 and "unchanged ->" in run.stdout, run.stdout + run.stderr
    assert snapshot(out) == before


def test_foreign_file_in_output_kept(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("mine\n")
    run = run_convert(nb, out, inproc=True)
    assert run.rc == 0, run.stderr
    assert "not generated" in run.expect("NB401")
    assert (out / "README.md").read_text() == "mine\n"


def test_tampered_lock_never_deletes_outside(tmp_path: Path):
    """The lock file lists generated files; entries outside the output folder (`../x`,
    absolute paths) must never be removed, even with --force."""
    import hashlib

    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    assert convert(nb, out).status == "converted"
    lock_path = out / "nb2pipe.lock.json"
    lock = json.loads(lock_path.read_text())
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    lock["files"]["../victim.txt"] = digest(victim)
    lock["files"][str(victim)] = digest(victim)
    lock["files"]["../a.ipynb"] = digest(nb)
    lock_path.write_text(json.dumps(lock))
    for extra in ((), ("--force",)):
        run = run_convert(nb, out, *extra, inproc=not extra)
        assert run.rc == 0, run.stderr
        assert victim.read_text() == "precious\n"
        assert nb.is_file()


def test_dry_run_writes_nothing(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    run = run_convert(nb, tmp_path / "out", "--dry-run", inproc=True)
    assert run.rc == 0, run.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# --json
# ---------------------------------------------------------------------------------------------

def test_json_output(tmp_path: Path):
    nb = write_nb(tmp_path / "a.ipynb", [md("# Load data"), "x = [1, 2]\n", md("# Total"),
                                         "t = sum(x)\nprint(t)\n"])
    run = run_convert(nb, tmp_path / "out", "--json")
    assert run.rc == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["status"] == "converted"
    steps = data["plan"]["steps"]
    assert isinstance(steps, list) and len(steps) == 2
    assert all(isinstance(s["name"], str) and s["name"] for s in steps)


def test_json_output_on_failure(tmp_path: Path):
    nb = write_nb(tmp_path / "bad.ipynb", ["x = 1\ny = (\n"])
    run = run_convert(nb, tmp_path / "out", "--json")
    assert run.rc == 1
    data = json.loads(run.stdout)
    assert data["status"] == "failed"
    (d,) = [d for d in data["diagnostics"] if d["code"] == "NB104"]
    assert d["location"] == "bad.ipynb:cell_1:2:5" and d["severity"] == "error"
    run.expect("NB104", (1, 2, 5))


def test_json_output_on_unreadable_file(tmp_path: Path):
    nb = write_raw(tmp_path / "broken.ipynb", "{not json")
    run = run_convert(nb, tmp_path / "out", "--json")
    assert run.rc == 1
    data = json.loads(run.stdout)
    assert [d["location"] for d in data["diagnostics"]] == ["broken.ipynb"]


# ---------------------------------------------------------------------------------------------
# usage errors and other commands
# ---------------------------------------------------------------------------------------------

def test_explain_known_code():
    res = cli("explain", "NB201")
    assert res.returncode == 0
    assert res.stdout.startswith("NB201 (error)")
    assert cli("explain", "nb106").returncode == 0


def test_explain_unknown_code():
    res = cli("explain", "NB999")
    assert res.returncode == 2
    assert "NB999" in res.stderr and not res.stdout


def test_every_code_explains():
    from nb2pipe.diagnostics import explain

    for c, entry in CODES.items():
        text = explain(c)
        assert text and text.startswith(f"{c} ({entry.severity})")


def test_convert_missing_file(tmp_path: Path):
    res = cli("convert", str(tmp_path / "missing.ipynb"), "-o", str(tmp_path / "out"))
    assert res.returncode == 2
    assert "missing.ipynb" in res.stderr
    assert not (tmp_path / "out").exists()


def test_convert_a_folder(tmp_path: Path):
    res = cli("convert", str(tmp_path), "-o", str(tmp_path / "out"))
    assert res.returncode == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [
    ["convert", "NB.ipynb", "--bogus"],
    ["convert", "NB.ipynb", "--split", "sideways"],
    ["convert"],
    ["frobnicate"],
    [],
], ids=["unknown_flag", "bad_split_choice", "no_notebook", "unknown_command", "no_command"])
def test_usage_errors(argv: list[str], tmp_path: Path):
    nb = write_nb(tmp_path / "NB.ipynb", ["x = 1\nprint(x)"])
    before = nb.read_bytes()
    res = cli(*argv, cwd=tmp_path)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert nb.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NB.ipynb"]


def test_internal_error_exit_3(tmp_path: Path):
    """A bug inside nb2pipe gives exit 3 and a short message, not a traceback."""
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)"])
    prog = ("import sys, nb2pipe.api as api\n"
            "def boom(*a, **k):\n    raise RuntimeError('boom')\n"
            "api.render = boom\n"
            "from nb2pipe.cli import main\n"
            f"sys.exit(main(['convert', {str(nb)!r}, '-o', {str(tmp_path / 'out')!r}]))\n")
    crash_dir = tmp_path / "tmp"  # the crash report goes to the temp folder, not /tmp
    crash_dir.mkdir()
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True,
                         env={**os.environ, "TMPDIR": str(crash_dir)})
    assert_no_traceback(res.stdout, res.stderr)
    assert res.returncode == 3, res.stderr
    assert "NB403" in res.stderr and "internal error" in res.stderr
    (report,) = crash_dir.glob("nb2pipe-crash-*.txt")  # the traceback, for a bug report
    assert "RuntimeError: boom" in report.read_text()
    assert_locations(res.stderr, "a.ipynb")
    assert not (tmp_path / "out").exists()
