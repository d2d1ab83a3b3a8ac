"""Compressing the store after the run, not during it (issue 19 item 4).

`nb2pipe run` stores a table as the uncompressed Arrow IPC file its step handed on; `nb2pipe
runs compact` (started detached by `nb2pipe run`, or inline with --compact=now, or by `runs
gc`) rewrites it zstd-compressed where that saves a fifth, atomically, same address. Real CLI,
real processes: a compactor is paused half-way through a write (NB2PIPE_TEST_COMPACT_PAUSE)
to read, collect, kill it or remove its store meanwhile. No test leaves a compactor running."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import check_store_consistent, cli, cli_json, db

from conftest import make_notebook
from nb2pipe.api import convert

pytest.importorskip("pyarrow")
pytest.importorskip("pandas")

# `make` builds a frame zstd shrinks (ids, a few categories) and one it does not (random
# doubles); `use` reads both; K only changes what `use` computes
CELLS = [
    ("code", "import numpy as np\nimport pandas as pd", ["imports"]),
    ("code", "K = 1", ["pipeline-parameters"]),
    ("code", "n = 300_000\n"
             "frame = pd.DataFrame({'id': np.arange(n), 'city': np.array(['paris', 'lyon', "
             "'nice', 'lille'])[np.arange(n) % 4], 'x': (np.arange(n) % 97) * 0.5})\n"
             "noise = pd.DataFrame(np.random.default_rng(0).random((n, 3)), columns=list('abc'))",
     ["step:make"]),
    ("code", "picked = frame[frame['city'] == 'nice'].assign(y=frame['x'] * K + noise['a'])",
     ["step:use", "prev:make"]),
]
PAUSE = "NB2PIPE_TEST_COMPACT_PAUSE"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    src = tmp_path_factory.mktemp("compact") / "nb"
    src.mkdir()
    make_notebook(src / "compact.ipynb", CELLS)
    res = convert(src / "compact.ipynb", src / "compact_pipeline")
    assert res.ok, [d.format() for d in res.diagnostics]
    return src


@pytest.fixture
def project(template, tmp_path):
    shutil.copytree(template, tmp_path / "nb")
    return tmp_path / "nb" / "compact_pipeline"


@pytest.fixture
def compactors():
    """Compactor processes a test starts: any still alive at its end are killed."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(predicate, what: str, seconds: float = 120.0) -> None:
    """Poll until `predicate()` holds (no timed assertion: the deadline only ends a hang)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def store_rows(project: Path) -> dict[str, dict]:
    """name -> sha, size of the artifacts row and meta.json, of the latest run's outputs."""
    con = db(project)
    try:
        rows = con.execute("SELECT o.name, o.sha, a.size FROM outputs o JOIN artifacts a ON "
                           "a.sha=o.sha JOIN step_runs s ON s.id=o.step_run_id WHERE "
                           "s.run_id=(SELECT MAX(id) FROM runs)").fetchall()
    finally:
        con.close()
    out = {}
    for r in rows:
        folder = project / ".nb2pipe" / "artifacts" / r["sha"][:2] / r["sha"]
        out[r["name"]] = {"sha": r["sha"], "size": r["size"], "folder": folder,
                          "meta": json.loads((folder / "meta.json").read_text())}
    return out


def load(project: Path, names: list[str], run: str = "latest") -> dict:
    from nb2pipe.runner.report import load_values

    return load_values(project, run, names=names)


def pending(project: Path) -> int:
    from nb2pipe.tracking.compact import pending_bytes
    from nb2pipe.tracking.store import Store

    store = Store(project, create=False)
    try:
        return pending_bytes(store)
    finally:
        store.close()


def start_paused_compactor(project: Path, pause: Path, compactors: list) -> subprocess.Popen:
    """`runs compact` stopped after the first batch of its first compressed copy."""
    pause.mkdir(exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "runs", "compact", str(project)],
                            env=dict(os.environ, **{PAUSE: str(pause)}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    compactors.append(proc)
    wait_for(lambda: list(pause.glob("paused-*")) or proc.poll() is not None,
             "the compactor to pause")
    assert proc.poll() is None, proc.communicate()
    return proc


def assert_frames(project: Path, expected: dict) -> None:
    import pandas as pd

    got = load(project, list(expected))
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame)


