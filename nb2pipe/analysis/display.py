"""Calls and values that only display or plot (whatever object they are called on), save a
figure, or only read (pure call chains such as `df.head()`).

A mixin of `nb2pipe.analysis.cells.Analyzer`: it shares the analyzer's state (`self`).
"""

from __future__ import annotations

import ast

from nb2pipe.analysis import rules
from nb2pipe.analysis.names import has_keyword, out_arguments, root_name


class DisplayDetection:
    def _chain(self, e: ast.AST):
        """Attribute names along a call/attribute chain, and its root expression."""
        attrs: list[str] = []
        while True:
            if isinstance(e, ast.Call):
                e = e.func
            elif isinstance(e, ast.Attribute):
                attrs.append(e.attr)
                e = e.value
            elif isinstance(e, ast.Subscript):
                e = e.value
            else:
                return attrs, e

    def is_viz_call(self, call: ast.Call) -> bool:
        f = call.func
        if isinstance(f, ast.Name) and f.id == "display":
            return True
        if isinstance(f, ast.Name) and f.id in self.current_def:
            # a notebook function that only draws (summaries.py: draws_only), called with
            # arguments that compute nothing with effects
            return self.current_def[f.id].draws_only and all(
                self.is_pure_call(c) for a in call.args + [k.value for k in call.keywords]
                for c in ast.walk(a) if isinstance(c, ast.Call))
        q = self.qual(f)
        if q and rules.in_modules(q, rules.VIZ_MODULES):
            return True
        attrs, root = self._chain(call)
        if any(a in rules.VIZ_METHODS for a in attrs):
            return True
        if isinstance(root, ast.Name):
            if root.id in self.viz:
                return True
            rq = self.qual(root)
            if rq and rules.in_modules(rq, rules.VIZ_MODULES):
                return True
        return False

    def is_save_call(self, call: ast.Call) -> bool:
        f = call.func
        if not isinstance(f, ast.Attribute):
            return False
        if f.attr == "savefig":
            return True
        attrs, root = self._chain(call)
        return (f.attr in rules.SAVE_METHODS and isinstance(root, ast.Name)
                and root.id in self.viz)

    def is_viz_value(self, v: ast.expr) -> bool:
        if isinstance(v, ast.Call):
            return self.is_viz_call(v) and not self.is_save_call(v)
        if isinstance(v, (ast.Subscript, ast.Attribute)):
            r = root_name(v)
            return r is not None and r in self.viz
        if isinstance(v, ast.Tuple):
            return bool(v.elts) and all(self.is_viz_value(x) for x in v.elts)
        return False

    def is_pure_call(self, c: ast.Call) -> bool:
        f = c.func
        if has_keyword(c, "inplace", True) or out_arguments(c):
            return False  # writes into its receiver or into the `out=` array
        if isinstance(f, ast.Name):
            return (f.id in rules.PURE_BUILTINS or f.id == "display"
                    or self.is_pure_notebook_function(f.id))
        if isinstance(f, ast.Attribute):
            if self.is_viz_call(c):
                return True
            r = root_name(f.value)
            if self.is_module_name(r):
                q = self.qual(f) or ""
                return q.split(".")[0] in ("numpy", "pandas", "math", "statistics", "scipy") \
                    and not any(x in q for x in ("save", "seed", "set_", "to_", "random"))
            return f.attr in rules.PURE_METHODS
        return False

    def is_pure_notebook_function(self, name: str, seen: frozenset[str] = frozenset()) -> bool:
        """A function of the notebook that only computes its result: it changes no argument
        and no global, draws no random numbers, and every call in it is pure (calls to other
        such functions included). `make_features(df).head()` is then display code."""
        d = self.current_def.get(name)
        if (d is None or d.is_class or name in seen or d.mutated_params or d.mutated_free
                or d.draws_rng or getattr(d.node, "decorator_list", None)):
            return False
        for sub in ast.walk(d.node):
            if sub is not d.node and isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.ClassDef, ast.Lambda)):
                return False
            if isinstance(sub, (ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom, ast.Await)):
                return False
            if isinstance(sub, ast.Call):
                callee = sub.func.id if isinstance(sub.func, ast.Name) else None
                if callee is not None and callee in self.current_def:
                    if not self.is_pure_notebook_function(callee, seen | {name}):
                        return False
                elif not self.is_pure_call(sub) or self.is_viz_call(sub):
                    return False
        return True
