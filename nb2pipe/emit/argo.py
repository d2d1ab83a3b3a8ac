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
IMAGE = f"{{{{workflow.parameters.{k8s.IMAGE_PARAMETER}}}}}"


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
    if not pvc:  # the model the serving manifests fetch (serve_k8s.py)
        from nb2pipe.emit import serve_k8s

        out_arts += serve_k8s.publish_artifacts(plan, step)
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
    image = d.image or IMAGE
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": _command(plan, step, pvc),
        "env": k8s.env(plan, d),
        "resources": k8s.resources(d),
        "securityContext": k8s.container_security_context(),
        "volumeMounts": k8s.scratch_mounts() + (
            [{"name": "values", "mountPath": PVC_MOUNT}] if pvc else []),
    }
    tpl["initContainers"] = [k8s.work_copy_container(image)]
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
    # the image has no default: `argo submit` asks for it (see k8s.IMAGE_PARAMETER)
    spec["arguments"] = {"parameters": [{"name": k8s.IMAGE_PARAMETER}] + [
        {"name": n, "value": lit} for n, lit in plan.parameters]}
    spec["serviceAccountName"] = k8s.service_account_name(plan)
    if not pvc:  # values travel through this repository (deploy/argo-artifact-repository.yaml)
        spec["artifactRepositoryRef"] = k8s.artifact_repository_ref(plan)
    spec["securityContext"] = k8s.pod_security_context()
    spec["podSpecPatch"] = k8s.executor_pod_spec_patch()
    spec["volumes"] = list(k8s.SCRATCH_VOLUMES)
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


# ---- the scheduled retrain: a CronWorkflow whose first step decides --------------------------
CRON_SCHEDULE = "0 6 * * *"  # daily, 06:00 (the controller's time zone)
CHECK_TASK, RECORD_TASK = "nb2pipe-check", "nb2pipe-record"  # no step is named so
CHECK_OUT = "/tmp/nb2pipe/check"
LAST_HASHES = "/tmp/nb2pipe/last/hashes.json"
RECORD_PATH = "/tmp/nb2pipe/record/hashes.json"
SMALL = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def hashes_key(plan: PipelinePlan) -> str:
    """Where the last successful scheduled run keeps its hashes in the artifact repository."""
    return f"{plan.package.replace('_', '-')}/nb2pipe-trigger/hashes.json"


def _small_container(command: list[str], image: str = IMAGE) -> dict[str, Any]:
    return {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
            "command": command, "resources": SMALL,
            "securityContext": k8s.container_security_context(),
            "volumeMounts": k8s.scratch_mounts()}


def _check_template(plan: PipelinePlan) -> dict[str, Any]:
    """`python -m <pkg> check`: the hashes of the image's code and data against the last
    successful run's (absent the first time: due)."""
    return {"name": CHECK_TASK,
            "inputs": {"artifacts": [{"name": "last-hashes", "path": LAST_HASHES,
                                      "optional": True, "s3": {"key": hashes_key(plan)}}]},
            "outputs": {"parameters": [{"name": "due",
                                        "valueFrom": {"path": f"{CHECK_OUT}/due"}}],
                        "artifacts": [{"name": "hashes", "path": f"{CHECK_OUT}/hashes.json"}]},
            "initContainers": [k8s.work_copy_container(IMAGE)],
            "container": _small_container(["python", "-m", plan.package, "check", "--last",
                                           LAST_HASHES, "--out", CHECK_OUT])}


def _record_template(plan: PipelinePlan) -> dict[str, Any]:
    """After every step succeeded: the check's hashes saved at the fixed key, so the next
    scheduled run compares with this one."""
    return {"name": RECORD_TASK,
            "inputs": {"artifacts": [{"name": "hashes", "path": RECORD_PATH}]},
            "outputs": {"artifacts": [{"name": "recorded", "path": RECORD_PATH,
                                       "s3": {"key": hashes_key(plan)}}]},
            "container": _small_container(["python", "-c", "pass"])}


