"""Time the pre-commit hooks' work on unchanged notebooks: `nb2pipe check` (goal: <= 0.3 s
for one notebook, interpreter start-up included) and the fast path of `nb2pipe sync`.

    /work/venv/bin/python benchmarks/bench_hooks.py              # writes the "hooks" section
    /work/venv/bin/python benchmarks/bench_hooks.py --no-write   # print only

Each command runs as the hook runs it (`entry` + `args` of .pre-commit-hooks.yaml), in a fresh
process, on the sample notebooks converted once beforehand (so each check exits 0). pre-commit's
own start-up (~0.2-0.4 s, once per commit for all hooks) is not included.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_convert import (bin_path, child_env, machine_info, med, run_child,  # noqa: E402
                           venv_python, write_results)

GOAL_S = 0.3
SAMPLES = ("churn", "forecast", "house_prices", "reviews_tagged", "segmentation")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    nb2pipe = bin_path("nb2pipe")
    python = venv_python(nb2pipe)
    work = Path(tempfile.mkdtemp(prefix="nb2pipe-bench-hooks-"))
    try:
        env = child_env("cached", work)
        nbs = []
        for name in SAMPLES:
            nb = work / f"{name}.ipynb"
            shutil.copy(REPO / "sample_notebooks" / f"{name}.ipynb", nb)
            r = run_child([nb2pipe, "convert", str(nb)], env, work)
            if not (work / f"{name}_pipeline" / "nb2pipe.lock.json").is_file():
                raise SystemExit(f"bench: convert {nb} failed:\n{r.stderr}")
            nbs.append(str(nb))
        hook = ["--ignore-unconverted"]
        cmds = {
            "python -c pass": [python, "-c", "pass"],
            "nb2pipe check (1 notebook)": [nb2pipe, "check", *hook, nbs[0]],
            f"nb2pipe check ({len(nbs)} notebooks)": [nb2pipe, "check", *hook, *nbs],
            "nb2pipe sync (1 notebook, up to date)": [nb2pipe, "sync", *hook, nbs[0]],
        }
        for cmd in cmds.values():  # warm-up (bytecode), and each must exit 0
            r = run_child(cmd, env, work)
            if r.rc != 0:
                raise SystemExit(f"bench: {' '.join(cmd)} exit {r.rc}:\n{r.stderr}")
        runs: dict[str, list] = {k: [] for k in cmds}
        for _ in range(args.repeats):
            for k, cmd in cmds.items():
                runs[k].append(run_child(cmd, env, work))
        info = machine_info(python)
        res = {k: {"wall": med([r.wall for r in rs]), "min": min(r.wall for r in rs),
                   "cpu": med([r.cpu for r in rs])} for k, rs in runs.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    one = res["nb2pipe check (1 notebook)"]
    verdict = "meets" if one["wall"] <= GOAL_S else "misses"
    lines = [
        "## Pre-commit hooks",
        "",
        f"Run {info['date']} · machine: nproc={info['nproc']}, {info['cpu']}, load "
        f"{info['load']} · Python {info['python']} · nb2pipe {info['nb2pipe']} "
        f"(commit {info['commit']}).",
        "",
        f"`nb2pipe check` on one unchanged notebook: **{one['wall'] * 1000:.0f} ms** median "
        f"(min {one['min'] * 1000:.0f} ms), start-up included — {verdict} the "
        f"{GOAL_S * 1000:.0f} ms goal. Median of {args.repeats} interleaved runs, each a fresh "
        "process, as the hooks run them (`--ignore-unconverted`), on the sample notebooks "
        "converted beforehand. pre-commit's own start-up is not included.",
        "",
        "| command | wall ms | min ms | CPU ms |",
        "|---|---:|---:|---:|",
    ]
    for k, r in res.items():
        lines.append(f"| `{k}` | {r['wall'] * 1000:.1f} | {r['min'] * 1000:.1f} | "
                     f"{r['cpu'] * 1000:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_results(Path(args.results), {"hooks": text})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
