"""Is a notebook's generated pipeline up to date? Fast: JSON, hashes, no analysis.

Used by `nb2pipe check` and the pre-commit hook; imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def check_notebook(notebook: Path, outdir: Path | None = None) -> list[str]:
    """Problems that make the pipeline stale; empty when it is up to date."""
    from nb2pipe.notebook import content_hash
    from nb2pipe.writer import LOCK, read_lock

    if outdir is None:
        from nb2pipe.planning.split import slug

        outdir = notebook.parent / f"{slug(notebook.stem) or 'notebook'}_pipeline"
    lock = read_lock(outdir)
    if lock is None:
        return [f"not converted yet (no {outdir / LOCK}); run: nb2pipe convert {notebook}"]
    try:
        raw = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"cannot read notebook: {exc}"]
    problems: list[str] = []
    if content_hash(raw) != lock.get("notebook_hash"):
        problems.append("notebook changed since its pipeline was generated; run: nb2pipe "
                        f"convert {notebook}")
    for rel, digest in sorted((lock.get("files") or {}).items()):
        path = outdir / rel
        try:
            current = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            problems.append(f"generated file {rel} is missing")
            continue
        if current != digest:
            problems.append(f"generated file {rel} was edited by hand")
    return problems
