"""Issue 5: Argo Workflows, Kubernetes documents, Dockerfile/requirements, tags -> resources,
security context, secrets. No cluster here: every emitted document is validated strictly
(unknown fields are errors) against schemas from typed models, plus the references Argo
resolves at submit time.

Regenerate tests/golden_deploy/ with NB2PIPE_REGEN_GOLDEN=1 (never in CI).
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_NAMES
from deploy_helpers import GOLDEN_DEPLOY, GOLDEN_FILES, convert_samples, yaml_docs
from nb2pipe.api import convert

pytest.importorskip("hera", reason="deploy tests need Hera's Argo models (pip install hera)")
pytest.importorskip("jsonschema")

from deploy_schemas import argo_errors, k8s_errors  # noqa: E402

REGEN = os.environ.get("NB2PIPE_REGEN_GOLDEN") == "1"
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
ARG_NAME = re.compile(r"^[-a-zA-Z0-9_]+$")
RETRY_POLICIES = {"Always", "OnFailure", "OnError", "OnTransientError"}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return convert_samples(tmp_path_factory.mktemp("deploy"))


def argo_semantic_errors(doc: dict) -> list[str]:
    """What Argo's own validation checks beyond the schema: names, references, quantities."""
    errs: list[str] = []
    spec = doc["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    if spec["entrypoint"] not in templates:
        errs.append(f"entrypoint {spec['entrypoint']} is no template")
    wf_params = {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
    for name, t in templates.items():
        if not DNS_LABEL.match(name):
            errs.append(f"template name {name!r} is not a DNS label")
        c = t.get("container")
        if c:
            for kind in ("requests", "limits"):
                for res, q in (c.get("resources", {}).get(kind) or {}).items():
                    if not QUANTITY.match(str(q)):
                        errs.append(f"{name}: {kind}.{res}={q!r} is not a quantity")
            limits = c.get("resources", {}).get("limits") or {}
            for res, q in (c.get("resources", {}).get("requests") or {}).items():
                if res in limits and _q(q) > _q(limits[res]):
                    errs.append(f"{name}: request {res} above its limit")
            declared = {p["name"] for p in t.get("inputs", {}).get("parameters", [])}
            for arg in c.get("command", []):
                for ref in re.findall(r"\{\{inputs\.parameters\.([^}]+)\}\}", arg):
                    if ref not in declared:
                        errs.append(f"{name}: command uses undeclared parameter {ref}")
        rs = t.get("retryStrategy")
        if rs and rs.get("retryPolicy") not in RETRY_POLICIES:
            errs.append(f"{name}: retryPolicy {rs.get('retryPolicy')!r}")
        for a in t.get("inputs", {}).get("artifacts", []) + t.get("outputs", {}).get(
                "artifacts", []):
            if not ARG_NAME.match(a["name"]):
                errs.append(f"{name}: artifact name {a['name']!r}")
        if "dag" in t:
            tasks = {x["name"]: x for x in t["dag"]["tasks"]}
            for tname, task in tasks.items():
                if not DNS_LABEL.match(tname):
                    errs.append(f"task name {tname!r}")
                target = templates.get(task["template"])
                if target is None:
                    errs.append(f"task {tname}: no template {task['template']}")
                    continue
                for dep in task.get("dependencies", []):
                    if dep not in tasks:
                        errs.append(f"task {tname}: unknown dependency {dep}")
                wanted = {a["name"] for a in target.get("inputs", {}).get("artifacts", [])
                          if "s3" not in a}
                given = {a["name"] for a in task.get("arguments", {}).get("artifacts", [])}
                if wanted != given:
                    errs.append(f"task {tname}: artifacts {sorted(given)} != {sorted(wanted)}")
                for a in task.get("arguments", {}).get("artifacts", []):
                    m = re.fullmatch(r"\{\{tasks\.([^.]+)\.outputs\.artifacts\.([^}]+)\}\}",
                                     a["from"])
                    if not m or m.group(1) not in tasks:
                        errs.append(f"task {tname}: bad artifact source {a['from']}")
                        continue
                    if m.group(1) not in task.get("dependencies", []):
                        errs.append(f"task {tname}: reads {m.group(1)} without depending on it")
                    src_tpl = templates[tasks[m.group(1)]["template"]]
                    outs = {o["name"] for o in src_tpl.get("outputs", {}).get("artifacts", [])}
                    if m.group(2) not in outs:
                        errs.append(f"task {tname}: {m.group(1)} has no output {m.group(2)}")
                for p in task.get("arguments", {}).get("parameters", []):
                    for ref in re.findall(r"\{\{workflow\.parameters\.([^}]+)\}\}", p["value"]):
                        if ref not in wf_params:
                            errs.append(f"task {tname}: unknown workflow parameter {ref}")
    return errs


def _q(text: str) -> float:
    from nb2pipe.planning.deploy import quantity

    return quantity(str(text))


# ---- every sample: strict validation ------------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_argo_documents_validate_strictly(samples, name):
    _, out, _ = samples[name]
    kinds = []
    for f in ("deploy/argo-workflow.yaml", "deploy/argo-workflow-pvc.yaml"):
        for doc in yaml_docs(out / f):
            kinds.append(doc["kind"])
            assert argo_errors(doc) == [], f"{f} {doc['kind']}"
            assert argo_semantic_errors(doc) == [], f"{f} {doc['kind']}"
    assert kinds == ["Workflow", "WorkflowTemplate", "Workflow"]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_one_dag_task_per_step_running_the_step_entrypoint(samples, name):
    res, out, _ = samples[name]
    plan = res.plan
    wf = yaml_docs(out / "deploy/argo-workflow.yaml")[0]
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    tasks = templates["pipeline"]["dag"]["tasks"]
    assert [t["name"] for t in tasks] == [s.k8s_name for s in plan.steps]
    for s in plan.steps:
        cmd = templates[s.k8s_name]["container"]["command"]
        assert cmd[:5] == ["python", "-m", plan.package, "step", s.name]
        # every value a step hands on is an output artifact; every input comes from a task
        outs = {a["name"] for a in templates[s.k8s_name].get("outputs", {}).get("artifacts", [])}
        assert set(s.outputs) <= outs
    params = wf["spec"].get("arguments", {}).get("parameters", [])
    # the image is a parameter without a default (argo submit asks for it), then the notebook's
    assert params[0] == {"name": "nb2pipe-image"}
    assert [(p["name"], p["value"]) for p in params[1:]] == list(plan.parameters)


def test_metrics_are_global_output_parameters(samples):
    res, out, _ = samples["reviews_tagged"]
    wf = yaml_docs(out / "deploy/argo-workflow.yaml")[0]
    evaluate = next(t for t in wf["spec"]["templates"] if t["name"] == "evaluate")
    got = {p["name"]: p for p in evaluate["outputs"]["parameters"]}
    assert set(got) == {"accuracy", "f1"}
    assert got["accuracy"]["globalName"] == "accuracy"
    assert got["accuracy"]["valueFrom"]["path"].endswith("/accuracy/value.json")


def test_files_written_then_read_travel_as_artifacts(samples):
    _, out, _ = samples["forecast"]
    wf = yaml_docs(out / "deploy/argo-workflow.yaml")[0]
    t = {x["name"]: x for x in wf["spec"]["templates"]}
    name = "file-outputs-forecast-csv"
    assert any(a["name"] == name for a in t["forecast-step"]["outputs"]["artifacts"])
    assert any(a["name"] == name and a["path"] == "/app/work/outputs/forecast.csv"
               for a in t["report"]["inputs"]["artifacts"])


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_security_context_everywhere(samples, name):
    _, out, _ = samples[name]
    for f in ("deploy/argo-workflow.yaml", "deploy/argo-workflow-pvc.yaml"):
        for doc in yaml_docs(out / f):
            pod = doc["spec"]["securityContext"]
            assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault"
            assert k8s_errors(pod, "V1PodSecurityContext") == []
            for t in doc["spec"]["templates"]:
                if "container" not in t:
                    continue
                sc = t["container"]["securityContext"]
                assert k8s_errors(sc, "V1SecurityContext") == []
                assert sc["runAsNonRoot"] is True
                assert sc["allowPrivilegeEscalation"] is False
                assert sc["privileged"] is False
                assert sc["capabilities"] == {"drop": ["ALL"]}
                assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
                assert k8s_errors(t["container"], "V1Container") == []


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_yaml_is_deterministic_and_has_no_timestamps(samples, name, tmp_path):
    res, out, work = samples[name]
    again = convert(work / f"{name}.ipynb", out, dry_run=True)
    for rel in ("deploy/argo-workflow.yaml", "deploy/argo-workflow-pvc.yaml", "Dockerfile"):
        assert again.files[rel] == (out / rel).read_text(encoding="utf-8")
        assert not re.search(r"20\d\d-\d\d-\d\dT", again.files[rel])


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_golden_deploy_files(samples, name):
    _, out, _ = samples[name]
    folder = GOLDEN_DEPLOY / name
    for rel in GOLDEN_FILES:
        got = (out / rel).read_text(encoding="utf-8")
        path = folder / rel
        if REGEN:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(got, encoding="utf-8")
            continue
        assert path.exists(), f"no golden {path}; regenerate with NB2PIPE_REGEN_GOLDEN=1"
        want = path.read_text(encoding="utf-8")
        if got != want:
            diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                                f"golden/{rel}", f"generated/{rel}"))
            pytest.fail(f"{name}: {rel} differs from the golden file (regenerate with "
                        f"NB2PIPE_REGEN_GOLDEN=1 if intended):\n{diff[:6000]}")


