"""What a step's result depends on, and why a step is stale.

A step's fingerprint hashes its components: code (the step module, the shared module and the
runtime, local helper modules next to the notebook), parameters, versions of the packages its
code imports (and Python's), the content hashes of its input artifacts, and of the data files it
reads. Two runs with equal fingerprints compute the same thing, so the second is served from
the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from nb2pipe.runner.project import Project, StepInfo
from nb2pipe.tracking.store import Store, file_sha

STDLIB = set(getattr(sys, "stdlib_module_names", ())) | {"__future__"}


def _site_signature() -> list:
    """Changes when packages are installed, upgraded or removed (their folders' mtimes)."""
    sig = []
    for p in sys.path:
        if "site-packages" not in p and "dist-packages" not in p:
            continue  # the cwd or script folder would change with every file written there
        try:
            st = os.stat(p or ".")
        except OSError:
            continue
        sig.append([p, st.st_mtime_ns])
    return sig


def package_versions(store: Store, modules: set[str]) -> dict[str, dict[str, str]]:
    """module -> {distribution: version}, cached in the store until site-packages change."""
    wanted = sorted(m for m in modules if m not in STDLIB)
    sig = _site_signature()
    cache = store.kv_get("package_map") or {}
    if cache.get("sig") != sig or cache.get("python") != sys.version:
        cache = {"sig": sig, "python": sys.version, "map": {}}
    known: dict[str, dict[str, str]] = cache["map"]
    missing = [m for m in wanted if m not in known]
    if missing:
        import importlib.metadata as md

        dists = None
        for m in missing:
            try:
                known[m] = {md.distribution(m).metadata["Name"]: md.version(m)}
                continue
            except md.PackageNotFoundError:
                pass
            if dists is None:
                dists = md.packages_distributions()
            found = {}
            for d in dists.get(m, []):
                try:
                    found[d] = md.version(d)
                except md.PackageNotFoundError:
                    pass
            known[m] = found
        store.kv_set("package_map", cache)
    return {m: known[m] for m in wanted}


def _in_git_repo(path: Path) -> bool:
    if os.environ.get("GIT_DIR"):
        return True
    p = Path(path).resolve()
    return any((d / ".git").exists() for d in (p, *p.parents))


def git_info(path: Path) -> dict[str, Any]:
    if not _in_git_repo(path):  # answered without importing gitpython (most of a no-op run)
        return {"commit": None, "dirty": None, "error": "not a git repository"}
    try:
        import git
    except ImportError:
        return {"commit": None, "dirty": None, "error": "gitpython is not installed"}
    try:
        repo = git.Repo(str(path), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return {"commit": None, "dirty": None, "error": "not a git repository"}
    except Exception as exc:  # noqa: BLE001 - git missing, broken repo: recorded, not fatal
        return {"commit": None, "dirty": None, "error": f"{type(exc).__name__}: {exc}"}
    try:
        commit = repo.head.commit.hexsha
    except ValueError:
        commit = None  # a repository without commits
    except Exception as exc:  # noqa: BLE001
        return {"commit": None, "dirty": None, "error": f"{type(exc).__name__}: {exc}"}
    try:  # one `git status` (Repo.is_dirty runs two `git diff`s); untracked files don't count
        dirty = bool(repo.git.status("--porcelain", "--untracked-files=no").strip())
    except Exception as exc:  # noqa: BLE001
        return {"commit": commit, "dirty": None, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        repo.close()
    return {"commit": commit, "dirty": dirty, "error": None if commit else "no commits yet"}


class Fingerprinter:
    """Computes step components for one run (file hashes memoized for the run)."""

    def __init__(self, project: Project, store: Store, params: dict[str, Any]):
        self.project = project
        self.store = store
        self.params = {**project.defaults, **params}
        self._code: dict[Path, str] = {}
        mods: set[str] = set()
        for st in project.steps.values():
            mods.update(st.modules)
        self.versions = package_versions(store, mods)

    def _hash_code(self, path: Path) -> str:
        if path not in self._code:
            try:
                self._code[path] = file_sha(path)
            except OSError:
                self._code[path] = "missing"
        return self._code[path]

    def code(self, st: StepInfo) -> dict[str, str]:
        pkg = self.project.package
        out = {f"{pkg}/steps/{st.name}.py": self._hash_code(self.project.step_file(st.name)),
               f"{pkg}/_runtime.py": self._hash_code(self.project.pkg_dir / "_runtime.py")}
        if st.uses_common:
            out[f"{pkg}/common.py"] = self._hash_code(self.project.pkg_dir / "common.py")
        if st.serving_state:
            out[f"{pkg}/serving.py"] = self._hash_code(self.project.pkg_dir / "serving.py")
        for m in st.modules:
            local = self.project.local_module_file(m)
            if local is not None:
                out[f"{m} ({local.name})"] = self._hash_code(local)
        return out

    def packages(self, st: StepInfo) -> dict[str, str]:
        out = {"python": platform.python_version()}
        for m in st.modules:
            for dist, ver in self.versions.get(m, {}).items():
                out[dist] = ver
        return out

    def components(self, st: StepInfo, inputs: dict[str, str] | None,
                   files: dict[str, str] | None = None) -> dict[str, Any]:
        """inputs: name -> artifact hash (None while upstream results are unknown); files:
        hashes of data files as an upstream cached step will restore them (for `status`)."""
        files = files or {}
        return {
            "code": self.code(st),
            "params": {p: repr(self.params.get(p)) for p in st.params},
            "packages": self.packages(st),
            "inputs": inputs,
            "data": {p: files[p] if p in files else
                     self.store.data_hash(self.project.data_path(p)) for p in st.reads},
        }


def fingerprint(components: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(components, sort_keys=True).encode()).hexdigest()


def reasons(old: dict[str, Any] | None, new: dict[str, Any],
            sources: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Why `new` differs from the last recorded components `old`: kind + detail."""
    if old is None:
        return [{"kind": "new", "detail": "never run"}]
    out: list[dict[str, str]] = []

    def diff(kind: str, a: dict, b: dict, fmt) -> None:
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                out.append({"kind": kind, "detail": fmt(k, a.get(k), b.get(k))})

    diff("code", old.get("code") or {}, new["code"], lambda k, a, b: f"{k} changed"
         if a and b else (f"{k} added" if b else f"{k} removed"))
    diff("parameter", old.get("params") or {}, new["params"],
         lambda k, a, b: f"{k}: {a} -> {b}")
    diff("package", old.get("packages") or {}, new["packages"],
         lambda k, a, b: f"{k}: {a or '(none)'} -> {b or '(none)'}")
    diff("data", old.get("data") or {}, new["data"],
         lambda k, a, b: f"{k} {'is missing' if b == 'missing' else 'changed'}")
    if new.get("inputs") is not None:
        src = sources or {}
        diff("upstream", old.get("inputs") or {}, new["inputs"],
             lambda k, a, b: f"input {k} from {src.get(k, '?')} changed")
    return out
