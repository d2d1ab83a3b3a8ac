"""The pre-commit hooks with the real pre-commit, in a temporary git repository.

The hook repository is a snapshot of this working tree committed to a temporary git repo, so
pre-commit installs nb2pipe the way users get it (from git, with pip, no Node). Its hook
environment is built once per session (the slow part) and shared by the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sample_nb import write_sample

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
NB2PIPE = [sys.executable, "-m", "nb2pipe"]

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is missing")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _init(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "test@example.com")
    _git(path, "config", "user.name", "Test")
    _git(path, "config", "commit.gpgsign", "false")


@pytest.fixture(scope="session")
def hooks(tmp_path_factory):
    """(hook repo path, its commit, environment with a shared PRE_COMMIT_HOME)."""
    try:
        listed = _git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip("the source tree is not a git checkout")
    snap = tmp_path_factory.mktemp("hook-repo")
    _init(snap)
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file() and not rel.startswith(("jupyter_extension/", "tests/golden/")):
            dst = snap / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    _git(snap, "add", "-A")
    _git(snap, "commit", "-q", "-m", "snapshot")
    sha = _git(snap, "rev-parse", "HEAD").strip()
    home = tmp_path_factory.mktemp("pre-commit-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    # PIP_COMPILE=0: no bytecode compilation of the hook env's ~100 packages (halves the
    # build, the slow part of these tests); the hooks behave the same.
    env.update(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_COMPILE="0")
    return snap, sha, env


@pytest.fixture
def project(tmp_path, hooks):
    """A user's repository: a converted sample notebook, committed, hooks configured."""
    snap, sha, env = hooks
    repo = tmp_path / "project"
    _init(repo)
    nb = write_sample(repo / "sales.ipynb")
    subprocess.run([*NB2PIPE, "convert", str(nb)], check=True, capture_output=True)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {snap}\n  rev: {sha}\n  hooks:\n"
        "  - id: nb2pipe-check\n  - id: nb2pipe-sync\n"
        "  - id: nb2pipe-lint\n    args: [--ignore, NB110]\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "notebook and its pipeline")
    return repo


def _edit_notebook(nb: Path, source: str, cell: int = -1) -> None:
    data = json.loads(nb.read_text())
    data["cells"][cell]["source"] = source
    nb.write_text(json.dumps(data, indent=1) + "\n")


def _pre_commit(repo: Path, hooks, *args: str) -> subprocess.CompletedProcess:
    return _run([*PRE_COMMIT, *args], repo, hooks[2])