# ---- image -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_dockerfile(samples, name):
    res, out, _ = samples[name]
    plan = res.plan
    text = (out / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert re.fullmatch(r"FROM python:3\.\d+\.\d+-slim-bookworm", lines[0])
    assert "COPY requirements.lock ./" in lines
    assert "RUN pip install --no-deps -r requirements.lock" in lines
    assert f"COPY {plan.package}/ ./{plan.package}/" in lines
    user = [ln for ln in lines if ln.startswith("USER ")]
    assert user and user[-1] != "USER root" and re.fullmatch(r"USER [1-9]\d*:[1-9]\d*", user[-1])
    for s in plan.steps:  # data the steps read is copied in from the notebook's folder
        for f in s.files:
            if f.mode == "read" and f.path.startswith("data/"):
                assert f"#   {f.path}" in text and (out / "build-context" / f.path).is_file()
    assert "COPY --chown=10001:10001 build-context/ /app/work/" in lines
    ignore = (out / ".dockerignore").read_text()
    assert "secrets.local.*" in ignore


def test_requirements_pins_resolve_with_pip(samples, tmp_path):
    """All samples' pins together (one resolver run): they exist and are compatible."""
    reqs: set[str] = set()
    for name in SAMPLE_NAMES:
        _, out, _ = samples[name]
        for ln in (out / "requirements.txt").read_text().splitlines():
            if ln and not ln.startswith("#"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][^\s]*", ln), ln
                reqs.add(ln)
    req = tmp_path / "requirements.txt"
    req.write_text("\n".join(sorted(reqs)) + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                        "-q", "-r", str(req), "--report", str(tmp_path / "report.json")],
                       capture_output=True, text=True, timeout=240)
    if r.returncode != 0 and ("Network is unreachable" in r.stderr or
                              "Failed to establish" in r.stderr):
        pytest.skip("no package index reachable")
    assert r.returncode == 0, r.stderr[-3000:]


