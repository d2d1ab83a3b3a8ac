"""The workbench endpoints (run, cancel, runs, compare, logs, verify, submit) through a real
jupyter-server: real `nb2pipe run` / `verify` / `submit` child processes, a real kernel."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from workbench_nb import write_workbench_sample

pytest_plugins = ["pytest_jupyter.jupyter_server"]

PROJECT = "work/demand_pipeline"
WAIT = 120  # seconds at most for a job to reach the state a test waits for (not asserted)


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nb2pipe.jupyter": True}}}


@pytest.fixture
def project(jp_root_dir, monkeypatch, tmp_path):
    from nb2pipe.api import convert

    # no cluster credentials anywhere: a real submit must say so
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    nb = write_workbench_sample(jp_root_dir / "work" / "demand.ipynb")
    res = convert(nb, jp_root_dir / PROJECT)
    assert res.status == "converted", res.diagnostics
    return jp_root_dir / PROJECT


async def _error(coro) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as info:
        await coro
    body = info.value.response.body if info.value.response is not None else b"{}"
    return info.value.code, json.loads(body or b"{}")


async def _post(jp_fetch, endpoint: str, body: dict, **kw) -> dict:
    r = await jp_fetch("nb2pipe", *endpoint.split("/"), method="POST", body=json.dumps(body),
                       **kw)
    return json.loads(r.body)


async def _get(jp_fetch, endpoint: str, **params) -> dict:
    r = await jp_fetch("nb2pipe", *endpoint.split("/"), params=params)
    return json.loads(r.body)


async def _until(jp_fetch, endpoint: str, done, **params) -> dict:
    """Poll GET endpoint until done(reply); the reply. Waiting, never a timed assertion: the
    deadline only turns a hang into a failure with the last reply."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        data = await _get(jp_fetch, endpoint, **params)
        if done(data):
            return data
        assert loop.time() < deadline, f"gave up waiting; last reply: {data}"
        await asyncio.sleep(0.1)


def _ended(data: dict) -> bool:
    return data["job"] is not None and data["job"]["state"] != "running"


async def _run(jp_fetch, *params: str) -> dict:
    started = await _post(jp_fetch, "run", {"project": PROJECT, "params": list(params)})
    assert started["job"]["state"] == "running"
    return await _until(jp_fetch, "run", _ended, project=PROJECT)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").is_file() and \
        Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


# ---- run ------------------------------------------------------------------------------------

async def test_run_reports_each_step_to_finished(jp_fetch, project):
    data = await _run(jp_fetch)
    assert data["job"]["state"] == "finished" and data["job"]["returncode"] == 0
    run = data["run"]
    assert run["status"] == "finished"
    assert [(s["step"], s["status"]) for s in run["steps"]] == [
        ("load", "finished"), ("train", "finished"), ("report", "finished")]
    assert all(isinstance(s["seconds"], float) for s in run["steps"])
    assert run["metrics"]["score"] == 3.2
    assert data["failures"] == []
    # the second run is served from the store
    data = await _run(jp_fetch)
    assert [s["status"] for s in data["run"]["steps"]] == ["cached"] * 3
    assert data["run"]["steps"][0]["cached_from_run"] == run["id"]


async def test_a_failed_step_comes_with_its_log(jp_fetch, project):
    data = await _run(jp_fetch, "fail=True")
    assert data["job"]["state"] == "failed"
    assert [(s["step"], s["status"]) for s in data["run"]["steps"]] == [
        ("load", "finished"), ("train", "failed"), ("report", "skipped")]
    [failure] = data["failures"]
    assert failure["step"] == "train"
    assert "failed on purpose" in failure["error"]
    assert "training on 3 rows" in failure["stdout"]
    # the same log through runs/logs
    logs = await _get(jp_fetch, "runs/logs", project=PROJECT, run=str(data["run"]["id"]),
                      step="train")
    assert "training on 3 rows" in logs["stdout"]


