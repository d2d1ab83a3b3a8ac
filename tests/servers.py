"""Real servers the tests start on 127.0.0.1: a free port, waiting until one answers, stopping
it, and `jupyter lab` for the browser tests (one place, so every test starts them alike)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

EXT = Path(__file__).resolve().parent.parent / "jupyter_extension"
# the front end built in this checkout (npm run build:prod) is served ahead of an installed
# copy, so a browser test exercises the code next to it; NB2PIPE_LABEXTENSION names another
BUILT = EXT / "nb2pipe_jupyterlab" / "labextension"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(answers: Callable[[], bool], proc: subprocess.Popen, what: str,
               log: Path | None = None, timeout: float = 120, every: float = 0.3) -> None:
    """Poll until `answers()` is true; fail with the server's log if it exits or never answers.
    The timeout only turns a hang into a failure (start-up on a loaded machine is slow): it is
    not a speed test."""
    deadline = time.monotonic() + timeout
    while not answers():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            stop(proc)
            pytest.fail(f"{what} did not start:\n{tail}")
        time.sleep(every)


def http_ok(url: str, headers: dict | None = None) -> Callable[[], bool]:
    """A probe: does GET url answer 2xx?"""
    def probe() -> bool:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as resp:
                return 200 <= resp.status < 300
        except OSError:
            return False
    return probe


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate, then kill what does not stop."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _lab_extension_path(base: Path) -> str | None:
    """A JUPYTER_PATH entry holding the extension to test, ahead of an installed copy."""
    build = os.environ.get("NB2PIPE_LABEXTENSION")
    chosen = Path(build).resolve() if build else BUILT if (BUILT / "package.json").is_file() \
        else None
    if chosen is None:
        return None
    share = base / "share"
    (share / "labextensions").mkdir(parents=True, exist_ok=True)
    (share / "labextensions" / "nb2pipe-jupyterlab").symlink_to(chosen)
    return str(share)


@contextmanager
def jupyter_lab(tmp_path: Path, root: Path, **env_extra: str) -> Iterator[dict]:
    """`jupyter lab` on 127.0.0.1 with a token, serving `root`; yields url, token, root, log."""
    port, token = free_port(), secrets.token_hex(16)
    home = tmp_path / "home"
    labconfig = home / ".jupyter" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(  # no "news?" pop-up in the shots
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = dict(os.environ, HOME=str(home), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(home / ".jupyter"), JUPYTER_PLATFORM_DIRS="1",
               **env_extra)
    extension = _lab_extension_path(tmp_path)
    if extension:
        env["JUPYTER_PATH"] = os.pathsep.join(
            [extension] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p])
    log_path = tmp_path / "lab.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", "--LabApp.extension_manager=readonly",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(http_ok(f"{url}/api/status", {"Authorization": f"token {token}"}), proc,
                   "jupyter lab", log_path, timeout=60)
        yield {"url": url, "token": token, "root": root, "log": log_path}
    finally:
        stop(proc)
        log.close()
