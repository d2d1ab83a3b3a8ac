"""What a call to a notebook function does: the notebook globals it reads and mutates, the
parameters it mutates, whether it draws random numbers (transitively through the notebook
functions it calls).

A mixin of `nb2pipe.analysis.cells.Analyzer`: it shares the analyzer's state (`self`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nb2pipe.analysis import rules
from nb2pipe.analysis.astutil import flat_targets, names_in_target
from nb2pipe.analysis.names import has_keyword, out_arguments, root_name


@dataclass
class CallEffects:
    """What a call to a notebook function does to the notebook's state."""

    reads_globals: set[str] = field(default_factory=set)
    mutates_globals: set[str] = field(default_factory=set)
    mutates_params: set[str] = field(default_factory=set)  # by parameter name
    draws_rng: bool = False

    def add_reads(self, other: CallEffects) -> None:
        """A function referenced or called from this one: its reads and draws count here."""
        self.reads_globals |= other.reads_globals
        self.draws_rng |= other.draws_rng


def params_copied_first(node: ast.AST, params: set[str]) -> set[str]:
    """Parameters the function rebinds to a copy before anything else touches them
    (`df = df.copy()` as the first statement that names `df`): item and attribute assignments
    and method calls on the name itself then change the copy, never the caller's object."""
    body = getattr(node, "body", None)
    if not isinstance(body, list):
        return set()
    out: set[str] = set()
    for p in params:
        for st in body:
            if not any(isinstance(n, ast.Name) and n.id == p for n in ast.walk(st)):
                continue
            if (isinstance(st, ast.Assign) and len(st.targets) == 1
                    and isinstance(st.targets[0], ast.Name) and st.targets[0].id == p
                    and isinstance(st.value, ast.Call) and not st.value.args
                    and isinstance(st.value.func, ast.Attribute)
                    and st.value.func.attr == "copy"
                    and isinstance(st.value.func.value, ast.Name)
                    and st.value.func.value.id == p
                    and all(k.arg == "deep" and isinstance(k.value, ast.Constant)
                            and k.value.value is True for k in st.value.keywords)):
                out.add(p)
            break
    return out


