"""Is a notebook's generated pipeline up to date? Fast: JSON, hashes, no analysis.

Used by `nb2pipe check`, the pre-commit hooks and the Jupyter server extension; imports
nothing heavy (the hook's whole run, interpreter start included, should stay under 0.3 s).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Staleness:
    """What makes a notebook's pipeline stale. `converted` is False when there is no lock."""

    notebook: Path
    outdir: Path
    converted: bool = True
    unreadable: str | None = None
    not_nb2pipe: str | None = None  # the lock (or an entry) is not one nb2pipe wrote
    notebook_changed: bool = False
    edited: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    lock: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def stale(self) -> bool:
        return bool(not self.converted or self.unreadable or self.not_nb2pipe
                    or self.notebook_changed or self.edited or self.missing)

    def problems(self) -> list[str]:
        """One phrase per kind of problem, for people."""
        from nb2pipe.writer import LOCK

        if not self.converted:
            return [f"not converted yet (no {self.outdir / LOCK})"]
        if self.not_nb2pipe:  # nothing else was looked at: the lock's word is worthless
            return [f"{LOCK} is not nb2pipe's: {self.not_nb2pipe}"]
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
        if self.not_nb2pipe:
            hint = ("inspect it; if the notebook is yours, regenerate with: "
                    "nb2pipe convert --force")
        elif self.edited:
            hint = "revert the hand edits, or overwrite them with: nb2pipe convert --force"
        else:
            hint = "run: nb2pipe sync"
        return f"stale: {'; '.join(self.problems())} ({hint})"


def outdir_for(notebook: Path, outdir: Path | None = None) -> Path:
    """The pipeline folder of a notebook: given, else `<stem>_pipeline` beside it."""
    if outdir is not None:
        return outdir
    from nb2pipe.planning.split import slug

    return notebook.parent / f"{slug(notebook.stem) or 'notebook'}_pipeline"


def staleness(notebook: Path, outdir: Path | None = None) -> Staleness:
    """Compare the notebook and the generated files with the hashes in the lock.

    The lock is the repository's text, not ours: it is validated and every file it lists is
    confined to the output folder and read only if it is a regular file (nb2pipe.untrusted).
    A violation stops the check before any listed file is read, and says so.
    """
    from nb2pipe.notebook import content_hash
    from nb2pipe.untrusted import MAX_NOTEBOOK_BYTES, NotNb2pipe, hash_listed, read_lock, read_regular

    out = outdir_for(notebook, outdir)
    try:
        lock = read_lock(out)
    except NotNb2pipe as exc:
        return Staleness(notebook, out, not_nb2pipe=str(exc))
    if lock is None:
        return Staleness(notebook, out, converted=False)
    try:
        # a repository can ship the notebook as a link to a FIFO or a device, too
        raw = json.loads(read_regular(Path(os.path.realpath(notebook)), MAX_NOTEBOOK_BYTES,
                                      shown=str(notebook)).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # NotNb2pipe is a ValueError
        return Staleness(notebook, out, unreadable=str(exc), lock=lock)
    changed = content_hash(raw) != lock.get("notebook_hash")
    edited: list[str] = []
    missing: list[str] = []
    for rel, digest in sorted(lock.get("files", {}).items()):
        try:
            current = hash_listed(out, rel)
        except NotNb2pipe as exc:
            return Staleness(notebook, out, not_nb2pipe=str(exc))
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
