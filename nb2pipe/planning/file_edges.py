"""File-effect edges: the notebook's file effects order steps as its values do.

Steps with no value between them run side by side (the local runner in processes, Argo and
KFP in pods), but in the notebook a cell that reads a file ran after the cell that wrote it.
Two effects conflict when at least one of them changes the file system and their paths may
be the same: equal literal paths, one a folder holding the other (`os.makedirs("out")` and
`to_csv("out/a.csv")`, `os.listdir(".")` and any relative path), or either path computed (nothing tells them apart before the code
runs). The earlier step of every conflicting pair becomes an upstream of the later one.
A read after a write is a true dependence; a write after a read or after a write is ordered
too, so a later step never changes a file before an earlier one has used it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Sequence

from nb2pipe.analysis.model import FileRef

LOOKS = frozenset({"read", "stat"})  # modes that leave the file system as it was


@dataclass(frozen=True)
class FileEdge:
    upstream: str
    downstream: str
    reason: str  # "file: plot.png", or "file system: computed path (cell 3, line 2)"
    # the downstream step reads a file the upstream step was the last to write: on a
    # cluster the file travels between their pods as an artifact (emit/k8s.file_flows)
    carries: bool = False


def normalized(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/"))


def paths_overlap(a: str | None, b: str | None) -> bool:
    """Whether two paths may name the same file: either is computed, they are equal, or one
    is a folder that holds the other."""
    if a is None or b is None:
        return True
    a, b = normalized(a), normalized(b)
    if "." in (a, b):  # the working folder holds every relative path
        return not (a.startswith("/") or b.startswith("/")) or a == b
    return a == b or b.startswith(a.rstrip("/") + "/") or a.startswith(b.rstrip("/") + "/")


def conflict_reason(earlier: FileRef, later: FileRef) -> str:
    """Why `later` must wait for `earlier`, or "" when they may run in any order."""
    if earlier.mode in LOOKS and later.mode in LOOKS:
        return ""
    if not paths_overlap(earlier.path, later.path):
        return ""
    computed = earlier if earlier.path is None else later if later.path is None else None
    if computed is not None:
        return f"file system: computed path (cell {computed.cell}, line {computed.line})"
    shorter = min(normalized(earlier.path), normalized(later.path), key=len)
    return f"file: {shorter}"


def file_effect_edges(steps: Sequence[tuple[str, Sequence[FileRef]]]) -> list[FileEdge]:
    """Edges from each step to every later step whose file effects conflict with its own,
    one per pair (the reason of the first conflict found); `steps` in notebook order."""
    edges: list[FileEdge] = []
    last_writer: dict[str, str] = {}
    for j, (later_name, later_refs) in enumerate(steps):
        carried = {last_writer[normalized(r.path)] for r in later_refs
                   if r.mode in LOOKS and r.path is not None and normalized(r.path) in last_writer}
        for earlier_name, earlier_refs in steps[:j]:
            if earlier_name == later_name:
                continue
            reasons = [why for e in earlier_refs for x in later_refs
                       for why in [conflict_reason(e, x)] if why]
            reason = min(reasons, key=_specificity) if reasons else ""
            if reason:
                edges.append(FileEdge(earlier_name, later_name, reason,
                                      carries=earlier_name in carried))
        for r in later_refs:
            if r.mode == "write" and r.path is not None:
                last_writer[normalized(r.path)] = later_name
    return edges


def _specificity(reason: str) -> tuple[int, int]:
    """Which reason of a pair to show: a named file before a computed path, the longest
    (most precise) name first: `file: out/a.csv` rather than `file: out`."""
    return (0, -len(reason)) if reason.startswith("file:") else (1, 0)


def without_implied(edges: Sequence[FileEdge],
                    upstream: dict[str, set[str]]) -> list[FileEdge]:
    """The edges still needed once the steps' other upstream links are in place: an edge
    whose upstream step is already an ancestor of its downstream step adds nothing, unless
    it carries a file (the cluster passes the file along that edge)."""
    graph = {k: set(v) for k, v in upstream.items()}
    kept: list[FileEdge] = []
    groups: dict[str, list[FileEdge]] = {}  # by downstream step, in notebook order
    for e in edges:
        groups.setdefault(e.downstream, []).append(e)
    for group in groups.values():
        # carried files first, then the nearest earlier step first: it makes farther ones
        # implied
        for edge in [e for e in group if e.carries] + [e for e in reversed(group)
                                                       if not e.carries]:
            if edge.carries or not _reaches(graph, edge.downstream, edge.upstream):
                kept.append(edge)
                graph.setdefault(edge.downstream, set()).add(edge.upstream)
    return [e for e in edges if e in kept]


def _reaches(graph: dict[str, set[str]], start: str, target: str) -> bool:
    """Whether `target` is an ancestor of `start` along upstream links."""
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        n = stack.pop()
        if n == target:
            return True
        if n not in seen:
            seen.add(n)
            stack.extend(graph.get(n, ()))
    return False
