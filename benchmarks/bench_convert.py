"""Benchmark `nb2pipe convert` against `jupyter nbconvert --to python`, and `nb2pipe check`
start-up against a bare interpreter. Run by hand (not in CI); see benchmarks/README.md.

    /work/venv/bin/python benchmarks/bench_convert.py            # full run, writes RESULTS.md
    /work/venv/bin/python benchmarks/bench_convert.py --quick    # sizes 10/100, 3 repeats, no write

Every measured command runs in a fresh subprocess (so interpreter start-up and imports are
included). Wall time comes from time.perf_counter around the child, CPU time (user + sys)
from os.wait4() for that child, peak RSS from GNU /usr/bin/time (%M) wrapped around the
command when it exists (see run_child for why). The two tools are run interleaved (nb2pipe, nbconvert, nb2pipe, ...) so drift
in machine load hits both alike. Each nb2pipe convert gets a fresh (deleted) output folder, so
every run writes every file, as nbconvert does.

Bytecode: by default children run with PYTHONDONTWRITEBYTECODE unset and PYTHONPYCACHEPREFIX
pointing into the work folder, so after the warm-up run every module (nb2pipe's own, editable
install included) loads from cached bytecode, as it would for a user. `--bytecode env` keeps
the caller's environment instead (with PYTHONDONTWRITEBYTECODE=1 nb2pipe's own modules are
recompiled from source on every run).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from gen_notebook import write_notebook  # noqa: E402

SIZES = (10, 100, 500, 1000, 2000)
GOAL_RATIO_AT = 1000
GOAL_RATIO = 1.0
GOAL_GROWTH = 11.0


@dataclass
class Run:
    wall: float
    cpu: float
    maxrss_kb: int
    rc: int
    stderr: str


TIME_BIN = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
RSS_SOURCE = ("GNU `/usr/bin/time -f %M` around each command, whose ~1 ms start-up is in "
              "the wall and CPU times" if TIME_BIN else
              "`ru_maxrss` from `os.wait4`; values below the benchmark's own ~20 MB are floored "
              "to it")


def run_child(cmd: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run one command; wall time, CPU time and peak RSS of this child alone.

    Peak RSS comes from GNU time's %M when /usr/bin/time exists: a child forked from this
    Python process inherits its RSS high-water mark, so os.wait4()'s ru_maxrss can never be
    lower than the benchmark's own RSS (~20 MB), which would hide small values. Without
    /usr/bin/time the wait4 value is used (a lower bound of that size applies).
    """
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as mem:
        full = [TIME_BIN, "-f", "%M", "-o", mem.name, *cmd] if TIME_BIN else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=cwd)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
        maxrss = int(ru.ru_maxrss)
        if TIME_BIN:
            lines = [ln for ln in mem.read().splitlines() if ln.strip()]
            if lines and lines[-1].strip().isdigit():
                maxrss = int(lines[-1])
    return Run(wall, ru.ru_utime + ru.ru_stime, maxrss, proc.returncode, text)


def med(xs) -> float:
    return statistics.median(xs)


def bin_path(name: str) -> str:
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"bench: {name} not found next to {sys.executable} or on PATH")
    return found


def venv_python(nb2pipe: str) -> str:
    """The interpreter nb2pipe runs on (the floor must use the same one)."""
    cand = Path(nb2pipe).parent / "python"
    return str(cand) if cand.exists() else sys.executable


