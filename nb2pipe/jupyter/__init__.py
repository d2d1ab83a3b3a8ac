"""The Jupyter server extension: REST endpoints under `/nb2pipe/` for the JupyterLab panel.

Importing this package imports nothing from jupyter_server; the handlers load only when the
server loads the extension, so the CLI and the pre-commit hooks stay fast.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "nb2pipe.jupyter"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from nb2pipe.jupyter.handlers import setup_handlers

    setup_handlers(serverapp.web_app)
    serverapp.log.info("nb2pipe server extension loaded: /nb2pipe/{preview,convert,check,"
                       "run,cancel,runs,verify,submit}")


def _unload_jupyter_server_extension(serverapp: Any) -> None:
    """The server stops: the runs and verifies it started stop with it."""
    jobs = serverapp.web_app.settings.get("nb2pipe_jobs")
    if jobs is not None:
        jobs.shutdown()


# jupyter-server < 2 looked for this name
load_jupyter_server_extension = _load_jupyter_server_extension
