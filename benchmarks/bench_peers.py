"""Benchmark nb2pipe against the tools users would pick instead (peers), in ONE run.

    bash benchmarks/install_peers.sh                      # once: peers in benchmarks/work/peers-*
    /work/venv/bin/python benchmarks/bench_peers.py       # full run, writes RESULTS.md + PNG
    /work/venv/bin/python benchmarks/bench_peers.py --sizes 10 100 --repeats 1 --no-write

Measured, each command a fresh subprocess (start-up and imports included), interleaved over the
repeats so drift in machine load hits all tools alike, median reported:

* convert, on the sample notebooks and on generated notebooks of 10 .. 2000 cells:
  `nb2pipe convert NB -o OUT --force` (project venv) vs `soorgeon refactor NB` (Soorgeon 0.0.20,
  peers venv) vs `jupyter-nbconvert --to python NB` (project venv; nbconvert is not an nb2pipe
  dependency: `pip install nbconvert` there first);
* Kubeflow compile: `kale --nb NB` (kubeflow-kale, writes the .kale.py DSL and compiles it to
  KFP YAML) vs nb2pipe convert + `python deploy/kfp_pipeline.py OUT.yaml` (same kfp, peers-kale
  venv) — the same end product, a compiled KFP pipeline;
* run (sample notebooks only): `nb2pipe run PROJECT -q` with a fresh store vs `ploomber build
  --force` of Soorgeon's output vs papermill on the original notebook.

All tools get the same input file. Where a peer refuses a notebook, an adapted copy is made once
(untimed) and used for *every* tool on that notebook; the refusal and each edit are recorded:
Soorgeon needs H2 headings, no IPython help syntax (`?name`), no undefined names such as
`display`, and functions that read no globals (the edit adds the global as a default argument
with its literal value); Kale needs `step:`/`prev:` cell tags and no magics (a tagged copy
derived from the headings, magics commented out). Papermill and `nb2pipe run` use the original
notebook.

Time: time.perf_counter around the child. CPU: user + sys from os.wait4. Peak RSS: ru_maxrss
from os.wait4, i.e. the largest single process among the child and the descendants it waited
for (kernels included when their parent reaps them); for the two-process nb2pipe KFP path the
larger of the two.
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLES = REPO / "sample_notebooks"
SAMPLE_NAMES = ["churn", "forecast", "house_prices", "reviews_tagged", "segmentation"]
SIZES = (10, 100, 500, 1000, 2000)
PEERS = HERE / "work"
SG_BIN = PEERS / "peers-soorgeon" / "bin"
KALE_BIN = PEERS / "peers-kale" / "bin"
START, END = "<!-- peers:start -->", "<!-- peers:end -->"
PNG = HERE / "convert_scaling.png"
sys.path.insert(0, str(HERE))

from gen_notebook import write_notebook  # noqa: E402

GOAL_CONVERT = 10.0  # soorgeon / nb2pipe
GOAL_RUN = 3.0  # ploomber build / nb2pipe run
GOAL_LINEAR = 1.25  # per-cell cost 1000->2000 over 500->1000


@dataclass
class Res:
    wall: float
    cpu: float
    rss_mb: float
    rc: int
    err: str


def run_child(cmd, cwd, env, timeout=600) -> Res:
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], cwd=str(cwd), env=env,
                                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, 9)
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return Res(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, proc.returncode, text)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def src(c) -> str:
    return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]


def last_error(text: str) -> str:
    """The most telling line of a failure log."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    pat = re.compile(r"^(\w+(Error|Exception)|soorgeon\.exceptions\.\w+|"
                     r"ploomber\.exceptions\.\w+)\b.*:")
    hits = [ln for ln in lines if pat.match(ln) and "TaskBuildError" not in ln
            and "DAGBuildError" not in ln]
    if hits:
        return hits[-1][:220]
    for key in ("Error:", "error", "Errors detected"):
        hits = [ln for ln in lines if key in ln]
        if hits:
            return hits[-1][:220]
    return (lines[-1] if lines else "(no output)")[:220]


