"""Issue 11: what a repository ships (lock file, plan file, the files they list) is untrusted.

A crafted `nb2pipe.lock.json` lists absolute paths, `..`, a symlink leading out, a FIFO and
`/dev/zero`. Through the library, `nb2pipe check` / `sync`, and a real Jupyter server on
127.0.0.1 it must give a diagnostic saying the lock is not nb2pipe's, never read the listed
file (an audit hook records what this process opens), never block, never answer 500.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from sample_nb import write_sample

pytest_plugins = ["pytest_jupyter.jupyter_server"]

NB2PIPE = [sys.executable, "-m", "nb2pipe"]
ROOT = Path(__file__).resolve().parent.parent

# ---- an audit of what this process opens ------------------------------------------------------
_OPENED: list[str] | None = None  # None: not recording


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, bytes, Path)):
        _OPENED.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)  # cannot be removed: it records only while _OPENED is a list


class _Recording:
    def __enter__(self) -> list[str]:
        global _OPENED
        _OPENED = []
        return _OPENED

    def __exit__(self, *exc) -> None:
        global _OPENED
        _OPENED = None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- a converted project and a crafted lock ---------------------------------------------------

@pytest.fixture
def converted(tmp_path):
    """(notebook, its output folder, a folder outside holding secret.txt)."""
    from nb2pipe.api import convert

    root = tmp_path / "root"
    nb = write_sample(root / "probe.ipynb")
    out = root / "probe_pipeline"
    assert convert(nb, out).status == "converted"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the secret\n")
    return nb, out, outside


def _craft(out: Path, outside: Path, kind: str) -> tuple[str, Path]:
    """Add one crafted entry of `kind` to the lock: (the entry, the file it would read)."""
    secret = outside / "secret.txt"
    if kind == "absolute":
        rel, target = str(secret), secret
    elif kind == "dotdot":
        rel, target = "../../outside/secret.txt", secret
    elif kind == "symlink":
        os.symlink(secret, out / "leak.txt")
        rel, target = "leak.txt", secret
    elif kind == "fifo":
        os.mkfifo(out / "pipe")
        rel, target = "pipe", out / "pipe"
    elif kind == "dev_zero":
        os.symlink("/dev/zero", out / "zero")
        rel, target = "zero", Path("/dev/zero")
    elif kind == "dev_zero_abs":
        rel, target = "/dev/zero", Path("/dev/zero")
    elif kind == "folder":
        rel, target = "deploy", out / "deploy"
    else:
        raise AssertionError(kind)
    lock_path = out / "nb2pipe.lock.json"
    lock = json.loads(lock_path.read_text())
    lock["files"][rel] = _sha(secret) if target == secret else "0" * 64
    lock_path.write_text(json.dumps(lock))
    return rel, target


KINDS = ["absolute", "dotdot", "symlink", "fifo", "dev_zero", "dev_zero_abs", "folder"]
# What a server check meets in the lock alone: a symlink leading out of the output folder is
# refused earlier, with a 403 (tests/test_jupyter_server.py).
LOCK_ONLY = ("fifo", "dev_zero_abs", "dotdot", "absolute")


@pytest.mark.parametrize("kind", KINDS)
def test_crafted_lock_entry_is_a_diagnostic_never_a_read(converted, kind):
    from nb2pipe.hooks.check import staleness

    nb, out, outside = converted
    rel, target = _craft(out, outside, kind)
    with _Recording() as opened:
        state = staleness(nb, out)
    assert state.stale and state.not_nb2pipe, state
    assert rel in state.not_nb2pipe
    assert state.problems()[0].startswith("nb2pipe.lock.json is not nb2pipe's: ")
    assert state.edited == () and state.missing == ()  # no oracle for the other entries
    assert str(target.resolve()) not in opened
    assert not any(p.startswith(str(outside.resolve())) for p in opened), opened


def test_a_lock_nb2pipe_wrote_is_still_checked(converted):
    from nb2pipe.hooks.check import staleness

    nb, out, _ = converted
    assert not staleness(nb, out).stale
    readme = out / "README.md"
    readme.write_text(readme.read_text() + "mine\n")
    (out / "Dockerfile").unlink()
    state = staleness(nb, out)
    assert state.edited == ("README.md",) and state.missing == ("Dockerfile",)
    assert state.not_nb2pipe is None


@pytest.mark.parametrize("lock, why", [
    ([], "not a JSON object"),
    ({"files": []}, "'files' is not an object"),
    ({"files": {"README.md": "nope"}}, "not a sha256"),
    ({"files": {"": "0" * 64}}, "non-empty string"),
    ({"files": {"a\\..\\b": "0" * 64}}, "backslash"),
    ({"files": {"C:/x": "0" * 64}}, "absolute"),
    ({"files": {}, "options": {"name": "../x"}}, "package name"),
    ({"files": {}, "options": {"split": "rm -rf"}}, "'split'"),
    ({"files": {}, "notebook": "/etc/passwd"}, "relative"),
    ({"files": {}, "notebook_hash": 5}, "not a string"),
])
def test_lock_schema(lock, why):
    from nb2pipe.untrusted import NotNb2pipe, validate_lock

    with pytest.raises(NotNb2pipe, match=why.replace("\\", "\\\\").replace("(", "\\(")):
        validate_lock(lock)


def test_lock_and_plan_nb2pipe_wrote_pass_their_schema(converted):
    from nb2pipe.untrusted import read_lock, read_plan

    _, out, _ = converted
    assert read_lock(out)["files"]
    assert read_plan(out)["steps"]


@pytest.mark.parametrize("plan, why", [
    ({"package": "x/../../y", "steps": []}, "package"),
    ({"package": "p", "workdir": "/", "steps": []}, "workdir"),
    ({"package": "p", "steps": [{"name": "os.system"}]}, "identifier"),
    ({"package": "p", "steps": {}}, "'steps' is not a list"),
    ({"package": "p", "steps": [], "local_modules": ["../evil"]}, "module names"),
])
def test_plan_schema(plan, why):
    from nb2pipe.untrusted import NotNb2pipe, validate_plan

    with pytest.raises(NotNb2pipe, match=why):
        validate_plan(plan)


def test_only_regular_files_are_read_and_only_up_to_the_cap(tmp_path):
    from nb2pipe.untrusted import NotNb2pipe, read_regular

    with pytest.raises(NotNb2pipe, match="a device"):
        read_regular(Path("/dev/zero"))
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(NotNb2pipe, match="a named pipe"):  # lstat first: never opened
        read_regular(tmp_path / "pipe")
    with pytest.raises(NotNb2pipe, match="a folder"):
        read_regular(tmp_path)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 11)
    with pytest.raises(NotNb2pipe, match="larger than 10 bytes"):
        read_regular(big, limit=10)
    assert read_regular(big, limit=11) == b"x" * 11
    os.symlink(big, tmp_path / "link")
    with pytest.raises(NotNb2pipe, match="a symbolic link"):  # resolve first, then read
        read_regular(tmp_path / "link")
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "nope")


def test_a_fifo_at_a_generated_files_place_blocks_conversion_not_the_writer(converted):
    from nb2pipe.api import convert

    nb, out, _ = converted
    (out / "README.md").unlink()
    os.mkfifo(out / "README.md")
    res = convert(nb, out, force=True)
    assert res.status == "failed"
    assert any("README.md" in d.message and "regular file" in d.message
               for d in res.diagnostics)


def test_eject_never_touches_a_file_the_lock_leads_to_outside(converted):
    from nb2pipe.writer import eject

    nb, out, outside = converted
    os.symlink(outside / "secret.txt", out / "leak.txt")
    (outside / "secret.txt").write_text("# Generated by nb2pipe\nthe secret\n")
    lock = json.loads((out / "nb2pipe.lock.json").read_text())
    lock["files"]["leak.txt"] = "0" * 64
    (out / "nb2pipe.lock.json").write_text(json.dumps(lock))
    count, problem = eject(out)
    assert problem is None and count > 0
    assert (outside / "secret.txt").read_text() == "# Generated by nb2pipe\nthe secret\n"


def test_runner_refuses_a_plan_nb2pipe_did_not_write(converted):
    from nb2pipe.runner.project import Project, ProjectError

    _, out, _ = converted
    plan = json.loads((out / "nb2pipe.plan.json").read_text())
    plan["package"] = "../../elsewhere"
    (out / "nb2pipe.plan.json").write_text(json.dumps(plan))
    with pytest.raises(ProjectError, match="not a plan nb2pipe wrote"):
        Project(out)


# ---- the command line -------------------------------------------------------------------------

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # The timeout is the failure signal of a read that blocks (FIFO) or never ends (/dev/zero)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([*NB2PIPE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def _craft_all(out: Path, outside: Path, kinds=tuple(KINDS)) -> None:
    for kind in kinds:
        _craft(out, outside, kind)


def test_cli_check_and_sync_on_a_crafted_lock(converted):
    nb, out, outside = converted
    _craft_all(out, outside)
    lock_before = (out / "nb2pipe.lock.json").read_text()
    checked = _cli("check", nb.name, cwd=nb.parent)
    assert checked.returncode == 1, checked.stderr
    assert "probe.ipynb: stale: nb2pipe.lock.json is not nb2pipe's" in checked.stdout
    assert "Traceback" not in checked.stderr
    assert "the secret" not in checked.stdout + checked.stderr
    synced = _cli("sync", nb.name, cwd=nb.parent)
    assert synced.returncode == 1, synced.stderr
    assert "is not nb2pipe's" in synced.stdout and "Traceback" not in synced.stderr
    assert (out / "nb2pipe.lock.json").read_text() == lock_before  # sync left it alone


# ---- a real jupyter server (pytest-jupyter, 127.0.0.1) ------------------------------------------

@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nb2pipe.jupyter": True}}}


@pytest.fixture
def served(jp_root_dir, tmp_path):
    """A converted notebook in the server root: (API path, output folder, outside folder)."""
    from nb2pipe.api import convert

    nb = write_sample(jp_root_dir / "probe.ipynb")
    assert convert(nb, jp_root_dir / "probe_pipeline").status == "converted"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the secret\n")
    return "probe.ipynb", jp_root_dir / "probe_pipeline", outside


async def _error(coro) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as info:
        await coro
    body = info.value.response.body if info.value.response is not None else b"{}"
    return info.value.code, json.loads(body or b"{}")


@pytest.mark.parametrize("endpoint", ["check", "preview"])
async def test_server_check_of_a_crafted_lock(jp_fetch, served, endpoint):
    path, out, outside = served
    _craft_all(out, outside, LOCK_ONLY)
    r = await jp_fetch("nb2pipe", endpoint, params={"path": path})
    data = json.loads(r.body)
    check = data if endpoint == "check" else data["check"]
    assert check["stale"] and check["not_nb2pipe"]
    assert check["edited"] == []
    assert "is not nb2pipe's" in check["summary"]
    assert "the secret" not in r.body.decode()


@pytest.mark.parametrize("body", [
    {"path": 123}, {"path": ["probe.ipynb"]}, {"path": None}, {},
    {"path": "probe.ipynb", "outdir": 5}, {"path": "probe.ipynb", "outdir": {}},
    {"path": "probe.ipynb", "force": "yes"}, {"path": "probe.ipynb", "split": 5},
    {"path": "probe.ipynb", "split": "sideways"},
    "[" * 100_000 + "]" * 100_000, '{"path": ' + "[" * 100_000, "not json", "[1, 2]",
    b"\xff\xfe{}",
], ids=lambda b: repr(b)[:40])
async def test_bad_bodies_are_400_with_a_message(jp_fetch, served, body):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    code, data = await _error(jp_fetch("nb2pipe", "convert", method="POST", body=raw))
    assert code == 400, data
    assert data.get("message"), data


@pytest.mark.parametrize("outdir, code, why", [
    (".hidden_out", 403, "hidden"),
    ("work/.cache/out", 403, "hidden"),
    ("%2e%2e/x", 400, "percent-encoded"),
    ("a%2Fb", 400, "percent-encoded"),
])
async def test_surprising_output_folders_are_refused(jp_fetch, jp_root_dir, served, outdir,
                                                     code, why):
    path, _, _ = served
    before = sorted(p.name for p in jp_root_dir.iterdir())
    got, data = await _error(jp_fetch("nb2pipe", "convert", method="POST",
                                      body=json.dumps({"path": path, "outdir": outdir})))
    assert got == code and why in data["message"], data
    got, data = await _error(jp_fetch("nb2pipe", "check", params={"path": path,
                                                                  "outdir": outdir}))
    assert got == code, data
    assert sorted(p.name for p in jp_root_dir.iterdir()) == before  # nothing was made


async def test_a_folder_nb2pipe_did_not_make_is_refused_unless_force(jp_fetch, jp_root_dir,
                                                                     served):
    path, _, _ = served
    data_dir = jp_root_dir / "data"
    data_dir.mkdir()
    (data_dir / "sales.csv").write_text("region,amount\n")
    body = {"path": path, "outdir": "data"}
    code, reply = await _error(jp_fetch("nb2pipe", "convert", method="POST",
                                        body=json.dumps(body)))
    assert code == 409 and "not made by nb2pipe" in reply["message"], reply
    assert sorted(p.name for p in data_dir.iterdir()) == ["sales.csv"]
    r = await jp_fetch("nb2pipe", "convert", method="POST",
                       body=json.dumps({**body, "force": True}))
    assert json.loads(r.body)["status"] == "converted"
    assert (data_dir / "sales.csv").read_text() == "region,amount\n"
    # made by nb2pipe now: converting again needs no force
    r = await jp_fetch("nb2pipe", "convert", method="POST", body=json.dumps(body))
    assert json.loads(r.body)["status"] in ("converted", "unchanged")
    empty = jp_root_dir / "empty"
    empty.mkdir()  # an empty folder mixes nothing
    r = await jp_fetch("nb2pipe", "convert", method="POST",
                       body=json.dumps({"path": path, "outdir": "empty"}))
    assert json.loads(r.body)["status"] == "converted"


async def test_a_lock_nb2pipe_did_not_write_makes_the_folder_foreign(jp_fetch, served):
    path, out, outside = served
    _craft(out, outside, "absolute")
    code, reply = await _error(jp_fetch("nb2pipe", "convert", method="POST",
                                        body=json.dumps({"path": path})))
    assert code == 409 and "not one nb2pipe wrote" in reply["message"], reply


class TestTimeout:
    """Blocking work that outlasts `nb2pipe_timeout` is a 504 with a message; the server
    goes on answering (timeout 0: the worker thread cannot have finished)."""

    @pytest.fixture
    def jp_server_config(self):
        return {"ServerApp": {"jpserver_extensions": {"nb2pipe.jupyter": True},
                              "tornado_settings": {"nb2pipe_timeout": 0}}}

    async def test_gives_up_with_504(self, jp_fetch, served):
        path, _, _ = served
        code, reply = await _error(jp_fetch("nb2pipe", "preview", params={"path": path}))
        assert code == 504 and "gave up waiting for the preview" in reply["message"]
        r = await jp_fetch("api", "status")
        assert r.code == 200


def test_eject_refuses_a_lock_nb2pipe_did_not_write(converted):
    from nb2pipe.writer import eject

    _, out, outside = converted
    _craft(out, outside, "dotdot")
    count, problem = eject(out)
    assert count == 0 and "is not nb2pipe's" in problem and "'..'" in problem
    assert (out / "nb2pipe.lock.json").is_file()
