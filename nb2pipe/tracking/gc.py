"""`nb2pipe runs gc`: delete old runs and the artifacts and files only they reference.

What is kept: the last N runs and those of the last D days (either rule keeps a run), and
every run in progress. A kept run whose steps were served from a deleted run's step runs
takes those step runs over (their log, measurements and times move to its own step run,
which becomes the finished one the cache finds), so the kept runs' steps stay cached and
their logs readable while the rest of the old run goes. An artifact or a data-file copy
goes only when no kept step run names it. gc holds the store lock exclusively, so no run
reuses or writes an artifact while it collects; a run waits for it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2pipe.tracking.store import Store, pid_alive

# the tables whose rows belong to one step run
_STEP_TABLES = ("outputs", "not_persisted", "written_files", "metrics", "logs", "resources")


@dataclass
class GcPlan:
    delete_runs: list[int] = field(default_factory=list)
    keep_runs: list[int] = field(default_factory=list)
    artifacts: dict[str, int] = field(default_factory=dict)  # sha -> bytes on disk
    files: dict[str, int] = field(default_factory=dict)  # sha -> bytes on disk
    orphans: list[Path] = field(default_factory=list)  # on disk, named by no row
    takeovers: list[tuple[int, int]] = field(default_factory=list)  # (deleted, heir) step runs

    @property
    def freed(self) -> int:
        return sum(self.artifacts.values()) + sum(self.files.values()) + \
            sum(_du(p) for p in self.orphans)


def _du(path: Path) -> int:
    """Bytes under `path` (a file or a folder)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            try:
                total += os.lstat(os.path.join(dirpath, n)).st_size
            except OSError:
                continue
    return total


def store_size(store: Store) -> dict[str, int]:
    """Bytes the store takes: the database, artifacts and file copies."""
    db = sum(_du(p) for p in store.root.glob("runs.db*"))
    return {"artifacts": _du(store.root / "artifacts"), "files": _du(store.root / "files"),
            "database": db, "total": _du(store.root)}


def _kept_runs(store: Store, keep_last: int | None, keep_days: float | None) -> set[int]:
    rows = store.rows("SELECT id, status, started, pid FROM runs ORDER BY id DESC")
    keep = {r["id"] for r in rows[:keep_last]} if keep_last is not None else set()
    if keep_days is not None:
        cutoff = time.time() - keep_days * 86400
        keep |= {r["id"] for r in rows if r["started"] >= cutoff}
    # a run still marked running after reap() has a live process: never collected
    keep |= {r["id"] for r in rows if r["status"] == "running"}
    return keep


def _takeovers(store: Store, delete_runs: list[int]) -> list[tuple[int, int]]:
    """(deleted step run, the kept step run that takes it over): for each deleted step run
    that kept runs' cached steps point at, the first of those."""
    gone = _marks(delete_runs)
    return [(r[0], r[1]) for r in store.rows(
        f"SELECT s.cached_from, MIN(s.id) FROM step_runs s WHERE s.cached_from IN (SELECT id "
        f"FROM step_runs WHERE run_id IN ({gone})) AND s.run_id NOT IN ({gone}) "
        f"GROUP BY s.cached_from ORDER BY s.cached_from")]


def _take_over(db: Any, source: int, heir: int) -> None:
    """`heir` (a cached step run of a kept run) becomes the finished step run `source` was:
    its log, measurements and times move over, and the steps cached from `source` now point
    at `heir`. Its outputs, files and metrics were copied when it was served."""
    db.execute("UPDATE step_runs SET status='finished', cached_from=NULL, started=(SELECT "
               "started FROM step_runs WHERE id=:s), ended=(SELECT ended FROM step_runs "
               "WHERE id=:s) WHERE id=:h", {"s": source, "h": heir})
    for table in ("logs", "resources"):
        db.execute(f"DELETE FROM {table} WHERE step_run_id=?", (heir,))
        db.execute(f"UPDATE {table} SET step_run_id=? WHERE step_run_id=?", (heir, source))
    db.execute("UPDATE step_runs SET cached_from=? WHERE cached_from=?", (heir, source))


