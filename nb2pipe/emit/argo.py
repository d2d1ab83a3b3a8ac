"""Emit deploy/argo-workflow.yaml: an Argo Workflow and a WorkflowTemplate with one DAG task
per step, the step entrypoint as the container command, values passed as artifacts through
the cluster's artifact repository (S3-compatible by default), pipeline parameters as workflow
parameters, metrics as (global) output parameters, per-step resources and placement from
tags, and a locked-down security context. deploy/argo-workflow-pvc.yaml is the same
pipeline exchanging values over a ReadWriteOnce volume instead, for clusters without an
artifact repository.

Container and pod fields are built from the kubernetes client's typed models (k8s.py); the
whole documents are validated strictly against a schema generated from Hera's Argo models
in tests/test_deploy_argo.py.
"""

from __future__ import annotations

from typing import Any

from nb2pipe.emit import k8s
from nb2pipe.emit.package import header
from nb2pipe.planning.model import PipelinePlan, Step

API_VERSION = "argoproj.io/v1alpha1"
PVC_MOUNT = "/nb2pipe"


def _task_name(step: Step) -> str:
    return step.k8s_name


def _template(plan: PipelinePlan, step: Step, pvc: bool) -> dict[str, Any]:
    d = step.deploy
    metas = {m for m, s in plan.metrics if s == step.name}
    tpl: dict[str, Any] = {"name": _task_name(step)}
    meta: dict[str, Any] = {}
    if d.labels:
        meta["labels"] = dict(sorted(d.labels.items()))
    if d.annotations:
        meta["annotations"] = dict(sorted(d.annotations.items()))
    if meta:
        tpl["metadata"] = meta
    inputs: dict[str, Any] = {}
    if step.params:
        inputs["parameters"] = [{"name": p} for p in step.params]
    arts: list[dict[str, Any]] = []
    if not pvc:
        arts += [{"name": n, "path": f"{k8s.VALUES_IN}/{n}"}
                 for n, _ in k8s.value_inputs(plan, step)]
    for flow in ([] if pvc else k8s.file_flows(plan)):
        if flow.reader == step.name:
            arts.append({"name": k8s.file_artifact(flow.path),
                         "path": f"{k8s.WORKDIR}/{flow.path}"})
    if arts:
        inputs["artifacts"] = arts
    if inputs:
        tpl["inputs"] = inputs
    outputs: dict[str, Any] = {}
    out_dir = f"{PVC_MOUNT}/{step.name}" if pvc else k8s.VALUES_OUT
    if metas:
        outputs["parameters"] = [
            {"name": k8s.artifact_name(m), "globalName": k8s.artifact_name(m),
             "valueFrom": {"path": f"{out_dir}/{m}/value.json", "default": ""}}
            for m in step.outputs if m in metas]
    out_arts: list[dict[str, Any]] = []
    if not pvc:
        out_arts += [{"name": n, "path": f"{k8s.VALUES_OUT}/{n}"} for n in k8s.value_outputs(step)]
    seen: set[str] = set()
    for flow in ([] if pvc else k8s.file_flows(plan)):
        if flow.writer == step.name and flow.path not in seen:
            seen.add(flow.path)
            out_arts.append({"name": k8s.file_artifact(flow.path),
                             "path": f"{k8s.WORKDIR}/{flow.path}"})
    for path in ([] if pvc else k8s.exported_files(plan, step)):
        out_arts.append({"name": k8s.file_artifact(path), "path": f"{k8s.WORKDIR}/{path}",
                         "optional": True})
    if out_arts:
        outputs["artifacts"] = out_arts
    if outputs:
        tpl["outputs"] = outputs
    if d.node_selector:
        tpl["nodeSelector"] = dict(sorted(d.node_selector.items()))
    if d.timeout:
        tpl["activeDeadlineSeconds"] = d.timeout
    if d.retries:
        tpl["retryStrategy"] = {"limit": d.retries, "retryPolicy": "OnFailure"}
    container: dict[str, Any] = {
        "name": "main",
        "image": d.image or k8s.default_image(plan),
        "imagePullPolicy": "IfNotPresent",
        "command": _command(plan, step, pvc),
        "env": k8s.env(plan, d),
        "resources": k8s.resources(d),
        "securityContext": k8s.container_security_context(),
    }
    if pvc:
        container["volumeMounts"] = [{"name": "values", "mountPath": PVC_MOUNT}]
    tpl["container"] = container
    return tpl


