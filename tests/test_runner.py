"""The local runner and its store, through the real CLI in real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import (ALIASED, BAD_OUTPUT, FILES, SLOW, TOY, check_store_consistent, cli, cli_json, db,
                            project_from)


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    return tmp_path_factory.mktemp("runner_templates")


@pytest.fixture
def toy(templates, tmp_path):
    return project_from(TOY, "toy", templates, tmp_path / "nb")


def statuses(project: Path, run: str = "latest") -> dict[str, str]:
    rc, show = cli_json("runs", "show", project, run)
    assert rc == 0
    return {k: v["status"] for k, v in show["step_runs"].items()}


def test_run_then_everything_cached(toy, tmp_path):
    # run from another folder: relative data paths resolve against the notebook's folder
    proc = cli("run", toy, cwd=Path("/"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "finished" in proc.stdout  # plain progress lines when stdout is not a TTY
    assert statuses(toy) == {"load": "finished", "lhs": "finished", "rhs": "finished",
                             "combine": "finished"}
    rc, out = cli_json("run", toy)
    assert rc == 0 and set(out["steps"].values()) == {"cached"}
    rc, show = cli_json("runs", "show", toy, "2")
    assert show["step_runs"]["combine"]["cached_from_run"] == 1
    assert show["metrics"]["total"] == pytest.approx((2 + 4 + 6) + 3 + (2 + 4 + 6) * 10)
    rc, status = cli_json("status", toy)
    assert rc == 0 and status["stale"] == []
    check_store_consistent(toy)


def test_record_contents_and_logs(toy):
    assert cli("run", toy).returncode == 0
    rc, show = cli_json("runs", "show", toy, "1")
    load = show["step_runs"]["load"]
    assert {"toy_pipeline/steps/load.py", "toy_pipeline/_runtime.py"} <= set(load["code"])
    assert load["params"] == {"scale": "2"}
    assert "numpy" in load["packages"] and "python" in load["packages"]
    data_hash = load["data"]["data/vals.txt"]
    import hashlib

    assert data_hash == hashlib.sha256((toy.parent / "data/vals.txt").read_bytes()).hexdigest()
    base = load["outputs"]["base"]
    assert base["format"] == "npy" and base["type"] == "numpy.ndarray" and base["version"] == 1
    assert show["step_runs"]["lhs"]["inputs"] == {"base": base["sha256"]}
    assert show["git_commit"] is None and show["git_error"] == "not a git repository"
    assert show["python"] == sys.version.split()[0]
    # lineage: the total was computed from lhs/rhs outputs and, through them, data/vals.txt
    lin = show["lineage"]["combine.total"]
    assert lin["all_data"] == {"data/vals.txt": data_hash}
    assert lin["inputs"]["left"]["from"] == "lhs"
    rc, logs = cli_json("runs", "logs", toy, "1", "lhs")
    assert "lhs says 15.0" in logs["stdout"]
    # an older artifact can be fetched back
    out = toy.parent / "base.npy"
    assert cli("runs", "fetch", toy, "1", "base", "-o", out).returncode == 0
    import numpy as np

    assert np.load(out).tolist() == [2.0, 4.0, 6.0]


def test_code_change_reruns_step_and_downstream_only(toy):
    assert cli("run", toy).returncode == 0
    step = toy / "toy_pipeline" / "steps" / "rhs.py"
    step.write_text(step.read_text().replace("base * 10", "base * 11"))
    rc, st = cli_json("status", toy)
    assert rc == 1 and st["stale"] == ["rhs", "combine"]
    assert st["steps"]["rhs"]["reasons"] == [{"kind": "code",
                                               "detail": "toy_pipeline/steps/rhs.py changed"}]
    assert st["steps"]["combine"]["reasons"] == [{"kind": "upstream",
                                                   "detail": "rhs is stale"}]
    proc = cli("status", toy)
    assert "rhs" in proc.stdout and "code: toy_pipeline/steps/rhs.py changed" in proc.stdout
    rc, out = cli_json("run", toy)
    assert out["steps"] == {"load": "cached", "lhs": "cached", "rhs": "finished",
                            "combine": "finished"}


def test_staleness_reasons_param_data_package(toy):
    assert cli("run", toy).returncode == 0
    rc, st = cli_json("status", toy, "--param", "scale=3")
    assert st["stale"] == ["load", "lhs", "rhs", "combine"]
    assert st["steps"]["load"]["reasons"] == [{"kind": "parameter", "detail": "scale: 2 -> 3"}]
    assert st["steps"]["lhs"]["reasons"][0]["kind"] == "upstream"
    rc, st = cli_json("status", toy, "--param", "nap=0.01")
    assert st["stale"] == ["lhs", "rhs", "combine"]
    (toy.parent / "data" / "vals.txt").write_text("1\n2\n5\n")
    rc, st = cli_json("status", toy)
    assert st["steps"]["load"]["reasons"] == [{"kind": "data",
                                                "detail": "data/vals.txt changed"}]
    (toy.parent / "data" / "vals.txt").write_text("1\n2\n3\n")
    rc, st = cli_json("status", toy)
    assert rc == 0 and st["stale"] == []
    # an upgraded package: the store's cached module -> version map is what the next run sees
    con = db(toy)
    row = json.loads(con.execute("SELECT value FROM kv WHERE key='package_map'").fetchone()[0])
    old = row["map"]["numpy"]["numpy"]
    row["map"]["numpy"] = {"numpy": "0.0.1"}
    with con:
        con.execute("UPDATE kv SET value=? WHERE key='package_map'", (json.dumps(row),))
    con.close()
    rc, st = cli_json("status", toy)
    assert {"kind": "package", "detail": f"numpy: {old} -> 0.0.1"} in \
        st["steps"]["load"]["reasons"]


def test_staleness_reads_the_data_where_the_steps_do(toy, tmp_path):
    """NB2PIPE_WORKDIR moves the notebook's folder for the steps; a changed file there makes
    its reader stale (the hashes were once taken in the plan's folder: a cached, wrong run)."""
    moved = tmp_path / "elsewhere"
    (moved / "data").mkdir(parents=True)
    (moved / "data" / "vals.txt").write_text("1\n2\n3\n")
    env = {"NB2PIPE_WORKDIR": str(moved)}
    assert cli("run", toy, env=env).returncode == 0
    (moved / "data" / "vals.txt").write_text("1\n2\n5\n")
    rc, st = cli_json("status", toy, env=env)
    assert st["steps"]["load"]["reasons"] == [{"kind": "data",
                                                "detail": "data/vals.txt changed"}]
    rc, out = cli_json("run", toy, env=env)
    assert rc == 0 and out["steps"]["load"] == "finished"
    rc, show = cli_json("runs", "show", toy, "2")
    assert show["metrics"]["total"] == pytest.approx((2 + 4 + 10) + 3 + (2 + 4 + 10) * 10)


def test_parameters_compare_and_show_json(toy):
    assert cli("run", toy).returncode == 0
    rc, out = cli_json("run", toy, "--param", "scale=3")
    assert rc == 0 and out["steps"]["load"] == "finished"
    rc, runs = cli_json("runs", "list", toy)
    assert [r["overrides"] for r in runs] == [{}, {"scale": 3}]
    rc, cmp = cli_json("runs", "compare", toy, "1", "2")
    assert cmp["params"] == {"scale": {"a": 2, "b": 3}}
    assert cmp["metrics"]["total"]["changed"]
    assert cmp["metrics"]["total"]["delta"] == pytest.approx(201 - 135)
    assert {"load.base", "combine.total", "rhs.right"} <= set(cmp["changed_artifacts"])
    assert "load.vals" not in cmp["changed_artifacts"]
    assert cmp["artifacts"]["load.base"]["b"]["version"] == 2
    text = cli("runs", "compare", toy, "1", "2").stdout
    assert "scale: 2 -> 3" in text and "total" in text
    # back to the defaults: served from run 1, versions as first recorded
    rc, out = cli_json("run", toy)
    assert set(out["steps"].values()) == {"cached"}
    rc, show = cli_json("runs", "show", toy, "latest")
    assert show["step_runs"]["load"]["outputs"]["base"]["version"] == 1
    assert "lineage" in show and "combine.total" in show["lineage"]
    assert cli("runs", "show", toy, "99").returncode == 2
    text = cli("runs", "show", toy, "2").stdout
    assert "lineage" in text and "combine.total v2 <- combine" in text
    lines = cli("runs", "list", toy).stdout.splitlines()
    assert len(lines) == 4 and "[scale=3]" in lines[1]
    assert lines[3].startswith("store: ")  # the store's size, after the runs


def test_live_progress_on_a_terminal(toy):
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", str(toy)], stdout=slave,
                            stderr=slave, env=dict(os.environ, COLUMNS="100", TERM="xterm"))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "\x1b[" in out, "no terminal control codes: not a live display"
    assert "combine" in out and "finished" in out and "run 1" in out


