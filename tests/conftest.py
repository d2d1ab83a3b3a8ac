"""Shared helpers for the test suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_notebooks"
# Expected generated trees hold generated tests of their own: data, not part of this suite.
collect_ignore_glob = ["golden/*/expected/*", "golden_deploy/*"]

# `nb2pipe run` compresses the store after it in a detached process by default: in tests only
# where a test asks for it (tests/test_compact.py), so no compactor outlives a test's folder
os.environ["NB2PIPE_COMPACT"] = "off"

SAMPLE_NAMES = ["churn", "house_prices", "forecast", "segmentation", "reviews_tagged"]


def make_notebook(path: Path, cells: list, kernel_language: str = "python") -> Path:
    """cells: ("code"|"md", source[, tags]) tuples."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": kernel_language}
    for i, cell in enumerate(cells):
        kind, src = cell[0], cell[1]
        c = nbformat.v4.new_code_cell(src) if kind == "code" else nbformat.v4.new_markdown_cell(src)
        c["id"] = f"c{i}"
        if len(cell) > 2 and cell[2]:
            c.metadata["tags"] = list(cell[2])
        nb.cells.append(c)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def notebook_factory(tmp_path):
    def factory(cells, name="nb.ipynb", **kw):
        return make_notebook(tmp_path / name, cells, **kw)

    return factory


def pytest_configure(config):
    sys.path.insert(0, str(ROOT / "tests"))
