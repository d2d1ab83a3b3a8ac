"""`nb2pipe serve PROJECT [--port 8080] [--host 127.0.0.1]`.

Refuses to start unless the project's serving path was verified at convert --capture and,
after the training replay, still gives the notebook's predictions on the evaluation rows."""

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
                        help="serve the model of this recorded run (`nb2pipe runs list`; "
                             "default: the latest finished run of the step that fits it)")


def _fail(msg: str, code: int = ExitCode.FINDINGS) -> int:
    print(f"nb2pipe serve: {msg}", file=sys.stderr)
    return code


def run_model(project: Path, plan: Any, serving: Any, ref: str):
    """(model, where it came from) from the run store, or (None, why not): the value the
    step that makes the model stored in the chosen run (default: its latest finished run)."""
    import sqlite3

    from nb2pipe.tracking.store import Store, StoreError

    step = next((s.name for s in plan.steps if plan.serving.model in s.outputs), None)
    if step is None:
        return None, f"no step hands on {plan.serving.model}"
    try:
        store = Store(project, create=False)
    except (StoreError, OSError, sqlite3.Error) as exc:
        return None, str(exc)
    try:
        if ref == "latest":
            row = store.latest_finished(step)
        else:
            row = store.one("SELECT * FROM step_runs WHERE run_id=? AND step=? AND status IN "
                            "('finished', 'cached')", (store.resolve_run(ref), step))
        if row is None:
            return None, f"no finished run of step {step!r}"
        sha = store.outputs_of(row["id"]).get(plan.serving.model)
        if sha is None:
            return None, f"run {row['run_id']} stored no {plan.serving.model}"
        folder = store.artifact_dir(sha)
    except (StoreError, sqlite3.Error) as exc:
        return None, str(exc)
    finally:
        store.close()
    runtime = importlib.import_module(f"{plan.package}._runtime")
    return runtime.load_value(folder, plan.serving.model), f"run {row['run_id']}"


def load_service(project: Path, ref: str = "latest"):
    """(Service, None) or (None, why not)."""
    from nb2pipe.planning.model import PipelinePlan
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
    state = serving.learn()
    model, source = run_model(project, plan, serving, ref)
    if model is None and ref != "latest":
        return None, f"cannot serve the model of run {ref}: {source}"
    if model is None:
        print(f"nb2pipe serve: no model in the run store ({source}): serving the model the "
              "training replay fitted", file=sys.stderr)
        source = "the training replay"
    else:
        state.model = model
    # the run's model, on the serving path, must give the notebook's predictions (as the
    # replay's did at convert --capture)
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
    print("nb2pipe serve: replaying the training slice and checking it against the notebook...",
          file=sys.stderr, flush=True)
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
