"""End to end in a real browser: jupyter lab + the prebuilt extension + Debian's chromium.

Starts `jupyter lab` on 127.0.0.1 with a token in a temporary root holding a sample notebook,
runs tests/e2e_browser.cjs (playwright-core, from jupyter_extension/node_modules) to click
"Convert to pipeline", then checks the files on disk and what the panel showed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sample_nb import write_sample
from servers import BUILT, EXT, jupyter_lab

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("NB2PIPE_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/setup.d/60-jupyter.sh)"
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        return "jupyterlab is not installed (.ci/setup.d/60-jupyter.sh installs it)"
    if shutil.which("node") is None:
        return "node is missing"
    if not (EXT / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is missing (cd jupyter_extension && npm ci)"
    from jupyter_core.paths import jupyter_path

    installed = any((Path(p) / "nb2pipe-jupyterlab" / "package.json").is_file()
                    for p in jupyter_path("labextensions"))
    if not (BUILT / "package.json").is_file() and not installed:
        return "the nb2pipe-jupyterlab extension is not built/installed (pip install jupyter_extension)"
    return None


@pytest.fixture
def lab(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path / "root"
    write_sample(root / "sales.ipynb")
    with jupyter_lab(tmp_path, root) as server:
        yield server


def test_convert_button_writes_the_pipeline_and_the_panel_shows_the_steps(lab, tmp_path):
    shots = Path(os.environ.get("NB2PIPE_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "jupyterlab-panel.png"
    env = dict(os.environ, LAB_URL=lab["url"], LAB_TOKEN=lab["token"], NOTEBOOK="sales.ipynb",
               SCREENSHOT=str(shot), CHROMIUM=CHROMIUM,
               NODE_PATH=str(EXT / "node_modules"))
    run = subprocess.run(["node", str(HERE / "e2e_browser.cjs")], env=env, capture_output=True,
                         text=True, timeout=240)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    seen = json.loads(lines[-1]) if lines else {}
    assert run.returncode == 0 and seen.get("ok"), (
        f"browser run failed: {seen.get('error') or run.stderr[-3000:]}\n"
        f"lab log:\n{lab['log'].read_text()[-3000:]}")

    out = lab["root"] / "sales_pipeline"
    assert (out / "nb2pipe.lock.json").is_file()
    assert (out / "README.md").is_file()
    assert (out / "sales_pipeline" / "pipeline.py").is_file()
    assert seen["buttonText"] == "Convert to pipeline"
    assert seen["steps"] == ["load", "clean_step", "summarize"]
    assert ["load", "clean_step"] in seen["edges"] and ["clean_step", "summarize"] in seen["edges"]
    assert "Converted" in seen["resultText"] and seen["hasReadmeLink"]
    assert any("out clean" in card for card in seen["io"]), seen["io"]
    assert seen["panelErrors"] == []
    # tagging the last cell `skip` from the context menu and saving refreshed the panel
    assert seen["stepsAfterSkip"] == ["load", "clean_step"]
    assert "stale" in seen["statusAfterSkip"]
    assert seen["consoleErrors"] == []
    assert seen["readmeOpened"]
    assert "500 simulated server failure" in seen["shownError"]
    # NB305 (the skipped section left no step) points at cell 7; clicking it went there
    assert seen.get("diagnosticJump") == {"code": "NB305", "activeCell": 7}, seen
    assert shot.is_file() and shot.stat().st_size > 10_000


def _big_notebook(path: Path, sections: int = 10, per_section: int = 30) -> Path:
    """300 code cells under 10 headings: value_j = value_(j-1) + 1."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    j = 0
    for s in range(sections):
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## Part {s}"))
        for _ in range(per_section):
            nb.cells.append(nbformat.v4.new_code_cell(
                "value_0 = 0" if j == 0 else f"value_{j} = value_{j - 1} + 1"))
            j += 1
    for i, c in enumerate(nb.cells):
        c["id"] = f"c{i}"
    nbformat.write(nb, str(path))
    return path