def plan_gc(store: Store, keep_last: int | None, keep_days: float | None,
            sweep_orphans: bool) -> GcPlan:
    """What a gc would delete; deletes nothing."""
    keep = _kept_runs(store, keep_last, keep_days)
    all_runs = [r[0] for r in store.rows("SELECT id FROM runs ORDER BY id")]
    plan = GcPlan(delete_runs=[r for r in all_runs if r not in keep],
                  keep_runs=[r for r in all_runs if r in keep])
    plan.takeovers = _takeovers(store, plan.delete_runs)
    gone = _marks(plan.delete_runs)
    kept_sql = f"SELECT id FROM step_runs WHERE run_id NOT IN ({gone})"
    dead_sql = f"SELECT id FROM step_runs WHERE run_id IN ({gone})"
    for sha in _unshared(store, "outputs", dead_sql, kept_sql, plan.delete_runs):
        plan.artifacts[sha] = _du(store.artifact_dir(sha))
    for sha in _unshared(store, "written_files", dead_sql, kept_sql, plan.delete_runs):
        plan.files[sha] = _du(store.file_blob(sha))
    if sweep_orphans:
        plan.orphans = _orphans(store, set(plan.artifacts), set(plan.files))
    return plan


def _marks(ids: list[int]) -> str:
    return ",".join(str(int(i)) for i in ids) or "NULL"


def _unshared(store: Store, table: str, dead_sql: str, kept_sql: str,
              delete_runs: list[int]) -> list[str]:
    """The shas the deleted runs' step runs name in `table` that no kept step run names."""
    if not delete_runs:
        return []
    return [r[0] for r in store.rows(
        f"SELECT DISTINCT sha FROM {table} WHERE step_run_id IN ({dead_sql}) AND sha NOT IN "
        f"(SELECT sha FROM {table} WHERE step_run_id IN ({kept_sql})) ORDER BY sha")]


def _orphans(store: Store, planned_artifacts: set[str], planned_files: set[str]) -> list[Path]:
    """Artifact folders and file copies no row names: left by runs killed between writing a
    value and committing its row. Only swept when no run is in progress."""
    named_a = {r[0] for r in store.rows("SELECT sha FROM outputs")} | planned_artifacts
    named_f = {r[0] for r in store.rows("SELECT sha FROM written_files")} | planned_files
    out = [d for d in sorted((store.root / "artifacts").glob("*/*"))
           if d.name not in named_a]
    out += [f for f in sorted((store.root / "files").glob("*/*")) if f.name not in named_f]
    return out


def apply_gc(store: Store, plan: GcPlan) -> None:
    """Delete the planned rows (one transaction), then the folders and files."""
    gone = _marks(plan.delete_runs)
    with store.tx() as db:
        for source, heir in plan.takeovers:
            _take_over(db, source, heir)
        sids = f"SELECT id FROM step_runs WHERE run_id IN ({gone})"
        for table in _STEP_TABLES:
            db.execute(f"DELETE FROM {table} WHERE step_run_id IN ({sids})")
        db.execute(f"DELETE FROM step_runs WHERE run_id IN ({gone})")
        db.execute(f"DELETE FROM runs WHERE id IN ({gone})")
        db.executemany("DELETE FROM artifacts WHERE sha=?", [(s,) for s in plan.artifacts])
    for sha in plan.artifacts:
        shutil.rmtree(store.artifact_dir(sha), ignore_errors=True)
    for sha in plan.files:
        with _ignore_missing():
            store.file_blob(sha).unlink()
    for path in plan.orphans:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with _ignore_missing():
                path.unlink()
    _compact(store)


class _ignore_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        return kind is not None and issubclass(kind, FileNotFoundError)


def _compact(store: Store) -> None:
    """Give the deleted rows' pages (logs are up to 1 MB a stream) back to the disk."""
    try:
        store.db.execute("VACUUM")
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except Exception:  # noqa: BLE001 - a busy reader: the space is reused by later runs
        pass


def live_runs(store: Store) -> list[dict[str, Any]]:
    """Runs in progress according to their rows (after reap: their process is alive)."""
    return [dict(r) for r in store.rows("SELECT id, pid, host FROM runs WHERE "
                                        "status='running' ORDER BY id")
            if pid_alive(r["pid"])]
