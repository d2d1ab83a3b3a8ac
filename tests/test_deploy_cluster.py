"""Issue 15: the Kubernetes output runs on a cluster with default settings, as generated.

No API server here: each finding of the issue is checked up to the cluster boundary, against
Argo's official JSON schema (v3.6.19, tests/schemas/, strict: unknown fields fail), the
kubernetes client's models, the `restricted` Pod Security Standard applied to every container
of every pod as Argo builds it (its own init and wait containers included), and the commands
deploy/README.md shows.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import SAMPLE_NAMES, make_notebook
from deploy_helpers import convert_samples, yaml_docs
from nb2pipe.api import convert

pytest.importorskip("kubernetes")
jsonschema = pytest.importorskip("jsonschema")

from deploy_schemas import k8s_errors, restricted_violations, strict  # noqa: E402

SCHEMA = Path(__file__).parent / "schemas" / "argo-workflows-v3.6.19.schema.json"
IMAGE_REF = "{{workflow.parameters.nb2pipe-image}}"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return convert_samples(tmp_path_factory.mktemp("cluster"))


@functools.lru_cache(maxsize=None)
def _official(definition: str) -> dict:
    """Argo's own schema for one definition, strict (additionalProperties: false)."""
    schema = strict(json.loads(SCHEMA.read_text(encoding="utf-8")))
    return {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}


def official_errors(doc: dict, definition: str) -> list[str]:
    validator = jsonschema.Draft7Validator(_official(definition))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in validator.iter_errors(doc)]


def _workflows(out: Path) -> list[dict]:
    return [d for f in ("argo-workflow.yaml", "argo-workflow-pvc.yaml")
            for d in yaml_docs(out / "deploy" / f)]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_workflow_passes_argos_official_schema(samples, name):
    _, out, _ = samples[name]
    for doc in _workflows(out):
        assert official_errors(doc, f"io.argoproj.workflow.v1alpha1.{doc['kind']}") == []


# ---- 1. an artifact repository the Workflow names, generated --------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_the_workflow_names_its_artifact_repository_and_the_repository_is_generated(samples,
                                                                                    name):
    _, out, _ = samples[name]
    (configmap,) = yaml_docs(out / "deploy/argo-artifact-repository.yaml")
    assert k8s_errors(configmap) == []
    wf, template, pvc = _workflows(out)
    for doc in (wf, template):
        ref = doc["spec"]["artifactRepositoryRef"]
        assert ref["configMap"] == configmap["metadata"]["name"]
        repo = yaml.safe_load(configmap["data"][ref["key"]])
        assert official_errors(repo, "io.argoproj.workflow.v1alpha1.ArtifactRepository") == []
        assert repo["s3"]["bucket"] and repo["s3"]["endpoint"]
    assert "artifactRepositoryRef" not in pvc["spec"]  # values travel over its volume


# ---- 2. a service account with the rights Argo's executor needs -------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_pods_run_as_a_service_account_allowed_to_report_task_results(samples, name):
    _, out, _ = samples[name]
    docs = {d["kind"]: d for d in yaml_docs(out / "deploy/argo-rbac.yaml")}
    assert set(docs) == {"ServiceAccount", "Role", "RoleBinding"}
    for d in docs.values():
        assert k8s_errors(d) == [], d["kind"]
    account = docs["ServiceAccount"]["metadata"]["name"]
    rules = docs["Role"]["rules"]
    assert {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
            "verbs": ["create", "patch"]} in rules
    binding = docs["RoleBinding"]
    assert binding["roleRef"]["name"] == docs["Role"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account}]
    for wf in _workflows(out):
        assert wf["spec"]["serviceAccountName"] == account


# ---- 3. the restricted profile, for every container of every pod ------------------------------

def _merge_by_name(base: list[dict], patch: list[dict]) -> list[dict]:
    """Kubernetes' strategic merge of a container list (merge key: name)."""
    out = copy.deepcopy(base)
    for p in patch:
        target = next((c for c in out if c["name"] == p["name"]), None)
        if target is None:
            out.append(copy.deepcopy(p))
        else:
            for k, v in p.items():
                target[k] = copy.deepcopy(v)
    return out