# --------------------------------------------------------------------------- adaptations

def _literal_of(nbd, name: str) -> str:
    for c in nbd["cells"]:
        if c["cell_type"] != "code":
            continue
        for m in re.finditer(rf"^{name}\s*=\s*(.+?)\s*(#.*)?$", src(c), re.M):
            try:
                ast.literal_eval(m.group(1))
                return m.group(1)
            except (ValueError, SyntaxError):
                pass
    return "None"


def adapt_for_soorgeon(nbd, msg: str) -> list[str]:
    """Edit the notebook dict for one soorgeon refusal; return what was done ([] = nothing)."""
    done = []
    cells = nbd["cells"]
    if "H2 heading" in msg or "H1 headings" in msg or "heading" in msg.lower():
        seen_h1 = False
        n = 0
        for c in cells:
            if c["cell_type"] == "markdown":
                s = src(c)
                if re.search(r"^# ", s, re.M):
                    if seen_h1:
                        c["source"] = re.sub(r"^# ", "## ", s, flags=re.M)
                        n += 1
                    seen_h1 = True
        if n:
            done.append(f"{n} H1 headings after the title demoted to H2")
        if not any(c["cell_type"] == "markdown" and re.search(r"^## ", src(c), re.M)
                   for c in cells):
            out, k, code = [], 0, 0
            for c in cells:
                if c["cell_type"] == "code":
                    if code % 5 == 0:
                        k += 1
                        out.append({"cell_type": "markdown", "metadata": {},
                                    "source": f"## Part {k}"})
                    code += 1
                out.append(c)
            nbd["cells"] = out
            done.append(f"{k} H2 headings inserted (every 5 code cells)")
    if "SyntaxError" in msg or "invalid syntax" in msg:
        n = 0
        for c in cells:
            if c["cell_type"] == "code":
                s = src(c)
                s2 = re.sub(r"^\s*(\?\??[\w.]+|[\w.]+\?\??)\s*$", "", s, flags=re.M)
                if s2 != s:
                    c["source"] = s2
                    n += 1
        if n:
            done.append(f"IPython help lines (`?name`) removed from {n} cells")
    undef = set(re.findall(r"undefined name '(\w+)'", msg))
    if "display" in undef:
        for c in cells:
            if c["cell_type"] == "code" and re.search(r"^\s*(import|from) ", src(c), re.M):
                c["source"] = "from IPython.display import display\n" + src(c)
                done.append("`from IPython.display import display` added")
                break
    fixes = {m.group(1): re.findall(r"'(\w+)'", m.group(2))
             for m in re.finditer(r"\* Function '(\w+)' uses variables (.+)", msg)}
    if fixes:
        n = 0
        for c in cells:
            if c["cell_type"] != "code":
                continue
            s = src(c)
            for fn, vs in fixes.items():
                extra = ", ".join(f"{v}={_literal_of(nbd, v)}" for v in vs)

                def rep(m, extra=extra):
                    args = m.group(2).strip()
                    return f"{m.group(1)}({args + ', ' if args else ''}{extra}):"
                s2 = re.sub(rf"(def {fn})\((.*?)\):", rep, s)
                if s2 != s:
                    n += 1
                    s = s2
            c["source"] = s
        if n:
            done.append(f"{n} functions reading globals given them as default arguments")
    return done


def kale_tagged(nbd) -> dict:
    """A copy Kale accepts: `step:`/`prev:` tags from the headings, magics commented out."""
    nbd = json.loads(json.dumps(nbd))
    prev, cur, first, n, names = None, "setup", True, 0, set()
    for c in nbd["cells"]:
        s = src(c)
        if c["cell_type"] == "markdown":
            m = re.search(r"^##?\s+(.+)$", s, re.M)
            if m:
                base = re.sub(r"[^a-z0-9]+", "_", m.group(1).lower()).strip("_") or "step"
                if base[0].isdigit():
                    base = "s_" + base
                name, k = base, 2
                while name in names:
                    name, k = f"{base}_{k}", k + 1
                if n and cur in names:  # a section without code cells is no step
                    prev, cur, first = cur, name, True
                elif n:
                    cur, first = name, True
                else:
                    cur = name
            continue
        if c["cell_type"] != "code":
            continue
        s = re.sub(r"^(\s*)([%!])", r"\1# \2", s, flags=re.M)
        c["source"] = s
        md = c.setdefault("metadata", {})
        if not n and all(re.match(r"\s*(#|import |from |$)", ln) for ln in s.splitlines()):
            md["tags"] = ["imports"]
            continue
        tags = [f"step:{cur}"]
        if first and prev:
            tags.append(f"prev:{prev}")
        names.add(cur)
        first = False
        n += 1
        md["tags"] = tags
    return nbd


