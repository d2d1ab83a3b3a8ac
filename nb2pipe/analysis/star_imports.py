"""The names `from module import *` binds, found without running the module's code.

A star import hides which names a cell defines; the analyzer needs them to follow data flow,
and the generated code must import them explicitly. Where the module has Python source (an
installed package, or a `.py` file next to the notebook) the names come from reading it with
`ast`: its `__all__` where it spells one out, else its public top-level names, following its
own star imports. Only a module without source (an extension or built-in module) is imported,
which runs no user code. Locating a submodule never imports its parent packages either:
`importlib.util.find_spec("pandas.tseries.offsets")` would import pandas, so the parents are
walked with `PathFinder` instead (this runs in the pre-commit hook, where speed matters).
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StarExports:
    """What a star import of `module` binds; `problem` says why it is unknown (names empty)."""
    module: str
    names: tuple[str, ...] = ()
    problem: str = ""


class _Unknown(Exception):
    """The names cannot be found statically; the message says why."""


class StarImportResolver:
    """Resolves star imports for one conversion; each module is read at most once."""

    def __init__(self, notebook_dir: Path | None) -> None:
        self._notebook_dir = notebook_dir
        self._cache: dict[str, StarExports] = {}

    def exports(self, module: str) -> StarExports:
        if module not in self._cache:
            try:
                names = self._names(module, frozenset())
                self._cache[module] = StarExports(module, tuple(sorted(names)))
            except _Unknown as e:
                self._cache[module] = StarExports(module, problem=str(e))
        return self._cache[module]

    def _names(self, module: str, resolving: frozenset[str]) -> set[str]:
        if module in resolving:  # a cycle of star imports adds nothing new
            return set()
        spec = find_module_spec(module, self._notebook_dir)
        if spec is None and module in sys.modules:
            # a module another one installs under its name (`os.path`): loaded already,
            # so reading its names runs nothing
            return _public_names_of(sys.modules[module])
        if spec is None:
            raise _Unknown(f"module '{module}' cannot be found")
        source = _source_of(spec)
        if source is None and _is_beside(spec, self._notebook_dir):
            # importing the user's own compiled module would run user code
            raise _Unknown(f"module '{module}' next to the notebook has no Python source")
        if source is None:
            return _names_by_import(module, spec)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
            raise _Unknown(f"module '{module}' does not parse: {type(e).__name__}") from None
        package = module if spec.submodule_search_locations is not None \
            else module.rpartition(".")[0]
        try:
            return exported_names(tree, package,
                                  lambda m: self._names(m, resolving | {module}),
                                  is_package=package == module)
        except _Unknown as e:
            if str(e).startswith("its "):  # say whose, once, at the innermost module
                raise _Unknown(f"module '{module}': {e}") from None
            raise


def find_module_spec(module: str, notebook_dir: Path | None):
    """The module's spec, without importing it or its parents; a file beside the notebook
    comes first, as it does in the notebook's kernel."""
    parts = module.split(".")
    try:
        spec = None
        if notebook_dir is not None:
            spec = importlib.machinery.PathFinder.find_spec(parts[0], [str(notebook_dir)])
        if spec is None:
            spec = importlib.util.find_spec(parts[0])
        for i in range(1, len(parts)):
            if spec is None or spec.submodule_search_locations is None:
                return None
            spec = importlib.machinery.PathFinder.find_spec(
                ".".join(parts[:i + 1]), list(spec.submodule_search_locations))
    except (ImportError, ValueError, OSError):  # a broken path entry or sys.modules item
        return None
    return spec


def _is_beside(spec, notebook_dir: Path | None) -> bool:
    if notebook_dir is None or not spec.origin or not spec.has_location:
        return False  # built-in and frozen modules have no file ("built-in" is no path)
    try:
        return Path(spec.origin).resolve().is_relative_to(Path(notebook_dir).resolve())
    except (OSError, ValueError):
        return False


def _source_of(spec) -> str | None:
    origin = spec.origin
    if spec.submodule_search_locations is not None and origin in (None, "namespace"):
        return ""  # a namespace package: no __init__, a star import binds nothing
    if not spec.has_location or not origin or not origin.endswith(".py"):
        return None
    try:
        return Path(origin).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _names_by_import(module: str, spec) -> set[str]:
    """An extension or built-in module has no source to read: import it (no user code)."""
    if spec.origin and spec.origin.endswith(".py"):
        raise _Unknown(f"the source of module '{module}' cannot be read")
    try:
        mod = importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - any failure means the names are unknown
        raise _Unknown(f"module '{module}' cannot be imported: {type(e).__name__}") from None
    return _public_names_of(mod)


def _public_names_of(mod) -> set[str]:
    declared = getattr(mod, "__all__", None)
    if declared is not None:
        return {n for n in declared if isinstance(n, str)}
    return {n for n in dir(mod) if not n.startswith("_")}


