"""Issue 5: Kubeflow Pipelines v2. Every sample's pipeline compiles with the kfp SDK and runs
end to end with kfp's local runner (SubprocessRunner, use_venv=False), and the values its
steps hand on equal what the notebook computed.

kfp pins an older kubernetes client than the core, so these tests run in their own venv:
    .venv-test-kfp/bin/python -m pytest -q -p no:cacheprovider -m kfp tests/test_deploy_kfp.py
(created by .ci/setup.d/50-deploy.sh). Elsewhere they are skipped, except the test that the
emitter skips gracefully without kfp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import SAMPLE_NAMES
from deploy_helpers import convert_samples

try:
    import kfp  # noqa: F401

    HAVE_KFP = True
except ImportError:
    HAVE_KFP = False

needs_kfp = pytest.mark.skipif(not HAVE_KFP, reason="kfp is not installed in this venv: run "
                               "these in the kfp venv (.ci/setup.d/50-deploy.sh)")

# Runs one compiled pipeline with kfp.local in a fresh interpreter (kfp.local's config is
# global), then writes the final values the steps produced, read back from KFP's artifacts.
RUNNER = r"""
import json, sys, pathlib, importlib
project, package_yaml, root, names_json, out_file = sys.argv[1:6]
sys.path.insert(0, project)
from kfp import local, components
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
components.load_component_from_file(package_yaml)()
plan = json.loads(pathlib.Path(project, "nb2pipe.plan.json").read_text())
runtime = importlib.import_module(plan["package"] + "._runtime")
pipeline = importlib.import_module(plan["package"] + ".pipeline")
(run_dir,) = [p for p in pathlib.Path(root).iterdir() if p.is_dir()]
values = {}
for name in json.loads(names_json):
    producer = [s for s in plan["steps"] if name in s["outputs"]]
    if not producer:
        if name in pipeline.PARAMETERS:
            values[name] = pipeline.PARAMETERS[name]
        continue
    step = producer[-1]
    folder = run_dir / (step["name"].replace("_", "-") + "-op") / ("out_" + name.lstrip("_"))
    values[name] = runtime.load_value(folder)
import cloudpickle
with open(out_file, "wb") as fh:
    cloudpickle.dump(values, fh)
