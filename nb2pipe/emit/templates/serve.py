"""The verified serving path over HTTP, as the image runs it on a cluster:

    python -m PACKAGE.serve --model /mnt/models [--host 0.0.0.0] [--port 8080]

`--model` is the folder the pipeline's step that fits the model published (deploy/serve-*.yaml
fetch it from the artifact repository): the model's value folder and the serving state the
same run learned (`_serving`: fill values, fitted encoders, training columns), each as
`_runtime.save_value` wrote it. Nothing is learned here. Before it listens, the service checks
that this model and state, on the serving path, still give the predictions the run recorded
for the evaluation rows: a pair that disagrees is refused, never served.
The application is `_service.py`, the one `nb2pipe serve` runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.serve")
    parser.add_argument(
        "--model",
        required=True,
        help="the folder with the model's value folder and the serving state (_serving)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    return parser


def load(folder: Path):
    """(the Service, None), or (None, why the model is refused)."""
    from . import _runtime, _service, serving

    model, state = folder / serving.MODEL, folder / _runtime.SERVING_STATE
    for value in (model, state):
        if not (value / "meta.json").is_file():
            return None, f"{value}: not a value folder (meta.json missing)"
    try:
        loaded = _runtime.load_value(state, _runtime.SERVING_STATE)
        loaded.model = _runtime.load_value(model, serving.MODEL)
    except Exception as exc:  # noqa: BLE001 - e.g. a state another serving.py pickled
        return None, f"cannot load the model and state in {folder}: {exc!r}"
    result = serving.prove(loaded)
    if not result.get("ok"):
        return None, (
            f"the model and state in {folder} do not reproduce the notebook's "
            f"predictions: {result['why']}"
        )
    return _service.Service(serving, loaded, __package__, f"model {model}"), None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print(
        "serve: loading the model and its serving state, checking them...",
        file=sys.stderr,
    )
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
