"""Hard-coded secrets: find them in cell sources and rewrite them into environment reads.

This runs on the notebook BEFORE analysis (`api.plan_notebook` calls `rewrite_secrets` right
after reading), so no later stage ever sees a literal secret: the plan, the step modules, the
README, the deploy YAML all get `os.environ["NAME"]`. The values travel only in
`RewrittenNotebook.secrets`, from which conversion writes the git-ignored `secrets.local.env`
that the generated `_runtime` loads for local runs; on a cluster the same names come from a
Kubernetes Secret.

What counts as a secret (parsed, not regexed, except for the shape of the literal itself):
* an assignment of a non-empty string literal to a name, attribute or `os.environ[...]` key
  whose words look like a credential (token, password, secret, api key, ...);
* a keyword argument or dictionary key with such a name and a string literal
  (`connect(password="...")`, `{"password": "..."}`);
* any string literal shaped like a known credential (AWS access key id, GitHub / Slack /
  OpenAI-style tokens, PEM private keys), wherever it is;
* a `secret:NAME` tag on a cell that assigns NAME a string literal. A `secret:NAME` tag that
  names no variable of the cell names the environment variable of the cell's one secret.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field, replace

from nb2pipe.diagnostics import Diagnostic
from nb2pipe.notebook import Cell, Notebook

# Words (after splitting snake_case / camelCase) that mark a credential.
SECRET_WORDS = {"token", "tokens", "password", "passwd", "pwd", "secret", "secrets", "apikey",
                "credential", "credentials", "passphrase", "accesskey", "secretkey",
                "privatekey", "bearer"}
SECRET_PAIRS = {("api", "key"), ("access", "key"), ("secret", "key"), ("private", "key"),
                ("auth", "token"), ("client", "secret"), ("app", "key"), ("account", "key"),
                ("conn", "str"), ("connection", "string")}
# Names that contain a secret word but are not secrets.
NOT_SECRET_WORDS = {"tokenizer", "tokenize", "tokenized", "max", "min", "num", "n", "len",
                    "length", "count", "col", "column", "field", "url", "path", "file",
                    "prefix", "type", "pattern", "regex", "pos", "idx", "index", "id", "ids",
                    "name", "names", "label", "env", "var"}

SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("AWS_ACCESS_KEY_ID", re.compile(r"^(AKIA|ASIA)[0-9A-Z]{16}$")),
    ("GITHUB_TOKEN", re.compile(r"^(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}$|^github_pat_\w{40,}$")),
    ("SLACK_TOKEN", re.compile(r"^xox[abposr]-[A-Za-z0-9-]{10,}$")),
    ("OPENAI_API_KEY", re.compile(r"^sk-[A-Za-z0-9_-]{20,}$")),
    ("HF_TOKEN", re.compile(r"^hf_[A-Za-z0-9]{30,}$")),
    ("GOOGLE_API_KEY", re.compile(r"^AIza[0-9A-Za-z_-]{35}$")),
    ("PRIVATE_KEY", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOCAL_FILE = "secrets.local.env"


@dataclass(frozen=True)
class SecretRef:
    env: str  # environment variable (and key in the Kubernetes Secret)
    cell: int
    line: int
    col: int
    via: str  # "name" | "keyword" | "key" | "shape" | "tag"
    value: str = field(repr=False, default="")  # the literal: only for secrets.local.env


@dataclass(frozen=True)
class RewrittenNotebook(Notebook):
    """The notebook with secrets replaced by environment reads; values kept out of repr."""

    secrets: tuple[SecretRef, ...] = field(default=(), compare=False, repr=False)


def _words(name: str) -> list[str]:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", name.lower()) if w]


def looks_secret(name: str) -> bool:
    """Does a variable / keyword / env name look like it holds a credential?"""
    words = _words(name)
    if not words or any(w in NOT_SECRET_WORDS for w in words):
        return False
    if any(w in SECRET_WORDS for w in words):
        return True
    return any(p in SECRET_PAIRS for p in zip(words, words[1:]))


def _shape(value: str) -> str | None:
    for env, pat in SHAPES:
        if pat.search(value):
            return env
    return None


def _env_for(name: str) -> str:
    env = re.sub(r"[^A-Za-z0-9_]", "_", name).upper().strip("_") or "SECRET"
    if env[0].isdigit():
        env = "_" + env
    return env if looks_secret(env) else env + "_SECRET"


@dataclass
class _Hit:
    node: ast.Constant
    env: str
    via: str


class _Finder(ast.NodeVisitor):
    def __init__(self, tagged: set[str]) -> None:
        self.hits: list[_Hit] = []
        self.tagged = tagged
        self.seen: set[int] = set()

    def _add(self, node: ast.AST, env: str, via: str) -> None:
        if (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value
                and id(node) not in self.seen):
            self.seen.add(id(node))
            self.hits.append(_Hit(node, env, via))

    @staticmethod
    def _target_name(t: ast.AST) -> str | None:
        if isinstance(t, ast.Name):
            return t.id
        if isinstance(t, ast.Attribute):
            return t.attr
        if (isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)
                and isinstance(t.slice.value, str)):
            return t.slice.value
        return None

    def _assign(self, targets: list[ast.AST], value: ast.AST | None) -> None:
        if value is None:
            return
        for t in targets:
            name = self._target_name(t)
            if name is None:
                continue
            if name in self.tagged:
                self._add(value, _env_for(name), "tag")
            elif looks_secret(name):
                self._add(value, _env_for(name), "name")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._assign(node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._assign([node.target], node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg and looks_secret(kw.arg):
                self._add(kw.value, _env_for(kw.arg), "keyword")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:  # {"password": "..."} (connection configs)
        for k, v in zip(node.keys, node.values):
            if isinstance(k, ast.Constant) and isinstance(k.value, str) and looks_secret(k.value):
                self._add(v, _env_for(k.value), "key")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and id(node) not in self.seen:
            env = _shape(node.value)
            if env:
                self._add(node, env, "shape")


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        pass
    try:  # IPython syntax (magics, !shell): transformed line by line, positions kept
        from nb2pipe.analysis.ipysyntax import ipython_to_python

        return ast.parse(ipython_to_python(source))
    except Exception:  # noqa: BLE001 - an unparsable cell is reported by the analyzer
        return None


def _offsets(source: str) -> list[int]:
    starts, pos = [0], 0
    for line in source.split("\n"):
        pos += len(line) + 1
        starts.append(pos)
    return starts


def _imports_os(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == "os" and a.asname in (None, "os")
                                                for a in node.names):
            return True
    return False


def rewrite_secrets(nb: Notebook) -> tuple[Notebook, list[Diagnostic]]:
    """A notebook whose cells read secrets from the environment, and one diagnostic each."""
    diags: list[Diagnostic] = []
    secrets: list[SecretRef] = []
    cells: list[Cell] = []
    os_imported = False
    used_env: dict[str, str] = {}  # env name -> value (one value per name)
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            cells.append(cell)
            continue
        tree = _parse(cell.source)
        if tree is None:
            cells.append(cell)
            continue
        tagged = set(cell.tag_values("secret"))
        finder = _Finder(tagged)
        finder.visit(tree)
        _name_by_tag(finder.hits, tagged - _assigned_names(tree))
        starts = _offsets(cell.source)
        src = cell.source
        edits: list[tuple[int, int, str]] = []
        have_os = os_imported or _imports_os(tree)
        first = tree.body[0] if tree.body else None
        if not have_os and finder.hits and _simple_at_line_start(first, src, starts):
            # `import os; ` in front of the cell's first statement keeps every line number
            assert first is not None
            edits.append((starts[first.lineno - 1], starts[first.lineno - 1], "import os; "))
            have_os = True
        for hit in finder.hits:
            n = hit.node
            if n.end_lineno is None or n.end_col_offset is None:
                continue
            # ast columns are UTF-8 byte offsets; convert through the line's bytes
            a = starts[n.lineno - 1] + _char_col(src, starts, n.lineno, n.col_offset)
            b = starts[n.end_lineno - 1] + _char_col(src, starts, n.end_lineno, n.end_col_offset)
            try:
                literal = ast.literal_eval(src[a:b])
            except (ValueError, SyntaxError):
                continue  # positions do not match the original text (IPython-transformed)
            if literal != n.value:
                continue
            env = hit.env
            if used_env.get(env, n.value) != n.value:  # same name, other value: number it
                k = 2
                while f"{env}_{k}" in used_env and used_env[f"{env}_{k}"] != n.value:
                    k += 1
                env = f"{env}_{k}"
            used_env[env] = n.value
            read = f'os.environ["{env}"]' if have_os else f'__import__("os").environ["{env}"]'
            edits.append((a, b, read))
            secrets.append(SecretRef(env, cell.index, n.lineno, n.col_offset, hit.via, n.value))
            diags.append(Diagnostic(
                "NB220", f"hard-coded secret ({_why(hit.via)}) replaced by the environment "
                         f"variable {env}; its value is in {LOCAL_FILE} (git-ignored) for local "
                         "runs and comes from a Kubernetes Secret on a cluster",
                path=nb.path, cell=cell.index, line=n.lineno, col=n.col_offset))
        if len(edits) == 1 and edits[0][2] == "import os; ":
            edits = []
        for a, b, text in sorted(edits, reverse=True):
            src = src[:a] + text + src[b:]
        tags = cell.tags
        for env in dict.fromkeys(s.env for s in secrets if s.cell == cell.index):
            if f"secret:{env}" not in tags:
                tags = tags + (f"secret:{env}",)
        cells.append(replace(cell, source=src, tags=tags) if edits else cell)
        os_imported = os_imported or have_os
    if not secrets:
        return nb, diags
    return RewrittenNotebook(path=nb.path, cells=tuple(cells), metadata=nb.metadata,
                             content_hash=nb.content_hash, secrets=tuple(secrets)), diags


def _assigned_names(tree: ast.Module) -> set[str]:
    return {n.id for n in ast.walk(tree)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _name_by_tag(hits: list[_Hit], env_tags: set[str]) -> None:
    """A `secret:NAME` tag that names no variable of the cell names the environment variable
    of the cell's one secret (`secret:MY_TOKEN` on `TOKEN = "..."` reads MY_TOKEN): one name
    per secret, the one the user chose. With several secrets in the cell it cannot say which,
    and each keeps its own name."""
    names = [t for t in env_tags if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", t)]
    if len(names) == 1 and len(hits) == 1:
        hits[0].env = names[0]


def _simple_at_line_start(stmt: ast.stmt | None, src: str, starts: list[int]) -> bool:
    simple = (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Import, ast.ImportFrom,
              ast.Pass, ast.Delete, ast.Assert)
    if not isinstance(stmt, simple) or stmt.col_offset != 0:
        return False
    line = src[starts[stmt.lineno - 1]:].split("\n", 1)[0]
    return not line.lstrip().startswith(("%", "!", "?"))


def _char_col(src: str, starts: list[int], lineno: int, byte_col: int) -> int:
    line = src[starts[lineno - 1]:starts[lineno] - 1] if lineno < len(starts) else ""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _why(via: str) -> str:
    return {"name": "string assigned to a credential-like name",
            "keyword": "string passed as a credential-like keyword argument",
            "key": "string stored under a credential-like dictionary key",
            "shape": "string shaped like a known credential",
            "tag": "cell tagged secret:"}[via]


def secret_names(nb: Notebook) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.env for s in getattr(nb, "secrets", ())))


def local_secrets_file(nb: Notebook, needed: tuple[str, ...] | None = None) -> dict[str, str]:
    """The git-ignored secrets.local.env for local runs ({} when there are no secrets).

    One NAME=value line for each secret the pipeline reads (`needed`; by default every secret
    the rewrite found), so that `kubectl create secret generic --from-env-file` makes exactly
    the keys the pods ask for. A secret the notebook does not hold (the code reads it, a
    `secret:` tag marks it) gets an empty line to fill in. Values with spaces, quotes or
    newlines are JSON-quoted (the generated `_runtime` reads both forms; kubectl reads the
    plain form)."""
    values: dict[str, str] = {}
    for s in getattr(nb, "secrets", ()):
        values.setdefault(s.env, s.value)
    names = list(values) if needed is None else list(needed)
    if not names:
        return {}
    lines = ["# Secrets the pipeline reads, for local runs only. Never commit this file",
             "# (it is in .gitignore). On a cluster the same names come from a Kubernetes",
             "# Secret: kubectl create secret generic NAME --from-env-file=secrets.local.env"]
    for name in names:
        if name not in values:
            lines.append(f"# {name}: read by the pipeline, not in the notebook: set its value")
            lines.append(f"{name}=")
            continue
        v = values[name]
        plain = v == v.strip() and not any(ch in v for ch in "\n\r\"'#\\") and v
        lines.append(f"{name}={v if plain else json.dumps(v)}")
    return {LOCAL_FILE: "\n".join(lines) + "\n"}
