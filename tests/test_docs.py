"""The user guide stays true: its command examples run, and its diagnostics table is
CODES.

Every ```console block of docs/user-guide.md holds commands on lines starting `$ `. They run
in the order written, in one temporary copy of sample_notebooks/, with `nb2pipe` resolved to
`sys.executable -m nb2pipe` and `python` to `sys.executable`; `cd DIR && COMMAND` runs COMMAND
in DIR. A trailing `# exit N` is the expected exit code (default 0); a trailing
`# not run in tests` skips the command (network, cluster, kfp extra).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES
from nb2pipe.diagnostics import CODES

GUIDE = ROOT / "docs" / "user-guide.md"
FENCE = re.compile(r"^```console\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
EXIT = re.compile(r"\s#\s*exit\s+(?P<rc>\d+)\s*$")
NOT_RUN = re.compile(r"\s#\s*not run in tests\s*$")
TABLE = re.compile(r"<!-- diagnostics:begin[^>]*-->\n(?P<table>.*?)<!-- diagnostics:end -->",
                   re.DOTALL)


@dataclass
class Example:
    line: int  # in the guide, 1-based
    text: str  # as written, after "$ "
    rc: int
    run: bool


def examples() -> list[Example]:
    guide = GUIDE.read_text(encoding="utf-8")
    found = []
    for block in FENCE.finditer(guide):
        first = guide[: block.start("body")].count("\n") + 1
        for i, line in enumerate(block["body"].splitlines()):
            if not line.startswith("$ "):
                continue  # output shown in the guide
            text = line[2:]
            m = EXIT.search(text)
            found.append(Example(first + i, text, int(m["rc"]) if m else 0,
                                 not NOT_RUN.search(text)))
    return found


def diagnostics_table() -> str:
    rows = ["| code | severity | title | what it means | how to fix |", "|---|---|---|---|---|"]
    esc = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    for c in sorted(CODES):
        e = CODES[c]
        rows.append(f"| {e.code} | {e.severity} | {esc(e.title)} | {esc(e.explanation)} | "
                    f"{esc(e.fix)} |")
    return "\n".join(rows) + "\n"


def test_guide_has_examples():
    found = examples()
    assert len(found) >= 25
    assert all(e.text.split()[0] in ("nb2pipe", "pip", "jupyter", "cd") for e in found)
    assert sum(e.run for e in found) >= 20


def test_every_diagnostic_code_is_in_the_guide():
    guide = GUIDE.read_text(encoding="utf-8")
    missing = [c for c in CODES if not re.search(rf"^\| {c} \|", guide, re.MULTILINE)]
    assert not missing, f"codes missing from docs/user-guide.md: {missing}"


def test_diagnostics_table_is_generated_from_codes():
    """The table is CODES, word for word; regenerate it with `python tests/test_docs.py`."""
    m = TABLE.search(GUIDE.read_text(encoding="utf-8"))
    assert m, "diagnostics markers missing from the guide"
    assert m["table"] == diagnostics_table(), \
        "docs/user-guide.md's diagnostics table is out of date: run python tests/test_docs.py"


def test_guide_is_linked_from_readme():
    assert "(docs/user-guide.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def _argv(words: list[str]) -> list[str]:
    head = {"nb2pipe": [sys.executable, "-m", "nb2pipe"], "python": [sys.executable]}
    return head.get(words[0], words[:1]) + words[1:]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("guide") / "sample_notebooks"
    shutil.copytree(SAMPLES, ws, ignore=shutil.ignore_patterns(
        "*_pipeline", ".nb2pipe", "__pycache__", ".ipynb_checkpoints"))
    return ws


_failed: list[str] = []


@pytest.mark.parametrize("ex", examples(), ids=lambda e: f"L{e.line}")
def test_command_example(ex: Example, workspace: Path):
    if not ex.run:
        pytest.skip("marked `# not run in tests` in the guide")
    if _failed:  # the examples build on each other
        pytest.skip(f"an earlier example failed: {_failed[0]}")
    words = shlex.split(ex.text, comments=True)
    cwd = workspace
    if words[0] == "cd":
        assert words[2] == "&&", ex.text
        cwd, words = workspace / words[1], words[3:]
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        res = subprocess.run(_argv(words), cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == ex.rc, (
            f"docs/user-guide.md:{ex.line}: `{ex.text}` exited {res.returncode}, expected "
            f"{ex.rc}\n--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-3000:]}")
        assert "Traceback (most recent call last)" not in res.stderr or words[0] != "nb2pipe"
    except BaseException:
        _failed.append(f"line {ex.line}: {ex.text}")
        raise


if __name__ == "__main__":  # regenerate the diagnostics table in the guide
    text = GUIDE.read_text(encoding="utf-8")
    m = TABLE.search(text)
    GUIDE.write_text(text[: m.start("table")] + diagnostics_table() + text[m.end("table"):],
                     encoding="utf-8")
    print(f"{GUIDE}: diagnostics table regenerated ({len(CODES)} codes)")
