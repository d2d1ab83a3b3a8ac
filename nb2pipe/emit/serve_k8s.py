"""The verified serving path on Kubernetes (issue 16, item 6): deploy/serve-kserve.yaml (a KServe
InferenceService with a custom predictor) and deploy/serve-deployment.yaml (a plain Deployment
and Service, for clusters without KServe), plus the container's entry `python -m <pkg>.serve`.

Where the model comes from: the step that fits it publishes the model's value folder (what
`_runtime.save_value` wrote: `value.joblib` + `meta.json`) and the serving state it learned
beside it (`_serving`: fill values, fitted encoders, training columns) a second time,
unarchived, under a fixed key of the pipeline's artifact repository: `<name>/serving/latest/`
and `<name>/serving/<workflow name>/` (pinned runs). Both manifests fetch that key into
/mnt/models with the same init container: KServe's storage initializer image, run by us rather
than injected by KServe for a `STORAGE_URI` (KServe injects it without a security context, so
a namespace enforcing the `restricted` Pod Security Standard refuses the pod: kserve#5373),
with the repository's credentials from one Secret.

Only for a project whose serving path was verified, whose data is in the image (the step that
fits the model replays the training slice on it to learn the serving state), and where FastAPI
and uvicorn are installed, so the image's lock pins them. The service learns nothing: it loads
the run's model and state and proves them on the evaluation rows before it listens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nb2pipe.emit import k8s
from nb2pipe.emit.package import header
from nb2pipe.planning.model import PipelinePlan, Step
from nb2pipe.planning.serving_status import SERVING_STATE, model_step, unservable_reason

SERVICE_MODULES = ("fastapi", "uvicorn")  # the `serve` extra, pinned in the image's lock
PORT = 8080
MODEL_DIR = "/mnt/models"  # where the model is fetched to (KServe's own convention)
KSERVE_CONTAINER = "kserve-container"  # the custom predictor's container, as KServe names it
# KServe's storage initializer (arguments: source URI, target folder), pinned.
STORAGE_INITIALIZER = "kserve/storage-initializer:v0.21.0"
KSERVE_API = "serving.kserve.io/v1beta1"
LATEST = "latest"
RUN_KEY = "{{workflow.name}}"
# the serving process proves the model on the evaluation rows before it listens
STARTUP_PERIOD, STARTUP_FAILURES = 10, 90


# ---- whether and what -------------------------------------------------------------------------

def not_deployed_reason(plan: PipelinePlan) -> str | None:
    """Why the project gets no serving manifests, or None when it gets them."""
    sv = plan.serving
    if sv is None or not sv.verified:
        return "the project has no verified serving path"
    if model_step(plan) is None:
        return f"no step hands on the model {sv.model!r}"
    if unservable_reason(plan):
        return unservable_reason(plan)
    if not plan.data_in_image:
        return ("the step that fits the model learns the serving state from the training "
                "data, which --no-data-in-image keeps out of the image")
    missing = [m for m in SERVICE_MODULES if not _installed(m)]
    if missing:
        return (f"{' and '.join(missing)} not installed where the notebook was converted, so "
                "the image's lock cannot pin them (pip install 'nb2pipe[serve]', convert again)")
    return None


def deploys(plan: PipelinePlan) -> bool:
    return not_deployed_reason(plan) is None


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def app_name(plan: PipelinePlan) -> str:
    return k8s.k8s_name(plan.package.replace("_", "-"), 52)


def service_account(plan: PipelinePlan) -> str:
    return app_name(plan) + "-serving"


def credentials_secret(plan: PipelinePlan) -> str:
    """The Secret with the artifact repository's credentials, as the storage initializer
    reads them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)."""
    return app_name(plan) + "-serving-s3"


def selector(plan: PipelinePlan) -> dict[str, str]:
    return {"app.kubernetes.io/component": "serving",
            "app.kubernetes.io/name": k8s.labels(plan)["app.kubernetes.io/name"]}


def labels(plan: PipelinePlan) -> dict[str, str]:
    return {**k8s.labels(plan), **selector(plan)}


# ---- the model in the artifact repository --------------------------------------------------

def serving_key(plan: PipelinePlan, run: str = LATEST) -> str:
    """Key of the folder with the model's value folder and the serving state: `latest`
    (every finished fit) or a workflow's name."""
    return f"{app_name(plan)}/serving/{run}"