async def test_a_secret_in_a_failing_step_log_stays_masked(jp_fetch, jp_root_dir):
    """The failure log is the store's: the runner masked secrets before storing it."""
    from conftest import make_notebook

    from nb2pipe.api import convert

    nb = make_notebook(jp_root_dir / "sec" / "svc.ipynb", [
        ("md", "## Load"),
        ("code", "API_KEY = 'sk_live_51HqLyjWDarjtT1zdp7dcXYZabc'\nrows = [1, 2]"),
        ("md", "## Call"),
        ("code", "print('calling with', API_KEY)\nraise RuntimeError('service down')")])
    assert convert(nb, jp_root_dir / "sec" / "svc_pipeline").status == "converted"
    (jp_root_dir / "sec" / "svc_pipeline" / "secrets.local.env").unlink(missing_ok=True)
    os.environ["API_KEY"] = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabc"
    try:
        await _post(jp_fetch, "run", {"project": "sec/svc_pipeline"})
        data = await _until(jp_fetch, "run", _ended, project="sec/svc_pipeline")
    finally:
        del os.environ["API_KEY"]
    failure = data["failures"][-1]
    assert "service down" in failure["error"]
    assert "calling with" in failure["stdout"]
    assert "sk_live_51HqLyjWDarjtT1zdp7dcXYZabc" not in json.dumps(data)


async def test_one_run_per_project_and_cancel_stops_every_process(jp_fetch, project):
    started = await _post(jp_fetch, "run", {"project": PROJECT, "params": ["delay=300.0"]})
    pid = started["job"]["pid"]
    data = await _until(jp_fetch, "run", lambda d: d["run"] is not None and any(
        s["status"] == "running" and s["step"] == "train" for s in d["run"]["steps"]),
                        project=PROJECT)
    assert data["job"]["state"] == "running"
    assert [s["status"] for s in data["run"]["steps"]] == ["finished", "running", "pending"]
    from nb2pipe.jupyter.jobs import descendants

    below = descendants(pid)
    assert below, "the run's step processes"
    # a second run, or a verify, of the same project is refused while it runs
    code, body = await _error(_post(jp_fetch, "run", {"project": PROJECT}))
    assert code == 409 and "in progress" in body["message"]
    code, body = await _error(_post(jp_fetch, "verify", {"path": "work/demand.ipynb"}))
    assert code == 409 and "in progress" in body["message"]

    cancelled = await _post(jp_fetch, "cancel", {"project": PROJECT})
    assert cancelled["job"]["state"] == "cancelled"
    assert not _alive(pid) and not [p for p in below if _alive(p)]
    data = await _get(jp_fetch, "run", project=PROJECT)
    assert data["run"]["status"] == "interrupted"
    assert data["run"]["steps"][1]["status"] == "interrupted"
    code, body = await _error(_post(jp_fetch, "cancel", {"project": PROJECT}))
    assert code == 409 and "no run" in body["message"]
    # the project is free again
    assert (await _run(jp_fetch))["run"]["status"] == "finished"


# ---- runs, comparison, staleness -----------------------------------------------------------

async def test_runs_compare_and_staleness(jp_fetch, project):
    data = await _get(jp_fetch, "runs", project=PROJECT)
    assert data["runs"] == []
    assert data["status"]["stale"] == ["load", "train", "report"]
    first = (await _run(jp_fetch))["run"]["id"]
    second = (await _run(jp_fetch, "scale=3"))["run"]["id"]
    data = await _get(jp_fetch, "runs", project=PROJECT)
    runs = {r["id"]: r for r in data["runs"]}
    assert runs[first]["status"] == runs[second]["status"] == "finished"
    assert runs[second]["overrides"] == {"scale": 3}
    assert runs[first]["metrics"]["score"] == 3.2 and runs[second]["metrics"]["score"] == 4.8
    assert data["status"]["stale"] == []  # the defaults' run is in the store

    cmp = await _get(jp_fetch, "runs/compare", project=PROJECT, a=str(first), b=str(second))
    assert cmp["params"] == {"scale": {"a": 2, "b": 3}}
    assert cmp["metrics"]["score"]["changed"] and cmp["metrics"]["score"]["delta"] == \
        pytest.approx(1.6)
    assert "train.total" in cmp["changed_artifacts"]
    assert "load.rows" not in cmp["changed_artifacts"]

    # a hand edit of a step makes it, and what follows it, stale
    step = project / "demand_pipeline" / "steps" / "train.py"
    step.write_text(step.read_text().replace("* scale", "* scale + 1"))
    status = (await _get(jp_fetch, "runs", project=PROJECT))["status"]
    assert status["stale"] == ["train", "report"]
    assert status["steps"]["train"]["reasons"][0]["kind"] == "code"
    assert status["project"] == PROJECT  # no absolute server path

    code, body = await _error(_get(jp_fetch, "runs/compare", project=PROJECT, a="1", b="99"))
    assert code == 404 and "99" in body["message"]