print("NB2PIPE-KFP-OK")
"""


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return convert_samples(tmp_path_factory.mktemp("kfp"))


def test_emitter_skips_kfp_yaml_gracefully_without_kfp(tmp_path, monkeypatch):
    """Without kfp the DSL source is still written and the compiled YAML is not."""
    from nb2pipe.emit import kfp as kfp_emit
    from nb2pipe.api import convert
    from conftest import make_notebook

    monkeypatch.setattr(kfp_emit, "kfp_available", lambda: False)
    nb = make_notebook(tmp_path / "small.ipynb", [("code", "x = 1\ny = x + 1")])
    res = convert(nb, tmp_path / "small_pipeline")
    assert res.ok
    assert "deploy/kfp_pipeline.py" in res.files and "deploy/kfp-pipeline.yaml" not in res.files
    assert [d.severity for d in res.diagnostics if d.code == "NB409"] == ["info"]
    compile(res.files["deploy/kfp_pipeline.py"], "kfp_pipeline.py", "exec")


def test_compile_kfp_command_explains_missing_kfp(tmp_path, monkeypatch, capsys):
    from nb2pipe.emit import kfp as kfp_emit
    from nb2pipe.api import convert
    from nb2pipe.cli import main as cli
    from conftest import make_notebook

    monkeypatch.setattr(kfp_emit, "kfp_available", lambda: False)
    nb = make_notebook(tmp_path / "small.ipynb", [("code", "x = 1")])
    assert convert(nb, tmp_path / "small_pipeline").ok
    assert cli(["compile-kfp", str(tmp_path / "small_pipeline")]) == 1
    assert "pip install 'nb2pipe[kfp]'" in capsys.readouterr().err


@pytest.mark.kfp
@needs_kfp
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_kfp_pipeline_compiles(samples, name):
    import yaml

    res, out, _ = samples[name]
    compiled = out / "deploy" / "kfp-pipeline.yaml"
    assert compiled.is_file()
    spec = next(yaml.safe_load_all(compiled.read_text()))
    tasks = spec["root"]["dag"]["tasks"]
    assert len(tasks) == len(res.plan.steps)
    execs = spec["deploymentSpec"]["executors"]
    for s in res.plan.steps:  # each component runs the step entrypoint of the package
        ex = execs[f"exec-{s.name.replace('_', '-')}-op"]["container"]
        body = "\n".join(ex["command"] + ex.get("args", []))
        assert f'"-m",\n        "{res.plan.package}",' in body or \
            f'"{res.plan.package}"' in body
        assert f'"{s.name}"' in body
    params = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    assert set(params) == {n for n, _ in res.plan.parameters}
    # issue 15: kfp comes with the image (no pip install at pod start), every task has a
    # memory limit and runs as the image's non-root user
    platform = [d for d in yaml.safe_load_all(compiled.read_text()) if "platforms" in d]
    for s in res.plan.steps:
        ex = execs[f"exec-{s.name.replace('_', '-')}-op"]["container"]
        assert "pip install" not in "\n".join(ex["command"] + ex.get("args", []))
        assert ex["resources"].get("resourceMemoryLimit") or \
            ex["resources"].get("memoryLimit")
    if pytest.importorskip("kfp.kubernetes").__dict__.get("set_security_context"):
        executors = platform[0]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        for s in res.plan.steps:
            sc = executors[f"exec-{s.name.replace('_', '-')}-op"]["securityContext"]
            assert sc["runAsNonRoot"] is True and int(sc["runAsUser"]) == 10001


@pytest.mark.kfp
@needs_kfp
def test_compile_kfp_command(samples, tmp_path):
    from nb2pipe.cli import main as cli

    _, out, _ = samples["reviews_tagged"]
    target = tmp_path / "k.yaml"
    assert cli(["compile-kfp", str(out), "--image", "reg.example/rev:9", "-o", str(target)]) == 0
    assert "reg.example/rev:9" in target.read_text()


def _run_one(name: str, samples, tmp: Path) -> tuple[str, str, dict]:
    """Compile without the in-pod kfp install (it is installed here), run with kfp.local,
    execute the notebook, compare."""
    from notebook_exec import notebook_values

    res, out, work = samples[name]
    plan = res.plan
    names = list(plan.final_names)
    compiled = tmp / f"{name}.yaml"
    env = dict(os.environ, NB2PIPE_KFP_INSTALL="0", MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(out), os.environ.get("PYTHONPATH", "")]),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    subprocess.run([sys.executable, "-c",
                    "import sys; from nb2pipe.emit.kfp import compile_source; "
                    "compile_source(open(sys.argv[1]).read(), sys.argv[2])",
                    str(out / "deploy" / "kfp_pipeline.py"), str(compiled)],
                   check=True, env=env, capture_output=True)
    got_file, want_file = tmp / f"{name}.kfp.pkl", tmp / f"{name}.nb.pkl"
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(out), str(compiled),
                           str(tmp / f"root-{name}"), json.dumps(names), str(got_file)],
                          env=env, capture_output=True, text=True, timeout=600, cwd=str(tmp))
    if "NB2PIPE-KFP-OK" not in proc.stdout:
        return name, f"kfp.local run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}", {}
    notebook_values(work / f"{name}.ipynb", names, want_file)
    import cloudpickle

    from nb2pipe.validation.compare import compare

    if str(out) not in sys.path:  # classes of the generated package, to unpickle its values
        sys.path.insert(0, str(out))
    got = cloudpickle.loads(got_file.read_bytes())
    want = cloudpickle.loads(want_file.read_bytes())
    verdicts = {}
    for n in names:
        if n not in want:
            continue
        if n not in got:
            verdicts[n] = ("missing", "not produced by the KFP run")
            continue
        v = compare(want[n], got[n])
        verdicts[n] = (v.status, v.detail)
    return name, "", verdicts


@pytest.mark.kfp
@needs_kfp
def test_kfp_local_runs_compute_what_the_notebooks_computed(samples, tmp_path):
    """All samples, two at a time (each step is two interpreters: kfp's executor and the
    step entrypoint)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda n: _run_one(n, samples, tmp_path), SAMPLE_NAMES))
    problems = {}
    for name, failure, verdicts in results:
        if failure:
            problems[name] = failure
            continue
        bad = {k: v for k, v in verdicts.items()
               if v[0] != "equal" and not (v[0] == "not comparable" and v[1] == "figure")}
        if bad:
            problems[name] = bad
        elif sum(v[0] == "equal" for v in verdicts.values()) < 3:
            problems[name] = f"too few values compared: {verdicts}"
    assert not problems, problems