def test_compaction_compresses_what_pays_and_every_frame_loads_the_same(project):
    rc, out = cli_json("run", project, "--compact=off")
    assert rc == 0 and set(out["steps"].values()) == {"finished"}, out
    before = store_rows(project)
    frames = load(project, ["frame", "noise", "picked"])
    assert all("compression" not in v["meta"] for v in before.values())
    waiting = pending(project)
    assert waiting == sum(v["size"] for v in before.values() if v["meta"]["format"] == "arrow")
    listing = cli("runs", "list", project)
    from nb2pipe.runner.cli import _size

    assert f"; {_size(waiting)} await compaction" in listing.stdout, listing.stdout
    rc, dry = cli_json("runs", "compact", project, "--dry-run")
    assert rc == 0 and (dry["compressed"], dry["left_uncompressed"]) == (2, 1), dry
    assert store_rows(project) == before  # a dry run writes nothing

    rc, res = cli_json("runs", "compact", project)
    assert rc == 0 and (res["compressed"], res["left_uncompressed"]) == (2, 1), res
    after = store_rows(project)
    for name in ("frame", "picked"):
        meta = after[name]["meta"]
        assert meta["compression"] == "zstd" and meta["compacted"]
        assert after[name]["sha"] == before[name]["sha"]  # the address does not move
        assert after[name]["size"] == meta["size"] == (
            after[name]["folder"] / meta["file"]).stat().st_size < before[name]["size"] * 0.8
    noise = after["noise"]  # random doubles: checked, left as they are
    assert "compression" not in noise["meta"] and noise["meta"]["compacted"]
    assert noise["size"] == before["noise"]["size"]
    assert hashlib.sha256((noise["folder"] / "value.arrow").read_bytes()).hexdigest() \
        == noise["sha"]
    assert res["saved_bytes"] == sum(before[n]["size"] - after[n]["size"] for n in before)
    assert_frames(project, frames)
    check_store_consistent(project)
    assert pending(project) == 0 and "await compaction" not in cli("runs", "list",
                                                                   project).stdout
    rc, again = cli_json("runs", "compact", project)  # nothing left to do
    assert rc == 0 and again["compressed"] == again["left_uncompressed"] == 0
    # a run served from the compacted store reads the same values
    rc, out = cli_json("run", project, "--param", "K=1")
    assert rc == 0 and set(out["steps"].values()) == {"cached"}, out
    assert_frames(project, frames)


def test_a_table_read_while_it_is_compacted_stays_the_same(project, tmp_path, compactors):
    import pyarrow as pa

    assert cli("run", project).returncode == 0
    frames = load(project, ["frame", "picked"])
    rows = store_rows(project)
    old = {n: pa.memory_map(str(rows[n]["folder"] / "value.arrow")) for n in ("frame", "picked")}
    proc = start_paused_compactor(project, tmp_path / "pause", compactors)
    assert_frames(project, frames)  # half-way through a write: the old files
    (tmp_path / "pause" / "go").write_text("")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert store_rows(project)["frame"]["meta"]["compression"] == "zstd"
    assert_frames(project, frames)
    for name, source in old.items():  # a reader that opened the old file keeps reading it
        with source:
            table = pa.ipc.open_file(source).read_all().to_pandas()
        import pandas as pd

        pd.testing.assert_frame_equal(table, frames[name])
    check_store_consistent(project)