# ---- verify ---------------------------------------------------------------------------------

async def test_verify_reports_each_value_per_step(jp_fetch, project):
    started = await _post(jp_fetch, "verify", {"path": "work/demand.ipynb"})
    assert started["project"] == PROJECT
    data = await _until(jp_fetch, "verify", _ended, project=PROJECT)
    report = data["report"]
    assert report["ok"] is True, data
    assert [(s["step"], [(v["name"], v["status"]) for v in s["values"]])
            for s in report["steps"]] == [("load", [("rows", "equal")]),
                                          ("train", [("total", "equal")]),
                                          ("report", [("score", "equal")])]
    assert report["project"] == "demand_pipeline"

    # a pipeline that computes something else: the values that differ, by step
    step = project / "demand_pipeline" / "steps" / "train.py"
    step.write_text(step.read_text().replace("* scale", "* scale + 1"))
    await _post(jp_fetch, "verify", {"path": "work/demand.ipynb", "project": PROJECT})
    report = (await _until(jp_fetch, "verify", _ended, project=PROJECT))["report"]
    assert report["ok"] is False
    status = {(s["step"], v["name"]): v["status"] for s in report["steps"] for v in s["values"]}
    assert status == {("load", "rows"): "equal", ("train", "total"): "different",
                      ("report", "score"): "different"}


# ---- submit ---------------------------------------------------------------------------------

async def test_submit_dry_run_shows_the_workflow(jp_fetch, project):
    data = await _post(jp_fetch, "submit", {"project": PROJECT, "engine": "argo",
                                            "image": "registry.example/demand:1",
                                            "namespace": "ml-team", "params": ["scale=5"],
                                            "dry_run": True})
    assert data["submitted"] is False and data["dry_run"] is True
    out = data["output"]
    assert "kind: Workflow" in out and "namespace: ml-team" in out
    assert "value: registry.example/demand:1" in out
    assert str(project.parent) not in out


async def test_submit_without_a_cluster_says_so(jp_fetch, project):
    code, body = await _error(_post(jp_fetch, "submit", {"project": PROJECT, "engine": "argo",
                                                         "image": "r/x:1", "dry_run": False}))
    assert code == 409 and "no Kubernetes credentials" in body["message"]
    code, body = await _error(_post(jp_fetch, "submit", {"project": PROJECT, "engine": "kfp",
                                                         "dry_run": True}))
    assert code == 409 and "kfp-pipeline.yaml not found" in body["message"]


@pytest.mark.parametrize("field", ["kubeconfig", "token", "host", "context"])
async def test_credentials_cannot_come_from_the_browser(jp_fetch, project, field):
    code, body = await _error(_post(jp_fetch, "submit", {"project": PROJECT, "dry_run": False,
                                                         field: "/tmp/x"}))
    assert code == 400 and "stay on the server" in body["message"]


# ---- the guarantees of every endpoint --------------------------------------------------------

POSTS = [("run", {"project": PROJECT}), ("verify", {"path": "work/demand.ipynb"}),
         ("cancel", {"project": PROJECT}),
         ("submit", {"project": PROJECT, "image": "r/x:1", "dry_run": True})]
GETS = [("run", {"project": PROJECT}), ("runs", {"project": PROJECT}),
        ("verify", {"project": PROJECT}),
        ("runs/compare", {"project": PROJECT, "a": "1", "b": "2"}),
        ("runs/logs", {"project": PROJECT, "run": "1", "step": "train"})]


