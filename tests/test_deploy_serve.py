"""Issue 16, item 6: the verified serving path on Kubernetes. deploy/serve-kserve.yaml (KServe
InferenceService, custom predictor) and deploy/serve-deployment.yaml (Deployment + Service),
the model published by the pipeline's Workflow where both fetch it, and
`nb2pipe submit --serve`.

No API server here: the documents are checked against strict schemas (the kubernetes client's
models; the KServe SDK's models, generated from the Go types KServe's CRD is built from), the
`restricted` Pod Security Standard, probes and resources; the image's entry
`python -m <pkg>.serve` runs for real on 127.0.0.1 with the model folder a local run stored;
submit runs against a fake Kubernetes API on 127.0.0.1 that checks paths, verbs and bodies.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml

from nb2pipe.cli import main as cli

pytest.importorskip("kubernetes")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
from deploy_helpers import loopback_server, yaml_docs  # noqa: E402
from servers import free_port  # noqa: E402
from deploy_schemas import (argo_errors, k8s_errors, kserve_errors, kserve_models,  # noqa: E402
                            restricted_violations)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_notebooks"
KSERVE = "deploy/serve-kserve.yaml"
DEPLOYMENT = "deploy/serve-deployment.yaml"
IMAGE = "reg.example/churn:1"
STARTUP_POLLS = 600  # 0.5 s apart: the service replays the training slice before it listens
GOOD = {"gender": "Male", "age": 40.0, "region": "north", "contract": "month-to-month",
        "internet_service": "fiber", "payment_method": "card", "tenure_months": 3,
        "monthly_charges": 80.5, "total_charges": 240.0, "support_calls": 4}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The churn sample converted with --capture: a verified serving path."""
    from capture_helpers import captured_project, copy_project

    return copy_project(captured_project("churn"), tmp_path_factory.mktemp("sv") / "churn_pipeline")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The same notebook converted without --capture: no proven serving path."""
    from nb2pipe.api import convert

    out = tmp_path_factory.mktemp("plain") / "churn_pipeline"
    res = convert(SAMPLES / "churn.ipynb", out)
    assert res.ok
    return out


def _plan(project: Path):
    from nb2pipe.planning.model import PipelinePlan

    return PipelinePlan.load(project)


def _by_kind(path: Path) -> dict[str, dict]:
    return {d["kind"]: d for d in yaml_docs(path)}


def _pods(project: Path) -> dict[str, dict]:
    """The pod spec of each serving manifest (the InferenceService's predictor is one)."""
    return {"kserve": _by_kind(project / KSERVE)["InferenceService"]["spec"]["predictor"],
            "deployment": _by_kind(project / DEPLOYMENT)["Deployment"]["spec"]["template"]
            ["spec"]}


def _server_container(pod: dict) -> dict:
    (c,) = pod["containers"]
    return c


# ---- what is emitted, and when ---------------------------------------------------------------

def test_manifests_only_for_a_verified_serving_path(served, plain):
    assert (served / KSERVE).is_file() and (served / DEPLOYMENT).is_file()
    assert (served / "churn_pipeline" / "serve.py").is_file()
    assert (served / "churn_pipeline" / "_service.py").is_file()
    assert "## 4. Serve the model" in (served / "deploy/README.md").read_text()
    assert not (plain / KSERVE).exists() and not (plain / DEPLOYMENT).exists()
    assert not (plain / "churn_pipeline" / "serve.py").exists()
    assert "serving" not in (plain / "deploy/argo-workflow.yaml").read_text()
    assert "Serve the model" not in (plain / "deploy/README.md").read_text()


def test_converting_again_changes_nothing(tmp_path):
    """A plain convert keeps the proof's verdict, and the serving files are the same bytes."""
    from capture_helpers import captured_project, copy_project

    from nb2pipe.api import convert

    project = copy_project(captured_project("churn"), tmp_path / "churn_pipeline")
    first = convert(SAMPLES / "churn.ipynb", project)  # in another folder: its relative paths
    assert first.ok
    ours = {KSERVE, DEPLOYMENT, "churn_pipeline/serve.py", "churn_pipeline/_service.py",
            "deploy/argo-workflow.yaml", "requirements.lock"}
    assert not ours & set(first.written), first.written  # nothing of these depends on where
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    again = convert(SAMPLES / "churn.ipynb", project)
    assert again.ok and again.status == "unchanged", again.written
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert (project / KSERVE).is_file() and (project / DEPLOYMENT).is_file()


def test_no_manifests_when_the_image_cannot_serve(served, monkeypatch):
    from nb2pipe.emit import serve_k8s

    plan = _plan(served)
    assert serve_k8s.not_deployed_reason(plan) is None
    outside = dataclasses.replace(plan, data_in_image=False)
    assert "--no-data-in-image" in serve_k8s.not_deployed_reason(outside)
    assert serve_k8s.serve_k8s_files(outside) == {}
    assert serve_k8s.publish_artifacts(outside, serve_k8s.model_step(plan)) == []
    text = "\n".join(serve_k8s.readme_lines(outside, IMAGE))
    assert "No serving manifests" in text and "--no-data-in-image" in text
    monkeypatch.setattr(serve_k8s, "_installed", lambda module: module != "uvicorn")
    assert "nb2pipe[serve]" in serve_k8s.not_deployed_reason(plan)
    assert serve_k8s.serve_k8s_files(plan) == {}


def test_the_image_installs_the_service(served):
    lock = (served / "requirements.lock").read_text()
    assert re.search(r"^fastapi==\S+$", lock, re.M) and re.search(r"^uvicorn==\S+$", lock, re.M)
    assert re.search(r"^starlette==\S+$", lock, re.M)  # transitively, for --no-deps installs
    docker = (served / "Dockerfile").read_text()
    assert "COPY churn_pipeline/ ./churn_pipeline/" in docker  # serve.py, _service.py with it


def test_the_service_copy_is_standalone_and_black_formatted(served):
    import ast

    import black

    for name in ("serve.py", "_service.py"):
        text = (served / "churn_pipeline" / name).read_text()
        assert black.format_str(text, mode=black.Mode()) == text, name
        tree = ast.parse(text)
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names} | {n.module.split(".")[0] for n in ast.walk(tree)
                                         if isinstance(n, ast.ImportFrom) and n.module}
        assert "nb2pipe" not in imported, name  # the image has no nb2pipe


