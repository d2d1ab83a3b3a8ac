"""Run time saved by stripping dead scratch (issue 13 item 2), on the issue's own example.

A notebook fits and cross-validates several models one after another into the same name;
only the last score is read. The same notebook is converted and run (`nb2pipe run --no-cache`)
with the nb2pipe of this checkout and with another one (a git worktree of an older commit,
`--baseline`), interleaved, and the median time of the step itself (started -> ended in the
lineage store, so interpreter start-up is left out) is reported.

    python benchmarks/bench_dead_scratch.py --baseline /path/to/older/checkout [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELLS = [
    "import numpy as np\nfrom sklearn.datasets import make_classification\n"
    "from sklearn.model_selection import cross_val_score\nfrom sklearn.svm import SVC\n"
    "from sklearn.tree import DecisionTreeClassifier\n"
    "from sklearn.ensemble import BaggingClassifier, RandomForestClassifier",
    "X, y = make_classification(n_samples=3000, n_features=20, random_state=0)",
    "bag_model = BaggingClassifier(DecisionTreeClassifier(), n_estimators=20, random_state=0)",
    "scores = cross_val_score(SVC(), X, y, cv=5)\n"
    "scores = cross_val_score(bag_model, X, y, cv=5)\n"
    "scores = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5)\n"
    "scores = cross_val_score(RandomForestClassifier(n_estimators=50, random_state=0), X, y, "
    "cv=5)\n"
    "scores = cross_val_score(SVC(C=0.5), X, y, cv=5)",
    "best = float(scores.mean())\nprint(best)",
]


def _notebook(path: Path) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "source": src, "outputs": [],
              "execution_count": None, "id": f"c{i}"} for i, src in enumerate(CELLS)]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                      "display_name": "Python 3"}},
          "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))


def _run(checkout: Path, nb: Path, out: Path) -> float:
    # run from the notebook's folder: `python -m` puts the working folder first on sys.path,
    # which would shadow PYTHONPATH when started inside a checkout
    env = dict(os.environ, PYTHONPATH=str(checkout))
    cwd = nb.parent
    subprocess.run([sys.executable, "-m", "nb2pipe", "convert", str(nb), "-o", str(out),
                    "--force"], env=env, check=True, capture_output=True, cwd=cwd)
    run = json.loads(subprocess.run(
        [sys.executable, "-m", "nb2pipe", "run", str(out), "--no-cache", "--json"],
        env=env, check=True, capture_output=True, text=True, cwd=cwd).stdout)
    shown = json.loads(subprocess.run(
        [sys.executable, "-m", "nb2pipe", "runs", "show", str(out), str(run["run"]), "--json"],
        env=env, check=True, capture_output=True, text=True, cwd=cwd).stdout)
    return sum(r["ended"] - r["started"] for r in shown["step_runs"].values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", required=True, type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        nb = Path(tmp) / "scratch.ipynb"
        _notebook(nb)
        times: dict[str, list[float]] = {"this": [], "baseline": []}
        for _ in range(args.repeats):
            times["this"].append(_run(ROOT, nb, Path(tmp) / "this_pipeline"))
            times["baseline"].append(_run(args.baseline, nb, Path(tmp) / "base_pipeline"))
    this, base = statistics.median(times["this"]), statistics.median(times["baseline"])
    print(f"step time (nb2pipe run --no-cache), median of {args.repeats}: this checkout {this:.2f}s, "
          f"baseline {base:.2f}s, ratio {this / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
