"""End to end in a real browser: jupyter lab + the prebuilt extension + Debian's chromium.

Starts `jupyter lab` on 127.0.0.1 with a token in a temporary root holding a sample notebook,
runs tests/e2e_browser.cjs (playwright-core, from jupyter_extension/node_modules) to click
"Convert to pipeline", then checks the files on disk and what the panel showed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sample_nb import write_sample

HERE = Path(__file__).resolve().parent
EXT = HERE.parent / "jupyter_extension"
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

    if not any((Path(p) / "nb2pipe-jupyterlab" / "package.json").is_file()
               for p in jupyter_path("labextensions")):
        return "the nb2pipe-jupyterlab extension is not built/installed (pip install jupyter_extension)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path / "root"
    write_sample(root / "sales.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path / "home"
    labconfig = home / ".jupyter" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps(  # no "news?" pop-up in the shots
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    env = dict(os.environ, HOME=str(home), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(home / ".jupyter"), JUPYTER_PLATFORM_DIRS="1")
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
         "--ServerApp.ip=127.0.0.1", "--LabApp.extension_manager=readonly",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(f"{url}/api/status",
                                             headers={"Authorization": f"token {token}"})
                urllib.request.urlopen(req, timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("jupyter lab did not start:\n"
                                + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.3)
        yield {"url": url, "token": token, "root": root, "log": tmp_path / "lab.log"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