def child_env(mode: str, work: Path) -> dict[str, str]:
    env = dict(os.environ)
    if mode == "cached":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def machine_info(python: str) -> dict[str, str]:
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                                  cwd=REPO).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = out([python, "-c", "import sys, importlib.metadata as m; "
                    "print(sys.version.split()[0], m.version('nb2pipe'), m.version('nbconvert'),"
                    " m.version('black'))"]).split()
    commit = out(["git", "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "status", "--porcelain", "--", "nb2pipe"])
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count()),
        "cpu": cpu or platform.processor() or "?",
        "os": f"{platform.system()} {platform.release()}",
        "python": versions[0] if versions else "?",
        "nb2pipe": versions[1] if len(versions) > 1 else "?",
        "nbconvert": versions[2] if len(versions) > 2 else "?",
        "black": versions[3] if len(versions) > 3 else "?",
        "commit": (commit + (" + uncommitted changes in nb2pipe/" if dirty else "")) or "?",
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def mb(kb: float) -> str:
    return f"{kb / 1024:.0f}"


def fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def bench_convert(args, env, work: Path, nb2pipe: str, nbconvert: str) -> dict:
    rows = {}
    for n in args.sizes:
        nb = write_notebook(n, work / "nbs" / f"nb_{n}.ipynb", seed=args.seed)
        out_a = work / "out" / f"nb2pipe_{n}"
        out_b = work / "out" / f"nbconvert_{n}"
        cmd_a = [nb2pipe, "convert", str(nb), "-o", str(out_a), "--force"]
        cmd_b = [nbconvert, "--to", "python", str(nb), "--output-dir", str(out_b)]
        # cold: a first conversion (no formatting cache); warm: a re-conversion, black's
        # output for the notebook's unchanged code blocks served from nb2pipe's cache (what
        # the pre-commit hook and the JupyterLab button see after an edit)
        env_cold = {**env, "NB2PIPE_NO_CACHE": "1"}
        env_warm = {k: v for k, v in env.items() if k != "NB2PIPE_NO_CACHE"}
        env_warm["NB2PIPE_CACHE_DIR"] = str(work / "format-cache")
        # validation + warm-up (not timed): exit 0, i.e. no error diagnostics
        timed_ok(cmd_a, out_a, env_cold, work)
        timed_ok(cmd_a, out_a, env_warm, work)
        if not rows:  # nbconvert's bytecode is warm after the first size
            timed_ok(cmd_b, None, env, work)
        a_runs, b_runs, w_runs = [], [], []
        failed = 0
        for _ in range(args.repeats):
            a, b = timed_ok(cmd_a, out_a, env_cold, work), timed_ok(cmd_b, None, env, work)
            w = timed_ok(cmd_a, out_a, env_warm, work)
            failed += a[1] + b[1] + w[1]
            a_runs.append(a[0])
            b_runs.append(b[0])
            w_runs.append(w[0])
        rows[n] = {
            "w_wall": med([r.wall for r in w_runs]), "w_cpu": med([r.cpu for r in w_runs]),
            "a_wall": med([r.wall for r in a_runs]), "b_wall": med([r.wall for r in b_runs]),
            "a_cpu": med([r.cpu for r in a_runs]), "b_cpu": med([r.cpu for r in b_runs]),
            "a_min": min(r.wall for r in a_runs), "b_min": min(r.wall for r in b_runs),
            "a_rss": max(r.maxrss_kb for r in a_runs), "b_rss": max(r.maxrss_kb for r in b_runs),
            "files": len(list(p for p in out_a.rglob("*") if p.is_file())),
            "failed": failed,
        }
        r = rows[n]
        print(f"  {n:5d} cells: nb2pipe {r['a_wall']:.3f}s (cpu {r['a_cpu']:.3f}s, "
              f"{mb(r['a_rss'])} MB)  nbconvert {r['b_wall']:.3f}s (cpu {r['b_cpu']:.3f}s, "
              f"{mb(r['b_rss'])} MB)  ratio {r['a_wall'] / r['b_wall']:.2f}  re-convert "
              f"{r['w_wall']:.3f}s", flush=True)
    return rows


def timed_ok(cmd: list[str], fresh: Path | None, env, work: Path,
             retries: int = 2) -> tuple[Run, int]:
    """One successful timed run, and how many failed runs preceded it. A failure is printed
    and retried (others may be editing the source tree while the benchmark runs); after
    `retries` failures in a row the benchmark stops."""
    for attempt in range(retries + 1):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        r = run_child(cmd, env, work)
        if r.rc == 0:
            return r, attempt
        print(f"bench: WARNING exit {r.rc} from {' '.join(cmd)}:\n{r.stderr.strip()}",
              flush=True)
        time.sleep(10)
    raise SystemExit(f"bench: giving up after {retries + 1} failures of {' '.join(cmd)}")


def bench_check(args, env, work: Path, nb2pipe: str) -> dict:
    python = venv_python(nb2pipe)
    sizes = [n for n in (10, GOAL_RATIO_AT) if n in args.sizes] or [args.sizes[0]]
    cmds: dict[str, list[str]] = {"python -c pass": [python, "-c", "pass"],
                                  "nb2pipe --version": [nb2pipe, "--version"]}
    for n in sizes:
        nb = work / "nbs" / f"nb_{n}.ipynb"
        out = work / "out" / f"check_{n}"
        timed_ok([nb2pipe, "convert", str(nb), "-o", str(out)], out, env, work)
        cmds[f"nb2pipe check ({n} cells)"] = [nb2pipe, "check", str(nb), "-o", str(out)]
    for cmd in cmds.values():  # warm-up, and the check must say "up to date" (exit 0)
        r = run_child(cmd, env, work)
        if r.rc != 0:
            raise SystemExit(f"bench: {' '.join(cmd)} exit {r.rc}:\n{r.stderr}")
    runs: dict[str, list[Run]] = {k: [] for k in cmds}
    for _ in range(args.check_repeats):  # interleaved
        for k, cmd in cmds.items():
            runs[k].append(run_child(cmd, env, work))
    res = {}
    for k, rs in runs.items():
        res[k] = {"wall": med([r.wall for r in rs]), "min": min(r.wall for r in rs),
                  "cpu": med([r.cpu for r in rs]), "rss": max(r.maxrss_kb for r in rs)}
        print(f"  {k:28s} {res[k]['wall'] * 1000:7.1f} ms (min {res[k]['min'] * 1000:.1f}, "
              f"cpu {res[k]['cpu'] * 1000:.1f} ms, {mb(res[k]['rss'])} MB)", flush=True)
    return res


def render_convert(info, args, rows, total) -> str:
    sizes = sorted(rows)
    lines = [
        "## Convert",
        "",
        f"Run {info['date']} · machine: nproc={info['nproc']}, {info['cpu']}, {info['os']} · "
        f"Python {info['python']} · nb2pipe {info['nb2pipe']} (commit {info['commit']}) · "
        f"nbconvert {info['nbconvert']} · black {info['black']} · load average at start "
        f"{info['load']} · bytecode: {args.bytecode} · seed {args.seed} · "
        f"benchmark took {total:.0f} s.",
        "",
        "Commands (each in a fresh process; median of "
        f"{args.repeats} interleaved runs; output folder deleted before every nb2pipe run):",
        "",
        "```",
        "python benchmarks/gen_notebook.py N            # synthetic notebook nb_N.ipynb",
        "NB2PIPE_NO_CACHE=1 nb2pipe convert nb_N.ipynb -o OUT --force   # first conversion",
        "nb2pipe convert nb_N.ipynb -o OUT --force      # re-conversion (formatting cache warm)",
        "jupyter-nbconvert --to python nb_N.ipynb --output-dir OUT",
        "```",
        "",
        "The goal is measured on the first conversion: black runs on all of the notebook's "
        "code. A re-conversion (the pre-commit hook, the JupyterLab button after an edit) "
        "takes black's output for unchanged code blocks from nb2pipe's per-notebook cache.",
        "",
        "| cells | nb2pipe wall s | nbconvert wall s | ratio nb2pipe/nbconvert | "
        "nb2pipe CPU s | nbconvert CPU s | CPU ratio | re-convert wall s | re-convert ratio | "
        "nb2pipe peak RSS MB | nbconvert peak RSS MB | files written |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        r = rows[n]
        lines.append(
            f"| {n} | {fmt_s(r['a_wall'])} | {fmt_s(r['b_wall'])} | "
            f"{r['a_wall'] / r['b_wall']:.2f} | {fmt_s(r['a_cpu'])} | {fmt_s(r['b_cpu'])} | "
            f"{r['a_cpu'] / r['b_cpu']:.2f} | {fmt_s(r['w_wall'])} | "
            f"{r['w_wall'] / r['b_wall']:.2f} | {mb(r['a_rss'])} | {mb(r['b_rss'])} | "
            f"{r['files']} |")
    lines.append("")
    nfail = sum(r.get("failed", 0) for r in rows.values())
    if nfail:
        lines += [f"**{nfail} timed run(s) failed and were retried** (see the console log); "
                  "the medians use successful runs only.", ""]
    goals = []
    if GOAL_RATIO_AT in rows:
        r = rows[GOAL_RATIO_AT]
        ratio = r["a_wall"] / r["b_wall"]
        goals.append(f"| nb2pipe / nbconvert wall time at {GOAL_RATIO_AT} cells | "
                     f"≤ {GOAL_RATIO:.1f} | {ratio:.2f} | "
                     f"{'met' if ratio <= GOAL_RATIO else '**not met**'} |")
    if 100 in rows and 1000 in rows:
        g = rows[1000]["a_wall"] / rows[100]["a_wall"]
        gc = rows[1000]["a_cpu"] / rows[100]["a_cpu"]
        goals.append(f"| nb2pipe growth time(1000) / time(100) | ≤ {GOAL_GROWTH:.0f}x | "
                     f"{g:.1f}x (CPU {gc:.1f}x) | {'met' if g <= GOAL_GROWTH else '**not met**'} |")
    if goals:
        lines += ["| goal | target | measured | |", "|---|---:|---:|---|", *goals, ""]
    lines += [
        f"Peak RSS is the largest over the runs ({RSS_SOURCE}). CPU = user + sys of the "
        "child. The machine may be shared: compare the CPU columns when wall times look noisy.",
        "",
    ]
    return "\n".join(lines)


def render_check(info, args, res) -> str:
    floor = res["python -c pass"]["wall"]
    lines = [
        "## Check start-up",
        "",
        f"Run {info['date']} · machine: nproc={info['nproc']}, {info['cpu']} · "
        f"Python {info['python']} · nb2pipe {info['nb2pipe']} (commit {info['commit']}) · "
        f"bytecode: {args.bytecode}.",
        "",
        f"Median of {args.check_repeats} interleaved runs, each a fresh process. The notebook "
        "was converted once beforehand and is unchanged, so the check exits 0. Peak RSS: "
        f"{RSS_SOURCE}.",
        "",
        "```",
        "nb2pipe check nb_N.ipynb -o OUT",
        "nb2pipe --version",
        "python -c pass                  # the floor: interpreter start-up alone",
        "```",
        "",
        "| command | wall ms | min ms | over floor ms | CPU ms | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, r in res.items():
        lines.append(f"| `{k}` | {r['wall'] * 1000:.1f} | {r['min'] * 1000:.1f} | "
                     f"{(r['wall'] - floor) * 1000:+.1f} | {r['cpu'] * 1000:.1f} | "
                     f"{mb(r['rss'])} |")
    lines.append("")
    return "\n".join(lines)


def replace_section(text: str, key: str, body: str) -> str:
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pat = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pat.search(text):
        return pat.sub(lambda _m: block, text, count=1)
    return text.rstrip() + "\n\n" + block + "\n"


def write_results(path: Path, sections: dict[str, str]) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else (
        "# nb2pipe benchmark results\n\nGenerated by the scripts in `benchmarks/` (see "
        "`benchmarks/README.md`). Each section is rewritten only by its own benchmark; keep "
        "the `<!-- name:start -->` / `<!-- name:end -->` markers.\n")
    for key, body in sections.items():
        text = replace_section(text, key, body)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark nb2pipe convert vs nbconvert.")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--repeats", type=int, default=5, help="runs per tool and size (median)")
    ap.add_argument("--check-repeats", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0, help="notebook generator seed")
    ap.add_argument("--bytecode", choices=["cached", "env"], default="cached")
    ap.add_argument("--workdir", help="keep notebooks and outputs here (default: temp folder)")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md")
    ap.add_argument("--skip-check", action="store_true", help="skip the check start-up part")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: sizes 10 100, 3 repeats, 5 check repeats, no write")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats, args.check_repeats, args.no_write = [10, 100], 3, 5, True
    args.sizes = sorted(set(args.sizes))

    nb2pipe, nbconvert = bin_path("nb2pipe"), bin_path("jupyter-nbconvert")
    tmp = None
    if args.workdir:
        work = Path(args.workdir).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="nb2pipe-bench-")
        work = Path(tmp.name)
    env = child_env(args.bytecode, work)
    info = machine_info(venv_python(nb2pipe))
    print(f"bench: {info['date']}, nproc={info['nproc']}, Python {info['python']}, "
          f"load {info['load']}, work folder {work}", flush=True)
    t0 = time.perf_counter()
    try:
        print("convert (wall median):", flush=True)
        rows = bench_convert(args, env, work, nb2pipe, nbconvert)
        total_convert = time.perf_counter() - t0
        check = None
        if not args.skip_check:
            print("check start-up:", flush=True)
            check = bench_check(args, env, work, nb2pipe)
    finally:
        if tmp is not None:
            tmp.cleanup()
    info["load_end"] = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"bench: done in {time.perf_counter() - t0:.0f} s (load at end {info['load_end']})")
    info["load"] = f"{info['load']} (at end {info['load_end']})"
    sections = {"convert": render_convert(info, args, rows, total_convert)}
    if check is not None:
        sections["check-startup"] = render_check(info, args, check)
    if args.no_write:
        print("\n\n".join(sections.values()))
    else:
        write_results(Path(args.results), sections)
        print(f"bench: wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
