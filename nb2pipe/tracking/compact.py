"""`nb2pipe runs compact`: rewrite the store's uncompressed tables zstd-compressed, after the run.

During a run a table's stored copy is the uncompressed Arrow IPC file its step handed on:
compressing it there cost about 0.9 s of CPU per 256 MB on the run's critical path. After
the run (git's detached auto-gc is the precedent) each such artifact is rewritten with zstd
where zstd saves a fifth or more on samples of its buffers; a table that does not shrink
(random doubles) is marked checked and left as it is.

Crash safety and readers: the compressed copy is written under tmp/compact-<pid>/ (same file
system; `Store.reap` and the next pass remove it if the compactor dies), then renamed over the
value file; then the artifacts row and meta.json get the new size. A reader that opened the old file keeps
reading it (its inode lives on); a reader that opens the new one reads the same table (the
runtime reads either encoding whatever meta.json says). The address, the sha256 of the
uncompressed IPC bytes, does not change, so no row changes but the size.

Coordination: one compactor at a time (`compact.lock`, held for its life, holding its pid).
Runs need no lock: they only read committed artifacts, and a rename is atomic. `runs gc` stops
a compactor (SIGTERM: it is crash-safe) before it deletes anything, and compacts what it keeps
once it has let go of the store lock, so neither blocks a run for long.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from nb2pipe.tracking.store import STORE_DIR, Store, StoreError, pid_alive

LOCK_FILE = "compact.lock"
LOG_FILE = "compact.log"
SAVES_AT_LEAST = 0.2  # zstd must save a fifth of a table's bytes to be worth its CPU
_SAMPLE = 1 << 16
PAUSE_ENV = "NB2PIPE_TEST_COMPACT_PAUSE"  # tests: stop half-way through a write (a folder)


@dataclass
class CompactReport:
    compressed: list[str] = field(default_factory=list)  # shas rewritten with zstd
    left: list[str] = field(default_factory=list)  # shas zstd would not shrink enough
    bytes_before: int = 0  # of the artifacts looked at
    bytes_after: int = 0
    busy: bool = False  # another compactor (or gc) holds the compaction lock
    gone: bool = False  # the store disappeared while compacting
    seconds: float = 0.0

    @property
    def saved(self) -> int:
        return self.bytes_before - self.bytes_after

    def as_dict(self) -> dict[str, Any]:
        return {"compressed": len(self.compressed), "left_uncompressed": len(self.left),
                "bytes_before": self.bytes_before, "bytes_after": self.bytes_after,
                "saved_bytes": self.saved, "busy": self.busy, "store_gone": self.gone,
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Candidate:
    sha: str
    path: Path  # the value file
    size: int


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None


def candidates(store: Store) -> list[Candidate]:
    """Stored tables not yet compacted (committed rows only: a run's values in flight are
    not in the table until their files are complete)."""
    out = []
    for row in store.rows("SELECT sha, file FROM artifacts WHERE format='arrow' ORDER BY sha"):
        folder = store.artifact_dir(row["sha"])
        meta = _read_meta(folder)
        if meta is None or meta.get("compacted") or meta.get("compression"):
            continue
        try:
            size = (folder / row["file"]).stat().st_size
        except OSError:
            continue
        out.append(Candidate(row["sha"], folder / row["file"], size))
    return out


def pending_bytes(store: Store) -> int:
    """Bytes of stored tables that await compaction."""
    return sum(c.size for c in candidates(store))


# ---- the one rule: does zstd pay? -----------------------------------------------------------

def _sampled(batches: list[Any]) -> Iterator[Any]:
    """Three 64 KiB pieces of each buffer of the first, middle and last batch."""
    picks = sorted({0, len(batches) // 2, len(batches) - 1}) if batches else []
    for i in picks:
        for column in batches[i].columns:
            for buf in column.buffers():
                if buf is None or buf.size == 0:
                    continue
                middle = max(buf.size // 2 - _SAMPLE // 2, 0)
                for start in sorted({0, middle, max(buf.size - _SAMPLE, 0)}):
                    yield buf.slice(start, min(_SAMPLE, buf.size - start))


def worth_compressing(batches: list[Any]) -> bool:
    """zstd saves at least a fifth on the samples. Random floats or already compressed bytes
    barely shrink, and compressing them costs several times the write (about 0.3 s of CPU
    per 100 MB): a table of those with one integer column (a filtered frame's index) would
    save some 15% for that."""
    import pyarrow as pa

    if not pa.Codec.is_available("zstd"):
        return False
    codec = pa.Codec("zstd")
    raw = packed = 0
    for piece in _sampled(batches):
        raw += piece.size
        packed += codec.compress(piece).size
    return raw > 0 and packed <= (1 - SAVES_AT_LEAST) * raw


# ---- one artifact ---------------------------------------------------------------------------

def _pause_for_tests(written: int) -> None:
    """With NB2PIPE_TEST_COMPACT_PAUSE=DIR: after the first batch of a compressed copy is
    written, say so (DIR/paused-<pid>) and wait for DIR/go, so a test can read, gc or kill
    the compactor half-way through a write."""
    folder = os.environ.get(PAUSE_ENV)
    if not folder or written != 1:
        return
    (Path(folder) / f"paused-{os.getpid()}").write_text("")
    while not (Path(folder) / "go").exists():
        time.sleep(0.01)


def _write_meta(folder: Path, meta: dict[str, Any], work: Path) -> None:
    tmp = work / f"meta-{folder.name}.json"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder / "meta.json")


def _pays(cand: Candidate) -> bool:
    import pyarrow as pa

    with pa.memory_map(str(cand.path)) as source:
        reader = pa.ipc.open_file(source)
        return worth_compressing([reader.get_batch(i)
                                  for i in range(reader.num_record_batches)])


def compact_artifact(store: Store, cand: Candidate, work: Path) -> bool | None:
    """Rewrite one table zstd-compressed where it pays: True when rewritten, False when
    left uncompressed (marked checked), None when it is gone or changed meanwhile."""
    import pyarrow as pa

    folder = cand.path.parent
    meta = _read_meta(folder)
    if meta is None or meta.get("compacted") or meta.get("compression"):
        return None
    with pa.memory_map(str(cand.path)) as source:
        reader = pa.ipc.open_file(source)
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        if not worth_compressing(batches):
            _write_meta(folder, {**meta, "compacted": True}, work)
            return False
        tmp = work / f"{cand.sha}.arrow"
        options = pa.ipc.IpcWriteOptions(compression="zstd")
        with pa.OSFile(str(tmp), "wb") as sink:
            # the same batches, so the uncompressed bytes (the address) stay the same
            with pa.ipc.new_file(sink, reader.schema, options=options) as writer:
                for n, batch in enumerate(batches, 1):
                    writer.write_batch(batch)
                    _pause_for_tests(n)
        del batches, reader
    if not folder.is_dir():
        return None  # deleted meanwhile (a store removed under us)
    size = tmp.stat().st_size
    # file, row, then meta.json: killed in between, meta.json still says "not compacted" and
    # the next pass rewrites the file again (reading the compressed one) and sets all three
    os.replace(tmp, cand.path)
    with store.tx() as db:
        db.execute("UPDATE artifacts SET size=? WHERE sha=?", (size, cand.sha))
    _write_meta(folder, {**meta, "size": size, "compression": "zstd", "compacted": True,
                         "uncompressed_size": cand.size}, work)
    return True


# ---- the pass -------------------------------------------------------------------------------

def _lock(root: Path, wait_seconds: float = 0.0, stop_holder: bool = False) -> Any:
    """The open compaction lock file (flock, exclusive, our pid written in it), or None
    when another holds it. `stop_holder`: SIGTERM the compactor holding it and wait for it
    (at most `wait_seconds`). Without fcntl (not POSIX): the file, unlocked."""
    fh = open(root / LOCK_FILE, "a+")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - as the store lock: no lock there
        return fh
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                return None
            if stop_holder:
                holder = holder_pid(root)
                if holder and holder != os.getpid() and pid_alive(holder):
                    try:
                        os.kill(holder, signal.SIGTERM)
                    except OSError:
                        pass
            time.sleep(0.02)
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def holder_pid(root: Path) -> int | None:
    """The pid of the compactor that holds (or last held) the lock."""
    try:
        return int((root / LOCK_FILE).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def compaction_running(root: Path) -> bool:
    """Whether a compactor holds the lock now."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return False
    try:
        fh = open(root / LOCK_FILE, "a+")
    except OSError:
        return False
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        fh.close()


def stop_compactor(store: Store, wait_seconds: float = 60.0) -> Any:
    """For `runs gc`: stop a running compactor and hold the compaction lock (close it to
    release). A killed compactor leaves its old files intact and only its tmp folder."""
    return _lock(store.root, wait_seconds, stop_holder=True)


def compact_store(project: Path, dry_run: bool = False,
                  say: Callable[[str], None] = lambda _: None) -> CompactReport:
    """Compact every stored table that awaits it; see the module's docstring. Quiet (an
    empty report, `gone`) when there is no store or it disappears meanwhile."""
    t0 = time.monotonic()
    report = CompactReport()
    root = Path(project) / STORE_DIR
    try:
        store = Store(Path(project), create=False)
    except (StoreError, OSError, sqlite3.Error):
        report.gone = True
        return report
    lock = work = None
    try:
        if dry_run:  # sample each table, write nothing
            for cand in candidates(store):
                pays = _pays(cand)
                report.bytes_before += cand.size
                (report.compressed if pays else report.left).append(cand.sha)
                say(f"{cand.sha[:12]}: {_mb(cand.size)} would be compressed" if pays else
                    f"{cand.sha[:12]}: {_mb(cand.size)} would stay uncompressed")
            return report
        lock = _lock(root)
        if lock is None:
            report.busy = True
            return report
        store.remove_dead_work("compact-*")
        work = root / "tmp" / f"compact-{os.getpid()}"
        work.mkdir(parents=True, exist_ok=True)
        for cand in candidates(store):
            try:
                done = compact_artifact(store, cand, work)
            except (OSError, ValueError) as exc:  # pyarrow's errors are ValueErrors too
                if not root.is_dir():
                    break  # removed under us
                say(f"{cand.sha[:12]}: skipped ({type(exc).__name__}: {exc})")
                continue
            if done is None:
                continue
            after = cand.path.stat().st_size if done else cand.size
            report.bytes_before += cand.size
            report.bytes_after += after
            (report.compressed if done else report.left).append(cand.sha)
            say(f"{cand.sha[:12]}: {_mb(cand.size)} -> {_mb(after)}" if done else
                f"{cand.sha[:12]}: {_mb(cand.size)} left uncompressed (zstd saves < a fifth)")
        report.gone = not root.is_dir()
    except (OSError, sqlite3.Error):
        if root.is_dir() and (root / "runs.db").exists():
            raise
        report.gone = True  # removed under us: nothing left to compact
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if lock is not None:
            lock.close()
        store.close()
        report.seconds = time.monotonic() - t0
    return report


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# ---- after a run ----------------------------------------------------------------------------

MODES = ("background", "now", "off")
ENV_MODE = "NB2PIPE_COMPACT"


def start_detached(project: Path) -> int | None:
    """Start `nb2pipe runs compact PROJECT --background` in its own session, output to
    .nb2pipe/compact.log; its pid (None when it could not start)."""
    import subprocess
    import sys

    import nb2pipe

    root = Path(project) / STORE_DIR
    log_path = root / LOG_FILE
    # the same nb2pipe as ours, whatever `python -m nb2pipe` would find from the project
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(nb2pipe.__file__).resolve().parent.parent)]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    try:
        mode = "ab" if log_path.exists() and log_path.stat().st_size < 1 << 20 else "wb"
        with open(log_path, mode) as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nb2pipe", "runs", "compact", str(project),
                 "--background"], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                cwd=str(project), env=env)
    except OSError:
        return None
    return proc.pid


def after_run(project: Path, mode: str | None = None,
              say: Callable[[str], None] = lambda _: None) -> str:
    """Compress the store's new tables after a run, off its critical path (like git's
    detached auto-gc). `mode` (default: $NB2PIPE_COMPACT, else background): background
    starts a detached compactor the caller does not wait for, now compacts inline, off does
    nothing. Returns what it did: off, nothing, started, done (ValueError: a bad mode)."""
    mode = mode or os.environ.get(ENV_MODE, "") or "background"
    if mode not in MODES:
        raise ValueError(f"{ENV_MODE}={mode!r} is not one of {', '.join(MODES)}")
    if mode == "off":
        return "off"
    try:
        store = Store(Path(project), create=False)
    except (StoreError, sqlite3.Error):
        return "nothing"
    try:
        waiting = candidates(store)
    finally:
        store.close()
    if not waiting:
        return "nothing"
    if mode == "background":
        return "started" if start_detached(Path(project)) else "nothing"
    compact_store(Path(project), say=say)
    return "done"
