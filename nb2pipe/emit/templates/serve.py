"""The verified serving path over HTTP, as the image runs it on a cluster:

    python -m PACKAGE.serve --model /mnt/models [--host 0.0.0.0] [--port 8080]

`--model` is the model's value folder as the pipeline's step wrote it (`value.*` and
`meta.json`), fetched from the artifact repository (deploy/serve-*.yaml). Before it listens,
the service replays the training slice on the data in the image (the statistics the request
path needs) and checks that this model, on the serving path, still gives the notebook's
predictions for its evaluation rows: a model that disagrees is refused, never served.
The application is `_service.py`, the one `nb2pipe serve` runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.serve")
    parser.add_argument(
        "--model", required=True, help="the model's value folder (value.* + meta.json)"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    return parser


def load(model_folder: Path):
    """(the Service, None), or (None, why the model is refused)."""
    from . import _runtime, _service, serving

    if not (model_folder / "meta.json").is_file():
        return None, f"{model_folder}: no model value folder (meta.json missing)"
    state = serving.learn()
    state.model = _runtime.load_value(model_folder, serving.MODEL)
    result = serving.prove(state)
    if not result.get("ok"):
        return None, (
            f"the model in {model_folder} does not reproduce the notebook's predictions: "
            f"{result['why']}"
        )
    return _service.Service(serving, state, __package__, f"model {model_folder}"), None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print("serve: replaying the training slice, checking the model...", file=sys.stderr)
    service, why = load(Path(args.model))
    if service is None:
        print(f"serve: {why}", file=sys.stderr)
        return 1
    import uvicorn

    from . import _service

    print(
        f"serve: {service.name} ({service.source}) on http://{args.host}:{args.port}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        _service.build_app(service), host=args.host, port=args.port, log_level="warning"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