@pytest.mark.parametrize("endpoint,body", POSTS)
async def test_posts_need_authentication_and_xsrf(jp_fetch, jp_serverapp, project, endpoint,
                                                  body):
    code, reply = await _error(_post(jp_fetch, endpoint, body, headers={"Authorization": ""}))
    assert code == 403 and reply.get("message")
    token = jp_serverapp.identity_provider.token
    login = await jp_fetch("api", "status", params={"token": token},
                           headers={"Authorization": ""})
    cookies = SimpleCookie()
    for header in login.headers.get_list("Set-Cookie"):
        cookies.load(header)
    session = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    assert any(k.startswith("username-") for k in cookies)
    code, _ = await _error(_post(jp_fetch, endpoint, body,
                                 headers={"Authorization": "", "Cookie": session}))
    assert code == 403
    assert jp_serverapp.web_app.settings["nb2pipe_jobs"].last(project, "run") is None
    assert jp_serverapp.web_app.settings["nb2pipe_jobs"].last(project, "verify") is None
    if "_xsrf" not in cookies:
        page = await jp_fetch("login", headers={"Authorization": ""})
        for header in page.headers.get_list("Set-Cookie"):
            cookies.load(header)
    session = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    headers = {"Authorization": "", "Cookie": session,
               "X-XSRFToken": urllib.parse.unquote(cookies["_xsrf"].value)}
    if endpoint == "cancel":  # accepted: nothing to cancel is a 409, not a 403
        code, _ = await _error(_post(jp_fetch, endpoint, body, headers=headers))
        assert code == 409
    else:
        assert await _post(jp_fetch, endpoint, body, headers=headers)
        jobs = jp_serverapp.web_app.settings["nb2pipe_jobs"]
        job = jobs.live(project)
        if job is not None:
            await asyncio.get_running_loop().run_in_executor(None, jobs.cancel, job)


@pytest.mark.parametrize("endpoint,params", GETS)
async def test_gets_need_authentication(jp_fetch, project, endpoint, params):
    code, reply = await _error(jp_fetch("nb2pipe", *endpoint.split("/"), params=params,
                                        headers={"Authorization": ""}))
    assert code == 403 and reply.get("message")


OUTSIDE = ["../outside_pipeline", "/etc", "work/../../outside_pipeline", "linked_pipeline",
           "%2e%2e/outside_pipeline", "linkdir/outside_pipeline"]


@pytest.mark.parametrize("where", OUTSIDE)
async def test_projects_outside_the_root_are_refused(jp_fetch, jp_serverapp, jp_root_dir,
                                                     tmp_path, project, where):
    import shutil

    outside = tmp_path / "outside_pipeline"
    shutil.copytree(project, outside)
    os.symlink(outside, jp_root_dir / "linked_pipeline")
    os.symlink(tmp_path, jp_root_dir / "linkdir")
    requests = [("POST", e, dict(b, project=where)) for e, b in POSTS if "project" in b] + [
        ("GET", e, dict(p, project=where)) for e, p in GETS]
    requests.append(("POST", "verify", {"path": "work/demand.ipynb", "project": where}))
    for method, endpoint, data in requests:
        if method == "POST":
            code, body = await _error(_post(jp_fetch, endpoint, data))
        else:
            code, body = await _error(_get(jp_fetch, endpoint, **data))
        assert code in (403, 404), (endpoint, where, code)
        assert body.get("message")
    assert not (outside / ".nb2pipe").exists()
    jobs = jp_serverapp.web_app.settings["nb2pipe_jobs"]
    assert jobs.last(outside, "run") is None and jobs.last(project, "run") is None