def test_failing_step_then_resume(toy):
    proc = cli("run", toy, env={"NB2PIPE_TEST_FAIL": "1"})
    assert proc.returncode == 1
    assert "boom in rhs" in proc.stdout
    assert statuses(toy) == {"load": "finished", "lhs": "finished", "rhs": "failed",
                             "combine": "skipped"}
    rc, runs = cli_json("runs", "list", toy)
    assert runs[-1]["status"] == "failed"
    rc, logs = cli_json("runs", "logs", toy, "1", "rhs")
    assert "RuntimeError: boom in rhs" in logs["stderr"]
    rc, out = cli_json("run", toy)
    assert rc == 0
    assert out["steps"] == {"load": "cached", "lhs": "cached", "rhs": "finished",
                            "combine": "finished"}
    check_store_consistent(toy)


def test_unserializable_output_names_step_and_variable(templates, tmp_path):
    project = project_from(BAD_OUTPUT, "bad", templates, tmp_path / "nb")
    rc, out = cli_json("run", project)
    assert rc == 1
    assert out["steps"] == {"make": "failed", "use": "skipped"}
    err = out["errors"]["make"]
    assert "step 'make'" in err and "output 'lock'" in err and "cannot be serialized" in err
    check_store_consistent(project)


def test_names_sharing_an_object_arrive_as_one_object(templates, tmp_path):
    """`b = [a]`, then `a.append(2)` in a later step that reads `b`: both come from one
    artifact of the step that made `b`, so the change shows in `b[0]` as in the notebook."""
    project = project_from(ALIASED, "aliased", templates, tmp_path / "nb")
    rc, out = cli_json("run", project)
    assert rc == 0, out
    rc, show = cli_json("runs", "show", project, "1")
    wrap = show["step_runs"]["wrap"]["outputs"]
    assert wrap["a"]["sha256"] == wrap["b"]["sha256"]  # one artifact for the group
    from nb2pipe.runner.report import load_values

    assert load_values(project, "1", names=["seen", "a", "b"]) == {
        "seen": 2, "a": [1, 2], "b": [[1, 2]]}
    check_store_consistent(project)


