"""Reading what a repository ships: the lock file, the plan file and the files they list.

A cloned repository, or a folder opened in the Jupyter server, is someone else's text. Its
`nb2pipe.lock.json` could list `/etc/shadow`, `../../secret`, a symlink leading out, a FIFO
(blocks a reader forever) or `/dev/zero` (never ends). Hashing those would answer "does this
file exist, and does it equal my guess?" to whoever wrote the lock, or freeze the reader. So:

- the lock and the plan are checked against a small schema before anything uses them;
- every listed path is confined to the project folder (relative, no `..`, symlinks resolved
  and checked again);
- only regular files are read (never FIFOs, devices, sockets, folders), up to a size cap.

A violation raises `NotNb2pipe`, whose message says the file is not one nb2pipe wrote; it is
reported as a diagnostic and nothing more is read. Stdlib only: `nb2pipe check` stays fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any

# Generated files are source text and small captured fixtures; nothing nb2pipe writes comes
# near these sizes, so a larger file is not nb2pipe's (or would take the reader too long).
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_NOTEBOOK_BYTES = 1024 * 1024 * 1024  # outputs (images, tables) make notebooks large
_SHA256 = re.compile(r"[0-9a-f]{64}")
SPLIT_MODES = ("auto", "tags", "headings", "flow", "single")  # as nb2pipe.api.SPLIT_MODES (not imported: heavy)


class NotNb2pipe(ValueError):
    """A file a repository ships is not what nb2pipe writes; the message says why."""


# ---- paths --------------------------------------------------------------------------------

def lexical_problem(rel: Any) -> str | None:
    """Why `rel` is not a plain relative path inside a folder, judged on the text alone."""
    if not isinstance(rel, str) or not rel:
        return "an entry is not a non-empty string"
    if "\x00" in rel or "\\" in rel:
        return f"entry {rel!r} holds a NUL or a backslash"
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~") or (len(rel) > 1 and rel[1] == ":"):
        return f"entry {rel!r} is an absolute path"
    if ".." in pure.parts:
        return f"entry {rel!r} leads out of the project folder ('..')"
    return None


def confine(project: Path, rel: str) -> Path:
    """The real path of `project/rel`, symlinks resolved; NotNb2pipe when it leaves the
    project folder (the folder itself is resolved too, so a symlinked project works)."""
    why = lexical_problem(rel)
    if why:
        raise NotNb2pipe(why)
    root = project.resolve()
    real = (root / rel).resolve()
    if not real.is_relative_to(root) or real == root:
        raise NotNb2pipe(f"entry {rel!r} leads out of the project folder (symlink)")
    return real


# ---- reading ------------------------------------------------------------------------------

def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: Path, limit: int = MAX_FILE_BYTES, shown: str | None = None) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes.

    FileNotFoundError when it does not exist; NotNb2pipe when it is anything else than a
    regular file or too large. Checked before opening (lstat) and again on the open file
    (fstat), opened non-blocking and without following a final symlink, so a file swapped
    for a FIFO or a link in between is still refused rather than read.
    """
    shown = shown or str(path)
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotNb2pipe(f"{shown!r} is {_kind(st.st_mode)}, not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(
        os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise NotNb2pipe(f"{shown!r} cannot be opened as a regular file: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise NotNb2pipe(f"{shown!r} is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise NotNb2pipe(f"{shown!r} is larger than {limit} bytes")
        data = fh.read(limit + 1)  # a file growing while read is capped all the same
    if len(data) > limit:
        raise NotNb2pipe(f"{shown!r} is larger than {limit} bytes")
    return data


def hash_listed(project: Path, rel: str) -> str:
    """sha256 of a file the lock lists: confined, regular, capped. FileNotFoundError when it
    is missing; NotNb2pipe when the entry is not something nb2pipe generates."""
    return hashlib.sha256(read_regular(confine(project, rel), shown=rel)).hexdigest()


def load_json(path: Path, what: str) -> Any:
    """JSON from a regular file of at most MAX_JSON_BYTES. FileNotFoundError when missing;
    NotNb2pipe for anything else that makes it unusable (kind, size, encoding, syntax,
    nesting deep enough to exhaust the parser)."""
    data = read_regular(path, MAX_JSON_BYTES, shown=what)
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise NotNb2pipe(f"{what} is not valid JSON: {exc}") from None


# ---- schemas ------------------------------------------------------------------------------

def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise NotNb2pipe(f"{where} is not {what}")


def validate_lock(lock: Any, name: str = "nb2pipe.lock.json") -> dict:
    """`lock` if it has the shape nb2pipe writes (unknown keys are allowed: a newer nb2pipe
    may add some); NotNb2pipe naming the first thing that is not nb2pipe's."""
    _expect(lock, dict, name, "a JSON object")
    files = lock.get("files", {})
    _expect(files, dict, f"{name} 'files'", "an object")
    for rel, digest in files.items():
        why = lexical_problem(rel)
        if why:
            raise NotNb2pipe(f"{name} 'files': {why}")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise NotNb2pipe(f"{name} 'files': the hash of {rel!r} is not a sha256")
    for key in ("nb2pipe", "notebook", "notebook_hash"):
        if key in lock:
            _expect(lock[key], str, f"{name} {key!r}", "a string")
    notebook = lock.get("notebook")
    if isinstance(notebook, str) and (PurePosixPath(notebook).is_absolute() or "\x00" in notebook):
        raise NotNb2pipe(f"{name} 'notebook' is not a relative path")
    options = lock.get("options", {})
    _expect(options, dict, f"{name} 'options'", "an object")
    pkg = options.get("name")
    if pkg is not None and not (isinstance(pkg, str) and pkg.isidentifier()):
        raise NotNb2pipe(f"{name} 'options' 'name' is not a Python package name")
    if options.get("split") is not None and options.get("split") not in SPLIT_MODES:
        raise NotNb2pipe(f"{name} 'options' 'split' is not one of {', '.join(SPLIT_MODES)}")
    _validate_image_options(options, f"{name} 'options'")
    cells = lock.get("cells", {})
    _expect(cells, dict, f"{name} 'cells'", "an object")
    if not all(isinstance(v, str) for v in cells.values()):
        raise NotNb2pipe(f"{name} 'cells' maps a cell to something else than a step name")
    return lock


def _validate_image_options(data: dict, where: str) -> None:
    """`base_image` (a pinned image reference) and `data_in_image` (a bool), where present:
    the base image is written into a Dockerfile, so only a well-formed reference passes."""
    from nb2pipe.emit.image import base_image_problem

    ref = data.get("base_image")
    if ref is not None and (not isinstance(ref, str) or base_image_problem(ref)):
        raise NotNb2pipe(f"{where} 'base_image' is not a pinned image reference")
    for key in ("data_in_image", "lock_hashes"):
        if data.get(key) is not None and not isinstance(data[key], bool):
            raise NotNb2pipe(f"{where} {key!r} is not true or false")


def _validate_step(step: Any, where: str) -> None:
    _expect(step, dict, where, "an object")
    if not (isinstance(step.get("name"), str) and step["name"].isidentifier()):
        raise NotNb2pipe(f"{where} 'name' is not a Python identifier")
    for f in step.get("files", []) if isinstance(step.get("files", []), list) else [None]:
        _expect(f, dict, f"{where} 'files'", "a list of objects")
        if not isinstance(f.get("path"), str) or "\x00" in f["path"]:
            raise NotNb2pipe(f"{where} 'files': a path is not a string")


def validate_plan(plan: Any, name: str = "nb2pipe.plan.json") -> dict:
    """`plan` if the parts that name files and modules have the shape nb2pipe writes: the
    package and step names are identifiers (they become module paths), the working folder is
    relative. NotNb2pipe otherwise."""
    _expect(plan, dict, name, "a JSON object")
    pkg = plan.get("package")
    if not (isinstance(pkg, str) and pkg.isidentifier()):
        raise NotNb2pipe(f"{name} 'package' is not a Python package name")
    workdir = plan.get("workdir", ".")
    _expect(workdir, str, f"{name} 'workdir'", "a string")
    if PurePosixPath(workdir).is_absolute() or "\x00" in workdir:
        raise NotNb2pipe(f"{name} 'workdir' is not a relative path")
    steps = plan.get("steps", [])
    _expect(steps, list, f"{name} 'steps'", "a list")
    for i, step in enumerate(steps):
        _validate_step(step, f"{name} step {i + 1}")
    modules = plan.get("local_modules", [])
    _expect(modules, list, f"{name} 'local_modules'", "a list")
    if not all(isinstance(m, str) and all(p.isidentifier() for p in m.split(".")) for m in modules):
        raise NotNb2pipe(f"{name} 'local_modules' holds something else than module names")
    _validate_image_options(plan, name)
    return plan


def read_lock(folder: Path, name: str = "nb2pipe.lock.json") -> dict | None:
    """The validated lock of a pipeline folder; None when there is none; NotNb2pipe when the
    file there is not one nb2pipe wrote."""
    try:
        data = load_json(folder / name, name)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return validate_lock(data, name)


def read_plan(folder: Path, name: str = "nb2pipe.plan.json") -> dict:
    """The validated plan of a generated project (FileNotFoundError when there is none)."""
    return validate_plan(load_json(folder / name, name), name)