def _cron_dag(plan: PipelinePlan) -> dict[str, Any]:
    """The pipeline's DAG behind the check: every step runs only when it says so."""
    when = f"{{{{tasks.{CHECK_TASK}.outputs.parameters.due}}}} == true"
    tasks: list[dict[str, Any]] = [{"name": CHECK_TASK, "template": CHECK_TASK}]
    for task in _dag(plan, False)["tasks"]:
        task = {**task, "dependencies": sorted(set(task.get("dependencies", [])) | {CHECK_TASK}),
                "when": when}
        tasks.append(task)
    tasks.append({"name": RECORD_TASK, "template": RECORD_TASK,
                  "dependencies": sorted(s.k8s_name for s in plan.steps), "when": when,
                  "arguments": {"artifacts": [{"name": "hashes", "from": f"{{{{tasks."
                                               f"{CHECK_TASK}.outputs.artifacts.hashes}}}}"}]}})
    return {"tasks": tasks}


def cron_workflow(plan: PipelinePlan) -> dict[str, Any]:
    spec = _spec(plan, False)
    spec["templates"] = ([{"name": "pipeline", "dag": _cron_dag(plan)}] + spec["templates"][1:]
                         + [_check_template(plan), _record_template(plan)])
    meta = _metadata(plan, "CronWorkflow")
    meta["name"] = k8s.k8s_name(plan.package.replace("_", "-"), 44) + "-retrain"
    return {"apiVersion": API_VERSION, "kind": "CronWorkflow", "metadata": meta,
            "spec": {"schedules": [CRON_SCHEDULE], "concurrencyPolicy": "Forbid",
                     "workflowSpec": spec}}


def _cron_comment(plan: PipelinePlan) -> str:
    h = header(plan).strip().lstrip("# ")
    return (f"{h}\nRetrain on a schedule: step nb2pipe-check compares the image's code and data "
            f"with the hashes the last successful run saved ({hashes_key(plan)} in the "
            "artifact repository); the steps run only when they differ.\nCreate: argo cron "
            f"create -n NAMESPACE deploy/argo-cronworkflow.yaml -p {k8s.IMAGE_PARAMETER}=IMAGE")


def _comment(plan: PipelinePlan, pvc: bool) -> str:
    h = header(plan).strip().lstrip("# ")
    how = (f"Values pass through the artifact repository {k8s.artifact_repository_name(plan)} "
           "(deploy/argo-artifact-repository.yaml).") if not pvc else (
        "Values pass over a ReadWriteOnce volume (no artifact repository needed); steps run "
        "on the node that mounts it.")
    submit = (f"argo submit -n NAMESPACE deploy/argo-workflow{'-pvc' if pvc else ''}.yaml "
              f"-p {k8s.IMAGE_PARAMETER}=IMAGE (after the steps in deploy/README.md)")
    return f"{h}\n{how}\nSubmit: {submit}"


def deploy_readme(plan: PipelinePlan) -> str:
    """deploy/README.md: from a cluster with Argo Workflows (or Kubeflow Pipelines) installed
    to a finished run, one command at a time (tests/test_deploy_cluster.py checks each command
    against the generated files, up to the cluster boundary)."""
    from nb2pipe.emit import serve_k8s

    image = f"REGISTRY/{k8s.k8s_name(plan.package.replace('_', '-'))}:1"
    lines = (_readme_image_section(plan, image) + _readme_namespace_section(plan)
             + _readme_secrets_section(plan) + _readme_run_section(plan, image)
             + _readme_measured_section(plan) + serve_k8s.readme_lines(plan, image)
             + _readme_kfp_section(image) + _readme_unused_tags_section(plan))
    return "\n".join(lines)


def _readme_image_section(plan: PipelinePlan, image: str) -> list[str]:
    """Title and step 1: the one image every step runs in must be built and pushed first."""
    from nb2pipe.emit import docker

    return [f"# Deploying {plan.package}", "",
            "From a Kubernetes cluster with Argo Workflows installed to a finished run. Every "
            "command runs from the generated project's folder; `ml` is the namespace.", "",
            "## 1. The image", "",
            "The Dockerfile installs the generated package on a Python image pinned by full "
            "version, with every distribution the steps need from `requirements.lock` "
            "(pinned to the environment the notebook was converted in), and runs as a non-root "
            "user. This project folder is the whole build context (or use `podman build`). "
            "Build the image and push it to a registry the cluster pulls from:", "",
            "```", docker.build_command(image), f"docker push {image}", "```", ""
            ] + _context_note(plan)


