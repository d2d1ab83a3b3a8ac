"""`nb2pipe submit PROJECT`: send a generated pipeline to a cluster.

Argo: the Workflow from deploy/argo-workflow.yaml, created through the Kubernetes API
(CustomObjectsApi, kubeconfig or in-cluster config). KFP: deploy/kfp-pipeline.yaml through the
kfp client (v2beta1 API: healthz, find or create the experiment, create the run), with a bearer
token from --token-file or $NB2PIPE_KFP_TOKEN. `--dry-run` prints what would be sent and sends
nothing. API errors become one clear sentence (exit 1), never a traceback.

Heavy imports (kubernetes, yaml, kfp) stay inside the functions: the CLI imports this module
only when the command runs.
"""

from __future__ import annotations

from nb2pipe.diagnostics import ExitCode
import argparse
import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nb2pipe.planning.model import PipelinePlan

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "workflows"
KFP_TOKEN_ENV = "NB2PIPE_KFP_TOKEN"
POD_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
KFP_TIMEOUT = 30  # seconds for the first request: a host that accepts and never answers


class SubmitError(Exception):
    """A problem worth one sentence to the user (bad project, API refusal, no cluster)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "credentials: argo uses the kubeconfig (or the in-cluster service account); kfp sends\n"
        f"the bearer token in --token-file, else ${KFP_TOKEN_ENV}, else none.\n"
        "exit codes: 0 submitted (or printed, with --dry-run); 1 not submitted: the API refused\n"
        "(already exists, unauthorized, forbidden, invalid, not found), the host is unreachable,\n"
        "or the project is not ready; 2 usage (no such project folder).")
    parser.add_argument("project", help="the generated project folder")
    parser.add_argument("--engine", choices=["argo", "kfp"], default="argo")
    parser.add_argument("--image", help="image for every step without its own image: tag")
    parser.add_argument("--namespace", help="namespace (argo default: the kubeconfig context's; "
                                             "kfp: the profile namespace, multi-user only)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="pipeline parameter (a Python literal, as in the notebook)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, "
                                             "~/.kube/config, then in-cluster)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--pvc", action="store_true",
                        help="argo: pass values over a volume (argo-workflow-pvc.yaml) instead "
                             "of the artifact repository")
    parser.add_argument("--data-from", metavar="s3://BUCKET/PREFIX",
                        help="argo: read the data files from PREFIX/<path> in BUCKET (with the "
                             "artifact repository's endpoint and credentials) instead of from "
                             "the image; a bare PREFIX reads from the repository's own bucket")
    parser.add_argument("--service-account", help="argo: service account the pods run as "
                                                   "(default: the one deploy/argo-rbac.yaml "
                                                   "makes)")
    parser.add_argument("--artifact-repo", metavar="CONFIGMAP[:KEY]",
                        help="argo: an artifact repository the cluster already has (a "
                             "ConfigMap and its key, as in Argo's artifactRepositoryRef) "
                             "instead of deploy/argo-artifact-repository.yaml")
    parser.add_argument("--serve", choices=["kserve", "deployment"],
                        help="apply the serving manifests instead of running the pipeline: "
                             "deploy/serve-kserve.yaml (a KServe InferenceService) or "
                             "deploy/serve-deployment.yaml (Deployment + Service)")
    parser.add_argument("--model-run", metavar="WORKFLOW",
                        help="--serve: the model of this Argo workflow (its name) instead of "
                             "the latest one the pipeline published")
    parser.add_argument("--host", help="kfp: the Kubeflow Pipelines API endpoint (default: "
                                        "$KF_PIPELINES_ENDPOINT)")
    parser.add_argument("--experiment", help="kfp: experiment name, found or created "
                                              "(default: Default)")
    parser.add_argument("--run-name", help="kfp: run name (default: from the package)")
    parser.add_argument("--token-file", metavar="FILE",
                        help=f"kfp: file holding the bearer token (default: ${KFP_TOKEN_ENV}, "
                             "the token itself)")


# ---- argo ------------------------------------------------------------------------------------

def load_workflow(project: Path, pvc: bool = False) -> dict[str, Any]:
    import yaml

    path = project / "deploy" / ("argo-workflow-pvc.yaml" if pvc else "argo-workflow.yaml")
    if not path.is_file():
        raise SubmitError(f"{path} not found: convert the notebook first (nb2pipe convert)")
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if isinstance(doc, dict) and doc.get("kind") == "Workflow":
            return doc
    raise SubmitError(f"{path} holds no Workflow document")


def _plan(project: Path) -> PipelinePlan:
    from nb2pipe.planning.model import PLAN_FILE, PipelinePlan
    from nb2pipe.untrusted import NotNb2pipe

    path = project / PLAN_FILE
    if not path.is_file():
        raise SubmitError(f"{path} not found: is {project} a project nb2pipe generated?")
    try:
        return PipelinePlan.load(project)
    except NotNb2pipe as exc:
        raise SubmitError(f"{path}: not a plan nb2pipe wrote: {exc}") from None


def _params(texts: list[str], known: list[str]) -> dict[str, str]:
    from nb2pipe.planning.params import ParamError, param_sources

    try:  # keep literals as the notebook wrote them; bare words are strings
        return param_sources(texts, known)
    except ParamError as e:
        raise SubmitError(str(e)) from None


def prepare_workflow(project: Path, image: str | None = None, namespace: str | None = None,
                     params: dict[str, str] | None = None, pvc: bool = False,
                     data_from: str | None = None, service_account: str | None = None,
                     artifact_repo: str | None = None) -> dict[str, Any]:
    """The Workflow as it will be sent: image, namespace, parameters and data filled in."""
    from nb2pipe.emit import k8s

    wf = copy.deepcopy(load_workflow(project, pvc))
    plan = _plan(project)
    spec = wf["spec"]
    values = dict(params or {})
    if image:
        values[k8s.IMAGE_PARAMETER] = image
    for p in spec.get("arguments", {}).get("parameters", []):
        if p["name"] in values:
            p["value"] = values[p["name"]]
        elif p["name"] == k8s.IMAGE_PARAMETER and _uses_image_parameter(spec):
            raise SubmitError("no image: pass --image REGISTRY/NAME:TAG (the image built from "
                              "the Dockerfile and pushed where the cluster pulls from)")
    if namespace:
        wf["metadata"]["namespace"] = namespace
    if service_account:
        spec["serviceAccountName"] = service_account
    if artifact_repo and not pvc:
        configmap, _, key = artifact_repo.partition(":")
        spec["artifactRepositoryRef"] = {"configMap": configmap, **({"key": key} if key else {})}
    if data_from:
        _data_inputs(wf, plan, parse_data_source(data_from), _repository_s3(project, plan))
    return wf


def _repository_s3(project: Path, plan: PipelinePlan) -> dict[str, Any]:
    """The S3 settings of deploy/argo-artifact-repository.yaml as the user edited them ({}
    when it is gone or holds another kind of repository)."""
    import yaml

    from nb2pipe.emit import k8s

    try:
        docs = list(yaml.safe_load_all((project / "deploy" / "argo-artifact-repository.yaml")
                                       .read_text(encoding="utf-8")))
        repo = yaml.safe_load(docs[0]["data"][k8s.ARTIFACT_REPOSITORY_KEY])
    except (OSError, yaml.YAMLError, LookupError, TypeError):
        return {}
    s3 = repo.get("s3") if isinstance(repo, dict) else None
    return s3 if isinstance(s3, dict) else {}


def _uses_image_parameter(spec: dict[str, Any]) -> bool:
    from nb2pipe.emit import k8s

    ref = f"{{{{workflow.parameters.{k8s.IMAGE_PARAMETER}}}}}"
    return any(t.get("container", {}).get("image") == ref for t in spec.get("templates", []))


@dataclass(frozen=True)
class DataSource:
    """Where `--data-from` reads the data files: a bucket and key prefix (`s3://BUCKET/PREFIX`),
    or a key prefix in the artifact repository's own bucket (bucket "")."""

    bucket: str
    prefix: str

    def artifact(self, path: str, repository_s3: dict[str, Any]) -> dict[str, Any]:
        """The artifact's location. Argo completes only key-only artifacts from the artifact
        repository (it would replace a lone bucket with the repository's), so another
        bucket comes with the repository's endpoint and credentials spelled out."""
        key = f"{self.prefix}/{path}" if self.prefix else path
        if not self.bucket:
            return {"s3": {"key": key}}
        located = {k: v for k, v in repository_s3.items() if k not in ("keyFormat", "bucket")}
        located.setdefault("endpoint", "s3.amazonaws.com")
        return {"s3": {**located, "bucket": self.bucket, "key": key}}