def exported_names(tree: ast.Module, package: str, star_names, is_package: bool = False
                   ) -> set[str]:
    """Names `from <tree's module> import *` binds. `package` resolves relative imports;
    `star_names(module)` gives the names of a star import inside the module."""
    statements = list(_top_level(tree.body))
    declared = _declared_all(statements, package, star_names)
    if declared is not None:
        _check_all_only_changed_as_understood(tree, statements)
    if declared is not None:
        return declared
    return _public_bound(statements, package, star_names, is_package)


def _public_bound(statements: list[ast.stmt], package: str, star_names,
                  is_package: bool = False) -> set[str]:
    """The public names these statements bind, through their own star imports too."""
    names: set[str] = set()
    for s in statements:
        if is_package and isinstance(s, ast.ImportFrom) and s.level == 1 and s.module:
            # importing `.sub` binds the submodule in its package's namespace too
            names.add(s.module.split(".")[0])
        if isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names):
            names |= star_names(_absolute(s, package))
        else:
            names |= _bound_by(s)
    return {n for n in names if not n.startswith("_")}


def _top_level(body: list[ast.stmt]):
    """Statements run at import time: module level and inside if/try/with/for/while blocks,
    never inside a def or class."""
    for s in body:
        yield s
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        # `if TYPE_CHECKING:` bodies never run: their imports bind nothing
        fields = ("orelse",) if _is_type_checking(s) else ("body", "orelse", "finalbody")
        for field in fields:
            yield from _top_level(getattr(s, field, []) or [])
        for h in getattr(s, "handlers", []) or []:
            yield from _top_level(h.body)


def _is_type_checking(s: ast.stmt) -> bool:
    if not isinstance(s, ast.If):
        return False
    t = s.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _bound_by(s: ast.stmt) -> set[str]:
    if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {s.name}
    if isinstance(s, ast.Import):
        return {a.asname or a.name.split(".")[0] for a in s.names}
    if isinstance(s, ast.ImportFrom):
        return {a.asname or a.name for a in s.names}
    targets: list[ast.AST] = []
    if isinstance(s, ast.Assign):
        targets = list(s.targets)
    elif isinstance(s, (ast.AnnAssign, ast.AugAssign)) and (
            not isinstance(s, ast.AnnAssign) or s.value is not None):
        targets = [s.target]
    elif isinstance(s, (ast.For, ast.AsyncFor)):
        targets = [s.target]
    elif isinstance(s, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in s.items if i.optional_vars is not None]
    elif isinstance(s, ast.Try):
        return {h.name for h in s.handlers if h.name}
    return {n.id for t in targets for n in ast.walk(t)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _declared_all(statements: list[ast.stmt], package: str, star_names) -> set[str] | None:
    """The module's `__all__`, from `=`, `+=`, `.extend(...)` and `.append(...)` at module
    level; None when it has none. A value built some other way is unknown."""
    found: set[str] | None = None
    for s in statements:
        if isinstance(s, (ast.Assign, ast.AnnAssign)) and s.value is not None and any(
                isinstance(t, ast.Name) and t.id == "__all__"
                for t in (s.targets if isinstance(s, ast.Assign) else [s.target])):
            found = _literal_names(s.value, statements, package, star_names)
        elif isinstance(s, ast.AugAssign) and isinstance(s.target, ast.Name) \
                and s.target.id == "__all__":
            found = (found or set()) | _literal_names(s.value, statements, package, star_names)
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) \
                and isinstance(s.value.func, ast.Attribute) \
                and isinstance(s.value.func.value, ast.Name) \
                and s.value.func.value.id == "__all__":
            call = s.value
            if call.func.attr not in ("extend", "append") or len(call.args) != 1:
                raise _Unknown("its __all__ is changed by a call nb2pipe cannot follow")
            arg = call.args[0]
            more = ({_string(arg)} if call.func.attr == "append"
                    else _literal_names(arg, statements, package, star_names))
            found = (found or set()) | more
    return found


def _changes_all(s: ast.stmt) -> bool:
    """Whether `_declared_all` reads this statement as a change of `__all__`."""
    if isinstance(s, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == "__all__" for t in s.targets)
    if isinstance(s, (ast.AnnAssign, ast.AugAssign)):
        return isinstance(s.target, ast.Name) and s.target.id == "__all__"
    return (isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
            and isinstance(s.value.func, ast.Attribute)
            and isinstance(s.value.func.value, ast.Name) and s.value.func.value.id == "__all__")