def test_parallel_jobs(toy):
    rc, out = cli_json("run", toy, "--param", "nap=0.6", "--jobs", "2")
    assert rc == 0
    con = db(toy)
    rows = {r["step"]: (r["started"], r["ended"]) for r in
            con.execute("SELECT step, started, ended FROM step_runs WHERE run_id=1")}
    con.close()
    (a0, a1), (b0, b1) = rows["lhs"], rows["rhs"]
    assert a0 < b1 and b0 < a1, "independent steps did not overlap with --jobs 2"
    rc, out = cli_json("run", toy, "--param", "nap=0.3", "--jobs", "1")
    con = db(toy)
    rows = {r["step"]: (r["started"], r["ended"]) for r in
            con.execute("SELECT step, started, ended FROM step_runs WHERE run_id=2")}
    con.close()
    (a0, a1), (b0, b1) = rows["lhs"], rows["rhs"]
    assert a1 <= b0 or b1 <= a0, "steps overlapped with --jobs 1"


def test_fallback_without_fork(toy):
    rc, out = cli_json("run", toy, env={"NB2PIPE_NO_FORK": "1"})
    assert rc == 0 and set(out["steps"].values()) == {"finished"}
    rc, show = cli_json("runs", "show", toy, "1")
    assert show["executor"] == "subprocess"
    rc, out = cli_json("run", toy)  # the fork executor computes the same: all cached
    assert set(out["steps"].values()) == {"cached"}


def test_step_isolation(templates, tmp_path):
    """Each step runs in its own process, never in the runner's (as in a pod)."""
    cells = [
        ("code", "import os", ["imports"]),
        ("code", "pid_a = os.getpid()", ["step:first"]),
        ("code", "pid_b = os.getpid()\nsame = pid_a == pid_b", ["step:second", "prev:first"]),
    ]
    project = project_from(cells, "iso", templates, tmp_path / "nb")
    rc, out = cli_json("run", project, "--jobs", "1")
    assert rc == 0, out
    from nb2pipe.runner.report import load_values

    values = load_values(project, names=["pid_a", "pid_b", "same"])
    assert values["same"] is False and os.getpid() not in (values["pid_a"], values["pid_b"])
    con = db(project)
    recorded = {r[0]: r[1] for r in con.execute("SELECT step, pid FROM step_runs")}
    con.close()
    assert recorded == {"first": values["pid_a"], "second": values["pid_b"]}


