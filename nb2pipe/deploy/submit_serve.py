"""`nb2pipe submit PROJECT --serve kserve|deployment`: apply deploy/serve-kserve.yaml or
deploy/serve-deployment.yaml the way the pipeline is submitted: the file as conversion wrote it
(and the user edited it), with what conversion could not know filled in (the image, the
namespace, the artifact repository's bucket and endpoint as deploy/argo-artifact-repository.yaml
says, the run whose model to serve), sent through the Kubernetes API with the kubeconfig's
credentials. Each object is created, or patched when it exists (as `kubectl apply` would);
`--dry-run` prints them and sends nothing.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

from nb2pipe.deploy.submit import SubmitError, _load_kube_config, _plan, _reason, _repository_s3
from nb2pipe.diagnostics import ExitCode

TARGETS = ("kserve", "deployment")
# kind -> (API path prefix, plural); namespaced objects only
PATHS = {"ServiceAccount": ("/api/v1", "serviceaccounts"),
         "Service": ("/api/v1", "services"),
         "Deployment": ("/apis/apps/v1", "deployments"),
         "InferenceService": ("/apis/serving.kserve.io/v1beta1", "inferenceservices")}


def serve_file(project: Path, target: str) -> Path:
    from nb2pipe.emit import serve_k8s

    return project / (serve_k8s.KSERVE_FILE if target == "kserve" else
                      serve_k8s.DEPLOYMENT_FILE)


def load_documents(project: Path, target: str) -> list[dict[str, Any]]:
    import yaml

    from nb2pipe.emit import serve_k8s

    path = serve_file(project, target)
    if not path.is_file():
        why = serve_k8s.not_deployed_reason(_plan(project)) or "convert the notebook again"
        raise SubmitError(f"{path} not found: {why}")
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except yaml.YAMLError as exc:
        raise SubmitError(f"{path}: not valid YAML ({exc})") from None
    bad = [d for d in docs if not isinstance(d, dict) or d.get("kind") not in PATHS]
    if bad or not docs:
        raise SubmitError(f"{path}: expected {', '.join(PATHS)} documents")
    return docs


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container and init container of a Deployment or InferenceService."""
    if doc["kind"] == "Deployment":
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    elif doc["kind"] == "InferenceService":
        pod = doc.get("spec", {}).get("predictor", {})
    else:
        return []
    return list(pod.get("initContainers", [])) + list(pod.get("containers", []))


def _fill_image(docs: list[dict[str, Any]], default: str, image: str | None) -> None:
    for doc in docs:
        for c in containers(doc):
            if c.get("image") == default:
                if not image:
                    raise SubmitError("no image: pass --image REGISTRY/NAME:TAG (the image built "
                                      "from the Dockerfile and pushed where the cluster pulls "
                                      "from)")
                c["image"] = image