# ---- schemas, security, probes, resources ------------------------------------------------------

def _deserialize_errors(doc: dict, model: str) -> list[str]:
    """The kubernetes client builds its typed object (required fields present)."""
    from kubernetes import client

    try:
        client.ApiClient()._ApiClient__deserialize(doc, model)
    except Exception as exc:  # noqa: BLE001 - pydantic / ValueError: the message is the finding
        return [str(exc)[:300]]
    return []


def test_plain_kubernetes_documents_pass_the_strict_schemas(served):
    kinds = []
    for path in (KSERVE, DEPLOYMENT):
        for doc in yaml_docs(served / path):
            if doc["kind"] == "InferenceService":
                continue
            kinds.append(doc["kind"])
            assert k8s_errors(doc) == [], (path, doc["kind"])
            assert _deserialize_errors(doc, "V1" + doc["kind"]) == [], (path, doc["kind"])
    assert sorted(kinds) == ["Deployment", "Service", "ServiceAccount", "ServiceAccount"]


def test_the_inference_service_passes_kserves_models(served):
    if kserve_models() is None:
        pytest.skip("KServe SDK models not installed (.ci/setup.d/50-deploy.sh)")
    isvc = _by_kind(served / KSERVE)["InferenceService"]
    assert kserve_errors(isvc) == []
    # the check is strict: a field KServe's predictor does not have fails
    wrong = json.loads(json.dumps(isvc))
    wrong["spec"]["predictor"]["storageUri"] = "s3://x/y"
    assert any("storageUri" in e for e in kserve_errors(wrong))
    predictor = isvc["spec"]["predictor"]
    for c in predictor["initContainers"] + predictor["containers"]:
        assert _deserialize_errors(c, "V1Container") == []
    assert _server_container(predictor)["name"] == "kserve-container"
    # no STORAGE_URI: KServe would inject its storage initializer without a security context,
    # which a restricted namespace refuses; the pod fetches the model itself, as a Deployment
    env = {e["name"] for e in _server_container(predictor)["env"]}
    assert "STORAGE_URI" not in env
    assert [c["name"] for c in predictor["initContainers"]] == ["copy-work", "fetch-model"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"


@pytest.mark.parametrize("which", ["kserve", "deployment"])
def test_every_serving_container_passes_the_restricted_profile(served, which):
    pod = _pods(served)[which]
    assert restricted_violations(pod) == []
    for c in pod.get("initContainers", []) + pod["containers"]:
        assert c["securityContext"]["readOnlyRootFilesystem"] is True, c["name"]
    if which == "deployment":
        assert k8s_errors(pod, "V1PodSpec") == []
    assert pod["automountServiceAccountToken"] is False


def test_restricted_checker_catches_a_root_container(served):
    pod = json.loads(json.dumps(_pods(served)["deployment"]))
    del pod["containers"][0]["securityContext"]["capabilities"]
    pod["containers"][0]["securityContext"]["runAsUser"] = 0
    assert len(restricted_violations(pod)) == 2


@pytest.mark.parametrize("which", ["kserve", "deployment"])
def test_probes_and_resources(served, which):
    pod = _pods(served)[which]
    server = _server_container(pod)
    port = server["ports"][0]["containerPort"]
    assert server["command"][-2:] == ["--port", str(port)]
    paths = {}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = server[probe]["httpGet"]
        assert get["port"] == port
        paths[probe] = get["path"]
    assert paths == {"startupProbe": "/health/ready", "readinessProbe": "/health/ready",
                     "livenessProbe": "/health/live"}
    for c in pod.get("initContainers", []) + pod["containers"]:
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]), c["name"]
        assert "memory" in c["resources"]["limits"], c["name"]
    # the replay fits the model again: sized like the step that fits it
    from nb2pipe.emit import k8s, serve_k8s

    plan = _plan(served)
    assert server["resources"] == k8s.resources(serve_k8s.model_step(plan).deploy)


