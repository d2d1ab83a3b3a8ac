"""The panel's workbench end to end: real `jupyter lab`, the extension, Debian's chromium.

tests/e2e_workbench.cjs converts a sample notebook, runs it (live progress to finished), runs
it to a failure (the failing step's log), cancels a slow run, compares two runs, reads what is
stale, verifies against the notebook (then again after a hand edit of a step, which
no longer matches), and opens the Deploy dialog (dry run; a real submit
without a cluster). A screenshot of each state goes to a folder this test prints
($NB2PIPE_ARTIFACTS/workbench when set).

The lab loads the checkout's own build (jupyter_extension/nb2pipe_jupyterlab/labextension,
tests/servers.py), else the installed nb2pipe-jupyterlab; NB2PIPE_LABEXTENSION names another
build folder.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from servers import EXT, jupyter_lab
from test_e2e_browser import CHROMIUM, HERE, _missing
from workbench_nb import write_workbench_sample

pytestmark = pytest.mark.browser


@pytest.fixture
def lab(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path / "root"
    write_workbench_sample(root / "demand.ipynb")
    # no cluster: submit must say so
    with jupyter_lab(tmp_path, root, KUBECONFIG=str(tmp_path / "no-kubeconfig")) as server:
        yield server


def test_run_runs_verify_and_deploy_from_the_panel(lab, tmp_path, capsys):
    base = os.environ.get("NB2PIPE_ARTIFACTS")
    shots = Path(base) / "workbench" if base else tmp_path / "workbench-screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():
        print(f"\nworkbench screenshots: {shots}")
    env = dict(os.environ, LAB_URL=lab["url"], LAB_TOKEN=lab["token"], NOTEBOOK="demand.ipynb",
               SHOTS=str(shots), CHROMIUM=CHROMIUM, NODE_PATH=str(EXT / "node_modules"))
    run = subprocess.run(["node", str(HERE / "e2e_workbench.cjs")], env=env,
                         capture_output=True, text=True, timeout=400)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    seen = json.loads(lines[-1]) if lines else {}
    assert run.returncode == 0 and seen.get("ok"), (
        f"browser run failed (screenshots in {shots}; is the installed nb2pipe-jupyterlab "
        "built from this checkout? .ci/setup.d/60-jupyter.sh rebuilds it, or set "
        f"NB2PIPE_LABEXTENSION): "
        f"{seen.get('error') or run.stderr[-3000:]}\nlab log:\n{lab['log'].read_text()[-3000:]}")

    # Run: the progress showed the train step running (load done, report queued), then all
    # finished; every step went through its states in order
    assert seen["whileRunning"] == [["load", "finished"], ["train", "running"],
                                    ["report", "pending"]]
    assert seen["cancelEnabledWhileRunning"] is True
    assert seen["finished"] == [["load", "finished"], ["train", "finished"],
                                ["report", "finished"]]
    assert seen["seenStates"]["train"][-2:] == ["running", "finished"]
    assert seen["seenStates"]["report"][-2:] == ["running", "finished"] or \
        seen["seenStates"]["report"][-1] == "finished"
    assert "Run 1: finished" in seen["finishedText"]
    # a failure comes with the failing step's log
    assert "fail=True" in " ".join(r["text"] for r in seen["runs"])
    assert seen["failedSteps"] == [["load", "cached"], ["train", "failed"],
                                   ["report", "skipped"]]
    assert seen["failureStep"] == "train"
    assert "failed on purpose" in seen["failureText"]
    assert "training on 3 rows" in seen["failureText"]  # the step's own stdout
    # Cancel stopped the slow run
    assert ["train", "interrupted"] in seen["cancelled"]
    # two runs compared: the parameters that differ, the metric, the artifacts that changed
    assert len(seen["runs"]) == 4
    rows = {r[1]: r for r in seen["compareRows"]}
    assert rows["scale"][2:4] == ["2", "3"]
    assert rows["score"][2:4] == ["3.2", "4.8"] and rows["score"][4].startswith("Δ +1.6")
    assert "train.total" in seen["compareArtifacts"]
    assert "load.rows" not in seen["compareArtifacts"]
    assert "Stale now" in seen["staleness"] or "up to date" in seen["staleness"]
    # Verify: each step's values matched the notebook
    assert seen["verifyOk"] == "true"
    assert seen["verifyValues"] == [["load", "rows", "equal"], ["train", "total", "equal"],
                                    ["report", "score", "equal"]]
    # ... and, after a hand edit of the train step, which values no longer match
    assert seen["mismatchValues"] == [["load", "rows", "equal"], ["train", "total", "different"],
                                      ["report", "score", "different"]]
    assert "train — code: demand_pipeline/steps/train.py changed" in seen["stalenessAfterEdit"]
    # Deploy: the dry run shows the Workflow as it would be sent; no cluster, a clear message
    assert "kind: Workflow" in seen["dryRun"]
    assert "namespace: ml-team" in seen["dryRun"]
    assert "registry.example.com/demand:1" in seen["dryRun"]
    assert "no Kubernetes credentials" in seen["submitError"]
    assert seen["pageErrors"] == []
    names = sorted(Path(p).name for p in seen["shots"])
    assert names == ["01-run-in-progress.png", "02-run-finished.png",
                     "03-run-failed-with-log.png", "04-run-cancelled.png",
                     "05-runs-compared.png", "06-verify-result.png", "07-verify-mismatch.png",
                     "08-deploy-dry-run.png", "09-deploy-no-cluster.png"]
    assert all(Path(p).stat().st_size > 10_000 for p in seen["shots"])
