"""Handing a step's values on before its process has finished (issue 19 item 4).

A step run by the zygote writes its tables as uncompressed Arrow IPC files and hands them on
(the next steps start from them); the runner puts its own copies into the store, uncompressed,
when the step's process exits (they are compressed after the run: tests/test_compact.py), and
the run ends after all of them. Real CLI, real processes; a crash is a real SIGKILL in the
step's process."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from runner_helpers import check_store_consistent, cli, cli_json, db, uncompressed_ipc

from nb2pipe.api import convert
from conftest import make_notebook

pytest.importorskip("pyarrow")
pytest.importorskip("pandas")

# the helper module the notebook imports: in the step's own process, it makes the runtime
# kill the process once it has handed its values on, before it writes its result (when
# asked to), and leaves a half-written file beside them
CRASHING = '''import os
import signal
import sys


def arm():
    if not os.environ.get("NB2PIPE_TEST_CRASH_WHILE_STORING"):
        return
    runtime = next(m for n, m in list(sys.modules.items()) if n.endswith("._runtime"))
    save = runtime.save_values

    def crash_after_handing_on(values, outputs_dir, *args, **kwargs):
        metas = save(values, outputs_dir, *args, **kwargs)
        for name, meta in metas.items():  # our copy becomes half of a file (a new inode:
            half = outputs_dir / name / "half"  # the hand-off's hard link keeps the whole)
            half.write_bytes(b"ARROW1 half of a file")
            os.replace(half, outputs_dir / name / meta["file"])
        os.kill(os.getpid(), signal.SIGKILL)

    runtime.save_values = crash_after_handing_on
'''

# `make` builds a table that compresses well (ids, a few categories), `use` reads it,
# `last` reads what `use` made; K only changes what `use` computes.
CELLS = [
    ("code", "import numpy as np\nimport pandas as pd\nimport crashing", ["imports"]),
    ("code", "K = 1", ["pipeline-parameters"]),
    ("code", "crashing.arm()\nn = 200_000\n"
             "frame = pd.DataFrame({'id': np.arange(n), 'city': np.array(['paris', 'lyon', "
             "'nice', 'lille'])[np.arange(n) % 4], 'x': (np.arange(n) % 97) * 0.5})\n"
             "frame = frame[frame['x'] > 1.0]", ["step:make"]),
    ("code", "picked = frame[frame['city'] == 'nice'].assign(y=frame['x'] * K)",
     ["step:use", "prev:make"]),
    ("code", "total = float(picked['y'].sum())", ["step:last", "prev:use"]),
    ("code", "total", ["pipeline-metrics"]),
]


def expected(k: int):
    import numpy as np
    import pandas as pd

    n = 200_000
    frame = pd.DataFrame({"id": np.arange(n), "city": np.array(["paris", "lyon", "nice",
                                                                "lille"])[np.arange(n) % 4],
                          "x": (np.arange(n) % 97) * 0.5})
    frame = frame[frame["x"] > 1.0]
    picked = frame[frame["city"] == "nice"].assign(y=frame["x"] * k)
    return frame, picked, float(picked["y"].sum())


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    src = tmp_path_factory.mktemp("handoff") / "nb"
    src.mkdir()
    (src / "crashing.py").write_text(CRASHING)
    make_notebook(src / "handoff.ipynb", CELLS)
    res = convert(src / "handoff.ipynb", src / "handoff_pipeline")
    assert res.ok, [d.format() for d in res.diagnostics]
    return src


@pytest.fixture
def project(template, tmp_path):
    shutil.copytree(template, tmp_path / "nb")
    return tmp_path / "nb" / "handoff_pipeline"


def outputs(project: Path, run: int) -> dict[tuple[str, str], dict]:
    con = db(project)
    try:
        return {(r["step"], r["name"]): dict(r) for r in con.execute(
            "SELECT s.step, o.name, o.sha, a.format, a.size FROM outputs o JOIN step_runs s "
            "ON s.id=o.step_run_id JOIN artifacts a ON a.sha=o.sha WHERE s.run_id=?", (run,))}
    finally:
        con.close()


def stored_meta(project: Path, sha: str) -> dict:
    folder = project / ".nb2pipe" / "artifacts" / sha[:2] / sha
    return json.loads((folder / "meta.json").read_text())


def load(project: Path, run: str, names: list[str]) -> dict:
    from nb2pipe.runner.report import load_values

    return load_values(project, run, names=names)


def test_next_step_starts_from_the_hand_off_and_the_store_is_complete_when_the_run_ends(
        project):
    import pandas as pd

    proc = cli("run", project)  # plain progress lines: stdout is not a TTY
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln.split("]", 1)[1].split() for ln in proc.stdout.splitlines()
             if ln.startswith("[")]
    events = [(ln[0], ln[1]) for ln in lines]
    # `make` handed its table on, `use` started from it, and only then was `make` stored
    assert events.index(("make", "storing")) < events.index(("use", "running")) \
        < events.index(("make", "finished"))
    outs = outputs(project, 1)
    frame_sha = outs[("make", "frame")]["sha"]
    meta = stored_meta(project, frame_sha)
    # stored as handed on: the uncompressed file (compressed after the run, not during it)
    assert meta["format"] == "arrow" and "compression" not in meta
    assert outs[("make", "frame")]["size"] == meta["size"]  # the row names the final copy
    raw = (project / ".nb2pipe" / "artifacts" / frame_sha[:2] / frame_sha
           / "value.arrow").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == frame_sha and meta["size"] == len(raw)
    check_store_consistent(project)
    rc, show = cli_json("runs", "show", project, "1")
    assert rc == 0 and show["status"] == "finished"
    assert show["step_runs"]["use"]["inputs"] == {"frame": frame_sha}
    assert all(s["status"] == "finished" for s in show["step_runs"].values())
    # nothing of the hand-off is left, and the stored values are the notebook's
    assert not list((project / ".nb2pipe" / "tmp").iterdir())
    frame, picked, total = expected(1)
    got = load(project, "1", ["frame", "picked", "total"])
    pd.testing.assert_frame_equal(got["frame"], frame)
    pd.testing.assert_frame_equal(got["picked"], picked)
    assert got["total"] == total


def test_a_step_reads_the_same_table_from_the_store_as_from_the_hand_off(project):
    """A second run with another K serves `make` from the store: `use` now reads the stored
    (compacted: compressed) copy, and computes what it computes from the hand-off in a fresh
    run."""
    import pandas as pd

    assert cli("run", project, "--compact=now").returncode == 0
    frame_sha = outputs(project, 1)[("make", "frame")]["sha"]
    assert stored_meta(project, frame_sha)["compression"] == "zstd"
    rc, out = cli_json("run", project, "--param", "K=3")
    assert rc == 0 and out["steps"] == {"make": "cached", "use": "finished",
                                        "last": "finished"}, out
    assert cli("run", project, "--param", "K=3", "--no-cache").returncode == 0  # all fresh
    runs = {run: outputs(project, run) for run in (2, 3)}
    assert runs[2][("use", "picked")]["sha"] == runs[3][("use", "picked")]["sha"]
    assert runs[2][("last", "total")]["sha"] == runs[3][("last", "total")]["sha"]
    _, picked, total = expected(3)
    got = load(project, "2", ["picked", "total"])
    pd.testing.assert_frame_equal(got["picked"], picked)
    assert got["total"] == total
    check_store_consistent(project)


def test_a_crash_while_storing_leaves_no_half_artifact_and_fails_the_steps_that_read_it(
        project):
    proc = cli("run", project, env={"NB2PIPE_TEST_CRASH_WHILE_STORING": "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rc, show = cli_json("runs", "show", project, "1")
    assert rc == 0 and show["status"] == "failed"
    steps = show["step_runs"]
    assert steps["make"]["status"] == "failed"
    assert "killed by signal 9 while storing its values" in steps["make"]["error"]
    # `use` started from the hand-off; what it made is not kept, its input never was stored
    assert steps["use"]["status"] == "failed"
    assert "upstream make failed while storing" in steps["use"]["error"]
    # `last` started from what `use` handed on, or not at all: whichever came first
    assert steps["last"]["status"] == "skipped" or (
        steps["last"]["status"] == "failed"
        and "upstream use failed while storing" in steps["last"]["error"])
    assert outputs(project, 1) == {}
    artifacts = project / ".nb2pipe" / "artifacts"
    assert not [p for p in artifacts.rglob("*") if p.is_file()], "nothing entered the store"
    check_store_consistent(project)
    assert not list((project / ".nb2pipe" / "tmp").iterdir())
    # the next run computes everything again, complete
    rc, out = cli_json("run", project)
    assert rc == 0 and set(out["steps"].values()) == {"finished"}, out
    check_store_consistent(project)


def test_without_fork_the_values_are_stored_before_the_next_step_starts(project):
    """The fallback worker (a fresh interpreter per step) hands nothing on: the next step
    reads the values from the store once the step's process has exited."""
    proc = cli("run", project, env={"NB2PIPE_NO_FORK": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "storing" not in proc.stdout
    outs = outputs(project, 1)
    assert "compression" not in stored_meta(project, outs[("make", "frame")]["sha"])
    check_store_consistent(project)
    _, _, total = expected(1)
    assert load(project, "1", ["total"]) == {"total": total}


def test_a_step_writes_its_tables_uncompressed_and_reads_a_compressed_copy(project, tmp_path):
    """The runtime writes a table as uncompressed Arrow IPC (its address is the sha256 of the
    file); it reads a zstd-compressed copy (what `runs compact` leaves) as the same frame."""
    import pyarrow as pa
    import pandas as pd

    sys.path.insert(0, str(project))
    try:
        import importlib

        runtime = importlib.import_module("handoff_pipeline._runtime")
        frame, _, _ = expected(1)
        meta = runtime.save_value(frame, tmp_path / "frame")
        path = tmp_path / "frame" / "value.arrow"
        assert "compression" not in meta and meta["size"] == path.stat().st_size
        assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
            options = pa.ipc.IpcWriteOptions(compression="zstd")
            with pa.OSFile(str(tmp_path / "packed.arrow"), "wb") as sink:
                with pa.ipc.new_file(sink, reader.schema, options=options) as writer:
                    for batch in batches:
                        writer.write_batch(batch)
        assert uncompressed_ipc(tmp_path / "packed.arrow") == path.read_bytes()
        (tmp_path / "packed.arrow").replace(path)
        pd.testing.assert_frame_equal(runtime.load_value(tmp_path / "frame"), frame)
        (tmp_path / "frame" / "meta.json").write_text(json.dumps({**meta,
                                                                  "compression": "zstd"}))
        pd.testing.assert_frame_equal(runtime.load_value(tmp_path / "frame"), frame)
    finally:
        sys.path.remove(str(project))
        for name in [m for m in sys.modules if m.startswith("handoff_pipeline")]:
            del sys.modules[name]
