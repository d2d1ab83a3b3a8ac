"""`nb2pipe run`, `nb2pipe status` and `nb2pipe runs ...` (plugins of nb2pipe.cli).

`configure` only declares arguments (no heavy imports); `main` does the work.
"""

from __future__ import annotations

from nb2pipe.diagnostics import ExitCode
import argparse
import datetime as _dt
import json
import shutil
import sys
from pathlib import Path
from typing import Any



def configure(parser: argparse.ArgumentParser) -> None:
    command = parser.prog.split()[-1]
    if command == "run":
        parser.add_argument("project", help="generated project folder (holds nb2pipe.plan.json)")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="override a pipeline parameter (Python literal)")
        parser.add_argument("-j", "--jobs", type=int, default=0,
                            help="steps run in parallel at most (default: CPU count)")
        parser.add_argument("--no-cache", action="store_true",
                            help="run every step, even if its results are in the store")
        parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")
        parser.add_argument("--mlflow", nargs="?", const="", default=None, metavar="URI",
                            help="also log the run to MLflow (default URI: "
                                 "$MLFLOW_TRACKING_URI; on by itself when that is set)")
        parser.add_argument("--register", metavar="NAME",
                            help="register the run's model in MLflow's model registry")
        parser.add_argument("--compact", choices=("background", "now", "off"), default=None,
                            help="compress the run's stored tables after it (zstd, where it "
                                 "saves a fifth): background (default; a detached, niced "
                                 "`nb2pipe runs compact`, log in .nb2pipe/compact.log), now "
                                 "(before returning) or off (later: `nb2pipe runs compact`); "
                                 "default from $NB2PIPE_COMPACT")
    elif command == "status":
        parser.add_argument("project")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument("--json", action="store_true")
    else:
        sub = parser.add_subparsers(dest="runs_command", parser_class=type(parser))
        sub.required = True
        p = sub.add_parser("list", help="runs recorded in a project's store")
        p.add_argument("project")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("show", help="one run: steps, artifacts, metrics, lineage")
        p.add_argument("project")
        p.add_argument("run", nargs="?", default="latest", help="run id, or latest (default)")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("compare", help="parameter, metric and artifact differences")
        p.add_argument("project")
        p.add_argument("run_a")
        p.add_argument("run_b")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("logs", help="a step's captured stdout/stderr")
        p.add_argument("project")
        p.add_argument("run")
        p.add_argument("step")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("gc", help="delete old runs and the artifacts only they use")
        p.add_argument("project")
        p.add_argument("--keep-last", type=_count, metavar="N",
                       help="keep the newest N runs")
        p.add_argument("--keep-days", type=_days, metavar="D",
                       help="keep the runs started in the last D days")
        p.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("compact", help="compress the stored tables that await it (zstd, "
                           "where it saves a fifth); `nb2pipe run` starts this by itself")
        p.add_argument("project")
        p.add_argument("--dry-run", action="store_true", help="say what would be compressed")
        p.add_argument("--json", action="store_true")
        p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
        p = sub.add_parser("fetch", help="copy an artifact of a run out of the store")
        p.add_argument("project")
        p.add_argument("run")
        p.add_argument("name", help="output name (e.g. model)")
        p.add_argument("--step", help="the producing step (default: the last one)")
        p.add_argument("-o", "--output", help="file to write (default: ./NAME.<format>)")
        p.add_argument("--json", action="store_true")


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of runs, got {text!r}")
    return int(text)


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not days >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of days (0 or more), got {text!r}")
    return days


def _err(msg: str) -> int:
    print(f"nb2pipe: error: {msg}", file=sys.stderr)
    return ExitCode.USAGE


def main(args: argparse.Namespace) -> int:
    from nb2pipe.runner.project import ProjectError
    from nb2pipe.tracking.store import StoreBusy, StoreError

    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "status":
            return cmd_status(args)
        return cmd_runs(args)
    except StoreBusy as exc:
        print(f"nb2pipe: {exc}", file=sys.stderr)
        return ExitCode.FINDINGS
    except (ProjectError, StoreError, KeyError) as exc:
        return _err(str(exc).strip("'\""))
    except BrokenPipeError:  # `nb2pipe runs show ... | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK


def _mlflow_target(args: argparse.Namespace) -> tuple[str | None, int | None]:
    """The MLflow URI to log to (None: off), or an exit code when it cannot be used."""
    from nb2pipe.runner import mlflow_log

    uri = mlflow_log.target(args.mlflow)
    if uri is None:
        if args.register:
            return None, _err("--register needs MLflow: --mlflow [URI] or MLFLOW_TRACKING_URI")
        return None, None
    try:
        mlflow_log.require_mlflow()
    except mlflow_log.MlflowError as exc:
        if args.mlflow is None and not args.register:  # only the variable: run without it
            print(f"nb2pipe: warning: {mlflow_log.ENV_URI} is set, but {exc}; the run is "
                  "not logged to MLflow", file=sys.stderr)
            return None, None
        return None, _err(str(exc))
    return uri, None