def argo_pods(wf: dict) -> list[dict]:
    """The Pod each container template becomes, as Argo's controller builds it: its `init`
    container (copies argoexec, loads input artifacts) and `wait` container (saves outputs)
    with the controller's default (empty) executor security context, the template's own init
    containers and main container, the Workflow's pod security context and volumes, then the
    Workflow's podSpecPatch."""
    spec = wf["spec"]
    pods = []
    for t in spec["templates"]:
        if "container" not in t:
            continue
        executor = {"image": "quay.io/argoproj/argoexec:v3.6.19"}
        pod = {"securityContext": spec.get("securityContext", {}),
               "serviceAccountName": spec.get("serviceAccountName", "default"),
               "volumes": spec.get("volumes", []),
               "initContainers": [{"name": "init", **executor}] + t.get("initContainers", []),
               "containers": [{"name": "wait", **executor}, t["container"]]}
        patch = yaml.safe_load(spec.get("podSpecPatch", "{}"))
        for key in ("initContainers", "containers"):
            pod[key] = _merge_by_name(pod[key], patch.get(key, []))
        pods.append(pod)
    return pods


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_container_of_every_pod_passes_the_restricted_profile(samples, name):
    _, out, _ = samples[name]
    for wf in _workflows(out):
        pods = argo_pods(wf)
        assert pods
        for pod in pods:
            assert restricted_violations(pod) == []
            assert k8s_errors(pod, "V1PodSpec") == []


def test_without_the_patch_argos_own_containers_would_be_rejected(samples):
    """The check above is not vacuous: Argo's default executor context fails it."""
    _, out, _ = samples["churn"]
    wf = copy.deepcopy(_workflows(out)[0])
    del wf["spec"]["podSpecPatch"]
    problems = restricted_violations(argo_pods(wf)[0])
    assert any(p.startswith("init:") for p in problems)
    assert any(p.startswith("wait:") for p in problems)


# ---- 4. the image is a parameter the submit must give -----------------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_the_image_is_a_required_parameter_not_an_unpullable_name(samples, name):
    _, out, _ = samples[name]
    for wf in _workflows(out):
        params = wf["spec"]["arguments"]["parameters"]
        assert {"name": "nb2pipe-image"} in params  # no value: `argo submit` asks for it
        for t in wf["spec"]["templates"]:
            for c in [t.get("container")] + t.get("initContainers", []):
                if c is not None and not re.search(r"[:/]", c["image"].replace(IMAGE_REF, "")):
                    assert c["image"] == IMAGE_REF


