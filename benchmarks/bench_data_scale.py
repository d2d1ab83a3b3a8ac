"""A run's overhead at data scale (issue 19 item 4): `nb2pipe run` against papermill on a
notebook that moves a frame of at least 250 MB through five steps. Run by hand, not in CI:

    /work/main/.venv-test-new/bin/python benchmarks/bench_data_scale.py   # writes RESULTS.md
    /work/main/.venv-test-new/bin/python benchmarks/bench_data_scale.py --rows 500000 --no-write

The python running it needs nb2pipe, pandas, pyarrow, papermill and a python3 kernel.
Measured, each command a fresh subprocess, interleaved over the repeats, median reported:
wall time (perf_counter around the child), CPU time (user + system of the child and the
descendants it reaped), peak RSS (ru_maxrss from os.wait4: the largest single process among
the child and the descendants it reaped: papermill's kernel, nb2pipe's zygote and step
processes), and the store's growth (bytes under `.nb2pipe/` after a run from an empty store;
then after a second run with another parameter, and after `runs gc --keep-last 1`). The
1-minute load average is recorded with each pair: on a shared machine the wall times depend
on it, the CPU times much less.

`--frame random` (the default) fills the frame with random doubles, which no codec shrinks;
`--frame mixed` with ids, small integers, rounded amounts and random doubles, which zstd
compresses.

`nb2pipe run` is timed as the user sees it: until the command returns. It then compacts the
store (zstd where it pays) in a detached, niced process; the benchmark waits for that to
finish before the next timed command (it would take CPU from it) and reports how long it
took after the command returned. The compaction's CPU time and the store's size before and
after it are measured once more in the foreground: `nb2pipe run --compact=off`, then
`nb2pipe runs compact` as a child.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "data_scale"
START, END = "<!-- datascale:start -->", "<!-- datascale:end -->"
COLUMNS = 8
sys.path.insert(0, str(REPO))  # this checkout's nb2pipe (the store's compaction state)


LOADS = {
    "random": "df = pd.DataFrame(rng.random((ROWS, 8)), columns=[f'c{i}' for i in range(8)])",
    # half random doubles, half values zstd shrinks (still 8 float64/int64 columns)
    "mixed": ("df = pd.DataFrame({'c0': rng.random(ROWS), 'c1': rng.random(ROWS), "
              "'c2': rng.random(ROWS), 'c3': rng.random(ROWS), "
              "'c4': np.round(rng.gamma(2.0, 50.0, ROWS), 2), "
              "'c5': rng.integers(0, 100, ROWS), 'c6': np.arange(ROWS), "
              "'c7': rng.integers(1, 13, ROWS)})"),
}


def notebook_cells(rows: int, frame: str) -> list[tuple[str, list[str]]]:
    return [
        ("import numpy as np\nimport pandas as pd", ["imports"]),
        (f"ROWS = {rows}\nSCALE = 2.0", ["pipeline-parameters"]),
        ("rng = np.random.default_rng(0)\n" + LOADS[frame], ["step:load"]),
        ("df['c0'] = df['c0'] * SCALE\ndf['c1'] = df['c1'] + 1.0", ["step:scale"]),
        ("df = df[df['c2'] > 0.001]", ["step:drop_low"]),
        ("df['total'] = df.sum(axis=1)", ["step:enrich"]),
        ("mean_total = float(df['total'].mean())\nprint('mean', mean_total)",
         ["step:summarize"]),
        ("mean_total", ["pipeline-metrics"]),
    ]


def write_notebook(path: Path, rows: int, frame: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for src, tags in notebook_cells(rows, frame):
        cell = nbformat.v4.new_code_cell(src)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, str(path))


def run_child(cmd: list, cwd: Path) -> tuple[float, int, float]:
    """(seconds, peak RSS in KiB, CPU seconds) of one child process."""
    env = dict(os.environ, MPLBACKEND="Agg")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], cwd=str(cwd), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    secs = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed ({proc.returncode}):\n{err[-3000:]}")
    return secs, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def wait_for_compaction(project: Path) -> float:
    """Seconds until the detached compactor `nb2pipe run` started has finished: nothing
    awaits compaction and no compactor holds the lock (polled; it may not have started)."""
    from nb2pipe.tracking.compact import compaction_running, pending_bytes
    from nb2pipe.tracking.store import Store

    t0 = time.perf_counter()
    while True:
        store = Store(project, create=False)
        try:
            waiting = pending_bytes(store)
        finally:
            store.close()
        if not waiting and not compaction_running(project / ".nb2pipe"):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > 600:
            raise SystemExit("the background compaction did not finish in 10 minutes")
        time.sleep(0.05)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def measure(rows: int, repeats: int, frame: str) -> dict:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    nb = WORK / "scale.ipynb"
    write_notebook(nb, rows, frame)
    py = sys.executable
    project = WORK / "scale_pipeline"
    subprocess.run([py, "-m", "nb2pipe", "convert", nb, "-o", project, "--force"], check=True,
                   stdout=subprocess.DEVNULL)
    store = project / ".nb2pipe"
    pm = [py, "-m", "papermill", nb, WORK / "out.ipynb", "-k", "python3",
          "--no-progress-bar", "--no-log-output"]
    run = [py, "-m", "nb2pipe", "run", project, "-q", "--compact=background"]
    background: list[float] = []  # seconds the detached compaction took after the run
    times: dict[str, list[float]] = {"papermill": [], "nb2pipe run": []}
    peaks: dict[str, list[int]] = {"papermill": [], "nb2pipe run": []}
    cpus: dict[str, list[float]] = {"papermill": [], "nb2pipe run": []}
    loads: list[float] = []
    growth = 0
    run_child(pm, WORK)  # warm-up: page cache, kernel spec, compiled bytecode
    for _ in range(repeats):
        loads.append(os.getloadavg()[0])
        for name, cmd in (("papermill", pm), ("nb2pipe run", run)):
            shutil.rmtree(store, ignore_errors=True)
            s, kb, cpu = run_child(cmd, WORK)
            times[name].append(s)
            peaks[name].append(kb)
            cpus[name].append(cpu)
        background.append(wait_for_compaction(project))
        growth = du(store)
    show = subprocess.run([py, "-m", "nb2pipe", "runs", "show", project], check=True,
                          capture_output=True, text=True).stdout
    steps = [ln for ln in show.splitlines() if ln.startswith("step ")
             or ln.strip().startswith("output  df@")]
    cached, _, _ = run_child(run, WORK)
    wait_for_compaction(project)
    run_child(run + ["--param", "SCALE=3.0"], WORK)
    wait_for_compaction(project)
    two_runs = du(store)
    subprocess.run([py, "-m", "nb2pipe", "runs", "gc", project, "--keep-last", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    after_gc = du(store)
    # the compaction once more, in the foreground, for its CPU time and what it saves
    shutil.rmtree(store, ignore_errors=True)
    run_child(run[:-1] + ["--compact=off"], WORK)
    uncompacted = du(store)
    compact_wall, _, compact_cpu = run_child([py, "-m", "nb2pipe", "runs", "compact", project],
                                             WORK)
    compacted = du(store)
    frame_mb = rows * COLUMNS * 8 / 1e6
    return {"rows": rows, "frame_mb": frame_mb, "repeats": repeats, "times": times,
            "peaks": peaks, "cpus": cpus, "loads": loads, "frame": frame, "growth": growth,
            "cached": cached, "two_runs": two_runs, "after_gc": after_gc, "steps": steps,
            "background": background, "uncompacted": uncompacted, "compacted": compacted,
            "compact_wall": compact_wall, "compact_cpu": compact_cpu}


def render_frame(r: dict) -> list[str]:
    med = {k: statistics.median(v) for k, v in r["times"].items()}
    cpu = {k: statistics.median(v) for k, v in r["cpus"].items()}
    peak = {k: statistics.median(v) / 1024 for k, v in r["peaks"].items()}
    pm, nb = "papermill", "nb2pipe run"
    mb = 1e6
    what = {"random": "random doubles (no codec shrinks them)",
            "mixed": "half random doubles, half ids, small integers and rounded amounts "
                     "(zstd shrinks those)"}[r["frame"]]
    return [
        f"### `--frame {r['frame']}`: {what}", "",
        "| | wall time | CPU time | peak RSS (one process) |", "|---|---:|---:|---:|",
        f"| papermill | {med[pm]:.1f} s | {cpu[pm]:.1f} s | {peak[pm]:.0f} MiB |",
        f"| nb2pipe run | {med[nb]:.1f} s | {cpu[nb]:.1f} s | {peak[nb]:.0f} MiB |",
        f"| ratio | {med[nb] / med[pm]:.2f}x | {cpu[nb] / cpu[pm]:.2f}x | "
        f"{peak[nb] / peak[pm]:.2f}x |", "",
        "Issue 19's targets: time within 1.1x of papermill ("
        + ("met" if med[nb] <= 1.1 * med[pm] else "**not met**")
        + "), peak memory within 1.2x ("
        + ("met" if peak[nb] <= 1.2 * peak[pm] else "**not met**") + ").", "",
        "Compaction after the run (not part of the times above): the detached compactor "
        "finished " + ", ".join(f"{t:.1f}" for t in r["background"]) + " s after the "
        f"command returned (niced, waited for before the next timed command); in the "
        f"foreground, `runs compact` took {r['compact_wall']:.1f} s wall, "
        f"{r['compact_cpu']:.1f} s CPU, and took the store from "
        f"{r['uncompacted'] / mb:.0f} MB to {r['compacted'] / mb:.0f} MB.", "",
        f"Store: {r['growth'] / mb:.0f} MB after one run and its compaction (five frames, "
        f"identical values stored once); {r['two_runs'] / mb:.0f} MB after a second run with another "
        f"parameter; {r['after_gc'] / mb:.0f} MB after `runs gc --keep-last 1`. A re-run "
        f"served from the store: {r['cached']:.1f} s. The last run, as `nb2pipe runs show` "
        "reports it:", "", "```", *r["steps"], "```", "",
        "Raw, in order: " + "; ".join(
            f"{k} " + ", ".join(f"{t:.1f} s/{c:.1f} s CPU" for t, c in zip(v, r["cpus"][k]))
            for k, v in r["times"].items())
        + " · load average (1 min) before each pair: "
        + ", ".join(f"{x:.1f}" for x in r["loads"]), ""]


def render(results: list[dict]) -> str:
    r = results[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Data scale: `nb2pipe run` vs papermill (benchmarks/bench_data_scale.py)", "",
        f"Run {when} · nb2pipe commit {commit} · {os.cpu_count()} CPUs · a "
        f"{r['frame_mb']:.0f} MB frame ({r['rows']:,} rows x {COLUMNS} 8-byte columns) "
        f"through five steps (load, scale in place, filter, add a column, summarize) · "
        f"median of {r['repeats']} (papermill warmed up once; nb2pipe from an empty store)", "",
        "Each step runs in its own process (forked from a warm one) and hands a frame on as "
        "an uncompressed Arrow IPC file, hashed once (its content address) and memory-mapped "
        "by the next step; that file is also the stored copy during the run. After the run, "
        "a detached, niced `nb2pipe runs compact` rewrites each stored frame zstd-compressed "
        "where that saves a fifth or more. nb2pipe's times: until `nb2pipe run` returns. "
        "papermill keeps the frame in one kernel's memory.", ""]
    for r in results:
        lines += render_frame(r)
    return "\n".join(lines)


def write_results(section: str) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text()
    block = f"{START}\n{section}{END}"
    if START in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=4_000_000, help="rows of the frame "
                    "(8 float64 columns: 4,000,000 rows is 256 MB)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frame", nargs="+", choices=sorted(LOADS), default=["random", "mixed"],
                    help="what fills the frame (default: both, one after the other)")
    ap.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = ap.parse_args()
    section = render([measure(args.rows, args.repeats, f) for f in args.frame])
    print(section)
    if not args.no_write:
        write_results(section)


if __name__ == "__main__":
    main()