def _command(plan: PipelinePlan, step: Step, pvc: bool) -> list[str]:
    cmd = k8s.step_command(plan, step, lambda p: f"{{{{inputs.parameters.{p}}}}}")
    if not pvc:
        return cmd
    # Shared volume: each step writes /nb2pipe/<step>/<value>; its inputs are linked into
    # the input folder the entrypoint reads.
    links = [f"ln -s {PVC_MOUNT}/{src}/{n} {k8s.VALUES_IN}/{n}"
             for n, src in k8s.value_inputs(plan, step)]
    out = f"{PVC_MOUNT}/{step.name}"
    cmd = [c if c != k8s.VALUES_OUT else out for c in cmd]
    flows = k8s.file_flows(plan)
    pre = [f"mkdir -p $(dirname {_sh_quote(k8s.WORKDIR + '/' + f.path)}) && cp "
           f"{_sh_quote(PVC_MOUNT + '/files/' + f.path)} {_sh_quote(k8s.WORKDIR + '/' + f.path)}"
           for f in flows if f.reader == step.name]
    written = list(dict.fromkeys(f.path for f in flows if f.writer == step.name))
    post = [f"mkdir -p $(dirname {_sh_quote(PVC_MOUNT + '/files/' + p)}) && cp "
            f"{_sh_quote(k8s.WORKDIR + '/' + p)} {_sh_quote(PVC_MOUNT + '/files/' + p)}"
            for p in written]
    run = " ".join(_sh_quote(c) for c in cmd)
    script = " && ".join([f"mkdir -p {k8s.VALUES_IN} {out}", *links, *pre,
                          run if post else "exec " + run, *post])
    return ["sh", "-c", script]


def _sh_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _dag(plan: PipelinePlan, pvc: bool) -> dict[str, Any]:
    tasks = []
    flows = k8s.file_flows(plan)
    for step in plan.steps:
        task: dict[str, Any] = {"name": _task_name(step), "template": _task_name(step)}
        deps = sorted({plan.step(u).k8s_name for u in step.upstream})
        if deps:
            task["dependencies"] = deps
        args: dict[str, Any] = {}
        if step.params:
            args["parameters"] = [{"name": p, "value": f"{{{{workflow.parameters.{p}}}}}"}
                                  for p in step.params]
        arts = []
        if not pvc:
            arts += [{"name": n, "from": f"{{{{tasks.{plan.step(src).k8s_name}.outputs."
                                         f"artifacts.{n}}}}}"}
                     for n, src in k8s.value_inputs(plan, step)]
        for flow in ([] if pvc else flows):
            if flow.reader == step.name:
                name = k8s.file_artifact(flow.path)
                arts.append({"name": name, "from": f"{{{{tasks.{plan.step(flow.writer).k8s_name}"
                                                   f".outputs.artifacts.{name}}}}}"})
        if arts:
            args["artifacts"] = arts
        if args:
            task["arguments"] = args
        tasks.append(task)
    return {"tasks": tasks}


def _spec(plan: PipelinePlan, pvc: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"entrypoint": "pipeline"}
    if plan.parameters:
        spec["arguments"] = {"parameters": [{"name": n, "value": lit}
                                            for n, lit in plan.parameters]}
    spec["securityContext"] = k8s.pod_security_context()
    spec["podMetadata"] = {"labels": k8s.labels(plan)}
    spec["podGC"] = {"strategy": "OnPodSuccess"}
    if pvc:
        spec["volumeClaimTemplates"] = [{
            "metadata": {"name": "values"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}}]
    spec["templates"] = [{"name": "pipeline", "dag": _dag(plan, pvc)}] + [
        _template(plan, s, pvc) for s in plan.steps]
    return spec


def _metadata(plan: PipelinePlan, kind: str) -> dict[str, Any]:
    name = k8s.k8s_name(plan.package.replace("_", "-"), 52)
    meta: dict[str, Any] = ({"generateName": name + "-"} if kind == "Workflow"
                            else {"name": name})
    meta["labels"] = k8s.labels(plan)
    meta["annotations"] = {"nb2pipe.io/notebook": plan.notebook,
                           "nb2pipe.io/notebook-sha256": plan.notebook_hash}
    return meta


def workflow_documents(plan: PipelinePlan, pvc: bool = False) -> list[dict[str, Any]]:
    docs = [{"apiVersion": API_VERSION, "kind": "Workflow",
             "metadata": _metadata(plan, "Workflow"), "spec": _spec(plan, pvc)}]
    if not pvc:
        docs.append({"apiVersion": API_VERSION, "kind": "WorkflowTemplate",
                     "metadata": _metadata(plan, "WorkflowTemplate"), "spec": _spec(plan, pvc)})
    return docs


def _comment(plan: PipelinePlan, pvc: bool) -> str:
    h = header(plan).strip().lstrip("# ")
    how = ("Values pass through the cluster's default artifact repository (S3-compatible); "
           "see deploy/README.md.") if not pvc else (
        "Values pass over a ReadWriteOnce volume (no artifact repository needed); steps run "
        "on the node that mounts it.")
    return f"{h}\n{how}\nSubmit: nb2pipe submit . --engine argo --image IMAGE [--dry-run]"