def _readme_namespace_section(plan: PipelinePlan) -> list[str]:
    """Step 2: what a namespace needs once (rights, artifact store, the notebook's secrets)
    before any run can start."""
    repo = k8s.artifact_repository_name(plan)
    lines = ["## 2. Once per namespace", "",
             f"The pods run as the service account `{k8s.service_account_name(plan)}`, with the "
             "one right Argo's executor needs (`argo-rbac.yaml`). Values travel between steps "
             f"through the artifact repository `{repo}` (`argo-artifact-repository.yaml`): edit "
             "its bucket and endpoint first (an S3-compatible store: AWS S3, MinIO, GCS's S3 "
             "interface), and give it its credentials.", "",
             "```",
             "kubectl create namespace ml",
             "kubectl apply -n ml -f deploy/argo-rbac.yaml",
             "kubectl apply -n ml -f deploy/argo-artifact-repository.yaml",
             f"kubectl create secret generic {repo} -n ml --from-literal=accesskey=ACCESS_KEY "
             "--from-literal=secretkey=SECRET_KEY"]
    if k8s.all_secrets(plan):
        lines.append(k8s.secret_command(plan).replace(" --from-env-file", " -n ml "
                                                      "--from-env-file"))
    return lines + ["```", ""]


def _readme_secrets_section(plan: PipelinePlan) -> list[str]:
    """Where the notebook's secrets come from on the cluster, and why values built from them
    are recomputed rather than passed (nothing when the notebook reads none)."""
    secrets = k8s.all_secrets(plan)
    if not secrets:
        return []
    lines = ["The notebook's secrets were replaced by environment reads. The steps get "
             f"them from the Secret `{k8s.secret_name(plan)}`, made from the git-ignored "
             "`secrets.local.env` conversion wrote, which holds exactly the keys the steps "
             "read (" + ", ".join(f"`{s}`" for s in secrets) + "; fill in any left "
             "empty). No Secret manifest is generated: applying one would blank the real "
             "values.", ""]
    recomputed = sorted({(n, s.name) for s in plan.steps for n in s.recomputed})
    if recomputed:
        lines += ["Values built from a secret are never passed between steps (they would "
                  "be stored in the artifact repository): the steps that read one "
                  "recompute it from the Secret:", ""]
        lines += [f"- `{var}` in step `{st}`" for var, st in recomputed] + [""]
    return lines


def _readme_run_section(plan: PipelinePlan, image: str) -> list[str]:
    """Step 3: submitting a run, the schedule, and the limits every step runs under."""
    pkg = plan.package
    return ["## 3. Run", "",
            "`argo-workflow.yaml` holds a Workflow and a WorkflowTemplate: one DAG task per "
            f"step, each running `python -m {pkg} step NAME`. The image is the parameter "
            f"`{k8s.IMAGE_PARAMETER}` (no default: a run without it is refused).", "",
            "```",
            f"argo submit -n ml deploy/argo-workflow.yaml -p {k8s.IMAGE_PARAMETER}={image} "
            "--watch",
            f"nb2pipe submit . --engine argo --image {image} --namespace ml   # the same, "
            "without the argo CLI",
            "```", "",
            "`argo-workflow-pvc.yaml` passes the values over a ReadWriteOnce volume instead of "
            "the artifact repository (all steps then run on the node that mounts it).", "",
            "**Retraining on a schedule.** `argo-cronworkflow.yaml` runs the pipeline daily "
            f"(`schedules`, edit it) only when it is due: its first step, `python -m "
            f"{pkg} check` in the image, compares the hashes of the package's code "
            "and of every data file the steps read with those the last successful run saved "
            f"in the artifact repository (key `{hashes_key(plan)}`); the steps run only when "
            "they differ (or nothing was saved yet), and a last step saves the new hashes. "
            "So a new image (new code or data) is due; data read from elsewhere "
            "(`--data-from`) is not seen by the check. Create it with `argo cron create -n ml "
            f"deploy/argo-cronworkflow.yaml -p {k8s.IMAGE_PARAMETER}={image}`; locally and in CI, `nb2pipe trigger` "
            "does the same with the run store.", "",
            "Every container passes the `restricted` Pod Security Standard, Argo's own `init` "
            "and `wait` containers too (`podSpecPatch`); the steps' root filesystem is "
            "read-only (they write to `/tmp` and to a copy of the notebook's folder). Each "
            f"step asks for {k8s.DEFAULT_REQUESTS['cpu']} CPU and "
            f"{k8s.DEFAULT_REQUESTS['memory']} of memory, limited to "
            f"{k8s.DEFAULT_MEMORY_LIMIT}, unless its cell tags say otherwise: "
            "`limit:memory:2Gi`, `limit:cpu:2`, `request:cpu:500m`, `gpu:1`, `image:REPO:TAG`, "
            "`retry:3`, `timeout:30m`, `nodeselector:KEY:VALUE`, `label:KEY:VALUE`, "
            "`annotation:KEY:VALUE`, `cache:false` (KFP), `secret:ENV_NAME`. After a local "
            "run (`nb2pipe run`), converting again sizes each step from what it used.", ""]