def test_submit_without_an_image_says_so(samples, capsys):
    from nb2pipe.cli import main

    _, out, _ = samples["churn"]
    assert main(["submit", str(out), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "--image" in err and "Traceback" not in err
    assert main(["submit", str(out), "--dry-run", "--image", "reg.example/churn:1"]) == 0
    wf = yaml.safe_load(capsys.readouterr().out.split("\n", 1)[1])
    params = {p["name"]: p.get("value") for p in wf["spec"]["arguments"]["parameters"]}
    assert params["nb2pipe-image"] == "reg.example/churn:1"


# ---- 5. --data-from s3://BUCKET/PREFIX is a bucket and a prefix --------------------------------

def test_data_from_an_s3_url_reads_that_bucket_with_the_repositorys_endpoint(samples):
    from nb2pipe.deploy.submit import prepare_workflow

    _, out, _ = samples["churn"]
    wf = prepare_workflow(out, "reg/x:1", data_from="s3://bkt/pre/")
    arts = [a for t in wf["spec"]["templates"] for a in t.get("inputs", {}).get("artifacts", [])
            if "s3" in a]
    assert arts
    for a in arts:
        s3 = a["s3"]
        assert s3["bucket"] == "bkt" and s3["key"].startswith("pre/data/")
        assert "s3://" not in s3["key"]
        assert s3["endpoint"] and s3["accessKeySecret"]["key"] == "accesskey"
    assert official_errors(wf, "io.argoproj.workflow.v1alpha1.Workflow") == []
    key_only = prepare_workflow(out, "reg/x:1", data_from="datasets/churn")
    arts = [a for t in key_only["spec"]["templates"]
            for a in t.get("inputs", {}).get("artifacts", []) if "s3" in a]
    assert arts and all(a["s3"] == {"key": f"datasets/churn/{a['path'][len('/app/work/'):]}"}
                        for a in arts)


def test_data_from_another_scheme_is_refused_clearly(samples, capsys):
    from nb2pipe.cli import main

    _, out, _ = samples["churn"]
    assert main(["submit", str(out), "--dry-run", "--image", "r/x:1",
                 "--data-from", "gs://b/p"]) == 1
    assert "s3://BUCKET/PREFIX" in capsys.readouterr().err


def test_an_existing_artifact_repository_can_be_named_at_submit(samples):
    from nb2pipe.deploy.submit import prepare_workflow

    _, out, _ = samples["churn"]
    wf = prepare_workflow(out, "reg/x:1", artifact_repo="artifact-repositories:team-s3")
    assert wf["spec"]["artifactRepositoryRef"] == {"configMap": "artifact-repositories",
                                                   "key": "team-s3"}


# ---- 6. secrets: one name each, exactly the keys the pods ask for -----------------------------

@pytest.fixture(scope="module")
def tagged_secret(tmp_path_factory):
    root = tmp_path_factory.mktemp("tagged-secret")
    nb = make_notebook(root / "tok.ipynb", [
        ("code", 'import os\nTOKEN = "tok-8f3a9b2c7d5e"\nn = len(TOKEN)',
         ["step:load", "secret:MY_TOKEN"]),
        ("code", 'url = os.environ["DB_URL"]\nm = n + len(url)', ["step:use", "secret:DB_URL"]),
    ])
    out = root / "tok_pipeline"
    res = convert(nb, out)
    assert res.ok, [d.format() for d in res.diagnostics]
    return res, out


def _secret_refs(out: Path) -> dict[str, set[str]]:
    refs: dict[str, set[str]] = {}
    for wf in _workflows(out):
        for t in wf["spec"]["templates"]:
            for e in t.get("container", {}).get("env", []):
                if "valueFrom" in e:
                    ref = e["valueFrom"]["secretKeyRef"]
                    assert ref["key"] == e["name"]
                    refs.setdefault(ref["name"], set()).add(ref["key"])
    return refs


def _env_keys(path: Path) -> list[str]:
    return [ln.split("=", 1)[0] for ln in path.read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


def test_a_tag_names_the_one_env_var_of_its_cells_secret(tagged_secret):
    res, out = tagged_secret
    code = (out / "tok_pipeline/steps/load.py").read_text()
    assert 'os.environ["MY_TOKEN"]' in code and '"TOKEN"' not in code
    refs = _secret_refs(out)
    assert refs == {"tok-pipeline-secrets": {"MY_TOKEN", "DB_URL"}}
    keys = _env_keys(out / "secrets.local.env")
    assert sorted(keys) == ["DB_URL", "MY_TOKEN"]
    text = (out / "secrets.local.env").read_text()
    assert "MY_TOKEN=tok-8f3a9b2c7d5e" in text
    assert "\nDB_URL=\n" in text  # read by the pipeline, not in the notebook: to fill in
    kfp = (out / "deploy/kfp_pipeline.py").read_text()
    assert '"MY_TOKEN": "MY_TOKEN"' in kfp and '"TOKEN": "TOKEN"' not in kfp


@pytest.mark.parametrize("fixture", ["tagged_secret"])
def test_no_secret_manifest_and_no_secret_value_as_a_step_output(fixture, request):
    res, out = request.getfixturevalue(fixture)
    assert not (out / "deploy/secret.yaml").exists()
    derived = {n for n, _ in res.plan.secret_derived}
    assert "TOKEN" in derived
    for s in res.plan.steps:
        assert not derived & set(s.outputs), s.name
    for wf in _workflows(out):
        for t in wf["spec"]["templates"]:
            names = {a["name"] for a in t.get("outputs", {}).get("artifacts", [])}
            assert not names & derived


# ---- 8. limits and a read-only root filesystem ------------------------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_step_has_a_memory_limit_and_a_read_only_root(samples, name):
    _, out, _ = samples[name]
    for wf in _workflows(out):
        volumes = {v["name"] for v in wf["spec"]["volumes"]}
        for t in wf["spec"]["templates"]:
            c = t.get("container")
            if c is None:
                continue
            res = c["resources"]
            assert res["limits"]["memory"] and res["requests"]["cpu"]
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert mounts["/tmp"] in volumes and mounts["/app/work"] in volumes
            (copier,) = t["initContainers"]
            assert copier["image"] == c["image"]
            assert copier["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_gpu_step_gets_memory_and_cpu_too(tmp_path):
    nb = make_notebook(tmp_path / "g.ipynb", [
        ("code", "x = 1", ["step:prep"]),
        ("code", "y = x + 1", ["step:train", "gpu:1"]),
    ])
    res = convert(nb, tmp_path / "g_pipeline")
    assert res.ok
    wf = yaml_docs(tmp_path / "g_pipeline/deploy/argo-workflow.yaml")[0]
    train = next(t for t in wf["spec"]["templates"] if t["name"] == "train")["container"]
    assert train["resources"] == {"limits": {"memory": "1Gi", "nvidia.com/gpu": "1"},
                                  "requests": {"cpu": "100m", "memory": "256Mi"}}


# ---- 9. KFP: kfp in the image, a security context ---------------------------------------------

def test_kfp_components_use_the_kfp_in_the_image_and_set_a_security_context(samples):
    _, out, _ = samples["churn"]
    src = (out / "deploy/kfp_pipeline.py").read_text()
    assert 'os.environ.get("NB2PIPE_KFP_INSTALL", "0") == "1"' in src
    assert "kfp_k8s.set_security_context(" in src and "run_as_non_root=True" in src
    assert ".set_memory_limit(\"1Gi\")" in src
    dockerfile = (out / "Dockerfile").read_text()
    assert re.search(r'pip install --no-deps "kfp==[0-9.]+"', dockerfile)
    assert "/gcs /minio /s3" in dockerfile


# ---- deploy/README.md: every command, checked up to the cluster boundary ----------------------

def _readme_commands(out: Path) -> list[list[str]]:
    text = (out / "deploy/README.md").read_text()
    blocks = re.findall(r"```\n(.*?)```", text, re.S)
    return [shlex.split(line.split("   #")[0]) for b in blocks for line in b.splitlines()
            if line.strip()]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_each_readme_command_matches_the_generated_files(samples, name, capsys):
    from nb2pipe.cli import main

    res, out, _ = samples[name]
    commands = _readme_commands(out)
    programs = {c[0] for c in commands}
    assert {"docker", "kubectl", "argo", "nb2pipe"} <= programs
    for cmd in commands:
        if cmd[:2] == ["kubectl", "apply"]:
            path = out / cmd[cmd.index("-f") + 1]
            for doc in yaml_docs(path):
                assert k8s_errors(doc) == [], path
        elif cmd[:4] == ["kubectl", "create", "secret", "generic"]:
            name_ = cmd[4]
            if "--from-env-file=secrets.local.env" in cmd:
                assert name_ in _secret_refs(out)
            else:  # the artifact repository's credentials
                (cm,) = yaml_docs(out / "deploy/argo-artifact-repository.yaml")
                repo = yaml.safe_load(next(iter(cm["data"].values())))["s3"]
                assert repo["accessKeySecret"]["name"] == name_
                given = {a.split("=", 1)[1].split("=")[0] for a in cmd
                         if a.startswith("--from-literal=")}
                assert given == {repo["accessKeySecret"]["key"], repo["secretKeySecret"]["key"]}
        elif cmd[:2] == ["argo", "submit"]:
            wf = yaml_docs(out / cmd[cmd.index("-n") + 2])[0]
            declared = {p["name"] for p in wf["spec"]["arguments"]["parameters"]}
            given = {cmd[i + 1].split("=")[0] for i, a in enumerate(cmd) if a == "-p"}
            missing = {p["name"] for p in wf["spec"]["arguments"]["parameters"]
                       if "value" not in p}
            assert given <= declared and missing <= given
        elif cmd[:2] == ["nb2pipe", "submit"]:
            args = [str(out) if a == "." else a for a in cmd[1:]] + ["--dry-run"]
            assert main(args) == 0, capsys.readouterr().err
            capsys.readouterr()
        elif cmd[:2] == ["docker", "build"]:
            assert (out / "Dockerfile").is_file()
            # the project folder is the whole context (tests/test_image.py checks every COPY)
            assert cmd[-1] == "." and "--build-context" not in cmd


# ---- requests and limits from measurement -----------------------------------------------------

def test_a_local_run_measures_each_step_and_the_next_conversion_sizes_it(tmp_path, capsys):
    """`nb2pipe run` records each step's peak memory and CPU time in the lineage; converting
    again emits requests and a memory limit from them, and a tag still wins."""
    from nb2pipe.cli import main
    from nb2pipe.tracking.store import Store

    nb = make_notebook(tmp_path / "m.ipynb", [
        ("code", "big = bytearray(80 * 1024 * 1024)\nn = len(big)", ["step:alloc"]),
        ("code", "m = n + 1", ["step:small", "limit:memory:3Gi"]),
    ])
    out = tmp_path / "m_pipeline"
    assert convert(nb, out).ok
    assert main(["run", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    store = Store(out, create=False)
    try:
        used = store.measured_resources()
    finally:
        store.close()
    assert set(used) == {"alloc", "small"}
    assert used["alloc"]["peak_rss_kb"] > 80 * 1024 > 0 and used["alloc"]["cpu_seconds"] >= 0
    assert main(["runs", "show", str(out), "latest"]) == 0
    assert "MiB" in capsys.readouterr().out
    assert convert(nb, out).ok
    wf = yaml_docs(out / "deploy/argo-workflow.yaml")[0]
    t = {x["name"]: x for x in wf["spec"]["templates"]}
    alloc = t["alloc"]["container"]["resources"]
    request_mib = int(alloc["requests"]["memory"].removesuffix("Mi"))
    limit_mib = int(alloc["limits"]["memory"].removesuffix("Mi"))
    peak_mib = used["alloc"]["peak_rss_kb"] / 1024
    assert peak_mib <= request_mib < limit_mib and limit_mib >= 2 * peak_mib
    assert t["small"]["container"]["resources"]["limits"]["memory"] == "3Gi"  # the tag wins
    assert "measured in run 1" in (out / "deploy/README.md").read_text()


# ---- issue 17: the scheduled retrain ------------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_cron_workflow_passes_the_official_schema_and_the_restricted_profile(samples, name):
    _, out, _ = samples[name]
    docs = yaml_docs(out / "deploy" / "argo-cronworkflow.yaml")
    assert [d["kind"] for d in docs] == ["CronWorkflow"]
    cron = docs[0]
    assert official_errors(cron, "io.argoproj.workflow.v1alpha1.CronWorkflow") == []
    # the workflow it starts is the pipeline's, behind the check: same checks as the Workflow
    wf = {"apiVersion": cron["apiVersion"], "kind": "Workflow",
          "metadata": {"generateName": cron["metadata"]["name"] + "-"},
          "spec": cron["spec"]["workflowSpec"]}
    assert official_errors(wf, "io.argoproj.workflow.v1alpha1.Workflow") == []
    pods = argo_pods(wf)
    assert len(pods) == len(wf["spec"]["templates"]) - 1  # every container template
    for pod in pods:
        assert restricted_violations(pod) == []
    tasks = wf["spec"]["templates"][0]["dag"]["tasks"]
    assert tasks[0]["name"] == "nb2pipe-check" and "when" not in tasks[0]
    for task in tasks[1:]:
        assert task["when"] == "{{tasks.nb2pipe-check.outputs.parameters.due}} == true"
        # steps wait for the check; the record step for every step
        assert "nb2pipe-check" in task["dependencies"] or task["name"] == "nb2pipe-record"
