"""Issue 5: `nb2pipe submit --engine kfp` against a fake Kubeflow Pipelines API on 127.0.0.1,
driven by the real kfp client. The fake implements the v2beta1 calls the client makes for
`create_run_from_pipeline_package` (GET healthz, GET experiments?filter=..., POST experiments,
POST runs), checks what a real one would (verb, path, bearer token, the run body: a structurally
valid PipelineSpec whose runtime parameters match its inputs), and answers 200 or the errors a
real deployment sends (401, 403, 409, 400, 422), which must become clear one-line messages.

kfp pins an older kubernetes client, so these run in the kfp venv (.ci/setup.d/50-deploy.sh):
    .venv-test-kfp/bin/python -m pytest -q -p no:cacheprovider -m kfp tests/test_deploy_submit_kfp.py
Elsewhere the module is skipped.
"""

from __future__ import annotations

import json
import shutil
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("kfp", reason="kfp is not installed in this venv: run these in the kfp "
                                  "venv (.ci/setup.d/50-deploy.sh)")
import yaml  # noqa: E402

from deploy_helpers import loopback_server  # noqa: E402
from nb2pipe.api import convert  # noqa: E402
from nb2pipe.cli import main as cli  # noqa: E402

pytestmark = pytest.mark.kfp

TOKEN = "kfp-test-token-456"
API = "/apis/v2beta1"
JSON_TYPES = {"STRING": str, "BOOLEAN": bool, "NUMBER_INTEGER": int, "NUMBER_DOUBLE": (int, float),
              "LIST": list, "STRUCT": dict}
RUN_ERRORS = {  # run display name -> (status, grpc code, message) a real server sends
    "taken": (409, 6, "Failed to create a run: AlreadyExistsError: run 'taken' already exists"),
    "denied": (403, 7, "Failed to authorize with API: PermissionDenied: user 'ci@example.com' "
                       "is not allowed to create runs"),
    "unprocessable": (422, 3, "Failed to create a run: the run cannot be processed"),
}


def spec_errors(spec: object) -> list[str]:
    """What the KFP API server would refuse in a run's pipeline_spec (the compiled IR)."""
    if not isinstance(spec, dict):
        return ["pipeline_spec is not an object"]
    if "platform_spec" in spec:  # kfp-kubernetes settings travel beside the pipeline
        spec = spec.get("pipeline_spec")
        if not isinstance(spec, dict):
            return ["pipeline_spec.pipeline_spec is not an object"]
    errs = [f"missing {k}" for k in ("pipelineInfo", "root", "components", "deploymentSpec",
                                      "schemaVersion", "sdkVersion") if k not in spec]
    if errs:
        return errs
    if not spec["pipelineInfo"].get("name"):
        errs.append("pipelineInfo.name is empty")
    executors = spec["deploymentSpec"].get("executors", {})
    for name, comp in spec["components"].items():
        if comp.get("executorLabel") not in executors:
            errs.append(f"component {name} names no executor")
    tasks = spec["root"].get("dag", {}).get("tasks", {})
    if not tasks:
        errs.append("root.dag.tasks is empty")
    for name, task in tasks.items():
        if task.get("componentRef", {}).get("name") not in spec["components"]:
            errs.append(f"task {name} names no component")
        for dep in task.get("dependentTasks", []):
            if dep not in tasks:
                errs.append(f"task {name} depends on unknown task {dep}")
    for name, ex in executors.items():
        c = ex.get("container", {})
        if not c.get("image") or not c.get("command"):
            errs.append(f"executor {name} has no image or command")
    return errs


def parameter_errors(spec: dict, parameters: dict) -> list[str]:
    spec = spec.get("pipeline_spec", spec)
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    errs = [f"unknown parameter {n!r}" for n in parameters if n not in declared]
    for name, d in declared.items():
        if name not in parameters:
            if not d.get("isOptional") and "defaultValue" not in d:
                errs.append(f"parameter {name!r} is required")
            continue
        want = JSON_TYPES[d["parameterType"]]
        if not isinstance(parameters[name], want):
            errs.append(f"input parameter {name} requires type {d['parameterType']}, got "
                        f"{type(parameters[name]).__name__}")
    return errs