def test_requirements_map_imports_to_distributions(notebook_factory, tmp_path):
    nb = notebook_factory([
        ("code", "!pip install joblib\nimport sklearn\nimport yaml\nimport not_a_module_xyz\n"
                 "x = sklearn.__version__ + yaml.__version__\n"),
    ])
    res = convert(nb, tmp_path / "req_pipeline")
    assert res.ok, [d.format() for d in res.diagnostics]
    text = (tmp_path / "req_pipeline" / "requirements.txt").read_text()
    assert re.search(r"^scikit-learn==", text, re.M)
    assert re.search(r"^(PyYAML|pyyaml)==", text, re.M | re.I)
    assert re.search(r"^joblib==", text, re.M)
    assert "unknown: module 'not_a_module_xyz'" in text


# ---- tags -> resources ---------------------------------------------------------------------------

TAGS = ["step:train", "limit:memory:2Gi", "limit:cpu:2", "request:cpu:500m", "gpu:1",
        "image:registry.example/ml/train:2.1", "retry:3", "timeout:30m",
        "nodeselector:pool=gpu-nodes", "label:team:ml", "annotation:owner:alice@example.com",
        "cache:false", "limit:memory:lots"]


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    from conftest import make_notebook

    root = tmp_path_factory.mktemp("tags")
    nb = make_notebook(root / "tagged.ipynb", [
        ("code", "import os\nrows = [1, 2, 3]", ["step:load"]),
        ("code", "total = sum(rows)\nkey = os.environ.get('DB_PASSWORD', '')", TAGS),
        ("code", "print(total)", ["step:report", "label:team:reporting"]),
    ])
    out = root / "tagged_pipeline"
    res = convert(nb, out)
    assert res.ok, [d.format() for d in res.diagnostics]
    return res, out


