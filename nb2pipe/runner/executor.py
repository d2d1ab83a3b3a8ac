"""Run a generated project's DAG locally, step by step, tracked and cached in its store.

The runner's own process schedules, fingerprints and records; it never imports the generated
package (nor pandas). Steps run in a separate worker (`worker.py`): a warm zygote that has
imported the package once and forks a child per step, or, where fork is unavailable (or
NB2PIPE_NO_FORK=1), a fresh interpreter per step. Either way the step runs through the
package's `_runtime.run_step`, the same code path as the container entrypoint.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2pipe.runner.fingerprint import Fingerprinter, fingerprint, git_info
from nb2pipe.runner.masking import masker_for
from nb2pipe.runner.project import Project
from nb2pipe.tracking.store import Store

WORKER = Path(__file__).with_name("worker.py")
DONE = ("finished", "cached")


@dataclass
class RunResult:
    run_id: int
    status: str  # finished | failed | interrupted
    steps: dict[str, str]  # step -> finished | cached | failed | skipped
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "finished"


# ---- workers --------------------------------------------------------------------------------

class _Worker:
    def __init__(self, project: Project, events: queue.Queue, log_dir: Path):
        self.project = project
        self.events = events
        self.log_dir = log_dir

    def submit(self, req: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ZygoteWorker(_Worker):
    """One warm process that forks a child per step."""

    name = "fork"

    def __init__(self, project: Project, events: queue.Queue, log_dir: Path):
        super().__init__(project, events, log_dir)
        self.log = log_dir / "zygote.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "zygote", str(project.root), project.package],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(self.log, "wb"),
            cwd=str(project.root), env=_env(), start_new_session=True)
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue
        self.events.put({"event": "worker-exit"})

    def submit(self, req: dict) -> None:
        assert self.proc.stdin is not None
        with self.lock:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()  # EOF: the zygote kills any child left and exits
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class SubprocessWorker(_Worker):
    """Fallback: a fresh interpreter per step."""

    name = "subprocess"

    def __init__(self, project: Project, events: queue.Queue, log_dir: Path):
        super().__init__(project, events, log_dir)
        self.procs: list[subprocess.Popen] = []

    def submit(self, req: dict) -> None:
        out, err = open(req["stdout"], "wb"), open(req["stderr"], "wb")
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), "once", str(self.project.root), self.project.package,
             json.dumps(req)], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            cwd=str(self.project.root), env=_env())
        out.close()
        err.close()
        self.procs.append(proc)
        self.events.put({"event": "started", "key": req["key"], "pid": proc.pid})

        def wait() -> None:
            rc = proc.wait()
            self.events.put({"event": "exited", "key": req["key"], "pid": proc.pid,
                             "returncode": rc})

        threading.Thread(target=wait, daemon=True).start()

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _fork_available() -> bool:
    return hasattr(os, "fork") and os.environ.get("NB2PIPE_NO_FORK", "") in ("", "0")


# ---- the run --------------------------------------------------------------------------------

class _Silent:
    def start(self, run_id: int, steps: list[str], info: dict) -> None: ...
    def update(self, step: str, status: str, detail: str = "") -> None: ...
    def finish(self, result: RunResult) -> None: ...


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def run_project(project_dir: Path, params: dict[str, Any] | None = None, *, jobs: int = 0,
                no_cache: bool = False, display: Any = None,
                param_items: list[str] | None = None) -> RunResult:
    t0 = time.time()
    git: dict[str, Any] = {}  # asked first: `git status` runs while we plan
    git_thread = threading.Thread(target=lambda: git.update(git_info(Path(project_dir))),
                                  daemon=True)
    git_thread.start()
    project = Project(project_dir)
    mask = masker_for(project.root, project.plan)  # no secret reaches runs.db or the screen
    overrides = dict(params or {})
    if param_items:
        overrides.update(project.parse_params(param_items))
    jobs = jobs or max(1, os.cpu_count() or 1)
    display = display or _Silent()
    store = Store(project.root)
    store.reap()
    fp = Fingerprinter(project, store, overrides)
    info = {"params": fp.params, "overrides": overrides, "python": sys.version.split()[0],
            "package": project.package, "notebook": project.plan.notebook,
            "notebook_hash": project.plan.notebook_hash, "jobs": jobs,
            "no_cache": no_cache, "executor": "fork" if _fork_available() else "subprocess"}
    run_id = store.begin_run(info, project.order)
    tmp = store.root / "tmp" / f"run{run_id}-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    display.start(run_id, project.order, info)

    status = {s: "pending" for s in project.order}
    outputs: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    running: dict[str, float] = {}
    events: queue.Queue = queue.Queue()
    worker: _Worker | None = None
    run_status = "finished"

    def set_status(step: str, st: str, detail: str = "") -> None:
        status[step] = st
        display.update(step, st, detail)

    def inputs_of(step: str) -> dict[str, str]:
        return {name: outputs[src][name] for name, src in project.steps[step].inputs}

    def restore_written(step: str, source_id: int) -> None:
        """A cached step's side-effect files are put back if they changed on disk."""
        for row in store.written_of(source_id):
            path = project.data_path(row["path"])
            if store.data_hash(path) == row["sha"]:
                continue
            blob = store.file_blob(row["sha"])
            if not blob.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f".{path.name}.nb2pipe-{os.getpid()}.tmp")
            shutil.copyfile(blob, part)
            os.replace(part, path)

    def launch(step: str, comps: dict, fpr: str) -> None:
        nonlocal worker
        st = project.steps[step]
        d = tmp / step
        shutil.rmtree(d, ignore_errors=True)
        (d / "in").mkdir(parents=True)
        (d / "out").mkdir()
        for name, sha in (comps["inputs"] or {}).items():
            link = d / "in" / name
            try:
                os.symlink(store.artifact_dir(sha), link, target_is_directory=True)
            except OSError:
                shutil.copytree(store.artifact_dir(sha), link)
        req = {"key": step, "step": step, "inputs": str(d / "in"), "outputs": str(d / "out"),
               "params": {p: fp.params[p] for p in st.params if p in fp.params},
               "stdout": str(d / "stdout.log"), "stderr": str(d / "stderr.log"),
               "result": str(d / "result.json"),
               # values built from a secret: the step masks them in its own logs
               "mask": sorted(n for n, _ in project.plan.secret_derived)}
        if worker is None:
            worker = (ZygoteWorker if _fork_available() else SubprocessWorker)(project, events,
                                                                                tmp)
        store.set_step(run_id, step, status="running", started=time.time(), fingerprint=fpr,
                       components=json.dumps(comps, sort_keys=True))
        running[step] = time.time()
        worker.submit(req)
        set_status(step, "running")

    def ingest(step: str, returncode: int | None) -> None:
        st = project.steps[step]
        d = tmp / step
        logs = mask.logs({"stdout": _read_text(d / "stdout.log"),
                          "stderr": _read_text(d / "stderr.log")})
        try:
            result = json.loads((d / "result.json").read_text())
        except (OSError, ValueError):
            result = None
        if result is None or not result.get("ok"):
            if result is not None:
                err = result.get("error", "failed")
            elif returncode is not None and returncode < 0:
                err = f"killed by signal {-returncode}"
            else:
                err = f"the step process exited with code {returncode} without a result"
            err = mask(err)
            store.record_failed(run_id, step, err, logs)
            errors[step] = err
            set_status(step, "failed", err)
            return
        metas: dict[str, dict] = {}
        not_persisted: dict[str, dict] = {}  # final values that cannot be serialized
        for name, meta in result["metas"].items():
            if meta.get("persisted", True) is False:
                not_persisted[name] = {"type": meta.get("type"),
                                       "reason": mask(str(meta.get("reason", "")))}
            else:
                metas[name] = store.put_value(d / "out" / name)
        written = []
        for p in st.writes:
            path = project.data_path(p)
            if path.is_file():
                sha, size = store.put_file(path, tmp)
                written.append((p, sha, size))
        metrics: dict[str, tuple[Any, str]] = {}
        for name, value in result.get("scalars", {}).items():
            if not name.startswith("_"):
                metrics[name] = (value, "metric" if name in st.metrics else "scalar")
        for name in st.metrics:
            if name not in metrics and name in metas and metas[name]["format"] == "json":
                art = store.artifact_dir(metas[name]["sha256"]) / metas[name]["file"]
                metrics[name] = (json.loads(art.read_text()), "metric")
        store.record_finished(run_id, step, metas=metas, written=written, metrics=metrics,
                              logs=logs, ended=time.time(), not_persisted=not_persisted)
        outputs[step] = {n: m["sha256"] for n, m in metas.items()}
        missing = [n for n in st.outputs if n not in outputs[step] and n not in not_persisted]
        if missing:
            err = f"step {step} did not return {', '.join(missing)}"
            errors[step] = err
            store.set_step(run_id, step, status="failed", error=err)
            set_status(step, "failed", err)
            return
        set_status(step, "finished", f"{time.time() - running.get(step, time.time()):.2f}s")

    interrupted = False
    old_term = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while True:
            progressed = True
            while progressed:
                progressed = False
                for step in project.order:
                    if status[step] != "pending":
                        continue
                    ups = project.steps[step].upstream
                    if any(status[u] in ("failed", "skipped") for u in ups):
                        bad = [u for u in ups if status[u] in ("failed", "skipped")]
                        store.set_step(run_id, step, status="skipped",
                                       error=f"upstream {', '.join(bad)} did not finish")
                        set_status(step, "skipped", f"upstream {', '.join(bad)} did not finish")
                        progressed = True
                        continue
                    if not all(status[u] in DONE for u in ups):
                        continue
                    if len(running) >= jobs:
                        continue
                    comps = fp.components(project.steps[step], inputs_of(step))
                    fpr = fingerprint(comps)
                    cached = None if no_cache else store.find_cached(step, fpr)
                    if cached is not None:
                        restore_written(step, cached["id"])
                        store.record_cached(run_id, step, cached, fpr, comps)
                        outputs[step] = store.outputs_of(cached["id"])
                        src_run = cached["run_id"]
                        set_status(step, "cached", f"from run {src_run}")
                    else:
                        launch(step, comps, fpr)
                    progressed = True
            if not running:
                break
            ev = events.get()
            kind = ev.get("event")
            if kind == "started":
                store.set_step(run_id, ev["key"], pid=ev["pid"])
            elif kind == "exited":
                step = ev["key"]
                try:
                    ingest(step, ev.get("returncode"))
                except Exception as exc:  # noqa: BLE001 - e.g. disk full: the step failed
                    err = mask(f"could not store the outputs: {type(exc).__name__}: {exc}")
                    store.record_failed(run_id, step, err, {})
                    errors[step] = err
                    set_status(step, "failed", err)
                running.pop(step, None)
            elif kind == "worker-exit":
                log = mask(_read_text(tmp / "zygote.log")[-2000:])
                for step in list(running):
                    err = "the worker process died" + (f":\n{log}" if log else "")
                    store.record_failed(run_id, step, err, {})
                    errors[step] = err
                    set_status(step, "failed", err)
                    running.pop(step)
                worker = None
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, old_term)
        if worker is not None:
            worker.close()
        store.flush_stat_cache()
    if interrupted:
        run_status = "interrupted"
        for step in project.order:
            if step in running or status[step] == "pending":
                store.record_failed(run_id, step, "interrupted", {}, status="interrupted")
                status[step] = "interrupted"
    elif any(s != "finished" and s != "cached" for s in status.values()):
        run_status = "failed"
    git_thread.join(timeout=10)
    store.set_git(run_id, git or {"error": "git information timed out"})
    store.end_run(run_id, run_status, "; ".join(f"{k}: {v.splitlines()[0] if v else v}"
                                                for k, v in errors.items()) or None)
    shutil.rmtree(tmp, ignore_errors=True)
    store.close()
    result = RunResult(run_id, run_status, dict(status), errors, time.time() - t0)
    display.finish(result)
    return result

