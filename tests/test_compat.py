"""Python 3.10 support, checked statically: pyproject.toml promises Python >= 3.10, and the
machines this suite runs on have 3.11 only.

vermin reads code and reports the oldest Python that each construct and stdlib name needs
(`match` 3.10; `except*`, `tomllib`, `typing.Self` 3.11; ...). nb2pipe's own code, the code it
generates and this test suite must need 3.10 at most. What vermin cannot see (behaviour that
changed between versions, third-party packages) needs a real 3.10 run; that the core
dependencies resolve for 3.10 is checked by hand (`pip install --dry-run --python-version
3.10 --only-binary=:all: ...`), not here: it needs the network.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from conftest import ROOT, SAMPLE_NAMES, SAMPLES
from nb2pipe.api import convert

MIN_PYTHON = (3, 10)
MIN_TEXT = ".".join(map(str, MIN_PYTHON))
VERMIN_ARGS = [
    f"--target={MIN_TEXT}-",  # exit 1 when anything needs a newer Python
    "--violations",  # list what does, with file and line
    "--pessimistic",  # code this Python cannot parse (newer syntax) is a violation too
    "--no-parse-comments",  # no `# novm` opt-outs: what the code needs is what it needs
    "--eval-annotations",  # count annotations as evaluated (dataclasses, typing.get_type_hints)
    "--no-tips",
    "--format", "parsable",  # file:line:col:py2:py3:feature, then the overall minimum
]


def vermin(*paths: Path) -> tuple[str, list[str]]:
    """Run vermin on paths: (the minimum Python 3 it reports, the violations)."""
    assert importlib.util.find_spec("vermin"), "vermin is missing: pip install -e '.[test]'"
    res = subprocess.run(
        [sys.executable, "-c", "import sys; from vermin import main; sys.exit(main())",
         *VERMIN_ARGS, *map(str, paths)], capture_output=True, text=True, timeout=300)
    lines = res.stdout.splitlines()
    assert lines and lines[-1].startswith(":::"), (res.returncode, res.stdout, res.stderr)
    minimum = lines[-1].split(":")[4]  # ':::py2:py3:'
    violations = [ln for ln in lines[:-1] if not ln.split(":")[1:3] == ["", ""]]
    assert res.returncode in (0, 1), res.stderr
    assert (res.returncode == 1) == bool(violations) or minimum.startswith("!"), res.stdout
    return minimum, violations


def needs_at_most(minimum: str, version: tuple[int, int]) -> bool:
    """vermin writes a version ('3.10'), '!3' (cannot run on Python 3) or '~3' (nothing
    version-specific found)."""
    if minimum.startswith("!"):
        return False
    if minimum.startswith("~"):
        return True
    return tuple(int(p) for p in minimum.split(".")) <= version


def assert_runs_on_min_python(*paths: Path) -> None:
    minimum, violations = vermin(*paths)
    assert not violations and needs_at_most(minimum, MIN_PYTHON), (
        f"code needs Python {minimum}, but nb2pipe supports {MIN_TEXT}+:\n"
        + "\n".join(violations))


# ---------------------------------------------------------------------------------------------
# the check itself catches what it is for
# ---------------------------------------------------------------------------------------------

NEWER = {
    "tomllib": "import tomllib\n",
    "except_star": "try:\n    pass\nexcept* ValueError:\n    pass\n",
    "datetime_utc": "import datetime\nnow = datetime.datetime.now(datetime.UTC)\n",
    "typing_self": "from typing import Self\n",
    "type_parameters": "def first[T](xs: list[T]) -> T:\n    return xs[0]\n",  # 3.12 syntax
    "novm_comment_ignored": "import tomllib  # novm\n",
}


@pytest.mark.parametrize("src", list(NEWER.values()), ids=list(NEWER))
def test_check_catches_newer_python(src: str, tmp_path: Path):
    (tmp_path / "ok.py").write_text("import sys\nprint(sys.stdlib_module_names)\n")
    (tmp_path / "newer.py").write_text(src)
    minimum, violations = vermin(tmp_path)
    assert not needs_at_most(minimum, MIN_PYTHON), (minimum, violations)
    assert violations and all("newer.py" in v for v in violations), violations


def test_check_passes_310_code(tmp_path: Path):
    (tmp_path / "ok.py").write_text(
        "import sys\n\ndef f(x: int | None) -> list[str]:\n    match x:\n"
        "        case None:\n            return list(sys.stdlib_module_names)\n"
        "        case _:\n            return [str(a) for a in zip([x], [x], strict=True)]\n")
    assert vermin(tmp_path) == ("3.10", [])


# ---------------------------------------------------------------------------------------------
# nb2pipe, what it generates, its tests
# ---------------------------------------------------------------------------------------------

def test_nb2pipe_runs_on_python_310():
    assert_runs_on_min_python(ROOT / "nb2pipe")


@pytest.mark.parametrize("sample", SAMPLE_NAMES)
def test_generated_project_runs_on_python_310(sample: str, tmp_path: Path):
    res = convert(SAMPLES / f"{sample}.ipynb", tmp_path / "out")
    assert res.ok, [d.format() for d in res.diagnostics]
    generated = sorted((tmp_path / "out").rglob("*.py"))
    assert len(generated) > 10
    assert_runs_on_min_python(*generated)


def test_test_suite_runs_on_python_310():
    assert_runs_on_min_python(*sorted((ROOT / "tests").glob("*.py")))


def test_package_metadata_says_310():
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    requires = SpecifierSet(project["requires-python"])
    assert requires.contains(MIN_TEXT) and not requires.contains("3.9"), requires
    prefix = "Programming Language :: Python :: "
    versions = [c[len(prefix):] for c in project.get("classifiers", ())
                if c.startswith(prefix + "3.")]
    assert versions and min(versions, key=lambda v: tuple(map(int, v.split(".")))) == MIN_TEXT
    assert all(requires.contains(v) for v in versions), versions
    assert f"{prefix}3 :: Only" in project["classifiers"]