async def test_a_project_leading_out_of_the_root_is_not_run(jp_fetch, jp_root_dir, tmp_path,
                                                            project):
    # a symlink inside the project
    (tmp_path / "elsewhere").mkdir()
    link = project / "data_link"
    os.symlink(tmp_path / "elsewhere", link)
    for endpoint, body in [("run", {"project": PROJECT}),
                           ("verify", {"path": "work/demand.ipynb"}),
                           ("submit", {"project": PROJECT, "image": "r/x:1", "dry_run": True})]:
        code, reply = await _error(_post(jp_fetch, endpoint, body))
        assert code == 403 and "data_link" in reply["message"], (endpoint, reply)
    link.unlink()
    # a store folder that is a symlink out
    os.symlink(tmp_path / "elsewhere", project / ".nb2pipe")
    code, reply = await _error(_post(jp_fetch, "run", {"project": PROJECT}))
    assert code == 403 and ".nb2pipe" in reply["message"]
    (project / ".nb2pipe").unlink()
    # a plan whose working folder is outside the root
    plan = json.loads((project / "nb2pipe.plan.json").read_text())
    plan["workdir"] = "../../../.."
    (project / "nb2pipe.plan.json").write_text(json.dumps(plan))
    code, reply = await _error(_post(jp_fetch, "run", {"project": PROJECT}))
    assert code in (400, 403) and reply["message"]
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert not (project / ".nb2pipe").exists()


BAD = [
    ("run", b"{not json", "not JSON"),
    ("run", json.dumps([PROJECT]).encode(), "JSON object"),
    ("run", json.dumps({"project": 3}).encode(), "'project' must be a string"),
    ("run", json.dumps({"project": PROJECT, "params": "scale=3"}).encode(), "NAME=VALUE"),
    ("run", json.dumps({"project": PROJECT, "params": ["--no-cache"]}).encode(), "NAME=VALUE"),
    ("run", json.dumps({"project": PROJECT, "params": ["nope=1"]}).encode(), "nope"),
    ("run", json.dumps({"project": PROJECT, "no_cache": "yes"}).encode(), "boolean"),
    ("run", json.dumps({"project": PROJECT, "extra": 1}).encode(), "unknown field"),
    ("run", json.dumps({"project": "work"}).encode(), "no generated project"),
    ("cancel", json.dumps({}).encode(), "missing project"),
    ("verify", json.dumps({"path": "work/nope.ipynb"}).encode(), "no such notebook"),
    ("verify", json.dumps({"path": "work/demand_pipeline/README.md"}).encode(), "not a notebook"),
    ("submit", json.dumps({"project": PROJECT, "engine": "spark"}).encode(), "argo or kfp"),
    ("submit", json.dumps({"project": PROJECT, "image": "a b"}).encode(), "image reference"),
    ("submit", json.dumps({"project": PROJECT, "image": "--kubeconfig=/x"}).encode(),
     "image reference"),
    ("submit", json.dumps({"project": PROJECT, "namespace": "Bad_NS"}).encode(), "namespace"),
    ("submit", json.dumps({"project": PROJECT, "dry_run": "no"}).encode(), "boolean"),
]


@pytest.mark.parametrize("endpoint,body,message", BAD)
async def test_bad_requests_get_a_4xx_with_a_message(jp_fetch, jp_serverapp, project,
                                                     endpoint, body, message):
    code, reply = await _error(jp_fetch("nb2pipe", endpoint, method="POST", body=body))
    assert 400 <= code < 500 and message in reply["message"], (code, reply)
    assert jp_serverapp.web_app.settings["nb2pipe_jobs"].last(project, "run") is None


@pytest.mark.parametrize("params,message", [
    ({"a": "x", "b": "1"}, "run id"), ({"a": "1"}, "run id"),
    ({"a": "1; drop", "b": "2"}, "run id")])
async def test_bad_run_references_are_400(jp_fetch, project, params, message):
    code, reply = await _error(_get(jp_fetch, "runs/compare", project=PROJECT, **params))
    assert code == 400 and message in reply["message"]


class TestAuthorization:
    """Starting a run, a verify or a submit is the `execute` action on resource nb2pipe."""

    @pytest.fixture
    def jp_server_config(self):
        from jupyter_server.auth.authorizer import Authorizer

        class NoExecute(Authorizer):
            def is_authorized(self, handler, user, action, resource):
                return not (resource == "nb2pipe" and action == "execute")

        return {"ServerApp": {"jpserver_extensions": {"nb2pipe.jupyter": True},
                              "authorizer_class": NoExecute}}

    async def test_authorizer_decides(self, jp_fetch, project):
        assert (await _get(jp_fetch, "runs", project=PROJECT))["runs"] == []  # read: allowed
        for endpoint, body in POSTS:
            if endpoint == "cancel":
                continue
            code, reply = await _error(_post(jp_fetch, endpoint, body))
            assert code == 403 and "execute" in reply["message"], endpoint
        assert (await _get(jp_fetch, "runs", project=PROJECT))["runs"] == []


