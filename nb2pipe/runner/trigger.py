"""`nb2pipe trigger PROJECT`: must the pipeline run again? And, when asked, run or submit it.

A run is due when `nb2pipe status` finds a stale step (its code, a package, a parameter or a
data file it reads changed since its last successful run, or it never ran), when a watched
source (`--data PATH_OR_URL`, for data the plan does not name, e.g. a URL) has another hash
than the last triggered run that succeeded saw, or when new data (`--drift NEW.csv`) has
drifted from the captured profile past the drift thresholds. Every decision is recorded in the
store's `triggers` table: due or not, why, what was done and how it ended.

Exit codes: 0 when nothing is due, or when it was due and the run (or submission, or its
dry run) succeeded;
1 when it is due and was not run (no --run/--submit: the caller decides), or when the run or
submission failed; 2 for bad arguments (no project, unreadable --data, --drift without a
capture).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from nb2pipe.diagnostics import ExitCode

# the reasons a run is due, in the order they are reported
KINDS = ("new", "code", "package", "parameter", "data", "drift", "store")


class TriggerError(Exception):
    """Input the trigger cannot start from (a usage error, exit 2)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="generated project folder (holds nb2pipe.plan.json)")
    parser.add_argument("--data", action="append", default=[], metavar="PATH_OR_URL",
                        help="also watch this file or http(s)/file URL: due when its content "
                             "differs from what the last successful triggered run saw")
    parser.add_argument("--drift", metavar="NEW.csv",
                        help="due when this data drifted from the captured profile")
    parser.add_argument("--threshold", type=float, default=0.2,
                        help="PSI at or above which a column has drifted (default 0.2)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="the parameters the run would use")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--run", action="store_true", help="when due, run it locally (nb2pipe run)")
    how.add_argument("--submit", choices=["argo", "kfp"], metavar="ENGINE",
                     help="when due, submit it (nb2pipe submit --engine ENGINE)")
    parser.add_argument("--submit-option", action="append", default=[], metavar="OPTION",
                        help="passed to nb2pipe submit (repeatable), e.g. "
                             "--submit-option=--image=REGISTRY/IMAGE:TAG")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")


