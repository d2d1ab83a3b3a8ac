"""Hostile and odd input (issue 7, point 3): huge notebooks, deep nesting, very long lines,
binary outputs, names that shadow builtins and the generated modules, non-ASCII identifiers,
Windows line endings, odd paths, and output folders that are read-only, full or symlinked.

Each is handled with a clear message (a located diagnostic, or a clean conversion whose
pipeline runs) and nothing of the user's is lost: the notebook's bytes never change, and files
already in the output folder survive a failed conversion untouched. The ordinary bad-input
table lives in test_bad_input.py; its helpers are reused here.

Timings (a busy 2-core machine) are printed with `pytest -s tests/test_hostile.py`.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nb2pipe.api import convert
from test_bad_input import (code, md, raw_cell, run_convert, snapshot, v4, write_nb,
                            write_raw)


def timed(label: str, started: float, limit: float) -> float:
    took = time.perf_counter() - started
    print(f"\n[hostile] {label}: {took:.1f} s (limit {limit:.0f} s)")
    assert took < limit, f"{label} took {took:.1f} s"
    return took


def run_pipeline(out: Path, package: str | None = None, cwd: Path | None = None,
                 env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m <pkg>.pipeline` the way the generated README says, from the project folder."""
    if package is None:
        package = json.loads((out / "nb2pipe.lock.json").read_text("utf-8"))["options"]["name"]
    res = subprocess.run([sys.executable, "-m", f"{package}.pipeline"], cwd=cwd or out,
                         capture_output=True, text=True, timeout=180,
                         env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})})
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def notebook_stdout(nb: Path) -> str:
    """What the notebook's code cells print, run top to bottom as one script."""
    doc = json.loads(nb.read_text("utf-8"))
    src = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                    for c in doc["cells"] if c["cell_type"] == "code")
    res = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                         cwd=nb.parent, timeout=60, env={**os.environ,
                                                         "PYTHONIOENCODING": "utf-8"})
    assert res.returncode == 0, res.stderr
    return res.stdout


def printed(res: subprocess.CompletedProcess, expected: str) -> None:
    """The pipeline printed the notebook's lines, in order (it may print more after them)."""
    assert res.stdout.startswith(expected), (res.stdout[:2000], expected)


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") and p.name.startswith(".")]


# ---------------------------------------------------------------------------------------------
# size
# ---------------------------------------------------------------------------------------------

