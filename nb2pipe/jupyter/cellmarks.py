"""What the notebook editor shows on each cell: its step, whether it starts one and why, what
was stripped from it (and why), the explanation of each diagnostic code found.

Pure: reads the plan and the notebook the preview made, imports nothing from jupyter_server,
so it is tested without a server (tests/test_jupyter_cellmarks.py).
"""

from __future__ import annotations

from typing import Any

# Stripped.reason (analysis statement kinds, whole-cell reasons) -> what a user reads on hover
_REASON_TEXT = {
    "display": "display (a bare expression or display call)",
    "plot": "plotting",
    "magic": "IPython magic",
    "cellmagic": "cell magic",
    "shell": "shell command",
    "pip": "pip install (goes to the requirements)",
    "help": "help (? / ??)",
    "skip": "skip tag",
    "tagged skip": "skip tag",
}


def reason_text(reason: str) -> str:
    return _REASON_TEXT.get(reason, reason)


def cell_marks(plan: Any | None, nb: Any | None) -> list[dict[str, Any]]:
    """One entry per code cell of the notebook (cell = 1-based index over all cells):

    {"cell", "step" (name or None), "start" ("tag" | "heading" | "flow" | "first" | None),
     "skipped" (why the whole cell is out, or None),
     "stripped": [{"line", "end", "reason", "code"}] (lines removed from the step)}
    """
    if nb is None:
        return []
    from nb2pipe.planning.split import headings_above

    step_of: dict[int, str] = {}
    starts: dict[int, str | None] = {}
    stripped: dict[int, list[dict[str, Any]]] = {}
    skipped: dict[int, str] = {}
    if plan is not None:
        for s in plan.stripped_cells:  # whole cells, and the lines of steps left empty
            if _whole_cell(s.reason):
                skipped[s.cell] = reason_text(s.reason)
            else:
                stripped.setdefault(s.cell, []).append(_line_span(s))
        above = headings_above(nb)
        by_index = {c.index: c for c in nb.cells}
        for order, step in enumerate(plan.steps):
            cells = [c for c in step.cells if c not in skipped]
            for c in cells:
                step_of.setdefault(c, step.name)
            if cells:
                starts[cells[0]] = _start_kind(by_index.get(cells[0]), plan.split, step, order,
                                               above)
            for s in step.stripped:
                stripped.setdefault(s.cell, []).append(_line_span(s))
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        i = cell.index
        if i not in skipped and cell.has_tag("skip"):
            skipped[i] = reason_text("skip")
        elif i not in skipped and i not in step_of and plan is not None and i in stripped:
            # every statement stripped, and the step it made dropped (NB305)
            reasons = sorted({s["reason"] for s in stripped[i]})
            skipped[i] = "nothing left after stripping: " + ", ".join(reasons)
        out.append({"cell": i, "step": None if i in skipped else step_of.get(i),
                    "start": None if i in skipped else starts.get(i),
                    "skipped": skipped.get(i),
                    "stripped": sorted(stripped.get(i, []), key=lambda s: s["line"])})
    return out


def _whole_cell(reason: str) -> bool:
    """Reasons analysis/cells.py gives for removing a whole cell."""
    return reason in ("tagged skip", "skip", "papermill injected parameters") or \
        reason.endswith(" cell")


def _start_kind(cell, split: str, step, order: int, above: dict[int, str]) -> str | None:
    """Why a step starts at its first cell: a tag, a heading, the data flow, or (the first
    step) simply the notebook's beginning."""
    if cell is not None and (cell.tag_values("step") or cell.tag_values("block")):
        return "tag"
    if order == 0:  # the preamble under a title joins the first section
        return "first"
    if split == "flow" and getattr(step, "boundary", ""):
        return "flow"
    if split in ("headings", "tags") and cell is not None and cell.index in above:
        return "heading"
    return None


def _line_span(s) -> dict[str, Any]:
    """The lines of a stripped statement in its cell: its code may span several."""
    return {"line": s.line, "end": s.line + s.code.count("\n"), "reason": reason_text(s.reason),
            "code": s.code}


def explanations(diagnostics: list[Any]) -> dict[str, str]:
    """`nb2pipe explain CODE` for every code among the diagnostics (the hover text)."""
    from nb2pipe.diagnostics import explain

    out: dict[str, str] = {}
    for d in diagnostics:
        if d.code not in out:
            text = explain(d.code)
            if text:
                out[d.code] = text.strip()
    return out