def test_tags_become_resources_and_placement(tagged):
    _, out = tagged
    docs = yaml_docs(out / "deploy/argo-workflow.yaml")
    for doc in docs:
        assert argo_errors(doc) == [] and argo_semantic_errors(doc) == []
    t = {x["name"]: x for x in docs[0]["spec"]["templates"]}
    train = t["train"]
    c = train["container"]
    assert c["image"] == "registry.example/ml/train:2.1"
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "2Gi", "nvidia.com/gpu": "1"}
    assert c["resources"]["requests"] == {"cpu": "500m"}
    assert train["retryStrategy"] == {"limit": 3, "retryPolicy": "OnFailure"}
    assert train["activeDeadlineSeconds"] == 1800
    assert train["nodeSelector"] == {"pool": "gpu-nodes"}
    assert train["metadata"]["labels"] == {"team": "ml"}
    assert train["metadata"]["annotations"] == {"owner": "alice@example.com"}
    env = {e["name"]: e for e in c["env"]}
    assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "tagged-pipeline-secrets", "key": "DB_PASSWORD"}
    # untagged steps get the project image and modest defaults
    load = t["load"]["container"]
    assert load["image"] == "{{workflow.parameters.nb2pipe-image}}"
    assert load["resources"] == {"limits": {"memory": "1Gi"},
                                 "requests": {"cpu": "100m", "memory": "256Mi"}}
    assert t["report"]["metadata"]["labels"] == {"team": "reporting"}
    readme = (out / "deploy/README.md").read_text()
    assert "limit:memory:lots" in readme  # unusable tag reported, not emitted
    kfp_src = (out / "deploy/kfp_pipeline.py").read_text()
    assert "set_caching_options(False)" in kfp_src and "set_retry(num_retries=3)" in kfp_src
    assert 'set_memory_limit("2Gi")' in kfp_src


# ---- secrets -------------------------------------------------------------------------------------

SECRET_VALUES = ["tok-live-8f3a9b2c7d", 'hunter2 "and" more', "AKIAIOSFODNN7EXAMPLE",
                 "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "s3cr3t-kw-value",
                 "ghp_0123456789abcdefghijABCDEFGHIJ012345"]


@pytest.fixture(scope="module")
def secret_project(tmp_path_factory):
    from conftest import make_notebook

    root = tmp_path_factory.mktemp("secrets")
    nb = make_notebook(root / "creds.ipynb", [
        ("md", "# Credentials everywhere"),
        ("md", "## Load"),
        ("code", f'API_TOKEN = "{SECRET_VALUES[0]}"\n'
                 f"db_password: str = '{SECRET_VALUES[1]}'\n"
                 f'aws_key = "{SECRET_VALUES[2]}"\n'
                 f'AWS_SECRET_ACCESS_KEY = "{SECRET_VALUES[3]}"\n'
                 'max_tokens = 5\ntokenizer = "word"\n'),
        ("code", "def connect(password=None, token=None):\n    return len(password) + "
                 "len(token)\n"
                 f'n = connect(password="{SECRET_VALUES[4]}", token="{SECRET_VALUES[5]}")\n'),
        ("md", "## Use"),
        ("code", "size = n + len(API_TOKEN) + len(db_password) + len(aws_key) + max_tokens\n"
                 "print(size)\n"),
    ])
    out = root / "creds_pipeline"
    res = convert(nb, out)
    assert res.ok, [d.format() for d in res.diagnostics]
    return res, out, nb