# --------------------------------------------------------------------------- the benchmark

@dataclass
class NB:
    name: str
    cells: int
    orig: Path
    path: Path  # input for every convert tool (adapted copy if soorgeon refused)
    kale_path: Path
    sample: bool
    refusal: str = ""
    adaptations: list = field(default_factory=list)
    sg_ok: bool = True
    t: dict = field(default_factory=dict)  # tool -> list[Res]
    notes: dict = field(default_factory=dict)


def prepare(nb: NB, work: Path, env) -> None:
    nbd = json.loads(nb.orig.read_text(encoding="utf-8"))
    d = work / "prep" / nb.name
    for attempt in range(6):
        nb.path = d / f"{nb.name}.ipynb"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        nb.path.write_text(json.dumps(nbd, indent=1), encoding="utf-8")
        probe = d / "probe"
        probe.mkdir()
        shutil.copy(nb.path, probe / nb.path.name)
        r = run_child([SG_BIN / "soorgeon", "refactor", nb.path.name], probe, env)
        if r.rc == 0:
            nb.sg_ok = True
            nb.t["soorgeon"] = [r]  # same command, same input: the first timed run
            break
        if attempt == 0:
            nb.refusal = last_soorgeon_reason(r.err)
        done = adapt_for_soorgeon(nbd, r.err)
        if not done:
            nb.sg_ok = False
            nb.notes["soorgeon"] = last_soorgeon_reason(r.err)
            break
        nb.adaptations += done
    shutil.rmtree(d / "probe", ignore_errors=True)
    nb.kale_path = d / f"{nb.name}_kale.ipynb"
    nb.kale_path.write_text(json.dumps(kale_tagged(nbd), indent=1), encoding="utf-8")


def last_soorgeon_reason(text: str) -> str:
    m = re.search(r"Errors detected in your source code:\s*\n((?::\d+:\d+: .*\n?)+)", text)
    if m:
        errs = m.group(1).strip().splitlines()
        return ("Errors detected in your source code: " + "; ".join(errs[:2])
                + (f" (+{len(errs) - 2} more)" if len(errs) > 2 else ""))[:260]
    m = re.search(r"Error details:\s*\n\s*\n?(.+?)(\n\n|\Z)", text, re.S)
    if m:
        reason = " ".join(m.group(1).split())
        return reason[:220]
    return last_error(text)


