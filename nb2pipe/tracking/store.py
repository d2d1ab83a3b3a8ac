"""The embedded tracking store: SQLite + content-addressed artifacts in `<project>/.nb2pipe/`.

Layout::

    .nb2pipe/runs.db                   runs, step runs, outputs, metrics, logs (SQLite, WAL)
    .nb2pipe/artifacts/ab/<sha256>/    one value folder (value.<ext> + meta.json), by content
    .nb2pipe/files/ab/<sha256>         copies of data files the steps wrote, by content
    .nb2pipe/tmp/<run>-<pid>/          work folders of a live run (removed when it ends)
    .nb2pipe/store.lock                held shared by every live run, exclusively by `runs gc`
    .nb2pipe/compact.lock              held by the compactor (`runs compact`), with its pid
    .nb2pipe/compact.log               output of the compactor `nb2pipe run` starts detached

Crash safety: a value is written under tmp/, then renamed into artifacts/ (atomic, same file
system), and only then is the row that refers to it committed. A run killed at any point leaves
at worst an unreferenced complete artifact or a tmp folder, never a row naming a missing or
half-written artifact. Writers use `BEGIN IMMEDIATE` with a busy timeout, so concurrent runs
on one store serialize their (short) transactions instead of failing or corrupting it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import time
from enum import Enum
from pathlib import Path
from typing import Any, Iterator

class StepStatus(str, Enum):
    """The states of a step in a run, as the store records them and the runner moves them:
    pending -> running [-> storing] -> finished | failed; pending -> cached | skipped; running,
    storing or pending -> interrupted. Storing: its values are written and handed on to the
    next steps; its process is still finishing (result, exit) before they enter the store.
    Tables are stored uncompressed and compressed after the run (tracking/compact.py)."""

    PENDING = "pending"
    RUNNING = "running"
    STORING = "storing"
    FINISHED = "finished"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:  # the value, as it is stored and shown
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def done(self) -> bool:
        """Its outputs are there for the steps after it."""
        return self in (StepStatus.FINISHED, StepStatus.CACHED)

    @property
    def handed_on(self) -> bool:
        """Its outputs can be read by the steps after it (from the store or the hand-off)."""
        return self.done or self is StepStatus.STORING

    @property
    def blocks(self) -> bool:
        """The steps after it cannot run."""
        return self in (StepStatus.FAILED, StepStatus.SKIPPED)


STORE_DIR = ".nb2pipe"
SCHEMA_VERSION = 4  # 2: not_persisted; 3: resources (peak memory, CPU time per step run);
# 4: triggers (each `nb2pipe trigger` decision: due or not, why, what it did)

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  status TEXT NOT NULL,
  started REAL NOT NULL,
  ended REAL,
  params TEXT NOT NULL,
  overrides TEXT NOT NULL,
  python TEXT,
  host TEXT,
  pid INTEGER,
  git_commit TEXT,
  git_dirty INTEGER,
  git_error TEXT,
  package TEXT,
  notebook TEXT,
  notebook_hash TEXT,
  jobs INTEGER,
  no_cache INTEGER,
  executor TEXT,
  error TEXT
);
CREATE TABLE IF NOT EXISTS step_runs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL,
  step TEXT NOT NULL,
  status TEXT NOT NULL,
  fingerprint TEXT,
  components TEXT,
  cached_from INTEGER,
  started REAL,
  ended REAL,
  error TEXT,
  pid INTEGER,
  UNIQUE(run_id, step)
);
CREATE INDEX IF NOT EXISTS step_runs_fp ON step_runs(step, fingerprint, status);
CREATE TABLE IF NOT EXISTS artifacts(
  sha TEXT PRIMARY KEY,
  format TEXT NOT NULL,
  type TEXT,
  size INTEGER NOT NULL,
  file TEXT NOT NULL,
  created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outputs(
  step_run_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  sha TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY(step_run_id, name)
);
CREATE TABLE IF NOT EXISTS not_persisted(
  step_run_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  type TEXT,
  reason TEXT NOT NULL,
  PRIMARY KEY(step_run_id, name)
);
CREATE TABLE IF NOT EXISTS versions(
  step TEXT NOT NULL,
  name TEXT NOT NULL,
  sha TEXT NOT NULL,
  version INTEGER NOT NULL,
  first_run INTEGER,
  PRIMARY KEY(step, name, sha)
);
CREATE TABLE IF NOT EXISTS written_files(
  step_run_id INTEGER NOT NULL,
  path TEXT NOT NULL,
  sha TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY(step_run_id, path)
);
CREATE TABLE IF NOT EXISTS metrics(
  step_run_id INTEGER NOT NULL,
  run_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  source TEXT NOT NULL,
  PRIMARY KEY(step_run_id, name)
);
CREATE TABLE IF NOT EXISTS logs(
  step_run_id INTEGER NOT NULL,
  stream TEXT NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY(step_run_id, stream)
);
CREATE TABLE IF NOT EXISTS stat_cache(
  path TEXT PRIMARY KEY,
  size INTEGER, mtime_ns INTEGER, ino INTEGER, sha TEXT, checked REAL
);
CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources(
  step_run_id INTEGER PRIMARY KEY,
  peak_rss_kb INTEGER NOT NULL,
  cpu_seconds REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS triggers(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at REAL NOT NULL,
  due INTEGER NOT NULL,
  reasons TEXT NOT NULL,
  action TEXT NOT NULL,
  outcome TEXT NOT NULL,
  run_id INTEGER,
  data TEXT NOT NULL
);
"""

