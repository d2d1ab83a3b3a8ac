"""Folders the notebook puts on `sys.path` with literal paths (`sys.path.append('../..')`).

In Jupyter such a line runs before the cells that import from the folder. In a pipeline every
step module is imported before any step runs (the package imports them all), so replaying the
line as setup state at the start of a step is too late for the imports at the top of the
modules. The package applies these folders when it is imported instead, resolved against the
notebook's folder, the working directory the relative paths meant.
"""

from __future__ import annotations

import ast

SYS_PATH_CALLS = {"sys.path.append": 0, "sys.path.insert": 1}
# wrappers that keep a literal path literal: os.path.abspath('../..') is still '../..'
PATH_WRAPPERS = ("os.path.abspath", "os.path.realpath", "os.path.normpath", "os.path.join",
                 "pathlib.Path", "str")


def _qual(e: ast.AST, imports: dict[str, str]) -> str | None:
    if isinstance(e, ast.Name):
        return imports.get(e.id)
    if isinstance(e, ast.Attribute):
        base = _qual(e.value, imports)
        return f"{base}.{e.attr}" if base else None
    return None


def literal_path(e: ast.AST, imports: dict[str, str]) -> str | None:
    """The path an expression denotes when it is built from string literals only."""
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return e.value
    if isinstance(e, ast.Call) and not e.keywords:
        q = _qual(e.func, imports) if not (isinstance(e.func, ast.Name)
                                           and e.func.id == "str") else "str"
        if q in PATH_WRAPPERS and e.args:
            parts = [literal_path(a, imports) for a in e.args]
            if any(p is None for p in parts):
                return None
            if q == "os.path.join" or len(parts) > 1:
                import posixpath

                return posixpath.join(*parts)  # type: ignore[arg-type]
            return parts[0]
    return None


def import_paths(nodes: list[ast.AST], imports: dict[str, str]) -> list[str]:
    """Literal folders the statements add to sys.path, in order."""
    found: list[str] = []
    for node in nodes:
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Call):
                continue
            idx = SYS_PATH_CALLS.get(_qual(sub.func, imports) or "")
            if idx is None or len(sub.args) <= idx:
                continue
            path = literal_path(sub.args[idx], imports)
            if path is not None and path not in found:
                found.append(path)
    return found
