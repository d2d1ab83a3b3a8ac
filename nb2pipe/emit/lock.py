"""The full lock of the step environment: every distribution the steps need, transitively,
pinned to the version installed where the notebook was converted (the environment it ran in).

The walk starts at the direct requirements (project.resolve_requirements) and follows each
installed distribution's Requires-Dist, markers evaluated for the image (Linux, this Python),
extras included where a requirement asks for them. The image installs the lock with
`pip install --no-deps -r requirements.lock`, so nothing unpinned can slip in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LOCK_FILE = "requirements.lock"

NO_HASHES = (
    "# No --hash lines: an installed distribution does not record the hash of the file it was\n"
    "# installed from, so they cannot be known offline. `nb2pipe convert --lock-hashes` asks\n"
    "# the package index for them (through pip) if the image must verify its downloads.\n")


@dataclass
class Locked:
    name: str  # as the distribution's metadata spells it
    version: str
    via: set[str] = field(default_factory=set)  # who needs it (empty: a direct requirement)
    requires_python: str = ""


@dataclass
class Lock:
    locked: dict[str, Locked]  # canonical name -> pin
    verbatim: list[str]  # direct requirements not installed here (kept as written)
    missing: list[str]  # "name (needed by x)": required but not installed here


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _image_environment() -> dict[str, str]:
    """Marker environment of the image: this Python, but Linux (conversion may run on a Mac
    or Windows; the image never does)."""
    from packaging.markers import default_environment

    env = dict(default_environment())
    env.update(sys_platform="linux", platform_system="Linux", os_name="posix")
    return env


def _distribution(name: str):
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        return distribution(name)
    except PackageNotFoundError:
        return None


def _wanted(req, extras: set[str], env: dict[str, str]) -> bool:
    """Is a Requires-Dist entry needed, given the extras asked for?"""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**env, "extra": e}) for e in {"", *extras})


def build_lock(direct: list[str]) -> Lock:
    """Walk the installed distributions from the direct requirement lines."""
    from packaging.requirements import InvalidRequirement, Requirement

    env = _image_environment()
    lock = Lock({}, [], [])
    done: dict[str, set[str]] = {}  # canonical name -> extras already followed
    queue: list[tuple[str, set[str], str]] = []  # (name, extras, needed by)
    for line in direct:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            lock.verbatim.append(line)
            continue
        if _distribution(req.name) is None:
            lock.verbatim.append(line)
            continue
        queue.append((req.name, set(req.extras), ""))
    while queue:
        name, extras, parent = queue.pop(0)
        key = canon(name)
        dist = _distribution(name)
        if dist is None:
            lock.missing.append(f"{name} (needed by {parent})")
            continue
        pin = lock.locked.setdefault(key, Locked(dist.metadata["Name"] or name, dist.version,
                                                 requires_python=dist.metadata.get(
                                                     "Requires-Python") or ""))
        if parent:
            pin.via.add(parent)
        seen = done.get(key)
        if seen is not None and extras <= seen:
            continue  # followed already, with these extras
        done[key] = (seen or set()) | extras
        for text in dist.requires or ():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue  # metadata pip itself would reject; nothing to pin
            if _wanted(req, extras, env):  # a revisit re-queues some: `done` skips them
                queue.append((req.name, set(req.extras), pin.name))
    return lock


HASHES_FAILED = "# --lock-hashes: pip could not get the hashes"
# The image's platforms: one lock serves an amd64 and an arm64 build. pip takes --platform
# literally (no older manylinux tags implied), so every glibc the default base image
# (Debian bookworm, glibc 2.36) runs wheels for is listed.
IMAGE_ARCHES = ("x86_64", "aarch64")
IMAGE_GLIBC = range(17, 37)


def _platform_options(arch: str) -> list[str]:
    tags = [f"manylinux2014_{arch}"] + [f"manylinux_2_{v}_{arch}" for v in IMAGE_GLIBC]
    return [opt for tag in tags for opt in ("--platform", tag)]


def fetch_hashes(lock: Lock, timeout: float = 180) -> tuple[dict[str, list[str]], str]:
    """sha256 of the files pip would install in the image for every pin ({canonical name:
    hashes}), asked of the package index by pip itself (`install --dry-run --report`: the
    index states each file's hash; wheels are not downloaded where the index serves their
    metadata). Network at convert time, so only with `convert --lock-hashes`. ({}, why)
    when pip cannot tell: hashes are all or nothing for pip, so none are written then."""
    import json
    import subprocess
    import sys
    import tempfile

    hashes: dict[str, set[str]] = {}
    pins = [f"{p.name}=={p.version}" for p in lock.locked.values()]
    if not pins:
        return {}, ""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    with tempfile.TemporaryDirectory(prefix="nb2pipe-hashes-") as tmp:
        reqs = f"{tmp}/requirements.txt"
        with open(reqs, "w", encoding="utf-8") as fh:
            fh.write("\n".join(pins) + "\n")
        for arch in IMAGE_ARCHES:
            report = f"{tmp}/{arch}.json"
            # wheels only: an sdist's metadata would have to be built, which is slow
            cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps",
                   "--ignore-installed", "--quiet", "--only-binary=:all:",
                   *_platform_options(arch), "--python-version", version,
                   "--implementation", "cp", "--target", f"{tmp}/target", "-r", reqs,
                   "--report", report]
            try:
                run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return {}, f"{type(exc).__name__}: {exc}"
            if run.returncode != 0:
                return {}, (run.stderr.strip().splitlines() or ["pip failed"])[-1]
            with open(report, encoding="utf-8") as fh:
                for item in json.load(fh).get("install", []):
                    digest = (item.get("download_info", {}).get("archive_info", {})
                              .get("hashes", {}).get("sha256"))
                    if digest:
                        hashes.setdefault(canon(item["metadata"]["name"]), set()).add(digest)
    missing = [p.name for k, p in lock.locked.items() if k not in hashes]
    if missing:
        return {}, f"no hash for {', '.join(missing)}"
    return {k: sorted(v) for k, v in hashes.items()}, ""


def lock_text(header: str, lock: Lock, hashes: dict[str, list[str]] | None = None,
              failed: str = "") -> str:
    """`hashes` (from fetch_hashes, with --lock-hashes) become `--hash` options; `failed`
    says why they were asked for and are missing."""
    lines = [header.rstrip(),
             "# Every distribution the steps need, transitively, pinned to the version installed",
             "# where the notebook was converted. The image installs it with",
             f"# `pip install --no-deps -r {LOCK_FILE}`."]
    if hashes:
        lines.append("# Hashes (convert --lock-hashes) of the files pip installs on linux/amd64 "
                     "and linux/arm64.")
    else:
        lines.append(NO_HASHES.rstrip())
    if failed:
        lines.append(f"{HASHES_FAILED}: {failed}")
    for key in sorted(lock.locked):
        pin = lock.locked[key]
        digests = (hashes or {}).get(key, [])
        lines.append(f"{pin.name}=={pin.version}" + "".join(
            f" \\\n    --hash=sha256:{d}" for d in digests))
        if pin.via:
            lines.append(f"    # via {', '.join(sorted(pin.via, key=canon))}")
    for line in lock.verbatim:
        lines.append(f"{line}  # not installed here: pin it by hand")
    lines += [f"# not installed here: {m}" for m in sorted(set(lock.missing))]
    return "\n".join(lines) + "\n"


def minimum_python(lock: Lock, fallback: tuple[int, int]) -> tuple[int, int]:
    """The highest lower bound of the locked distributions' Requires-Python: the oldest
    Python every pinned version installs on (the fallback when none states one)."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    best: tuple[int, int] | None = None
    for pin in lock.locked.values():
        try:
            specs = SpecifierSet(pin.requires_python)
        except InvalidSpecifier:
            continue
        for spec in specs:
            if spec.operator not in (">=", ">", "~=", "==", "==="):
                continue
            parts = re.findall(r"\d+", spec.version)
            if len(parts) >= 2:
                bound = (int(parts[0]), int(parts[1]))
                best = bound if best is None or bound > best else best
    return best or fallback
