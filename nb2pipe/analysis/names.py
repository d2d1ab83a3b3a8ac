"""Scope-aware name facts for one module-level statement, with the stdlib `ast` (fast).

For a statement it finds, in execution order: the names it reads from the enclosing
(notebook) namespace, the names it binds (definitely or maybe), and the calls it makes, so the
caller can decide which of those calls mutate, draw randomness, display or touch files.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

QUERY_REF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Facts:
    reads: list[str] = field(default_factory=list)  # external reads, first-read order
    binds: set[str] = field(default_factory=set)  # definite module-level bindings
    maybe: set[str] = field(default_factory=set)  # bindings that may not happen
    deletes: set[str] = field(default_factory=set)
    calls: list[ast.Call] = field(default_factory=list)  # module-scope calls (not in defs)
    deferred_calls: list[ast.Call] = field(default_factory=list)  # inside lambdas/nested defs
    targets: list[ast.expr] = field(default_factory=list)  # subscript/attribute store targets
    aug_targets: list[ast.expr] = field(default_factory=list)
    aug_names: list[ast.Name] = field(default_factory=list)  # `x += ...` (in place for lists)
    del_targets: list[ast.expr] = field(default_factory=list)
    loops: list[tuple[ast.expr, ast.expr]] = field(default_factory=list)  # (target, iter)
    assigns: list[tuple[ast.expr, ast.expr, bool]] = field(default_factory=list)  # (target, value, maybe)
    name_loads: list[ast.Name] = field(default_factory=list)  # every module-level Name load
    transient: set[str] = field(default_factory=set)  # with-as / except-as targets
    read_pos: dict[str, tuple[int, int]] = field(default_factory=dict)  # first read: line, col
    has_await: bool = False
    has_yield: bool = False
    has_return: bool = False

    def read(self, name: str, defined: set[str]) -> None:
        if name not in defined and name not in self.reads:
            self.reads.append(name)


class _Walker:
    """Walks statements in order; `defined` holds names bound earlier in this statement."""

    def __init__(self, facts: Facts) -> None:
        self.f = facts

    # ---- statements ----------------------------------------------------------------------
    def stmts(self, body: list[ast.stmt], defined: set[str], maybe: bool) -> None:
        for s in body:
            self.stmt(s, defined, maybe)

    def bind(self, name: str, defined: set[str], maybe: bool) -> None:
        defined.add(name)
        (self.f.maybe if maybe else self.f.binds).add(name)

    def stmt(self, s: ast.stmt, defined: set[str], maybe: bool) -> None:
        """Record one statement: its reads before its binds; `maybe` when it may not run
        (inside a branch, a loop or a `try`). Pass, Break, Continue, Global and Nonlocal
        record nothing."""
        visit = self._BY_TYPE.get(type(s))
        if visit is not None:
            visit(self, s, defined, maybe)

    def _expr_stmt(self, s: ast.Expr, defined: set[str], maybe: bool) -> None:
        self.expr(s.value, defined)

    def _assign(self, s: ast.Assign, defined: set[str], maybe: bool) -> None:
        self.expr(s.value, defined)
        for t in s.targets:
            self.f.assigns.append((t, s.value, maybe))
            self.store(t, defined, maybe)

    def _ann_assign(self, s: ast.AnnAssign, defined: set[str], maybe: bool) -> None:
        if s.value is not None:
            self.expr(s.value, defined)
            self.f.assigns.append((s.target, s.value, maybe))
            self.store(s.target, defined, maybe)
        elif not isinstance(s.target, ast.Name):
            self.expr(s.target, defined)

    def _aug_assign(self, s: ast.AugAssign, defined: set[str], maybe: bool) -> None:
        f = self.f
        self.expr(s.value, defined)
        if isinstance(s.target, ast.Name):
            f.read(s.target.id, defined)
            f.name_loads.append(s.target)
            f.aug_names.append(s.target)
            self.bind(s.target.id, defined, maybe)
        else:
            f.aug_targets.append(s.target)
            self.expr(s.target, defined)

    def _delete(self, s: ast.Delete, defined: set[str], maybe: bool) -> None:
        for t in s.targets:
            if isinstance(t, ast.Name):
                self.f.read(t.id, defined)
                self.f.deletes.add(t.id)
                defined.discard(t.id)
            else:
                self.f.del_targets.append(t)
                self.expr(t, defined)

    def _for(self, s: ast.For | ast.AsyncFor, defined: set[str], maybe: bool) -> None:
        self.expr(s.iter, defined)
        self.f.loops.append((s.target, s.iter))
        self.store(s.target, defined, True)
        self.stmts(s.body, defined, True)
        self.stmts(s.orelse, defined, True)

    def _while_or_if(self, s: ast.While | ast.If, defined: set[str], maybe: bool) -> None:
        self.expr(s.test, defined)
        self.stmts(s.body, defined, True)
        self.stmts(s.orelse, defined, True)

    def _with(self, s: ast.With | ast.AsyncWith, defined: set[str], maybe: bool) -> None:
        for item in s.items:
            self.expr(item.context_expr, defined)
            if item.optional_vars is not None:
                self.store(item.optional_vars, defined, maybe)
                self.f.transient |= {n.id for n in ast.walk(item.optional_vars)
                                     if isinstance(n, ast.Name)}
        self.stmts(s.body, defined, maybe)

    def _try(self, s: ast.Try, defined: set[str], maybe: bool) -> None:
        self.stmts(s.body, defined, True)
        for h in s.handlers:
            if h.type is not None:
                self.expr(h.type, defined)
            if h.name:
                self.bind(h.name, defined, True)
                self.f.transient.add(h.name)
            self.stmts(h.body, defined, True)
        self.stmts(s.orelse, defined, True)
        self.stmts(s.finalbody, defined, maybe)

    def _function(self, s: ast.FunctionDef | ast.AsyncFunctionDef, defined: set[str],
                  maybe: bool) -> None:
        for d in s.decorator_list:
            self.expr(d, defined)
        self.arg_defaults(s.args, defined)
        self.nested_scope(s, defined)
        self.bind(s.name, defined, maybe)

    def _class(self, s: ast.ClassDef, defined: set[str], maybe: bool) -> None:
        for d in s.decorator_list:
            self.expr(d, defined)
        for b in s.bases:
            self.expr(b, defined)
        for k in s.keywords:
            self.expr(k.value, defined)
        self.nested_scope(s, defined)
        self.bind(s.name, defined, maybe)

    def _import(self, s: ast.Import | ast.ImportFrom, defined: set[str], maybe: bool) -> None:
        for a in s.names:
            if a.name != "*":
                self.bind(a.asname or a.name.split(".")[0], defined, maybe)

    def _return(self, s: ast.Return, defined: set[str], maybe: bool) -> None:
        self.f.has_return = True
        if s.value is not None:
            self.expr(s.value, defined)

    def _raise(self, s: ast.Raise, defined: set[str], maybe: bool) -> None:
        for e in (s.exc, s.cause):
            if e is not None:
                self.expr(e, defined)

    def _assert(self, s: ast.Assert, defined: set[str], maybe: bool) -> None:
        self.expr(s.test, defined)
        if s.msg is not None:
            self.expr(s.msg, defined)

    def _match(self, s: ast.Match, defined: set[str], maybe: bool) -> None:
        self.expr(s.subject, defined)
        for case in s.cases:
            for node in ast.walk(case.pattern):
                name = getattr(node, "name", None)
                if isinstance(name, str):
                    self.bind(name, defined, True)
                if isinstance(node, ast.MatchValue):
                    self.expr(node.value, defined)
                if isinstance(node, ast.MatchClass):
                    self.expr(node.cls, defined)
            if case.guard is not None:
                self.expr(case.guard, defined)
            self.stmts(case.body, defined, True)

    _BY_TYPE = {
        ast.Expr: _expr_stmt, ast.Assign: _assign, ast.AnnAssign: _ann_assign,
        ast.AugAssign: _aug_assign, ast.Delete: _delete, ast.For: _for, ast.AsyncFor: _for,
        ast.While: _while_or_if, ast.If: _while_or_if, ast.With: _with, ast.AsyncWith: _with,
        ast.Try: _try, ast.FunctionDef: _function, ast.AsyncFunctionDef: _function,
        ast.ClassDef: _class, ast.Import: _import, ast.ImportFrom: _import,
        ast.Return: _return, ast.Raise: _raise, ast.Assert: _assert, ast.Match: _match,
    }
    if hasattr(ast, "TryStar"):  # Python 3.11+: `except*`
        _BY_TYPE[ast.TryStar] = _try

    def arg_defaults(self, args: ast.arguments, defined: set[str]) -> None:
        for d in list(args.defaults) + [d for d in args.kw_defaults if d is not None]:
            self.expr(d, defined)
        for a in args.posonlyargs + args.args + args.kwonlyargs + [
                x for x in (args.vararg, args.kwarg) if x is not None]:
            if a.annotation is not None:
                self.expr(a.annotation, defined)

    def store(self, t: ast.expr, defined: set[str], maybe: bool) -> None:
        if isinstance(t, ast.Name):
            self.bind(t.id, defined, maybe)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self.store(e, defined, maybe)
        elif isinstance(t, ast.Starred):
            self.store(t.value, defined, maybe)
        elif isinstance(t, (ast.Subscript, ast.Attribute)):
            self.f.targets.append(t)
            self.expr(t, defined)

    # ---- expressions ---------------------------------------------------------------------
    def expr(self, e: ast.AST, defined: set[str], local: frozenset[str] = frozenset(),
             deferred: bool = False) -> None:
        """Record reads in expression `e`; `local` are names bound by enclosing lambdas or
        comprehensions (not module-level)."""
        stack: list[tuple[ast.AST, frozenset[str], bool]] = [(e, local, deferred)]
        f = self.f
        while stack:
            node, loc, dfr = stack.pop()
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    if node.id not in loc:
                        if node.id not in defined:
                            f.read_pos.setdefault(node.id, (node.lineno, node.col_offset))
                        f.read(node.id, defined)
                        if not dfr:
                            f.name_loads.append(node)
                continue
            if isinstance(node, ast.NamedExpr):
                stack.append((node.value, loc, dfr))
                if isinstance(node.target, ast.Name) and not dfr:
                    self.bind(node.target.id, defined, False)
                continue
            if isinstance(node, ast.Lambda):
                stack.extend((d, loc, dfr) for d in node.args.defaults)
                stack.extend((d, loc, dfr) for d in node.args.kw_defaults if d is not None)
                params = {a.arg for a in node.args.posonlyargs + node.args.args
                          + node.args.kwonlyargs}
                params |= {a.arg for a in (node.args.vararg, node.args.kwarg) if a}
                stack.append((node.body, loc | params, True))
                continue
            if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                gens = node.generators
                stack.append((gens[0].iter, loc, dfr))
                inner = set(loc)
                for g in gens:
                    inner |= _target_names(g.target)
                inner_f = frozenset(inner)
                for i, g in enumerate(gens):
                    if i > 0:
                        stack.append((g.iter, inner_f, dfr))
                    stack.extend((c, inner_f, dfr) for c in g.ifs)
                if isinstance(node, ast.DictComp):
                    stack.append((node.key, inner_f, dfr))
                    stack.append((node.value, inner_f, dfr))
                else:
                    stack.append((node.elt, inner_f, dfr))
                continue
            if isinstance(node, ast.Await):
                f.has_await = True
            elif isinstance(node, (ast.Yield, ast.YieldFrom)):
                f.has_yield = True
            elif isinstance(node, ast.Call):
                (f.deferred_calls if dfr else f.calls).append(node)
                # df.query("x > @limit") and df.eval(...) read names by '@name'
                if (isinstance(node.func, ast.Attribute) and node.func.attr in ("query", "eval")
                        and node.args and isinstance(node.args[0], ast.Constant)
                        and isinstance(node.args[0].value, str)):
                    for ref in QUERY_REF.findall(node.args[0].value):
                        if ref not in loc:
                            f.read(ref, defined)
            children = list(ast.iter_child_nodes(node))
            stack.extend((c, loc, dfr) for c in reversed(children))

    def nested_scope(self, node: ast.AST, defined: set[str]) -> None:
        """Free names of a nested def/class are read (when it runs; counted here)."""
        for name in free_names(node):
            self.f.read(name, defined)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                self.f.deferred_calls.append(sub)


def _target_names(t: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}


def statement_facts(s: ast.stmt) -> Facts:
    facts = Facts()
    _Walker(facts).stmt(s, set(), False)
    return facts


# ---- functions and classes: free names via symtable ---------------------------------------

def free_names(node: ast.AST) -> list[str]:
    """Names a def/class (body, not its decorators/defaults) reads from module scope."""
    import symtable

    body_node = node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        body_node = _strip_outer(node)
    try:
        src = ast.unparse(body_node)
        table = symtable.symtable(src, "<def>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                       and isinstance(n.ctx, ast.Load)})
    found: list[str] = []
    seen: set[str] = set()

    def visit(t, top: bool) -> None:
        for sym in t.get_symbols():
            name = sym.get_name()
            if top:
                continue
            if _reads_module_scope(sym):
                if name not in seen:
                    seen.add(name)
                    found.append(name)
        for child in t.get_children():
            visit(child, False)

    visit(table, True)
    return found


def _reads_module_scope(sym) -> bool:
    """Whether a nested scope's symbol is a read of a module-level name.

    Not `Symbol.is_global()`: before Python 3.12 it takes any table named "top" for the
    module (the module's own table has that name), so in `def top(df, n=5)` every
    parameter and local counted as a global and was reported unbound (NB201). The binding
    flags are right whatever the table's name: a referenced name is global when it is
    declared so, or when this scope neither binds it nor takes it from an enclosing def.
    """
    if not sym.is_referenced():
        return False
    if sym.is_declared_global():
        return True
    bound_here = sym.is_parameter() or sym.is_assigned() or sym.is_imported()
    return not (bound_here or sym.is_free() or sym.is_nonlocal())


def global_assigns(node: ast.AST) -> list[str]:
    """Names a def assigns after declaring them `global`."""
    out: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Global):
            out.extend(sub.names)
    return sorted(set(out))


def _strip_outer(node):
    """A copy of the def without decorators, defaults and annotations (evaluated outside)."""
    import copy

    n = copy.copy(node)
    n.decorator_list = []
    if isinstance(n, ast.ClassDef):
        n.bases = []
        n.keywords = []
    else:
        args = copy.copy(n.args)
        args.defaults = []
        args.kw_defaults = [None for _ in args.kw_defaults]
        n.args = args
        n.returns = None
    return n


def root_name(e: ast.AST) -> str | None:
    """`df.loc[m, 'x']` -> 'df'; stops (None) at a call: a temporary has no name."""
    while True:
        if isinstance(e, ast.Name):
            return e.id
        if isinstance(e, (ast.Attribute, ast.Subscript)):
            e = e.value
        elif isinstance(e, ast.Starred):
            e = e.value
        else:
            return None


def has_keyword(call: ast.Call, name: str, value=None) -> bool:
    for k in call.keywords:
        if k.arg == name:
            if value is None:
                return True
            return isinstance(k.value, ast.Constant) and k.value.value == value
    return False


def out_arguments(call: ast.Call) -> list[ast.AST]:
    """The `out=` arguments of a call (`np.add(a, b, out=c)`, `np.clip(x, 0, 1, out=x)`): numpy
    ufuncs and many array functions write their result into that array, so the call mutates it."""
    return [k.value for k in call.keywords
            if k.arg == "out" and root_name(k.value) is not None]
