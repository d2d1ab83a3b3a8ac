"""`nb2pipe serve PROJECT [--port 8080] [--host 127.0.0.1]`.

Serves the model and the serving state (what the request path learned from the training
data: fill values, fitted encoders, training columns) that one run of the pipeline stored
together; nothing is learned at start-up. Refuses to start unless the project's serving path
was verified at convert --capture and that run's model and state still give, on the serving
path, the predictions the run's replay of the notebook's statements gave."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from nb2pipe.diagnostics import ExitCode


def configure(parser: Any) -> None:
    parser.add_argument("project", help="a generated project whose serving path was verified")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--run", default="latest", metavar="RUN",
                        help="serve the model and serving state of this recorded run "
                             "(`nb2pipe runs list`; default: the latest finished run of the "
                             "step that fits it)")


def _fail(msg: str, code: int = ExitCode.FINDINGS) -> int:
    print(f"nb2pipe serve: {msg}", file=sys.stderr)
    return code


def _run_values(project: Path, plan: Any, ref: str) -> tuple[dict[str, Path] | None, str]:
    """({name: value folder} of the model and the serving state one run of the model's step
    stored, where they came from) or (None, why not). Default: its latest finished run."""
    import sqlite3

    from nb2pipe.planning.serving_status import SERVING_STATE, model_step, unservable_reason
    from nb2pipe.tracking.store import Store, StoreError

    step = model_step(plan)
    if step is None:
        return None, f"no step hands on {plan.serving.model}"
    if unservable_reason(plan):
        return None, unservable_reason(plan)
    try:
        store = Store(project, create=False)
    except (StoreError, OSError, sqlite3.Error) as exc:
        return None, f"no run of the pipeline yet ({exc}); run it: nb2pipe run {project}"
    try:
        if ref == "latest":
            row = store.latest_finished(step.name)
        else:
            row = store.one("SELECT * FROM step_runs WHERE run_id=? AND step=? AND status IN "
                            "('finished', 'cached')", (store.resolve_run(ref), step.name))
        if row is None:
            return None, (f"no finished run of step {step.name!r}; run the pipeline: "
                          f"nb2pipe run {project}")
        shas = store.outputs_of(row["id"])
        where = f"run {row['run_id']}"
        missing = [n for n in (plan.serving.model, SERVING_STATE) if n not in shas]
        if missing:
            why = ("stored no serving state (a run from before the project had a verified "
                   "serving path, or learning it failed: `nb2pipe runs show "
                   f"{row['run_id']}` has the step's log); run the pipeline again"
                   if missing == [SERVING_STATE] else f"stored no {missing[0]}")
            return None, f"{where} {why}"
        return {n: store.artifact_dir(shas[n]) for n in (plan.serving.model, SERVING_STATE)
                }, where
    except (StoreError, sqlite3.Error) as exc:
        return None, str(exc)
    finally:
        store.close()


def load_service(project: Path, ref: str = "latest"):
    """(Service, None) or (None, why not): the model and the serving state of one run, proven
    on the serving path against the predictions that run's state recorded."""
    from nb2pipe.planning.model import PipelinePlan
    from nb2pipe.planning.serving_status import SERVING_STATE
    from nb2pipe.service.app import Service
    from nb2pipe.untrusted import NotNb2pipe

    try:
        plan = PipelinePlan.load(project)
    except (FileNotFoundError, NotNb2pipe) as exc:
        return None, f"{project} is not a generated project ({exc})"
    if plan.serving is None or not plan.serving.verified:
        why = plan.serving.proof if plan.serving is not None and plan.serving.proof else (
            "convert it with --capture to derive and prove the serving path")
        return None, f"{project} has no verified serving path: {why}"
    sys.path.insert(0, str(project.resolve()))
    serving = importlib.import_module(f"{plan.package}.serving")
    if not hasattr(serving, "for_run"):
        return None, (f"{plan.package}/serving.py predates run-stored serving state: "
                      "convert the notebook again")
    folders, source = _run_values(project, plan, ref)
    if folders is None:
        which = "the latest run" if ref == "latest" else f"run {ref}"
        return None, f"cannot serve the model of {which}: {source}"
    runtime = importlib.import_module(f"{plan.package}._runtime")
    try:
        state = runtime.load_value(folders[SERVING_STATE], SERVING_STATE)
        state.model = runtime.load_value(folders[plan.serving.model], plan.serving.model)
    except Exception as exc:  # noqa: BLE001 - e.g. a state pickled by another serving.py
        return None, f"the model or serving state of {source} cannot be loaded " \
                     f"({type(exc).__name__}: {exc}); run the pipeline again"
    # the run's model, on the serving path, must give the predictions the run's replay of
    # the notebook's own statements gave (convert --capture proved those the notebook's)
    result = serving.prove(state)
    if not result.get("ok"):
        return None, (f"the model of {source} on the serving path does not reproduce the "
                      f"notebook: {result['why']}")
    return Service(serving, state, plan.package, source), None


def main(args: Any) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        return _fail("needs FastAPI and uvicorn: pip install 'nb2pipe[serve]'", ExitCode.USAGE)
    project = Path(args.project)
    if not project.is_dir():
        return _fail(f"{project}: no such folder", ExitCode.USAGE)
    print("nb2pipe serve: loading the model and its serving state from the run store, "
          "checking them against the notebook's predictions...", file=sys.stderr, flush=True)
    service, why = load_service(project, args.run)
    if service is None:
        return _fail(why)
    from nb2pipe.service.app import build_app

    print(f"nb2pipe serve: {service.name} (model of {service.source}) on "
          f"http://{args.host}:{args.port} "
          f"(POST /predict, /v2/models/{service.name}/infer, /docs)", file=sys.stderr,
          flush=True)
    uvicorn.run(build_app(service), host=args.host, port=args.port, log_level="warning")
    return ExitCode.OK