# ---- the model: published by the pipeline, fetched by both manifests --------------------------

def _fetch(pod: dict) -> dict:
    return next(c for c in pod["initContainers"] if c["name"] == "fetch-model")


def _model_uris(project: Path) -> dict[str, str]:
    pods = _pods(project)
    for pod in pods.values():  # the folder it fills is the one the service reads
        server = _server_container(pod)
        model = server["command"][server["command"].index("--model") + 1]
        fetch = _fetch(pod)
        assert fetch["args"][1] == model
        mounts = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
        assert mounts["model"] == model
        assert {m["name"]: m["mountPath"] for m in fetch["volumeMounts"]}["model"] == model
    return {which: _fetch(pod)["args"][0] for which, pod in pods.items()}


def test_the_workflow_publishes_the_model_where_the_manifests_fetch_it(served):
    from nb2pipe.emit import k8s

    uris = _model_uris(served)
    assert uris["kserve"] == uris["deployment"]
    (cm,) = yaml_docs(served / "deploy/argo-artifact-repository.yaml")
    bucket = yaml.safe_load(cm["data"][k8s.ARTIFACT_REPOSITORY_KEY])["s3"]["bucket"]
    assert uris["kserve"].startswith(f"s3://{bucket}/")
    key = uris["kserve"][len(f"s3://{bucket}/"):]
    plan = _plan(served)
    docs = yaml_docs(served / "deploy/argo-workflow.yaml") + yaml_docs(
        served / "deploy/argo-cronworkflow.yaml")
    for doc in docs:
        spec = doc["spec"].get("workflowSpec", doc["spec"])
        if doc["kind"] != "CronWorkflow":
            assert argo_errors(doc) == []
        published = {}
        for tpl in spec["templates"]:
            for art in tpl.get("outputs", {}).get("artifacts", []):
                if art["name"].startswith("serving-"):
                    published[art["name"]] = (tpl["name"], art)
        assert set(published) == {"serving-latest", "serving-run", "serving-state-latest",
                                  "serving-state-run"}, doc["kind"]
        step, latest = published["serving-latest"]
        model_out = next(a for a in next(t for t in spec["templates"] if t["name"] == step)
                         ["outputs"]["artifacts"] if a["name"] == plan.serving.model)
        assert latest["path"] == model_out["path"]  # the model's value folder, as saved
        assert latest["archive"] == {"none": {}}  # files, not Argo's tar: KServe copies files
        # the folder the manifests fetch holds the model and, beside it, the run's state
        assert latest["s3"] == {"key": f"{key}/{plan.serving.model}"}
        state = published["serving-state-latest"][1]
        assert published["serving-state-latest"][0] == step
        assert state["path"] == model_out["path"].rsplit("/", 1)[0] + "/_serving"
        assert state["s3"] == {"key": f"{key}/_serving"} and state["archive"] == {"none": {}}
        assert state["optional"] is True and "optional" not in latest
        assert published["serving-run"][1]["s3"]["key"] == f"{key}/{plan.serving.model}".replace(
            "/latest/", "/{{workflow.name}}/")
        assert published["serving-state-run"][1]["s3"]["key"] == f"{key}/_serving".replace(
            "/latest/", "/{{workflow.name}}/")
    # the pipeline variant without an artifact repository publishes nothing
    assert "serving-" not in (served / "deploy/argo-workflow-pvc.yaml").read_text()


