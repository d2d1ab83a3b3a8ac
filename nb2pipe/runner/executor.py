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
from nb2pipe.tracking.store import StepStatus, Store

WORKER = Path(__file__).with_name("worker.py")


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
    """Run the project's steps in DAG order (up to `jobs` at once), each served from the store
    when its fingerprint is there, and record everything in the store."""
    run = _Run(Path(project_dir), params, param_items, jobs=jobs, no_cache=no_cache,
               display=display or _Silent())
    interrupted = False
    old_term = signal.getsignal(signal.SIGTERM)
    on_main = threading.current_thread() is threading.main_thread()
    if on_main:
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while run.schedule():
            run.handle(run.events.get())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, old_term)
        run.close_worker()
    return run.finish(interrupted)


class _Run:
    """One run of a project: a small state machine over its steps (StepStatus).

    schedule() moves pending steps on (skipped, cached or launched) until nothing more can
    start; handle() takes a worker event (a step started, handed its values on, exited, the
    worker died) and ingests or fails the step; fail() is the one place a step failure is
    recorded; finish() closes the run in the store.

    A step run by the zygote hands its values on before its process has finished and exited
    (StepStatus.STORING): the steps after it start from the hand-off files meanwhile. Its
    values enter the store, and its row is committed, only when its process has exited with
    them complete; a step that started from a hand-off is ingested only after the step that
    handed it on, and fails if that one could not store its values. The run ends after all."""

    def __init__(self, project_dir: Path, params: dict[str, Any] | None,
                 param_items: list[str] | None, *, jobs: int, no_cache: bool, display: Any):
        self.t0 = time.time()
        self.git: dict[str, Any] = {}  # asked first: `git status` runs while we plan
        self.git_thread = threading.Thread(
            target=lambda: self.git.update(git_info(project_dir)), daemon=True)
        self.git_thread.start()
        self.project = project = Project(project_dir)
        self.mask = masker_for(project.root, project.plan)  # no secret reaches runs.db or screen
        overrides = dict(params or {})
        if param_items:
            overrides.update(project.parse_params(param_items))
        self.jobs = jobs or max(1, os.cpu_count() or 1)
        self.no_cache = no_cache
        self.display = display
        self.store = Store(project.root)
        # shared while the run is live: `runs gc` deletes nothing while a run holds it
        self.lock = self.store.lock_for_run()
        self.store.reap()
        self.fp = Fingerprinter(project, self.store, overrides)
        info = {"params": self.fp.params, "overrides": overrides,
                "python": sys.version.split()[0], "package": project.package,
                "notebook": project.plan.notebook, "notebook_hash": project.plan.notebook_hash,
                "jobs": self.jobs, "no_cache": no_cache,
                "executor": "fork" if _fork_available() else "subprocess"}
        self.run_id = self.store.begin_run(info, project.order)
        self.tmp = self.store.root / "tmp" / f"run{self.run_id}-{os.getpid()}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        display.start(self.run_id, project.order, info)
        self.status: dict[str, StepStatus] = {s: StepStatus.PENDING for s in project.order}
        self.outputs: dict[str, dict[str, str]] = {}  # step -> value name -> artifact sha
        self.errors: dict[str, str] = {}
        self.running: dict[str, float] = {}  # step -> start time (its process is alive)
        self.handoff: dict[str, Path] = {}  # sha -> hand-off folder of a value made this run
        self.exited: dict[str, dict] = {}  # step -> its exit event, ingested after upstreams
        self.written: dict[str, list] = {}  # step -> data files it wrote, copied at hand-off
        self.events: queue.Queue = queue.Queue()
        self.worker: _Worker | None = None

    # ---- transitions ------------------------------------------------------------------------

    def set_status(self, step: str, status: StepStatus, detail: str = "") -> None:
        self.status[step] = status
        self.display.update(step, status.value, detail)

    def fail(self, step: str, error: str, logs: dict[str, str] | None = None) -> None:
        """The step failed: recorded in the store, shown, and kept for the run's summary."""
        self.store.record_failed(self.run_id, step, error, logs or {})
        self.errors[step] = error
        self.set_status(step, StepStatus.FAILED, error)

    def schedule(self) -> bool:
        """Start what can start; True while a step is running (an event will come)."""
        progressed = True
        while progressed:
            progressed = False
            for step in self.project.order:
                if self.status[step] is StepStatus.PENDING and self._advance(step):
                    progressed = True
        return bool(self.running)

    def _advance(self, step: str) -> bool:
        """Move one pending step on if it can; whether it moved."""
        ups = self.project.steps[step].upstream
        bad = [u for u in ups if self.status[u].blocks]
        if bad:
            why = f"upstream {', '.join(bad)} did not finish"
            self.store.set_step(self.run_id, step, status=StepStatus.SKIPPED.value, error=why)
            self.set_status(step, StepStatus.SKIPPED, why)
            return True
        if not all(self.status[u].handed_on for u in ups) or len(self.running) >= self.jobs:
            return False
        comps = self.fp.components(self.project.steps[step], self._inputs_of(step))
        fpr = fingerprint(comps)
        cached = None if self.no_cache else self.store.find_cached(step, fpr)
        if cached is None:
            self.launch(step, comps, fpr)
            return True
        self._restore_written(cached["id"])
        self.store.record_cached(self.run_id, step, cached, fpr, comps)
        self.outputs[step] = self.store.outputs_of(cached["id"])
        self.set_status(step, StepStatus.CACHED, f"from run {cached['run_id']}")
        return True

    def launch(self, step: str, comps: dict, fpr: str) -> None:
        st = self.project.steps[step]
        d = self.tmp / step
        shutil.rmtree(d, ignore_errors=True)
        (d / "in").mkdir(parents=True)
        (d / "out").mkdir()
        for name, sha in (comps["inputs"] or {}).items():
            link = d / "in" / name
            # a value made in this run is read from its hand-off copy
            source = self.handoff.get(sha) or self.store.artifact_dir(sha)
            try:
                os.symlink(source, link, target_is_directory=True)
            except OSError:
                shutil.copytree(source, link)
        req = {"key": step, "step": step, "inputs": str(d / "in"), "outputs": str(d / "out"),
               "params": {p: self.fp.params[p] for p in st.params if p in self.fp.params},
               "stdout": str(d / "stdout.log"), "stderr": str(d / "stderr.log"),
               "result": str(d / "result.json"), "ready": str(d / "ready.json"),
               "handoff": str(self.tmp / "handoff"),
               # values built from a secret: the step masks them in its own logs
               "mask": sorted(n for n, _ in self.project.plan.secret_derived)}
        if self.worker is None:
            kind = ZygoteWorker if _fork_available() else SubprocessWorker
            self.worker = kind(self.project, self.events, self.tmp)
        self.store.set_step(self.run_id, step, status=StepStatus.RUNNING.value,
                            started=time.time(), fingerprint=fpr,
                            components=json.dumps(comps, sort_keys=True))
        self.running[step] = time.time()
        self.worker.submit(req)
        self.set_status(step, StepStatus.RUNNING)

    def handle(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "started":
            self.store.set_step(self.run_id, event["key"], pid=event["pid"])
        elif kind == "handed-on":
            self.handed_on(event["key"])
        elif kind == "exited":
            self.exited[event["key"]] = event
        elif kind == "worker-exit":
            log = self.mask(_read_text(self.tmp / "zygote.log")[-2000:])
            for step in list(self.running):
                if step not in self.exited:
                    self.fail(step, "the worker process died" + (f":\n{log}" if log else ""))
                    self.running.pop(step)
            self.worker = None
        self._ingest_exited()

    def handed_on(self, step: str) -> None:
        """The step's values are written and handed on; its process is finishing."""
        try:
            metas = json.loads((self.tmp / step / "ready.json").read_text())["metas"]
        except (OSError, ValueError, KeyError):
            return  # its exit says what happened
        shas = {n: m["sha256"] for n, m in metas.items() if m.get("persisted", True)}
        kept = set(shas) | {n for n, m in metas.items() if m.get("persisted", True) is False}
        if any(n not in kept for n in self.project.steps[step].outputs):
            return  # ingest fails it ("did not return ...")
        try:  # the files it wrote, copied now: a step started from here may change them
            self.written[step] = self._store_written(self.project.steps[step])
        except OSError:
            return  # e.g. disk full: not handed on; ingest tries again and reports it
        for sha in shas.values():
            self.handoff[sha] = self.tmp / "handoff" / sha
        self.outputs[step] = shas
        self.store.set_step(self.run_id, step, status=StepStatus.STORING.value)
        self.set_status(step, StepStatus.STORING)

    def _ingest_exited(self) -> None:
        """Ingest the steps that exited, each only once no step it read from is still storing
        (its inputs are in the store, or their producer failed)."""
        for step in [s for s in self.project.order if s in self.exited]:
            ups = self.project.steps[step].upstream
            if any(self.status[u] is StepStatus.STORING for u in ups):
                continue
            event = self.exited.pop(step)
            try:
                self.ingest(step, event.get("returncode"))
                if "peak_rss_kb" in event and step not in self.errors:
                    self.store.record_resources(self.run_id, step, event["peak_rss_kb"],
                                                event["cpu_seconds"])
            except Exception as exc:  # noqa: BLE001 - e.g. disk full: the step failed
                self.fail(step, self.mask(f"could not store the outputs: "
                                          f"{type(exc).__name__}: {exc}"))
            self.running.pop(step, None)

    def ingest(self, step: str, returncode: int | None) -> None:
        """A step's process exited: store its outputs, files, metrics and logs, or fail it."""
        d = self.tmp / step
        logs = self.mask.logs({"stdout": _read_text(d / "stdout.log"),
                               "stderr": _read_text(d / "stderr.log")})
        try:
            result = json.loads((d / "result.json").read_text())
        except (OSError, ValueError):
            result = None
        if result is None or not result.get("ok"):
            self.fail(step, self.mask(_failure(result, returncode, self.status[step])), logs)
            return
        st = self.project.steps[step]
        lost = [u for u in st.upstream if self.status[u] is StepStatus.FAILED]
        if lost:  # it started from values that never reached the store: not kept either
            self.fail(step, f"upstream {', '.join(lost)} failed while storing the values "
                            "this step read", logs)
            return
        metas, not_persisted = self._store_values(d, result)
        handed = self.outputs.get(step)
        if handed is not None and handed != {n: m["sha256"] for n, m in metas.items()}:
            raise RuntimeError("the stored values differ from the ones handed on "
                               "(please report)")
        written = self.written.pop(step) if step in self.written else self._store_written(st)
        self.store.record_finished(self.run_id, step, metas=metas,
                                   written=written, metrics=_metrics(
                                       st, result, metas, self.store), logs=logs,
                                   ended=time.time(), not_persisted=not_persisted)
        self.outputs[step] = {n: m["sha256"] for n, m in metas.items()}
        missing = [n for n in st.outputs
                   if n not in self.outputs[step] and n not in not_persisted]
        if missing:
            err = f"step {step} did not return {', '.join(missing)}"
            self.errors[step] = err
            self.store.set_step(self.run_id, step, status=StepStatus.FAILED.value, error=err)
            self.set_status(step, StepStatus.FAILED, err)
            return
        took = time.time() - self.running.get(step, time.time())
        self.set_status(step, StepStatus.FINISHED, f"{took:.2f}s")

    def finish(self, interrupted: bool) -> RunResult:
        if interrupted:
            run_status = "interrupted"
            for step in self.project.order:
                if step in self.running or self.status[step] is StepStatus.PENDING:
                    self.store.record_failed(self.run_id, step, "interrupted", {},
                                             status=StepStatus.INTERRUPTED.value)
                    self.status[step] = StepStatus.INTERRUPTED
        elif all(s.done for s in self.status.values()):
            run_status = "finished"
        else:
            run_status = "failed"
        self.git_thread.join(timeout=10)
        self.store.set_git(self.run_id, self.git or {"error": "git information timed out"})
        self.store.end_run(self.run_id, run_status, "; ".join(
            f"{k}: {v.splitlines()[0] if v else v}" for k, v in self.errors.items()) or None)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.store.close()
        if self.lock is not None:
            self.lock.close()
        result = RunResult(self.run_id, run_status, {k: v.value for k, v in self.status.items()},
                           self.errors, time.time() - self.t0)
        self.display.finish(result)
        return result

    def close_worker(self) -> None:
        if self.worker is not None:
            self.worker.close()
        self.store.flush_stat_cache()

    # ---- helpers ----------------------------------------------------------------------------

    def _inputs_of(self, step: str) -> dict[str, str]:
        return {name: self.outputs[src][name] for name, src in self.project.steps[step].inputs}

    def _restore_written(self, source_id: int) -> None:
        """A cached step's side-effect files are put back if they changed on disk."""
        for row in self.store.written_of(source_id):
            path = self.project.data_path(row["path"])
            if self.store.data_hash(path) == row["sha"]:
                continue
            blob = self.store.file_blob(row["sha"])
            if not blob.exists():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f".{path.name}.nb2pipe-{os.getpid()}.tmp")
            shutil.copyfile(blob, part)
            os.replace(part, path)

    def _store_values(self, d: Path, result: dict) -> tuple[dict[str, dict], dict[str, dict]]:
        """The step's values into the store; final values that cannot be serialized are
        recorded as not persisted, with the reason."""
        metas: dict[str, dict] = {}
        not_persisted: dict[str, dict] = {}
        for name, meta in result["metas"].items():
            if meta.get("persisted", True) is False:
                not_persisted[name] = {"type": meta.get("type"),
                                       "reason": self.mask(str(meta.get("reason", "")))}
            else:
                metas[name] = self.store.put_value(d / "out" / name)
        return metas, not_persisted

    def _store_written(self, st) -> list[tuple[str, str, int]]:
        written = []
        for p in st.writes:
            path = self.project.data_path(p)
            if path.is_file():
                sha, size = self.store.put_file(path, self.tmp)
                written.append((p, sha, size))
        return written


def _failure(result: dict | None, returncode: int | None, status: StepStatus) -> str:
    if result is not None:
        return result.get("error", "failed")
    storing = " while storing its values" if status is StepStatus.STORING else ""
    if returncode is not None and returncode < 0:
        return f"killed by signal {-returncode}{storing}"
    return f"the step process exited with code {returncode}{storing} without a result"


def _metrics(st, result: dict, metas: dict[str, dict],
             store: Store) -> dict[str, tuple[Any, str]]:
    """Scalars the step returned (its declared metrics marked so), and declared metrics that
    were stored as JSON values."""
    metrics: dict[str, tuple[Any, str]] = {}
    for name, value in result.get("scalars", {}).items():
        if not name.startswith("_"):
            metrics[name] = (value, "metric" if name in st.metrics else "scalar")
    for name in st.metrics:
        if name not in metrics and name in metas and metas[name]["format"] == "json":
            art = store.artifact_dir(metas[name]["sha256"]) / metas[name]["file"]
            metrics[name] = (json.loads(art.read_text()), "metric")
    return metrics