def test_cells_show_their_step_diagnostics_and_the_dag_routes_around_nodes(lab, tmp_path):
    """Issue 18: the churn sample's cells carry their step; a diagnostic sits on its cell and
    line with its explanation; the DAG's layer-skipping edge passes no node; an unsaved edit
    re-marks the cells; a 300-cell notebook is timed (reported, not asserted)."""
    samples = HERE.parent / "sample_notebooks"
    shutil.copy(samples / "churn.ipynb", lab["root"] / "churn.ipynb")
    shutil.copytree(samples / "data", lab["root"] / "data")
    _big_notebook(lab["root"] / "big.ipynb")
    # converted before the browser opens it: the panel shows its serving path's state
    shutil.copy(samples / "churn.ipynb", lab["root"] / "served.ipynb")
    subprocess.run([sys.executable, "-m", "nb2pipe", "convert", "served.ipynb"],
                   cwd=lab["root"], check=True, capture_output=True, timeout=300,
                   env=dict(os.environ, PYTHONPATH=str(HERE.parent)))
    shots = Path(os.environ.get("NB2PIPE_ARTIFACTS", tmp_path)) / "cells"
    shots.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}")
    env = dict(os.environ, LAB_URL=lab["url"], LAB_TOKEN=lab["token"], SHOTS=str(shots),
               CHROMIUM=CHROMIUM, NODE_PATH=str(EXT / "node_modules"), ROOT=str(lab["root"]))
    started = time.monotonic()
    run = subprocess.run(["node", str(HERE / "e2e_cells.cjs")], env=env, capture_output=True,
                         text=True, timeout=400)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    seen = json.loads(lines[-1]) if lines else {}
    assert run.returncode == 0 and seen.get("ok"), (
        f"browser run failed: {seen.get('error') or run.stderr[-3000:]}\n"
        f"lab log:\n{lab['log'].read_text()[-3000:]}")
    print(json.dumps({"browser_s": round(time.monotonic() - started, 1),
                      "edit_to_marks_ms": seen["editTiming"],
                      "big_open_ms": seen["bigOpenMs"],
                      "big_edit_to_marks_ms": seen["bigEditTiming"],
                      "big_preview_requests": seen["bigPreviewRequests"],
                      "big_cellmarks_update_ms": seen["bigMarkMs"]}))

    cells = {c["cell"]: c for c in seen["cells"]}
    # every non-empty code cell of churn's five steps is marked with its step and colour
    steps = {n: c["step"] for n, c in cells.items() if c["step"]}
    assert steps[2] == "load_data" and steps[14] == "clean" and steps[29] == "train"
    assert steps[36] == "evaluate"
    colors = {c["step"]: c["color"] for c in cells.values() if c["step"]}
    assert len(colors) == 5 and len(set(colors.values())) == 5, colors
    assert all(c["color"] in c["border"] or "inset" in c["border"] for c in cells.values()
               if c["step"]), "the step colour is drawn as the cell's left border"
    # the cells that start a step are marked, and say why
    starts = {n: c["labelTitle"] for n, c in cells.items() if c["start"]}
    assert sorted(starts) == [2, 14, 23, 29, 34], starts
    assert "markdown heading" in starts[14] and cells[14]["label"] == "▶ clean"
    # stripped lines are muted with the reason on hover: display, plotting, magic, pip
    reasons = " | ".join(t for c in cells.values() for t in c["stripped"])
    for reason in ("display", "plotting", "IPython magic", "pip install"):
        assert reason in reasons, reasons
    assert cells[11]["stripped"] == ["Stripped from the step: plotting"] * 4
    assert not any(c["step"] for c in cells.values() if not c["code"])  # markdown unmarked

    # one `step:impute` tag (context menu) added a step; the heading sections stayed steps
    assert seen["stepsAfterTag"] == ["load_data", "clean", "impute", "features", "train",
                                     "evaluate"], seen["stepsAfterTag"]
    tagged = seen["tagged"]
    assert tagged["label"] == "▶ impute" and "step: tag" in tagged["labelTitle"], tagged
    assert "NB314" in seen["notesAfterTag"]  # the `## Features` heading ends the tagged step

    # the diagnostic on cell 19 (NB205) is shown on the cell, with `nb2pipe explain`'s text
    assert cells[19]["badge"] == "NB205"
    assert "How to fix:" in cells[19]["badgeTitle"] and "cap_outliers" in cells[19]["badgeTitle"]
    assert cells[19]["diagLines"] and "How to fix:" in cells[19]["diagLines"][0]["title"]

    # the DAG: layers by longest path; the edge load_data -> train skips two layers and no
    # edge passes through a node; labels inside the drawing
    dag = seen["dag"]
    layers = {n["name"]: n["layer"] for n in dag["nodes"]}
    assert layers == {"load_data": 0, "clean": 1, "features": 2, "train": 3, "evaluate": 4}
    skip = [e for e in dag["edges"] if (e["from"], e["to"]) == ("load_data", "train")]
    assert skip and len(skip[0]["points"]) >= 6, skip  # bends beside the layers it crosses
    assert dag["through"] == [], dag["through"]
    assert dag["cut"] == 0 and dag["labels"]
    assert all(lab_["title"].split(": ", 1)[1].startswith(lab_["text"].rstrip("…")[:10])
               for lab_ in dag["labels"])  # the hover title holds the whole list

    # an unsaved edit re-marked the cell: the error (NB201, read but never assigned) on its
    # line, the bare name below it stripped
    after = seen["afterEdit"]
    assert after["badge"] == "NB201" and after["step"] == "train", after
    assert any("never_assigned_anywhere" in d["text"] and "nb2pipe-line-error" in d["cls"]
               and "How to fix:" in d["title"] for d in after["diagLines"]), after
    assert "NB201" in seen["panelDiagnostics"]  # the panel's list stays
    assert seen["editOnDiskBeforeConvert"] is False, "the preview saved the edit"

    # Convert saved the edit and failed: a toast popped up; no README offered
    assert "not converted (1 error)" in seen["failedToast"], seen["failedToast"]
    assert seen["failedReadmeLinks"] == 0
    assert not (lab["root"] / "churn_pipeline").exists()
    # converting again with a hand-edited README: a warning naming it, no green "unchanged"
    assert "converted" in seen["convertedToast"]
    assert "kept 1 hand-edited file (README.md)" in seen["keptToast"], seen["keptToast"]
    assert seen["unchangedSuccessToasts"] == 0
    assert "my own note" in (lab["root"] / "big_pipeline" / "README.md").read_text()
    # an edit that changed the plan cleared the last-conversion box
    assert (seen["resultBoxBefore"], seen["resultBoxAfter"]) == (1, 0)
    # the step `summarize` skipped and converted again: its files are listed, not linked
    [removed] = seen["removed"]
    assert "sales_pipeline/steps/summarize.py" in removed["items"] and removed["links"] == 0
    assert not (lab["root"] / "sales_pipeline" / "sales_pipeline" / "steps" / "summarize.py").exists()

    # 300 cells: all marked; the edit was re-marked through one POST preview
    # every code cell in the DOM is marked (a windowed notebook leaves some out of it)
    assert seen["bigStepCells"] == seen["bigCodeCells"] >= 250, seen
    assert any(r["method"] == "POST" for r in seen["bigPreviewRequests"])
    assert seen["serving"].startswith("Serving: not proven: convert with --capture"), seen
    assert seen["consoleErrors"] == []
    for name in ("serving-status.png", "cells-by-step.png", "diagnostic-on-cell.png", "dag.png",
                 "diagnostic-after-edit.png", "convert-failed-notice.png", "big-notebook.png",
                 "convert-kept-hand-edit.png", "tagged-step.png", "removed-files.png"):
        assert (shots / name).stat().st_size > 10_000, name
