"""Which names may refer to the same object (points-to sets of abstract objects).

Each binding gets a fresh abstract object unless its value refers to existing ones: `b = a`,
containers holding a name, constructor calls holding their arguments, loops and
comprehensions over the items of a value. A mutation through one name then writes every name
whose set overlaps (`affected`). State: `pt`, `containers`, `frames`, `immutable`, `next_obj`.

A mixin of `nb2pipe.analysis.cells.Analyzer`: it shares the analyzer's state (`self`).
"""

from __future__ import annotations

import ast

from nb2pipe.analysis import rules
from nb2pipe.analysis.astutil import is_scalar_literal, names_in_target
from nb2pipe.analysis.model import Stmt
from nb2pipe.analysis.names import Facts, root_name


class AliasTracking:
    def fresh(self) -> frozenset[int]:
        self.next_obj += 1
        return frozenset({self.next_obj})

    def affected(self, root: str) -> frozenset[str]:
        objs = self.points_to.get(root)
        if not objs:
            return frozenset({root})
        out = {root}
        for name, o in self.points_to.items():
            if o & objs and not self.is_module_name(name) and name not in self.current_def:
                out.add(name)
        return frozenset(out)

    def objs_of(self, v: ast.AST | None) -> tuple[bool, frozenset[int]]:
        """(needs a fresh object, objects the value may refer to)."""
        if v is None:
            return True, frozenset()
        if isinstance(v, ast.Name):
            if v.id in self.immutable:
                return True, frozenset()  # an int or a string cannot be changed in place
            o = self.points_to.get(v.id)
            return (False, o) if o else (True, frozenset())
        if isinstance(v, (ast.List, ast.Tuple, ast.Set)):
            refs: frozenset[int] = frozenset()
            for e in v.elts:
                refs |= self.objs_of(e.value if isinstance(e, ast.Starred) else e)[1]
            return True, refs
        if isinstance(v, ast.Dict):
            refs = frozenset()
            for e in v.values:
                refs |= self.objs_of(e)[1]
            return True, refs
        if isinstance(v, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return True, self.comprehension_objs(v)
        if isinstance(v, ast.IfExp):
            a, b = self.objs_of(v.body), self.objs_of(v.orelse)
            return a[0] or b[0], a[1] | b[1]
        if isinstance(v, ast.BoolOp):
            fresh, refs = False, frozenset()
            for x in v.values:
                f, r = self.objs_of(x)
                fresh |= f
                refs |= r
            return fresh, refs
        if isinstance(v, ast.Attribute):
            r = root_name(v)
            if v.attr in rules.FRESH_ATTRIBUTES:  # `df.columns`: labels, not a view
                return True, frozenset()
            if r and r in self.points_to and not self.is_module_name(r) and v.attr not in ("copy",):
                return False, self.points_to[r]
            return True, frozenset()
        if isinstance(v, ast.Subscript):
            if isinstance(v.value, ast.Attribute) and v.value.attr in ("loc", "iloc", "at",
                                                                         "iat", "str", "dt"):
                return True, frozenset()
            r = root_name(v)
            if r and r in self.points_to and (r in self.containers or isinstance(v.value, ast.Attribute)
                                       or isinstance(v.value, ast.Subscript)):
                return False, self.points_to[r]
            return True, frozenset()
        if isinstance(v, ast.Call):
            f = v.func
            last = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) \
                else ""
            if isinstance(f, ast.Attribute) and last in ("items", "values", "keys", "__iter__"):
                r = root_name(f.value)
                if r and r in self.points_to:
                    return False, self.points_to[r]
            copied = self.shallow_copy_of(v)
            if copied is not None:  # a new container holding the same elements
                return True, self.points_to[copied]
            if isinstance(f, ast.Name) and last in rules.ITEM_COLLECTORS \
                    and f.id not in self.current_def and f.id not in self.data_bound:
                refs = frozenset()
                for a in list(v.args) + [k.value for k in v.keywords]:
                    refs |= self.items_of(a.value if isinstance(a, ast.Starred) else a)
                return True, refs
            if last in rules.CONTAINER_BUILDERS or (last[:1].isupper() and last not in (
                    "DataFrame", "Series", "array", "Index")):
                refs = frozenset()
                for a in list(v.args) + [k.value for k in v.keywords]:
                    refs |= self.objs_of(a.value if isinstance(a, ast.Starred) else a)[1]
                return True, refs
            return True, frozenset()
        return True, frozenset()

    def items_of(self, it: ast.AST) -> frozenset[int]:
        """Objects that iterating `it` may yield. A pandas object yields labels or scalars,
        `range`/`.keys()`/`.columns` immutable values; a container yields what it holds (its
        points-to set is kept whole: the container's own object and its elements)."""
        if isinstance(it, (ast.List, ast.Tuple, ast.Set)):
            return self.objs_of(it)[1]
        if isinstance(it, ast.Dict):
            return frozenset()  # iterating a dict literal yields its keys
        if isinstance(it, ast.Name):
            if it.id in self.immutable or it.id in self.frames:
                return frozenset()
            return self.points_to.get(it.id, frozenset())
        if isinstance(it, ast.Attribute) and it.attr in rules.FRESH_ATTRIBUTES:
            return frozenset()
        if isinstance(it, ast.Call):
            f = it.func
            if isinstance(f, ast.Name) and f.id == "range":
                return frozenset()
            if isinstance(f, ast.Attribute) and f.attr == "keys":
                return frozenset()
        if self.is_frame_value(it):
            return frozenset()
        return self.objs_of(it)[1]

    def comprehension_objs(self, v: ast.AST) -> frozenset[int]:
        """Objects a comprehension's elements may be: its element expression, with each
        target bound to the items of what it iterates (`[c for c in df.columns]` holds
        labels, `[m for m in models]` the models)."""
        saved = dict(self.points_to)
        saved_immutable = set(self.immutable)
        try:
            for g in v.generators:
                items = self.items_of(g.iter)
                for n in names_in_target(g.target):
                    self.immutable.discard(n)
                    self.points_to[n] = items
            elts = [v.key, v.value] if isinstance(v, ast.DictComp) else [v.elt]
            refs: frozenset[int] = frozenset()
            for e in elts:
                refs |= self.objs_of(e)[1]
            return refs
        finally:
            self.points_to = saved
            self.immutable = saved_immutable

    def is_frame_value(self, v: ast.AST | None) -> bool:
        """A pandas object: from a pandas function, or a method, attribute or subscript of
        one (other than the ones that hand out its underlying arrays or items)."""
        if isinstance(v, ast.Name):
            return v.id in self.frames
        if isinstance(v, ast.Call):
            q = self.qual(v.func)
            if q:
                return q.startswith(rules.FRAME_MAKERS)
            if isinstance(v.func, ast.Attribute):
                return (v.func.attr not in rules.FRAME_VIEW_METHODS
                        and self.is_frame_value(v.func.value))
            return False
        if isinstance(v, ast.Attribute):
            return v.attr not in rules.FRAME_VIEW_METHODS and self.is_frame_value(v.value)
        if isinstance(v, ast.Subscript):
            return self.is_frame_value(v.value)
        return False

    def shallow_copy_of(self, v: ast.AST | None) -> str | None:
        """The container name `v` shallow-copies (`d.copy()`, `copy.copy(d)`, `list(d)` is a
        container builder already), or None. The copy is a new object whose elements are the
        original's: mutating one of them shows through both. DataFrames and arrays are not
        containers here (their `.copy()` is deep)."""
        if not (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute)
                and v.func.attr == "copy" and isinstance(v.func.value, ast.Name)):
            return None
        owner = v.func.value.id
        if self.is_module_name(owner):  # copy.copy(d)
            arg = v.args[0] if len(v.args) == 1 else None
            r = arg.id if isinstance(arg, ast.Name) else None
        else:  # d.copy()
            r = None if v.args else owner
        return r if r in self.containers and r in self.points_to else None

    def update_aliases(self, st: Stmt, facts: Facts) -> None:
        handled: set[str] = set()
        for target, value, maybe in facts.assigns:
            names = names_in_target(target)
            fresh, refs = self.objs_of(value)
            is_container = isinstance(value, (ast.List, ast.Tuple, ast.Set, ast.Dict,
                                              ast.ListComp, ast.SetComp, ast.DictComp)) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                and value.func.id in rules.CONTAINER_BUILDERS) or (
                self.shallow_copy_of(value) is not None)
            pairs: list[tuple[str, ast.AST | None]] = []
            if (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
                    and len(target.elts) == len(value.elts)):
                for t, v in zip(target.elts, value.elts):
                    for n in names_in_target(t):
                        pairs.append((n, v))
            for n in names:
                if isinstance(target, ast.Name) and is_scalar_literal(value):
                    self.immutable.add(n)
                else:
                    self.immutable.discard(n)
                if pairs:
                    v = next((vv for nn, vv in pairs if nn == n), None)
                    f2, r2 = self.objs_of(v)
                else:
                    f2, r2 = fresh, refs
                objs = (self.fresh() if f2 else frozenset()) | r2
                if maybe and n in self.points_to:
                    objs |= self.points_to[n]
                self.points_to[n] = objs
                if is_container and isinstance(target, ast.Name):
                    self.containers.add(n)
                else:
                    self.containers.discard(n)
                if isinstance(target, ast.Name) and self.is_frame_value(value):
                    self.frames.add(n)
                else:
                    self.frames.discard(n)
                handled.add(n)
        for target, _ in facts.loops:
            handled.update(names_in_target(target))
        for n in facts.aug_names:  # in place: same object (an int gets a fresh one below)
            if n.id not in self.immutable and n.id in self.points_to:
                handled.add(n.id)
        for n in (st.binds | st.maybe) - handled:
            self.points_to[n] = self.fresh()
            self.immutable.discard(n)
            self.frames.discard(n)
        for n in st.deletes:
            self.points_to.pop(n, None)
