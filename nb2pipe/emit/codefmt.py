"""The notebook's own code through black, as it sits in the generated file.

`code(text, depth)` formats a block of statements at depth 0 (a module's top level) or 1 (a
generated function's body), with the same context black would see in the whole file.
Results are cached in memory and on disk per notebook (`FormatCache`), so a re-conversion
after a small edit formats only the cells that changed; a forked child
(`blackchild.FormatterChild`) formats half of a large notebook's code on the second core.
nb2pipe's own scaffolding never goes through black: `pyfmt` lays it out as black would.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from nb2pipe.emit.blackchild import FormatterChild, adopt_early, can_fork, format_fragment
from nb2pipe.emit.pyfmt import BLACK_LIMIT, INDENT

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
        self.child: FormatterChild | None = None  # formatting this conversion's blocks
        self.spawned: FormatterChild | None = None  # imported black, waiting for its blocks
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
        if self.spawned is None and can_fork():
            self.spawned = FormatterChild.spawn()

    def _hand_over(self, blocks: dict[str, tuple[str, int]]) -> FormatterChild | None:
        spawned, self.spawned = self.spawned, None
        if spawned is not None:
            return spawned if spawned.send(blocks) else None
        return FormatterChild.start(blocks)

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
        if not todo or not (self.spawned is not None or can_fork()):
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
                self.memory[k] = format_fragment(text, depth)
        child, self.child = self.child, None
        if child is not None:
            self.memory.update(child.results())

    def close(self) -> None:
        """Abandon a conversion: stop a child that is still formatting or waiting."""
        self.local = {}
        child, self.child = self.child, None
        if child is not None:
            child.kill()
        spawned, self.spawned = self.spawned, None
        if spawned is not None:
            spawned.kill()

    def get(self, text: str, depth: int) -> str:
        if self.child is not None or self.local:
            self.finish()
        k = self.key(text, depth)
        out = self.memory.get(k)
        if out is None:
            out = format_fragment(text, depth)
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
