"""nb2pipe's JupyterLab front end: the prebuilt lab extension (the server side is in nb2pipe)."""

from __future__ import annotations

try:
    from ._version import __version__  # written by the build (hatch version hook)
except ImportError:  # a source checkout that was never built
    __version__ = "0.0.0.dev0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nb2pipe-jupyterlab"}]
