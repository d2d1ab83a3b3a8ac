"""REST handlers of the workbench: run, cancel, runs and staleness, verify, submit.

The same guarantees as the conversion endpoints (handlers.py): authenticated, authorized
(resource `nb2pipe`; starting a run, a verify or a submit is the `execute` action, as running
a kernel is), XSRF-checked for cookie sessions, paths confined to the server root (symlinks
included), typed request fields, 4xx with a message for bad input. A project is a generated
folder under the root (holds nb2pipe.plan.json); a job never runs one whose folder, working
folder or any symlink inside leads out of the root.

Each endpoint is a thin front end over the code the CLI runs: the jobs are `nb2pipe run` and
`nb2pipe verify --json` (jobs.py); runs, comparisons, logs and staleness come from
runner/report.py, the submit dry run from `nb2pipe submit --dry-run`. Kubeconfig, tokens and
the KFP host stay in the server's environment: the browser cannot name them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from jupyter_server.auth.decorator import authorized
from tornado import web

from nb2pipe.jupyter.handlers import _Handler, hidden_part, text_field
from nb2pipe.jupyter.jobs import Job, JobBusy, JobManager
from nb2pipe.planning.model import PLAN_FILE
from nb2pipe.tracking.store import STORE_DIR

SUBMIT_TIMEOUT = 120  # seconds; kfp's first request alone may take 30
MAX_PARAMS = 100
_PARAM = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_RUN_REF = re.compile(r"^(\d{1,12}|latest(~\d{1,6})?)$")
# what the browser may never set: credentials and where they are sent stay on the server
_SERVER_SIDE = {"kubeconfig", "context", "token", "token_file", "host", "service_account",
                "artifact_repo", "data_from"}


def jobs_of(settings: dict[str, Any]) -> JobManager:
    """The server's job manager (one per web application, made when the routes are)."""
    return settings["nb2pipe_jobs"]


class _WorkbenchHandler(_Handler):
    # ---- request fields ----------------------------------------------------------------
    def _fields(self, allowed: set[str]) -> dict[str, Any]:
        data = self._json_body()
        unknown = sorted(set(data) - allowed)
        if unknown:
            hint = ("; credentials and cluster settings stay on the server (its environment "
                    "and kubeconfig)" if set(unknown) & _SERVER_SIDE else "")
            raise web.HTTPError(400, f"unknown field(s): {', '.join(unknown)}{hint}")
        return data

    @staticmethod
    def _flag(data: dict[str, Any], name: str, default: bool) -> bool:
        value = data.get(name, default)
        if not isinstance(value, bool):
            raise web.HTTPError(400, f"{name!r} must be a boolean")
        return value

    @staticmethod
    def _params(value: Any) -> list[str]:
        """Parameter overrides as the CLI takes them: a list of "NAME=VALUE" strings."""
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_PARAMS or not all(
                isinstance(v, str) and _PARAM.match(v) and "\x00" not in v for v in value):
            raise web.HTTPError(400, "'params' must be a list of \"NAME=VALUE\" strings "
                                     "(NAME a Python identifier)")
        return value

    # ---- the project --------------------------------------------------------------------
    async def _project(self, api_path: Any) -> Path:
        """The real folder of a generated project under the root (404 when it is none)."""
        if api_path is None:
            raise web.HTTPError(400, "missing project path (the generated project folder)")
        text = text_field(api_path, "project", required=True)
        folder = self._resolve(text, must_exist=False, what="project")
        if not folder.is_dir() or not (folder / PLAN_FILE).is_file():
            raise web.HTTPError(404, f"no generated project at {text!r} (no {PLAN_FILE}); "
                                     "convert the notebook first")
        hidden = hidden_part(PurePosixPath(self._api_path(folder)))
        if hidden and not self._allow_hidden():
            raise web.HTTPError(404, f"no generated project at {text!r}")
        return folder

    def _confined_tree(self, project: Path) -> None:
        """Before a job starts (blocking): the working folder the plan names, and every
        symlink in the project, stay inside the root. The store (.nb2pipe) is the runner's
        own: its folder must stay inside, its contents are not walked."""
        from nb2pipe.runner.project import Project, ProjectError

        try:
            workdir = Project(project).workdir
        except ProjectError as exc:
            raise web.HTTPError(400, str(exc).replace(str(self._root()) + os.sep, "")) from None
        self._confine(workdir, "the project's working folder", "working folder")
        for dirpath, dirnames, filenames in os.walk(project):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                if name == STORE_DIR or path.is_symlink():
                    self._confine(path, path.relative_to(project).as_posix(),
                                  "a file in the project")
            dirnames[:] = [d for d in dirnames if d != STORE_DIR]

    def _check_params(self, project: Path, params: list[str]) -> None:
        from nb2pipe.runner.project import Project, ProjectError

        try:
            Project(project).parse_params(params)
        except ProjectError as exc:
            raise web.HTTPError(400, str(exc)) from None

    def _start(self, kind: str, project: Path, args: list[str]) -> Job:
        try:
            return jobs_of(self.settings).start(kind, project, args, cwd=project)
        except JobBusy as exc:
            raise web.HTTPError(409, f"{self._api_path(project)}: {exc}") from None


