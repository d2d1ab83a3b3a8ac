"""nb2pipe: turn a monolithic Jupyter notebook into a production ML pipeline."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "convert", "ConversionResult"]


def __getattr__(name: str):  # lazy: keep `import nb2pipe` (and the CLI's start) light
    if name in ("convert", "ConversionResult"):
        from nb2pipe import api

        return getattr(api, name)
    raise AttributeError(name)
