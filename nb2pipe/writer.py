"""The only place that writes: atomic, deterministic, never over a hand-edited file."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from nb2pipe.diagnostics import Diagnostic

LOCK = "nb2pipe.lock.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # hand-edited, not overwritten
    removed: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def read_lock(outdir: Path) -> dict | None:
    """The lock of outdir, or None when there is none or it is not one nb2pipe wrote (then
    nothing it lists is trusted: see nb2pipe.untrusted)."""
    from nb2pipe.untrusted import NotNb2pipe, read_lock as read_checked

    try:
        return read_checked(outdir, LOCK)
    except (OSError, NotNb2pipe):
        return None


def foreign_folder(outdir: Path) -> str | None:
    """Why writing into outdir would mix generated files into someone else's folder: it exists,
    holds something, and has no lock nb2pipe wrote. None when it is new, empty or nb2pipe's."""
    try:
        if not outdir.is_dir() or not any(os.scandir(outdir)):
            return None
    except OSError as exc:
        return f"{outdir.name} cannot be listed: {_describe(exc)}"
    if (outdir / LOCK).exists() or (outdir / LOCK).is_symlink():
        if read_lock(outdir) is None:
            return f"{outdir.name}/{LOCK} is not one nb2pipe wrote"
        return None
    return f"{outdir.name} exists and was not made by nb2pipe (it has no {LOCK})"


def _read_existing(target: Path, rel: str) -> bytes:
    """A file already at a generated file's place: a regular file, capped in size (a FIFO or a
    device there would block or never end; _in_the_way refuses those before)."""
    from nb2pipe.untrusted import read_regular

    return read_regular(Path(os.path.realpath(target)), shown=rel)


