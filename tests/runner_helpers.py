"""Helpers for the runner tests: small notebooks converted once, copied per test, and the CLI
run as a real process."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import make_notebook

from nb2pipe.api import convert

TOY = [
    ("code", "import os\nimport time\nimport numpy as np", ["imports"]),
    ("code", "scale = 2\nnap = 0.0", ["pipeline-parameters"]),
    ("code", "vals = np.loadtxt('data/vals.txt')\nbase = vals * scale", ["step:load"]),
    ("code", "time.sleep(nap)\nleft = base + 1\nprint('lhs says', left.sum())",
     ["step:lhs", "prev:load"]),
    ("code", "time.sleep(nap)\nif os.environ.get('NB2PIPE_TEST_FAIL'):\n"
             "    raise RuntimeError('boom in rhs')\nright = base * 10",
     ["step:rhs", "prev:load"]),
    ("code", "total = float(left.sum() + right.sum())\nprint('total', total)",
     ["step:combine", "prev:rhs"]),
    ("code", "total", ["pipeline-metrics"]),
]

# `slow` writes a marker, then sleeps (only when NB2PIPE_TEST_SLOW is set): a test knows the
# step is running and can kill the run mid-step.
SLOW = [
    ("code", "import os\nimport time", ["imports"]),
    ("code", "x = 41", ["step:first"]),
    ("code", "marker = os.environ.get('NB2PIPE_TEST_MARKER')\nif marker:\n"
             "    with open(marker, 'w') as fh:\n        fh.write('started')\n"
             "if os.environ.get('NB2PIPE_TEST_SLOW'):\n    for _ in range(1200):\n"
             "        time.sleep(0.05)\ny = x + 1", ["step:slow", "prev:first"]),
    ("code", "z = y * 2", ["step:last", "prev:slow"]),
]

BAD_OUTPUT = [
    ("code", "import threading", ["imports"]),
    ("code", "n = 3\nlock = threading.Lock()", ["step:make"]),
    ("code", "with lock:\n    m = n + 1", ["step:use", "prev:make"]),
]

# `write` leaves a file that `read` reads back: a side effect the cache must restore.
FILES = [
    ("code", "import numpy as np", ["imports"]),
    ("code", "k = 2", ["pipeline-parameters"]),
    ("code", "np.savetxt('out.txt', np.arange(3) * k)\nwritten = 3", ["step:write"]),
    ("code", "back = np.loadtxt('out.txt').tolist()", ["step:read", "prev:write"]),
]

# `b` holds `a`; `grow` appends to `a` and reads `b`: the two travel as one artifact.
ALIASED = [
    ("code", "a = [1]", ["step:make"]),
    ("code", "b = [a]", ["step:wrap", "prev:make"]),
    ("code", "a.append(2)\nseen = len(b[0])", ["step:grow", "prev:wrap"]),
]

_TEMPLATES: dict[str, Path] = {}


def project_from(cells, name: str, tmp_root: Path, dest: Path) -> Path:
    """Convert `cells` once per session (cached under tmp_root), copy the notebook folder
    (notebook, data, generated project) to dest; returns the project folder."""
    if name not in _TEMPLATES:
        src = tmp_root / f"template_{name}"
        (src / "data").mkdir(parents=True)
        (src / "data" / "vals.txt").write_text("1\n2\n3\n")
        make_notebook(src / f"{name}.ipynb", cells)
        res = convert(src / f"{name}.ipynb", src / f"{name}_pipeline")
        assert res.ok, [d.format() for d in res.diagnostics]
        _TEMPLATES[name] = src
    shutil.copytree(_TEMPLATES[name], dest)
    return dest / f"{name}_pipeline"


def cli(*args: str, env: dict | None = None, cwd: Path | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "nb2pipe", *map(str, args)],
                          capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=str(cwd or Path.cwd()))


def cli_json(*args: str, **kw):
    proc = cli(*args, "--json", **kw)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n"
                             f"{proc.stderr}") from None


def db(project: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(project / ".nb2pipe" / "runs.db"))
    con.row_factory = sqlite3.Row
    return con


def uncompressed_ipc(path: Path) -> bytes:
    """A stored table's batches written again without compression: the bytes its content
    address is the sha256 of."""
    import pyarrow as pa

    with pa.OSFile(str(path)) as source:
        reader = pa.ipc.open_file(source)
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        schema = reader.schema
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def check_store_consistent(project: Path) -> None:
    """Integrity of the database, and every artifact a row names is complete and hashes to
    its address (a compressed table: its uncompressed IPC bytes do)."""
    import hashlib

    con = db(project)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        root = project / ".nb2pipe" / "artifacts"
        for row in con.execute("SELECT DISTINCT o.sha, a.file, a.size FROM outputs o JOIN "
                               "artifacts a ON a.sha=o.sha"):
            folder = root / row["sha"][:2] / row["sha"]
            data = (folder / row["file"]).read_bytes()
            assert len(data) == row["size"]
            meta = json.loads((folder / "meta.json").read_text())
            if meta.get("compression"):
                assert meta["format"] == "arrow" and meta["compression"] == "zstd"
                data = uncompressed_ipc(folder / row["file"])
            assert hashlib.sha256(data).hexdigest() == row["sha"]
            assert meta["sha256"] == row["sha"]
            assert not list(folder.glob(".tmp-*")), "a half-written file in an artifact"
        missing = con.execute("SELECT COUNT(*) FROM outputs o LEFT JOIN artifacts a ON "
                              "a.sha=o.sha WHERE a.sha IS NULL").fetchone()[0]
        assert missing == 0
        bad = con.execute("SELECT COUNT(*) FROM step_runs s WHERE s.status='finished' AND "
                          "NOT EXISTS (SELECT 1 FROM outputs o WHERE o.step_run_id=s.id) AND "
                          "NOT EXISTS (SELECT 1 FROM not_persisted n WHERE n.step_run_id=s.id)"
                          ).fetchone()[0]
        assert bad == 0, "a finished step without outputs"
    finally:
        con.close()
