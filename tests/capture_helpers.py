"""Helpers for the capture / verify / quality / drift tests: sample notebooks converted with
--capture once per test session (executing a notebook takes seconds), and generated test
suites run in a fresh interpreter."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_notebooks"
SAMPLE_NAMES = ["churn", "house_prices", "forecast", "segmentation", "reviews_tagged"]

_TMP = Path(tempfile.mkdtemp(prefix="nb2pipe-capture-tests-"))
atexit.register(shutil.rmtree, _TMP, True)


@lru_cache(maxsize=None)
def captured_project(name: str) -> Path:
    """sample_notebooks/<name>.ipynb converted with --capture (shared; copy before editing)."""
    from nb2pipe.api import convert

    out = _TMP / "captured" / f"{name}_pipeline"
    res = convert(SAMPLES / f"{name}.ipynb", out, capture=True)
    assert res.ok, [d.format() for d in res.diagnostics]
    return out


def copy_project(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return dest


def package_of(project: Path) -> str:
    import json

    return json.loads((project / "nb2pipe.plan.json").read_text())["package"]


def run_generated_tests(project: Path, *args: str, workdir: Path | None = None,
                        timeout: int = 600) -> subprocess.CompletedProcess:
    """pytest in the generated project, as a user runs it."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("PYTEST_ADDOPTS", None)
    if workdir is not None:
        env["NB2PIPE_WORKDIR"] = str(workdir)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-rs", *args], cwd=str(project), env=env, capture_output=True,
                          text=True, timeout=timeout)


def sample_copy(dest: Path) -> Path:
    """A copy of sample_notebooks/ (data and helpers) to corrupt without touching the repo."""
    shutil.copytree(SAMPLES, dest, ignore=shutil.ignore_patterns("outputs", "*_pipeline",
                                                                 "__pycache__", ".ipynb_*"))
    (dest / "outputs").mkdir(exist_ok=True)
    return dest
