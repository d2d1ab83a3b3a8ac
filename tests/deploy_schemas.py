"""Strict schemas for the documents nb2pipe emits, built from typed models:
Argo Workflow / WorkflowTemplate from Hera's pydantic models (generated from Argo's OpenAPI),
plain Kubernetes objects from the kubernetes client's models. Unknown fields are errors."""

from __future__ import annotations

import functools
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
    cls = getattr(client, model, None)
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