def _check_all_only_changed_as_understood(tree: ast.Module, statements) -> None:
    """Any other use of `__all__` (a helper function that appends to it, a loop, `del`)
    may change it in ways a literal reading misses: then the names are unknown, never
    silently incomplete."""
    understood = {id(n) for s in statements if _changes_all(s) for n in ast.walk(s)}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id == "__all__" and id(n) not in understood:
            raise _Unknown(f"its __all__ is changed at line {n.lineno} in a way nb2pipe "
                           "cannot follow")


def _literal_names(e: ast.expr, statements, package: str, star_names) -> set[str]:
    if isinstance(e, (ast.List, ast.Tuple, ast.Set)):
        return {_string(x) for x in e.elts}
    if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.BitOr)):
        return (_literal_names(e.left, statements, package, star_names)
                | _literal_names(e.right, statements, package, star_names))
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) \
            and e.func.id in ("list", "tuple", "set", "sorted") and len(e.args) == 1 \
            and not e.keywords:
        return _literal_names(e.args[0], statements, package, star_names)
    if isinstance(e, ast.Attribute) and e.attr == "__all__":
        # `other.__all__` or `other.sub.__all__`, where `other` is a module this one imports
        module = _dotted_module(e.value, statements, package)
        if module is not None:
            return star_names(module)
    if isinstance(e, ast.Name):
        # a module-level list of names defined earlier (`__all__ = _names + [...]`)
        value = _last_assigned(e.id, statements[:_index_of_all_using(e, statements)])
        if value is not None:
            return _literal_names(value, statements, package, star_names)
    if _is_public_dir_comprehension(e):
        # `[s for s in dir() if not s.startswith("_")]`: the public names bound before it
        return _public_bound(statements[:_index_of_all_using(e, statements)], package,
                             star_names)
    raise _Unknown("its __all__ is computed in a way nb2pipe cannot follow")


def _last_assigned(name: str, statements) -> ast.expr | None:
    for s in reversed(statements):
        if isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                             for t in s.targets):
            return s.value
    return None


def _dotted_module(e: ast.expr, statements, package: str) -> str | None:
    attrs: list[str] = []
    while isinstance(e, ast.Attribute):
        attrs.insert(0, e.attr)
        e = e.value
    if not isinstance(e, ast.Name):
        return None
    base = _module_bound_to(e.id, statements, package)
    return ".".join([base] + attrs) if base else None


def _is_public_dir_comprehension(e: ast.expr) -> bool:
    if not (isinstance(e, ast.ListComp) and len(e.generators) == 1):
        return False
    gen = e.generators[0]
    it = gen.iter
    return (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "dir"
            and not it.args and len(gen.ifs) == 1
            and "startswith" in ast.unparse(gen.ifs[0]) and "'_'" in ast.unparse(gen.ifs[0]))


def _index_of_all_using(e: ast.expr, statements) -> int:
    """Where the statement holding `e` is; the innermost one, as a block comes before the
    statements in it."""
    for i in range(len(statements) - 1, -1, -1):
        if any(sub is e for sub in ast.walk(statements[i])):
            return i
    return len(statements)


def _module_bound_to(name: str, statements, package: str) -> str | None:
    for s in statements:
        if isinstance(s, ast.Import):
            for a in s.names:
                if (a.asname or a.name) == name:
                    return a.name
        elif isinstance(s, ast.ImportFrom):
            for a in s.names:
                if (a.asname or a.name) == name:
                    base = _absolute(s, package)
                    return f"{base}.{a.name}" if base else a.name
    return None


def _absolute(s: ast.ImportFrom, package: str) -> str:
    if not s.level:
        return s.module or ""
    parts = package.split(".") if package else []
    base = parts[:len(parts) - (s.level - 1)] if s.level > 1 else parts
    return ".".join(base + ([s.module] if s.module else []))


def _string(e: ast.expr) -> str:
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return e.value
    raise _Unknown("its __all__ holds something other than strings")


def names_read_in(trees) -> frozenset[str]:
    """Every name a notebook loads anywhere (cells, defs, lambdas): the names a star import
    can matter for."""
    return frozenset(n.id for tree in trees for n in ast.walk(tree)
                     if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))


def explicit_import(node: ast.ImportFrom, resolver: StarImportResolver,
                    read: frozenset[str]) -> tuple[ast.ImportFrom | None, str]:
    """`from m import *` as `from m import a, b`: the exported names the notebook reads (an
    unread one changes nothing, and listing hundreds would bury the generated imports).
    Returns (None, message) when the names cannot be known."""
    shown = f"`from {'.' * node.level}{node.module or ''} import *`"
    if node.level or not node.module:
        return None, f"{shown}: a relative star import cannot be resolved from a notebook"
    found = resolver.exports(node.module)
    if found.problem:
        return None, f"{shown}: {found.problem}, so the names it defines are unknown"
    names = [ast.alias(name=n) for n in found.names if n in read]
    explicit = ast.ImportFrom(module=node.module, names=names, level=0)
    return ast.copy_location(explicit, node), ""