def test_git_commit_and_dirty_flag(toy):
    git = pytest.importorskip("git")
    repo = git.Repo.init(str(toy.parent))
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "t")
        cw.set_value("user", "email", "t@example.com")
    repo.index.add(["toy.ipynb", "data/vals.txt"])
    commit = repo.index.commit("init").hexsha
    assert cli("run", toy).returncode == 0
    (toy.parent / "data" / "vals.txt").write_text("1\n2\n4\n")
    assert cli("run", toy).returncode == 0
    rc, runs = cli_json("runs", "list", toy)
    assert [(r["git_commit"], r["git_dirty"]) for r in runs] == [(commit, False),
                                                                 (commit, True)]


def test_sigkill_mid_step_leaves_store_consistent_and_resumes(templates, tmp_path):
    project = project_from(SLOW, "slow", templates, tmp_path / "nb")
    marker = tmp_path / "marker"
    env = dict(os.environ, NB2PIPE_TEST_SLOW="1", NB2PIPE_TEST_MARKER=str(marker))
    proc = subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", str(project)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not marker.exists():
        assert proc.poll() is None, "the run ended before the slow step started"
        assert time.time() < deadline, "the slow step never started"
        time.sleep(0.05)
    con = db(project)
    pid = con.execute("SELECT pid FROM step_runs WHERE step='slow'").fetchone()[0]
    con.close()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # the step's process dies with the run (no orphan keeps writing)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the step process outlived the killed run")
    check_store_consistent(project)
    rc, runs = cli_json("runs", "list", project)
    assert runs[0]["status"] == "interrupted"
    assert statuses(project, "1") == {"first": "finished", "slow": "interrupted",
                                      "last": "interrupted"}
    rc, out = cli_json("run", project)
    assert rc == 0
    assert out["steps"] == {"first": "cached", "slow": "finished", "last": "finished"}
    check_store_consistent(project)
    assert not any((project / ".nb2pipe" / "tmp").iterdir())