def bench_convert(nb: NB, work: Path, env, repeats: int, kale: bool, warm: bool) -> None:
    d = work / "conv" / nb.name
    d.mkdir(parents=True, exist_ok=True)
    nbp = [sys.executable, "-m", "nb2pipe"]
    out = d / "nb2pipe_out"
    kyaml = d / "nb2pipe_kfp.yaml"

    def nb2pipe():  # a first conversion: no formatting cache from earlier runs
        shutil.rmtree(out, ignore_errors=True)
        return run_child(nbp + ["convert", nb.path, "-o", out, "--force"], d,
                         {**env, "NB2PIPE_NO_CACHE": "1"})

    def soorgeon():
        sd = d / "sg"
        shutil.rmtree(sd, ignore_errors=True)
        sd.mkdir()
        shutil.copy(nb.path, sd / nb.path.name)
        return run_child([SG_BIN / "soorgeon", "refactor", nb.path.name], sd, env)

    def nbconvert():
        return run_child([Path(sys.executable).parent / "jupyter-nbconvert", "--to", "python",
                          nb.path, "--output-dir", d / "nbconvert_out"], d, env)

    def kale_c():
        kd = d / "kale_out"
        shutil.rmtree(kd, ignore_errors=True)
        return run_child([KALE_BIN / "kale", "--nb", nb.kale_path, "--output_path", kd,
                          "--pipeline_name", "bench"], d, env)

    def nb2pipe_kfp():
        a = nb2pipe()
        if a.rc not in (0, 1) or not (out / "deploy" / "kfp_pipeline.py").exists():
            return a
        b = run_child([KALE_BIN / "python", out / "deploy" / "kfp_pipeline.py", kyaml], out,
                      env)
        return Res(a.wall + b.wall, a.cpu + b.cpu, max(a.rss_mb, b.rss_mb), b.rc,
                   a.err + b.err)

    tools = {"nb2pipe": nb2pipe, "nbconvert": nbconvert}
    if kale:
        tools["kale"] = kale_c
        tools["nb2pipe+kfp"] = nb2pipe_kfp
    # one untimed warm-up each on the first notebook (bytecode, file cache); on the others the
    # first run is checked and kept. Soorgeon: its successful prep run is the first timed run.
    for name, fn in list(tools.items()):
        r = fn()
        if not warm:
            nb.t.setdefault(name, []).append(r)
        ok = r.rc == 0 or (name.startswith("nb2pipe") and (out / "nb2pipe.plan.json").exists())
        if not ok:
            nb.notes[name] = f"failed (exit {r.rc}): {last_error(r.err)}"
            del tools[name]
    if nb.sg_ok:
        tools["soorgeon"] = soorgeon
    for i in range(repeats):
        for name, fn in tools.items():
            if len(nb.t.get(name, [])) < repeats:
                nb.t.setdefault(name, []).append(fn())


def bench_run(nb: NB, work: Path, env, repeats: int, warm: bool) -> None:
    d = work / "run" / nb.name
    d.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    project = d / f"{nb.name}_pipeline"
    r = run_child([py, "-m", "nb2pipe", "convert", nb.orig, "-o", project], d, env)
    if not (project / "nb2pipe.plan.json").exists():
        nb.notes["nb2pipe run"] = f"convert failed: {last_error(r.err)}"
        return
    # soorgeon's project, built where the notebook's relative paths resolve
    sg = d / "soorgeon"
    sg.mkdir()
    shutil.copy(nb.path, sg / nb.path.name)
    for extra in SAMPLES.iterdir():
        if extra.suffix == ".py" or extra.name == "data":
            (sg / extra.name).symlink_to(extra)
    (sg / "outputs").mkdir()  # notebooks write outputs/... relative to their folder
    sg_ok = nb.sg_ok and run_child([SG_BIN / "soorgeon", "refactor", nb.path.name], sg,
                                   env).rc == 0
    pm = [py, "-m", "papermill", nb.orig, d / "out.ipynb", "--cwd", SAMPLES, "-k", "python3",
          "--no-progress-bar", "--no-log-output"]
    run = [py, "-m", "nb2pipe", "run", project, "-q"]
    pb = [SG_BIN / "ploomber", "build", "--force"]

    def t_pm():
        return run_child(pm, d, env)

    def t_run():
        shutil.rmtree(project / ".nb2pipe", ignore_errors=True)
        return run_child(run, d, env)

    def t_pb():
        shutil.rmtree(sg / "output", ignore_errors=True)
        return run_child(pb, sg, env)

    tools = {"papermill": t_pm, "nb2pipe run": t_run}
    if sg_ok:
        tools["ploomber build"] = t_pb
    else:
        nb.notes["ploomber build"] = "no Soorgeon project to build"
    for name, fn in list(tools.items()):  # warm-up (first sample only; else kept as timed)
        r = fn()
        if not warm and r.rc == 0:
            nb.t.setdefault(name, []).append(r)
        if r.rc != 0:
            nb.notes[name] = (f"failed (exit {r.rc}) after {r.wall:.1f} s: "
                              f"{last_error(r.err)}")
            del tools[name]
    for _ in range(repeats):
        for name, fn in tools.items():
            if len(nb.t.get(name, [])) >= repeats:
                continue
            res = fn()
            if res.rc != 0:
                nb.notes[name] = f"failed (exit {res.rc}) in a timed repeat: {last_error(res.err)}"
            nb.t.setdefault(name, []).append(res)