# ---- run ------------------------------------------------------------------------------------

class RunHandler(_WorkbenchHandler):
    """POST /nb2pipe/run {"project", "params"?, "no_cache"?} — start `nb2pipe run` as a job
    (409 while the project has one). GET /nb2pipe/run?project= — the live or last run: each
    step's state (pending = queued, running, cached, finished, failed, skipped, interrupted)
    and time, and the failed steps' logs (masked by the runner before they were stored)."""

    @web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        data = self._fields({"project", "params", "no_cache"})
        project = await self._project(data.get("project"))
        params = self._params(data.get("params"))
        no_cache = self._flag(data, "no_cache", False)
        await self._off_loop("run", self._prepare, project, params)
        args = ["run", str(project), "--json"] + [f"--param={p}" for p in params] + (
            ["--no-cache"] if no_cache else [])
        job = self._start("run", project, args)
        self.set_status(202)
        self._reply({"project": self._api_path(project), "job": job.to_json()})

    def _prepare(self, project: Path, params: list[str]) -> None:
        self._confined_tree(project)
        self._check_params(project, params)

    @web.authenticated
    @authorized
    async def get(self) -> None:
        project = await self._project(self._query("project"))
        self._reply(await self._off_loop("run progress", _stored, project,
                                         lambda _: self._progress(project)))

    def _progress(self, project: Path) -> dict[str, Any]:
        jobs = jobs_of(self.settings)
        job = jobs.last(project, "run")
        run_id = _run_of(project, job) if job is not None else _latest_run(project)
        out: dict[str, Any] = {"project": self._api_path(project),
                               "job": job.to_json() if job else None, "run": None,
                               "failures": [], "job_error": None}
        if run_id is not None:
            out["run"], out["failures"] = _run_progress(project, run_id)
        if job is not None and not job.live and job.state == "failed" and run_id is None:
            out["job_error"] = _tail(job.output("stderr")) or f"exit code {job.returncode}"
        return out


def _store_db(project: Path) -> Path:
    return project / STORE_DIR / "runs.db"


def _run_of(project: Path, job: Job) -> int | None:
    """The run a job's `nb2pipe run` process recorded (its pid, started after the job)."""
    if not _store_db(project).is_file():
        return None
    from nb2pipe.tracking.store import Store

    store = Store(project, create=False)
    try:
        row = store.one("SELECT id FROM runs WHERE pid=? AND started>=? ORDER BY id DESC "
                        "LIMIT 1", (job.pid, job.started - 1))
        return int(row[0]) if row else None
    finally:
        store.close()


def _latest_run(project: Path) -> int | None:
    if not _store_db(project).is_file():
        return None
    from nb2pipe.tracking.store import Store, StoreError

    store = Store(project, create=False)
    try:
        return store.resolve_run("latest")
    except StoreError:
        return None
    finally:
        store.close()


