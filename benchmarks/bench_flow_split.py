"""Steps per real notebook: how the split comes out on the shared corpus (issue 13's figures).

For every notebook of ../shared/corpus/ (MANIFEST.tsv), plan it as `nb2pipe convert` would
(in-process, nothing written) and report: the split mode, the number of steps, and for each
boundary between consecutive steps the values that cross it (made by a step before it, read by
a step after it). Then the figures the issue asks for, over notebooks with at least 15 code
cells that convert: the share with 3 or more steps and the median number of values crossing a
boundary.

    python benchmarks/bench_flow_split.py [--corpus ../shared/corpus] [--split auto]

Run it with a Python that has the corpus's packages (the corpus venv): star imports are
resolved from installed modules.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nb2pipe.api import plan_notebook  # noqa: E402
from nb2pipe.diagnostics import has_errors  # noqa: E402


def crossings(plan) -> list[list[str]]:
    """For each boundary between consecutive steps (notebook order): the values made before it
    and read after it."""
    order = {s.name: i for i, s in enumerate(plan.steps)}
    out = []
    for b in range(1, len(plan.steps)):
        names = sorted({n for s in plan.steps[b:] for n, src in s.input_sources
                        if order.get(src, b) < b})
        out.append(names)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--split", default="auto")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    rows = list(csv.DictReader((corpus / "MANIFEST.tsv").open(), delimiter="\t"))
    big_steps, all_cross, table = [], [], []
    dead: dict[str, int] = {}
    t0 = time.perf_counter()
    for row in rows:
        nb = corpus / row["local_path"]
        plan, diags, _ = plan_notebook(nb, Path("/tmp") / "flow_split_probe", split=args.split)
        if plan is None or has_errors(diags):
            table.append((row["id"], int(row["code_cells"]), "refused", 0, []))
            continue
        cross = crossings(plan)
        n_dead = sum(1 for s in plan.steps for x in s.stripped
                     if x.reason == "overwritten before use")
        if n_dead:
            dead[row["id"]] = n_dead
        table.append((row["id"], int(row["code_cells"]), plan.split, len(plan.steps), cross))
        if int(row["code_cells"]) >= 15:
            big_steps.append(len(plan.steps))
            all_cross.extend(len(c) for c in cross)
    elapsed = time.perf_counter() - t0
    print(f"{'notebook':40} {'cells':>5} {'split':9} {'steps':>5}  values crossing each boundary")
    for nid, cells, mode, n, cross in table:
        print(f"{nid:40} {cells:5} {mode:9} {n:5}  {[len(c) for c in cross]}")
    share = sum(1 for n in big_steps if n >= 3) / len(big_steps) if big_steps else 0.0
    median = statistics.median(all_cross) if all_cross else 0
    print()
    print(f"notebooks with >= 15 code cells that convert: {len(big_steps)}")
    print(f"  with >= 3 steps: {sum(1 for n in big_steps if n >= 3)} ({share:.0%})")
    print(f"  values crossing a boundary: median {median}, max {max(all_cross, default=0)}, "
          f"boundaries {len(all_cross)}")
    print(f"dead scratch stripped ('overwritten before use'): {sum(dead.values())} statements "
          f"in {len(dead)} notebooks {dead}")
    print(f"planned {len(rows)} notebooks in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
