"""Where does `nb2pipe convert` spend its time? A phase breakdown, import cost, and optional
cProfile / pyinstrument dumps. Run by hand; see benchmarks/README.md.

    /work/venv/bin/python benchmarks/profile_convert.py 1000 2000
    /work/venv/bin/python benchmarks/profile_convert.py 1000 --cprofile /tmp/c.prof --pyinstrument

For each size this

1. runs `python -X importtime -m nb2pipe convert ...` in a fresh process and sums the import
   time per top-level package (nb2pipe, black, IPython, importlib.metadata, ...);
2. converts the notebook in-process with `nb2pipe.api.convert` (self_check=True, the CLI
   default), timing nb2pipe's phases by wrapping its functions at run time (nothing in
   nb2pipe/ is changed): read+analyze+plan, black formatting of the notebook's code blocks,
   emitting, the self-check (which plans a second time), writing. The first and second calls of `plan_notebook`
   and `render` are reported separately, so the share of the self-check is visible;
3. times `convert(..., self_check=False)` for comparison;
4. optionally writes a cProfile dump (sorted summary printed) and a pyinstrument report.

Timers are wall clock (perf_counter); the machine may be shared, so run it twice if in doubt.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_notebook import write_notebook  # noqa: E402


# ---- import time ------------------------------------------------------------------------

def import_times(cmd: list[str], env: dict[str, str]) -> tuple[float, list[tuple[str, float]]]:
    """(total import s, [(top-level package, s)]) from -X importtime of one fresh process."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *cmd], capture_output=True,
                          text=True, env=env)
    per_pkg: dict[str, float] = collections.Counter()
    total = 0.0
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        self_us, name = int(m.group(1)), m.group(4)
        top = name.split(".")[0]
        if name.startswith("importlib.metadata"):
            top = "importlib.metadata"
        per_pkg[top] += self_us / 1e6
        total += self_us / 1e6
    return total, sorted(per_pkg.items(), key=lambda kv: -kv[1])


# ---- phase timing -------------------------------------------------------------------------

class Phases:
    def __init__(self):
        self.calls: dict[str, list[float]] = collections.defaultdict(list)
        self.per_file: dict[str, float] = {}
        self._stack: list[str] = []

    def wrap(self, owner, attr: str, label: str, per_file: bool = False) -> None:
        fn = getattr(owner, attr, None)
        if fn is None:  # the tree changed under us: report what we can
            print(f"  (note: {owner.__name__}.{attr} not found; phase {label!r} not timed)")
            return
        setattr(owner, attr, self._timed(fn, label, per_file))

    def wrap_item(self, table: dict, key: str, label: str) -> None:
        table[key] = self._timed(table[key], label, False)

    def _timed(self, fn, label: str, per_file: bool):
        phases = self

        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                dt = time.perf_counter() - t0
                phases.calls[label].append(dt)
                if per_file and a:
                    phases.per_file[str(a[0])] = phases.per_file.get(str(a[0]), 0.0) + dt

        wrapper.__wrapped__ = fn
        return wrapper


def profile_inprocess(nb: Path, work: Path) -> dict:
    import nb2pipe.analysis.cells as cells
    import nb2pipe.api as api
    import nb2pipe.emit.registry as registry
    import nb2pipe.notebook as notebook
    import nb2pipe.planning.flow as flow
    import nb2pipe.writer as writer

    # warm the lazy imports (black, IPython) so they are not charged to the first phase
    t0 = time.perf_counter()
    import black  # noqa: F401
    import IPython.core.inputtransformer2  # noqa: F401
    warm_imports = time.perf_counter() - t0

    ph = Phases()
    ph.wrap(api, "plan_notebook", "plan_notebook (read+analyze+plan)")
    ph.wrap(notebook, "read_notebook", "  read_notebook")
    ph.wrap(api, "_rewrite_secrets", "  rewrite_secrets")
    ph.wrap(cells, "analyze", "  analyze")
    ph.wrap(flow, "build_plan", "  build_plan")
    ph.wrap(api, "render", "render (emit+black)")
    ph.wrap(registry, "emit_all", "  emit_all")
    try:
        import nb2pipe.emit.project as project
        ph.wrap(project, "resolve_requirements", "    resolve_requirements")
    except ImportError:
        pass
    for name in sorted(getattr(registry, "_EMITTERS", {})):  # one row per emitter
        ph.wrap_item(registry._EMITTERS, name, f"    emitter {name}")
    import nb2pipe.emit.blackchild as blackchild

    ph.wrap(blackchild, "_black", "  black (the notebook's code blocks)")
    os.environ["NB2PIPE_NO_CACHE"] = "1"  # a first conversion: nothing cached on disk
    ph.wrap(api, "_self_check", "compile check (_self_check)")
    ph.wrap(writer, "write_tree", "write_tree")

    out = work / f"inproc_{nb.stem}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    res = api.convert(nb, out, force=True)
    total = time.perf_counter() - t0
    if not res.ok:
        raise SystemExit(f"convert failed: {[d.format() for d in res.diagnostics]}")
    first = {k: list(v) for k, v in ph.calls.items()}  # phases of the first convert only
    first_per_file = dict(ph.per_file)

    # self_check=False, new folder, same process (imports and caches warm)
    out2 = work / f"inproc_nocheck_{nb.stem}"
    shutil.rmtree(out2, ignore_errors=True)
    t0 = time.perf_counter()
    api.convert(nb, out2, force=True, self_check=False)
    total_nocheck = time.perf_counter() - t0
    # and again with self_check=True now that every cache is warm
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    api.convert(nb, out, force=True)
    total_warm = time.perf_counter() - t0
    return {"calls": first, "total": total, "total_nocheck": total_nocheck,
            "total_warm": total_warm, "first_per_file": first_per_file,
            "warm_imports": warm_imports,
            "nfiles": len(res.files),
            "py_bytes": sum(len(t) for r, t in res.files.items() if r.endswith(".py"))}