def main(args: argparse.Namespace) -> int:
    from nb2pipe.runner.project import ProjectError
    from nb2pipe.tracking.store import Store, StoreError

    project = Path(args.project)
    try:
        decision = decide(project, args.param, args.data, args.drift, args.threshold)
    except (ProjectError, StoreError, TriggerError) as exc:
        print(f"nb2pipe: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    act(project, decision, args)
    store = Store(project)
    try:
        decision["trigger"] = store.record_trigger(decision)
    finally:
        store.close()
    _report(decision, args.json)
    return _exit_code(decision)


# ---- deciding -------------------------------------------------------------------------------

def decide(project: Path, params: list[str], data: list[str], drift_file: str | None,
           threshold: float = 0.2) -> dict[str, Any]:
    """Due or not, and why: a list of {kind, detail, step?} in KINDS order."""
    reasons = _stale_reasons(project, params)
    watched = {src: _hash_source(project, src) for src in data}
    reasons += _watched_reasons(project, watched)
    if drift_file:
        reasons += _drift_reasons(project, Path(drift_file), threshold)
    reasons.sort(key=lambda r: KINDS.index(r["kind"]))
    return {"project": str(project), "due": bool(reasons), "reasons": reasons,
            "drift_checked": drift_file,
            "watched": watched, "action": "none", "outcome": "not due", "run": None}


def _stale_reasons(project: Path, params: list[str]) -> list[dict[str, Any]]:
    """`nb2pipe status`'s reasons, once each (a data file read by two steps is one reason);
    "upstream" is left out: it only repeats the reason of a step before it."""
    from nb2pipe.runner.report import project_status

    st = project_status(project, params)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for step in st["stale"]:
        for r in st["steps"][step]["reasons"]:
            if r["kind"] == "upstream":
                continue
            key = (r["kind"], r["detail"])
            seen.setdefault(key, {"kind": r["kind"], "detail": r["detail"], "steps": []})
            seen[key]["steps"].append(step)
    return list(seen.values())


def _hash_source(project: Path, src: str) -> str:
    """sha256 of a file (relative to the project) or of what a URL answers."""
    h = hashlib.sha256()
    try:
        if "://" in src:
            import urllib.request

            if not src.startswith(("http://", "https://", "file://")):
                raise TriggerError(f"--data {src}: only files and http(s)/file URLs")
            with urllib.request.urlopen(src, timeout=60) as resp:  # noqa: S310 - scheme checked
                for block in iter(lambda: resp.read(1 << 20), b""):
                    h.update(block)
        else:
            path = Path(src) if Path(src).is_absolute() else Path.cwd() / src
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    except OSError as exc:
        raise TriggerError(f"--data {src}: cannot read: {getattr(exc, 'strerror', None) or exc}")
    return h.hexdigest()


def _watched_reasons(project: Path, watched: dict[str, str]) -> list[dict[str, Any]]:
    if not watched:
        return []
    from nb2pipe.tracking.store import Store

    store = Store(project)
    try:
        before = store.watched_hashes()
    finally:
        store.close()
    out = []
    for src, sha in watched.items():
        if before.get(src) != sha:
            what = "changed" if src in before else "not seen by a successful triggered run"
            out.append({"kind": "data", "detail": f"{src} {what}", "steps": []})
    return out


def _drift_reasons(project: Path, data: Path, threshold: float) -> list[dict[str, Any]]:
    from nb2pipe.validation.capture import CAPTURE_FILE
    from nb2pipe.validation.drift import drift_report

    if not (project / CAPTURE_FILE).is_file():
        raise TriggerError(f"--drift needs a capture ({CAPTURE_FILE}); run: nb2pipe convert "
                           "NOTEBOOK -o PROJECT --capture")
    if not data.is_file():
        raise TriggerError(f"--drift {data}: no such file")
    try:
        rep = drift_report(project, data, psi_threshold=threshold)
    except LookupError as exc:
        raise TriggerError(f"--drift {data}: {exc.args[0]}") from None
    if not rep["drift"]:
        return []
    return [{"kind": "drift", "steps": [],
             "detail": f"{data}: {len(rep['drifted'])} of {len(rep['columns'])} columns "
                       f"drifted from {rep['baseline']} ({', '.join(rep['drifted'])})"}]


# ---- acting ---------------------------------------------------------------------------------

def act(project: Path, decision: dict[str, Any], args: argparse.Namespace) -> None:
    """Run or submit when due and asked to; sets action, outcome and run."""
    if not decision["due"]:
        return
    if args.run:
        from nb2pipe.runner.executor import run_project
        from nb2pipe.runner.progress import make_progress

        from nb2pipe.tracking.compact import after_run

        res = run_project(project, display=make_progress(quiet=True), param_items=args.param)
        try:  # as `nb2pipe run` does: the store's new tables, compressed detached
            after_run(project)
        except ValueError:
            pass
        decision.update(action="run", outcome=res.status, run=res.run_id,
                        errors=res.errors)
    elif args.submit:
        # a dry run submits nothing: not "submitted", so watched sources stay unseen
        done = "dry run" if "--dry-run" in args.submit_option else "submitted"
        decision.update(action=f"submit:{args.submit}",
                        outcome=done if _submit(project, args) == 0 else "failed")
    else:
        decision["outcome"] = "due"


def _submit(project: Path, args: argparse.Namespace) -> int:
    """`nb2pipe submit` itself, with the same project, engine, parameters and options."""
    from nb2pipe.deploy import submit

    parser = argparse.ArgumentParser(prog="nb2pipe submit")
    submit.configure(parser)
    argv = [str(project), "--engine", args.submit, *args.submit_option]
    argv += [f"--param={p}" for p in args.param]
    try:
        sub_args = parser.parse_args(argv)
    except SystemExit:
        return ExitCode.USAGE
    sub_args.command = "submit"
    return int(submit.main(sub_args))


def _exit_code(decision: dict[str, Any]) -> int:
    if not decision["due"] or decision["outcome"] in ("finished", "submitted", "dry run"):
        return ExitCode.OK
    return ExitCode.FINDINGS


def _report(decision: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(decision, indent=2, sort_keys=True))
        return
    if not decision["due"]:
        print(f"{decision['project']}: nothing due (code, packages, parameters and data as in "
              "the last successful run" + ("; no drift" if decision.get("drift_checked") else "")
              + ")")
        return
    print(f"{decision['project']}: run due")
    for r in decision["reasons"]:
        steps = f" ({', '.join(r['steps'])})" if r.get("steps") else ""
        print(f"  {r['kind']}: {r['detail']}{steps}")
    what = {"run": f"ran: run {decision['run']} {decision['outcome']}",
            "none": "not run (use --run or --submit ENGINE)"}
    print(what.get(decision["action"], f"{decision['action']}: {decision['outcome']}"))
