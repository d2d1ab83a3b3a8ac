"""Is a notebook's generated pipeline up to date? Fast: JSON, hashes, no analysis.

Used by `nb2pipe check`, the pre-commit hooks and the Jupyter server extension; imports
nothing heavy (the hook's whole run, interpreter start included, should stay under 0.3 s).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Staleness:
    """What makes a notebook's pipeline stale. `converted` is False when there is no lock."""

    notebook: Path
    outdir: Path
    converted: bool = True
    unreadable: str | None = None
    notebook_changed: bool = False
    edited: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    lock: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def stale(self) -> bool:
        return bool(not self.converted or self.unreadable or self.notebook_changed
                    or self.edited or self.missing)

    def problems(self) -> list[str]:
        """One phrase per kind of problem, for people."""
        from nb2pipe.writer import LOCK

        if not self.converted:
            return [f"not converted yet (no {self.outdir / LOCK})"]
        out: list[str] = []
        if self.unreadable:
            out.append(f"cannot read notebook: {self.unreadable}")
        if self.notebook_changed:
            out.append("notebook changed since its pipeline was generated")
        if self.edited:
            out.append(f"generated file{'s' if len(self.edited) > 1 else ''} "
                       f"{', '.join(self.edited)} edited by hand")
        if self.missing:
            out.append(f"generated file{'s' if len(self.missing) > 1 else ''} "
                       f"{', '.join(self.missing)} missing")
        return out

    def summary(self) -> str:
        """One line naming everything that changed, with what to do about it."""
        if not self.stale:
            return "up to date"
        hint = "run: nb2pipe sync" if not self.edited else (
            "revert the hand edits, or overwrite them with: nb2pipe convert --force")
        return f"stale: {'; '.join(self.problems())} ({hint})"


def outdir_for(notebook: Path, outdir: Path | None = None) -> Path:
    """The pipeline folder of a notebook: given, else `<stem>_pipeline` beside it."""
    if outdir is not None:
        return outdir
    from nb2pipe.planning.split import slug

    return notebook.parent / f"{slug(notebook.stem) or 'notebook'}_pipeline"


def staleness(notebook: Path, outdir: Path | None = None) -> Staleness:
    from nb2pipe.notebook import content_hash
    from nb2pipe.writer import read_lock

    out = outdir_for(notebook, outdir)
    lock = read_lock(out)
    if lock is None:
        return Staleness(notebook, out, converted=False)
    try:
        raw = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Staleness(notebook, out, unreadable=str(exc), lock=lock)
    changed = content_hash(raw) != lock.get("notebook_hash")
    edited: list[str] = []
    missing: list[str] = []
    for rel, digest in sorted((lock.get("files") or {}).items()):
        try:
            current = hashlib.sha256((out / rel).read_bytes()).hexdigest()
        except OSError:
            missing.append(rel)
            continue
        if current != digest:
            edited.append(rel)
    return Staleness(notebook, out, notebook_changed=changed, edited=tuple(edited),
                     missing=tuple(missing), lock=lock)


def check_notebook(notebook: Path, outdir: Path | None = None) -> list[str]:
    """Problems that make the pipeline stale; empty when it is up to date."""
    state = staleness(notebook, outdir)
    return state.problems() if state.stale else []
