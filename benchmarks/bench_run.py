"""Benchmark `nb2pipe run` against papermill executing the original notebook, on the samples.

    /work/venv/bin/python benchmarks/bench_run.py            # 3 repeats, writes RESULTS.md
    /work/venv/bin/python benchmarks/bench_run.py -r 1 --no-write

For each sample notebook, in the same benchmark run and interleaved (papermill, nb2pipe run,
no-op re-run, papermill, ...) so drift in machine load hits all alike:

* papermill: `python -m papermill NB OUT --cwd <samples> -k python3` (kernel start included);
* nb2pipe run, fresh store: `nb2pipe run PROJECT -q` after deleting PROJECT/.nb2pipe, so every
  step executes (zygote start, imports, steps, serialization, store writes included);
* no-op re-run: `nb2pipe run PROJECT -q` again, every step served from the store.

Every command is a fresh subprocess; wall time is time.perf_counter around it.
The median over the repeats is reported. Results go between the `run:start`/`run:end`
markers of benchmarks/RESULTS.md (other sections belong to other benchmarks).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLES = REPO / "sample_notebooks"
NAMES = ["churn", "house_prices", "forecast", "segmentation", "reviews_tagged"]
START, END = "<!-- run:start -->", "<!-- run:end -->"


LAST_CPU = [0.0]  # user + sys of the last timed child itself (not its children)


def timed(cmd: list[str], cwd: Path) -> float:
    err = open(cwd / "stderr.txt", "w+b")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=str(cwd), stdout=subprocess.DEVNULL, stderr=err,
                            env=dict(os.environ, MPLBACKEND="Agg"))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    err.seek(0)
    text = err.read().decode("utf-8", "replace")
    err.close()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{text[-3000:]}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", "--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("names", nargs="*", default=NAMES)
    args = ap.parse_args()
    py = sys.executable
    work = HERE / "work" / "run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    for name in args.names:
        project = work / f"{name}_pipeline"
        conv = subprocess.run([py, "-m", "nb2pipe", "convert", str(SAMPLES / f"{name}.ipynb"),
                               "-o", str(project)], capture_output=True, text=True)
        if not (project / "nb2pipe.plan.json").exists():  # warnings may exit 1; no plan: fail
            raise SystemExit(f"{name}: not converted:\n{conv.stderr}")
        pm = [py, "-m", "papermill", str(SAMPLES / f"{name}.ipynb"),
              str(work / f"{name}.out.ipynb"), "--cwd", str(SAMPLES), "-k", "python3", "--no-progress-bar", "--no-log-output"]
        run = [py, "-m", "nb2pipe", "run", str(project), "-q"]
        # warm-up: bytecode caches, OS file cache
        timed(pm, work)
        timed(run, work)
        t_pm, t_run, t_noop, c_noop = [], [], [], []
        for _ in range(args.repeats):
            t_pm.append(timed(pm, work))
            shutil.rmtree(project / ".nb2pipe", ignore_errors=True)
            t_run.append(timed(run, work))
            t_noop.append(timed(run, work))
            c_noop.append(LAST_CPU[0])
        row = {"name": name, "papermill": statistics.median(t_pm),
               "run": statistics.median(t_run), "noop": statistics.median(t_noop),
               "noop_cpu": statistics.median(c_noop),
               "steps": len(list((project / project.name.replace("-", "_")).glob("steps/*.py")))
               - 1}
        row["ratio"] = row["run"] / row["papermill"]
        rows.append(row)
        print(f"{name:<15} papermill {row['papermill']:6.2f}s  nb2pipe run {row['run']:6.2f}s "
              f"({row['ratio']:.2f}x)  no-op {row['noop']:.3f}s (cpu {row['noop_cpu']:.3f}s)",
              flush=True)
    tot_pm = sum(r["papermill"] for r in rows)
    tot_run = sum(r["run"] for r in rows)
    print(f"{'total':<15} papermill {tot_pm:6.2f}s  nb2pipe run {tot_run:6.2f}s "
          f"({tot_run / tot_pm:.2f}x)  no-op max {max(r['noop'] for r in rows):.3f}s")
    if not args.no_write:
        write_results(rows, args.repeats)
    return 0


def write_results(rows: list[dict], repeats: int) -> None:
    try:
        load = os.getloadavg()
        load_s = f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end"
    except OSError:
        load_s = ""
    lines = [START, "## `nb2pipe run` vs papermill (benchmarks/bench_run.py)", "",
             f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC, Python "
             f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
             f"median of {repeats} interleaved repeats; {load_s}.", "",
             "Wall time of a fresh process each: papermill executing the original notebook "
             "(kernel start included) vs `nb2pipe run` of its converted project with a fresh "
             "store (every step executes: warm zygote start, imports once, one fork per "
             "step, values serialized into the store), and the no-op re-run with every step "
             "served from the store (its own CPU time, user + sys, from os.wait4, in brackets: on "
             "a loaded machine the wall time is mostly waiting for a CPU). Goals: run ≤ 1.0x "
             "papermill, no-op ≤ 0.3 s.", "",
             "| notebook | steps | papermill (s) | nb2pipe run (s) | ratio | no-op re-run (s) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['steps']} | {r['papermill']:.2f} | {r['run']:.2f} | "
                     f"{r['ratio']:.2f}x | {r['noop']:.3f} ({r['noop_cpu']:.3f} cpu) |")
    tot_pm = sum(r["papermill"] for r in rows)
    tot_run = sum(r["run"] for r in rows)
    lines.append(f"| **total** | | {tot_pm:.2f} | {tot_run:.2f} | {tot_run / tot_pm:.2f}x | "
                 f"max {max(r['noop'] for r in rows):.3f} |")
    lines.append(END)
    block = "\n".join(lines)
    path = HERE / "RESULTS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
