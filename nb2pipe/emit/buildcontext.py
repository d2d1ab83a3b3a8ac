"""Fill the project's build-context/ folder: copies of the files the image needs from the
notebook's folder (emit/docker.context_files), so the project folder alone is the Docker
build context. nb2pipe owns the folder: files it no longer needs are removed. A file is
copied again only when its size or modification time changed (data files can be large).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nb2pipe.diagnostics import Diagnostic
from nb2pipe.emit.docker import BUILD_CONTEXT, context_files
from nb2pipe.planning.model import PipelinePlan


def sync_build_context(plan: PipelinePlan, outdir: Path) -> list[Diagnostic]:
    """Copy what the image needs into outdir/build-context/; NB407 for a file not found."""
    source = (outdir / plan.workdir).resolve()
    target = outdir / BUILD_CONTEXT
    wanted = context_files(plan)
    diags: list[Diagnostic] = []
    if not wanted:
        _remove_all(target)
        return diags
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    for rel in wanted:
        src, dst = source / rel, target / rel
        if not dst.resolve().is_relative_to(root):
            continue  # a symlink in the project pointing out of it: never written through
        if not src.is_file():
            diags.append(Diagnostic("NB407", f"{rel}: not found in the notebook's folder, so "
                                             "the image will not have it", path=plan.notebook))
            continue
        if not src.resolve().is_relative_to(source):
            # a link out of the folder (a cloned repository's `data/x.csv -> ~/.ssh/id_rsa`)
            # would bake whatever it points at into an image that gets pushed
            diags.append(Diagnostic("NB407", f"{rel}: a link out of the notebook's folder, "
                                             "not copied into the image; copy the file into "
                                             f"{BUILD_CONTEXT}/ yourself if it belongs there",
                                    path=plan.notebook))
            continue
        try:
            _copy_if_changed(src, dst)
        except OSError as exc:
            diags.append(Diagnostic("NB402", f"{BUILD_CONTEXT}/{rel}: cannot copy "
                                             f"({exc.strerror or exc})", path=plan.notebook))
    _remove_unwanted(target, set(wanted))
    return diags


def _copy_if_changed(src: Path, dst: Path) -> None:
    s = src.stat()
    try:
        d = dst.stat()
        if d.st_size == s.st_size and d.st_mtime_ns == s.st_mtime_ns:
            return
    except OSError:
        pass
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)  # keeps the modification time: the next check is a stat


def _remove_unwanted(target: Path, wanted: set[str]) -> None:
    for dirpath, dirnames, filenames in os.walk(target, topdown=False):
        for name in filenames:
            path = Path(dirpath, name)
            if path.relative_to(target).as_posix() not in wanted:
                path.unlink()
        for name in dirnames:
            folder = Path(dirpath, name)
            if not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()


def _remove_all(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
