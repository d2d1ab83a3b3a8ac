"""Dead scratch: a value overwritten before anything reads it, made by calls that do nothing else.

Notebooks try things one after another into the same name:

    scores = cross_val_score(SVC(), X, y, cv=5)
    scores = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5)

Only the last value is ever read, yet every fit would run on every pipeline run. Such a statement
is stripped ("overwritten before use") when all of this holds, and kept otherwise:

- it binds one name and nothing else (no mutation, no file, no other name);
- every call in it is in the table of calls with no other effect (rules.DEAD_SCRATCH_*), and it
  draws no random numbers from a global generator (removing a draw would shift every later
  draw; cross-validation draws only through a random estimator or splitter, see `_draws`);
- the next statement that touches the name rebinds it, unconditionally, in kept code, and nothing
  in between reads it (display code, which the pipeline strips, excepted), and no statement in
  between is a magic or shell command (they can read variables by name);
- no function or class of the notebook reads the name as a global.

So the values the pipeline delivers are the same with or without the statement.
"""

from __future__ import annotations

import ast

from nb2pipe.analysis import rules
from nb2pipe.analysis.model import Definition, Stmt
from nb2pipe.analysis.shared import KEPT_KINDS

DEAD = "dead"  # the statement kind (analysis.model.STRIP_KINDS)
_READS_IGNORED_IN = frozenset({"display", "help"})  # stripped wholesale: their reads do not count
_OPAQUE = frozenset({"magic", "shell", "cellmagic", "pip"})  # may read any variable by name
def mark_dead_scratch(stmts: list[Stmt], definitions: list[Definition],
                      imports: dict[str, str]) -> None:
    """Set the kind of each dead-scratch statement to DEAD (part of analysis)."""
    read_by_defs = {n for d in definitions for n in d.free}
    notebook_callables = {d.name for d in definitions}
    for i, st in enumerate(stmts):
        name = _single_bound_name(st)
        if (name is None or name in read_by_defs or set(st.reads) & notebook_callables
                or not _effect_free(st.node.value, imports, stmts[:i])):
            continue
        if _overwritten_before_use(name, stmts[i + 1:]):
            st.kind = DEAD


def _single_bound_name(st: Stmt) -> str | None:
    node = st.node
    if st.kind != "code" or not isinstance(node, ast.Assign) or len(node.targets) != 1:
        return None
    target = node.targets[0]
    if not isinstance(target, ast.Name) or st.binds != {target.id}:
        return None
    if st.maybe or st.deletes or st.mutations or st.files or st.seeds_rng or st.removed:
        return None
    return target.id


def _overwritten_before_use(name: str, later: list[Stmt]) -> bool:
    for st in later:
        if st.kind in _OPAQUE:
            return False
        touched = (name in st.reads or name in st.binds or name in st.maybe
                   or name in st.deletes or any(m.root == name for m in st.mutations))
        if not touched:
            continue
        if st.kind in _READS_IGNORED_IN and name not in st.binds | st.maybe | st.deletes:
            continue
        return (st.kind in KEPT_KINDS and name in st.binds and name not in st.reads
                and name not in st.maybe and not any(m.root == name for m in st.mutations))
    return False


# ---- calls with no other effect -------------------------------------------------------------

def _effect_free(value: ast.expr, imports: dict[str, str], before: list[Stmt]) -> bool:
    for node in ast.walk(value):
        if isinstance(node, (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await, ast.Lambda)):
            return False
        if isinstance(node, ast.Call) and not _pure_call(node, imports, before):
            return False
    return True


def _qualified(func: ast.expr, imports: dict[str, str]) -> str:
    """`cross_val_score` -> 'sklearn.model_selection.cross_val_score', `np.mean` ->
    'numpy.mean'; '' for a method called on a value."""
    if isinstance(func, ast.Name):
        return imports.get(func.id, func.id if func.id in rules.PURE_BUILTINS else "")
    if isinstance(func, ast.Attribute):
        base = _qualified(func.value, imports) if isinstance(
            func.value, (ast.Name, ast.Attribute)) else ""
        return f"{base}.{func.attr}" if base and base not in rules.PURE_BUILTINS else ""
    return ""


