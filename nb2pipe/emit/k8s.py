"""What every deploy target (Argo, KFP, Dockerfile, submit) needs to know about a step on a
cluster: its container command, resources and placement from Kale-style tags, the secrets it
reads, the security context, and where values and files travel.

Kubernetes objects are plain dicts in the API's own shape (see the note above
`container_security_context`); the tests check every emitted document strictly against the
kubernetes client's typed models and a schema built from Hera's Argo models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nb2pipe.planning.deploy import GPU_RESOURCE  # noqa: F401 - the emitters' name for it
from nb2pipe.planning.deploy import quantity
from nb2pipe.planning.model import PipelinePlan, Step, StepDeploy

# Paths inside the image (Dockerfile) and the step containers.
APP_DIR = "/app"
WORKDIR = "/app/work"  # the notebook's folder: data files and helper modules (NB2PIPE_WORKDIR)
VALUES_IN = "/tmp/nb2pipe/inputs"
VALUES_OUT = "/tmp/nb2pipe/outputs"
UID = 10001



def k8s_name(text: str, limit: int = 63) -> str:
    """A DNS-1123 label from any text (package and step names are already close)."""
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (s[:limit].rstrip("-")) or "nb2pipe"




# ---- secrets ---------------------------------------------------------------------------------

def secret_name(plan: PipelinePlan) -> str:
    return k8s_name(plan.package.replace("_", "-")) + "-secrets"


# ---- data flow on a cluster -------------------------------------------------------------------

def rng_source(plan: PipelinePlan, step: Step) -> str | None:
    """The step whose random state this step continues (the last earlier one handing it on)."""
    if not step.rng_in:
        return None
    src = None
    for s in plan.steps:
        if s.name == step.name:
            break
        if s.rng_out:
            src = s.name
    return src


def value_inputs(plan: PipelinePlan, step: Step) -> list[tuple[str, str]]:
    """(value name, producing step) for every value the step loads, `_rng` included."""
    pairs = list(step.input_sources)
    src = rng_source(plan, step)
    if src:
        pairs.append(("_rng", src))
    return pairs


def value_outputs(step: Step) -> list[str]:
    return list(step.outputs) + (["_rng"] if step.rng_out else [])


@dataclass(frozen=True)
class FileFlow:
    path: str  # relative to the notebook folder
    writer: str
    reader: str


# modes of a file effect that need the file present in the pod (planning/file_edges.py)
NEEDS_FILE = ("read", "stat")


def file_flows(plan: PipelinePlan) -> list[FileFlow]:
    """Files a step writes and a later step reads or looks at: pods share no disk, so they
    travel as artifacts (in-process and kfp.local runs share the notebook folder instead)."""
    flows: list[FileFlow] = []
    last_writer: dict[str, str] = {}
    for s in plan.steps:
        for f in s.files:
            if f.mode in NEEDS_FILE and f.path in last_writer and last_writer[f.path] != s.name:
                flow = FileFlow(f.path, last_writer[f.path], s.name)
                if flow not in flows:
                    flows.append(flow)
        for f in s.files:
            if f.mode == "write":
                last_writer[f.path] = s.name
    return flows


def exported_files(plan: PipelinePlan, step: Step) -> list[str]:
    """Files the step writes (literal relative paths) that no later step reads: exported
    from its pod as outputs all the same, since the pod's disk is gone when it ends. A run
    that did not write one (a branch not taken) does not fail for it."""
    carried = {f.path for f in file_flows(plan) if f.writer == step.name}
    return list(dict.fromkeys(f.path for f in step.files if f.mode == "write"
                              and f.path and _relative(f.path) and f.path not in carried))


def data_files(plan: PipelinePlan) -> list[str]:
    """Files the steps read that no step wrote before: the pipeline's input data."""
    written: set[str] = set()
    out: list[str] = []
    for s in plan.steps:
        for f in s.files:
            if f.mode == "read" and f.path not in written and f.path not in out and \
                    _relative(f.path):
                out.append(f.path)
        written |= {f.path for f in s.files if f.mode == "write"}
    return out


def _relative(path: str) -> bool:
    return not path.startswith(("/", "~")) and ".." not in path.split("/") and "://" not in path