def report_phases(r: dict) -> None:
    total = r["total"]
    print(f"  in-process convert (self_check=True, first call in the process): {total:.3f} s; "
          f"{r['nfiles']} files, {r['py_bytes'] / 1024:.0f} KB of Python")
    print(f"  {'phase':40s} {'calls':>5s} {'1st call s':>10s} {'2nd call s':>10s} "
          f"{'total s':>8s} {'share':>6s}")
    for label, ts in r["calls"].items():
        first = ts[0] if ts else 0.0
        second = ts[1] if len(ts) > 1 else 0.0
        n = len(ts)
        # first/second only meaningful for once-per-convert phases
        if n > 2:  # called once per file or per emitter pass: only the total is meaningful
            first = second = float("nan")
        tot = sum(ts)
        print(f"  {label:40s} {n:5d} {first:10.3f} {second:10.3f} {tot:8.3f} "
              f"{100 * tot / total:5.1f}%")
    calls = r["calls"]
    plan = calls.get("plan_notebook (read+analyze+plan)", [])
    rend = calls.get("render (emit+black)", [])
    chk = sum(calls.get("compile check (_self_check)", []))
    selfcheck = (plan[1] if len(plan) > 1 else 0) + (rend[1] if len(rend) > 1 else 0) + chk
    print(f"  self-check share (2nd plan + compile): {selfcheck:.3f} s = "
          f"{100 * selfcheck / total:.0f}% of convert")
    blk = sum(calls.get("  black (the notebook's code blocks)", []))
    print(f"  black share: {blk:.3f} s = {100 * blk / total:.0f}%")
    print(f"  convert(self_check=False): {r['total_nocheck']:.3f} s; "
          f"convert(self_check=True) again, warm: {r['total_warm']:.3f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Profile nb2pipe convert.")
    ap.add_argument("sizes", type=int, nargs="*", default=[1000, 2000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cprofile", metavar="FILE",
                    help="also write a cProfile dump of convert() on the largest size")
    ap.add_argument("--pyinstrument", action="store_true",
                    help="also print a pyinstrument report of the CLI on the largest size")
    ap.add_argument("--workdir")
    args = ap.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="nb2pipe-prof-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")

    for n in args.sizes:
        nb = write_notebook(n, work / f"nb_{n}.ipynb", seed=args.seed)
        print(f"== {n} cells ({nb})")
        out = work / f"cli_{n}"
        cli = [sys.executable, "-m", "nb2pipe", "convert", str(nb), "-o", str(out), "--force"]
        subprocess.run(cli, env=env, capture_output=True)  # warm bytecode cache
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cli, env=env, capture_output=True).returncode
        print(f"  CLI wall (fresh process, fresh output folder): {time.perf_counter() - t0:.3f} s"
              f" (exit {rc})")
        total, pkgs = import_times(cli[1:], env)
        print(f"  imports (-X importtime, self times summed): {total:.3f} s; top: " + ", ".join(
            f"{k} {v * 1000:.0f}ms" for k, v in pkgs[:8]))
        chk = [sys.executable, "-m", "nb2pipe", "check", str(nb), "-o", str(out)]
        ctotal, cpkgs = import_times(chk[1:], env)
        print(f"  `nb2pipe check` imports: {ctotal * 1000:.0f} ms; top: " + ", ".join(
            f"{k} {v * 1000:.1f}ms" for k, v in cpkgs[:6]))
        # in-process phases: a fresh interpreter per size so caches start cold
        code = ("import sys; sys.path.insert(0, %r); import profile_convert as p; "
                "r = p.profile_inprocess(p.Path(%r), p.Path(%r)); p.report_phases(r)"
                % (str(HERE), str(nb), str(work)))
        subprocess.run([sys.executable, "-c", code], env=env)

    big = work / f"nb_{max(args.sizes)}.ipynb"
    if args.cprofile:
        import cProfile
        import pstats

        import nb2pipe.api as api
        import black  # noqa: F401

        out = work / "cprof"
        shutil.rmtree(out, ignore_errors=True)
        prof = cProfile.Profile()
        prof.enable()
        api.convert(big, out, force=True)
        prof.disable()
        prof.dump_stats(args.cprofile)
        print(f"== cProfile of api.convert({big.name}) -> {args.cprofile} (top 25 by tottime)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    if args.pyinstrument:
        out = work / "pyi"
        shutil.rmtree(out, ignore_errors=True)
        print(f"== pyinstrument of the CLI on {big.name}")
        subprocess.run([sys.executable, "-m", "pyinstrument", "-i", "0.001", "-m", "nb2pipe",
                        "convert", str(big), "-o", str(out), "--force"], env=env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