def deploy_readme(plan: PipelinePlan) -> str:
    pkg = plan.package
    name = k8s.k8s_name(pkg.replace("_", "-"))
    notes = [n for s in plan.steps for n in s.deploy.notes]
    secrets = k8s.all_secrets(plan)
    lines = [f"# Deploying {pkg}", "",
             "## Image", "",
             "The Dockerfile installs the generated package on a Python image pinned by full "
             "version, with every distribution the steps need from `requirements.lock` "
             "(pinned to the environment the notebook was converted in), and runs as a non-root "
             "user. This project folder is the whole build context: in it, run", "",
             "```", f"docker build -t REGISTRY/{name}:1 .", "```", "",
             "(or `podman build -t REGISTRY/" + name + ":1 .`).", ""] + _context_note(plan) + [
             "## Argo Workflows", "",
             "`argo-workflow.yaml` holds a Workflow and a WorkflowTemplate: one DAG task per step, "
             "each running `python -m " + pkg + " step NAME --inputs DIR --outputs DIR`. Values "
             "travel as artifacts through the cluster's default artifact repository "
             "(S3-compatible, configured in the `artifact-repositories` ConfigMap). "
             "`argo-workflow-pvc.yaml` passes them over a volume instead.", "",
             "```", f"nb2pipe submit . --engine argo --image REGISTRY/{name}:1 --namespace ml",
             "argo submit deploy/argo-workflow.yaml     # or with the argo CLI", "```", "",
             "Per-step settings come from cell tags: `limit:memory:2Gi`, `limit:cpu:2`, "
             "`request:cpu:500m`, `gpu:1`, `image:REPO:TAG`, `retry:3`, `timeout:30m`, "
             "`nodeselector:KEY:VALUE`, `label:KEY:VALUE`, `annotation:KEY:VALUE`, "
             "`cache:false` (KFP), `secret:ENV_NAME`.", ""]
    if secrets:
        lines += ["## Secrets", "",
                  "The notebook's hard-coded secrets were replaced by environment reads. Steps get "
                  f"them from the Secret `{name}-secrets` (keys: "
                  + ", ".join(f"`{s}`" for s in secrets) + "). Create it from the local file "
                  "conversion wrote (git-ignored, never commit it):", "",
                  "```", f"kubectl create secret generic {name}-secrets "
                  "--from-env-file=secrets.local.env", "```", ""]
        recomputed = sorted({(n, s.name) for s in plan.steps for n in s.recomputed})
        if recomputed:
            lines += ["Values built from a secret are never passed between steps (they would "
                      "be stored in the artifact repository): the steps that read one "
                      "recompute it from the Secret:", ""]
            lines += [f"- `{var}` in step `{st}`" for var, st in recomputed] + [""]
    lines += ["## Kubeflow Pipelines", "",
              "`kfp-pipeline.yaml` is written when the `kfp` extra is installed "
              "(`pip install nb2pipe[kfp]`), or later with `nb2pipe compile-kfp .`; submit it with "
              "`nb2pipe submit . --engine kfp --host URL --image IMAGE`. KFP builds the pods "
              "itself (no per-task security context): enforce the `restricted` Pod Security "
              "Standard on the namespace. Components install kfp into the image at run time "
              "unless compiled with NB2PIPE_KFP_INSTALL=0 for an image that has it.", ""]
    if notes:
        lines += ["## Tags not used", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def _context_note(plan: PipelinePlan) -> list[str]:
    """deploy/README.md: where the image's data and helper modules come from."""
    from nb2pipe.emit.docker import BUILD_CONTEXT, context_files

    submit = ("`nb2pipe submit . --engine argo --data-from s3://BUCKET/PREFIX` adds an input "
              "artifact per data file, read from `PREFIX/<path>` and placed where the step "
              "reads it.")
    lines = []
    if context_files(plan):
        lines += [f"`nb2pipe convert` copies the files the image needs from the notebook's "
                  f"folder into `{BUILD_CONTEXT}/` (git-ignored; convert again after changing "
                  "them): " + ", ".join(f"`{f}`" for f in context_files(plan)) + ".", ""]
    if plan.data_in_image:
        lines += ["To keep the data out of the image, convert with `--no-data-in-image` and "
                  "pass the files as inputs instead: " + submit, ""]
    else:
        lines += ["The data files are not in the image (`--no-data-in-image`): " + submit, ""]
    return lines


def argo_files(plan: PipelinePlan) -> dict[str, str]:
    files = {
        "deploy/argo-workflow.yaml": k8s.to_yaml(workflow_documents(plan), _comment(plan, False)),
        "deploy/argo-workflow-pvc.yaml": k8s.to_yaml(workflow_documents(plan, pvc=True),
                                                     _comment(plan, True)),
        "deploy/README.md": deploy_readme(plan),
    }
    secret = k8s.secret_manifest(plan)
    if secret is not None:
        files["deploy/secret.yaml"] = k8s.to_yaml(
            [secret], header(plan).strip().lstrip("# ") + "\nKeys only: create the Secret "
            "from secrets.local.env, see deploy/README.md.")
    return files