def test_secrets_are_detected_with_a_diagnostic_each(secret_project):
    res, _, _ = secret_project
    found = [d for d in res.diagnostics if d.code == "NB220"]
    assert len(found) == 6
    assert all(d.cell is not None and d.line is not None for d in found)
    assert not any(v in d.message for d in found for v in SECRET_VALUES)


def test_no_literal_secret_in_any_generated_file(secret_project):
    res, out, _ = secret_project
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "secrets.local.env" for p in files)
    for p in files:
        if p.name == "secrets.local.env":
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        for v in SECRET_VALUES:
            assert v not in text, f"{v!r} leaked into {p.relative_to(out)}"
    import json

    assert not any(v in json.dumps(res.to_json()) for v in SECRET_VALUES)  # --json output too
    assert "secrets.local.*" in (out / ".gitignore").read_text()
    # not even a hash of it in the committed lock (a weak password could be brute-forced)
    assert "secrets.local" not in (out / "nb2pipe.lock.json").read_text()


def test_secrets_become_env_reads_and_secret_refs(secret_project):
    res, out, _ = secret_project
    code = (out / "creds_pipeline/steps/load.py").read_text()
    assert 'os.environ["API_TOKEN"]' in code and 'os.environ["DB_PASSWORD"]' in code
    assert 'os.environ["AWS_ACCESS_KEY_ID"]' in code and 'os.environ["PASSWORD"]' in code
    docs = yaml_docs(out / "deploy/argo-workflow.yaml")
    load = next(t for t in docs[0]["spec"]["templates"] if t["name"] == "load")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in load["container"]["env"]
            if "valueFrom" in e}
    assert set(refs) == {"API_TOKEN", "DB_PASSWORD", "AWS_ACCESS_KEY_ID",
                         "AWS_SECRET_ACCESS_KEY", "PASSWORD", "TOKEN"}
    assert {r["name"] for r in refs.values()} == {"creds-pipeline-secrets"}
    readme = (out / "deploy/README.md").read_text()
    # read in `use`, built in `load`: recomputed there from the Secret, never an artifact
    assert "- `API_TOKEN` in step `use`" in readme
    assert "API_TOKEN" not in res.plan.step("load").outputs
    # no Secret manifest (applying one would blank the real values): the env file conversion
    # wrote has exactly the keys the pods ask for, and the README's command makes the Secret
    assert not (out / "deploy/secret.yaml").exists()
    keys = [ln.split("=", 1)[0] for ln in (out / "secrets.local.env").read_text().splitlines()
            if ln and not ln.startswith("#")]
    assert sorted(keys) == sorted({n for t in docs[0]["spec"]["templates"]
                                   for e in t.get("container", {}).get("env", [])
                                   if "valueFrom" in e for n in [e["name"]]})
    assert ("kubectl create secret generic creds-pipeline-secrets -n ml "
            "--from-env-file=secrets.local.env") in readme