def test_50_mb_notebook_of_image_outputs(tmp_path: Path):
    """~50 MB of base64 PNG outputs: outputs are ignored, conversion is quick, and nothing of
    the outputs reaches the generated files."""
    blob = base64.b64encode(os.urandom(750_000)).decode()  # 1 MB of base64 per output
    cells = [md("## Load"), raw_cell("x = [1, 2, 3]\nprint(sum(x))")]
    for i in range(48):
        cells.append(raw_cell(f"y{i} = len(x) + {i}\nprint(y{i})", outputs=[
            {"output_type": "display_data", "metadata": {},
             "data": {"image/png": blob, "text/plain": ["<Figure size 640x480>"]}},
            {"output_type": "stream", "name": "stdout", "text": [f"{3 + i}\n"]}],
            execution_count=i + 2))
        if i == 24:
            cells.append(md("## Use"))
    nb = write_raw(tmp_path / "big.ipynb", v4(cells, {"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}))
    assert nb.stat().st_size > 48_000_000
    started = time.perf_counter()
    run = run_convert(nb, inproc=True)
    timed("50 MB notebook convert", started, 60)
    assert run.rc == 0, run.stderr
    generated = sum(p.stat().st_size for p in run.out.rglob("*") if p.is_file())
    assert generated < 2_000_000, generated
    assert not any(blob[:64] in p.read_text("utf-8", "replace")
                   for p in run.out.rglob("*") if p.is_file())
    printed(run_pipeline(run.out), notebook_stdout(nb))


def test_5000_cells(tmp_path: Path):
    """5,000 cells (code, markdown, empty ones, a heading every 50: 100 steps) convert in
    seconds, and the pipeline runs. (Before black was limited to files under 100 kB, the
    one-step variant took 39 s and a 500-step one 49 s, mostly formatting the Kubeflow DSL.)"""
    cells: list = ["total = 0\n"]
    for i in range(1, 5000):
        if i % 50 == 0:
            cells.append(md(f"## Part {i // 50}"))
        elif i % 7 == 0:
            cells.append(md(f"Note {i}: *nothing to see*"))
        elif i % 11 == 0:
            cells.append("")
        else:
            cells.append(f"v{i} = {i} % 13\ntotal += v{i}\n")
    cells.append("print(total)\n")
    nb = write_nb(tmp_path / "many.ipynb", cells)
    started = time.perf_counter()
    run = run_convert(nb, inproc=True)
    timed("5,000-cell notebook convert", started, 90)
    assert run.rc == 0, run.stderr
    started = time.perf_counter()
    printed(run_pipeline(run.out), notebook_stdout(nb))
    timed("5,000-cell pipeline run", started, 90)


def test_line_of_100000_characters(tmp_path: Path):
    """A 100,000-character line (a pasted list literal): converts and runs. NB111 says the
    cell is large; the line is kept verbatim (black is not run over huge files)."""
    data = ", ".join(str(i % 10) for i in range(50_000))
    line = f"x = [{data}]"
    assert len(line) >= 100_000
    nb = write_nb(tmp_path / "long.ipynb", [line + "\n", "print(sum(x), len(x))\n"])
    started = time.perf_counter()
    run = run_convert(nb, inproc=True)
    timed("100,000-character line convert", started, 60)
    assert run.rc == 0, run.stderr
    run.expect("NB111", (1, 1, 1))
    assert any(data in p.read_text("utf-8") for p in (run.out / "out").rglob("*.py"))
    printed(run_pipeline(run.out), "225000 50000\n")


# ---------------------------------------------------------------------------------------------
# deep nesting
# ---------------------------------------------------------------------------------------------

NESTED_OK = {
    "list_199_deep": "x = " + "[" * 199 + "1" + "]" * 199 + "\nprint(str(x).count('['))\n",
    "calls_150_deep": "x = " + "abs(" * 150 + "-1" + ")" * 150 + "\nprint(x)\n",
    "dicts_60_deep": "d = " + "{'a': " * 60 + "1" + "}" * 60 + "\nprint(len(str(d)))\n",
    "ifs_40_deep": "x = 0\n" + "".join("    " * i + f"if x < {i + 1}:\n" for i in range(40))
                   + "    " * 40 + "x = 1\nprint(x)\n",
    "lambdas_50_deep": "f = " + "lambda: " * 50 + "7\ny = f" + "()" * 50 + "\nprint(y)\n",
    "sum_of_100": "y = " + " + ".join(["1"] * 100) + "\nprint(y)\n",
}


@pytest.mark.parametrize("src", list(NESTED_OK.values()), ids=list(NESTED_OK))
def test_deep_nesting_converts_and_runs(src: str, tmp_path: Path):
    nb = write_nb(tmp_path / "deep.ipynb", [md("## Deep"), src])
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    printed(run_pipeline(run.out), notebook_stdout(nb))


NESTED_REFUSED = {
    # Python cannot compile these either (RecursionError in the compiler).
    "method_chain_2000": "x = 'a'" + ".strip()" * 2000 + "\nprint(x)\n",
    "sum_of_3000": "y = " + "+".join(["1"] * 3000) + "\nprint(y)\n",
}


@pytest.mark.parametrize("src", list(NESTED_REFUSED.values()), ids=list(NESTED_REFUSED))
def test_too_deep_for_python_is_located(src: str, tmp_path: Path):
    """Nesting Python itself cannot compile: NB104 at the cell (was: no location)."""
    nb = write_nb(tmp_path / "deeper.ipynb", ["a = 1\nprint(a)\n", md("## x"), src])
    run = run_convert(nb)
    assert run.rc == 1
    assert "nested too deeply" in run.expect("NB104", (3, 1))


def test_sum_of_500_terms_converts(tmp_path: Path):
    nb = write_nb(tmp_path / "sum.ipynb", ["y = " + " + ".join(["1"] * 500) + "\nprint(y)\n"])
    res = convert(nb, tmp_path / "out")
    assert res.ok, [d.format() for d in res.diagnostics]


def nested_ifs(depth: int, unit: str = "    ", inner: str = "x = 1") -> str:
    """`inner` inside `depth` nested ifs: `depth` levels of indentation."""
    return ("x = 0\n" + "".join(unit * i + f"if x < {i + 1}:\n" for i in range(depth))
            + unit * depth + inner + "\nprint(x)\n")


def test_99_levels_of_indentation(tmp_path: Path):
    """Valid Python (its limit is 99 levels), but every cell goes one level deeper in the
    generated code (inside the step function): refused at the cell, not NB403."""
    src = nested_ifs(99)
    compile(src, "cell", "exec")
    res = convert(write_nb(tmp_path / "indent.ipynb", [src]), tmp_path / "out")
    assert not res.ok and not res.internal_error
    errors = [d for d in res.diagnostics if d.severity == "error"]
    assert [d.format().split(" NB104 ")[0] for d in errors] == ["indent.ipynb:cell_1:101:397:"], \
        [d.format() for d in res.diagnostics]
    assert "99 levels of indentation" in errors[0].message
    assert "helper module" in errors[0].message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cell", [
    nested_ifs(98),
    # a function moved to common.py keeps its depth: 1 (def) + 97
    "def f(x):\n" + "".join("    " * (i + 1) + f"if x < {i + 1}:\n" for i in range(97))
    + "    " * 98 + "x = 1\n    return x\n\nprint(f(0))\n",
], ids=["step_body", "shared_function"])
def test_98_levels_of_indentation_converts(cell: str, tmp_path: Path):
    nb = write_nb(tmp_path / "indent.ipynb", [md("## Deep"), cell])
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    generated = list((run.out).rglob("*.py"))
    assert len(generated) > 3
    for path in generated:
        compile(path.read_text("utf-8"), str(path), "exec")
    printed(run_pipeline(run.out), notebook_stdout(nb))


@pytest.mark.parametrize("src, refused", [
    (nested_ifs(98, "\t"), False),
    (nested_ifs(99, "\t"), True),  # tabs: one level each, though 8 columns wide
    (nested_ifs(98, " \t"), False),
    # a one-line suite gets a line of its own in regenerated code (ast.unparse, black)
    (nested_ifs(98, inner="if x: x = 1"), True),
    (nested_ifs(97, inner="if x: x = 1"), False),
    # `elif` and `except` are not a level; `else:` then `if` is; `case` bodies are two
    (nested_ifs(98, inner="pass\n" + "    " * 97 + "elif x:\n" + "    " * 98 + "x = 2"), False),
    (nested_ifs(97, inner="pass\n" + "    " * 96 + "else:\n" + "    " * 97 + "if x:\n"
                + "    " * 98 + "x = 2"), False),
    (nested_ifs(98, inner="pass\n" + "    " * 97 + "else:\n" + "    " * 98 + "if x:\n"
                + "    " * 99 + "x = 2"), True),
    (nested_ifs(97, inner="try:\n" + "    " * 98 + "x = 1\n" + "    " * 97 + "except E:\n"
                + "    " * 98 + "x = 2"), False),
    (nested_ifs(96, inner="match x:\n" + "    " * 97 + "case 0:\n" + "    " * 98 + "x = 1"),
     False),
    (nested_ifs(97, inner="match x:\n" + "    " * 98 + "case 0:\n" + "    " * 99 + "x = 1"),
     True),
    # deep leading whitespace that is not indentation (inside brackets) costs a tree walk only
    ("x = [\n" + " " * 400 + "1,\n]\n", False),
], ids=["tabs_98", "tabs_99", "mixed_98", "one_line_suite_98", "one_line_suite_97",
        "elif_98", "else_if_98", "else_if_99", "try_98", "match_98", "match_99", "brackets"])
def test_indentation_limit_is_counted_as_generated(src: str, refused: bool):
    from nb2pipe.analysis.ipysyntax import parse_cell

    compile(src, "cell", "exec")
    parsed = parse_cell(src)
    assert (parsed.error is not None) == refused, parsed.error
    if refused:
        assert "99 levels of indentation" in parsed.error[0]


# ---------------------------------------------------------------------------------------------
# odd content
# ---------------------------------------------------------------------------------------------

def test_binary_and_odd_outputs(tmp_path: Path):
    """Outputs of every kind, including binary MIME data, NULs and ANSI escapes in streams and
    tracebacks, and malformed output entries: ignored, the notebook converts."""
    blob = base64.b64encode(bytes(range(256)) * 64).decode()
    outputs = [
        {"output_type": "display_data", "metadata": {},
         "data": {"application/octet-stream": blob, "application/pdf": blob,
                  "image/jpeg": blob, "text/plain": "\x00\x01\x02\x1b[31mred\x1b[0m"}},
        {"output_type": "stream", "name": "stderr", "text": "\x00\ufffd\x7f\x1b[2J"},
        {"output_type": "error", "ename": "ValueError", "evalue": "\x00",
         "traceback": ["\x1b[0;31mValueError\x1b[0m: \x00"]},
        {"output_type": "execute_result", "execution_count": 1, "metadata": {},
         "data": {"application/vnd.custom+json": {"nested": [[[["\x00"]]]]}}},
        {"output_type": "made-up", "garbage": [1, None, {"x": blob}]},
    ]
    nb = write_raw(tmp_path / "binary.ipynb", v4([
        raw_cell("x = 2\nprint(x * 21)", outputs=outputs, execution_count=1),
        raw_cell("y = x + 1\nprint(y)", outputs=[{"output_type": "stream", "name": "stdout",
                                                   "text": ["3\n"]}])]))
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    printed(run_pipeline(run.out), "42\n3\n")


SHADOW = [
    code("import math\nlist = [3, 1, 2]\ntest = sorted(list)\nid = 7\ntype = 'kind'\n",
         "step:test"),
    code("pipeline = test + [4]\nsteps = len(pipeline)\nsum = steps + id\n", "step:pipeline"),
    code("common = {'steps': steps, 'type': type}\n_runtime = math.floor(sum / 2)\n"
         "def run(x):\n    return x * 2\n", "step:common"),
    code("main = run(_runtime)\nprint(list, test, pipeline, steps, sum, common, _runtime, main)\n",
         "step:steps"),
    code("copy = main + 1\nsys = [copy]\nprint(sys)\n", "step:_runtime"),
    code("print(copy)\n", "step:list"),
]


def test_names_shadowing_builtins_and_generated_modules(tmp_path: Path):
    """Variables and steps called test, pipeline, steps, common, list, _runtime, run, copy,
    sys, ... : step names that collide are renamed (NB307), the pipeline still runs and
    prints what the notebook prints."""
    nb = write_nb(tmp_path / "shadow.ipynb", SHADOW)
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    run.expect("NB307", (3, 1, 1))
    pkg = run.out / "out"
    assert (pkg / "pipeline.py").is_file() and (pkg / "common.py").is_file()
    assert (pkg / "_runtime.py").is_file() and (pkg / "steps").is_dir()
    printed(run_pipeline(run.out), notebook_stdout(nb))


def test_headings_named_like_generated_modules(tmp_path: Path):
    nb = write_nb(tmp_path / "heads.ipynb", [
        md("# Title"), md("## test"), "test = [1]\n", md("## pipeline"), "pipeline = test * 2\n",
        md("## common"), "common = len(pipeline)\n", md("## _runtime"), "print(common)\n",
        md("## steps"), "steps = common + 1\nprint(steps)\n"])
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    printed(run_pipeline(run.out), "2\n3\n")


@pytest.mark.parametrize("folder", ["json", "pandas", "os", "class"])
def test_package_name_that_shadows_a_module_is_refused(folder: str, tmp_path: Path):
    """`-o json` used to write a package `json` that pandas then imported instead of the
    standard library: the pipeline could not start. Now a clear NB404 and nothing written."""
    nb = write_nb(tmp_path / "a.ipynb", ["import pandas as pd\nx = int(pd.Series([2]).sum())\n"
                                         "print(x)\n"])
    run = run_convert(nb, tmp_path / folder)
    assert run.rc == 1
    line = run.expect("NB404")
    assert repr(folder) in line and "--name" in line
    assert not (tmp_path / folder).exists()
    ok = run_convert(nb, tmp_path / folder, "--name", f"{folder}_pipe", inproc=True)
    assert ok.rc == 0, ok.stderr
    printed(run_pipeline(ok.out, f"{folder}_pipe"), "2\n")


def test_installed_generated_package_is_not_a_clash(tmp_path: Path, monkeypatch):
    """The project's own package on sys.path (`pip install ./proj`, PYTHONPATH) is the package
    being regenerated, not a module it would shadow: re-converting works."""
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)\n"])
    out = tmp_path / "proj"
    assert convert(nb, out).status == "converted"
    monkeypatch.syspath_prepend(str(out))  # proj/proj/ holds the generated package
    write_nb(nb, ["x = 2\nprint(x)\n"])
    res = convert(nb, out)
    assert res.status == "converted", [d.format() for d in res.diagnostics]


