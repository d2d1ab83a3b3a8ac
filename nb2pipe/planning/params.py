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
    return {name: _literal(raw)[1] for name, raw in (split_param(t, known) for t in items)}


def param_sources(items: Iterable[str], known: Iterable[str]) -> dict[str, str]:
    """Overrides as Python source: a literal as written, anything else as a quoted string."""
    known = list(known)
    return {name: raw if _literal(raw)[0] else repr(raw)
            for name, raw in (split_param(t, known) for t in items)}


def _literal(raw: str) -> tuple[bool, Any]:
    """(True, value) when raw is a Python literal, else (False, raw): the one rule both forms
    of an override follow, so a run and a submission read `--param` alike."""
    try:
        return True, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return False, raw