def test_local_run_reads_the_local_secrets_file(secret_project):
    _, out, _ = secret_project
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "PASSWORD")}
    r = subprocess.run([sys.executable, "-m", "creds_pipeline.pipeline"], cwd=out, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    expected = (len(SECRET_VALUES[4]) + len(SECRET_VALUES[5]) + len(SECRET_VALUES[0])
                + len(SECRET_VALUES[1]) + len(SECRET_VALUES[2]) + 5)
    assert str(expected) in r.stdout


def test_secret_tag_names_an_env_var(tmp_path):
    from conftest import make_notebook

    nb = make_notebook(tmp_path / "t.ipynb", [
        ("code", 'conn = "postgres://u:p@h/db"\nn = len(conn)', ["step:one", "secret:conn"]),
        ("code", "m = n + 1", ["step:two"]),
    ])
    res = convert(nb, tmp_path / "t_pipeline")
    assert res.ok
    code = (tmp_path / "t_pipeline/t_pipeline/steps/one.py").read_text()
    assert "postgres://u:p@h/db" not in code and 'os.environ["CONN_SECRET"]' in code
    docs = yaml_docs(tmp_path / "t_pipeline/deploy/argo-workflow.yaml")
    one = next(t for t in docs[0]["spec"]["templates"] if t["name"] == "one")
    assert any(e["name"] == "CONN_SECRET" for e in one["container"]["env"])


def test_detector_leaves_ordinary_strings_alone():
    from nb2pipe.analysis.secrets import looks_secret

    for name in ("API_TOKEN", "db_password", "secretKey", "client_secret", "aws_access_key",
                 "apiKey", "PWD"):
        assert looks_secret(name), name
    for name in ("tokenizer", "max_tokens", "token_col", "password_field", "n_tokens",
                 "secret_path", "label"):
        assert not looks_secret(name), name


# ---- the emitted commands really run: a local stand-in for Argo's executor -----------------------

def _when(task: dict, params: dict[tuple[str, str], str]) -> bool:
    """A task's `when` ("{{tasks.T.outputs.parameters.P}} == VALUE"), as Argo evaluates it."""
    if "when" not in task:
        return True
    text = re.sub(r"\{\{tasks\.([^.]+)\.outputs\.parameters\.([^}]+)\}\}",
                  lambda m: params[(m.group(1), m.group(2))], task["when"])
    left, right = text.split("==")
    return left.strip() == right.strip()


def _emulate_argo(wf: dict, project: Path, work: Path, tmp: Path,
                  pod_disks: bool = False, bucket: Path | None = None) -> dict[str, Path]:
    """Run each DAG task's container command as Argo would (artifacts copied in and out, a
    shared folder for the PVC variant), with the pod paths mapped into tmp. Returns where
    each (task, output) value ended up. With pod_disks, each pod starts from its own copy of
    `work` (the image's notebook folder) and sees no other pod's files, as on a cluster; an
    output artifact marked optional may be missing. Key-only artifacts (`s3: {key}`) live in
    `bucket`, across runs; a task whose `when` is false is skipped (listed in "skipped")."""
    import shutil

    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    wf_params = {p["name"]: p.get("value", "") for p in wf["spec"].get("arguments", {}).get(
        "parameters", [])}
    store, pvc = tmp / "artifacts", tmp / "pvc"
    pvc.mkdir(parents=True, exist_ok=True)

    def remap(text: str, pod: Path) -> str:
        pod_work = pod / "work" if pod_disks else work
        return (text.replace("/tmp/nb2pipe", "\0POD").replace("/nb2pipe", str(pvc))
                .replace("/app/work", str(pod_work)).replace("\0POD", str(pod)))

    def copy(src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)

    env = dict(os.environ, NB2PIPE_WORKDIR=str(work), MPLBACKEND="Agg",
               PYTHONPATH=str(project),  # the image has the package installed
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    params: dict[tuple[str, str], str] = {}
    skipped: list[str] = []
    for task in templates["pipeline"]["dag"]["tasks"]:
        tpl = templates[task["template"]]
        if not _when(task, params):
            skipped.append(task["name"])
            continue
        pod = tmp / f"pod-{task['name']}"
        if pod_disks:
            shutil.copytree(work, pod / "work")
        args = {p["name"]: re.sub(r"\{\{workflow\.parameters\.([^}]+)\}\}",
                                  lambda m: wf_params[m.group(1)], p["value"])
                for p in task.get("arguments", {}).get("parameters", [])}
        sources = {a["name"]: a["from"] for a in task.get("arguments", {}).get("artifacts", [])}
        for a in tpl.get("inputs", {}).get("artifacts", []):
            if "s3" in a:
                src = bucket / a["s3"]["key"]
                if src.exists() or not a.get("optional"):
                    copy(src, Path(remap(a["path"], pod)))
                continue
            m = re.fullmatch(r"\{\{tasks\.([^.]+)\.outputs\.artifacts\.([^}]+)\}\}",
                             sources[a["name"]])
            copy(store / m.group(1) / m.group(2), Path(remap(a["path"], pod)))
        cmd = [remap(re.sub(r"\{\{inputs\.parameters\.([^}]+)\}\}",
                            lambda m: args[m.group(1)], c), pod)
               for c in tpl["container"]["command"]]
        pod_env = dict(env, NB2PIPE_WORKDIR=str(pod / "work")) if pod_disks else env
        r = subprocess.run(cmd, env=pod_env, cwd=str(tmp), capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, f"task {task['name']}: {cmd}\n{r.stderr[-3000:]}"
        for a in tpl.get("outputs", {}).get("artifacts", []):
            if a.get("optional") and not Path(remap(a["path"], pod)).exists():
                continue
            dest = bucket / a["s3"]["key"] if "s3" in a else store / task["name"] / a["name"]
            copy(Path(remap(a["path"], pod)), dest)
        for p in tpl.get("outputs", {}).get("parameters", []):
            assert Path(remap(p["valueFrom"]["path"], pod)).is_file(), p
            params[(task["name"], p["name"])] = Path(remap(p["valueFrom"]["path"], pod)
                                                     ).read_text()
    return {"store": store, "pvc": pvc, "skipped": skipped}  # type: ignore[dict-item]


@pytest.mark.parametrize("name,variant", [("forecast", "argo-workflow.yaml"),
                                          ("churn", "argo-workflow-pvc.yaml")])
def test_emitted_argo_commands_run_and_compute_the_pipeline_values(samples, name, variant,
                                                                   tmp_path):
    """forecast: artifacts, parameters, random state and a file written then read; churn over
    the shared volume. Values equal an in-process run of the same pipeline."""
    import importlib
    import shutil

    from nb2pipe.validation.compare import compare

    res, out, work = samples[name]
    plan = res.plan
    sandbox = tmp_path / "work"
    shutil.copytree(work, sandbox)
    wf = yaml_docs(out / "deploy" / variant)[0]
    where = _emulate_argo(wf, out, sandbox, tmp_path)
    sys.path.insert(0, str(out))
    try:
        runtime = importlib.import_module(f"{plan.package}._runtime")
        pipeline = importlib.import_module(f"{plan.package}.pipeline")
        expected = pipeline.run()
        checked = 0
        for s in plan.steps:
            for n in s.terminal:  # final values (no later step changes them)
                folder = (where["pvc"] / s.name / n if "pvc" in variant
                          else where["store"] / s.k8s_name / n)
                v = compare(expected[n], runtime.load_value(folder))
                assert v.status == "equal" or v.detail == "figure", (s.name, n, v)
                checked += 1
        assert checked >= 3
    finally:
        sys.path.remove(str(out))


def test_diagnostic_codes_are_unique():
    from collections import Counter

    from nb2pipe.diagnostics import _CODES

    assert [c for c, n in Counter(x.code for x in _CODES).items() if n > 1] == []


def test_secrets_in_dicts_and_ipython_cells_are_rewritten():
    import json

    from nb2pipe.analysis.secrets import rewrite_secrets
    from nb2pipe.notebook import parse_notebook

    raw = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                      "source": "cfg = {'user': 'bob', 'password': 'pw-123456'}\n%time x = 1\n"
                                "token = 'abc-def-123'\n"}],
           "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
           "nbformat": 4, "nbformat_minor": 5}
    nb, _ = parse_notebook(json.dumps(raw), "t.ipynb")
    new, diags = rewrite_secrets(nb)
    src = new.cells[0].source
    assert "pw-123456" not in src and "abc-def-123" not in src
    assert src.splitlines()[1] == "%time x = 1"  # untouched lines stay as they were
    assert [(d.code, d.line) for d in diags] == [("NB220", 1), ("NB220", 3)]
    assert "secret:PASSWORD" in new.cells[0].tags