MAX_LOG = 1_000_000  # characters of each stream kept in the store


class StoreError(Exception):
    pass


def _measured_resources(db: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Each step's use in its latest finished run that measured it (not a cached reuse):
    peak_rss_kb, cpu_seconds, wall_seconds, run_id."""
    out: dict[str, dict[str, Any]] = {}
    for step, run_id, started, ended, peak, cpu in db.execute(
            "SELECT s.step, s.run_id, s.started, s.ended, r.peak_rss_kb, r.cpu_seconds "
            "FROM step_runs s JOIN resources r ON r.step_run_id = s.id "
            "WHERE s.status = 'finished' ORDER BY s.id"):
        out[step] = {"peak_rss_kb": peak, "cpu_seconds": cpu, "run_id": run_id,
                     "wall_seconds": max((ended or 0) - (started or 0), 0.0)}
    return out


def read_measured_resources(project: Path) -> dict[str, dict[str, Any]]:
    """`Store.measured_resources` for a reader that must change nothing (conversion): the
    database opened read-only, no folders made, no schema upgrade. {} without a store, or
    with one too old to hold measurements."""
    path = Path(project) / STORE_DIR / "runs.db"
    if not path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return _measured_resources(db)
        finally:
            db.close()
    except sqlite3.Error:
        return {}


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _retry(fn: Any, seconds: float = 120.0) -> Any:
    """SQLite answers "locked"/"busy" without waiting in a few cases (e.g. switching to WAL, or
    recovery after a crash); those are retried, with backoff, like the busy timeout would."""
    deadline = time.monotonic() + seconds
    delay = 0.005
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            msg = str(exc).lower()
            if ("locked" not in msg and "busy" not in msg) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class StoreBusy(StoreError):
    """`runs gc` found a run in progress (it holds the store lock)."""


LOCK_FILE = "store.lock"


def _flock(root: Path, exclusive: bool, wait: bool) -> Any:
    """An open lock file holding flock on `<store>/store.lock` (None where there is no
    fcntl). Runs hold it shared for their whole duration, `runs gc` exclusively: gc never
    deletes while a run may be reusing or writing artifacts, and a run waits for a gc."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, runs and gc trust the rows
        return None
    fh = open(root / LOCK_FILE, "a+")
    flags = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(fh.fileno(), flags)
    except BlockingIOError:
        fh.close()
        raise StoreBusy("a run is in progress") from None
    return fh


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    def __init__(self, project: Path, create: bool = True):
        self.project = Path(project)
        self.root = self.project / STORE_DIR
        self._pending_stat: list[tuple] = []
        if not create and not (self.root / "runs.db").exists():
            raise StoreError(f"no runs recorded yet in {self.project} (no {STORE_DIR}/runs.db)")
        for sub in ("artifacts", "files", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.root / "runs.db"), timeout=60, isolation_level=None,
                                  check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        _retry(lambda: self._setup())

    def _setup(self) -> None:
        self.db.execute("PRAGMA busy_timeout=60000")
        if self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        if self.db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            with self.tx() as db:
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def lock_for_run(self) -> Any:
        """Held (shared) while a run is live; waits while a `runs gc` is collecting."""
        return _flock(self.root, exclusive=False, wait=True)

    def lock_for_gc(self) -> Any:
        """Held (exclusive) while `runs gc` collects; StoreBusy when a run is in progress."""
        return _flock(self.root, exclusive=True, wait=False)

    # ---- transactions ------------------------------------------------------------------
    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        _retry(lambda: self.db.execute("BEGIN IMMEDIATE"))
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def rows(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        return self.db.execute(sql, args).fetchall()

    def one(self, sql: str, args: tuple = ()) -> sqlite3.Row | None:
        return self.db.execute(sql, args).fetchone()

    def kv_get(self, key: str) -> Any:
        row = self.one("SELECT value FROM kv WHERE key=?", (key,))
        return json.loads(row[0]) if row else None

    def kv_set(self, key: str, value: Any) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO kv(key, value) VALUES(?, ?)",
                       (key, json.dumps(value)))

    # ---- content-addressed artifacts -----------------------------------------------------
    def artifact_dir(self, sha: str) -> Path:
        return self.root / "artifacts" / sha[:2] / sha

    def file_blob(self, sha: str) -> Path:
        return self.root / "files" / sha[:2] / sha

    def put_value(self, folder: Path) -> dict[str, Any]:
        """Move a complete value folder (from the step's tmp outputs) into the store."""
        meta = json.loads((folder / "meta.json").read_text())
        sha = meta["sha256"]
        dest = self.artifact_dir(sha)
        if not (dest / "meta.json").exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(folder, dest)
            except OSError:
                if not (dest / "meta.json").exists():  # not a concurrent twin: a real error
                    raise
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        return meta

    def put_file(self, path: Path, tmp_dir: Path) -> tuple[str, int]:
        """Copy a data file a step wrote into the store (temp name, then rename)."""
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"blob-{os.getpid()}-{time.monotonic_ns()}"
        shutil.copyfile(path, tmp)
        sha = file_sha(tmp)
        dest = self.file_blob(sha)
        if dest.exists():
            tmp.unlink()
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        return sha, dest.stat().st_size

    def artifact_ok(self, sha: str, size: int | None = None) -> bool:
        d = self.artifact_dir(sha)
        try:
            meta = json.loads((d / "meta.json").read_text())
            st = (d / meta["file"]).stat()
        except (OSError, ValueError, KeyError):
            return False
        return size is None or st.st_size == size

    # ---- data file hashes with a stat cache (like git's index) -------------------------------
    def data_hash(self, path: Path) -> str:
        """Content hash of a data file (or folder); 'missing' when it does not exist."""
        try:
            st = path.stat()
        except OSError:
            return "missing"
        if path.is_dir():
            h = hashlib.sha256()
            for p in sorted(path.rglob("*")):
                if p.is_file():
                    h.update(p.relative_to(path).as_posix().encode() + b"\0")
                    h.update(self.data_hash(p).encode())
            return "dir:" + h.hexdigest()
        key = str(path.resolve())
        row = self.one("SELECT size, mtime_ns, ino, sha, checked FROM stat_cache WHERE path=?",
                      (key,))
        # an entry is trusted only if the file was not modified within 2 s of hashing it
        # ("racily clean" in git's words): a same-size rewrite in the same tick could hide
        if row and (row["size"], row["mtime_ns"], row["ino"]) == (st.st_size, st.st_mtime_ns,
                                                                  st.st_ino) \
                and st.st_mtime_ns / 1e9 < row["checked"] - 2:
            return row["sha"]
        now = time.time()
        sha = file_sha(path)
        self._pending_stat.append((key, st.st_size, st.st_mtime_ns, st.st_ino, sha, now))
        return sha

    def flush_stat_cache(self) -> None:
        pending, self._pending_stat = list(self._pending_stat), []
        if pending:
            with self.tx() as db:
                db.executemany("INSERT OR REPLACE INTO stat_cache VALUES(?,?,?,?,?,?)", pending)

    # ---- runs ------------------------------------------------------------------------
    def begin_run(self, info: dict[str, Any], steps: list[str]) -> int:
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO runs(status, started, params, overrides, python, host, pid, "
                "package, notebook, notebook_hash, jobs, no_cache, executor) "
                "VALUES('running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), json.dumps(info["params"], sort_keys=True),
                 json.dumps(info["overrides"], sort_keys=True), info["python"],
                 socket.gethostname(), os.getpid(), info["package"], info["notebook"],
                 info["notebook_hash"], info["jobs"], int(info["no_cache"]), info["executor"]))
            run_id = int(cur.lastrowid)
            db.executemany("INSERT INTO step_runs(run_id, step, status) VALUES(?, ?, 'pending')",
                           [(run_id, s) for s in steps])
        return run_id

    def set_git(self, run_id: int, git: dict[str, Any]) -> None:
        with self.tx() as db:
            db.execute("UPDATE runs SET git_commit=?, git_dirty=?, git_error=? WHERE id=?",
                       (git.get("commit"), None if git.get("dirty") is None else
                        int(git["dirty"]), git.get("error"), run_id))

    def end_run(self, run_id: int, status: str, error: str | None = None) -> None:
        with self.tx() as db:
            db.execute("UPDATE runs SET status=?, ended=?, error=? WHERE id=?",
                       (status, time.time(), error, run_id))

    def step_row(self, run_id: int, step: str) -> sqlite3.Row:
        row = self.one("SELECT * FROM step_runs WHERE run_id=? AND step=?", (run_id, step))
        assert row is not None
        return row

    def set_step(self, run_id: int, step: str, **fields: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in fields)
        with self.tx() as db:
            db.execute(f"UPDATE step_runs SET {cols} WHERE run_id=? AND step=?",
                       (*fields.values(), run_id, step))

    def find_cached(self, step: str, fingerprint: str) -> sqlite3.Row | None:
        """The newest finished run of this step with this fingerprint whose artifacts exist."""
        rows = self.rows("SELECT * FROM step_runs WHERE step=? AND fingerprint=? AND "
                      "status='finished' ORDER BY id DESC LIMIT 5", (step, fingerprint))
        for row in rows:
            outs = self.rows("SELECT o.sha, a.size FROM outputs o JOIN artifacts a ON a.sha=o.sha "
                          "WHERE o.step_run_id=?", (row["id"],))
            if all(self.artifact_ok(o["sha"], o["size"]) for o in outs):
                return row
        return None

    def latest_finished(self, step: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM step_runs WHERE step=? AND status IN ('finished', "
                       "'cached') ORDER BY id DESC LIMIT 1", (step,))

    def outputs_of(self, step_run_id: int) -> dict[str, str]:
        return {r["name"]: r["sha"] for r in
                self.rows("SELECT name, sha FROM outputs WHERE step_run_id=?", (step_run_id,))}

    def not_persisted_of(self, step_run_id: int) -> dict[str, dict[str, Any]]:
        return {r["name"]: {"type": r["type"], "reason": r["reason"]} for r in
                self.rows("SELECT name, type, reason FROM not_persisted WHERE step_run_id=? "
                       "ORDER BY name", (step_run_id,))}

    def written_of(self, step_run_id: int) -> list[sqlite3.Row]:
        return self.rows("SELECT * FROM written_files WHERE step_run_id=?", (step_run_id,))

    def record_cached(self, run_id: int, step: str, source: sqlite3.Row, fingerprint: str,
                      components: dict) -> None:
        """A step served from the store: its row points at the run that computed it."""
        now = time.time()
        with self.tx() as db:
            sid = self.step_row(run_id, step)["id"]
            db.execute("UPDATE step_runs SET status='cached', fingerprint=?, components=?, "
                       "cached_from=?, started=?, ended=? WHERE id=?",
                       (fingerprint, json.dumps(components, sort_keys=True), source["id"], now,
                        now, sid))
            db.execute("INSERT OR REPLACE INTO outputs SELECT ?, name, sha, version FROM outputs "
                       "WHERE step_run_id=?", (sid, source["id"]))
            db.execute("INSERT OR REPLACE INTO written_files SELECT ?, path, sha, size FROM "
                       "written_files WHERE step_run_id=?", (sid, source["id"]))
            db.execute("INSERT OR REPLACE INTO not_persisted SELECT ?, name, type, reason FROM "
                       "not_persisted WHERE step_run_id=?", (sid, source["id"]))
            db.execute("INSERT OR REPLACE INTO metrics SELECT ?, ?, name, value, source FROM "
                       "metrics WHERE step_run_id=?", (sid, run_id, source["id"]))

    def record_finished(self, run_id: int, step: str, *, metas: dict[str, dict],
                        written: list[tuple[str, str, int]], metrics: dict[str, tuple[Any, str]],
                        logs: dict[str, str], ended: float,
                        not_persisted: dict[str, dict] | None = None) -> None:
        """Commit a step's results; its artifacts are already in the store. `not_persisted`:
        the values no later step reads that could not be serialized (type, reason)."""
        with self.tx() as db:
            sid = self.step_row(run_id, step)["id"]
            for name, meta in metas.items():
                sha = meta["sha256"]
                db.execute("INSERT OR IGNORE INTO artifacts VALUES(?, ?, ?, ?, ?, ?)",
                           (sha, meta["format"], meta.get("type"), meta["size"], meta["file"],
                            time.time()))
                row = db.execute("SELECT version FROM versions WHERE step=? AND name=? AND "
                                 "sha=?", (step, name, sha)).fetchone()
                if row is None:
                    top = db.execute("SELECT COALESCE(MAX(version), 0) FROM versions WHERE "
                                     "step=? AND name=?", (step, name)).fetchone()[0]
                    version = top + 1
                    db.execute("INSERT INTO versions VALUES(?, ?, ?, ?, ?)",
                               (step, name, sha, version, run_id))
                else:
                    version = row[0]
                db.execute("INSERT OR REPLACE INTO outputs VALUES(?, ?, ?, ?)",
                           (sid, name, sha, version))
            db.executemany("INSERT OR REPLACE INTO written_files VALUES(?, ?, ?, ?)",
                           [(sid, p, sha, size) for p, sha, size in written])
            db.executemany("INSERT OR REPLACE INTO not_persisted VALUES(?, ?, ?, ?)",
                           [(sid, n, v.get("type"), v["reason"])
                            for n, v in (not_persisted or {}).items()])
            db.executemany("INSERT OR REPLACE INTO metrics VALUES(?, ?, ?, ?, ?)",
                           [(sid, run_id, n, json.dumps(v), src)
                            for n, (v, src) in metrics.items()])
            db.executemany("INSERT OR REPLACE INTO logs VALUES(?, ?, ?)",
                           [(sid, k, v[-MAX_LOG:]) for k, v in logs.items()])
            db.execute("UPDATE step_runs SET status='finished', ended=? WHERE id=?", (ended, sid))

    def record_resources(self, run_id: int, step: str, peak_rss_kb: int,
                         cpu_seconds: float) -> None:
        """What the step's process used: its peak resident memory and its CPU time."""
        with self.tx() as db:
            sid = self.step_row(run_id, step)["id"]
            db.execute("INSERT OR REPLACE INTO resources VALUES(?, ?, ?)",
                       (sid, int(peak_rss_kb), float(cpu_seconds)))

    def resources_of(self, step_run_id: int) -> dict[str, Any] | None:
        row = self.one("SELECT peak_rss_kb, cpu_seconds FROM resources WHERE step_run_id=?",
                       (step_run_id,))
        return dict(row) if row else None

    def measured_resources(self) -> dict[str, dict[str, Any]]:
        return _measured_resources(self.db)

    def record_failed(self, run_id: int, step: str, error: str, logs: dict[str, str],
                      status: str = "failed") -> None:
        with self.tx() as db:
            sid = self.step_row(run_id, step)["id"]
            db.executemany("INSERT OR REPLACE INTO logs VALUES(?, ?, ?)",
                           [(sid, k, v[-MAX_LOG:]) for k, v in logs.items()])
            db.execute("UPDATE step_runs SET status=?, error=?, ended=? WHERE id=?",
                       (status, error, time.time(), sid))

    # ---- triggers -------------------------------------------------------------------------
    def record_trigger(self, decision: dict[str, Any]) -> int:
        """One `nb2pipe trigger` decision: due or not, its reasons, the action taken (none,
        run, submit:ENGINE), its outcome and the hashes of the watched data (`--data`)."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO triggers(at, due, reasons, action, outcome, run_id, data) "
                "VALUES(?, ?, ?, ?, ?, ?, ?)",
                (time.time(), int(decision["due"]), json.dumps(decision["reasons"]),
                 decision["action"], decision["outcome"], decision.get("run"),
                 json.dumps(decision.get("watched") or {})))
            return int(cur.lastrowid)

    def watched_hashes(self) -> dict[str, str]:
        """Each watched data source's hash as the last trigger that ran the pipeline
        successfully saw it (`--data` sources the runner's plan does not know)."""
        seen: dict[str, str] = {}
        for row in self.rows("SELECT data FROM triggers WHERE outcome IN ('finished', "
                             "'submitted') ORDER BY id"):
            seen.update(json.loads(row["data"]))
        return seen

    def triggers(self) -> list[dict[str, Any]]:
        return [{**dict(r), "due": bool(r["due"]), "reasons": json.loads(r["reasons"]),
                 "data": json.loads(r["data"])}
                for r in self.rows("SELECT * FROM triggers ORDER BY id")]

    # ---- housekeeping ---------------------------------------------------------------------
    def reap(self) -> None:
        """Mark runs whose process is gone (killed) as interrupted; drop their tmp folders."""
        host = socket.gethostname()
        dead = [r["id"] for r in self.rows("SELECT id, pid, host FROM runs WHERE status='running'")
                if r["host"] == host and not pid_alive(r["pid"])]
        if dead:
            with self.tx() as db:
                for rid in dead:
                    db.execute("UPDATE runs SET status='interrupted', error=COALESCE(error, "
                               "'the run process died (killed?)') WHERE id=? AND "
                               "status='running'", (rid,))
                    db.execute("UPDATE step_runs SET status='interrupted' WHERE run_id=? AND "
                               "status IN ('running', 'storing', 'pending')", (rid,))
        self.remove_dead_work()

    def remove_dead_work(self, pattern: str = "*") -> None:
        """Remove the work folders under tmp/ (named `<kind>-<pid>`) whose process is gone."""
        for d in (self.root / "tmp").glob(pattern):
            try:
                pid = int(d.name.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                continue
            if not pid_alive(pid):
                shutil.rmtree(d, ignore_errors=True)

    # ---- reading runs back ------------------------------------------------------------------
    def resolve_run(self, ref: str | int) -> int:
        ref = str(ref)
        if ref in ("latest", "last", "-1"):
            row = self.one("SELECT MAX(id) FROM runs")
            if row is None or row[0] is None:
                raise StoreError("no runs recorded yet")
            return int(row[0])
        if ref.startswith("latest~") and ref[7:].isdigit():
            rows = self.rows("SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET ?",
                          (int(ref[7:]),))
            if not rows:
                raise StoreError(f"no run {ref}")
            return int(rows[0][0])
        if not ref.isdigit() or self.one("SELECT id FROM runs WHERE id=?", (int(ref),)) is None:
            raise StoreError(f"no run {ref!r} (see `nb2pipe runs list`)")
        return int(ref)