def env_for(work: Path):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


def stat(nb: NB, tool: str, what="wall"):
    xs = [getattr(r, what) for r in nb.t.get(tool, []) if r.rc in (0, 1)]
    if what == "rss_mb":
        return max(xs) if xs else float("nan")
    return med(xs)


def f(x, nd=2):
    return "—" if x != x else f"{x:.{nd}f}"


def ratio(a, b):
    return "—" if (a != a or b != b or b == 0) else f"{a / b:.2f}"


def plot(gen: list[NB], kale: bool) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tools = [("nb2pipe", "nb2pipe convert", "C0", "o"),
             ("soorgeon", "soorgeon refactor", "C3", "s"),
             ("nbconvert", "jupyter nbconvert --to python", "C2", "^")]
    if kale:
        tools += [("kale", "kale --nb (KFP compile)", "C1", "D"),
                  ("nb2pipe+kfp", "nb2pipe convert + KFP compile", "C4", "v")]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), dpi=110)
    for ax, logy in zip(axes, (False, True)):
        for key, label, color, marker in tools:
            xs = [nb.cells for nb in gen if nb.t.get(key)]
            ys = [stat(nb, key) for nb in gen if nb.t.get(key)]
            if xs:
                ax.plot(xs, ys, marker=marker, color=color, label=label, linewidth=1.8)
        ax.set_xlabel("notebook size (cells)")
        ax.set_ylabel("wall time, median (s)")
        ax.grid(True, which="both", alpha=0.3)
        if logy:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title("log-log")
        else:
            ax.set_title("linear axes")
    axes[0].legend(loc="upper left", fontsize=9)
    fig.suptitle("Convert time vs notebook size (generated notebooks, fresh process each, "
                 "start-up included)", fontsize=11)
    fig.tight_layout()
    fig.savefig(PNG)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    ap.add_argument("--samples", nargs="*", default=SAMPLE_NAMES)
    ap.add_argument("-r", "--repeats", type=int, default=3, help="convert repeats")
    ap.add_argument("--sample-repeats", type=int, default=2, help="convert repeats, samples")
    ap.add_argument("--run-repeats", type=int, default=1)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--machine-note", default="",
                    help="what else the machine was doing, printed with the load averages")
    args = ap.parse_args()

    if not (SG_BIN / "soorgeon").exists():
        raise SystemExit("peers not installed: bash benchmarks/install_peers.sh")
    status = (PEERS / "peers-status.txt").read_text() if (PEERS / "peers-status.txt").exists() \
        else ""
    kale = (KALE_BIN / "kale").exists() and "kale: ok" in status
    work = PEERS / "peers-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = env_for(work)
    t_start = time.time()
    load_start = os.getloadavg()

    nbs = [NB(n, 0, SAMPLES / f"{n}.ipynb", SAMPLES / f"{n}.ipynb", Path(), True)
           for n in args.samples]
    gen_dir = work / "gen"
    for size in args.sizes:
        p = write_notebook(size, gen_dir / f"nb_{size}.ipynb")
        nbs.append(NB(f"nb_{size}", size, p, p, Path(), False))
    for nb in nbs:
        nb.cells = len(json.loads(nb.orig.read_text(encoding="utf-8"))["cells"])
        prepare(nb, work, env)
        print(f"[prep] {nb.name}: soorgeon {'ok' if nb.sg_ok else 'REFUSED'}"
              f"{' after: ' + '; '.join(nb.adaptations) if nb.adaptations else ''}"
              f"{' (first refusal: ' + nb.refusal + ')' if nb.refusal else ''}"
              f"{' still: ' + nb.notes['soorgeon'] if 'soorgeon' in nb.notes else ''}", flush=True)
    big = {500: 2, 1000: 2, 2000: 1}
    for i, nb in enumerate(nbs):
        reps = args.repeats if nb.sample or nb.cells < 500 else min(args.repeats,
                                                                      big.get(nb.cells, 1))
        if nb.sample:
            reps = min(reps, args.sample_repeats)
        bench_convert(nb, work, env, reps, kale, warm=(i == 0))
        print(f"[convert] {nb.name:<15} " + "  ".join(
            f"{k} {stat(nb, k):.2f}s/{stat(nb, k, 'rss_mb'):.0f}MB" for k in nb.t)
            + (f"  notes {nb.notes}" if nb.notes else ""), flush=True)
    first = True
    for nb in nbs:
        if nb.sample:
            bench_run(nb, work, env, args.run_repeats, warm=first)
            first = False
            print(f"[run] {nb.name:<15} " + "  ".join(
                f"{k} {stat(nb, k):.2f}s" for k in ("papermill", "nb2pipe run", "ploomber build")
                if nb.t.get(k)) + (f"  notes {nb.notes}" if nb.notes else ""), flush=True)
    gen = [nb for nb in nbs if not nb.sample]
    if gen:
        plot(gen, kale)
        print(f"wrote {PNG}")
    meta = {
        "start": _dt.datetime.fromtimestamp(t_start, _dt.timezone.utc),
        "secs": time.time() - t_start, "load_start": load_start, "load_end": os.getloadavg(),
        "status": status.strip().splitlines(), "repeats": args.repeats,
        "run_repeats": args.run_repeats, "kale": kale,
        "sample_repeats": args.sample_repeats, "machine_note": args.machine_note,
    }
    text = report(nbs, meta)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


