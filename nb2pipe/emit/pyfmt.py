"""Black's layout without running black on what nb2pipe writes itself.

Generated modules must be black-formatted, but black costs about 5 µs per character, and most
of a generated project is nb2pipe's own scaffolding (the pipeline's step table, signatures,
return dictionaries, the test and Kubeflow modules), not the notebook's code. So:

- scaffolding is laid out here the way black lays it out: double-quoted strings, a bracketed
  construct on one line when it fits in 88 columns, else split at its outer bracket, with the
  body on one line (calls, signatures) or one item per line with a trailing comma
  (collections, imports, bodies that do not fit), recursively;
- the notebook's own code goes through black, a statement block at a time (`code`), inside a
  wrapper that gives black the same context as the generated file (depth, the line before,
  the line after), cached in memory and on disk per notebook (`FormatCache`), so a
  re-conversion after a small edit formats only the cells that changed.

`tests/test_format.py` checks that black leaves every generated file unchanged, on the golden
cases, the sample notebooks and generated notebooks of a few hundred cells.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Union

LINE_LENGTH = 88
INDENT = "    "
# a code block longer than this (a pasted 100,000-character literal) is written as it is:
# black would take seconds and explode it to one element per line
BLACK_LIMIT = 100_000


# ---------------------------------------------------------------------------------------------
# widths and literals
# ---------------------------------------------------------------------------------------------

def width(text: str) -> int:
    """Display width as black measures it (East Asian wide characters count 2)."""
    if text.isascii():
        return len(text)
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def fits(text: str, depth: int) -> bool:
    return width(INDENT * depth + text) <= LINE_LENGTH


def q(value: str) -> str:
    """A string literal the way black writes it (double quotes unless that adds escapes)."""
    if '"' not in value and "\\" not in value and value.isprintable():
        return '"' + value + '"'
    return normalize_quotes(repr(value))


def normalize_quotes(literal: str) -> str:
    """black's `normalize_string_quotes` for a plain (un-prefixed, single-line) literal."""
    if literal[:3] in ('"""', "'''") or literal[0] not in "'\"":
        return literal
    orig, new = ("'", '"') if literal[0] == "'" else ('"', "'")
    body = literal[1:-1]
    escaped_new = re.compile(rf"([^\\]|^)\\((?:\\\\)*){new}")
    escaped_orig = re.compile(rf"([^\\]|^)\\((?:\\\\)*){orig}")
    unescaped_new = re.compile(rf"(([^\\]|^)(\\\\)*){new}")
    new_body = _sub_twice(escaped_new, rf"\1\2{new}", body)
    if body != new_body:
        body = new_body
        literal = f"{orig}{body}{orig}"
    new_body = _sub_twice(escaped_orig, rf"\1\2{orig}", new_body)
    new_body = _sub_twice(unescaped_new, rf"\1\\{new}", new_body)
    new_escapes = new_body.count("\\")
    orig_escapes = body.count("\\")
    if new_escapes > orig_escapes:
        return literal  # do not introduce more escaping
    if new_escapes == orig_escapes and orig == '"':
        return literal  # prefer double quotes
    return f"{new}{new_body}{new}"


def _sub_twice(regex: re.Pattern, replacement: str, text: str) -> str:
    return regex.sub(replacement, regex.sub(replacement, text))


