"""The kind of a statement (code, setup, display, plot, save, magic, ...) and, for a compound
statement, the nested display statements to strip from it.

A mixin of `nb2pipe.analysis.cells.Analyzer`: it shares the analyzer's state (`self`).
"""

from __future__ import annotations

import ast

from nb2pipe.analysis import rules
from nb2pipe.analysis.astutil import child_bodies, header_has_effect
from nb2pipe.analysis.ipysyntax import magic_call
from nb2pipe.analysis.model import STRIP_KINDS


class StatementKinds:
    def classify(self, node: ast.stmt, top: bool) -> tuple[str, list[ast.stmt]]:
        """Kind of a statement and, for compound ones, nested statements to remove: whole
        slices, so that what is kept never reads a name only a removed statement binds
        (figures.py: keep_nested_slices)."""
        if not top:
            return self._kind(node, top)
        viz = set(self.viz)  # plotting names bound inside the statement count only in it
        try:
            kind, removed = self._kind(node, top)
            if removed and kind not in STRIP_KINDS:
                removed = self.keep_nested_slices(node, removed)
            return kind, removed
        finally:
            self.viz = viz

    def _kind(self, node: ast.stmt, top: bool) -> tuple[str, list[ast.stmt]]:
        if isinstance(node, ast.Expr):
            mc = magic_call(node.value)
            if mc is not None:
                return ("pip" if mc[1] in ("pip",) else "magic"), []
            return self.classify_expr(node.value), []
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            if top and self.is_setup(node):
                return "setup", []
            if self.is_viz_value(node.value):
                return "plot", []
            return "code", []
        if isinstance(node, ast.AugAssign):
            if top and self.is_setup(node):
                return "setup", []
            return "code", []
        bodies = child_bodies(node)
        if bodies:
            removed: list[ast.stmt] = []
            kept_any = False
            kinds: list[str] = []
            self.viz |= self.loop_viz_names(node)
            for body in bodies:
                for child in body:
                    if isinstance(child, ast.Pass):
                        continue
                    k, sub_removed = self._kind(child, top=False)
                    if k == "plot" and self.saving_cell and not self.only_shows(child):
                        k = "code"  # it draws the figure the cell saves
                    if k in STRIP_KINDS:
                        removed.append(child)
                        kinds.append(k)
                        if k == "plot":  # `axis = ax[row][col]`: later `axis.axis()` plots
                            self.viz |= self.nested_viz_names(child)
                    else:
                        kept_any = True
                        removed.extend(sub_removed)
                        self.viz -= self.nested_viz_names(child)
            if removed and not kept_any and not header_has_effect(node):
                return (kinds[0] if kinds else "display"), []
            return "code", removed
        return "code", []

    def classify_expr(self, e: ast.expr) -> str:
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return "display"  # a stray string / docstring
        calls = [n for n in ast.walk(e) if isinstance(n, ast.Call)]
        if any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr))
               for n in ast.walk(e)):
            return "code"
        if not calls:
            return "display"
        if isinstance(e, ast.Call):
            if self.is_setup_call(e):
                return "setup"
            if self.is_save_call(e):
                return "save"
            if self.is_viz_call(e):
                return "plot"
        if all(self.is_pure_call(c) for c in calls):
            if self.seeded and any(self._draws(self.qual(c.func) or "", c) for c in calls):
                return "code"
            return "display"
        return "code"

    def is_setup_call(self, call: ast.Call) -> bool:
        q = self.qual(call.func)
        if q and rules.matches(q, rules.SETUP_CALLS):
            return True
        if isinstance(call.func, ast.Name) and call.func.id in ("set_seed", "seed_everything",
                                                                 "seed_all"):
            return True
        # methods on setup roots: plt.rcParams.update(...), sys.path.append(...)
        if isinstance(call.func, ast.Attribute):
            base = self.qual(call.func.value)
            if base and rules.in_modules(base, rules.SETUP_TARGETS):
                return True
        return False

    def is_setup(self, node: ast.stmt) -> bool:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            return self.is_setup_call(node.value)
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        if not targets:
            return False
        for t in targets:
            base = t
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                if isinstance(base, ast.Subscript):
                    base = base.value
                    continue
                q = self.qual(base)
                if q and rules.in_modules(q, rules.SETUP_TARGETS):
                    break
                base = base.value
            else:
                return False
            if not isinstance(t, (ast.Subscript, ast.Attribute)):
                return False
            q = self.qual(base) if isinstance(base, ast.Attribute) else None
            if not (q and rules.in_modules(q, rules.SETUP_TARGETS)):
                return False
        return True
