"""Files a statement reads or writes, with literal paths.

A mixin of `nb2pipe.analysis.cells.Analyzer`: it shares the analyzer's state (`self`).
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
        q = self.qual(f) or ""
        path = None
        mode = ""
        if q and rules.matches(q, rules.READ_FUNCS) and call.args:
            path, mode = const_path(call.args[0]), "read"
        elif q in rules.WRITE_FUNCS and len(call.args) > rules.WRITE_FUNCS[q]:
            path, mode = const_path(call.args[rules.WRITE_FUNCS[q]]), "write"
        elif isinstance(f, ast.Attribute) and f.attr in rules.WRITE_METHODS and call.args \
                and not self.is_module_name(root_name(f.value)):
            path, mode = const_path(call.args[0]), "write"
        elif isinstance(f, ast.Name) and f.id == "open" and call.args:
            path = const_path(call.args[0])
            m = call.args[1] if len(call.args) > 1 else next(
                (k.value for k in call.keywords if k.arg == "mode"), None)
            mv = m.value if isinstance(m, ast.Constant) and isinstance(m.value, str) else "r"
            mode = "write" if any(c in mv for c in "wax+") else "read"
        if path:
            st.files.append(FileRef(path=path, mode=mode, cell=cell.index,
                                    line=call.lineno + offset, call=ast.unparse(f)[:40]))