def test_package_called_test_still_works(tmp_path: Path):
    """`test` is a standard-library package nobody imports: allowed, and the pipeline runs."""
    nb = write_nb(tmp_path / "a.ipynb", ["x = 1\nprint(x)\n"])
    run = run_convert(nb, tmp_path / "test", inproc=True)
    assert run.rc == 0, run.stderr
    printed(run_pipeline(run.out, "test"), "1\n")


def test_non_ascii_identifiers(tmp_path: Path):
    nb = write_nb(tmp_path / "unicode.ipynb", [
        md("## Größe"), "größe = 2\nπ = 3.5\n变量 = [größe, π]\n",
        md("## 数据"), "fläche = größe * π\nnaïve_résumé = sum(变量)\n",
        md("## Ergebnis"), "print(fläche, naïve_résumé, 'ünïcødé ✓')\n"])
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    printed(run_pipeline(run.out), notebook_stdout(nb))


def test_nfkc_equivalent_identifiers(tmp_path: Path):
    """Python folds identifiers with NFKC: `ﬁle` (a ligature) and `file` are one name."""
    nb = write_nb(tmp_path / "nfkc.ipynb", [md("## A"), "ﬁle = 5\n", md("## B"),
                                            "print(file + 1)\n"])
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    printed(run_pipeline(run.out), "6\n")


