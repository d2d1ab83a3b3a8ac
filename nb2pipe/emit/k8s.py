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
    return f"{k8s_name(plan.package.replace('_', '-'))}:0.1.0"


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


def container_security_context() -> dict[str, Any]:
    return _clean({"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                   "privileged": False, "runAsGroup": UID, "runAsNonRoot": True,
                   "runAsUser": UID, "seccompProfile": {"type": "RuntimeDefault"}})


def pod_security_context() -> dict[str, Any]:
    return _clean({"fsGroup": UID, "runAsGroup": UID, "runAsNonRoot": True, "runAsUser": UID,
                   "seccompProfile": {"type": "RuntimeDefault"}})


def resources(d: StepDeploy) -> dict[str, Any]:
    requests = dict(d.requests)
    for res, default in (("cpu", "100m"), ("memory", "256Mi")):
        if res not in requests and res not in d.limits:
            requests[res] = default
    return _clean({"limits": dict(sorted(d.limits.items())) or None,
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


def secret_manifest(plan: PipelinePlan) -> dict[str, Any] | None:
    """A Secret with the names the steps need and empty values (never the values)."""
    names = all_secrets(plan)
    if not names:
        return None
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"labels": labels(plan), "name": secret_name(plan)},
            "stringData": {n: "" for n in names}, "type": "Opaque"}


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