HOSTILE = [None, 3, 1.5, True, [], {}, {"a": [1]}, "", " ", "../x", "/etc/passwd", "%2e%2e/x",
           "work/../../x", "a\x00b", "~/x", "C:/x", "x" * 5000, ["a=1", 2], ["--kubeconfig=/x"],
           "work/demand.ipynb", PROJECT, "argo"]
FIELDS = {"run": ["project", "params", "no_cache"], "cancel": ["project"],
          "verify": ["path", "project"],
          "submit": ["project", "engine", "image", "namespace", "params", "dry_run"]}


async def test_no_request_field_value_makes_a_500(jp_fetch, jp_serverapp, project, tmp_path):
    """Every field of every POST, given each hostile value (the others valid): an answer
    below 500, a message with every 4xx, nothing written outside the root."""
    valid = {"run": {"project": PROJECT}, "cancel": {"project": PROJECT},
             "verify": {"path": "work/demand.ipynb", "project": PROJECT},
             "submit": {"project": PROJECT, "image": "r/x:1", "dry_run": True}}
    jobs = jp_serverapp.web_app.settings["nb2pipe_jobs"]
    for endpoint, fields in FIELDS.items():
        for name in fields:
            for value in HOSTILE:
                body = dict(valid[endpoint], **{name: value})
                if endpoint == "submit":
                    body["dry_run"] = True if name != "dry_run" else value  # never a real one
                try:
                    await _post(jp_fetch, endpoint, body)
                except HTTPClientError as exc:
                    assert exc.code < 500, (endpoint, name, value, exc.code)
                    assert json.loads(exc.response.body)["message"], (endpoint, name, value)
                job = jobs.live(project)
                if job is not None:
                    await asyncio.get_running_loop().run_in_executor(None, jobs.cancel, job)
    assert not (tmp_path.parent / "x").exists()


@pytest.mark.parametrize("endpoint,body", [
    ("convert", {"path": "work/demand.ipynb", "outdir": "y" * 300}),
    ("convert", {"path": "work/demand.ipynb", "outdir": "a/" * 2100}),
    ("convert", {"path": "x" * 5000 + ".ipynb"}),
    ("run", {"project": "p" * 256}),
    ("verify", {"path": "work/demand.ipynb", "project": "q/" * 2100})])
async def test_a_path_too_long_for_the_file_system_is_a_400(jp_fetch, project, endpoint, body):
    """stat raises ENAMETOOLONG rather than saying "no such file": refused before asking."""
    code, reply = await _error(_post(jp_fetch, endpoint, body))
    assert code == 400 and "too long" in reply["message"]
    code, reply = await _error(_get(jp_fetch, "preview", path="x" * 300 + ".ipynb"))
    assert code == 400 and "too long" in reply["message"]


def test_stopping_the_jobs_stops_a_live_run_and_removes_the_outputs(project):
    """What the server does when it stops (`_unload_jupyter_server_extension`)."""
    from nb2pipe.jupyter.jobs import JobManager

    jobs = JobManager()
    job = jobs.start("run", project, ["run", str(project), "--param=delay=300.0"], cwd=project)
    assert job.live
    jobs.shutdown()
    assert job.state == "cancelled" and not _alive(job.pid)
    assert not job.folder.exists()


async def test_a_broken_project_is_a_409_not_a_500(jp_fetch, project):
    await _run(jp_fetch)
    import shutil

    shutil.rmtree(project / "demand_pipeline")  # the generated package is gone
    for endpoint, params in GETS:
        if endpoint == "verify":
            continue  # reads only the job's own output
        code, body = await _error(_get(jp_fetch, endpoint, **params))
        assert code == 409 and "package demand_pipeline/ is missing" in body["message"], (
            endpoint, code, body)
        assert str(project.parent) not in body["message"]
    code, body = await _error(_post(jp_fetch, "run", {"project": PROJECT}))
    assert code == 400 and "missing" in body["message"]