def cmd_run(args: argparse.Namespace) -> int:
    from nb2pipe.runner.executor import run_project
    from nb2pipe.runner.progress import make_progress

    uri, failed = _mlflow_target(args)
    if failed is not None:
        return failed
    display = make_progress(quiet=args.quiet or args.json)
    res = run_project(Path(args.project), jobs=max(0, args.jobs), no_cache=args.no_cache,
                      display=display, param_items=args.param)
    logged, code = _log_mlflow(args, res.run_id, uri)
    if args.json:
        out = {"run": res.run_id, "status": res.status, "steps": res.steps,
               "errors": res.errors, "seconds": round(res.seconds, 3)}
        if logged:
            out["mlflow"] = logged
        print(json.dumps(out, indent=2))
    elif res.errors and not args.quiet:
        print(f"(logs: nb2pipe runs logs {args.project} {res.run_id} STEP)", file=sys.stderr)
    _compact_after_run(args)
    if code != ExitCode.OK:
        return code
    return ExitCode.OK if res.ok else ExitCode.FINDINGS


def _compact_after_run(args: argparse.Namespace) -> None:
    from nb2pipe.tracking import compact

    say = (lambda _: None) if args.quiet or args.json else \
        (lambda line: print(f"compact {line}", file=sys.stderr))
    try:
        compact.after_run(Path(args.project), args.compact, say)
    except ValueError as exc:
        print(f"nb2pipe: warning: {exc}; not compacting", file=sys.stderr)


def _log_mlflow(args: argparse.Namespace, run_id: int,
                uri: str | None) -> tuple[dict[str, Any] | None, int]:
    """The recorded run, also in MLflow; what was logged and an exit code."""
    if uri is None:
        return None, ExitCode.OK
    from nb2pipe.runner import mlflow_log

    try:
        logged = mlflow_log.log_run(Path(args.project), run_id, uri, args.register)
    except mlflow_log.MlflowError as exc:
        print(f"nb2pipe: error: {exc}", file=sys.stderr)
        return None, ExitCode.FINDINGS
    if not (args.json or args.quiet):
        reg = logged["registered"]
        print(f"mlflow: run {logged['run_id']} ({len(logged['steps'])} step runs, "
              f"{len(logged['models'])} models)" + (f"; registered {reg['name']} version "
                                                     f"{reg['version']}" if reg else ""))
    return logged, ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    from nb2pipe.runner.report import project_status

    st = project_status(Path(args.project), args.param)
    if args.json:
        print(json.dumps(st, indent=2, sort_keys=True))
    else:
        n = len(st["steps"])
        print(f"{st['package']}: " + (f"{len(st['stale'])} of {n} steps stale" if st["stale"]
                                      else f"all {n} steps up to date"))
        width = max([len(s) for s in st["steps"]] + [4])
        for name, e in st["steps"].items():
            if not e["stale"]:
                print(f"  {name:<{width}}  fresh   (run {e['run']})")
                continue
            why = e["reasons"]
            print(f"  {name:<{width}}  stale   {why[0]['kind']}: {why[0]['detail']}")
            for r in why[1:]:
                print(f"  {'':<{width}}          {r['kind']}: {r['detail']}")
        if st.get("serving") is not None:
            from nb2pipe.planning.serving_status import format_serving_status

            print(format_serving_status(st["serving"]))
        for note in st.get("notes", []):
            print(f"note: {note}")
    return ExitCode.FINDINGS if st["stale"] else ExitCode.OK


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return json.dumps(v) if not isinstance(v, str) else v