def lit(value) -> str:
    """One-line Python literal of plain data (str, numbers, bools, None, list, tuple, dict)."""
    if isinstance(value, str):
        return q(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{lit(k)}: {lit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(lit(v) for v in value)
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return _float(repr(value))
    return repr(value)


def _float(text: str) -> str:
    """black's numeric literal normalization for a float's repr (`1e+16` -> `1e16`)."""
    if "e" not in text:
        return text
    before, after = text.split("e")
    sign = "-" if after.startswith("-") else ""
    after = after.lstrip("+-")
    if "." in before:
        whole, frac = before.split(".")
        before = f"{whole or 0}.{frac or 0}"
    return f"{before}e{sign}{after}"


# ---------------------------------------------------------------------------------------------
# bracketed constructs
# ---------------------------------------------------------------------------------------------

@dataclass
class Br:
    """A bracketed construct: `open` ends with the bracket, `close` starts with its partner.

    kind: "call" (calls, subscripts: the body stays on one line when it fits), "def" (a
    signature: likewise, but a lone parameter gets a trailing comma), "coll" (a list, dict,
    set or tuple display: always one item per line once split), "import" (`from x import`
    names: like "coll", with the parentheses black adds when it splits), "magic" (a
    collection written with a magic trailing comma: always one item per line)."""

    open: str
    items: list
    close: str
    kind: str = "call"

    def flat(self) -> str:
        inner = ", ".join(flat(i) for i in self.items)
        if self.kind == "import":
            return self.open[:-1].rstrip() + " " + inner
        return self.open + inner + self.close


Item = Union[str, Br]


def flat(item: Item) -> str:
    return item if isinstance(item, str) else item.flat()


def dict_items(pairs) -> list[Item]:
    """Items of a dict display: (key literal, value item) pairs."""
    out: list[Item] = []
    for key, val in pairs:
        if isinstance(val, Br):
            out.append(Br(f"{key}: {val.open}", val.items, val.close, val.kind))
        else:
            out.append(f"{key}: {val}")
    return out


def data(value) -> Item:
    """Plain data as an item (nested collections split the way black splits them)."""
    if isinstance(value, dict):
        return Br("{", dict_items((lit(k), data(v)) for k, v in value.items()), "}", "coll")
    if isinstance(value, list):
        return Br("[", [data(v) for v in value], "]", "coll")
    return lit(value)


def layout(item: Item, depth: int, prefix: str = "", suffix: str = "") -> list[str]:
    """Lines (indented) of `prefix + item + suffix` at `depth`, laid out as black would."""
    one = prefix + flat(item) + suffix
    if isinstance(item, str) or not item.items or (item.kind != "magic" and fits(one, depth)):
        return [INDENT * depth + one]
    head = prefix + item.open
    tail = item.close + suffix
    lines = [INDENT * depth + head]
    items = item.items
    if len(items) == 1:
        comma = "," if item.kind in ("def", "import", "magic") else ""
        lines += layout(items[0], depth + 1, "", comma)
    elif item.kind in ("call", "def") and fits(", ".join(flat(i) for i in items), depth + 1):
        lines.append(INDENT * (depth + 1) + ", ".join(flat(i) for i in items))
    else:
        for it in items:
            lines += layout(it, depth + 1, "", ",")
    lines.append(INDENT * depth + tail)
    return lines


def block(item: Item, depth: int, prefix: str = "", suffix: str = "") -> str:
    return "\n".join(layout(item, depth, prefix, suffix))


def from_import(module: str, names: list[str], depth: int = 0) -> str:
    """`from module import a, b` (one line, or split with parentheses as black splits it)."""
    return block(Br(f"from {module} import (", list(names), ")", "import"), depth)


def docstring(text: str, depth: int) -> str:
    """A docstring as black leaves it: `text` is its content (lines joined with newlines,
    continuation lines without indentation); returned indented, quotes included."""
    indent = INDENT * depth
    lines = text.split("\n")
    if len(lines) == 1:
        body = text.strip()
    else:
        rest = [ln.rstrip() for ln in lines[1:]]
        body = "\n".join([lines[0].strip()] + [indent + ln if ln else "" for ln in rest[:-1]]
                         + [indent + rest[-1]])
    if body:
        if body[0] == '"':
            body = " " + body
        if body[-1] == '"':
            body += " "
        if body[-1] == "\\" and (len(body) - len(body.rstrip("\\"))) % 2:
            body += " "
    closing = '"""'
    if len(lines) > 1 and not body.endswith("\n"):
        last = body.split("\n")[-1]
        if len(last) + 3 > LINE_LENGTH:
            closing = "\n" + indent + '"""'
    return indent + '"""' + body + closing


# ---------------------------------------------------------------------------------------------
# the notebook's code, through black
# ---------------------------------------------------------------------------------------------

from nb2pipe.emit.blackchild import (  # noqa: E402 - the child's half of the machinery
    _can_fork,
    _fork_formatter,
    _format_fragment,
    _join_formatter,
    _kill,
    _send,
    _spawn_formatter,
    adopt_early,
)

MEMORY_LIMIT = 50_000
# below this many characters of unformatted code, a second process costs more than it saves
PARALLEL_MIN = 20_000


class FormatCache:
    """black's output per code fragment: in memory for this process, and on disk per notebook
    (the fragments of its last conversion), keyed by a hash of the fragment, its depth and
    black's version. A conversion after a small edit formats only the cells that changed."""

    def __init__(self) -> None:
        self.memory: dict[str, str] = {}
        self.used: dict[str, str] = {}
        self.path: Path | None = None
        self.loaded_from_disk = 0
        self.child: tuple[int, int] | None = None  # (pid, read end) of a formatting child
        self.spawned: tuple[int, int, int] | None = None  # a child waiting for its blocks
        self.local: dict[str, tuple[str, int]] = {}  # this process's share, formatted lazily

    def key(self, text: str, depth: int) -> str:
        return hashlib.blake2b(f"{_black_version()}\0{depth}\0{text}".encode("utf-8", "replace"),
                               digest_size=16).hexdigest()

    def load(self, notebook: Path | None) -> None:
        """Start a conversion of `notebook`: its fragments from the last conversion join the
        in-memory ones (kept across conversions in one process, up to MEMORY_LIMIT)."""
        self.close()
        if len(self.memory) > MEMORY_LIMIT:
            self.memory.clear()
        self.used = {}
        self.loaded_from_disk = 0
        self.path = _cache_file(notebook) if notebook is not None else None
        if self.path is None:
            return
        try:
            with open(self.path, encoding="utf-8") as fh:
                stored = json.load(fh)
            if isinstance(stored, dict) and all(isinstance(v, str) for v in stored.values()):
                self.memory.update(stored)
                self.loaded_from_disk = len(stored)
        except (OSError, ValueError):
            pass  # missing or damaged: formatted again, and rewritten

    def save(self) -> None:
        """Keep exactly the fragments this conversion used (bounded by the notebook)."""
        if self.path is None or not self.used:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.used, fh, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass

    def spawn(self) -> None:
        """Fork the formatting child now, so it imports black while this process reads and
        plans the notebook (see `start`)."""
        self.close()
        self.spawned = adopt_early()  # forked by the command line already
        if self.spawned is None and _can_fork():
            self.spawned = _spawn_formatter()

    def _hand_over(self, blocks: dict[str, tuple[str, int]]):
        spawned, self.spawned = self.spawned, None
        if spawned is not None:
            return _send(spawned, blocks)
        return _fork_formatter(blocks)

    def start(self, blocks) -> None:
        """Start formatting the blocks a conversion will ask for, in a forked child, while
        this process goes on (the self-check's second plan, the other emitters): a small
        notebook's first conversion then never imports black here, and a large one formats
        half of its code in the child and half here, on two cores. Only in a single-threaded
        process on Linux with two or more CPUs (fork is unsafe with threads, as in a Jupyter
        server); otherwise, or if the child fails, blocks are formatted here when asked for.
        The results are joined at the first `get` (`finish`)."""
        self.finish()
        todo: dict[str, tuple[str, int]] = {}
        for text, depth in blocks:
            if text.strip() and len(text) <= BLACK_LIMIT:
                k = self.key(text, depth)
                if k not in self.memory:
                    todo[k] = (text, depth)
        if not todo or not (self.spawned is not None or _can_fork()):
            self.close()  # nothing to do (all cached): a spawned child is not needed
            return
        if sum(len(t) for t, _ in todo.values()) < PARALLEL_MIN:
            self.child = self._hand_over(todo)
            if self.child is None:
                self.local = todo
            return
        halves: tuple[dict, dict] = ({}, {})
        sizes = [0, 0]
        for k, (text, depth) in sorted(todo.items(), key=lambda kv: -len(kv[1][0])):
            i = 0 if sizes[0] <= sizes[1] else 1
            halves[i][k] = (text, depth)
            sizes[i] += len(text)
        self.child = self._hand_over(halves[0])
        self.local = halves[1] if self.child is not None else todo

    def finish(self) -> None:
        """Format this process's share and take the child's results (whatever the child did
        not deliver is formatted on demand)."""
        local, self.local = self.local, {}
        for k, (text, depth) in local.items():
            if k not in self.memory:
                self.memory[k] = _format_fragment(text, depth)
        child, self.child = self.child, None
        if child is not None:
            self.memory.update(_join_formatter(child))

    def close(self) -> None:
        """Abandon a conversion: stop a child that is still formatting or waiting."""
        self.local = {}
        child, self.child = self.child, None
        if child is not None:
            _kill(child[0], child[1])
        spawned, self.spawned = self.spawned, None
        if spawned is not None:
            _kill(spawned[0], spawned[1], spawned[2])

    def get(self, text: str, depth: int) -> str:
        if self.child is not None or self.local:
            self.finish()
        k = self.key(text, depth)
        out = self.memory.get(k)
        if out is None:
            out = _format_fragment(text, depth)
            self.memory[k] = out
        self.used[k] = out
        return out


def _cache_file(notebook: Path) -> Path | None:
    if os.environ.get("NB2PIPE_NO_CACHE"):
        return None
    from nb2pipe.tracking.cachedir import cache_dir

    folder = cache_dir()
    try:
        name = hashlib.blake2b(str(Path(notebook).resolve()).encode("utf-8", "replace"),
                               digest_size=12).hexdigest()
    except OSError:
        return None
    return folder / "format" / f"{name}.json"


@functools.lru_cache(maxsize=1)
def _black_version() -> str:
    """Identifies the installed black without importing it or scanning package metadata
    (importlib.metadata.version costs ~30 ms): its package file's path, size and mtime."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("black")
        origin = spec.origin if spec is not None else None
        if origin:
            st = os.stat(origin)
            return f"{origin}:{st.st_size}:{st.st_mtime_ns}"
    except (ImportError, ValueError, OSError):
        pass
    return "unknown-" + sys.version


CACHE = FormatCache()


def code(text: str, depth: int) -> str:
    """The notebook's code `text` (a block of statements, not indented) formatted by black as
    it sits in the generated file: at depth 0 (a module's top level) or depth 1 (the body of
    a generated function, between a simple statement and a `return`). Returned indented,
    without a trailing newline. Code black cannot format is returned as is (indented)."""
    if not text.strip():
        return ""
    if len(text) > BLACK_LIMIT:  # black would take seconds (NB111 says the cell is large)
        from nb2pipe.transform.code import indent

        return indent(text.rstrip("\n"), INDENT * depth)
    return CACHE.get(text, depth)


statement = code  # one statement of generated code that holds the notebook's literals