def serving_uri(plan: PipelinePlan, bucket: str = k8s.DEFAULT_BUCKET,
                run: str = LATEST) -> str:
    """What the init container fetches into MODEL_DIR: the model and its serving state."""
    return f"s3://{bucket}/{serving_key(plan, run)}"


def publish_artifacts(plan: PipelinePlan, step: Step) -> list[dict[str, Any]]:
    """Extra output artifacts of the step that fits the model: its value folder and the
    serving state, unarchived (KServe's storage initializer copies files, it does not untar
    Argo's archives), at the `latest` key and at the workflow's own key. The state is
    optional (a run that could not learn it still trains); a service then finds the state
    of another fit beside the model and refuses it (its proof fails)."""
    if not deploys(plan) or step is not model_step(plan):
        return []
    assert plan.serving is not None
    values = ((plan.serving.model, "serving", False),
              (SERVING_STATE, "serving-state", True))
    return [{"name": f"{prefix}-{which}", "path": f"{k8s.VALUES_OUT}/{name}",
             "archive": {"none": {}}, "s3": {"key": f"{serving_key(plan, run)}/{name}"},
             **({"optional": True} if optional else {})}
            for name, prefix, optional in values
            for which, run in (("latest", LATEST), ("run", RUN_KEY))]


def s3_endpoint_url(endpoint: str, insecure: bool) -> str:
    """The repository's endpoint (host:port, as Argo writes it) as a URL for boto3."""
    if "://" in endpoint:
        return endpoint
    return ("http://" if insecure else "https://") + endpoint


# ---- the pod ---------------------------------------------------------------------------------

def serve_command(plan: PipelinePlan) -> list[str]:
    return ["python", "-m", f"{plan.package}.serve", "--model", MODEL_DIR, "--host", "0.0.0.0",
            "--port", str(PORT)]


def probes() -> dict[str, Any]:
    """Startup waits for loading the model and state and for the proof (the server listens
    only after them); readiness and liveness then use the service's own endpoints."""
    def get(path: str, period: int, failures: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": PORT}, "periodSeconds": period,
                "failureThreshold": failures, "timeoutSeconds": 5}

    return {"startupProbe": get("/health/ready", STARTUP_PERIOD, STARTUP_FAILURES),
            "readinessProbe": get("/health/ready", 10, 3),
            "livenessProbe": get("/health/live", 20, 3)}


def env(plan: PipelinePlan) -> list[dict[str, Any]]:
    """As the steps': the notebook folder, a headless matplotlib, and every secret a step reads
    (the request path runs the notebook's statements)."""
    return k8s.env(plan, _all_secrets_deploy(plan))


def _all_secrets_deploy(plan: PipelinePlan):
    from dataclasses import replace

    step = model_step(plan)
    assert step is not None
    return replace(step.deploy, secrets=tuple(k8s.all_secrets(plan)))


def serve_container(plan: PipelinePlan, image: str, name: str) -> dict[str, Any]:
    step = model_step(plan)
    assert step is not None
    mounts = k8s.scratch_mounts() + [{"name": "model", "mountPath": MODEL_DIR, "readOnly": True}]
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "command": serve_command(plan), "env": env(plan),
            "ports": [{"containerPort": PORT, "name": "http", "protocol": "TCP"}],
            **probes(),
            # it holds the model and the evaluation rows: sized like the step that fits it
            "resources": k8s.resources(step.deploy),
            "securityContext": k8s.container_security_context(),
            "volumeMounts": mounts}


def fetch_model_container(plan: PipelinePlan, uri: str, endpoint: str,
                          insecure: bool) -> dict[str, Any]:
    """The init container that copies the model into /mnt/models: KServe's storage
    initializer, as KServe runs it, with the credentials from the serving Secret and the
    restricted security context."""
    secret = credentials_secret(plan)
    return {"name": "fetch-model", "image": STORAGE_INITIALIZER,
            "imagePullPolicy": "IfNotPresent", "args": [uri, MODEL_DIR],
            "env": [{"name": key, "valueFrom": {"secretKeyRef": {"key": key, "name": secret}}}
                    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")] + [
                {"name": "AWS_ENDPOINT_URL", "value": s3_endpoint_url(endpoint, insecure)},
                {"name": "S3_USE_HTTPS", "value": "0" if insecure else "1"},
                {"name": "S3_VERIFY_SSL", "value": "0" if insecure else "1"},
                {"name": "HOME", "value": "/tmp"}],
            "resources": {"limits": {"memory": "1Gi"},
                          "requests": {"cpu": "100m", "memory": "100Mi"}},
            "securityContext": k8s.container_security_context(),
            "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR},
                             {"name": "tmp", "mountPath": "/tmp"}]}


