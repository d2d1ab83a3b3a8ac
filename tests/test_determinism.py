"""Converting is deterministic: same bytes across processes with different hash seeds."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import SAMPLES


def _digest_tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_same_bytes_across_hash_seeds(tmp_path):
    work = tmp_path / "nbs"
    shutil.copytree(SAMPLES, work, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    trees = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}" / "forecast_pipeline"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-m", "nb2pipe", "convert",
                               str(work / "forecast.ipynb"), "-o", str(out)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        trees.append(_digest_tree(out))
    assert trees[0] == trees[1]
