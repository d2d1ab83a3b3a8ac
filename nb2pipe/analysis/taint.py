"""Which notebook values are built from a secret: a forward taint pass over the statements.

The secrets rewrite (`secrets.py`) turns every hard-coded credential into an environment read,
so the sources are plain to see: `os.environ["NAME"]`, `os.environ.get("NAME")` and
`os.getenv("NAME")` of a secret name (one the rewrite lifted, or a credential-like name the
notebook reads itself, the same rule the deploy emitters use for Kubernetes Secrets).

Data flow, in notebook order: a statement that reads a source, or a tainted name, or calls a
notebook function that does, taints every name it binds, may bind or mutates (a mutation is a
write). A plain rebinding from clean values clears the taint. The planner uses the result so
that no tainted value becomes a step input or output (nothing built from a secret reaches the
artifact store, the lineage or a cluster's artifact repository).

Pure functions over the analysis; nothing here changes a `Stmt`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Iterable

from nb2pipe.analysis.secrets import SHAPES, looks_secret

# Statement kinds that run no notebook code of their own at a step's place in the data flow.
_NOT_DATA = frozenset({"import", "def", "class", "param", "metrics"})
_SHAPED_ENV = frozenset(env for env, _ in SHAPES)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Calls whose result tells next to nothing about their argument: `n = len(token)` is not a
# secret. Comparisons (a bool) and the tests of `if` / `while` (control flow only, not
# tracked, as in usual taint analysis) do not pass taint on either.
DECLASSIFY_CALLS = frozenset({"len", "bool", "isinstance", "callable", "hasattr", "type"})


@dataclass(frozen=True)
class StmtTaint:
    """What the taint pass found at one statement (by `Stmt.seq`)."""

    reads: frozenset[str]  # tainted names it reads (before it runs)
    envs: frozenset[str]  # secret environment variables its results derive from


@dataclass(frozen=True)
class SecretFlow:
    """Result of the taint pass.

    `derived` maps every name that holds a secret-derived value at some point to the secret
    environment variables it derives from; `at` holds the facts per statement that reads or
    produces one.
    """

    derived: dict[str, frozenset[str]] = field(default_factory=dict)
    at: dict[int, StmtTaint] = field(default_factory=dict)
    final: frozenset[str] = frozenset()  # names still secret-derived when the notebook ends

    def __bool__(self) -> bool:
        return bool(self.derived)


def env_reads(tree: ast.AST) -> list[str]:
    """Environment variable names read with os.environ[...] / os.environ.get(...) /
    os.getenv(...) (any spelling whose attribute is `environ` / `getenv`: `__import__("os")`
    included), in source order."""
    found: list[str] = []

    def is_environ(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute):
            f = node.func
            if (f.attr == "get" and is_environ(f.value)) or f.attr == "getenv":
                key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.append(key.value)
    return found


def is_secret_env(name: str, lifted: Iterable[str] = ()) -> bool:
    """A secret environment variable: one the rewrite lifted a literal into, or one whose
    name looks like a credential (token, password, api key, ...) or a known key shape."""
    return bool(_ENV_NAME.match(name)) and (name in set(lifted) or looks_secret(name)
                                            or name in _SHAPED_ENV)


def secret_env_reads(tree: ast.AST, lifted: Iterable[str] = ()) -> frozenset[str]:
    lifted = set(lifted)
    return frozenset(n for n in env_reads(tree) if is_secret_env(n, lifted))


def leaking_names(node: ast.AST, names: frozenset[str] | set[str]) -> set[str]:
    """The names of `names` that `node` reads where their value can flow into what it binds:
    everywhere except as arguments of DECLASSIFY_CALLS, inside a comparison, or as the test
    of an `if` / `while` / conditional expression."""
    out: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name):
            if n.id in names and isinstance(n.ctx, ast.Load):
                out.add(n.id)
            continue
        if isinstance(n, ast.Compare):
            continue
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                and n.func.id in DECLASSIFY_CALLS):
            continue
        if isinstance(n, (ast.If, ast.While, ast.IfExp)):
            stack.extend(c for c in ast.iter_child_nodes(n) if c is not n.test)
            continue
        stack.extend(ast.iter_child_nodes(n))
    return out


def definition_closure(names: Iterable[str], free_of: dict[str, set[str]]) -> set[str]:
    """`names` plus the free names of the notebook functions among them, transitively: what a
    statement really reads when it calls a function that reads notebook globals."""
    out = set(names)
    stack = [n for n in out if n in free_of]
    seen: set[str] = set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for m in free_of.get(n, ()):
            out.add(m)
            if m in free_of:
                stack.append(m)
    return out


def definition_sources(definitions, lifted: Iterable[str] = ()) -> dict[str, frozenset[str]]:
    """Notebook functions/classes that read a secret from the environment themselves, or call
    one that does: name -> the secret variables (all versions of a name together)."""
    lifted = set(lifted)
    own: dict[str, frozenset[str]] = {}
    free_of: dict[str, set[str]] = {}
    for d in definitions:
        own[d.name] = own.get(d.name, frozenset()) | secret_env_reads(d.node, lifted)
        free_of.setdefault(d.name, set()).update(d.free)
    out: dict[str, frozenset[str]] = {}
    for name in own:
        envs: frozenset[str] = frozenset()
        for n in definition_closure([name], free_of):
            envs |= own.get(n, frozenset())
        if envs:
            out[name] = envs
    return out


def trace(stmts, definitions, lifted: Iterable[str] = ()) -> SecretFlow:
    """The taint pass over `stmts` (analysis statements, notebook order; stripped statements
    run nowhere and are skipped). Module names (imports) are never tainted."""
    lifted = set(lifted)
    free_of: dict[str, set[str]] = {}
    for d in definitions:
        free_of.setdefault(d.name, set()).update(d.free)
    def_envs = definition_sources(definitions, lifted)
    current: dict[str, frozenset[str]] = {}
    derived: dict[str, frozenset[str]] = {}
    at: dict[int, StmtTaint] = {}
    modules: set[str] = set()
    for st in stmts:
        if st.kind == "import":
            modules |= set(st.import_names)
            for n in st.import_names:
                current.pop(n, None)
            continue
        if st.stripped or st.kind in _NOT_DATA:
            continue
        reads = definition_closure(st.reads, free_of)
        tainted_reads = frozenset(r for r in reads if r in current)
        # read directly where the value cannot flow on (`len(token)`), or only inside a
        # notebook function (then it may: conservative)
        named = {n.id for n in ast.walk(st.node) if isinstance(n, ast.Name)}
        flowing = leaking_names(st.node, tainted_reads) | (tainted_reads - named)
        envs = secret_env_reads(st.node, lifted)
        for r in reads:
            envs |= def_envs.get(r, frozenset())
        for r in flowing:
            envs |= current[r]
        if tainted_reads or envs:
            at[st.seq] = StmtTaint(tainted_reads, frozenset(envs))
        written = (st.binds | st.maybe | st.mutated) - modules
        if envs:
            for w in written:
                keep = current.get(w, frozenset()) if w not in st.binds else frozenset()
                current[w] = keep | envs
                derived[w] = derived.get(w, frozenset()) | envs
        else:
            for b in st.binds:
                current.pop(b, None)  # a clean rebinding: the old value is gone
        for d in st.deletes:
            current.pop(d, None)
    return SecretFlow(derived=derived, at=at, final=frozenset(current))