def _out(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


STEP = Path("sales_pipeline") / "sales_pipeline" / "steps" / "summarize.py"
DOUBLED = ("totals = {}\nfor r in clean:\n    totals[r['region']] = "
           "totals.get(r['region'], 0) + 2 * r['amount']\nprint(totals)")


def test_try_repo_on_a_stale_notebook(project, hooks):
    """`pre-commit try-repo` (a fresh hook environment each call, so only once here)."""
    snap, sha, env = hooks
    _edit_notebook(project / "sales.ipynb", DOUBLED)
    _git(project, "add", "sales.ipynb")
    tried = _run([*PRE_COMMIT, "try-repo", str(snap), "--ref", sha], project, env)
    out = _out(tried)
    assert tried.returncode == 1, out
    stale = [ln for ln in out.splitlines() if ln.startswith("sales.ipynb: stale")]
    assert len(stale) == 1 and "notebook changed" in stale[0], out  # one line per notebook
    assert "sales.ipynb: regenerated" in out  # nb2pipe-sync ran after it
    assert "2 * r" in (project / STEP).read_text()


def test_commit_blocked_while_stale_then_passes_after_sync(project, hooks):
    assert _pre_commit(project, hooks, "install").returncode == 0
    _edit_notebook(project / "sales.ipynb", DOUBLED)
    _git(project, "add", "sales.ipynb")

    blocked = _run(["git", "commit", "-m", "double the amounts"], project, hooks[2])
    out = _out(blocked)
    assert blocked.returncode != 0, out
    assert "sales.ipynb: stale: notebook changed" in out
    assert "sales.ipynb: regenerated" in out and "re-stage" in out
    assert "2 * r" in (project / STEP).read_text()
    assert _git(project, "log", "--format=%s", "-1").strip() == "notebook and its pipeline"

    _git(project, "add", "-A")  # re-stage what sync wrote: the commit passes
    passed = _run(["git", "commit", "-m", "double the amounts"], project, hooks[2])
    assert passed.returncode == 0, _out(passed)
    assert "nb2pipe check" in _out(passed) and "Failed" not in _out(passed)
    assert _git(project, "status", "--porcelain") == ""
    assert _git(project, "log", "--format=%s", "-1").strip() == "double the amounts"


def test_hand_edited_pipeline_blocks_and_is_never_overwritten(project, hooks):
    readme = project / "sales_pipeline" / "README.md"
    readme.write_text(readme.read_text() + "\nA note by hand.\n")
    _edit_notebook(project / "sales.ipynb", "totals = {}\nfor r in clean:\n"
                   "    totals[r['region']] = totals.get(r['region'], 0) + r['amount']\n"
                   "print(sorted(totals.items()))")
    _git(project, "add", "-A")

    checked = _pre_commit(project, hooks, "run", "nb2pipe-check", "--all-files")
    assert checked.returncode == 1
    line = next(ln for ln in _out(checked).splitlines() if ln.startswith("sales.ipynb: "))
    assert "notebook changed" in line and "README.md edited by hand" in line

    synced = _pre_commit(project, hooks, "run", "nb2pipe-sync", "--all-files")
    assert synced.returncode == 1
    assert "kept hand-edited README.md" in _out(synced)
    assert "A note by hand." in readme.read_text()
    assert "sorted(totals.items())" in (project / STEP).read_text()
    # still blocked: only the user can decide about the hand edit
    again = _pre_commit(project, hooks, "run", "nb2pipe-check", "--all-files")
    assert again.returncode == 1 and "README.md edited by hand" in _out(again)
    assert "notebook changed" not in _out(again)


def test_lint_hook_fails_on_errors_and_honours_suppressions(project, hooks):
    nb = write_sample(project / "warn.ipynb")
    data = json.loads(nb.read_text())
    data["cells"][2]["source"] = "%cd /tmp\n" + "".join(data["cells"][2]["source"])
    data["cells"].append({"cell_type": "code", "id": "bash", "metadata": {}, "outputs": [],
                          "execution_count": None, "source": "%%bash\necho hello"})
    nb.write_text(json.dumps(data))
    _git(project, "add", "-A")
    warned = _pre_commit(project, hooks, "run", "nb2pipe-lint", "--files", "warn.ipynb")
    assert warned.returncode == 0, _out(warned)
    assert "warn.ipynb:cell_8:1:1: NB106" in _out(warned)  # warnings print
    assert "NB110" not in _out(warned)  # silenced by the hook's args: [--ignore, NB110]

    data["metadata"]["nb2pipe"] = {"ignore": ["NB106"]}  # silenced by the notebook
    nb.write_text(json.dumps(data))
    quiet = _pre_commit(project, hooks, "run", "nb2pipe-lint", "--files", "warn.ipynb")
    assert quiet.returncode == 0 and "NB106" not in _out(quiet), _out(quiet)

    bad = write_sample(project / "bad.ipynb")
    _edit_notebook(bad, "clean = [r for r in rowz]", cell=4)
    failed = _pre_commit(project, hooks, "run", "nb2pipe-lint", "--files", "bad.ipynb")
    assert failed.returncode == 1
    assert "bad.ipynb:cell_5:1:" in _out(failed) and "NB201" in _out(failed)


def test_lint_cli_ignore_flag_and_unsuppressible_errors(tmp_path):
    nb = write_sample(tmp_path / "w.ipynb")
    data = json.loads(nb.read_text())
    data["cells"][2]["source"] = "%cd /tmp\n" + "".join(data["cells"][2]["source"])
    nb.write_text(json.dumps(data))
    shown = subprocess.run([*NB2PIPE, "lint", str(nb)], capture_output=True, text=True)
    assert shown.returncode == 0 and "NB110" in shown.stdout
    quiet = subprocess.run([*NB2PIPE, "lint", "--ignore", "nb110", str(nb)],
                           capture_output=True, text=True)
    assert quiet.returncode == 0 and "NB110" not in quiet.stdout
    # convert goes through the same filter
    conv = subprocess.run([*NB2PIPE, "convert", "--dry-run", str(nb)], capture_output=True,
                          text=True)
    assert conv.returncode == 0 and "NB110" in conv.stderr
    conv = subprocess.run([*NB2PIPE, "convert", "--dry-run", "--ignore", "NB110", str(nb)],
                          capture_output=True, text=True)
    assert conv.returncode == 0 and "NB110" not in conv.stderr
    data["cells"][4]["source"] = "clean = [r for r in rowz]"
    nb.write_text(json.dumps(data))
    err = subprocess.run([*NB2PIPE, "lint", "--ignore", "NB201", str(nb)], capture_output=True,
                         text=True)
    assert err.returncode == 1 and "NB201" in err.stdout
    assert "NB201 cannot be ignored" in err.stderr


def test_check_and_sync_cli(tmp_path):
    nb = write_sample(tmp_path / "a.ipynb")
    never = subprocess.run([*NB2PIPE, "check", str(nb)], capture_output=True, text=True)
    assert never.returncode == 1 and "not converted yet" in never.stdout
    assert subprocess.run([*NB2PIPE, "check", "--ignore-unconverted", str(nb)]).returncode == 0
    assert subprocess.run([*NB2PIPE, "sync", "--ignore-unconverted", str(nb)]).returncode == 0
    first = subprocess.run([*NB2PIPE, "sync", str(nb)], capture_output=True, text=True)
    assert first.returncode == 1 and "regenerated" in first.stdout  # converted: re-stage
    again = subprocess.run([*NB2PIPE, "sync", str(nb)], capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == ""
    assert subprocess.run([*NB2PIPE, "check", str(nb)]).returncode == 0


def test_hooks_on_a_crafted_lock_say_so_and_read_nothing_it_lists(project, hooks, tmp_path):
    """Issue 11: a cloned repository's lock lists a FIFO, /dev/zero and files outside the
    project. The hooks (which run on every commit) must say the lock is not nb2pipe's, never
    block (the run's timeout is the failure signal), never regenerate over it."""
    import hashlib

    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the secret\n")
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    out = project / "sales_pipeline"
    os.mkfifo(out / "pipe")  # untracked (git cannot hold a FIFO): pre-commit leaves it there
    lock_path = out / "nb2pipe.lock.json"
    lock = json.loads(lock_path.read_text())
    lock["files"].update({"pipe": "0" * 64, "/dev/zero": "0" * 64, str(secret): digest,
                          "../../outside/secret.txt": digest})
    lock_path.write_text(json.dumps(lock))
    _git(project, "add", "-A")  # staged, so pre-commit does not stash it away
    crafted = lock_path.read_text()

    checked = _pre_commit(project, hooks, "run", "nb2pipe-check", "--all-files")
    assert checked.returncode == 1, _out(checked)
    assert "sales.ipynb: stale: nb2pipe.lock.json is not nb2pipe's" in _out(checked)
    synced = _pre_commit(project, hooks, "run", "nb2pipe-sync", "--all-files")
    assert synced.returncode == 1, _out(synced)
    assert "is not nb2pipe's" in _out(synced)
    for proc in (checked, synced):
        assert "Traceback" not in _out(proc) and "the secret" not in _out(proc)
    assert lock_path.read_text() == crafted