# ---- documents --------------------------------------------------------------------------------

def _metadata(plan: PipelinePlan, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "labels": labels(plan), **extra}


def service_account_document(plan: PipelinePlan) -> dict[str, Any]:
    """The account the serving pods run as (not the namespace's default), without an API
    token: the service never talks to the cluster."""
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": _metadata(plan, service_account(plan)),
            "automountServiceAccountToken": False}


def _pod(plan: PipelinePlan, image: str, uri: str, endpoint: str, insecure: bool,
         container: str) -> dict[str, Any]:
    """The serving pod, the same under KServe and as a Deployment."""
    return {"serviceAccountName": service_account(plan),
            "automountServiceAccountToken": False,
            "securityContext": k8s.pod_security_context(),
            "initContainers": [k8s.work_copy_container(image),
                               fetch_model_container(plan, uri, endpoint, insecure)],
            "containers": [serve_container(plan, image, container)],
            "volumes": list(k8s.SCRATCH_VOLUMES) + [{"name": "model", "emptyDir": {}}]}


def inference_service(plan: PipelinePlan, image: str, uri: str, endpoint: str,
                      insecure: bool) -> dict[str, Any]:
    """A KServe InferenceService, custom predictor. RawDeployment mode: a plain Deployment,
    Service and HPA, without Knative, whose pod-spec feature flags would refuse the pod
    security context, init containers and volumes by default."""
    pod = _pod(plan, image, uri, endpoint, insecure, KSERVE_CONTAINER)
    return {"apiVersion": KSERVE_API, "kind": "InferenceService",
            "metadata": _metadata(plan, app_name(plan), annotations={
                "serving.kserve.io/deploymentMode": "RawDeployment"}),
            "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 3, **pod}}}


def deployment(plan: PipelinePlan, image: str, uri: str, endpoint: str,
               insecure: bool) -> dict[str, Any]:
    pod = _pod(plan, image, uri, endpoint, insecure, "serve")
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _metadata(plan, app_name(plan)),
            "spec": {"replicas": 1, "selector": {"matchLabels": selector(plan)},
                     "template": {"metadata": {"labels": labels(plan)}, "spec": pod}}}


def service(plan: PipelinePlan) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(plan, app_name(plan)),
            "spec": {"type": "ClusterIP", "selector": selector(plan),
                     "ports": [{"name": "http", "port": 80, "targetPort": "http",
                                "protocol": "TCP"}]}}


def kserve_documents(plan: PipelinePlan, image: str | None = None, bucket: str | None = None,
                     endpoint: str | None = None, insecure: bool = True,
                     run: str = LATEST) -> list[dict[str, Any]]:
    endpoint = endpoint or k8s.DEFAULT_ENDPOINT
    uri = serving_uri(plan, bucket or k8s.DEFAULT_BUCKET, run)
    return [service_account_document(plan),
            inference_service(plan, image or k8s.default_image(plan), uri, endpoint, insecure)]


def deployment_documents(plan: PipelinePlan, image: str | None = None,
                         bucket: str | None = None, endpoint: str | None = None,
                         insecure: bool = True, run: str = LATEST) -> list[dict[str, Any]]:
    endpoint = endpoint or k8s.DEFAULT_ENDPOINT
    uri = serving_uri(plan, bucket or k8s.DEFAULT_BUCKET, run)
    image = image or k8s.default_image(plan)
    return [service_account_document(plan), deployment(plan, image, uri, endpoint, insecure),
            service(plan)]


# ---- files ------------------------------------------------------------------------------------

KSERVE_FILE = "deploy/serve-kserve.yaml"
DEPLOYMENT_FILE = "deploy/serve-deployment.yaml"


def _comment(plan: PipelinePlan, what: str, path: str, engine: str) -> str:
    head = header(plan).strip().lstrip("# ")
    return (f"{head}\n{what}: the verified serving path of {plan.package}, the model from the "
            f"artifact repository ({serving_key(plan)}/, published by the pipeline's step "
            f"{model_step(plan).name}).\nApply: nb2pipe submit . --serve {engine} --image IMAGE "
            f"(or edit the image, then kubectl apply -n NAMESPACE -f {path}); see "
            "deploy/README.md")


