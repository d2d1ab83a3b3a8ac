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


def _fail(msg: str, code: int = ExitCode.FINDINGS) -> int:
    print(f"nb2pipe serve: {msg}", file=sys.stderr)
    return code


def load_service(project: Path):
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
    result = serving.prove(state)  # the replay may differ from the convert's (data changed)
    if not result.get("ok"):
        return None, f"the serving path no longer reproduces the notebook: {result['why']}"
    return Service(serving, state, plan.package), None


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
    service, why = load_service(project)
    if service is None:
        return _fail(why)
    from nb2pipe.service.app import build_app

    print(f"nb2pipe serve: {service.name} on http://{args.host}:{args.port} "
          f"(POST /predict, /v2/models/{service.name}/infer, /docs)", file=sys.stderr,
          flush=True)
    uvicorn.run(build_app(service), host=args.host, port=args.port, log_level="warning")
    return ExitCode.OK
