"""The JupyterLab panel's DAG layout (jupyter_extension/src/layout.ts), checked with node:
layers by longest path, no edge through a node box, labels wrapped, nothing cut off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EXT = HERE.parent / "jupyter_extension"


def test_layout_routes_edges_around_nodes_and_fits_its_labels():
    if shutil.which("node") is None:
        pytest.skip("node is missing")
    if not (EXT / "node_modules" / "typescript").is_dir():
        pytest.skip("typescript is missing (cd jupyter_extension && npm ci)")
    run = subprocess.run(["node", str(HERE / "dag_layout.cjs")], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, NODE_PATH=str(EXT / "node_modules")))
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    assert lines, run.stderr[-3000:]
    seen = json.loads(lines[-1])
    assert run.returncode == 0 and seen["ok"], seen["failures"]
    assert seen["checks"] > 1000  # the random graphs ran
