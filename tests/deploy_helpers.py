"""Shared by the deploy tests: convert the sample notebooks once, read the emitted YAML."""

from __future__ import annotations

import contextlib
import shutil
import threading
from http.server import HTTPServer
from pathlib import Path

from conftest import SAMPLE_NAMES, SAMPLES
from nb2pipe.api import convert

GOLDEN_DEPLOY = Path(__file__).resolve().parent / "golden_deploy"
# Files whose bytes are compared with tests/golden_deploy/<sample>/ (environment-independent
# on one Python minor version; the compiled KFP YAML depends on the kfp version and is not).
GOLDEN_FILES = ("Dockerfile", ".dockerignore", "deploy/argo-workflow.yaml",
                "deploy/argo-workflow-pvc.yaml", "deploy/README.md", "deploy/kfp_pipeline.py")


def convert_samples(root: Path) -> dict[str, tuple[object, Path, Path]]:
    """Copy the samples to root/sample_notebooks and convert each to root/<name>_pipeline,
    so every relative path in the output is the same on every machine."""
    work = root / "sample_notebooks"
    if not work.exists():
        shutil.copytree(SAMPLES, work, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    results = {}
    for name in SAMPLE_NAMES:
        out = root / f"{name}_pipeline"
        res = convert(work / f"{name}.ipynb", out)
        assert res.ok, [d.format() for d in res.diagnostics]
        results[name] = (res, out, work)
    return results


def yaml_docs(path: Path) -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


@contextlib.contextmanager
def loopback_server(handler, server_cls=HTTPServer):
    """Serve `handler` on 127.0.0.1 (a free port) in a daemon thread; yields the base URL."""
    srv = server_cls(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