class FakeKfp(BaseHTTPRequestHandler):
    requests: list[dict] = []
    experiments: dict[str, dict] = {}
    multi_user = False

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: int, message: str) -> None:  # grpc-gateway's shape
        self._reply(status, {"error": message, "code": code, "message": message, "details": []})

    def _handle(self, verb: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        FakeKfp.requests.append({"verb": verb, "path": url.path, "query": query, "body": body,
                                 "auth": self.headers.get("Authorization")})
        # a gateway in front checks every path, healthz included
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(401, 16, "Unauthenticated: Request header error: there is no "
                                        "user identity header or the token is invalid")
        route = (verb, url.path)
        if route == ("GET", f"{API}/healthz"):
            return self._reply(200, {"multi_user": FakeKfp.multi_user,
                                     "pipeline_store": "database"})
        if route == ("GET", f"{API}/experiments"):
            return self._list_experiments(query)
        if route == ("POST", f"{API}/experiments"):
            return self._create_experiment(body)
        if route == ("POST", f"{API}/runs"):
            return self._create_run(body)
        self._error(404, 5, f"Not Found: {verb} {url.path}")

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _list_experiments(self, query: dict) -> None:
        ns = query.get("namespace", "")
        if ns == "locked":
            return self._error(403, 7, "Failed to authorize with API: PermissionDenied: user "
                                       "'ci@example.com' is not allowed to list experiments in "
                                       "namespace 'locked'")
        try:
            (pred,) = json.loads(query["filter"])["predicates"]
        except (KeyError, ValueError):
            return self._error(400, 3, f"Invalid input error: bad filter {query.get('filter')}")
        if (pred.get("key"), pred.get("operation")) not in (("display_name", 1),
                                                            ("display_name", "EQUALS")):
            return self._error(400, 3, f"Invalid input error: unsupported predicate {pred}")
        found = [e for e in FakeKfp.experiments.values()
                 if e["display_name"] == pred.get("stringValue") and e["namespace"] == ns]
        self._reply(200, {"experiments": found, "total_size": len(found)} if found else {})

    def _create_experiment(self, body: dict) -> None:
        name = (body or {}).get("display_name")
        if not name:
            return self._error(400, 3, "Invalid input error: experiment name is empty")
        if name == "raced":  # created by someone else between the client's lookup and create
            return self._error(409, 6, "Failed to create a new experiment: AlreadyExistsError: "
                                       "experiment 'raced' already exists")
        exp = {"experiment_id": f"exp-{len(FakeKfp.experiments):04d}", "display_name": name,
               "namespace": body.get("namespace") or "", "storage_state": "AVAILABLE"}
        FakeKfp.experiments[exp["experiment_id"]] = exp
        self._reply(200, exp)

    def _create_run(self, body: dict) -> None:
        body = body or {}
        if body.get("experiment_id") not in FakeKfp.experiments:
            return self._error(404, 5, f"Experiment {body.get('experiment_id')} not found")
        name = body.get("display_name") or ""
        if name in RUN_ERRORS:
            return self._error(*RUN_ERRORS[name])
        errs = spec_errors(body.get("pipeline_spec")) if name else ["run name is empty"]
        if not errs:
            errs = parameter_errors(body["pipeline_spec"],
                                    (body.get("runtime_config") or {}).get("parameters") or {})
        if errs:
            return self._error(400, 3, "Invalid input error: Failed to create a run due to "
                                       "invalid pipeline spec: " + "; ".join(errs))
        run = {**body, "run_id": "run-7f3a9c", "state": "PENDING",
               "created_at": "2024-01-02T03:04:05Z", "storage_state": "AVAILABLE"}
        self._reply(200, run)


@pytest.fixture(scope="module")
def server():
    with loopback_server(FakeKfp, ThreadingHTTPServer) as url:
        yield url


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    """An empty fake with a Default experiment; no kfp settings from this machine."""
    import kfp

    FakeKfp.requests.clear()
    FakeKfp.experiments.clear()
    FakeKfp.experiments["exp-0000"] = {"experiment_id": "exp-0000", "display_name": "Default",
                                       "namespace": "", "storage_state": "AVAILABLE"}
    FakeKfp.multi_user = False
    for var in ("KF_PIPELINES_ENDPOINT", "KF_PIPELINES_UI_ENDPOINT", "NB2PIPE_KFP_TOKEN",
                "KF_PIPELINES_DEFAULT_EXPERIMENT_NAME", "KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    # the client reads ~/.config/kfp/context.json (a namespace) when it exists
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from conftest import SAMPLES

    root = tmp_path_factory.mktemp("submit-kfp")
    shutil.copytree(SAMPLES, root / "sample_notebooks",
                    ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    out = root / "reviews_pipeline"
    assert convert(root / "sample_notebooks" / "reviews_tagged.ipynb", out).ok
    assert (out / "deploy" / "kfp-pipeline.yaml").is_file()
    return out


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def submit(project, server, *extra):
    return cli(["submit", str(project), "--engine", "kfp", "--host", server, *extra])


def routes() -> list[tuple[str, str]]:
    return [(r["verb"], r["path"]) for r in FakeKfp.requests]


def test_submit_creates_the_run(project, server, token_file, capsys):
    code = submit(project, server, "--token-file", str(token_file), "--param", "C=2.5",
                  "--experiment", "reviews-nightly")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "submitted run reviews-pipeline (id run-7f3a9c, experiment exp-0001)" in out
    assert routes() == [("GET", f"{API}/healthz"),  # nb2pipe's probe
                        ("GET", f"{API}/healthz"),  # the client's multi-user check
                        ("GET", f"{API}/experiments"), ("POST", f"{API}/experiments"),
                        ("POST", f"{API}/runs")]
    assert {r["auth"] for r in FakeKfp.requests} == {f"Bearer {TOKEN}"}
    lookup = json.loads(FakeKfp.requests[2]["query"]["filter"])["predicates"][0]
    assert lookup["stringValue"] == "reviews-nightly"
    assert FakeKfp.requests[3]["body"]["display_name"] == "reviews-nightly"
    run = FakeKfp.requests[-1]["body"]
    assert run["display_name"] == "reviews-pipeline" and run["experiment_id"] == "exp-0001"
    compiled = next(yaml.safe_load_all((project / "deploy" / "kfp-pipeline.yaml").read_text()))
    sent = _pipeline_spec(run)
    assert sent == compiled and spec_errors(sent) == []
    assert run["runtime_config"]["parameters"] == {
        "C": "2.5", "max_features": "500", "test_size": "0.25", "seed": "0"}


def _pipeline_spec(run_body: dict) -> dict:
    """The PipelineSpec a run carries: alone, or beside its platform spec (the Kubernetes
    settings of kfp-kubernetes, such as the security context) as the kfp client sends both."""
    spec = run_body["pipeline_spec"]
    return spec["pipeline_spec"] if "platform_spec" in spec else spec


def test_existing_experiment_token_from_env_and_image(project, server, monkeypatch, capsys):
    monkeypatch.setenv("NB2PIPE_KFP_TOKEN", TOKEN)
    code = submit(project, server, "--image", "reg.example/rev:7", "--run-name", "nightly-7")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "submitted run nightly-7 (id run-7f3a9c, experiment exp-0000)" in out
    assert ("POST", f"{API}/experiments") not in routes()  # Default exists: found, not created
    assert {r["auth"] for r in FakeKfp.requests} == {f"Bearer {TOKEN}"}
    spec = _pipeline_spec(FakeKfp.requests[-1]["body"])
    assert spec_errors(spec) == []
    images = {ex["container"]["image"] for ex in spec["deploymentSpec"]["executors"].values()}
    assert images == {"reg.example/rev:7"}


@pytest.mark.parametrize("extra,words", [
    (["--experiment", "raced"], ["already exists", "experiment 'raced' already exists",
                                 "use another --run-name or --experiment"]),
    (["--run-name", "taken"], ["already exists", "run 'taken' already exists",
                               "use another --run-name"]),
    (["--namespace", "locked"], ["forbidden", "runs in namespace 'locked'", "not allowed to list",
                                 "Kubeflow profile"]),
    (["--run-name", "denied"], ["forbidden", "not allowed to create runs", "Kubeflow profile"]),
    (["--run-name", "unprocessable"], ["Kubeflow Pipelines at http://127.0.0.1:",
                                       "rejected the run as invalid", "cannot be processed",
                                       "--param"]),
])
def test_api_errors_become_clear_messages(project, server, token_file, capsys, extra, words):
    code = submit(project, server, "--token-file", str(token_file), *extra)
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("nb2pipe submit: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "HTTP response" not in err
    for w in words:
        assert w in err, err
    assert "submitted run" not in out


def test_invalid_pipeline_spec_is_refused_by_the_server(project, server, token_file, capsys,
                                                        tmp_path):
    """A hand-edited package the kfp client still parses: the server's check refuses it."""
    edited = tmp_path / "edited"
    shutil.copytree(project, edited)
    package = edited / "deploy" / "kfp-pipeline.yaml"
    docs = list(yaml.safe_load_all(package.read_text()))
    docs[0]["components"]["comp-train-op"]["executorLabel"] = "exec-nowhere"
    package.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert submit(edited, server, "--token-file", str(token_file)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rejected the run as invalid" in err
    assert "component comp-train-op names no executor" in err and "--param" in err
    assert routes()[-1] == ("POST", f"{API}/runs")


@pytest.mark.parametrize("how", ["none", "wrong"])
def test_bad_token_is_unauthorized_at_once(project, server, tmp_path, capsys, how):
    import time

    extra = []
    if how == "wrong":
        (tmp_path / "bad").write_text("expired")
        extra = ["--token-file", str(tmp_path / "bad")]
    start = time.monotonic()
    code = submit(project, server, *extra)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "unauthorized" in err and "--token-file" in err and "Traceback" not in err
    assert routes() == [("GET", f"{API}/healthz")]  # no retries, nothing sent
    assert FakeKfp.requests[0]["auth"] == (None if how == "none" else "Bearer expired")
    assert time.monotonic() - start < 5  # the kfp client alone retries for 20 s


def test_multi_user_needs_a_namespace(project, server, token_file, capsys):
    from nb2pipe.deploy.submit import POD_NAMESPACE
    from pathlib import Path

    if Path(POD_NAMESPACE).exists():
        pytest.skip("running in a pod: the kfp client takes the pod's namespace")
    FakeKfp.multi_user = True
    assert submit(project, server, "--token-file", str(token_file)) == 1
    assert "multi-user: pass --namespace" in capsys.readouterr().err
    assert ("POST", f"{API}/runs") not in routes()
    FakeKfp.requests.clear()
    assert submit(project, server, "--token-file", str(token_file), "--namespace", "team-a",
                  "--experiment", "e") == 0
    assert routes() == [("GET", f"{API}/healthz"),  # the client skips its check: namespace set
                        ("GET", f"{API}/experiments"), ("POST", f"{API}/experiments"),
                        ("POST", f"{API}/runs")]
    assert FakeKfp.requests[1]["query"]["namespace"] == "team-a"
    assert FakeKfp.requests[2]["body"]["namespace"] == "team-a"


def test_unreachable_host(project, token_file):
    """Through the real command line: one line on stderr, whatever kfp and urllib3 log."""
    import subprocess
    import sys

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    proc = subprocess.run([sys.executable, "-m", "nb2pipe", "submit", str(project), "--engine",
                           "kfp", "--host", f"http://127.0.0.1:{port}", "--token-file",
                           str(token_file)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"nb2pipe submit: cannot reach Kubeflow Pipelines at "
                                  f"http://127.0.0.1:{port}: ")
    assert proc.stderr.count("\n") == 1 and "Connection refused" in proc.stderr, proc.stderr


def test_unreadable_token_file(project, server, tmp_path, capsys):
    assert submit(project, server, "--token-file", str(tmp_path / "missing")) == 1
    assert "cannot read --token-file" in capsys.readouterr().err
    assert FakeKfp.requests == []


def test_dry_run_prints_and_sends_nothing(project, server, token_file, capsys):
    code = submit(project, server, "--token-file", str(token_file), "--dry-run",
                  "--param", "C=3", "--experiment", "x")
    out = capsys.readouterr().out
    assert code == 0 and FakeKfp.requests == []
    head, _, rest = out.partition("\n")
    assert head == f"# kfp: create run 'reviews-pipeline' on {server} (dry run: not sent)"
    sent = json.loads(rest)
    assert sent["arguments"]["C"] == "3" and sent["experiment"] == "x"
    assert TOKEN not in out