def test_a_compactor_killed_mid_write_leaves_the_store_valid(project, tmp_path, compactors):
    assert cli("run", project).returncode == 0
    frames = load(project, ["frame", "noise", "picked"])
    before = store_rows(project)
    waiting = pending(project)
    proc = start_paused_compactor(project, tmp_path / "pause", compactors)
    work = project / ".nb2pipe" / "tmp" / f"compact-{proc.pid}"
    assert [p for p in work.iterdir() if p.suffix == ".arrow"], "a half-written copy"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after = store_rows(project)
    for name, row in before.items():  # the old files intact, named as before
        meta = dict(after[name]["meta"])
        meta.pop("compacted", None)  # a table checked before (random: left as it is)
        assert after[name]["size"] == row["size"] and meta == row["meta"]
        data = (row["folder"] / row["meta"]["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha"]
    # the half-written copy is not an artifact, nor counted as one
    assert pending(project) == waiting - sum(
        r["size"] for r in after.values() if r["meta"].get("compacted"))
    assert pending(project) >= before["frame"]["size"]
    check_store_consistent(project)
    assert_frames(project, frames)
    rc, res = cli_json("runs", "compact", project)  # the next pass finishes the job
    assert rc == 0 and res["compressed"] == 2, res
    assert not work.exists() and not list((project / ".nb2pipe" / "tmp").iterdir())
    check_store_consistent(project)
    assert_frames(project, frames)


def test_gc_stops_a_compactor_and_compacts_what_it_keeps(project, tmp_path, compactors):
    assert cli("run", project).returncode == 0
    assert cli("run", project, "--param", "K=3").returncode == 0
    first, kept = store_rows(project), None
    con = db(project)
    old_picked = con.execute("SELECT o.sha FROM outputs o JOIN step_runs s ON "
                             "s.id=o.step_run_id WHERE s.run_id=1 AND o.name='picked'"
                             ).fetchone()[0]
    con.close()
    frames = load(project, ["frame", "noise", "picked"])
    proc = start_paused_compactor(project, tmp_path / "pause", compactors)
    rc, res = cli_json("runs", "gc", project, "--keep-last", "1")
    assert rc == 0 and res["deleted_runs"] == [1], res
    assert proc.wait(timeout=120) == -signal.SIGTERM  # stopped before gc deleted anything
    assert res["compacted"]["compressed"] == 2, res  # frame and run 2's picked
    kept = store_rows(project)
    assert {n: r["sha"] for n, r in kept.items()} == {n: r["sha"] for n, r in first.items()}
    assert kept["frame"]["meta"]["compression"] == kept["picked"]["meta"]["compression"] \
        == "zstd"
    assert not (project / ".nb2pipe" / "artifacts" / old_picked[:2] / old_picked).exists()
    assert_frames(project, frames)
    check_store_consistent(project)
    rc, out = cli_json("run", project, "--param", "K=3")  # the cache survived both
    assert rc == 0 and set(out["steps"].values()) == {"cached"}, out
    # gc after compaction: nothing left to compact, nothing kept lost
    rc, res = cli_json("runs", "gc", project, "--keep-last", "1")
    assert rc == 0 and res["compacted"]["compressed"] == 0, res
    assert_frames(project, frames)
    check_store_consistent(project)


def test_run_compact_off_now_and_background(project, tmp_path, compactors):
    from nb2pipe.tracking.compact import compaction_running, holder_pid

    root = project / ".nb2pipe"
    assert cli("run", project, "--compact=off").returncode == 0
    assert pending(project) > 0 and not (root / "compact.log").exists()
    assert cli("run", project, "--no-cache", "--compact=now").returncode == 0
    assert pending(project) == 0  # done before the command returned
    # NB2PIPE_COMPACT chooses when the flag does not
    shutil.rmtree(root)
    assert cli("run", project, env={"NB2PIPE_COMPACT": "now"}).returncode == 0
    assert pending(project) == 0

    # background: the command returns; a detached, niced compactor in its own session
    # (paused here, so the test can look at it) writes .nb2pipe/compact.log
    shutil.rmtree(root)
    pause = tmp_path / "pause"
    pause.mkdir()
    proc = cli("run", project, "--compact=background", env={PAUSE: str(pause),
                                                            "NB2PIPE_COMPACT": "off"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wait_for(lambda: list(pause.glob("paused-*")), "the detached compactor to start")
    pid = int(next(pause.glob("paused-*")).name.split("-")[1])
    try:
        assert holder_pid(root) == pid and compaction_running(root)
        assert os.getsid(pid) == pid  # its own session: the terminal's ^C does not reach it
        assert os.getpriority(os.PRIO_PROCESS, pid) == 19
        assert pending(project) > 0
    finally:
        (pause / "go").write_text("")
    wait_for(lambda: not compaction_running(root), "the detached compactor to finish")
    log = (root / "compact.log").read_text()
    assert f"(pid {pid})" in log and "compressed 2 tables, left 1 uncompressed" in log, log
    assert pending(project) == 0
    check_store_consistent(project)
    # nothing to compact: no compactor is started
    assert cli("run", project, "--compact=background").returncode == 0
    assert log == (root / "compact.log").read_text()


def test_a_store_removed_while_compacting_ends_quietly(project, tmp_path, compactors):
    assert cli("run", project).returncode == 0
    proc = start_paused_compactor(project, tmp_path / "pause", compactors)
    shutil.rmtree(project / ".nb2pipe")
    (tmp_path / "pause" / "go").write_text("")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert "nothing to compact" in out and "Traceback" not in err, out + err
    assert not (project / ".nb2pipe").exists()  # and it did not create the store again
    # no store at all: the same
    proc = cli("runs", "compact", project)
    assert proc.returncode == 0 and "nothing to compact" in proc.stdout, proc.stdout + proc.stderr