def cmd_runs(args: argparse.Namespace) -> int:
    from nb2pipe.runner import report

    project = Path(args.project)
    sub = args.runs_command
    if sub == "list":
        runs = report.list_runs(project)
        if args.json:
            print(json.dumps(runs, indent=2, sort_keys=True))
            return ExitCode.OK
        if not runs:
            print("no runs yet")
        for r in runs:
            steps = ", ".join(f"{n} {s}" for s, n in sorted(r["steps"].items()))
            git = (r["git_commit"] or "")[:8] + ("+dirty" if r["git_dirty"] else "") \
                if r["git_commit"] else "-"
            over = " ".join(f"{k}={v!r}" for k, v in (r["overrides"] or {}).items())
            mets = " ".join(f"{k}={_fmt(v)}" for k, v in list(r["metrics"].items())[:4])
            secs = f"{r['seconds']:.2f}s" if r["seconds"] is not None else "-"
            print(f"{r['id']:>4}  {r['status']:<11} {_when(r['started'])}  {secs:>8}  "
                  f"git {git:<14} {steps}" + (f"  [{over}]" if over else "")
                  + (f"  {mets}" if mets else ""))
        size = report.store_summary(project)
        waiting = f"; {_size(size['awaiting_compaction'])} await compaction" \
            if size["awaiting_compaction"] else ""
        print(f"store: {_size(size['total'])} in {project / '.nb2pipe'} "
              f"({size['artifact_count']} artifacts, {_size(size['artifacts'])}{waiting}; "
              f"database {_size(size['database'])})")
        return ExitCode.OK
    if sub == "gc":
        return _gc(args, project)
    if sub == "compact":
        return _compact(args, project)
    if sub == "show":
        run = report.show_run(project, args.run)
        if args.json:
            print(json.dumps(run, indent=2, sort_keys=True))
            return ExitCode.OK
        _print_show(run)
        return ExitCode.OK
    if sub == "compare":
        cmp = report.compare_runs(project, args.run_a, args.run_b)
        if args.json:
            print(json.dumps(cmp, indent=2, sort_keys=True))
            return ExitCode.OK
        _print_compare(cmp)
        return ExitCode.OK
    if sub == "logs":
        logs = report.step_logs(project, args.run, args.step)
        if args.json:
            print(json.dumps(logs, indent=2, sort_keys=True))
            return ExitCode.OK
        print(f"# run {logs['run']} step {logs['step']} ({logs['status']})"
              + (f": {logs['error']}" if logs["error"] else ""))
        print("# stdout\n" + logs["stdout"], end="" if logs["stdout"].endswith("\n") else "\n")
        print("# stderr\n" + logs["stderr"], end="" if logs["stderr"].endswith("\n") else "\n")
        return ExitCode.OK
    folder = report.artifact_folder(project, args.run, args.name, args.step)
    meta = json.loads((folder / "meta.json").read_text())
    dest = Path(args.output or f"{args.name}.{meta['format']}")
    shutil.copyfile(folder / meta["file"], dest)
    if args.json:
        print(json.dumps({"path": str(dest), **meta}, indent=2, sort_keys=True))
    else:
        print(f"{dest} ({meta['format']}, {meta['type']}, {_size(meta['size'])}, "
              f"sha256 {meta['sha256'][:12]})")
    return ExitCode.OK


def _gc(args: argparse.Namespace, project: Path) -> int:
    from nb2pipe.runner import report

    if args.keep_last is None and args.keep_days is None:
        return _err("say what to keep: --keep-last N and/or --keep-days D")
    res = report.gc_store(project, args.keep_last, args.keep_days, args.dry_run)
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
        return ExitCode.OK
    verb = "would delete" if res["dry_run"] else "deleted"
    runs = ", ".join(map(str, res["deleted_runs"])) or "none"
    print(f"{verb} {len(res['deleted_runs'])} runs ({runs}), {res['artifacts']} artifacts, "
          f"{res['files']} file copies" + (f", {res['orphans']} unreferenced leftovers"
                                           if res["orphans"] else "")
          + (f"; {res['taken_over']} reused step runs move to the kept runs that reused them"
             if res["taken_over"] else ""))
    now = _size(res["store_after"]["total"])
    was = "" if res["dry_run"] else f" (was {_size(res['store_before']['total'])})"
    done = res.get("compacted") or {}
    if done.get("compressed"):
        print(f"compressed {done['compressed']} kept tables: saved {_size(done['saved_bytes'])}")
    print(f"{'would free' if res['dry_run'] else 'freed'} {_size(res['freed_bytes'])}; "
          f"store {now}{was}; kept {len(res['kept_runs'])} runs")
    return ExitCode.OK


def _compact(args: argparse.Namespace, project: Path) -> int:
    """`runs compact`: exit 0 also when another compactor is at work or the store went away
    (a detached compactor must never turn a removed project into an error)."""
    import os
    import time

    from nb2pipe.tracking.compact import compact_store

    if args.background:
        if hasattr(os, "nice"):
            os.nice(19)  # after the run, on what CPU is left: a next run is not slowed
        print(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} compact {project} (pid {os.getpid()})",
              flush=True)
    quiet = args.json
    res = compact_store(project, args.dry_run,
                        say=(lambda _: None) if quiet else (lambda line: print(line, flush=True)))
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, **res.as_dict()}, indent=2, sort_keys=True))
        return ExitCode.OK
    if res.gone:
        print("no store (any more): nothing to compact")
    elif res.busy:
        print("another compaction (or runs gc) is at work on this store: nothing done")
    elif args.dry_run:
        print(f"would compress {len(res.compressed)} tables, leave {len(res.left)} "
              f"uncompressed ({_size(res.bytes_before)} await compaction)")
    else:
        print(f"compressed {len(res.compressed)} tables, left {len(res.left)} uncompressed: "
              f"{_size(res.bytes_before)} -> {_size(res.bytes_after)}, saved "
              f"{_size(res.saved)} in {res.seconds:.1f}s")
    return ExitCode.OK


