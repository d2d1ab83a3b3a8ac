"""Rewrite kept statements into step and shared-module code.

Untouched statements are copied as written (comments and layout survive); statements that
must change (calls to shared functions that now take notebook globals as keyword arguments,
compound statements with display code removed) are regenerated from the tree.
"""

from __future__ import annotations

import ast
import copy

from nb2pipe.analysis.cells import Definition, Stmt

RNG = "_rng"


def _has_multiline_string(node: ast.AST) -> bool:
    for n in ast.walk(node):
        if isinstance(n, (ast.Constant, ast.JoinedStr)) and isinstance(
                getattr(n, "value", ""), (str, list)):
            if (n.end_lineno or n.lineno) > n.lineno:
                return True
    return False


class _CallRewriter(ast.NodeTransformer):
    """f(x) -> f(x, G=G) for shared functions that read notebook globals; a bare reference
    `df.apply(f)` -> `df.apply(functools.partial(f, G=G))`."""

    def __init__(self, globals_of: dict[str, tuple[str, ...]], renames: dict[str, str]):
        self.globals_of = globals_of
        self.renames = renames
        self.used_partial = False
        self.shadow: list[set[str]] = [set()]

    def _kw(self, name: str, existing: set[str]) -> list[ast.keyword]:
        return [ast.keyword(arg=g, value=ast.Name(id=g, ctx=ast.Load()))
                for g in self.globals_of.get(name, ()) if g not in existing]

    def visit_Lambda(self, node: ast.Lambda):
        params = {a.arg for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs}
        self.shadow.append(params)
        self.generic_visit(node)
        self.shadow.pop()
        return node

    def _shadowed(self, name: str) -> bool:
        return any(name in s for s in self.shadow)

    def visit_Call(self, node: ast.Call):
        func = node.func
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        if isinstance(func, ast.Name) and not self._shadowed(func.id):
            if func.id in self.renames:
                node.func = ast.Name(id=self.renames[func.id], ctx=ast.Load())
            if self.globals_of.get(func.id):
                node.keywords = node.keywords + self._kw(
                    func.id, {k.arg for k in node.keywords if k.arg})
            return node
        node.func = self.visit(func)
        return node

    def visit_Name(self, node: ast.Name):
        if not isinstance(node.ctx, ast.Load) or self._shadowed(node.id):
            return node
        name = node.id
        new_name = self.renames.get(name, name)
        if self.globals_of.get(name):
            self.used_partial = True
            return ast.Call(func=ast.Attribute(value=ast.Name(id="functools", ctx=ast.Load()),
                                               attr="partial", ctx=ast.Load()),
                            args=[ast.Name(id=new_name, ctx=ast.Load())],
                            keywords=self._kw(name, set()))
        if new_name != name:
            return ast.Name(id=new_name, ctx=ast.Load())
        return node


def _needs_rewrite(node: ast.AST, globals_of: dict[str, tuple[str, ...]],
                   renames: dict[str, str]) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and (
                globals_of.get(n.id) or n.id in renames):
            return True
    return False


def statement_source(st: Stmt, globals_of: dict[str, tuple[str, ...]]) -> tuple[str, bool]:
    """Source of a kept statement and whether it uses functools.partial."""
    node = st.node
    lead = (st.lead + "\n") if st.lead else ""
    if _needs_rewrite(node, globals_of, {}):
        rw = _CallRewriter(globals_of, {})
        new = rw.visit(copy.deepcopy(node))
        ast.fix_missing_locations(new)
        return lead + ast.unparse(new), rw.used_partial
    if st.text is not None and not _has_multiline_string(node):
        return lead + st.text, False
    return lead + ast.unparse(node), False


def definition_source(d: Definition,
                      globals_of: dict[str, tuple[str, ...]]) -> tuple[str, bool]:
    """A shared function/class, with notebook globals as keyword-only parameters."""
    node = d.node
    own = globals_of.get(d.name, ()) if not d.is_class else ()
    # inside an old version, its own name (recursion) refers to that version
    local_renames: dict[str, str] = {}
    if d.emit_name != d.name:
        local_renames[d.name] = d.emit_name
    inner_globals = {k: v for k, v in globals_of.items()}
    needs = bool(own) or d.emit_name != d.name or _needs_rewrite(node, inner_globals,
                                                                  local_renames)
    lead = (d.lead + "\n") if d.lead else ""
    if not needs and d.text is not None and not _has_multiline_string(node):
        return lead + d.text, False
    new = copy.deepcopy(node)
    rw = _CallRewriter(inner_globals, local_renames)
    # rewrite the body (not the def's own name binding)
    new.body = [rw.visit(s) for s in new.body]
    new.name = d.emit_name
    if own and isinstance(new, (ast.FunctionDef, ast.AsyncFunctionDef)):
        have = {a.arg for a in new.args.posonlyargs + new.args.args + new.args.kwonlyargs}
        for g in own:
            if g not in have:
                new.args.kwonlyargs.append(ast.arg(arg=g))
                new.args.kw_defaults.append(None)
    ast.fix_missing_locations(new)
    return lead + ast.unparse(new), rw.used_partial


def indent(src: str, prefix: str = "    ") -> str:
    return "\n".join((prefix + ln) if ln.strip() else "" for ln in src.split("\n"))
