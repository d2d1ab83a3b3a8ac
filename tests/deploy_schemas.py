"""Strict schemas for the documents nb2pipe emits, built from typed models:
Argo Workflow / WorkflowTemplate from Hera's pydantic models (generated from Argo's OpenAPI),
plain Kubernetes objects from the kubernetes client's models, KServe's InferenceService from
the KServe SDK's models (generated from KServe's OpenAPI, the Go types its CRD is built from).
Unknown fields are errors. Also the `restricted` Pod Security Standard."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any


def strict(node: Any) -> Any:
    """`node` with every object that lists properties closed to others (unknown fields fail)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for v in node.values():
            strict(v)
    elif isinstance(node, list):
        for v in node:
            strict(v)
    return node


@functools.lru_cache(maxsize=None)
def argo_schema(kind: str) -> dict:
    from hera.workflows import models

    model = {"Workflow": models.Workflow, "WorkflowTemplate": models.WorkflowTemplate}[kind]
    schema = model.model_json_schema(by_alias=True, mode="validation")
    return strict(schema)


def argo_errors(doc: dict) -> list[str]:
    """Schema errors of an Argo document (empty when valid)."""
    import jsonschema

    kind = doc.get("kind")
    if kind not in ("Workflow", "WorkflowTemplate"):
        return [f"unknown kind {kind!r}"]
    validator = jsonschema.Draft202012Validator(argo_schema(kind))
    errs = [_deepest(e) for e in validator.iter_errors(doc)]
    # Hera's models also parse it (formats, enums the schema leaves loose)
    if not errs:
        from hera.workflows import models

        getattr(models, kind).model_validate(doc)
    return errs


def _deepest(err) -> str:
    """anyOf errors (every optional field is `X | null`) point at the deepest real cause."""
    while err.context:
        err = max(err.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    return f"{'/'.join(map(str, err.absolute_path))}: {err.message[:300]}"


def k8s_errors(doc: Any, model: str | None = None, path: str = "") -> list[str]:
    """Strict check of a Kubernetes object against the kubernetes client's model:
    every key must be a field of the model, every nested value of the field's type."""
    import re

    from kubernetes import client

    if model is None:
        kind = doc.get("kind", "")
        model = "V1" + kind
    model = re.sub(r"^List\[(.*)\]$", r"list[\1]", model)
    model = re.sub(r"^Dict\[([^,]*), (.*)\]$", r"dict(\1, \2)", model)
    if model.startswith("list["):
        inner = model[5:-1]
        if not isinstance(doc, list):
            return [f"{path}: expected a list"]
        return [e for i, x in enumerate(doc) for e in k8s_errors(x, inner, f"{path}[{i}]")]
    if model.startswith("dict("):
        inner = re.match(r"dict\(([^,]*), (.*)\)", model).group(2)
        if not isinstance(doc, dict):
            return [f"{path}: expected a mapping"]
        return [e for k, x in doc.items() for e in k8s_errors(x, inner, f"{path}.{k}")]
    prim = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object,
            "datetime": str, "date": str}
    if model in prim:
        ok = isinstance(doc, prim[model]) and not (model == "int" and isinstance(doc, bool))
        return [] if ok else [f"{path}: expected {model}, got {type(doc).__name__}"]
    cls = getattr(client, model, None) or getattr(kserve_models(), model, None)
    if cls is None:
        return [f"{path}: unknown model {model}"]
    if not isinstance(doc, dict):
        return [f"{path}: expected an object ({model})"]
    by_json = {v: k for k, v in cls.attribute_map.items()}
    errs = []
    for key, value in doc.items():
        if key not in by_json:
            errs.append(f"{path}.{key}: unknown field of {model}")
            continue
        errs += k8s_errors(value, cls.openapi_types[by_json[key]], f"{path}.{key}")
    return errs


# The KServe SDK (PyPI `kserve`) pulls a model server's dependencies; only its generated models
# are needed, so .ci/setup.d/50-deploy.sh installs it with --no-deps into its own folder.
KSERVE_SDK = Path(os.environ.get("NB2PIPE_KSERVE_SDK",
                                 Path(__file__).resolve().parent.parent / ".kserve-sdk"))


@functools.lru_cache(maxsize=None)
def kserve_models() -> Any:
    """kserve.models without kserve/__init__ (which imports the model server), or None."""
    import importlib
    import sys
    import types

    if not (KSERVE_SDK / "kserve" / "models").is_dir():
        return None
    if "kserve" not in sys.modules:
        pkg = types.ModuleType("kserve")
        pkg.__path__ = [str(KSERVE_SDK / "kserve")]  # type: ignore[attr-defined]
        sys.modules["kserve"] = pkg
    return importlib.import_module("kserve.models")


def kserve_errors(doc: dict) -> list[str]:
    """Strict check of an InferenceService against the KServe SDK's models."""
    if kserve_models() is None:
        raise RuntimeError(f"no KServe SDK models in {KSERVE_SDK}")
    return k8s_errors(doc, "V1beta1" + doc.get("kind", ""))


def restricted_violations(pod: dict) -> list[str]:
    """The `restricted` Pod Security Standard (v1.29+), container by container."""
    found = []
    pod_sc = pod.get("securityContext", {})
    for c in pod.get("initContainers", []) + pod["containers"]:
        sc = c.get("securityContext", {})
        where = c["name"]
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            found.append(f"{where}: capabilities not dropped")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: adds capabilities")
        if sc.get("privileged"):
            found.append(f"{where}: privileged")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            found.append(f"{where}: may run as root")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            found.append(f"{where}: runs as uid 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where}: no seccomp profile")
    for v in pod.get("volumes", []):
        allowed = {"name", "emptyDir", "configMap", "secret", "persistentVolumeClaim",
                   "projected", "downwardAPI", "ephemeral", "csi"}
        if set(v) - allowed:
            found.append(f"volume {v['name']}: {sorted(set(v) - allowed)}")
    return found