@pytest.mark.kfp
@needs_kfp
def test_kfp_tags_become_task_resources_and_kubernetes_settings(tmp_path):
    import yaml

    from conftest import make_notebook
    from nb2pipe.api import convert

    pytest.importorskip("kfp.kubernetes", reason="kfp-kubernetes adds the Kubernetes settings")
    tags = ["step:train", "limit:memory:2Gi", "limit:cpu:2", "request:cpu:500m", "gpu:1",
            "image:registry.example/ml/train:2.1", "retry:3", "timeout:30m",
            "nodeselector:pool=gpu-nodes", "label:team:ml", "annotation:owner:alice",
            "cache:false", "secret:DB_PASSWORD"]
    nb = make_notebook(tmp_path / "tagged.ipynb", [
        ("code", "import os\nrows = [1, 2, 3]", ["step:load"]),
        ("code", "total = sum(rows)\nkey = os.environ.get('DB_PASSWORD', '')", tags),
        ("code", "print(total)", ["step:report"])])
    assert convert(nb, tmp_path / "tagged_pipeline").ok
    spec, platform = yaml.safe_load_all(
        (tmp_path / "tagged_pipeline/deploy/kfp-pipeline.yaml").read_text())
    ex = spec["deploymentSpec"]["executors"]["exec-train-op"]["container"]
    assert ex["image"] == "registry.example/ml/train:2.1"
    r = ex["resources"]
    assert (r["resourceCpuLimit"], r["resourceCpuRequest"], r["resourceMemoryLimit"]) == (
        "2", "500m", "2Gi")
    assert r["accelerator"]["resourceType"] == "nvidia.com/gpu"
    task = spec["root"]["dag"]["tasks"]["train-op"]
    assert task["retryPolicy"]["maxRetryCount"] == 3
    assert task["cachingOptions"] == {} or task["cachingOptions"].get("enableCache") is not True
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train-op"]
    assert k8s["nodeSelector"]["labels"] == {"pool": "gpu-nodes"}
    assert k8s["podMetadata"] == {"annotations": {"owner": "alice"}, "labels": {"team": "ml"}}
    assert k8s["secretAsEnv"][0]["keyToEnv"] == [{"envVar": "DB_PASSWORD",
                                                  "secretKey": "DB_PASSWORD"}]
    assert k8s["activeDeadlineSeconds"] in ("1800", 1800)


def test_file_edges_order_kfp_tasks_and_written_files_are_outputs(tmp_path):
    """Issue 12 item 6, in the DSL source (no kfp needed): a file read later travels from
    the writer's task; a file no step reads is still an output of the task that wrote it;
    a file edge with no file to carry (a computed path) is an explicit `.after`."""
    import ast

    from conftest import make_notebook
    from nb2pipe.api import convert

    nb = make_notebook(tmp_path / "fx.ipynb", [
        ("md", "## Plot"),
        ("code", "import os\nwith open('plot.txt', 'w') as fh:\n    fh.write('p')\n"
                 "with open('summary.txt', 'w') as fh:\n    fh.write('s')"),
        ("md", "## Report"), ("code", "size = os.path.getsize('plot.txt')"),
        ("md", "## Mark"), ("code", "with open('mark' + '.txt', 'w') as fh:\n    fh.write('m')"),
        ("md", "## Scan"), ("code", "names = sorted(os.listdir('.'))"),
    ])
    res = convert(nb, tmp_path / "fx_pipeline")
    assert res.ok, [d.format() for d in res.diagnostics]
    src = res.files["deploy/kfp_pipeline.py"]
    tree = ast.parse(src)
    ops = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    plot_args = [a.arg for a in ops["plot_op"].args.args]
    assert "file_out_plot_txt" in plot_args and "file_out_summary_txt" in plot_args
    assert [a.arg for a in ops["report_op"].args.args] == ["file_in_plot_txt", "out_size"]
    assert 't_report = report_op(file_in_plot_txt=t_plot.outputs["file_out_plot_txt"])' in src
    assert "t_scan.after(t_mark)" in src
    assert "if os.path.exists(source):" in ast.unparse(ops["plot_op"])  # optional export
