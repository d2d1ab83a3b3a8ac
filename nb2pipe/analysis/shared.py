"""What the shared module needs to know about the notebook's functions and classes: the name
each version gets there, and the notebook variables each reads (which become keyword-only
parameters of a function, or live variables of common.py for a class).

The last pass of the analysis (after stripping is decided, because only kept code binds data):
planning reads `Definition.emit_name` and `Definition.data_globals` and changes nothing.
"""

from __future__ import annotations

from nb2pipe.analysis import rules
from nb2pipe.analysis.model import Definition, Stmt

KEPT_KINDS = frozenset({"code", "setup", "save"})


def bound_names(stmts: list[Stmt], parameters) -> tuple[set[str], set[str]]:
    """The names imports bind, and the names kept code (and the parameters) bind."""
    import_names: set[str] = set()
    data_names: set[str] = set(parameters)
    for st in stmts:
        if st.kind == "import":
            import_names |= set(st.import_names)
        elif st.kind in KEPT_KINDS:
            data_names |= st.binds | st.maybe
    return import_names, data_names


def resolve_definitions(stmts: list[Stmt], definitions: list[Definition], parameters) -> None:
    """Fill in each definition's shared-module name (the last version keeps the notebook's
    name, earlier ones get `name__vN`) and the notebook variables it reads, directly or
    through the notebook functions it names."""
    by_name: dict[str, list[Definition]] = {}
    for d in definitions:
        by_name.setdefault(d.name, []).append(d)
    for name, versions in by_name.items():
        for d in versions:
            d.emit_name = name if d is versions[-1] else f"{name}__v{d.version}"
    import_names, data_names = bound_names(stmts, parameters)
    direct = {id(d): {n for n in d.free if n not in by_name and n not in import_names
                      and (n in data_names or n not in rules.BUILTINS)}
              for d in definitions}
    for d in definitions:
        seen: set[int] = set()
        found: set[str] = set()
        stack = [d]
        while stack:
            cur = stack.pop()
            if id(cur) in seen:
                continue
            seen.add(id(cur))
            found |= direct[id(cur)]
            for n in cur.free:
                stack.extend(by_name.get(n, []))
        d.data_globals = tuple(sorted(found))