def test_windows_line_endings_everywhere(tmp_path: Path):
    """CRLF between the JSON tokens, in list-of-lines sources, in a triple-quoted string, a
    lone CR (old Mac) and a markdown heading: converts, generated files use LF, and the
    pipeline prints what the notebook prints."""
    doc = v4([
        {"cell_type": "markdown", "metadata": {}, "source": ["## Load\r\n", "text\r\n"]},
        raw_cell(["x = 1\r\n", "s = '''a\r\n", "b'''\r\n", "if x:\r\n", "    y = x + 1\r\n"]),
        {"cell_type": "markdown", "metadata": {}, "source": "## Use\r\n"},
        raw_cell("z = y * 2\rprint(z, repr(s))\r\n"),
    ], {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    text = json.dumps(doc, indent=1).replace("\n", "\r\n")
    nb = tmp_path / "crlf.ipynb"
    nb.write_bytes(text.encode("utf-8"))
    run = run_convert(nb, inproc=True)
    assert run.rc == 0, run.stderr
    for p in run.out.rglob("*"):
        if p.is_file() and p.suffix in (".py", ".md", ".json", ".txt", ".toml", ".yaml"):
            assert b"\r" not in p.read_bytes(), p
    printed(run_pipeline(run.out), "4 'a\\nb'\n")


def test_odd_paths_end_to_end(tmp_path: Path):
    """A notebook path with spaces, unicode and shell metacharacters, reading a data file next
    to it, converted into an output path of the same kind: `check` knows it, and the pipeline
    runs and finds the data. (test_bad_input checks conversion and file modes.)"""
    folder = tmp_path / "My Drive ü" / "проект $HOME 'q' (1)"
    folder.mkdir(parents=True)
    (folder / "dätä file.csv").write_text("a\n1\n2\n", encoding="utf-8")
    nb = write_nb(folder / "analyse nötebook 📓 #1.ipynb", [
        md("## Load"), "rows = open('dätä file.csv', encoding='utf-8').read().split()[1:]\n",
        md("## Sum"), "print(sum(int(r) for r in rows))\n"])
    out = tmp_path / "öut; rm -rf ~" / "pipe line"
    run = run_convert(nb, out, inproc=True)
    assert run.rc == 0, run.stderr
    check = subprocess.run([sys.executable, "-m", "nb2pipe", "check", str(nb), "-o", str(out)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    printed(run_pipeline(out), "3\n")


# ---------------------------------------------------------------------------------------------
# output folders: read-only, full, symlinked
# ---------------------------------------------------------------------------------------------

def _mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    try:
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                             capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True, timeout=20)


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "16m"):
    """A real tmpfs at `where` (root in a container that allows mount), else skip."""
    if not _mount_tmpfs(where, f"size={size},mode=0755"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield where
    finally:
        _umount(where)


def two_versions(tmp_path: Path) -> tuple[Path, list, list]:
    v1 = [md("## Load"), "x = [1, 2]\n", md("## Use"), "print(sum(x))\n"]
    v2 = [md("## Load"), "x = [1, 2, 3]\n", md("## Clean"), "x = [v * 2 for v in x]\n",
          md("## Use"), "print(sum(x))\n"]
    return tmp_path / "nb.ipynb", v1, v2


def _nb402(run, *words: str) -> str:
    assert run.rc == 1, run.stderr
    line = run.expect("NB402")
    for w in words:
        assert w in line, line
    assert "not converted" in run.stderr
    return line


def test_read_only_output_folder(tmp_path: Path):
    """A project on a file system that became read-only (root ignores chmod, so a real
    read-only mount): re-converting a changed notebook says so (NB402) and the project, and
    the user's own file in it, are exactly as they were."""
    nb, v1, v2 = two_versions(tmp_path)
    mnt = tmp_path / "mnt"
    with tmpfs(mnt):
        out = mnt / "proj"
        write_nb(nb, v1)
        assert convert(nb, out).status == "converted"
        (out / "NOTES.md").write_text("my notes\n")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True, timeout=20)
        write_nb(nb, v2)
        before = snapshot(out)
        run = run_convert(nb, out)  # the real command; checks the folder is unchanged
        _nb402(run, "read-only file system")
        assert snapshot(out) == before
        fresh = run_convert(nb, mnt / "new")
        _nb402(fresh, "read-only file system")


def test_read_only_output_folder_simulated(tmp_path: Path, monkeypatch):
    """The same without mount: every new file in the output folder fails with EROFS."""
    import nb2pipe.writer as writer

    nb, v1, v2 = two_versions(tmp_path)
    out = tmp_path / "out"
    assert convert(write_nb(nb, v1), out).status == "converted"
    (out / "NOTES.md").write_text("my notes\n")
    before = snapshot(out)
    real_open = os.open

    def ro_open(path, flags, *a, **k):
        if str(path).startswith(str(out)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(writer.os, "open", ro_open)
    run = run_convert(write_nb(nb, v2), out, inproc=True)
    _nb402(run, "read-only file system")
    assert snapshot(out) == before


class _DiskFills:
    """os.fdopen whose file objects raise ENOSPC once `budget` bytes have been written."""

    def __init__(self, budget: int):
        self.budget = budget
        self.real = os.fdopen
        self.writes = 0

    def __call__(self, fd, *a, **k):
        fh = self.real(fd, *a, **k)
        real_write = fh.write

        def write(data):
            self.writes += 1
            if len(data) > self.budget:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.budget -= len(data)
            return real_write(data)

        fh.write = write
        return fh


def test_disk_full_midway_keeps_the_old_project(tmp_path: Path, monkeypatch):
    """The disk fills up halfway through writing a re-conversion: NB402 'no space left on
    device', every file of the previous conversion and the user's own file intact, no
    temporary files left behind (files are staged, then renamed into place all together)."""
    import nb2pipe.writer as writer

    nb, v1, v2 = two_versions(tmp_path)
    out = tmp_path / "out"
    assert convert(write_nb(nb, v1), out).status == "converted"
    (out / "NOTES.md").write_text("my notes\n")
    before = snapshot(out)
    full = _DiskFills(budget=40_000)
    monkeypatch.setattr(writer.os, "fdopen", full)
    run = run_convert(write_nb(nb, v2), out, inproc=True)
    _nb402(run, "no space left on device")
    assert full.writes > 3, "the failure should come midway, after some files were written"
    assert snapshot(out) == before
    assert not temp_files(out)
    monkeypatch.undo()
    again = run_convert(nb, out, inproc=True)  # space again: converts, notes still there
    assert again.rc == 0, again.stderr
    assert (out / "NOTES.md").read_text() == "my notes\n"
    printed(run_pipeline(out), "12\n")


def test_disk_full_on_a_fresh_folder_leaves_nothing(tmp_path: Path, monkeypatch):
    import nb2pipe.writer as writer

    nb, v1, _ = two_versions(tmp_path)
    write_nb(nb, v1)
    monkeypatch.setattr(writer.os, "fdopen", _DiskFills(budget=40_000))
    run = run_convert(nb, tmp_path / "new" / "proj", inproc=True)
    _nb402(run, "no space left on device")
    assert not (tmp_path / "new").exists()


def test_disk_really_full(tmp_path: Path):
    """A 64 kB tmpfs: the real ENOSPC, through the real command."""
    nb, v1, _ = two_versions(tmp_path)
    write_nb(nb, v1)
    mnt = tmp_path / "small"
    with tmpfs(mnt, size="64k"):
        (mnt / "mine.txt").write_text("keep me\n")
        run = run_convert(nb, mnt / "proj")
        _nb402(run, "no space left on device")
        assert sorted(p.name for p in mnt.iterdir()) == ["mine.txt"]
        assert (mnt / "mine.txt").read_text() == "keep me\n"


def test_symlinked_output_folder_writes_through(tmp_path: Path):
    """`-o link` where link -> a real folder (a mounted volume, a synced drive): what users
    expect is that the project lands in the real folder and the link stays a link. The
    pipeline runs from either path and finds the notebook's data."""
    nb_dir = tmp_path / "work"
    nb_dir.mkdir()
    (nb_dir / "data.txt").write_text("5\n")
    nb = write_nb(nb_dir / "nb.ipynb", [md("## Load"), "n = int(open('data.txt').read())\n",
                                        md("## Use"), "print(n * 2)\n"])
    real = tmp_path / "volume" / "real"
    real.mkdir(parents=True)
    (real / "mine.txt").write_text("keep me\n")
    link = nb_dir / "out_link"
    link.symlink_to(real, target_is_directory=True)
    run = run_convert(nb, link, inproc=True)
    assert run.rc == 0, run.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real / "nb2pipe.lock.json").is_file()
    assert (real / "mine.txt").read_text() == "keep me\n"
    printed(run_pipeline(real), "10\n")  # the package is named after the real folder
    printed(run_pipeline(link), "10\n")
    check = subprocess.run([sys.executable, "-m", "nb2pipe", "check", str(nb), "-o", str(link)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    again = run_convert(nb, link, inproc=True)
    assert again.rc == 0 and "unchanged ->" in again.stdout, again.stdout + again.stderr


def test_dangling_symlink_output_folder(tmp_path: Path):
    nb = write_nb(tmp_path / "nb.ipynb", ["x = 1\nprint(x)\n"])
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone", target_is_directory=True)
    run = run_convert(nb, link)
    _nb402(run, "symbolic link", "gone", "does not exist")
    assert link.is_symlink() and not (tmp_path / "gone").exists()


def test_symlink_to_the_notebook_folder_is_refused(tmp_path: Path):
    nb = write_nb(tmp_path / "nb.ipynb", ["x = 1\nprint(x)\n"])
    link = tmp_path / "sub"
    link.symlink_to(tmp_path, target_is_directory=True)
    run = run_convert(nb, link)
    assert run.rc == 1
    run.expect("NB404")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb", "sub"]


def test_symlinked_generated_file_is_not_written_through(tmp_path: Path):
    """A generated file replaced by a symlink to something of the user's (e.g. README.md ->
    their notes): the target is never overwritten."""
    nb, v1, v2 = two_versions(tmp_path)
    out = tmp_path / "out"
    assert convert(write_nb(nb, v1), out).status == "converted"
    notes = tmp_path / "notes.md"
    notes.write_text("precious\n")
    (out / "README.md").unlink()
    (out / "README.md").symlink_to(notes)
    for extra in ((), ("--force",)):
        run = run_convert(write_nb(nb, v2), out, *extra, inproc=True)
        assert run.rc == 0, run.stderr
        assert notes.read_text() == "precious\n"
