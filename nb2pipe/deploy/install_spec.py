"""How a generated CI workflow installs nb2pipe: the way this nb2pipe was installed.

nb2pipe is not published on PyPI, so `pip install nb2pipe` fails on a CI runner. The install
record (PEP 610's direct_url.json) says where this copy came from: a git URL and commit, or a
local folder (an editable install of a checkout, whose origin remote and HEAD give the same).
A local folder without a reachable remote cannot be installed on a runner: then the spec is
unknown and the workflow reads it from a repository variable the user sets.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

DIST = "nb2pipe"


@dataclass(frozen=True)
class InstallSpec:
    spec: str | None  # a pip requirement; None: unknown (the workflow asks for it)
    source: str  # where it came from, for the workflow's header comment


UNKNOWN = InstallSpec(None, "this nb2pipe was not installed from a git repository")


def given(spec: str) -> InstallSpec:
    return InstallSpec(spec, "the spec given with --nb2pipe-spec")


def detect() -> InstallSpec:
    """The spec of the installed nb2pipe, or UNKNOWN."""
    info = _direct_url()
    return from_direct_url(info) if info else UNKNOWN


def _direct_url() -> dict[str, Any] | None:
    try:
        text = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        info = json.loads(text) if text else None
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def from_direct_url(info: dict[str, Any]) -> InstallSpec:
    """A spec from a PEP 610 record: a git install as is, a local folder through its checkout."""
    url = str(info.get("url", ""))
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and vcs.get("commit_id"):
        public = public_git_url(url)
        if public:
            return InstallSpec(git_spec(public, str(vcs["commit_id"])),
                               f"this nb2pipe's git install ({public})")
    if url.startswith("file:"):
        return from_checkout(Path(unquote(urlparse(url).path)))
    if isinstance(info.get("archive_info"), dict) and url.startswith("https://"):
        return InstallSpec(f"{DIST} @ {url}", "this nb2pipe's install (an archive)")
    return UNKNOWN


def from_checkout(folder: Path) -> InstallSpec:
    """A spec from a git checkout's origin remote and HEAD, if the remote is reachable."""
    remote = _git(folder, "remote", "get-url", "origin")
    head = _git(folder, "rev-parse", "HEAD")
    public = public_git_url(remote) if remote else None
    if not (public and head):
        return InstallSpec(None, f"the checkout {folder} has no origin remote a CI runner "
                                 "can reach")
    return InstallSpec(git_spec(public, head), f"this nb2pipe's checkout (origin {public})")


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


_SCP = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>(?!/)[^\s]+)$")


def public_git_url(remote: str) -> str | None:
    """An https URL for a remote a runner can clone (https, ssh, scp-like); None for paths."""
    remote = remote.strip()
    if remote.startswith("git+"):
        remote = remote[4:]
    parsed = urlparse(remote)
    if parsed.scheme in ("https", "http", "ssh", "git") and parsed.hostname:
        return _https(parsed.hostname, parsed.path)
    scp = _SCP.match(remote)
    if scp and "/" in scp["path"]:
        return _https(scp["host"], scp["path"])
    return None


def _https(host: str, path: str) -> str:
    path = path.strip("/")
    return f"https://{host}/{path[:-4] if path.endswith('.git') else path}"


def git_spec(url: str, revision: str) -> str:
    return f"{DIST} @ git+{url}@{revision}"


def extra_requirements(extra: str) -> list[str]:
    """The requirements an extra of nb2pipe adds (from the install's metadata), so a workflow
    can add them to whatever spec installs nb2pipe itself."""
    try:
        requires = metadata.requires(DIST) or []
    except metadata.PackageNotFoundError:
        requires = []
    marker = re.compile(r"""extra\s*==\s*["']""" + re.escape(extra) + """["']""")
    found = [r.split(";")[0].strip() for r in requires if marker.search(r)]
    return found or list(_KNOWN_EXTRAS.get(extra, (extra,)))


# pyproject.toml's extras, for when nb2pipe runs from a source tree without install metadata
_KNOWN_EXTRAS = {"kfp": ("kfp>=2.7", "kfp-kubernetes>=1.2")}
