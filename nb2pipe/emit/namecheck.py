"""Names a generated module reads but never binds (a pyflakes-style check of our own output).

The planner decides which statements a step keeps; if it keeps a statement that reads a name
whose binding it stripped, the module compiles but fails with NameError when it runs. The
self-check (`nb2pipe.api`) runs this over the generated step modules and `common.py` before
anything is written, as black checks its own output, so such a slip is an internal error
that names the module and the name instead of a pipeline that breaks at run time.

Flow-insensitive on purpose (like pyflakes' "undefined name"): a name bound anywhere in a
scope counts as bound there. Reading a name before a binding later in the same function is
the notebook's own order and not checked here.
"""

from __future__ import annotations

import ast
import builtins
import symtable

# names every module has without binding them
MODULE_NAMES = frozenset(dir(builtins)) | {
    "__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__",
    "__builtins__", "__path__", "__cached__", "__annotations__", "__dict__",
}


def unbound_names(source: str, filename: str = "<generated>") -> list[tuple[str, int, int]]:
    """(name, line, column) of each name read in `source` that no scope it can see binds,
    first read first. Empty when the module has a star import (its names are unknown)."""
    tree = ast.parse(source, filename)
    if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)
           for n in ast.walk(tree)):
        return []
    top = symtable.symtable(source, filename, "exec")
    module_bound = _module_bindings(top)
    missing: set[str] = set()
    for table in _tables(top):
        for sym in table.get_symbols():
            if not sym.is_referenced():
                continue
            name = sym.get_name()
            # not `sym.is_global()`: on Python 3.11 it is true for the parameters of a
            # function named `top` (symtable mistakes it for the module's own table)
            reads_global = table is top or not (sym.is_local() or sym.is_free())
            if reads_global and name not in module_bound and name not in MODULE_NAMES:
                missing.add(name)
    return _first_reads(tree, missing)


def _tables(top: symtable.SymbolTable):
    stack = [top]
    while stack:
        t = stack.pop()
        yield t
        stack.extend(t.get_children())


def _module_bindings(top: symtable.SymbolTable) -> set[str]:
    """Names bound at module level, including through `global` declarations in functions."""
    bound = {s.get_name() for s in top.get_symbols()
             if s.is_assigned() or s.is_imported() or s.is_namespace() or s.is_parameter()}
    for t in _tables(top):
        if t is top:
            continue
        bound |= {s.get_name() for s in t.get_symbols()
                  if s.is_declared_global() and (s.is_assigned() or s.is_imported()
                                                 or s.is_namespace())}
    return bound


def _first_reads(tree: ast.AST, names: set[str]) -> list[tuple[str, int, int]]:
    first: dict[str, tuple[int, int]] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id in names and isinstance(n.ctx, ast.Load):
            pos = (n.lineno, n.col_offset)
            if n.id not in first or pos < first[n.id]:
                first[n.id] = pos
    for name in names - set(first):  # read some other way (`del x`, an f-string ...)
        first[name] = (1, 0)
    return sorted(((name, line, col) for name, (line, col) in first.items()),
                  key=lambda r: (r[1], r[2], r[0]))