def test_per_step_settings_from_notebook_metadata(tmp_path):
    """Settings can come from notebook metadata as well as from cell tags."""
    import nbformat

    from nb2pipe.api import convert

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    nb.metadata["nb2pipe"] = {"defaults": ["retry:2"],
                              "steps": {"use": ["limit:memory:3Gi"]}}
    nb.cells = [nbformat.v4.new_markdown_cell("## Load"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_markdown_cell("## Use"),
                nbformat.v4.new_code_cell("y = x + 1")]
    path = tmp_path / "meta.ipynb"
    nbformat.write(nb, str(path))
    res = convert(path, tmp_path / "meta_pipeline")
    assert res.ok, [d.format() for d in res.diagnostics]
    tags = {s.name: s.tags for s in res.plan.steps}
    assert tags["load"] == ("retry:2",)
    assert set(tags["use"]) == {"limit:memory:3Gi", "retry:2"}
    wf = (tmp_path / "meta_pipeline" / "deploy" / "argo-workflow.yaml").read_text()
    assert "3Gi" in wf


# ---- issue 12 item 6: file effects order the DAG; written files leave their pod -----------------

FILE_EFFECTS = [
    ("md", "## Plot"),
    ("code", "import os\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
             "fig, ax = plt.subplots()\nax.plot([1, 2, 3])\nfig.savefig('plot.png')\n"
             "with open('summary.txt', 'w') as fh:\n    fh.write('three points')"),
    ("md", "## Report"),
    ("code", "size = os.path.getsize('plot.png')"),
    ("md", "## Scan"),
    ("code", "names = sorted(os.listdir('.'))"),
]


@pytest.fixture(scope="module")
def file_effects_project(tmp_path_factory):
    from conftest import make_notebook

    root = tmp_path_factory.mktemp("file_effects")
    nb = make_notebook(root / "work" / "effects.ipynb", FILE_EFFECTS)
    res = convert(nb, root / "effects_pipeline")
    assert res.ok, [d.format() for d in res.diagnostics]
    return res, root / "effects_pipeline", root / "work"


def test_file_edges_are_dag_dependencies_and_written_files_are_outputs(file_effects_project):
    res, out, _ = file_effects_project
    for variant in ("argo-workflow.yaml", "argo-workflow-pvc.yaml"):
        for doc in yaml_docs(out / "deploy" / variant):
            assert argo_errors(doc) == [] and argo_semantic_errors(doc) == [], variant
    wf = yaml_docs(out / "deploy" / "argo-workflow.yaml")[0]
    tasks = {t["name"]: t for t in wf["spec"]["templates"][0]["dag"]["tasks"]}
    assert tasks["report"]["dependencies"] == ["plot"]
    assert tasks["scan"]["dependencies"] == ["plot"]  # '.' holds every file plot writes
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    outputs = {a["name"]: a for a in templates["plot"]["outputs"]["artifacts"]}
    # read later: carried to the reader's pod; read by no step: exported all the same
    assert outputs["file-plot-png"] == {"name": "file-plot-png", "path": "/app/work/plot.png"}
    assert outputs["file-summary-txt"] == {"name": "file-summary-txt",
                                           "path": "/app/work/summary.txt", "optional": True}
    assert templates["report"]["inputs"]["artifacts"] == [
        {"name": "file-plot-png", "path": "/app/work/plot.png"}]


def test_a_file_a_step_wrote_reaches_the_next_pod(file_effects_project, tmp_path):
    """Each emulated pod starts from its own copy of the notebook folder, as on a cluster:
    `report` finds plot.png only because it travels as an artifact."""
    res, out, work = file_effects_project
    wf = yaml_docs(out / "deploy" / "argo-workflow.yaml")[0]
    where = _emulate_argo(wf, out, work, tmp_path, pod_disks=True)
    assert (where["store"] / "plot" / "file-summary-txt").read_text() == "three points"
    assert not (work / "plot.png").exists()  # no pod wrote into another's folder


# ---- issue 17: the scheduled retrain (deploy/argo-cronworkflow.yaml) ----------------------------

def test_cron_workflow_skips_the_pipeline_until_the_data_changes(samples, tmp_path):
    """Each emulated run starts from a fresh copy of the image's work folder (pod_disks); the
    bucket (the artifact repository) keeps the hashes between runs."""
    import shutil

    res, out, work = samples["churn"]
    cron = yaml_docs(out / "deploy" / "argo-cronworkflow.yaml")[0]
    assert cron["kind"] == "CronWorkflow" and cron["spec"]["schedules"]
    wf = {"spec": cron["spec"]["workflowSpec"]}
    steps = [s.k8s_name for s in res.plan.steps]
    image = tmp_path / "image"
    shutil.copytree(work, image)
    bucket = tmp_path / "bucket"

    def scheduled(n: int) -> list[str]:
        return _emulate_argo(wf, out, image, tmp_path / f"run{n}", pod_disks=True,
                             bucket=bucket)["skipped"]

    assert scheduled(1) == []  # nothing recorded yet: due, everything runs
    assert scheduled(2) == steps + ["nb2pipe-record"]  # nothing changed: the pipeline skipped
    data = image / "data" / "customers.csv"
    data.write_text(data.read_text() + data.read_text().splitlines()[1] + "\n")
    assert scheduled(3) == []  # the sample data changed: it runs again
    assert scheduled(4) == steps + ["nb2pipe-record"]