def parse_data_source(text: str) -> DataSource:
    """`s3://BUCKET/PREFIX` or a bare key prefix; other schemes are refused (Argo reads GCS
    and the rest through the artifact repository: use a bare prefix there)."""
    if "://" not in text:
        return DataSource("", text.strip("/"))
    scheme, _, rest = text.partition("://")
    bucket, _, prefix = rest.partition("/")
    if scheme != "s3" or not bucket:
        raise SubmitError(f"--data-from {text!r}: expected s3://BUCKET/PREFIX or a key prefix "
                          "in the artifact repository")
    return DataSource(bucket, prefix.strip("/"))


def _data_inputs(wf: dict[str, Any], plan: PipelinePlan, source: DataSource,
                 repository_s3: dict[str, Any]) -> None:
    """Data files as input artifacts, placed where the step reads them. S3 artifacts without
    an endpoint or credentials take them from the artifact repository (a key-only artifact
    its bucket too)."""
    from nb2pipe.emit import k8s

    written: set[str] = set()
    needs: dict[str, list[str]] = {}
    for s in plan.steps:
        for f in s.files:
            if f.mode == "read" and f.path not in written and k8s._relative(f.path):
                needs.setdefault(s.k8s_name, []).append(f.path)
        written |= {f.path for f in s.files if f.mode == "write"}
    for tpl in wf["spec"]["templates"]:
        for path in dict.fromkeys(needs.get(tpl["name"], [])):
            arts = tpl.setdefault("inputs", {}).setdefault("artifacts", [])
            arts.append({"name": "data-" + k8s.artifact_name(path.replace("/", "-")
                                                             .replace(".", "-")),
                         "path": f"{k8s.WORKDIR}/{path}", **source.artifact(path, repository_s3)})