def service_source() -> str:
    """nb2pipe's own FastAPI application (nb2pipe/service/app.py), copied into the package
    as `_service.py`: the image serves without nb2pipe, as `nb2pipe serve` does."""
    import black

    import nb2pipe.service

    text = (Path(nb2pipe.service.__file__).parent / "app.py").read_text(encoding="utf-8")
    # generated modules are black-formatted (tests/test_format.py); nb2pipe's own are not
    return black.format_str(text, mode=black.Mode())


def serve_k8s_files(plan: PipelinePlan) -> dict[str, str]:
    if not deploys(plan):
        return {}
    from nb2pipe.emit import template

    pkg = plan.package
    return {
        f"{pkg}/_service.py": header(plan) + service_source(),
        f"{pkg}/serve.py": template.render("serve.py"),
        KSERVE_FILE: k8s.to_yaml(kserve_documents(plan), _comment(
            plan, "KServe InferenceService (custom predictor)", KSERVE_FILE, "kserve")),
        DEPLOYMENT_FILE: k8s.to_yaml(deployment_documents(plan), _comment(
            plan, "Deployment + Service, for clusters without KServe", DEPLOYMENT_FILE,
            "deployment")),
    }


def readme_lines(plan: PipelinePlan, image: str) -> list[str]:
    """deploy/README.md's section on serving (why there is none, when there is none)."""
    if plan.serving is None or not plan.serving.verified:
        return []
    why = not_deployed_reason(plan)
    if why:
        return ["## 4. Serve the model", "", f"No serving manifests: {why}.", ""]
    name = app_name(plan)
    step = model_step(plan)
    assert step is not None
    secret = credentials_secret(plan)
    return [
        "## 4. Serve the model", "",
        f"The serving path was verified against the notebook's predictions. Step `{step.name}` "
        f"publishes the model it fits and the serving state it learns to the artifact "
        f"repository, unarchived, under `{serving_key(plan)}/` (and "
        f"`{serving_key(plan, RUN_KEY)}/` for each run). "
        f"The service runs `python -m {plan.package}.serve` in the pipeline's image: it "
        f"loads that model and the serving state the same run learned (`{SERVING_STATE}`: "
        f"fill values, fitted encoders, training columns) from `{MODEL_DIR}`, checks that "
        "they still give the notebook's predictions, then listens on "
        f"port {PORT} (`POST /predict`, Open Inference Protocol v2 under `/v2`, "
        "`/health/live`, `/health/ready`). Both manifests fetch the model into "
        f"`{MODEL_DIR}` with the same init container, KServe's storage initializer "
        f"(`{STORAGE_INITIALIZER}`), run with the restricted security context (the one KServe "
        "would inject for a `STORAGE_URI` has none, and a restricted namespace refuses it); "
        "edit the bucket in the `s3://` URI and the endpoint if you changed the artifact "
        "repository, or let `nb2pipe submit` fill them in from "
        "`argo-artifact-repository.yaml`.", "",
        "Once per namespace, the repository's credentials for the init container:", "",
        "```",
        f"kubectl create secret generic {secret} -n ml --from-literal=AWS_ACCESS_KEY_ID="
        "ACCESS_KEY --from-literal=AWS_SECRET_ACCESS_KEY=SECRET_KEY",
        "```", "",
        f"With KServe (`{KSERVE_FILE}`: an InferenceService, custom predictor, "
        "RawDeployment mode), or without it (`serve-deployment.yaml`: a Deployment and a "
        "Service):", "",
        "```",
        f"nb2pipe submit . --serve kserve --image {image} --namespace ml",
        f"nb2pipe submit . --serve deployment --image {image} --namespace ml",
        f"kubectl port-forward -n ml service/{name} 8080:80   # Deployment: then "
        "http://127.0.0.1:8080/docs",
        "```", "",
        f"`--model-run WORKFLOW` serves the model of that run instead of the latest. Without "
        f"nb2pipe, set the image (`{k8s.default_image(plan)}` in the files) and apply: "
        f"`kubectl apply -n ml -f {KSERVE_FILE}`. The pods pass the `restricted` Pod Security "
        "Standard, with a read-only root filesystem; each asks for the resources of step "
        f"`{step.name}`.", ""]
