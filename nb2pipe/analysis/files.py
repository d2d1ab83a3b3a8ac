"""Files a statement reads, inspects, writes, creates or removes, with literal paths where
the code spells them out (a computed path is recorded as `path=None`).

A mixin of `nb2pipe.analysis.cells.Analyzer`: it shares the analyzer's state (`self`). What
each call does to the file system is in the knowledge tables (analysis/rules.py).
"""

from __future__ import annotations

import ast

from nb2pipe.analysis import rules
from nb2pipe.analysis.astutil import const_path
from nb2pipe.analysis.model import FileRef, Stmt
from nb2pipe.analysis.names import root_name
from nb2pipe.notebook import Cell


class FileEffects:
    def file_refs(self, call: ast.Call, st: Stmt, cell: Cell, offset: int) -> None:
        f = call.func
        text = ast.unparse(f)[:40]
        for path_node, mode in self.file_effects_of(call):
            path = const_path(path_node) if path_node is not None else None
            st.files.append(FileRef(path=path, mode=mode, cell=cell.index,
                                    line=call.lineno + offset, call=text))

    def file_effects_of(self, call: ast.Call) -> list[tuple[ast.AST | None, str]]:
        """(path expression or None when unknown, mode) of each path the call touches."""
        f = call.func
        q = self.qual(f) or ""
        if q and rules.matches(q, rules.READ_FUNCS):
            return [(call.args[0], "read")] if call.args else []
        if q in rules.WRITE_FUNCS:
            i = rules.WRITE_FUNCS[q]
            return [(call.args[i], "write")] if len(call.args) > i else []
        if q in rules.FS_FUNCS:
            return [(call.args[i] if len(call.args) > i else None, mode)
                    for mode, i in rules.FS_FUNCS[q]]
        if q and rules.in_modules(q, rules.FS_MODULES):
            return [(None, "write")]
        if isinstance(f, ast.Name) and f.id == "open" and call.args:
            m = call.args[1] if len(call.args) > 1 else next(
                (k.value for k in call.keywords if k.arg == "mode"), None)
            mv = m.value if isinstance(m, ast.Constant) and isinstance(m.value, str) else "r"
            return [(call.args[0], "write" if any(c in mv for c in "wax+") else "read")]
        if not isinstance(f, ast.Attribute) or self.is_module_name(root_name(f.value)):
            return []
        if f.attr in rules.WRITE_METHODS:
            target = call.args[0] if call.args else next(
                (k.value for k in call.keywords if k.arg in rules.WRITE_PATH_KEYWORDS), None)
            return [(target, "write")] if target is not None else []
        if f.attr in rules.PATH_METHODS:
            return [(f.value, rules.PATH_METHODS[f.attr])]
        return []

    def function_file_mode(self, name: str, seen: frozenset[str] = frozenset()) -> str:
        """How a notebook function (or class) touches the file system when called, through
        the functions it calls too: "write" if it may change anything, "read" if it only reads
        or looks, "" if not at all. Its paths count as computed: they may be its arguments."""
        d = self.current_def.get(name)
        if d is None or name in seen:
            return ""
        modes = {mode for sub in ast.walk(d.node) if isinstance(sub, ast.Call)
                 for _, mode in self.file_effects_of(sub)}
        modes |= {self.function_file_mode(n, seen | {name}) for n in d.free
                  if n in self.current_def}
        modes.discard("")
        return "" if not modes else "read" if modes <= {"read", "stat"} else "write"