def _load_kube_config(kubeconfig: str | None, context: str | None) -> str | None:
    """Load credentials; returns the context's namespace if it names one."""
    from kubernetes import config

    try:
        config.load_kube_config(config_file=kubeconfig, context=context)
    except Exception as exc:  # noqa: BLE001 - every kind of bad kubeconfig
        if kubeconfig or context:
            raise SubmitError(f"cannot load kubeconfig {kubeconfig or ''}: {exc}") from None
        try:
            config.load_incluster_config()
        except Exception:  # noqa: BLE001
            raise SubmitError("no Kubernetes credentials: no kubeconfig (--kubeconfig, "
                              "$KUBECONFIG, ~/.kube/config) and not running in a cluster"
                              ) from None
        try:
            return Path(POD_NAMESPACE).read_text().strip() or None
        except OSError:
            return None
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
        if context:
            contexts, _ = config.list_kube_config_contexts(config_file=kubeconfig)
            active = next((c for c in contexts if c["name"] == context), active)
        return (active or {}).get("context", {}).get("namespace")
    except Exception:  # noqa: BLE001
        return None


def _reason(body: str | bytes | None) -> str:
    """The server's own words from an error body (Kubernetes Status, grpc-gateway error or
    plain text), on one line."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = body or ""
    try:
        data = json.loads(body)
        reason = str(data.get("message") or data.get("error") or "")
    except (ValueError, AttributeError):
        reason = body
    return " ".join(reason.split())[:300]


def api_error_message(status: int, body: str | bytes, namespace: str, what: str) -> str:
    reason = _reason(body)
    if status == 409:
        return (f"{what} already exists in namespace {namespace!r} ({reason}); submit again "
                "(generateName gives a new name) or delete the old one")
    if status == 403:
        return (f"forbidden: your credentials may not create Argo workflows in namespace "
                f"{namespace!r} ({reason}); ask for a Role granting 'create' on "
                "workflows.argoproj.io, or use --namespace")
    if status == 401:
        return f"unauthorized: the cluster rejected the credentials ({reason}); log in again"
    if status == 404:
        return (f"not found: namespace {namespace!r} does not exist or Argo Workflows is not "
                f"installed (no workflows.argoproj.io resource) ({reason})")
    if status == 422:
        return (f"the cluster rejected the Workflow as invalid (namespace {namespace!r}): "
                f"{reason}; this is a bug in nb2pipe if the project is unedited, please "
                "report it")
    return f"the Kubernetes API answered {status}: {reason}"


def submit_argo(args: argparse.Namespace) -> int:
    import yaml

    project = Path(args.project)
    plan = _plan(project)
    params = _params(args.param, [n for n, _ in plan.parameters])
    if args.dry_run:
        ns = args.namespace or "<context namespace>"
        wf = prepare_workflow(project, args.image, args.namespace, params, args.pvc,
                              args.data_from, args.service_account, args.artifact_repo)
        print(f"# POST /apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURAL} (dry run: not sent)")
        print(yaml.safe_dump(wf, sort_keys=False, width=100), end="")
        return ExitCode.OK
    ctx_ns = _load_kube_config(args.kubeconfig, args.context)
    namespace = args.namespace or ctx_ns or "default"
    wf = prepare_workflow(project, args.image, namespace, params, args.pvc, args.data_from,
                          args.service_account, args.artifact_repo)
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    try:
        created = client.CustomObjectsApi().create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, wf)
    except ApiException as exc:
        raise SubmitError(api_error_message(exc.status, exc.body or exc.reason or "", namespace,
                                            "the Workflow")) from None
    except Exception as exc:  # noqa: BLE001 - connection refused, TLS, DNS ...
        raise SubmitError(f"cannot reach the Kubernetes API: {exc}") from None
    name = (created or {}).get("metadata", {}).get("name", "?")
    print(f"submitted workflow {name} in namespace {namespace}")
    print(f"watch it: argo watch -n {namespace} {name}   (or kubectl get wf -n {namespace} {name})")
    return ExitCode.OK


# ---- kfp -------------------------------------------------------------------------------------

def kfp_error_message(status: int, body: str | bytes, host: str, namespace: str | None) -> str:
    """One sentence for a Kubeflow Pipelines API refusal (grpc-gateway maps AlreadyExists to
    409, PermissionDenied to 403, Unauthenticated to 401, InvalidArgument to 400)."""
    reason = _reason(body)
    where = f"namespace {namespace!r}" if namespace else "the default namespace"
    if status == 409:
        return (f"already exists on Kubeflow Pipelines at {host} ({reason}); use another "
                "--run-name or --experiment, or delete the old one")
    if status == 403:
        return (f"forbidden: your credentials may not create runs in {where} on {host} "
                f"({reason}); ask for access to that Kubeflow profile, or use --namespace")
    if status == 401:
        return (f"unauthorized: Kubeflow Pipelines at {host} rejected the credentials "
                f"({reason}); pass a fresh token with --token-file or ${KFP_TOKEN_ENV}")
    if status == 404:
        return (f"not found on {host} ({reason}): is --host the Kubeflow Pipelines API "
                "endpoint" + (f", and does {where} exist?" if namespace else "?"))
    if status in (400, 422):
        return (f"Kubeflow Pipelines at {host} rejected the run as invalid: {reason}; check the "
                "--param values; if the project is unedited this is a bug in nb2pipe, please "
                "report it")
    return f"Kubeflow Pipelines at {host} answered {status}: {reason}"


def _kfp_token(token_file: str | None) -> str | None:
    import os

    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SubmitError(f"cannot read --token-file: {exc}") from None
        if not token:
            raise SubmitError(f"--token-file {token_file} is empty")
        return token
    return os.environ.get(KFP_TOKEN_ENV, "").strip() or None


def _kfp_probe(host: str, token: str | None) -> bool:
    """One GET of /apis/v2beta1/healthz, so a bad token or host fails at once: the kfp client
    retries its own healthz call 5 times, 5 seconds apart, logging tracebacks. Returns
    whether the deployment is multi-user."""
    import kfp_server_api

    config = kfp_server_api.Configuration(host=host)
    if token:
        config.api_key["authorization"] = token
        config.api_key_prefix["authorization"] = "Bearer"
    api = kfp_server_api.HealthzServiceApi(kfp_server_api.ApiClient(config))
    health = api.healthz_service_get_healthz(_request_timeout=KFP_TIMEOUT)
    return bool(getattr(health, "multi_user", False))


def submit_kfp(args: argparse.Namespace) -> int:
    import os

    project = Path(args.project)
    plan = _plan(project)
    params = _params(args.param, [n for n, _ in plan.parameters])
    arguments = {n: params.get(n, lit) for n, lit in plan.parameters}
    package = project / "deploy" / "kfp-pipeline.yaml"
    run_name = args.run_name or plan.package.replace("_", "-")
    if args.image:
        package = _recompile_with_image(project, args.image)
    elif not package.is_file():
        raise SubmitError(f"{package} not found: run `nb2pipe compile-kfp {project}` where the "
                          "kfp SDK is installed (pip install 'nb2pipe[kfp]')")
    host = (args.host or os.environ.get("KF_PIPELINES_ENDPOINT") or "").rstrip("/")
    if host and not host.startswith(("http://", "https://")):
        host = "https://" + host  # as the kfp client does
    if args.dry_run:
        print(f"# kfp: create run {run_name!r} on {host or '<KF_PIPELINES_ENDPOINT>'}"
              f" (dry run: not sent)")
        print(json.dumps({"pipeline_package": str(package), "arguments": arguments,
                          "experiment": args.experiment, "namespace": args.namespace},
                         indent=1))
        return ExitCode.OK
    token = _kfp_token(args.token_file)
    try:
        import kfp
        import kfp_server_api
    except ImportError:
        raise SubmitError("the kfp SDK is not installed: pip install 'nb2pipe[kfp]' (in its "
                          "own environment: kfp pins an older kubernetes client)") from None
    import warnings

    try:
        if host and _kfp_probe(host, token) and not args.namespace and \
                not Path(POD_NAMESPACE).is_file():  # in a pod the kfp client reads it there
            raise SubmitError(f"Kubeflow Pipelines at {host} is multi-user: pass --namespace "
                              "(your Kubeflow profile's namespace)")
        with warnings.catch_warnings():  # "This client only works with KFP v2.0.0-beta.2 ..."
            warnings.simplefilter("ignore", FutureWarning)
            # kfp's own default namespace ("kubeflow", which also names the in-cluster host
            # ml-pipeline.kubeflow.svc) unless one is given
            scope = {"namespace": args.namespace} if args.namespace else {}
            client = kfp.Client(host=host or None, existing_token=token, **scope)
        run = client.create_run_from_pipeline_package(
            str(package), arguments=arguments, run_name=run_name,
            experiment_name=args.experiment, namespace=args.namespace)
    except SubmitError:
        raise
    except kfp_server_api.ApiException as exc:
        if not exc.status:  # TLS failure or no response: kfp reports status 0
            raise SubmitError(f"cannot reach Kubeflow Pipelines at {host or '(default host)'}: "
                              f"{_reason(exc.reason)}") from None
        raise SubmitError(kfp_error_message(exc.status, exc.body or exc.reason or "",
                                            host or "(default host)", args.namespace)) from None
    except Exception as exc:  # noqa: BLE001 - connection refused, DNS, timeouts, bad package
        import urllib3

        if isinstance(exc, urllib3.exceptions.HTTPError):
            cause = getattr(exc, "reason", None) or exc
            raise SubmitError(f"cannot reach Kubeflow Pipelines at {host or '(default host)'}: "
                              f"{_reason(str(cause))}") from None
        raise SubmitError(f"Kubeflow Pipelines refused the run: {_reason(str(exc))}") from None
    info = run.run_info
    print(f"submitted run {info.display_name or run_name} (id {info.run_id}, experiment "
          f"{info.experiment_id})")
    return ExitCode.OK


def _recompile_with_image(project: Path, image: str) -> Path:
    import os
    import tempfile

    from nb2pipe.emit.kfp import compile_source, kfp_available

    if not kfp_available():
        raise SubmitError("--image with --engine kfp recompiles the pipeline and needs the kfp "
                          "SDK: pip install 'nb2pipe[kfp]'")
    source = (project / "deploy" / "kfp_pipeline.py").read_text(encoding="utf-8")
    out = Path(tempfile.mkdtemp(prefix="nb2pipe-kfp-")) / "kfp-pipeline.yaml"
    old = os.environ.get("NB2PIPE_IMAGE")
    os.environ["NB2PIPE_IMAGE"] = image
    try:
        compile_source(source, str(out))
    finally:
        if old is None:
            os.environ.pop("NB2PIPE_IMAGE", None)
        else:
            os.environ["NB2PIPE_IMAGE"] = old
    return out


def main(args: argparse.Namespace) -> int:
    project = Path(args.project)
    if not project.is_dir():
        print(f"nb2pipe: error: {project}: no such project folder", file=sys.stderr)
        return ExitCode.USAGE
    try:
        if args.serve:
            from nb2pipe.deploy.submit_serve import submit_serving

            return submit_serving(args)
        if args.model_run:
            raise SubmitError("--model-run goes with --serve")
        return submit_argo(args) if args.engine == "argo" else submit_kfp(args)
    except SubmitError as exc:
        print(f"nb2pipe submit: {exc}", file=sys.stderr)
        return ExitCode.FINDINGS