def _print_show(run: dict[str, Any]) -> None:
    git = run["git_commit"] or f"- ({run['git_error']})"
    if run["git_dirty"]:
        git += " (dirty)"
    secs = f"{run['seconds']:.2f}s" if run["seconds"] is not None else "-"
    print(f"run {run['id']}: {run['status']}  {_when(run['started'])}  {secs}")
    print(f"  package {run['package']} from {run['notebook']}; python {run['python']}; "
          f"git {git}")
    if run["params"]:
        print("  params: " + ", ".join(f"{k}={v!r}" for k, v in run["params"].items()))
    if run["metrics"]:
        print("  metrics: " + ", ".join(f"{k}={_fmt(v)}" for k, v in run["metrics"].items()))
    if run["error"]:
        print(f"  error: {run['error']}")
    print()
    for name, s in run["step_runs"].items():
        how = f"cached from run {s['cached_from_run']}" if s["cached_from_run"] else s["status"]
        secs = f", {s['seconds']:.2f}s" if s["seconds"] is not None else ""
        used = s.get("resources")
        if used:
            secs += (f", peak {used['peak_rss_kb'] / 1024:.0f} MiB, "
                     f"{used['cpu_seconds']:.2f}s CPU")
        print(f"step {name}: {how}{secs}" + (f" — {s['error']}" if s["error"] else ""))
        if s["code"]:
            print("  code:   " + ", ".join(f"{k}@{v[:10]}" for k, v in s["code"].items()))
        if s["params"]:
            print("  params: " + ", ".join(f"{k}={v}" for k, v in s["params"].items()))
        if s["packages"]:
            print("  packages: " + ", ".join(f"{k} {v}" for k, v in s["packages"].items()))
        for k, v in (s["inputs"] or {}).items():
            print(f"  input   {k}@{v[:12]}")
        for k, v in (s["data"] or {}).items():
            print(f"  data    {k}@{v[:12]}")
        for k, o in s["outputs"].items():
            print(f"  output  {k}@{o['sha256'][:12]} v{o['version']} {o['format']} "
                  f"{_size(o['size'])} ({o['type']})")
        for k, o in (s.get("not_persisted") or {}).items():
            print(f"  output  {k} not persisted ({o['type']}): {o['reason']}")
        for k, o in s["written_files"].items():
            print(f"  wrote   {k}@{o['sha256'][:12]} {_size(o['size'])}")
    print("\nlineage (artifact <- step, inputs, data files read by it and its ancestors):")
    for key, lin in run["lineage"].items():
        if key.endswith("._rng"):
            continue
        ins = ", ".join(f"{i} ({v['from']})" for i, v in lin["inputs"].items()
                        if i != "_rng") or "-"
        data = ", ".join(f"{p}@{h[:8]}" for p, h in lin["all_data"].items()) or "-"
        version = f"v{lin['version']}" if lin.get("persisted", True) else "(not persisted)"
        print(f"  {key} {version} <- {lin['step']}"
              + (f" (run {lin['computed_in_run']})" if lin["computed_in_run"] else "")
              + f"; inputs: {ins}; data: {data}")


def _print_compare(c: dict[str, Any]) -> None:
    print(f"run {c['a']} ({c['status']['a']}) vs run {c['b']} ({c['status']['b']})")
    print("parameters:" + ("" if c["params"] else " same"))
    for k, v in c["params"].items():
        print(f"  {k}: {v['a']!r} -> {v['b']!r}")
    print("metrics:" + ("" if c["metrics"] else " none"))
    for k, v in c["metrics"].items():
        delta = f"  ({v['delta']:+.6g})" if "delta" in v and v["changed"] else ""
        mark = "" if v["changed"] else "  (same)"
        print(f"  {k}: {_fmt(v['a'])} -> {_fmt(v['b'])}{delta}{mark}")
    ch = [k for k in c["changed_artifacts"] if not k.endswith("._rng")]
    print(f"artifacts: {len(ch)} changed of {len(c['artifacts'])}")
    for k in ch:
        a, b = c["artifacts"][k]["a"], c["artifacts"][k]["b"]
        print(f"  {k}: " + (f"v{a['version']}" if a else "(none)") + " -> "
              + (f"v{b['version']}" if b else "(none)"))
    for title, key in (("code", "code"), ("packages", "packages"), ("data", "data")):
        if c[key]:
            print(f"{title}:")
            for step, d in c[key].items():
                for k, v in d.items():
                    print(f"  {step}: {k} {str(v['a'])[:12]} -> {str(v['b'])[:12]}")
    if c["git"]:
        print("git: " + ", ".join(f"{k} {v['a']} -> {v['b']}" for k, v in c["git"].items()))