def artifact_name(text: str) -> str:
    """Argo / KFP artifact and parameter names: letters, digits, '-' and '_'."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "value"


def file_artifact(path: str) -> str:
    return "file-" + artifact_name(path.replace("/", "-").replace(".", "-"))


# ---- containers -------------------------------------------------------------------------------

def default_image(plan: PipelinePlan) -> str:
    """The image name the README's build command tags (no registry: push it to one and pass
    the full reference as the Workflow's IMAGE_PARAMETER)."""
    return f"{k8s_name(plan.package.replace('_', '-'))}:0.1.0"


# The Workflow's image is a parameter without a default: `argo submit` refuses to start
# without it, instead of pods failing to pull a local image name from no registry.
IMAGE_PARAMETER = "nb2pipe-image"


def step_command(plan: PipelinePlan, step: Step, param_value) -> list[str]:
    """The container command: the same entrypoint a local run uses."""
    cmd = ["python", "-m", plan.package, "step", step.name, "--inputs", VALUES_IN,
           "--outputs", VALUES_OUT]
    for p in step.params:
        cmd += ["--param", f"{p}={param_value(p)}"]
    return cmd


# These objects are written as plain dicts in the API's own (camelCase) shape: importing the
# kubernetes client costs ~0.7 s, too much for every conversion (pre-commit hook, JupyterLab
# button). tests/test_deploy_argo.py loads every emitted document into the kubernetes client's
# typed models and a schema built from Hera's Argo models, strictly (unknown fields fail).

def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def container_security_context(read_only_root: bool = True) -> dict[str, Any]:
    """Everything the `restricted` Pod Security Standard asks of a container, and a read-only
    root filesystem (the step writes only to its scratch volumes, see SCRATCH_VOLUMES)."""
    return _clean({"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                   "privileged": False,
                   "readOnlyRootFilesystem": True if read_only_root else None,
                   "runAsGroup": UID, "runAsNonRoot": True,
                   "runAsUser": UID, "seccompProfile": {"type": "RuntimeDefault"}})


def executor_pod_spec_patch() -> str:
    """Argo adds its own `init` and `wait` containers to every pod, with the security context
    of the controller's executor config, empty by default: the `restricted` profile rejects
    them (no allowPrivilegeEscalation: false, capabilities not dropped). A podSpecPatch in the
    Workflow gives them the same context as ours (strategic merge by container name). Argo's
    executor writes to its own volumes, so their root filesystem stays as it is."""
    import json

    sc = container_security_context(read_only_root=False)
    return json.dumps({"initContainers": [{"name": "init", "securityContext": sc}],
                       "containers": [{"name": "wait", "securityContext": sc}]},
                      sort_keys=True, separators=(",", ":"))


# A read-only root filesystem leaves the step two writable places: /tmp (values in and out,
# matplotlib's cache) and the notebook folder, a copy of the image's /app/work that an init
# container makes in an emptyDir (the step writes its files, figures and outputs there).
SCRATCH_VOLUMES = [{"name": "tmp", "emptyDir": {}}, {"name": "work", "emptyDir": {}}]
WORK_COPY_MOUNT = "/mnt/work"


def scratch_mounts() -> list[dict[str, Any]]:
    return [{"name": "tmp", "mountPath": "/tmp"}, {"name": "work", "mountPath": WORKDIR}]


def work_copy_container(image: str) -> dict[str, Any]:
    """The init container that copies the image's notebook folder into the writable volume."""
    return {"name": "copy-work", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", f"cp -a {WORKDIR}/. {WORK_COPY_MOUNT}/"],
            "resources": {"limits": {"memory": "128Mi"},
                          "requests": {"cpu": "10m", "memory": "32Mi"}},
            "securityContext": container_security_context(),
            "volumeMounts": [{"name": "work", "mountPath": WORK_COPY_MOUNT}]}


def pod_security_context() -> dict[str, Any]:
    return _clean({"fsGroup": UID, "runAsGroup": UID, "runAsNonRoot": True, "runAsUser": UID,
                   "seccompProfile": {"type": "RuntimeDefault"}})


DEFAULT_REQUESTS = {"cpu": "100m", "memory": "256Mi"}
DEFAULT_MEMORY_LIMIT = "1Gi"


def resources(d: StepDeploy) -> dict[str, Any]:
    """Requests and limits: the tags' (`request:`, `limit:`, `gpu:`), else defaults, and always
    a memory limit (a step without one can take a node's memory from its neighbours). No CPU
    limit by default: throttling slows a step without protecting anyone."""
    requests = dict(d.requests)
    limits = dict(d.limits)
    for res, default in DEFAULT_REQUESTS.items():
        if res not in requests and res not in limits:
            requests[res] = default
    if "memory" not in limits:
        limits["memory"] = max(DEFAULT_MEMORY_LIMIT, requests["memory"], key=quantity)
    return _clean({"limits": dict(sorted(limits.items())),
                   "requests": dict(sorted(requests.items())) or None})