def _readme_measured_section(plan: PipelinePlan) -> list[str]:
    """The sizes a local run measured, so a user sees where a step's requests came from."""
    measured = [(s.name, s.deploy.measured) for s in plan.steps if s.deploy.measured]
    if not measured:
        return []
    return (["Requests and memory limits from the last local run (tags still win):", ""]
            + [f"- `{name}`: {why}" for name, why in measured] + [""])


def _readme_kfp_section(image: str) -> list[str]:
    """The Kubeflow Pipelines alternative: the same project, another engine."""
    return ["## Kubeflow Pipelines", "",
            "`kfp-pipeline.yaml` is written when the `kfp` extra is installed "
            "(`pip install nb2pipe[kfp]`), or later with `nb2pipe compile-kfp .`; submit it "
            f"with `nb2pipe submit . --engine kfp --host URL --image {image}`.", ""]


def _readme_unused_tags_section(plan: PipelinePlan) -> list[str]:
    """Cell tags the deployment could not honour, so they are not silently ignored."""
    notes = [n for s in plan.steps for n in s.deploy.notes]
    if not notes:
        return []
    return ["## Tags not used", ""] + [f"- {n}" for n in notes] + [""]


def _context_note(plan: PipelinePlan) -> list[str]:
    """deploy/README.md: where the image's data and helper modules come from."""
    from nb2pipe.emit.docker import BUILD_CONTEXT, context_files

    submit = ("`nb2pipe submit . --engine argo --image IMAGE --data-from s3://BUCKET/PREFIX` "
              "adds an input artifact per data file, `PREFIX/<path>` in `BUCKET`, placed where "
              "the step reads it (`--data-from PREFIX` reads from the artifact repository's "
              "own bucket).")
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
    head = header(plan).strip().lstrip("# ")
    return {
        "deploy/argo-workflow.yaml": k8s.to_yaml(workflow_documents(plan), _comment(plan, False)),
        "deploy/argo-workflow-pvc.yaml": k8s.to_yaml(workflow_documents(plan, pvc=True),
                                                     _comment(plan, True)),
        "deploy/argo-cronworkflow.yaml": k8s.to_yaml([cron_workflow(plan)],
                                                     _cron_comment(plan)),
        "deploy/argo-rbac.yaml": k8s.to_yaml(
            k8s.rbac_documents(plan), head + "\nThe account the pods run as, with the rights "
            "Argo's executor needs: kubectl apply -n NAMESPACE -f deploy/argo-rbac.yaml"),
        "deploy/argo-artifact-repository.yaml": k8s.to_yaml(
            k8s.artifact_repository_documents(plan), head + "\nWhere values travel between "
            "steps. Edit bucket and endpoint, then: kubectl apply -n NAMESPACE -f "
            "deploy/argo-artifact-repository.yaml (credentials: see deploy/README.md)"),
        "deploy/README.md": deploy_readme(plan),
    }