def test_concurrent_runs_do_not_corrupt_the_store(toy):
    procs = [subprocess.Popen([sys.executable, "-m", "nb2pipe", "run", str(toy), "--json",
                               "--no-cache", "--jobs", "2"] + (["--param", "scale=3"] if i
                                                               else []),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (so, se) in zip(procs, outs):
        assert p.returncode == 0, so + se
        assert set(json.loads(so)["steps"].values()) == {"finished"}
    check_store_consistent(toy)
    rc, runs = cli_json("runs", "list", toy)
    assert sorted(r["id"] for r in runs) == [1, 2, 3]
    assert all(r["status"] == "finished" for r in runs)
    con = db(toy)
    # one version per distinct content, however many runs raced to record it
    versions = con.execute("SELECT step, name, COUNT(*) FROM versions GROUP BY step, name"
                           ).fetchall()
    con.close()
    assert {(s, n): c for s, n, c in versions}[("load", "base")] == 2
    rc, out = cli_json("run", toy)
    assert set(out["steps"].values()) == {"cached"}


def test_usage_errors(toy, tmp_path):
    assert cli("run", tmp_path).returncode == 2
    proc = cli("run", toy, "--param", "nope=1")
    assert proc.returncode == 2 and "unknown parameter 'nope'" in proc.stderr
    assert cli("runs", "list", toy).returncode == 2  # no store yet


def test_cached_step_restores_the_files_it_wrote(templates, tmp_path):
    project = project_from(FILES, "files", templates, tmp_path / "nb")
    out_file = project.parent / "out.txt"
    assert cli("run", project).returncode == 0
    first = out_file.read_bytes()
    rc, out = cli_json("run", project, "--param", "k=3")
    assert out["steps"] == {"write": "finished", "read": "finished"}
    assert out_file.read_bytes() != first
    rc, st = cli_json("status", project)
    assert st["stale"] == []  # the k=2 results are in the store
    rc, out = cli_json("run", project)
    assert out["steps"] == {"write": "cached", "read": "cached"}
    assert out_file.read_bytes() == first
    out_file.unlink()
    rc, out = cli_json("run", project)
    assert set(out["steps"].values()) == {"cached"} and out_file.read_bytes() == first
    rc, show = cli_json("runs", "show", project, "1")
    assert list(show["step_runs"]["write"]["written_files"]) == ["out.txt"]
    from nb2pipe.runner.report import load_values

    assert load_values(project, "2", names=["back"]) == {"back": [0.0, 3.0, 6.0]}


def test_zygote_applies_literal_environment_setup_before_imports(tmp_path):
    """OMP_NUM_THREADS & co. are read by native libraries when they load: the zygote sets the
    notebook's literal os.environ setup before importing the package."""
    from nb2pipe.runner.worker import _setup_environ

    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "common.py").write_text(
        "import os\n\n\ndef helper():\n    os.environ['NOT_SETUP'] = '1'\n\n\n"
        "def setup_load():\n    os.environ['OMP_NUM_THREADS'] = '1'\n"
        "    os.environ.setdefault('MKL_NUM_THREADS', '2')\n"
        "    os.environ.update({'A': 'x'}, B='y')\n    os.environ['C'] = str(3)\n")
    assert _setup_environ(str(tmp_path), "p") == {"OMP_NUM_THREADS": "1",
                                                  "MKL_NUM_THREADS": "2", "A": "x", "B": "y"}


def test_folder_put_on_sys_path_is_importable_in_every_step(tmp_path):
    """`sys.path.append('../..')` then `from pkg import f` in a later section: every step
    module is imported before any step runs, so the package applies the literal folder
    (resolved against the notebook's folder) when it is imported."""
    from conftest import make_notebook

    from nb2pipe.api import convert

    (tmp_path / "lib_pkg").mkdir()
    (tmp_path / "lib_pkg" / "__init__.py").write_text("def double(x):\n    return 2 * x\n")
    nb = make_notebook(tmp_path / "notebooks" / "demo" / "nb.ipynb", [
        ("code", "import sys\nsys.path.append('../..')"),
        ("md", "## Load"), ("code", "x = 21"),
        ("md", "## Use"), ("code", "from lib_pkg import double\ny = double(x)")])
    res = convert(nb, tmp_path / "out")
    assert res.ok, [d.format() for d in res.diagnostics]
    assert res.plan.import_paths == ("../..",)
    rc, out = cli_json("run", tmp_path / "out", cwd=tmp_path)
    assert rc == 0, out
    from nb2pipe.runner.report import load_values

    assert load_values(tmp_path / "out", "1", names=["y"]) == {"y": 42}


def test_name_bound_only_on_some_paths_is_handed_on_unbound(tmp_path):
    """`match v: case 1: ... case _: z = 3` binds `z` only on one path: the step returns,
    the notebook's later conditional read runs as in the kernel, and a step that reads it
    unconditionally fails with the kernel's NameError, not with UnboundLocalError in the
    producer."""
    from conftest import make_notebook

    from nb2pipe.api import convert

    nb = make_notebook(tmp_path / "nb.ipynb", [
        ("md", "## Make"), ("code", "v = 1\nflag = v > 1"),
        ("code", "match v:\n    case 1:\n        w = 2\n    case _:\n        z = 3"),
        ("md", "## Use"), ("code", "if flag:\n    print(z)\nu = w + 1")])
    res = convert(nb, tmp_path / "out")
    assert res.ok, [d.format() for d in res.diagnostics]
    make = res.plan.step("make")
    assert "z" in make.maybe_unbound and "w" in make.maybe_unbound
    rc, out = cli_json("run", tmp_path / "out", cwd=tmp_path)
    assert rc == 1, out  # `use` reads `z` (conditionally): loading it says what happened
    assert "name 'z' is not defined" in out["errors"]["use"], out
    check_store_consistent(tmp_path / "out")


def test_unbound_terminal_value_does_not_fail_the_run(tmp_path):
    from conftest import make_notebook

    from nb2pipe.api import convert

    nb = make_notebook(tmp_path / "nb.ipynb", [
        ("code", "v = 1\ndf = [1]"),
        ("code", "match v:\n    case 1:\n        len(df)\n    case _:\n        z = 3")])
    res = convert(nb, tmp_path / "out")
    assert res.ok, [d.format() for d in res.diagnostics]
    rc, out = cli_json("run", tmp_path / "out", cwd=tmp_path)
    assert rc == 0, out
    from nb2pipe.runner.report import load_values

    assert load_values(tmp_path / "out", "1", names=["v", "df"]) == {"v": 1, "df": [1]}
    pkg = res.plan.package
    done = subprocess.run([sys.executable, "-m", f"{pkg}.pipeline"], cwd=tmp_path / "out",
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"df": "list", "v": "int"}
