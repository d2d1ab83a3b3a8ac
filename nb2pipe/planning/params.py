"""`--param NAME=VALUE`: the one parser of pipeline-parameter overrides (`nb2pipe run`,
`nb2pipe submit`). The generated `_runtime.py` has its own copy, since a generated project runs
without nb2pipe installed.

A value is a Python literal (`3`, `0.5`, `'a'`, `[1, 2]`); anything else is taken as a string,
as papermill takes its `-p` values.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any


class ParamError(ValueError):
    """A `--param` that is malformed or names no parameter of the pipeline."""


def split_param(text: str, known: Iterable[str]) -> tuple[str, str]:
    """'alpha=0.5' -> ('alpha', '0.5'), checking the name is one of `known`."""
    if "=" not in text:
        raise ParamError(f"--param expects NAME=VALUE, got {text!r}")
    name, raw = text.split("=", 1)
    name = name.strip()
    known = list(known)
    if name not in known:
        raise ParamError(f"unknown parameter {name!r}; known: {', '.join(known) or '(none)'}")
    return name, raw


def parse_params(items: Iterable[str], known: Iterable[str]) -> dict[str, Any]:
    """Overrides as values: literals evaluated, anything else a string."""
    known = list(known)
    out: dict[str, Any] = {}
    for text in items:
        name, raw = split_param(text, known)
        try:
            out[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[name] = raw
    return out


def param_sources(items: Iterable[str], known: Iterable[str]) -> dict[str, str]:
    """Overrides as Python source: a literal as written, anything else as a quoted string."""
    known = list(known)
    out: dict[str, str] = {}
    for text in items:
        name, raw = split_param(text, known)
        try:
            ast.literal_eval(raw)
            out[name] = raw
        except (ValueError, SyntaxError):
            out[name] = repr(raw)
    return out
