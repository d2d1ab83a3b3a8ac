"""Issue 19 item 3: a store that stays in bounds. `nb2pipe runs gc` deletes old runs and the
artifacts only they reference, never what a kept run, the cache or a run in progress needs;
identical values are stored once; DataFrames are stored compressed."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import (SLOW, TOY, check_store_consistent, cli, cli_json, db, project_from,
                            uncompressed_ipc)


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    return tmp_path_factory.mktemp("gc_templates")


@pytest.fixture
def toy(templates, tmp_path):
    return project_from(TOY, "toy", templates, tmp_path / "nb")


def run(project: Path, *extra: str) -> dict:
    rc, out = cli_json("run", project, *extra)
    assert rc == 0, out
    return out


def shas_of_run(project: Path, run_id: int) -> set[str]:
    con = db(project)
    try:
        return {r[0] for r in con.execute(
            "SELECT o.sha FROM outputs o JOIN step_runs s ON s.id=o.step_run_id "
            "WHERE s.run_id=?", (run_id,))}
    finally:
        con.close()


def artifact_dirs(project: Path) -> set[str]:
    return {d.name for d in (project / ".nb2pipe" / "artifacts").glob("*/*")}


def run_ids(project: Path) -> list[int]:
    rc, runs = cli_json("runs", "list", project)
    assert rc == 0
    return [r["id"] for r in runs]


def test_keep_last_frees_old_runs_and_keeps_the_cache(toy):
    for scale in ("2", "3", "4"):
        run(toy, "--param", f"scale={scale}")
    only_old = (shas_of_run(toy, 1) | shas_of_run(toy, 2)) - shas_of_run(toy, 3)
    assert only_old and only_old <= artifact_dirs(toy)
    rc, res = cli_json("runs", "gc", toy, "--keep-last", "1")
    assert rc == 0, res
    assert res["deleted_runs"] == [1, 2] and res["kept_runs"] == [3]
    assert res["freed_bytes"] > 0
    assert res["store_after"]["artifacts"] < res["store_before"]["artifacts"]
    assert not only_old & artifact_dirs(toy)
    assert shas_of_run(toy, 3) <= artifact_dirs(toy)
    assert run_ids(toy) == [3]
    check_store_consistent(toy)
    # the kept run's steps are still the cache
    assert set(run(toy, "--param", "scale=4")["steps"].values()) == {"cached"}
    # the store's size after gc, in runs list
    proc = cli("runs", "list", toy)
    assert proc.returncode == 0 and "store: " in proc.stdout and " artifacts" in proc.stdout
    proc = cli("runs", "gc", toy, "--keep-last", "5")
    assert proc.returncode == 0
    assert "deleted 0 runs" in proc.stdout and "store " in proc.stdout


def test_artifact_shared_by_a_kept_and_a_deleted_run_stays(toy):
    run(toy)  # run 1: scale 2
    run(toy, "--param", "scale=3")  # run 2
    run(toy, "--no-cache")  # run 3: computes run 1's values again (the same artifacts)
    shared = shas_of_run(toy, 1) & shas_of_run(toy, 3)
    assert shared == shas_of_run(toy, 1)
    rc, res = cli_json("runs", "gc", toy, "--keep-last", "1")
    assert rc == 0 and res["deleted_runs"] == [1, 2]
    assert shared <= artifact_dirs(toy)
    check_store_consistent(toy)
    assert set(run(toy)["steps"].values()) == {"cached"}
    assert "finished" in run(toy, "--param", "scale=3")["steps"].values()


def test_a_kept_run_takes_over_the_steps_it_reused_from_a_deleted_run(toy):
    run(toy)  # 1
    run(toy, "--param", "scale=3")  # 2
    assert set(run(toy)["steps"].values()) == {"cached"}  # 3: everything from run 1
    rc, res = cli_json("runs", "gc", toy, "--keep-last", "1")
    assert rc == 0 and res["deleted_runs"] == [1, 2] and res["kept_runs"] == [3]
    assert res["taken_over"] == 4
    rc, show = cli_json("runs", "show", toy, "3")
    assert {s["status"] for s in show["step_runs"].values()} == {"finished"}
    assert show["step_runs"]["lhs"]["resources"]  # the measurements moved over too
    rc, logs = cli_json("runs", "logs", toy, "3", "lhs")
    assert rc == 0 and "lhs says" in logs["stdout"]
    check_store_consistent(toy)
    out = run(toy)  # still the cache: served from run 3 now
    assert set(out["steps"].values()) == {"cached"}
    rc, show = cli_json("runs", "show", toy, str(out["run"]))
    assert show["step_runs"]["combine"]["cached_from_run"] == 3


def test_dry_run_deletes_nothing(toy):
    run(toy)
    run(toy, "--param", "scale=3")
    before = artifact_dirs(toy)
    con = db(toy)
    rows = con.execute("SELECT COUNT(*) FROM step_runs").fetchone()[0]
    con.close()
    proc = cli("runs", "gc", toy, "--keep-last", "1", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "would delete 1 runs (1)" in proc.stdout and "would free" in proc.stdout
    rc, res = cli_json("runs", "gc", toy, "--keep-last", "1", "--dry-run")
    assert res["dry_run"] and res["deleted_runs"] == [1] and res["freed_bytes"] > 0
    assert artifact_dirs(toy) == before and run_ids(toy) == [1, 2]
    con = db(toy)
    assert con.execute("SELECT COUNT(*) FROM step_runs").fetchone()[0] == rows
    con.close()


def test_keep_days_and_usage_errors(toy):
    run(toy)
    run(toy, "--param", "scale=3")
    rc, res = cli_json("runs", "gc", toy, "--keep-days", "1")
    assert rc == 0 and res["deleted_runs"] == []
    rc, res = cli_json("runs", "gc", toy, "--keep-days", "0", "--keep-last", "1")
    assert rc == 0 and res["deleted_runs"] == [1]
    proc = cli("runs", "gc", toy)
    assert proc.returncode == 2 and "--keep-last" in proc.stderr
    proc = cli("runs", "gc", toy, "--keep-last", "many")
    assert proc.returncode == 2 and "whole number" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_run_in_progress_is_never_collected(templates, tmp_path):
    project = project_from(SLOW, "slow", templates, tmp_path / "nb")
    run(project)
    marker = tmp_path / "marker"
    env = dict(os.environ, NB2PIPE_TEST_SLOW="1", NB2PIPE_TEST_MARKER=str(marker))
    proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", str(project),
                             "--no-cache"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, "the slow step never ran"
            time.sleep(0.05)
        before = artifact_dirs(project)
        res = cli("runs", "gc", project, "--keep-last", "0")
        assert res.returncode == 1
        assert "run 2" in res.stderr and "in progress" in res.stderr
        assert "Traceback" not in res.stderr
        assert run_ids(project) == [1, 2] and artifact_dirs(project) == before
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    rc, res = cli_json("runs", "gc", project, "--keep-last", "0")
    assert rc == 0 and res["deleted_runs"] == [1, 2]
    assert artifact_dirs(project) == set()


def test_a_run_marked_running_by_a_live_process_is_kept(toy):
    """A run holding no lock we can see (another host on a shared store, an older nb2pipe):
    its row says running and its process is alive, so it and its values stay."""
    run(toy)
    run(toy, "--param", "scale=3")
    con = db(toy)
    con.execute("UPDATE runs SET status='running', pid=?, host=? WHERE id=2",
                (os.getpid(), socket.gethostname()))
    con.commit()
    con.close()
    orphan = toy / ".nb2pipe" / "artifacts" / "ff" / ("f" * 64)
    orphan.mkdir(parents=True)
    rc, res = cli_json("runs", "gc", toy, "--keep-last", "0")
    assert rc == 0 and res["deleted_runs"] == [1] and res["kept_runs"] == [2]
    assert shas_of_run(toy, 2) <= artifact_dirs(toy)
    assert orphan.exists()  # maybe a value that run is about to commit


def test_leftovers_of_killed_runs_are_swept(toy):
    run(toy)
    orphan = toy / ".nb2pipe" / "artifacts" / "ff" / ("f" * 64)
    orphan.mkdir(parents=True)
    (orphan / "value.json").write_text("1")
    rc, res = cli_json("runs", "gc", toy, "--keep-last", "1")
    assert rc == 0 and res["orphans"] == 1 and not orphan.exists()
    check_store_consistent(toy)


DEDUP = [
    ("code", "import pandas as pd", ["imports"]),
    ("code", "frame = pd.DataFrame({'x': list(range(5000)), 'y': ['a', 'b'] * 2500})",
     ["step:make"]),
    ("code", "copy = frame.copy()\nn = len(copy)", ["step:again", "prev:make"]),
]


def test_identical_values_are_stored_once_and_frames_compressed(templates, tmp_path):
    pytest.importorskip("pyarrow")
    project = project_from(DEDUP, "dedup", templates, tmp_path / "nb")
    run(project, "--compact=now")
    con = db(project)
    rows = con.execute("SELECT s.step, o.name, o.sha, a.format FROM outputs o JOIN step_runs s "
                       "ON s.id=o.step_run_id JOIN artifacts a ON a.sha=o.sha "
                       "WHERE o.name IN ('frame', 'copy')").fetchall()
    con.close()
    shas = {(r["step"], r["name"]): r["sha"] for r in rows}
    assert shas[("make", "frame")] == shas[("again", "copy")]  # content-addressed: one copy
    sha = shas[("make", "frame")]
    folder = project / ".nb2pipe" / "artifacts" / sha[:2] / sha
    assert [d for d in artifact_dirs(project) if d == sha] == [sha]
    # stored as a zstd-compressed Arrow IPC file, addressed by its uncompressed bytes
    meta = json.loads((folder / "meta.json").read_text())
    assert (meta["format"], meta["file"], meta["compression"]) == ("arrow", "value.arrow",
                                                                     "zstd")
    raw = uncompressed_ipc(folder / "value.arrow")
    assert hashlib.sha256(raw).hexdigest() == sha
    assert (folder / "value.arrow").stat().st_size < len(raw) / 2
    check_store_consistent(project)
    # an artifact written before (Parquet, pandas' default snappy) still loads
    import pandas as pd

    old = tmp_path / "old" / "frame"
    old.mkdir(parents=True)
    pd.DataFrame({"x": [1, 2]}).to_parquet(old / "value.parquet", compression="snappy")
    (old / "meta.json").write_text(json.dumps({"format": "parquet", "file": "value.parquet",
                                               "sha256": "0", "type": "x", "size": 1}))
    sys.path.insert(0, str(project))
    try:
        runtime = importlib.import_module("dedup_pipeline._runtime")
        assert runtime.load_value(old)["x"].tolist() == [1, 2]
    finally:
        sys.path.remove(str(project))