# ---- the image's entry, for real on 127.0.0.1 --------------------------------------------------

def _env() -> dict[str, str]:
    return {**os.environ, "NB2PIPE_WORKDIR": str(SAMPLES), "MPLBACKEND": "Agg",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def run_model(served, tmp_path_factory):
    """What the Workflow's step publishes and the init container fetches to /mnt/models: the
    model's value folder and the serving state `nb2pipe run` stored, side by side."""
    from nb2pipe.tracking.store import Store

    subprocess.run([sys.executable, "-m", "nb2pipe", "run", str(served)], env=_env(),
                   check=True, capture_output=True, timeout=900)
    store = Store(served, create=False)
    fetched = tmp_path_factory.mktemp("mnt") / "models"
    try:
        model = _plan(served).serving.model
        outputs = store.outputs_of(store.latest_finished("train")["id"])
        for name in (model, "_serving"):
            shutil.copytree(store.artifact_dir(outputs[name]), fetched / name)
        return fetched
    finally:
        store.close()


def _serve(project: Path, model: Path, port: int) -> subprocess.Popen:
    """The container's command, with the model folder for /mnt/models."""
    pod = _pods(project)["deployment"]
    cmd = _server_container(pod)["command"]
    assert cmd[:3] == ["python", "-m", "churn_pipeline.serve"]
    args = [sys.executable, *cmd[1:]]
    args[args.index("--model") + 1] = str(model)
    args[args.index("--host") + 1] = "127.0.0.1"  # loopback only here
    args[args.index("--port") + 1] = str(port)
    return subprocess.Popen(args, cwd=project, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_the_container_command_serves_the_run_model(served, run_model):
    httpx = pytest.importorskip("httpx")
    server = _server_container(_pods(served)["deployment"])
    port = free_port()
    proc = _serve(served, run_model, port)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(STARTUP_POLLS):
            if proc.poll() is not None:
                pytest.fail(f"the service exited: {proc.stdout.read()}")
            try:
                if httpx.get(base + server["startupProbe"]["httpGet"]["path"]).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the service did not become ready")
        for probe in ("readinessProbe", "livenessProbe"):
            assert httpx.get(base + server[probe]["httpGet"]["path"]).status_code == 200
        answer = httpx.post(f"{base}/predict", json={"rows": [GOOD]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0] in (0, 1)
        bad = httpx.post(f"{base}/predict", json={"rows": [{**GOOD, "contract": "lifetime"}]})
        assert bad.status_code == 422 and "contract" in bad.text
        meta = httpx.get(f"{base}/v2/models/churn_pipeline").json()
        assert str(run_model) in meta["parameters"]["model_from"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_container_command_refuses_a_model_that_disagrees(served, run_model, tmp_path):
    """A model that does not give the notebook's predictions never serves: exit 1."""
    code = ("import sys, numpy as np\n"
            "from pathlib import Path\n"
            "from sklearn.dummy import DummyClassifier\n"
            "from churn_pipeline import _runtime\n"
            "m = DummyClassifier(strategy='constant', constant=1)\n"
            "m.fit(np.zeros((2, 1)), [0, 1])\n"
            f"_runtime.save_value(m, Path({str(tmp_path / 'models' / 'model')!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=served, env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "models" / "model" / "meta.json").is_file()
    # the run's state beside another model: refused
    shutil.copytree(run_model / "_serving", tmp_path / "models" / "_serving")
    proc = _serve(served, tmp_path / "models", free_port())
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1, out
    assert "do not reproduce the notebook's predictions" in out and "Traceback" not in out
    # a model without its state: refused, saying which is missing
    shutil.rmtree(tmp_path / "models" / "_serving")
    proc = _serve(served, tmp_path / "models", free_port())
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "_serving: not a value folder" in out, out
    proc = _serve(served, tmp_path / "nothing-here", free_port())
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "meta.json missing" in out, out


# ---- nb2pipe submit --serve ------------------------------------------------------------------

def _dry_run(project: Path, capsys, *args: str) -> tuple[int, list[dict], str]:
    code = cli(["submit", str(project), "--dry-run", *args])
    out, err = capsys.readouterr()
    docs = [d for d in yaml.safe_load_all(out) if d] if code == 0 else []
    return code, docs, err


@pytest.mark.parametrize("which", ["kserve", "deployment"])
def test_dry_run_fills_image_namespace_and_model_source(served, capsys, which):
    code, docs, err = _dry_run(served, capsys, "--serve", which, "--image", IMAGE,
                               "--namespace", "ml")
    assert code == 0, err
    from nb2pipe.emit import k8s

    default = k8s.default_image(_plan(served))
    assert docs == [_with(d, default, IMAGE, "ml") for d in yaml_docs(
        served / (KSERVE if which == "kserve" else DEPLOYMENT))]
    # --model-run pins a workflow's model
    code, docs, err = _dry_run(served, capsys, "--serve", which, "--image", IMAGE,
                               "--model-run", "churn-pipeline-x7k2q")
    assert code == 0, err
    text = json.dumps(docs)
    assert "/serving/churn-pipeline-x7k2q\"" in text and "/serving/latest" not in text


def _with(doc: dict, default_image: str, image: str, namespace: str) -> dict:
    """The document with the default image replaced and the namespace set."""
    out = json.loads(json.dumps(doc).replace(json.dumps(default_image), json.dumps(image)))
    out["metadata"]["namespace"] = namespace
    return out


def test_dry_run_takes_bucket_and_endpoint_from_the_artifact_repository(served, capsys,
                                                                         tmp_path):
    from capture_helpers import copy_project

    project = copy_project(served, tmp_path / "churn_pipeline")
    repo = project / "deploy/argo-artifact-repository.yaml"
    text = repo.read_text().replace("bucket: nb2pipe-artifacts", "bucket: team-ml").replace(
        "endpoint: minio.argo:9000", "endpoint: s3.eu-west-1.amazonaws.com").replace(
        "insecure: true", "insecure: false")
    assert text != repo.read_text()
    repo.write_text(text)
    code, docs, err = _dry_run(project, capsys, "--serve", "deployment", "--image", IMAGE)
    assert code == 0, err
    fetch = _fetch(next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]
                   ["spec"])
    assert fetch["args"][0] == "s3://team-ml/churn-pipeline/serving/latest"
    env = {e["name"]: e.get("value") for e in fetch["env"]}
    assert env["AWS_ENDPOINT_URL"] == "https://s3.eu-west-1.amazonaws.com"
    assert env["S3_USE_HTTPS"] == "1"


def test_submit_serve_refuses_clearly(served, plain, capsys):
    code, _, err = _dry_run(served, capsys, "--serve", "kserve")
    assert code == 1 and "no image: pass --image" in err
    code, _, err = _dry_run(plain, capsys, "--serve", "kserve", "--image", IMAGE)
    assert code == 1 and "serve-kserve.yaml not found" in err and "verified" in err
    code, _, err = _dry_run(served, capsys, "--model-run", "x", "--image", IMAGE)
    assert code == 1 and "--model-run goes with --serve" in err
    code, _, err = _dry_run(served, capsys, "--serve", "kserve", "--image", IMAGE, "--pvc")
    assert code == 1 and "--pvc: not for --serve" in err
    assert "Traceback" not in err


def _readme_commands(project: Path) -> list[list[str]]:
    text = (project / "deploy/README.md").read_text()
    section = text.split("## 4. Serve the model", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    return [shlex.split(line.split("   #")[0]) for b in blocks for line in b.splitlines()
            if line.strip()]


def test_each_serving_readme_command_matches_the_generated_files(served, capsys):
    from nb2pipe.emit import serve_k8s

    plan = _plan(served)
    commands = _readme_commands(served)
    seen = set()
    for cmd in commands:
        seen.add(tuple(cmd[:2]))
        if cmd[:4] == ["kubectl", "create", "secret", "generic"]:
            assert cmd[4] == serve_k8s.credentials_secret(plan)
            keys = {a.split("=", 1)[1].split("=")[0] for a in cmd if a.startswith("--from-literal")}
            for pod in _pods(served).values():
                refs = {(e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]
                         ["key"]) for e in _fetch(pod)["env"] if "valueFrom" in e}
                assert refs == {(cmd[4], k) for k in keys}
        elif cmd[:2] == ["nb2pipe", "submit"]:
            args = [str(served) if a == "." else a for a in cmd[1:]] + ["--dry-run"]
            assert cli(args) == 0, capsys.readouterr().err
            capsys.readouterr()
        elif cmd[:2] == ["kubectl", "port-forward"]:
            service = cmd[cmd.index("-n") + 2].split("/", 1)[1]
            assert _by_kind(served / DEPLOYMENT)["Service"]["metadata"]["name"] == service
        else:
            pytest.fail(f"unchecked README command {cmd}")
    assert {("kubectl", "create"), ("nb2pipe", "submit")} <= seen


class FakeKube(BaseHTTPRequestHandler):
    """Create (POST) and merge-patch (PATCH) of namespaced objects, as the API server answers:
    201, 409 when it exists (namespace `exists`), 404 for KServe's resource where KServe is
    not installed (namespace `nokserve`); bodies checked against the strict schemas."""

    requests: list[dict] = []
    PLURALS = {"serviceaccounts": "ServiceAccount", "services": "Service",
               "deployments": "Deployment", "inferenceservices": "InferenceService"}

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "message": message, "reason": reason, "code": code})

    def _handle(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        FakeKube.requests.append({"verb": verb, "path": self.path, "body": body,
                                  "type": self.headers.get("Content-Type")})
        parts = self.path.split("?")[0].strip("/").split("/")
        api = {"api/v1": ("ServiceAccount", "Service"), "apis/apps/v1": ("Deployment",),
               "apis/serving.kserve.io/v1beta1": ("InferenceService",)}
        group = "/".join(parts[:2]) if parts[0] == "api" else "/".join(parts[:3])
        rest = parts[len(group.split("/")):]
        if len(rest) < 3 or rest[0] != "namespaces" or rest[2] not in self.PLURALS:
            return self._status(404, "NotFound", f"the server could not find {self.path}")
        ns, kind = rest[1], self.PLURALS[rest[2]]
        if kind not in api.get(group, ()):
            return self._status(404, "NotFound", f"the server could not find {self.path}")
        if ns == "nokserve" and kind == "InferenceService":
            return self._status(404, "NotFound", "the server could not find the requested "
                                                 "resource")
        errs = kserve_errors(body) if kind == "InferenceService" and kserve_models() else (
            [] if kind == "InferenceService" else k8s_errors(body))
        if body.get("kind") != kind or errs:
            return self._status(422, "Invalid", "; ".join(errs) or "wrong kind")
        if verb == "POST" and ns == "exists":
            return self._status(409, "AlreadyExists", f"{rest[2]} \"{body['metadata']['name']}"
                                                      "\" already exists")
        if verb == "PATCH" and (len(rest) != 4 or rest[3] != body["metadata"]["name"]):
            return self._status(404, "NotFound", "no such object")
        self._reply(201 if verb == "POST" else 200, body)

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory):
    with loopback_server(FakeKube) as url:
        path = tmp_path_factory.mktemp("kc") / "kubeconfig"
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "fake", "cluster": {"server": url}}],
            "users": [{"name": "ci", "user": {"token": "t0k3n"}}],
            "contexts": [{"name": "test", "context": {"cluster": "fake", "user": "ci",
                                                      "namespace": "ml"}}]}))
        yield path