def _fill_model_source(docs: list[dict[str, Any]], plan: Any, repo: dict[str, Any],
                       run: str | None) -> None:
    """The model URI and S3 endpoint of the init container that fetches the model: the
    emitted defaults become the artifact repository's settings; `run` pins a workflow's model
    whatever the file says."""
    from nb2pipe.emit import k8s, serve_k8s

    bucket = str(repo.get("bucket") or k8s.DEFAULT_BUCKET)
    endpoint = str(repo.get("endpoint") or k8s.DEFAULT_ENDPOINT)
    insecure = bool(repo.get("insecure", False)) if repo else True
    emitted_uri = serve_k8s.serving_uri(plan)
    uri = serve_k8s.serving_uri(plan, bucket, run or serve_k8s.LATEST)
    emitted_env = {"AWS_ENDPOINT_URL": serve_k8s.s3_endpoint_url(k8s.DEFAULT_ENDPOINT, True),
                   "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}
    env_now = {"AWS_ENDPOINT_URL": serve_k8s.s3_endpoint_url(endpoint, insecure),
               "S3_USE_HTTPS": "0" if insecure else "1", "S3_VERIFY_SSL": "0" if insecure else "1"}
    for doc in docs:
        for c in containers(doc):
            args = c.get("args") or []
            if args and (args[0] == emitted_uri or (run and "://" in str(args[0]))):
                args[0] = uri
            for e in c.get("env") or []:
                if e.get("value") is not None and emitted_env.get(e.get("name")) == e["value"]:
                    e["value"] = env_now[e["name"]]


def prepare_serving(project: Path, target: str, image: str | None = None,
                    namespace: str | None = None, run: str | None = None
                    ) -> list[dict[str, Any]]:
    """The serving documents as they will be sent."""
    from nb2pipe.emit import k8s

    plan = _plan(project)
    docs = copy.deepcopy(load_documents(project, target))
    _fill_image(docs, k8s.default_image(plan), image)
    _fill_model_source(docs, plan, _repository_s3(project, plan), run)
    if namespace:
        for doc in docs:
            doc.setdefault("metadata", {})["namespace"] = namespace
    return docs


def collection_path(doc: dict[str, Any], namespace: str) -> str:
    prefix, plural = PATHS[doc["kind"]]
    return f"{prefix}/namespaces/{namespace}/{plural}"


def error_message(status: int, body: Any, namespace: str, doc: dict[str, Any]) -> str:
    what = f"{doc['kind']} {doc.get('metadata', {}).get('name', '?')}"
    reason = _reason(body)
    if status == 404 and doc["kind"] == "InferenceService":
        return (f"not found: namespace {namespace!r} does not exist or KServe is not installed "
                f"(no inferenceservices.serving.kserve.io resource) ({reason}); without KServe "
                "use --serve deployment")
    if status == 404:
        return f"not found: namespace {namespace!r} does not exist ({reason})"
    if status == 403:
        return (f"forbidden: your credentials may not create or patch the {what} in namespace "
                f"{namespace!r} ({reason})")
    if status == 401:
        return f"unauthorized: the cluster rejected the credentials ({reason}); log in again"
    if status == 422:
        return (f"the cluster rejected the {what} as invalid (namespace {namespace!r}): "
                f"{reason}")
    return f"the Kubernetes API answered {status} for the {what}: {reason}"


MERGE_PATCH = "application/merge-patch+json"
# kind -> (kubernetes client API, its method suffix); InferenceService goes through the
# generic custom objects API
TYPED = {"ServiceAccount": ("CoreV1Api", "service_account"),
         "Service": ("CoreV1Api", "service"),
         "Deployment": ("AppsV1Api", "deployment")}
KSERVE = ("serving.kserve.io", "v1beta1", "inferenceservices")


def _create(doc: dict[str, Any], namespace: str) -> None:
    from kubernetes import client

    if doc["kind"] == "InferenceService":
        client.CustomObjectsApi().create_namespaced_custom_object(*KSERVE[:2], namespace,
                                                                  KSERVE[2], doc)
        return
    api, suffix = TYPED[doc["kind"]]
    getattr(getattr(client, api)(), f"create_namespaced_{suffix}")(namespace, doc)


def _patch(doc: dict[str, Any], namespace: str) -> None:
    """A merge patch: what the file says replaces what the cluster has, field by field."""
    from kubernetes import client

    name = doc["metadata"]["name"]
    if doc["kind"] == "InferenceService":
        _merge_patch(client.CustomObjectsApi().patch_namespaced_custom_object,
                     *KSERVE[:2], namespace, KSERVE[2], name, doc)
        return
    api, suffix = TYPED[doc["kind"]]
    _merge_patch(getattr(getattr(client, api)(), f"patch_namespaced_{suffix}"), name,
                 namespace, doc)


def _merge_patch(method: Any, *args: Any) -> None:
    """Clients before v31 take no content type: they send a dict as a strategic merge patch
    (built-in kinds; merges lists by name) or a merge patch (custom objects)."""
    try:
        method(*args, _content_type=MERGE_PATCH)
    except TypeError as exc:
        if "_content_type" not in str(exc):
            raise
        method(*args)


def apply(doc: dict[str, Any], namespace: str) -> str:
    """Create the object, or patch it when it exists (409): "created" or "updated"."""
    from kubernetes.client.rest import ApiException

    try:
        try:
            _create(doc, namespace)
            return "created"
        except ApiException as exc:
            if exc.status != 409:
                raise
        _patch(doc, namespace)
        return "updated"
    except ApiException as exc:
        raise SubmitError(error_message(exc.status, exc.body or exc.reason or "", namespace,
                                        doc)) from None
    except Exception as exc:  # noqa: BLE001 - connection refused, TLS, DNS ...
        raise SubmitError(f"cannot reach the Kubernetes API: {exc}") from None


def submit_serving(args: argparse.Namespace) -> int:
    import yaml

    project = Path(args.project)
    unused = [flag for flag, given in (("--pvc", args.pvc), ("--data-from", args.data_from),
                                       ("--param", args.param),
                                       ("--artifact-repo", args.artifact_repo),
                                       ("--service-account", args.service_account),
                                       ("--engine kfp", args.engine == "kfp")) if given]
    if unused:
        raise SubmitError(f"{', '.join(unused)}: not for --serve (it applies the serving "
                          "manifests; the pipeline's options go without --serve)")
    if args.dry_run:
        ns = args.namespace or "<context namespace>"
        docs = prepare_serving(project, args.serve, args.image, args.namespace, args.model_run)
        for i, doc in enumerate(docs):
            print(("---\n" if i else "") + f"# POST {collection_path(doc, ns)} (dry run: not "
                  "sent; PATCH .../NAME when it exists)")
            print(yaml.safe_dump(doc, sort_keys=False, width=100), end="")
        return ExitCode.OK
    ctx_ns = _load_kube_config(args.kubeconfig, args.context)
    namespace = args.namespace or ctx_ns or "default"
    docs = prepare_serving(project, args.serve, args.image, namespace, args.model_run)
    for doc in docs:
        print(f"{apply(doc, namespace)} {doc['kind']} {doc['metadata']['name']} in namespace "
              f"{namespace}")
    name = docs[-1]["metadata"]["name"]
    if args.serve == "kserve":
        print(f"watch it: kubectl get inferenceservice -n {namespace} {name}")
    else:
        print(f"watch it: kubectl rollout status -n {namespace} deployment/{name}")
    return ExitCode.OK
