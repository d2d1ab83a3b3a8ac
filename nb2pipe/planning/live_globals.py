"""Notebook variables that shared classes read while their methods run ("live globals").

A class defined in the notebook moves to common.py unchanged, and its methods read such a
variable as a global of common's module namespace. So that a method sees the value the
variable has *when the method is called* (as in the kernel, where the namespace is one), every
step keeps common's namespace in step with its own variables:

* at its start it sets each of them from its inputs (`_common.factor = factor`), and
* right after each statement that rebinds one, it sets it again (inside loops and branches too,
  at the place of the binding, so a method called in the same loop body sees the new value).

Which steps: any step that runs after the class is defined may call its methods (through an
instance that arrived as an input, or implicitly: `repr`, operators, a scikit-learn pipeline
calling `transform`), so each such step receives those variables. That costs data edges, never
correctness.

What this cannot cover (NB208): code of the class that runs when the class statement runs -
class attributes, method defaults and decorators inside the class body - because common.py
runs it at import, before any step has set a variable.
"""

from __future__ import annotations

import ast
import copy

COMMON = "_common"  # how step modules name the shared module

# above the variables' declarations in common.py (they are bound there so that the module
# reads, and lints, as complete Python; every step sets them before running any code)
DECLARATION_COMMENT = (
    "# Notebook variables that the classes below read when their methods run. Each step sets\n"
    "# them here from its own values, at its start and after each statement that rebinds one\n"
    "# (`_common.name = name`), so a method sees the value it has when called, as in the\n"
    "# notebook.")


def definition_time_reads(node: ast.ClassDef) -> list[ast.Name]:
    """Names the class body reads when the class statement runs (not when methods run):
    class-level statements, and the defaults, decorators and annotations of its methods.
    Bases, keywords and the class's own decorators are checked with functions (NB212)."""
    found: list[ast.Name] = []

    def visit_body(body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = stmt.args
                eager: list[ast.AST] = list(stmt.decorator_list) + list(a.defaults) + [
                    d for d in a.kw_defaults if d is not None]
                for part in eager:
                    found.extend(_loads(part))
            elif isinstance(stmt, ast.ClassDef):
                for part in stmt.decorator_list + stmt.bases + [k.value for k in stmt.keywords]:
                    found.extend(_loads(part))
                visit_body(stmt.body)
            else:
                found.extend(_loads(stmt))

    visit_body(node.body)
    return found


def _loads(node: ast.AST) -> list[ast.Name]:
    """Name loads in `node`, not looking into lambdas (their bodies run later)."""
    out: list[ast.Name] = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, ast.Lambda):
            continue
        if isinstance(cur, ast.Name) and isinstance(cur.ctx, ast.Load):
            out.append(cur)
        stack.extend(ast.iter_child_nodes(cur))
    return out


def live_names(last_seq: int, classes: list[tuple[int, tuple[str, ...]]]) -> set[str]:
    """The variables of every class (its definition seq, its variables) defined before a
    step's last statement (`last_seq`): the step may run those classes' methods."""
    return {n for seq, variables in classes if seq < last_seq for n in variables}


def sync_line(name: str) -> str:
    return f"{COMMON}.{name} = {name}"


def _sync_stmt(name: str) -> ast.stmt:
    return ast.parse(sync_line(name)).body[0]


def _target_names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Store)}


def _walrus_names(node: ast.AST) -> set[str]:
    return {n.target.id for n in _walk_no_scope(node) if isinstance(n, ast.NamedExpr)}


def _walk_no_scope(node: ast.AST):
    """ast.walk that does not enter lambdas or nested function/class bodies."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        for child in ast.iter_child_nodes(cur):
            if not isinstance(child, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef,
                                      ast.ClassDef)):
                stack.append(child)


_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
             ast.Match) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


def _header_binds(stmt: ast.stmt) -> set[str]:
    """Names a compound statement binds before its body runs (loop and `with` targets,
    walrus in a test)."""
    names: set[str] = set()
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        names |= _target_names(stmt.target) | _walrus_names(stmt.iter)
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        for item in stmt.items:
            names |= _walrus_names(item.context_expr)
            if item.optional_vars is not None:
                names |= _target_names(item.optional_vars)
    elif isinstance(stmt, (ast.If, ast.While)):
        names |= _walrus_names(stmt.test)
    elif isinstance(stmt, ast.Match):
        names |= _walrus_names(stmt.subject)
    return names


def _simple_binds(stmt: ast.stmt) -> set[str]:
    """Names a simple statement binds (assignment targets, `x += 1`, walrus)."""
    names: set[str] = set()
    if isinstance(stmt, ast.Assign):
        for t in stmt.targets:
            names |= _target_names(t)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        if not (isinstance(stmt, ast.AnnAssign) and stmt.value is None):
            names |= _target_names(stmt.target)
    return names | _walrus_names(stmt)


def _sync_block(body: list[ast.stmt], live: set[str]) -> tuple[list[ast.stmt], bool]:
    out: list[ast.stmt] = []
    changed = False
    for stmt in body:
        if isinstance(stmt, _COMPOUND):
            changed |= _sync_compound(stmt, live)
            out.append(stmt)
            after = _header_binds(stmt) & live
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(stmt)
            after = set()
        else:
            out.append(stmt)
            after = _simple_binds(stmt) & live
        out.extend(_sync_stmt(n) for n in sorted(after))
        changed |= bool(after)
    return out, changed


def _sync_compound(stmt: ast.stmt, live: set[str]) -> bool:
    changed = False
    header = _header_binds(stmt) & live
    blocks: list[tuple[ast.AST, str]] = [(stmt, f) for f in ("body", "orelse", "finalbody")
                                         if getattr(stmt, f, None)]
    blocks += [(h, "body") for h in getattr(stmt, "handlers", [])]
    blocks += [(c, "body") for c in getattr(stmt, "cases", [])]
    for owner, field_name in blocks:
        new, ch = _sync_block(getattr(owner, field_name), live)
        if owner is stmt and field_name == "body" and header:
            new = [_sync_stmt(n) for n in sorted(header)] + new
            ch = True
        setattr(owner, field_name, new)
        changed |= ch
    return changed


def with_syncs(source: str, lead: str, live: set[str]) -> str:
    """`source` (one statement, as it goes into the step) with `_common.<name> = <name>` after
    every binding of a live name. A simple statement keeps its text (and comments); a compound
    one that binds a live name inside is regenerated from the tree."""
    if not live:
        return source
    try:
        tree = ast.parse(source)
    except SyntaxError:  # not expected: statements are parsed Python; keep it as it is
        return source
    if len(tree.body) == 1 and not isinstance(tree.body[0], _COMPOUND):
        names = sorted(_simple_binds(tree.body[0]) & live)
        return "\n".join([source] + [sync_line(n) for n in names])
    new_body, changed = _sync_block(copy.deepcopy(tree.body), live)
    if not changed:
        return source
    module = ast.Module(body=new_body, type_ignores=[])
    ast.fix_missing_locations(module)
    return (lead + "\n" if lead else "") + ast.unparse(module)


def eager_reads(node: ast.ClassDef, variables: set[str], readers: set[str]) -> list[ast.Name]:
    """Reads, when the class statement runs, of a notebook variable or of a shared function
    that reads one: common.py runs them at import, where no step has set the variable."""
    return [n for n in definition_time_reads(node) if n.id in variables or n.id in readers]