def _temp_file(path: Path) -> tuple[int, str]:
    """Like tempfile.mkstemp, but created with mode 0o666 so the umask applies (mkstemp makes
    0o600 files, and os.replace would carry that mode to the generated file)."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(path.parent))


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_file(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _Staged:
    """All-or-nothing writing of a tree: every file goes to a temporary file beside its
    target first (this is where a full disk or a read-only file system shows up); only when
    all of them are written are they renamed into place. On failure the temporary files, and
    the folders made for them, are removed, so the output folder is left as it was."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, Path]] = []  # (temporary file, target)
        self.made: list[Path] = []  # folders created, outermost first

    def mkdir(self, folder: Path) -> None:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        for p in reversed(missing):
            p.mkdir()
            self.made.append(p)

    def write(self, path: Path, data: bytes) -> None:
        self.mkdir(path.parent)
        fd, tmp = _temp_file(path)
        self.pending.append((tmp, path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def commit(self) -> None:
        while self.pending:
            tmp, path = self.pending[0]
            os.replace(tmp, path)
            self.pending.pop(0)

    def rollback(self) -> None:
        for tmp, _ in self.pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self.pending.clear()
        for folder in reversed(self.made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: never anything but what we made


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


def _in_the_way(outdir: Path, rel: str) -> str | None:
    """Why `rel` cannot be written under outdir (a folder at its place, or a file at the place
    of one of its folders), or None."""
    target = outdir / rel
    if target.is_dir():
        return f"{rel}: a folder is in the way"
    with contextlib.suppress(OSError):
        if not stat.S_ISREG(os.stat(target).st_mode):  # FIFO, device, socket
            return f"{rel}: something else than a regular file is in the way"
    for parent in reversed(Path(rel).parents[:-1]):
        if (outdir / parent).exists() and not (outdir / parent).is_dir():
            return f"{rel}: the file {parent.as_posix()} is in the way of a folder"
    return None


def _safe_old_entry(outdir: Path, rel: str, protect: tuple[Path, ...]) -> bool:
    """Only files inside outdir may be removed: the lock file is user-editable text, so a
    `../notebook.ipynb` or absolute entry must never lead to deleting something outside."""
    rp = Path(rel)
    if not rel or rp.is_absolute() or ".." in rp.parts or rel == LOCK:
        return False
    try:
        target = (outdir / rel).resolve()
        target.relative_to(outdir.resolve())
    except (OSError, ValueError):
        return False
    return all(target != p.resolve() for p in protect)


# Git-ignored files holding values that must not be committed (the notebook's secrets): a
# hash of them in nb2pipe.lock.json would let anyone brute-force a weak password offline.
LOCAL_ONLY = ("secrets.local.",)


def _local_only(rel: str) -> bool:
    return "/" not in rel and rel.startswith(LOCAL_ONLY)


def write_tree(outdir: Path, files: dict[str, str], lock: dict, force: bool,
               shown: str, protect: tuple[Path, ...] = ()) -> WriteReport:
    """Write `files` (relative path -> text) under outdir, then the lock file.

    A file is overwritten only when it is still exactly what nb2pipe generated last time (its
    hash is in the old lock), or with force. Files nb2pipe generated before and no longer
    generates are removed if unedited.
    """
    from nb2pipe.untrusted import NotNb2pipe

    rep = WriteReport()
    old_hashes = _old_hashes(outdir, protect)
    staged = _Staged()
    try:
        # Check first, write second: a failed conversion leaves the folder as it was.
        blocked = _blocked(outdir, files)
        if blocked:
            rep.diagnostics.extend(Diagnostic("NB402", why, path=shown) for why in blocked)
            return rep
        staged.mkdir(outdir)
        new_hashes = _stage_files(outdir, files, old_hashes, force, shown, staged, rep)
        removals = _stale_files(outdir, files, old_hashes, force, shown, rep)
        staged.write(outdir / LOCK, _lock_bytes(lock, new_hashes))
        staged.commit()  # everything is on disk: now rename into place, the lock file last
        for target in removals:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
    except NotNb2pipe as exc:  # a file at a generated file's place is too large to compare
        _abandon(staged, rep, f"cannot compare {exc}", shown)
    except OSError as exc:
        _abandon(staged, rep, f"cannot write {_failed_path(exc, outdir)}: {_describe(exc)}",
                 shown)
    return rep


def _old_hashes(outdir: Path, protect: tuple[Path, ...]) -> dict[str, str]:
    """The old lock's file hashes, minus entries that point outside outdir or at a protected
    path: a tampered lock must not make nb2pipe overwrite or remove files it never wrote."""
    old = read_lock(outdir) or {}
    hashes: dict[str, str] = old.get("files", {}) if isinstance(old.get("files"), dict) else {}
    return {rel: h for rel, h in hashes.items() if _safe_old_entry(outdir, rel, protect)}


def _blocked(outdir: Path, files: dict[str, str]) -> list[str]:
    """Why the tree cannot be written at all (outdir or a file's place is taken), found before
    anything is written so a refusal leaves the folder as it was."""
    blocked = [why for why in (_in_the_way(outdir, rel) for rel in sorted(files)) if why]
    if outdir.exists() and not outdir.is_dir():
        blocked.insert(0, f"{outdir} is a file, not a folder")
    elif outdir.is_symlink() and not outdir.exists():
        blocked.insert(0, f"{outdir} is a symbolic link to {os.readlink(outdir)}, which "
                          "does not exist")
    return blocked


def _stage_files(outdir: Path, files: dict[str, str], old_hashes: dict[str, str], force: bool,
                 shown: str, staged: _Staged, rep: WriteReport) -> dict[str, str]:
    """Stage every generated file that may be written; the hashes for the new lock."""
    new_hashes: dict[str, str] = {}
    for rel in sorted(files):
        text = files[rel]  # bytes for binary files (captured test fixtures)
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        if _local_only(rel):  # never hashed into the (committed) lock: see LOCAL_ONLY
            _stage_local_only(outdir / rel, rel, data, force, shown, staged, rep)
            continue
        new_hashes[rel] = sha256(data)
        _stage_tracked(outdir / rel, rel, data, old_hashes.get(rel), rel in old_hashes,
                       force, shown, staged, rep)
    return new_hashes


def _stage_local_only(target: Path, rel: str, data: bytes, force: bool, shown: str,
                      staged: _Staged, rep: WriteReport) -> None:
    """A local-only file has no hash in the lock: any difference from the new text may be the
    user's values, so it is kept unless forced."""
    if target.exists() and _read_existing(target, rel) != data and not force:
        rep.kept.append(rel)
        rep.diagnostics.append(Diagnostic(
            "NB401", f"{rel} differs from the notebook's values (edited?); kept "
                     "(use --force to overwrite)", path=shown))
    elif not (target.exists() and _read_existing(target, rel) == data):
        staged.write(target, data)
        rep.written.append(rel)
    else:
        rep.unchanged.append(rel)


def _stage_tracked(target: Path, rel: str, data: bytes, old_digest: str | None, known: bool,
                   force: bool, shown: str, staged: _Staged, rep: WriteReport) -> None:
    """A file the lock tracks is overwritten only while it is still what nb2pipe wrote last
    time (old_digest), so hand edits survive a re-conversion unless forced."""
    if target.is_symlink() or target.exists():
        current = sha256(_read_existing(target, rel))
        if current == sha256(data):
            rep.unchanged.append(rel)
            return
        if not force and old_digest != current:
            rep.kept.append(rel)
            why = "was edited by hand" if known else "exists and was not generated by nb2pipe"
            rep.diagnostics.append(Diagnostic(
                "NB401", f"{rel} {why}; kept (use --force to overwrite)", path=shown))
            return
    staged.write(target, data)
    rep.written.append(rel)


def _stale_files(outdir: Path, files: dict[str, str], old_hashes: dict[str, str], force: bool,
                 shown: str, rep: WriteReport) -> list[Path]:
    """Files nb2pipe generated before and no longer generates: removed (after the commit)
    only if unedited, so a user's edits are never lost."""
    removals: list[Path] = []
    for rel, digest in sorted(old_hashes.items()):
        if rel in files:
            continue
        target = outdir / rel
        if not target.is_file():
            continue
        if sha256(_read_existing(target, rel)) == digest or force:
            removals.append(target)
            rep.removed.append(rel)
        else:
            rep.kept.append(rel)
            rep.diagnostics.append(Diagnostic(
                "NB401", f"{rel} is no longer generated but was edited; kept", path=shown))
    return removals


def _lock_bytes(lock: dict, new_hashes: dict[str, str]) -> bytes:
    """The lock file with the new hashes, as deterministic bytes (sorted keys, LF)."""
    lock = dict(lock)
    lock["files"] = dict(sorted(new_hashes.items()))
    return (json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _abandon(staged: _Staged, rep: WriteReport, why: str, shown: str) -> None:
    """Undo everything staged and report why: a failed write leaves the folder as it was, and
    the report claims nothing was written or removed."""
    staged.rollback()
    rep.diagnostics.append(Diagnostic("NB402", why, path=shown))
    rep.written.clear()
    rep.removed.clear()


def _failed_path(exc: OSError, outdir: Path) -> str:
    """The path an OSError names, as the user knows it: our temporary file is named by its
    folder."""
    where = exc.filename or str(outdir)
    if where.endswith(".tmp") and os.path.basename(where).startswith("."):
        where = str(Path(where).parent)
    return where


def eject(outdir: Path) -> tuple[int, str | None]:
    """Hand a generated project to the user: drop nb2pipe's headers and lock file."""
    from nb2pipe.untrusted import NotNb2pipe, confine, read_lock as read_checked

    try:
        lock = read_checked(outdir, LOCK)
    except (OSError, NotNb2pipe) as exc:
        return 0, f"cannot eject {outdir}: {LOCK} is not nb2pipe's: {exc}"
    if lock is None:
        return 0, f"{outdir} has no {LOCK}; it is not an nb2pipe project (or already ejected)"
    count = 0
    try:
        for rel in sorted(lock.get("files", {})):
            try:  # only files inside outdir are rewritten, whatever the lock lists
                path = confine(outdir, rel)
            except NotNb2pipe:
                continue
            if not path.is_file():
                continue
            try:
                text = _read_existing(path, rel).decode("utf-8")
            except UnicodeDecodeError:  # binary (captured test fixtures): no header to drop
                count += 1
                continue
            lines = text.split("\n")
            if lines and lines[0].startswith("# Generated by nb2pipe"):
                atomic_write(path, "\n".join(lines[1:]).lstrip("\n").encode("utf-8"))
            count += 1
        (outdir / LOCK).unlink()
    except NotNb2pipe as exc:
        return count, f"cannot eject {outdir}: {exc}"
    except OSError as exc:
        return count, f"cannot eject {outdir}: {_describe(exc)}"
    return count, None
