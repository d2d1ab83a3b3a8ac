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
    "# installed from, so they cannot be known offline. Add them with\n"
    "# `pip-compile --generate-hashes` or `pip hash` if the image must verify downloads.\n")


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


def lock_text(header: str, lock: Lock) -> str:
    lines = [header.rstrip(),
             "# Every distribution the steps need, transitively, pinned to the version installed",
             "# where the notebook was converted. The image installs it with",
             f"# `pip install --no-deps -r {LOCK_FILE}`.",
             NO_HASHES.rstrip()]
    for key in sorted(lock.locked):
        pin = lock.locked[key]
        lines.append(f"{pin.name}=={pin.version}")
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
