"""The repository's own release workflow (.github/workflows/release.yml): both wheels built
(the front end prebuilt with Node, so users need none), checked, attached to the tag's release;
actionlint-clean, actions on their node24 majors."""

from __future__ import annotations

from pathlib import Path

import yaml
from test_deploy_ci import assert_actionlint_clean

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "release.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_release_workflow_passes_actionlint():
    assert_actionlint_clean(WORKFLOW)


def test_release_workflow_builds_both_wheels_and_attaches_them_on_a_tag():
    wf = _workflow()
    on = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as True
    assert on["push"] == {"tags": ["v*"]} and "workflow_dispatch" in on
    assert wf["permissions"] == {"contents": "read"}
    job = wf["jobs"]["wheels"]
    assert job["permissions"] == {"contents": "write"}
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "python -m build --wheel --outdir dist ." in runs  # nb2pipe
    assert "npm ci" in runs and "npm run build:prod" in runs  # from the committed lock
    assert "python -m build --wheel --no-isolation --outdir dist jupyter_extension" in runs
    assert "jupyter labextension list" in runs and "nb2pipe-jupyterlab" in runs
    release = job["steps"][-1]
    assert "gh release create" in release["run"] and "dist/*.whl" in release["run"]
    assert "refs/tags/v" in release["if"]


def test_release_workflow_actions_are_on_their_node24_majors():
    uses = {s["uses"] for s in _workflow()["jobs"]["wheels"]["steps"] if "uses" in s}
    assert uses == {"actions/checkout@v6", "actions/setup-python@v6", "actions/setup-node@v6",
                    "actions/upload-artifact@v6"}