class FunctionSummaries:
    def function_effects(self, node: ast.AST, params: set[str], local: set[str]):
        mutated_params: set[str] = set()
        mutated_free: set[str] = set()
        calls: list[tuple[str, list[str | None], dict[str, str | None]]] = []
        draws = False
        copied = params_copied_first(node, params)

        def mark(root: str | None, direct: bool = False) -> None:
            if root is None or root in ("self", "cls"):
                return
            if root in copied and direct:
                return  # `df = df.copy()` came first: this changes the copy, not the argument
            if root in params:
                mutated_params.add(root)
            elif root not in local and not self.is_module_name(root):
                mutated_free.add(root)

        for sub in ast.walk(node):
            if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = (sub.targets if isinstance(sub, (ast.Assign, ast.Delete))
                           else [sub.target])
                for t in targets:
                    for tt in flat_targets(t):
                        if isinstance(tt, (ast.Subscript, ast.Attribute)):
                            mark(root_name(tt), isinstance(tt.value, ast.Name))
                        elif isinstance(tt, ast.Name) and isinstance(sub, ast.AugAssign):
                            # `lst += [x]` extends a list in place: count it (ints rebind,
                            # which only costs an extra edge)
                            mark(tt.id) if tt.id in params else None
            elif isinstance(sub, ast.Call):
                f = sub.func
                for target in out_arguments(sub):
                    mark(root_name(target))
                if isinstance(f, ast.Attribute):
                    r = root_name(f.value)
                    if r is not None and not self.is_module_name(r):
                        if rules.may_mutate_receiver(f.attr, has_keyword(sub, "inplace", True)):
                            mark(r, isinstance(f.value, ast.Name))
                    if (not self.qual(f) and f.attr in rules.RANDOM_STATE_APIS
                            and not has_keyword(sub, "random_state")):
                        draws = True
                elif isinstance(f, ast.Name):
                    if f.id in self.current_def or (f.id not in local and f.id not in params
                                                    and f.id not in rules.BUILTINS
                                                    and not self.is_module_name(f.id)):
                        calls.append((f.id, [root_name(a) for a in sub.args],
                                      {k.arg: root_name(k.value) for k in sub.keywords if k.arg}))
                # a module function: does it draw randomness or mutate an argument?
                q = self.qual(f) if isinstance(f, (ast.Attribute, ast.Name)) else None
                if q:
                    draws |= self._draws(q, sub)
                    idx = rules.ARG_MUTATORS.get(q)
                    if idx is not None and sub.args:
                        mark(root_name(sub.args[idx if idx >= 0 else 0]))
        return mutated_params, mutated_free, calls, draws

    def draws_only(self, node: ast.AST, mutated_params: list[str], mutated_free: list[str],
                   draws: bool) -> bool:
        """Whether a call to this function only plots or displays (`def plot_scatter(df, loc):
        plt.scatter(...); plt.title(loc)`): then the call is display code, stripped like
        `plt.scatter` itself. It may compute local values for the plot, and set plotting
        configuration (rcParams), but not change its arguments or globals, draw random
        numbers, save or write anything, print, or return a value other than a plot."""
        if (not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.decorator_list
                or mutated_params or mutated_free or draws):
            return False
        viz = set(self.viz)
        try:
            self.viz |= self._local_plot_names(node)
            return self._body_only_draws(node)
        finally:
            self.viz = viz

    def _local_plot_names(self, node: ast.AST) -> set[str]:
        """Names the function binds to plotting objects (`fig, ax = plt.subplots()`)."""
        found: set[str] = set()
        while True:
            before = len(found)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign) and self.is_viz_value(sub.value):
                    found |= {n for t in sub.targets for n in names_in_target(t)}
                elif isinstance(sub, (ast.For, ast.AsyncFor)) and self.is_viz_value(sub.iter):
                    found |= set(names_in_target(sub.target))
            self.viz |= found
            if len(found) == before:
                return found

    def _body_only_draws(self, node: ast.AST) -> bool:
        plots = False
        for sub in ast.walk(node):
            if sub is not node and isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                    ast.ClassDef, ast.Lambda)):
                return False  # a nested function or class: its effects are not summarized
            if isinstance(sub, (ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom, ast.Await)):
                return False
            if isinstance(sub, ast.Return) and sub.value is not None \
                    and not self.is_viz_value(sub.value):
                return False
            if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = (sub.targets if isinstance(sub, (ast.Assign, ast.Delete))
                           else [sub.target])
                for t in (tt for t in targets for tt in flat_targets(t)):
                    if isinstance(t, (ast.Subscript, ast.Attribute)) and not self._plot_config(t):
                        return False  # `d[k] = v`, `os.environ[k] = v`: state outside
            if isinstance(sub, ast.Call):
                if self.is_save_call(sub):  # other writers are not pure calls either
                    return False
                if self.is_viz_call(sub):
                    plots = True
                elif not (self.is_pure_call(sub) or self._plot_config_call(sub)):
                    return False
        return plots

    def _plot_config(self, target: ast.AST) -> bool:
        """`plt.rcParams[...] =`, `ax.title =`: plotting state, or a plotting object."""
        r = root_name(target)
        if r is not None and r in self.viz:
            return True
        base = target
        while isinstance(base, (ast.Subscript, ast.Attribute)):
            base = base.value
            q = self.qual(base)
            if q and rules.in_modules(q, rules.VIZ_MODULES):
                return True
        return False

    def _plot_config_call(self, call: ast.Call) -> bool:
        """`sns.set_style(...)`, `plt.rcParams.update(...)`: configuration of plotting."""
        if not self.is_setup_call(call):
            return False
        q = self.qual(call.func) or self.qual(getattr(call.func, "value", call.func)) or ""
        return rules.in_modules(q, rules.VIZ_MODULES)

    def _draws(self, q: str, call: ast.Call) -> bool:
        last = q.rsplit(".", 1)[-1]
        if rules.in_modules(q, ("numpy.random", "random")) and q not in ("numpy.random", "random"):
            return last not in rules.RNG_NOT_DRAWING
        if q.startswith("torch.") and last in rules.TORCH_DRAWING:
            return True
        if last in rules.RANDOM_STATE_APIS and not has_keyword(call, "random_state"):
            return True
        return False

    def effects(self, name: str, seen: frozenset[str] = frozenset()) -> CallEffects:
        """What a call to the notebook function `name` does, through the functions it calls."""
        d = self.current_def.get(name)
        if d is None:
            return CallEffects()
        fx = CallEffects(reads_globals={n for n in d.free if self._is_data_name(n)},
                         mutates_globals={n for n in d.mutated_free if self._is_data_name(n)},
                         mutates_params=set(d.mutated_params), draws_rng=d.draws_rng)
        if d.is_class:
            for n in d.free:
                if n in self.current_def and n != name and n not in seen:
                    fx.add_reads(self.effects(n, seen | {name}))
            return fx
        for callee, pos, kw in d.calls_user:
            if callee in seen or callee == name or callee not in self.current_def:
                continue
            inner = self.effects(callee, seen | {name})
            fx.add_reads(inner)
            fx.mutates_globals |= inner.mutates_globals
            # an argument the callee mutates is mutated here: a parameter or a global
            callee_params = self.current_def[callee].params
            passed = [(callee_params[i], r) for i, r in enumerate(pos) if i < len(callee_params)]
            for param, r in passed + list(kw.items()):
                if not r or param not in inner.mutates_params:
                    continue
                if r in d.params:
                    fx.mutates_params.add(r)
                elif self._is_data_name(r) and r not in d.local:
                    fx.mutates_globals.add(r)
        # names of other user functions it references are not data
        called = {c for c, _, _ in d.calls_user}
        for n in d.free:
            if n in self.current_def and n != name and n not in seen and n not in called:
                fx.add_reads(self.effects(n, seen | {name}))
        return fx

    def _is_data_name(self, n: str) -> bool:
        if n in rules.BUILTINS and n not in self.data_bound:
            return False
        if self.is_module_name(n) or n in self.current_def:
            return False
        return True
