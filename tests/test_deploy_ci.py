"""Issue 5: `nb2pipe ci --github` writes a GitHub Actions workflow, validated against the
GitHub workflow JSON schema (SchemaStore's, as vendored by the check-jsonschema package)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nb2pipe.api import convert
from nb2pipe.cli import main as cli

jsonschema = pytest.importorskip("jsonschema")


def _schema() -> dict:
    cj = pytest.importorskip("check_jsonschema", reason="pip install check-jsonschema (it "
                                                        "vendors the GitHub workflow schema)")
    path = Path(cj.__file__).parent / "builtin_schemas" / "vendor" / "github-workflows.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    from conftest import SAMPLES

    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(SAMPLES, root / "notebooks",
                    ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    out = root / "pipelines" / "churn_pipeline"
    assert convert(root / "notebooks" / "churn.ipynb", out).ok
    return root, out


def _load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_workflow_validates_against_the_github_schema(repo, capsys):
    root, out = repo
    assert cli(["ci", "--github", str(out), "--root", str(root)]) == 0
    path = root / ".github" / "workflows" / "nb2pipe.yml"
    wf = _load(path)
    validator = jsonschema.Draft7Validator(_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(wf)]
    assert errors == []
    # and the schema does reject what it should (it is really checking)
    bad = json.loads(json.dumps(wf))
    bad["jobs"]["test"]["runs_on"] = "ubuntu-latest"
    assert list(validator.iter_errors(bad))


def test_workflow_runs_check_tests_local_run_and_gates_submit(repo):
    root, out = repo
    assert cli(["ci", "--github", str(out), "--root", str(root)]) == 0
    wf = _load(root / ".github" / "workflows" / "nb2pipe.yml")
    paths = wf["on"]["push"]["paths"]
    assert "notebooks/churn.ipynb" in paths and "pipelines/churn_pipeline/**" in paths
    assert "notebooks/data/customers.csv" in paths  # a data change triggers it too
    assert wf["on"]["push"]["branches"] == ["main"]
    runs = [s.get("run", "") for s in wf["jobs"]["test"]["steps"]]
    assert any(r.startswith("nb2pipe check notebooks/churn.ipynb -o pipelines/churn_pipeline")
               for r in runs)
    assert any("pytest" in r for r in runs)
    assert "python -m churn_pipeline.pipeline" in runs
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    assert deploy["environment"] == {"name": "production"}  # approval gate
    assert "refs/heads/main" in deploy["if"] and "pull_request" in deploy["if"]
    druns = " ".join(s.get("run", "") for s in deploy["steps"])
    assert 'docker buildx build -t "$IMAGE" --push pipelines/churn_pipeline' in druns
    assert "--build-context" not in druns
    # the checkout lacks build-context/ (git-ignored): the job copies what the image needs
    root, _ = repo
    context = next(s["run"] for s in deploy["steps"] if "build context" in s.get("name", ""))
    shutil.rmtree(root / "pipelines/churn_pipeline/build-context")
    subprocess.run(["bash", "-ec", context], cwd=root, check=True)
    copied = root / "pipelines/churn_pipeline/build-context/data/customers.csv"
    assert copied.read_bytes() == (root / "notebooks/data/customers.csv").read_bytes()
    assert "nb2pipe submit pipelines/churn_pipeline --engine argo" in druns
    assert wf["permissions"] == {"contents": "read"}


def test_ci_is_idempotent_and_refuses_non_projects(repo, tmp_path, capsys):
    root, out = repo
    assert cli(["ci", "--github", str(out), "--root", str(root)]) == 0
    capsys.readouterr()
    assert cli(["ci", "--github", str(out), "--root", str(root)]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli(["ci", "--github", str(tmp_path)]) == 2


def test_kfp_engine_variant_validates(repo, capsys):
    root, out = repo
    assert cli(["ci", "--github", str(out), "--root", str(root), "--engine", "kfp",
                "--stdout"]) == 0
    import yaml

    wf = yaml.safe_load(capsys.readouterr().out)
    assert list(jsonschema.Draft7Validator(_schema()).iter_errors(wf)) == []
    assert "--engine kfp" in " ".join(s.get("run", "") for s in wf["jobs"]["deploy"]["steps"])