@pytest.mark.parametrize("which,paths", [
    ("kserve", ["/api/v1/namespaces/ml/serviceaccounts",
                "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices"]),
    ("deployment", ["/api/v1/namespaces/ml/serviceaccounts",
                    "/apis/apps/v1/namespaces/ml/deployments", "/api/v1/namespaces/ml/services"]),
])
def test_submit_serve_creates_the_objects(served, kubeconfig, capsys, which, paths):
    FakeKube.requests.clear()
    code = cli(["submit", str(served), "--serve", which, "--image", IMAGE, "--kubeconfig",
                str(kubeconfig)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [r["path"] for r in FakeKube.requests] == paths
    assert all(r["verb"] == "POST" for r in FakeKube.requests)
    assert out.count("created ") == len(paths) and "namespace ml" in out
    from nb2pipe.deploy.submit_serve import prepare_serving

    # sent as prepared (the dry run prints the same), nothing lost on the way
    assert [r["body"] for r in FakeKube.requests] == prepare_serving(served, which, IMAGE, "ml")
    from nb2pipe.deploy.submit_serve import containers

    images = {c["image"] for r in FakeKube.requests for c in containers(r["body"])}
    assert IMAGE in images and all(not i.startswith("churn-pipeline:") for i in images)


def test_submit_serve_patches_what_exists(served, kubeconfig, capsys):
    FakeKube.requests.clear()
    code = cli(["submit", str(served), "--serve", "deployment", "--image", IMAGE,
                "--kubeconfig", str(kubeconfig), "--namespace", "exists"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [r["verb"] for r in FakeKube.requests] == ["POST", "PATCH"] * 3
    patches = [r for r in FakeKube.requests if r["verb"] == "PATCH"]
    assert patches[1]["path"] == "/apis/apps/v1/namespaces/exists/deployments/churn-pipeline"
    assert {r["type"] for r in patches} == {"application/merge-patch+json"}
    assert out.count("updated ") == 3


def test_submit_serve_without_kserve_says_so(served, kubeconfig, capsys):
    code = cli(["submit", str(served), "--serve", "kserve", "--image", IMAGE, "--kubeconfig",
                str(kubeconfig), "--namespace", "nokserve"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("nb2pipe submit: ")
    assert "KServe is not installed" in err and "--serve deployment" in err
    assert "Traceback" not in err
