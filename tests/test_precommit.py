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
    env.update(PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return snap, sha, env


@pytest.fixture
def project(tmp_path, hooks):
    """A user's repository: a converted sample notebook, committed."""
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


def _edit_notebook(nb: Path, source: str) -> None:
    data = json.loads(nb.read_text())
    data["cells"][-1]["source"] = source
    nb.write_text(json.dumps(data, indent=1) + "\n")


def _try(hook: str, repo: Path, hooks, *extra: str) -> subprocess.CompletedProcess:
    snap, sha, env = hooks
    return _run([*PRE_COMMIT, "try-repo", str(snap), hook, "--ref", sha, *extra], repo, env)


def test_check_blocks_a_stale_pipeline_and_sync_fixes_it(project, hooks):
    _, _, env = hooks
    nb = project / "sales.ipynb"
    _edit_notebook(nb, "totals = {}\nfor r in clean:\n    totals[r['region']] = "
                       "totals.get(r['region'], 0) + 2 * r['amount']\nprint(totals)")
    _git(project, "add", "sales.ipynb")

    tried = _try("nb2pipe-check", project, hooks)
    assert tried.returncode == 1, tried.stdout + tried.stderr
    stale_lines = [ln for ln in tried.stdout.splitlines() if ln.startswith("sales.ipynb: ")]
    assert len(stale_lines) == 1 and "notebook changed" in stale_lines[0], tried.stdout

    # a real commit through the installed hook: blocked, the pipeline regenerated
    assert _run([*PRE_COMMIT, "install"], project, env).returncode == 0
    blocked = _run(["git", "commit", "-m", "double the amounts"], project, env)
    assert blocked.returncode != 0, blocked.stdout
    assert "sales.ipynb: stale: notebook changed" in blocked.stdout
    assert "regenerated" in blocked.stdout
    assert "2 * r" in (project / "sales_pipeline" / "sales_pipeline" / "steps"
                       / "summarize.py").read_text()
    assert subprocess.run([*NB2PIPE, "check", "sales.ipynb"], cwd=project).returncode == 0

    # re-stage what sync wrote: the commit passes
    _git(project, "add", "-A")
    passed = _run(["git", "commit", "-m", "double the amounts"], project, env)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "nb2pipe check" in passed.stdout and "Passed" in passed.stdout
    assert _git(project, "status", "--porcelain") == ""


def test_hand_edited_pipeline_blocks_and_is_never_overwritten(project, hooks):
    readme = project / "sales_pipeline" / "README.md"
    readme.write_text(readme.read_text() + "\nA note by hand.\n")
    _edit_notebook(project / "sales.ipynb", "totals = {}\nfor r in clean:\n"
                   "    totals[r['region']] = totals.get(r['region'], 0) + r['amount']\n"
                   "print(sorted(totals.items()))")
    _git(project, "add", "-A")

    tried = _try("nb2pipe-check", project, hooks, "--all-files")
    assert tried.returncode == 1
    line = next(ln for ln in tried.stdout.splitlines() if ln.startswith("sales.ipynb: "))
    assert "notebook changed" in line and "README.md edited by hand" in line

    synced = _try("nb2pipe-sync", project, hooks, "--all-files")
    assert synced.returncode == 1
    assert "kept hand-edited README.md" in synced.stdout
    assert "A note by hand." in readme.read_text()
    assert "sorted(totals.items())" in (project / "sales_pipeline" / "sales_pipeline" / "steps"
                                        / "summarize.py").read_text()
    # still blocked: only the user can decide about the hand edit
    again = _try("nb2pipe-check", project, hooks, "--all-files")
    assert again.returncode == 1 and "README.md edited by hand" in again.stdout


def test_lint_fails_on_errors_and_honours_suppressions(tmp_path, hooks):
    repo = tmp_path / "lint"
    _init(repo)
    nb = write_sample(repo / "warn.ipynb")
    data = json.loads(nb.read_text())
    data["cells"][2]["source"] = "%cd /tmp\n" + "".join(data["cells"][2]["source"])
    nb.write_text(json.dumps(data))
    _git(repo, "add", "-A")
    warned = _try("nb2pipe-lint", repo, hooks)
    assert warned.returncode == 0, warned.stdout
    assert "warn.ipynb:cell_3:1:1: NB110" in warned.stdout

    data["metadata"]["nb2pipe"] = {"ignore": ["NB110"]}  # per-notebook suppression
    nb.write_text(json.dumps(data))
    _git(repo, "add", "-A")
    quiet = _try("nb2pipe-lint", repo, hooks)
    assert quiet.returncode == 0 and "NB110" not in quiet.stdout, quiet.stdout

    bad = write_sample(repo / "bad.ipynb")
    data = json.loads(bad.read_text())
    data["cells"][4]["source"] = "clean = [r for r in rowz]"
    bad.write_text(json.dumps(data))
    _git(repo, "add", "-A")
    failed = _try("nb2pipe-lint", repo, hooks)
    assert failed.returncode == 1
    assert "bad.ipynb:cell_5:1:" in failed.stdout and "NB201" in failed.stdout


def test_lint_ignore_flag_and_unsuppressible_errors(tmp_path):
    nb = write_sample(tmp_path / "w.ipynb")
    data = json.loads(nb.read_text())
    data["cells"][2]["source"] = "%cd /tmp\n" + "".join(data["cells"][2]["source"])
    nb.write_text(json.dumps(data))
    shown = subprocess.run([*NB2PIPE, "lint", str(nb)], capture_output=True, text=True)
    assert shown.returncode == 0 and "NB110" in shown.stdout
    quiet = subprocess.run([*NB2PIPE, "lint", "--ignore", "nb110", str(nb)],
                           capture_output=True, text=True)
    assert quiet.returncode == 0 and "NB110" not in quiet.stdout
    data["cells"][4]["source"] = "clean = [r for r in rowz]"
    nb.write_text(json.dumps(data))
    err = subprocess.run([*NB2PIPE, "lint", "--ignore", "NB201", str(nb)], capture_output=True,
                         text=True)
    assert err.returncode == 1 and "NB201" in err.stdout
    assert "NB201 cannot be ignored" in err.stderr
