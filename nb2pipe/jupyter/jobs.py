"""Background jobs of the JupyterLab workbench: `nb2pipe run` and `nb2pipe verify` started
from the panel, one at a time per project.

A job is the CLI command in a child process (the same code path as a terminal), in its own
session and process group, so Cancel reaches it and everything it started; a verify's kernel
starts a session of its own, so Cancel also walks the job's descendants (Linux /proc). Output
goes to files in a private folder, never to pipes nobody reads. Nothing here imports
jupyter-server: the handlers (workbench.py) translate to HTTP.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2pipe.tracking.store import pid_alive

CANCEL_GRACE = 5.0  # seconds between SIGTERM (the runner records "interrupted") and SIGKILL
KEEP_OUTPUT = 200_000  # characters of a job's stdout/stderr kept for the panel


class JobBusy(Exception):
    """The project already has a live job; the message says which."""


@dataclass
class Job:
    id: int
    kind: str  # "run" or "verify"
    project: Path  # real path of the generated project
    argv: list[str]
    started: float
    folder: Path  # stdout / stderr files
    process: subprocess.Popen | None = None
    ended: float | None = None
    returncode: int | None = None
    cancelled: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def live(self) -> bool:
        return not self.done.is_set()

    @property
    def state(self) -> str:
        """running, then cancelled / finished (exit 0) / failed (anything else)."""
        if self.live:
            return "running"
        if self.cancelled:
            return "cancelled"
        return "finished" if self.returncode == 0 else "failed"

    def output(self, stream: str) -> str:
        try:
            text = (self.folder / stream).read_bytes().decode("utf-8", "replace")
        except OSError:
            return ""
        return text[-KEEP_OUTPUT:]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "pid": self.pid,
                "started": self.started, "ended": self.ended, "returncode": self.returncode,
                "seconds": round((self.ended or time.time()) - self.started, 3)}


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (children first found), read from /proc; [] where there is
    no /proc. A kernel started by verify sits in a session of its own, out of killpg's reach."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            stat = Path("/proc", name, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


def _signal_all(pids: list[int], pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class JobManager:
    """The jobs of one server: at most one live job per project; the last job of each kind per
    project is kept so the panel can show how it ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._live: dict[Path, Job] = {}
        self._last: dict[tuple[Path, str], Job] = {}

    def start(self, kind: str, project: Path, args: list[str], cwd: Path,
              env: dict[str, str] | None = None) -> Job:
        """`nb2pipe <args>` as a job of `project`; JobBusy when the project has a live one."""
        with self._lock:
            busy = self._live.get(project)
            if busy is not None:
                raise JobBusy(f"a {busy.kind} of this project is in progress (job {busy.id}, "
                              f"started {time.strftime('%H:%M:%S', time.localtime(busy.started))}"
                              "); wait for it or cancel it")
            folder = Path(tempfile.mkdtemp(prefix=f"nb2pipe-{kind}-"))
            job = Job(next(self._ids), kind, project,
                      [sys.executable, "-m", "nb2pipe", *args], time.time(), folder)
            with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
                job.process = subprocess.Popen(
                    job.argv, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    env=env, start_new_session=True)
            self._live[project] = job
            old = self._last.get((project, kind))
            self._last[(project, kind)] = job
        if old is not None:
            shutil.rmtree(old.folder, ignore_errors=True)
        threading.Thread(target=self._wait, args=(job,), daemon=True,
                         name=f"nb2pipe-job-{job.id}").start()
        return job

    def _wait(self, job: Job) -> None:
        assert job.process is not None
        job.returncode = job.process.wait()
        job.ended = time.time()
        with self._lock:
            if self._live.get(job.project) is job:
                del self._live[job.project]
        job.done.set()

    def live(self, project: Path) -> Job | None:
        with self._lock:
            return self._live.get(project)

    def last(self, project: Path, kind: str) -> Job | None:
        with self._lock:
            return self._last.get((project, kind))

    def cancel(self, job: Job, grace: float = CANCEL_GRACE) -> None:
        """Stop a job and everything it started: SIGTERM first (`nb2pipe run` records the run
        as interrupted), SIGKILL for what is left after `grace` seconds. Blocking."""
        if not job.live or job.process is None:
            return
        job.cancelled = True
        pgid = job.process.pid  # start_new_session: the job leads its own group
        below = descendants(job.process.pid)
        _signal_all(below, pgid, signal.SIGTERM)
        if not job.done.wait(grace):
            below = list(dict.fromkeys(below + descendants(job.process.pid)))
            _signal_all(below, pgid, signal.SIGKILL)
            job.done.wait(grace)
        # a kernel (own session) may outlive its killed parent: no process of the job stays
        _signal_all([p for p in below if pid_alive(p)], pgid, signal.SIGKILL)

    def shutdown(self) -> None:
        """The server stops: no job outlives it, and their output folders go."""
        with self._lock:
            live = list(self._live.values())
            kept = list(self._last.values())
        for job in live:
            self.cancel(job, grace=1.0)
        for job in kept:
            shutil.rmtree(job.folder, ignore_errors=True)