def _run_progress(project: Path, run_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One run as the panel shows it, and the logs of its failed steps (`nb2pipe runs show`
    and `runs logs`)."""
    from nb2pipe.runner import report

    run = report.show_run(project, str(run_id))
    now = time.time()
    steps = []
    for name, s in run["step_runs"].items():
        entry = {"step": name, "status": s["status"], "seconds": s["seconds"],
                 "cached_from_run": s["cached_from_run"], "error": s["error"]}
        if s["status"] == "running" and s["started"]:
            entry["elapsed"] = round(now - s["started"], 1)
        steps.append(entry)
    summary = {k: run[k] for k in ("id", "status", "started", "ended", "seconds", "params",
                                   "overrides", "metrics", "error")}
    summary["steps"] = steps
    failures = []
    for s in steps:
        if s["status"] == "failed":
            logs = report.step_logs(project, str(run_id), s["step"])
            failures.append({"step": s["step"], "error": logs["error"],
                             "stdout": logs["stdout"], "stderr": logs["stderr"]})
    return summary, failures


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class CancelHandler(_WorkbenchHandler):
    """POST /nb2pipe/cancel {"project"} — stop the project's live job (run or verify) and
    every process it started; 409 when none is live."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self._fields({"project"})
        project = await self._project(data.get("project"))
        jobs = jobs_of(self.settings)
        job = jobs.live(project)
        if job is None:
            raise web.HTTPError(409, f"{self._api_path(project)}: no run or verify in progress")
        await self._off_loop("cancel", jobs.cancel, job)
        self._reply({"project": self._api_path(project), "job": job.to_json()})


# ---- runs and staleness --------------------------------------------------------------------

class RunsHandler(_WorkbenchHandler):
    """GET /nb2pipe/runs?project= — the recorded runs (status, time, parameters, metrics) and
    what `nb2pipe run` would recompute now, and why (`nb2pipe status`)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        project = await self._project(self._query("project"))
        self._reply(await self._off_loop("runs", _stored, project,
                                         lambda _: self._runs(project)))

    def _runs(self, project: Path) -> dict[str, Any]:
        from nb2pipe.runner import report

        runs = report.list_runs(project) if report.store_exists(project) else []
        status = report.project_status(project)
        status["project"] = self._api_path(project)
        return {"project": self._api_path(project), "runs": runs, "status": status}


class CompareHandler(_WorkbenchHandler):
    """GET /nb2pipe/runs/compare?project=&a=&b= — two runs side by side (`runs compare`)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        project = await self._project(self._query("project"))
        a, b = self._run_ref("a"), self._run_ref("b")
        self._reply(await self._off_loop("comparison", _stored, project,
                                         lambda r: r.compare_runs(project, a, b)))

    def _run_ref(self, name: str) -> str:
        ref = self._query(name)
        if not ref or not _RUN_REF.match(ref):
            raise web.HTTPError(400, f"{name!r} must be a run id (or latest, latest~N)")
        return ref


class LogsHandler(CompareHandler):
    """GET /nb2pipe/runs/logs?project=&run=&step= — a step's stored stdout/stderr."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        project = await self._project(self._query("project"))
        run = self._run_ref("run")
        step = text_field(self._query("step"), "step", required=True)
        self._reply(await self._off_loop("logs", _stored, project,
                                         lambda r: r.step_logs(project, run, step)))


def _stored(project: Path, read: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """read(report module) on the project's store; what the store does not hold is a 404, a
    project the runner cannot read (its package deleted, its plan broken) a 409."""
    from nb2pipe.runner import report
    from nb2pipe.runner.project import ProjectError
    from nb2pipe.tracking.store import StoreError

    try:
        return read(report)
    except (StoreError, KeyError) as exc:
        raise web.HTTPError(404, str(exc).strip("'\"")) from None
    except ProjectError as exc:
        where = str(project.parent) + os.sep
        raise web.HTTPError(409, str(exc).replace(where, "")) from None


# ---- verify --------------------------------------------------------------------------------

class VerifyHandler(_WorkbenchHandler):
    """POST /nb2pipe/verify {"path": notebook, "project"?} — start `nb2pipe verify --json` as
    a job (the notebook runs once in a kernel, each step in a fresh interpreter). GET
    /nb2pipe/verify?project= — the job and, when it is done, the report: per step, each value
    equal / different / nondeterministic / not comparable, and step errors."""

    @web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        data = self._fields({"path", "project"})
        nb = await self._notebook(text_field(data.get("path"), "path", required=True))
        if data.get("project") is None:
            from nb2pipe.hooks.check import outdir_for

            data["project"] = self._api_path(self._confine(outdir_for(nb), "project",
                                                           "project"))
        project = await self._project(data["project"])
        await self._off_loop("verify", self._confined_tree, project)
        job = self._start("verify", project, ["verify", str(nb), "-o", str(project), "--json"])
        self.set_status(202)
        self._reply({"project": self._api_path(project), "job": job.to_json()})

    @web.authenticated
    @authorized
    async def get(self) -> None:
        project = await self._project(self._query("project"))
        job = jobs_of(self.settings).last(project, "verify")
        out: dict[str, Any] = {"project": self._api_path(project),
                               "job": job.to_json() if job else None, "report": None,
                               "error": None}
        if job is not None and not job.live:
            out["report"], out["error"] = _verify_report(job)
        self._reply(out)


def _verify_report(job: Job) -> tuple[dict[str, Any] | None, str | None]:
    if job.cancelled:
        return None, "cancelled"
    try:
        report = json.loads(job.output("stdout"))
    except ValueError:
        report = None
    if isinstance(report, dict) and "steps" in report:
        report["project"] = job.project.name  # not the server's absolute path
        return report, None
    return None, _tail(job.output("stderr")) or f"nb2pipe verify exited {job.returncode}"


# ---- submit --------------------------------------------------------------------------------

class SubmitHandler(_WorkbenchHandler):
    """POST /nb2pipe/submit {"project", "engine", "image"?, "namespace"?, "params"?,
    "dry_run"} — `nb2pipe submit`. A dry run answers the YAML (or the KFP request) that would
    be sent; a real submit uses the server's kubeconfig / KFP token. "Not submitted" (no
    cluster, refused, project not ready) is a 409 with the command's one-sentence reason."""

    @web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        data = self._fields({"project", "engine", "image", "namespace", "params", "dry_run"})
        project = await self._project(data.get("project"))
        engine = data.get("engine", "argo")
        if engine not in ("argo", "kfp"):
            raise web.HTTPError(400, "'engine' must be argo or kfp")
        image = text_field(data.get("image") or None, "image", required=False)
        if image is not None and not _IMAGE.match(image):
            raise web.HTTPError(400, f"'image' {image!r} is not an image reference "
                                     "(REGISTRY/NAME:TAG or @sha256:...)")
        namespace = text_field(data.get("namespace") or None, "namespace", required=False)
        if namespace is not None and not _NAMESPACE.match(namespace):
            raise web.HTTPError(400, f"'namespace' {namespace!r} is not a Kubernetes "
                                     "namespace name (lowercase letters, digits, '-')")
        params = self._params(data.get("params"))
        dry_run = self._flag(data, "dry_run", True)
        args = ["submit", str(project), f"--engine={engine}"] + (
            [f"--image={image}"] if image else []) + (
            [f"--namespace={namespace}"] if namespace else []) + [
            f"--param={p}" for p in params] + (["--dry-run"] if dry_run else [])
        res = await self._off_loop("submit", self._submit, project, args)
        res.update({"project": self._api_path(project), "engine": engine, "dry_run": dry_run})
        self._reply(res)

    def _submit(self, project: Path, args: list[str]) -> dict[str, Any]:
        self._confined_tree(project)
        try:
            proc = subprocess.run([sys.executable, "-m", "nb2pipe", *args], cwd=str(project),
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=SUBMIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise web.HTTPError(409, f"nb2pipe submit gave no answer in {SUBMIT_TIMEOUT} s; "
                                     "is the cluster reachable from the server?") from None
        root = str(self._root()) + os.sep
        if proc.returncode != 0:
            reason = _tail(proc.stderr, 5).replace("nb2pipe submit: ", "").replace(root, "")
            raise web.HTTPError(400 if proc.returncode == 2 else 409,
                                reason or f"nb2pipe submit exited {proc.returncode}")
        return {"submitted": "--dry-run" not in args,
                "output": proc.stdout.replace(root, "")}


def routes(base_join: Callable[..., str]) -> list[tuple[str, type]]:
    """(url, handler) pairs; `base_join(*parts)` makes a URL under the server's base URL."""
    return [
        (base_join("nb2pipe", "run"), RunHandler),
        (base_join("nb2pipe", "cancel"), CancelHandler),
        (base_join("nb2pipe", "runs"), RunsHandler),
        (base_join("nb2pipe", "runs", "compare"), CompareHandler),
        (base_join("nb2pipe", "runs", "logs"), LogsHandler),
        (base_join("nb2pipe", "verify"), VerifyHandler),
        (base_join("nb2pipe", "submit"), SubmitHandler),
    ]