def env(plan: PipelinePlan, d: StepDeploy) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"name": "NB2PIPE_WORKDIR", "value": WORKDIR},
                                   {"name": "MPLBACKEND", "value": "Agg"}]
    for name in d.secrets:
        items.append({"name": name, "valueFrom": {"secretKeyRef": {
            "key": name, "name": secret_name(plan)}}})
    return items


def all_secrets(plan: PipelinePlan) -> list[str]:
    return sorted({n for s in plan.steps for n in s.deploy.secrets})


def secret_command(plan: PipelinePlan) -> str:
    """The one way the Secret is made: from the env file conversion wrote with exactly the
    keys the pods ask for. No Secret manifest is generated: applying one with placeholder
    values would blank the real ones."""
    return (f"kubectl create secret generic {secret_name(plan)} "
            "--from-env-file=secrets.local.env")


# ---- what a cluster needs besides the Workflow ---------------------------------------------

ARTIFACT_REPOSITORY_KEY = "nb2pipe"
# The artifact repository ConfigMap's defaults (the user edits them; `nb2pipe submit` reads
# the edited file back).
DEFAULT_BUCKET = "nb2pipe-artifacts"
DEFAULT_ENDPOINT = "minio.argo:9000"


def service_account_name(plan: PipelinePlan) -> str:
    return k8s_name(plan.package.replace("_", "-"), 52) + "-runner"


def artifact_repository_name(plan: PipelinePlan) -> str:
    return k8s_name(plan.package.replace("_", "-"), 52) + "-artifacts"


def artifact_repository_ref(plan: PipelinePlan) -> dict[str, str]:
    return {"configMap": artifact_repository_name(plan), "key": ARTIFACT_REPOSITORY_KEY}


def rbac_documents(plan: PipelinePlan) -> list[dict[str, Any]]:
    """The service account the pods run as, with the one right Argo's executor (3.4+) needs:
    recording each task's results (`workflowtaskresults` create and patch). The namespace's
    `default` account usually lacks it."""
    name = service_account_name(plan)
    meta = {"labels": labels(plan), "name": name}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
         "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
                    "verbs": ["create", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name}]},
    ]


def artifact_repository_documents(plan: PipelinePlan) -> list[dict[str, Any]]:
    """The artifact repository the Workflow names (artifactRepositoryRef), as a ConfigMap to
    edit: an S3-compatible bucket (AWS S3, MinIO, GCS's S3 interface) whose credentials come
    from a Secret. Settings for GCS, Azure and the rest follow Argo's
    configure-artifact-repository guide under the same key."""
    repo = {"s3": {"bucket": DEFAULT_BUCKET, "endpoint": DEFAULT_ENDPOINT,
                   "insecure": True,
                   "keyFormat": "{{workflow.name}}/{{pod.name}}",
                   "accessKeySecret": {"name": artifact_repository_name(plan),
                                       "key": "accesskey"},
                   "secretKeySecret": {"name": artifact_repository_name(plan),
                                       "key": "secretkey"}}}
    import yaml

    text = yaml.safe_dump(repo, sort_keys=False, default_flow_style=False)
    return [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"labels": labels(plan), "name": artifact_repository_name(plan)},
             "data": {ARTIFACT_REPOSITORY_KEY: text}}]


def labels(plan: PipelinePlan) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "nb2pipe",
            "app.kubernetes.io/name": k8s_name(plan.package.replace("_", "-"))}


# ---- YAML ---------------------------------------------------------------------------------------

def to_yaml(docs: list[dict[str, Any]], comment: str = "") -> str:
    """Deterministic YAML: insertion order kept (we build in a fixed order), no timestamps."""
    import yaml

    base = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: same bytes, faster

    class _Dumper(base):  # type: ignore[misc, valid-type]
        pass

    def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    _Dumper.add_representer(str, _str)
    parts = [yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                       allow_unicode=True, width=100) for d in docs]
    head = "".join(f"# {line}\n" if line else "#\n" for line in comment.split("\n")) \
        if comment else ""
    return head + "---\n".join(parts)