def versions_line() -> str:
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                  cwd=REPO).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    v = out([sys.executable, "-c", "import importlib.metadata as m; print(m.version('nb2pipe'),"
             " m.version('nbconvert'), m.version('papermill'))"]).split()
    commit = out(["git", "rev-parse", "--short", "HEAD"])
    dirty = " + uncommitted changes in nb2pipe/" if out(
        ["git", "status", "--porcelain", "--", "nb2pipe"]) else ""
    return (f"Python {platform.python_version()} · nb2pipe {v[0] if v else '?'} (commit "
            f"{commit}{dirty}) · nbconvert {v[1] if len(v) > 1 else '?'} · papermill "
            f"{v[2] if len(v) > 2 else '?'}")


def report(nbs: list[NB], meta: dict) -> str:
    ls, le = meta["load_start"], meta["load_end"]
    L = ["## Peers: Soorgeon, nbconvert, ploomber, papermill, Kale (benchmarks/bench_peers.py)", "",
         f"Run {meta['start']:%Y-%m-%d %H:%M} UTC · {os.cpu_count()} CPUs, "
         f"{platform.machine()} · {versions_line()} · peers: "
         + "; ".join(s.split(": ", 1)[1] if ": " in s else s for s in meta["status"])
         + f" · load average at start {ls[0]:.1f} / {ls[1]:.1f} / {ls[2]:.1f}, at end "
         f"{le[0]:.1f} / {le[1]:.1f} / {le[2]:.1f}"
         + (f" ({meta['machine_note']})" if meta.get("machine_note") else "")
         + f" · took {meta['secs'] / 60:.1f} min.", "",
         f"Repeats: convert — samples "
         f"{meta['sample_repeats']}, generated 10/100 cells {meta['repeats']}, 500/1000 cells "
         f"{min(2, meta['repeats'])}, 2000 cells 1, interleaved, median (a median of 2 is their "
         "mean); run — "
         f"{meta['run_repeats']} per tool per sample. One untimed warm-up of every tool precedes "
         "the first notebook only; after that every run counts (Soorgeon's first timed run is "
         "its successful preparation run on the same file). Every command is a fresh "
         "process (start-up included); peers run from their own venvs under benchmarks/work/ "
         "(`bash benchmarks/install_peers.sh`). Peak RSS = largest `ru_maxrss` over the runs "
         "(from `os.wait4`: the largest single process the child waited for). Ratios are "
         "nb2pipe / peer (below 1 = nb2pipe faster).", "",
         "![convert time vs notebook size](convert_scaling.png)", "",
         "### Convert", "",
         "nb2pipe runs as a first conversion (`NB2PIPE_NO_CACHE=1`: black formats all of the "
         "notebook's code; no cache from earlier runs), as Soorgeon and nbconvert do.", "",
         "| notebook | cells | nb2pipe s | soorgeon s | nbconvert s | nb2pipe/soorgeon | "
         "nb2pipe/nbconvert | nb2pipe CPU s | soorgeon CPU s | nb2pipe MB | soorgeon MB | "
         "nbconvert MB |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for nb in nbs:
        a, s, c = stat(nb, "nb2pipe"), stat(nb, "soorgeon"), stat(nb, "nbconvert")
        L.append(f"| {nb.name} | {nb.cells} | {f(a)} | {f(s)} | {f(c)} | {ratio(a, s)} | "
                 f"{ratio(a, c)} | {f(stat(nb, 'nb2pipe', 'cpu'))} | "
                 f"{f(stat(nb, 'soorgeon', 'cpu'))} | {f(stat(nb, 'nb2pipe', 'rss_mb'), 0)} | "
                 f"{f(stat(nb, 'soorgeon', 'rss_mb'), 0)} | "
                 f"{f(stat(nb, 'nbconvert', 'rss_mb'), 0)} |")
    L += ["", "What Soorgeon refused, and the edits made to the copy that **every** tool then "
          "converted (originals are used for papermill and `nb2pipe run`):", ""]
    for nb in nbs:
        if nb.refusal or not nb.sg_ok:
            what = "; ".join(nb.adaptations) if nb.adaptations else "none possible"
            tail = "" if nb.sg_ok else f" — **still refused**: {nb.notes.get('soorgeon', '')}"
            L.append(f"* {nb.name}: refused the original (\"{nb.refusal}\"); edits: {what}"
                     f"{tail}")
        else:
            L.append(f"* {nb.name}: accepted as is")
    gen = [nb for nb in nbs if not nb.sample]
    if meta["kale"]:
        L += ["", "### Kubeflow: Kale compile vs nb2pipe", "",
              "Kale (`kale --nb NB --output_path D`: notebook -> `.kale.py` KFP DSL -> compiled "
              "KFP YAML) vs nb2pipe convert + `python deploy/kfp_pipeline.py OUT.yaml` (the same "
              "kfp SDK, from the Kale venv). Kale needs `step:` cell tags and rejects magics, "
              "so it reads a copy tagged from the H2 headings with magics commented out.", "",
              "| notebook | cells | nb2pipe convert+compile s | kale s | ratio nb2pipe/kale | "
              "nb2pipe MB | kale MB |", "|---|---:|---:|---:|---:|---:|---:|"]
        for nb in nbs:
            a, k = stat(nb, "nb2pipe+kfp"), stat(nb, "kale")
            L.append(f"| {nb.name} | {nb.cells} | {f(a)} | {f(k)} | {ratio(a, k)} | "
                     f"{f(stat(nb, 'nb2pipe+kfp', 'rss_mb'), 0)} | "
                     f"{f(stat(nb, 'kale', 'rss_mb'), 0)} |")
    L += ["", "### Run (sample notebooks)", "",
          "papermill on the original notebook (kernel start included) vs `nb2pipe run PROJECT "
          "-q` with a fresh store (project converted from the original) vs `ploomber build "
          "--force` of Soorgeon's output (data folder and helper modules linked in beside it; "
          "every task runs through papermill in the peers venv's kernel).", "",
          "| notebook | papermill s | nb2pipe run s | ploomber build s | nb2pipe/ploomber | "
          "nb2pipe/papermill | papermill MB | nb2pipe MB | ploomber MB |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for nb in nbs:
        if not nb.sample:
            continue
        p, r, b = stat(nb, "papermill"), stat(nb, "nb2pipe run"), stat(nb, "ploomber build")
        L.append(f"| {nb.name} | {f(p)} | {f(r)} | {f(b) if b == b else 'failed'} | "
                 f"{ratio(r, b)} | {ratio(r, p)} | {f(stat(nb, 'papermill', 'rss_mb'), 0)} | "
                 f"{f(stat(nb, 'nb2pipe run', 'rss_mb'), 0)} | "
                 f"{f(stat(nb, 'ploomber build', 'rss_mb'), 0)} |")
    fails = [(nb.name, k, v) for nb in nbs for k, v in nb.notes.items()
             if k != "soorgeon"]
    if fails:
        L += ["", "Failures (measured, not estimated):", ""]
        L += [f"* {n} — `{k}`: {v}" for n, k, v in fails]

    # goals
    conv_ratios = [(nb.name, stat(nb, "soorgeon") / stat(nb, "nb2pipe")) for nb in nbs
                   if nb.t.get("soorgeon") and nb.t.get("nb2pipe")]
    run_ratios = [(nb.name, stat(nb, "ploomber build") / stat(nb, "nb2pipe run")) for nb in nbs
                  if nb.t.get("ploomber build") and nb.t.get("nb2pipe run")]
    L += ["", "### Goals", "", "| goal | target | measured | |", "|---|---:|---|---|"]
    if conv_ratios:
        worst = min(conv_ratios, key=lambda x: x[1])
        best = max(conv_ratios, key=lambda x: x[1])
        ok = worst[1] >= GOAL_CONVERT
        L.append(f"| convert speed-up over Soorgeon (soorgeon / nb2pipe) | ≥ {GOAL_CONVERT:.0f}x "
                 f"on every notebook | {worst[1]:.2f}x ({worst[0]}) … {best[1]:.2f}x ({best[0]})"
                 f" | **{'met' if ok else 'not met'}** |")
    else:
        L.append("| convert ≥ 10x faster than Soorgeon | ≥ 10x | no pair measured | "
                 "**not measured** |")
    n_run = sum(1 for nb in nbs if nb.sample)
    if run_ratios:
        worst = min(run_ratios, key=lambda x: x[1])
        ok = worst[1] >= GOAL_RUN and len(run_ratios) == n_run
        L.append(f"| run speed-up over ploomber build (ploomber / nb2pipe run) | ≥ "
                 f"{GOAL_RUN:.0f}x | " + ", ".join(f"{n} {x:.2f}x" for n, x in run_ratios)
                 + f" ({len(run_ratios)} of {n_run} samples built by ploomber) | "
                 f"**{'met' if ok else 'not met' if worst[1] < GOAL_RUN else 'met where ploomber built'}** |")
    else:
        L.append("| run ≥ 3x faster than ploomber build | ≥ 3x | ploomber build of Soorgeon's "
                 "output failed on every sample | **not measurable** |")
    by = {nb.cells: nb for nb in gen}
    if all(s in by for s in (500, 1000, 2000)):
        for tool in ("nb2pipe", "soorgeon", "nbconvert") + (("kale",) if meta["kale"] else ()):
            t5, t10, t20 = (stat(by[s], tool) for s in (500, 1000, 2000))
            c1, c2 = (t10 - t5) / 500 * 1000, (t20 - t10) / 1000 * 1000
            g = c2 / c1 if c1 > 0 else float("nan")
            verdict = ("**met**" if g <= GOAL_LINEAR else "**not met**") if tool == "nb2pipe" \
                else ("linear" if g <= GOAL_LINEAR else "super-linear")
            L.append(f"| linear growth, {tool}: ms per added cell 1000→2000 over 500→1000 | ≤ "
                     f"{GOAL_LINEAR} | {f(c2)} / {f(c1)} ms = {f(g)}; t(2000)/t(1000) = "
                     f"{ratio(t20, t10)} | {verdict} |")
    return "\n".join(L)


def write_section(body: str) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text(encoding="utf-8")
    block = f"{START}\n{body}\n{END}"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