def _pure_call(call: ast.Call, imports: dict[str, str], before: list[Stmt]) -> bool:
    q = _qualified(call.func, imports)
    if q:
        if q in rules.PURE_BUILTINS:
            return True
        if not _in_pure_table(q) or q in rules.ARG_MUTATORS:
            return False
        return not _draws(q, call, imports, before)
    func = call.func
    if isinstance(func, ast.Attribute):  # a method on a value
        return (func.attr in rules.DEAD_SCRATCH_METHODS
                and not any(k.arg == "inplace" for k in call.keywords))
    return False


def _in_pure_table(q: str) -> bool:
    if rules.in_modules(q, rules.DEAD_SCRATCH_NOT_PURE):
        return False
    if rules.matches(q, rules.DEAD_SCRATCH_CALLS):
        return True
    parts = q.split(".")
    # a class of a model library: constructing an estimator only stores its parameters
    return parts[0] in rules.DEAD_SCRATCH_CLASS_LIBRARIES and parts[-1][:1].isupper()


def _draws(q: str, call: ast.Call, imports: dict[str, str], before: list[Stmt]) -> bool:
    """Does the call draw from a global random generator? Cross-validation draws only through
    a random estimator or a splitter object; other RANDOM_STATE_APIS unless random_state=."""
    last = q.rsplit(".", 1)[-1]
    if rules.in_modules(q, ("numpy.random", "random", "torch")):
        return True
    if last in rules.CROSS_VALIDATION:
        estimator = call.args[0] if call.args else next(
            (k.value for k in call.keywords if k.arg == "estimator"), None)
        cv = next((k.value for k in call.keywords if k.arg == "cv"), None)
        cv_fixed = cv is None or (isinstance(cv, ast.Constant)
                                  and (cv.value is None or type(cv.value) is int))
        return not (cv_fixed and estimator is not None
                    and _deterministic(estimator, imports, before))
    if last in rules.RANDOM_STATE_APIS:
        return not any(k.arg == "random_state" for k in call.keywords)
    return False


def _deterministic(expr: ast.expr, imports: dict[str, str], before: list[Stmt],
                   depth: int = 0) -> bool:
    """An estimator expression that fits without a global random generator: constructed with
    an int random_state, or of a class that draws nothing (with settings that draw nothing),
    with deterministic parts; a name is followed to the statement that last bound it."""
    if depth > 4:
        return False
    if isinstance(expr, ast.Name):
        if expr.id in imports or expr.id in rules.PURE_BUILTINS:
            return True  # a module or builtin, not an estimator
        binding = next((st for st in reversed(before) if expr.id in st.binds | st.maybe), None)
        if (binding is None or not isinstance(binding.node, ast.Assign)
                or expr.id in binding.maybe or _params_reset(expr.id, before, binding)):
            return False
        return _deterministic(binding.node.value, imports, before[:before.index(binding)],
                              depth + 1)
    if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        return all(_deterministic(e, imports, before, depth + 1) for e in expr.elts)
    if isinstance(expr, ast.Dict):
        return all(_deterministic(e, imports, before, depth + 1) for e in expr.values)
    if not isinstance(expr, ast.Call):  # a constant, an expression over plain values
        return not any(isinstance(n, (ast.Call, ast.Name)) for n in ast.walk(expr)
                       if n is not expr) or isinstance(expr, ast.Constant)
    cls = _qualified(expr.func, imports).rsplit(".", 1)[-1]
    state = next((k.value for k in expr.keywords if k.arg == "random_state"), None)
    if state is not None:
        seeded = isinstance(state, ast.Constant) and type(state.value) is int
    else:
        seeded = cls in rules.DETERMINISTIC_ESTIMATORS and not any(
            isinstance(k.value, ast.Constant) and (k.arg, k.value.value) in rules.RANDOM_SETTINGS
            for k in expr.keywords)
    if seeded and state is not None and cls in rules.SEEDING_ENSEMBLES:
        return True  # it seeds the estimators it holds from its own random_state
    parts = list(expr.args) + [k.value for k in expr.keywords if k.arg != "random_state"]
    return seeded and all(_deterministic(p, imports, before, depth + 1) for p in parts)


def _params_reset(name: str, before: list[Stmt], binding: Stmt) -> bool:
    """`name.set_params(...)` after its binding: its settings may now draw."""
    after = before[before.index(binding) + 1:]
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "set_params" and isinstance(n.func.value, ast.Name)
               and n.func.value.id == name for st in after for n in ast.walk(st.node))
