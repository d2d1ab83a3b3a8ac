"""Split a notebook into step groups: tags and markers, else headings, else the data flow
(planning/discover.py) where the notebook is large enough, else one step."""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass, field

from nb2pipe.analysis.model import Analysis
from nb2pipe.analysis.rules import BUILTINS
from nb2pipe.diagnostics import Diagnostic
from nb2pipe.notebook import Cell, Notebook
from nb2pipe.planning import discover

RESERVED = {"common", "pipeline", "steps", "tests", "test", "setup", "main", "run", "io",
            "runtime", "params", "parameters", "values", "step", "self", "np", "pd"}
NON_STEP_TAGS = {"imports", "functions", "parameters", "pipeline-parameters",
                 "pipeline-metrics", "skip", "injected-parameters"}
RESOURCE_PREFIXES = ("limit:", "image:", "label:", "annotation:", "retry:", "cache:", "secret:",
                     "timeout:", "nodeselector:", "request:", "gpu:")


@dataclass
class Group:
    raw_name: str
    title: str
    cells: list[int] = field(default_factory=list)
    prev: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    first_cell: int = 0
    reason: str = ""  # flow splits: why the step starts here (the values that cross, ...)
    from_heading: bool = False  # a heading section beside step tags (named by its heading)


def slug(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9]+", "_", norm.lower()).strip("_")
    s = re.sub(r"^[0-9_]+", "", s)
    if len(s) > 40:
        cut = s[:40]
        s = cut[: cut.rfind("_")] if "_" in cut[10:] else cut
        s = s.strip("_")
    return s


def _heading(source: str) -> tuple[int, str] | None:
    """The most important ATX heading in a markdown cell: (level, text)."""
    best: tuple[int, str] | None = None
    in_fence = False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            in_fence = not in_fence
            continue
        if in_fence or not stripped.startswith("#") or line.startswith("    "):
            continue
        level = len(stripped) - len(stripped.lstrip("#"))
        rest = stripped[level:]
        if level > 6 or (rest and not rest.startswith((" ", "\t"))):
            continue
        text = rest.strip().rstrip("#").strip()
        if text and (best is None or level < best[0]):
            best = (level, text)
    return best


def _is_code(cell) -> bool:
    return cell.cell_type == "code" and bool(cell.source.strip()) and not cell.has_tag("skip")


def has_step_tags(nb: Notebook) -> bool:
    return any(c.tag_values("step") or c.tag_values("block") for c in nb.cells
               if c.cell_type == "code")


def split_by_tags(nb: Notebook, diags: list[Diagnostic],
                  heading_starts: dict[int, str] | None = None) -> list[Group]:
    """Tagged cells start steps; untagged cells join the step above. With `heading_starts`
    (heading cell -> text, the sections split_by_headings would make), each such section
    starts a step too, named after its heading, unless its first code cell carries a tag:
    one tag added to a notebook split by headings adds a step instead of replacing them."""
    split = _TagSplit(nb, diags, heading_starts or {})
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            split.read_markdown(cell)
        elif cell.cell_type == "code":
            split.read_code(cell)
    split.place_pending()
    split.note_cut_headings()
    return split.groups


@dataclass
class _TagSplit:
    """The state of split_by_tags's walk over the cells, one method per kind of cell: the
    walk is a small state machine (current step, cells waiting for one, open heading)."""

    nb: Notebook
    diags: list[Diagnostic]
    heading_starts: dict[int, str]
    groups: list[Group] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)  # code cells before any step
    seen: dict[str, Group] = field(default_factory=dict)
    current: Group | None = None
    last_heading: str = ""
    section: tuple[int, str] | None = None  # a heading start not yet given a step
    cut: list[tuple[tuple[int, str], Group, int]] = field(
        default_factory=list)  # headings ending a tagged step

    def read_markdown(self, cell: Cell) -> None:
        """Headings name the next tagged step, and a heading start opens a section."""
        h = _heading(cell.source)
        if h:
            self.last_heading = h[1]
        if cell.index in self.heading_starts:
            self.section = (cell.index, self.heading_starts[cell.index])

    def read_code(self, cell: Cell) -> None:
        """Place a code cell: an open section's first untagged code starts the heading's step;
        a tag starts or continues its step; anything else joins the step above."""
        names = cell.tag_values("step") + cell.tag_values("block")
        if self.section is not None and cell.source.strip() and not names:
            self._start_heading_step(cell)
        if names:
            self.section = None
            self._join_tagged(cell, names)
        elif self.current is None:
            self.pending.append(cell.index)
        else:
            self.current.cells.append(cell.index)
        if self.current is not None:
            self._inherit_tags(cell)

    def _start_heading_step(self, cell: Cell) -> None:
        """The open section becomes a step named after its heading (remembering the tagged
        step it cut short, for NB314)."""
        assert self.section is not None
        if self.current is not None and not self.current.from_heading:
            self.cut.append((self.section, self.current, cell.index))
        self.current = Group(raw_name=self.section[1], title=self.section[1],
                             first_cell=cell.index, from_heading=True)
        self._adopt_pending(self.current)
        self.groups.append(self.current)
        self.section = None

    def _join_tagged(self, cell: Cell, names: list[str]) -> None:
        """The cell goes to the step its first tag names; a step tagged again after other
        steps is NB301 (it would reorder the notebook's code), as are extra tags."""
        name = names[0]
        if self.current is not None and name == self.current.raw_name:
            self.current.cells.append(cell.index)
        elif name in self.seen:
            self.diags.append(Diagnostic(
                "NB301", f"step {name!r} is also tagged on cell {self.seen[name].first_cell}, "
                         "with other steps in between", path=self.nb.path, cell=cell.index,
                line=1, col=0))
            self.current = self.seen[name]
            self.current.cells.append(cell.index)
        else:
            self.current = Group(raw_name=name, title=self.last_heading or name,
                                 first_cell=cell.index)
            self._adopt_pending(self.current)
            self.current.cells.append(cell.index)
            self.groups.append(self.current)
            self.seen[name] = self.current
        for extra in names[1:]:
            self.diags.append(Diagnostic("NB301", f"cell has several step tags; using {name!r}, "
                                                  f"ignoring {extra!r}", path=self.nb.path,
                                         cell=cell.index, line=1, col=0, severity="warning"))

    def _adopt_pending(self, group: Group) -> None:
        """Code cells before the first step belong to the first step."""
        group.cells.extend(self.pending)
        self.pending = []

    def _inherit_tags(self, cell: Cell) -> None:
        """A step collects the prev: and resource tags of all its cells, not only the first."""
        assert self.current is not None
        self.current.prev.extend(p for p in cell.tag_values("prev")
                                 if p not in self.current.prev)
        self.current.tags.extend(t for t in cell.tags if t.startswith(RESOURCE_PREFIXES)
                                 and t not in self.current.tags)

    def place_pending(self) -> None:
        """Code cells left without a step join the last one, or make the only step."""
        if not self.pending:
            return
        if self.groups:
            self.groups[-1].cells.extend(self.pending)
        else:
            self.groups.append(Group(raw_name="main", title="main", cells=self.pending,
                                     first_cell=self.pending[0]))

    def note_cut_headings(self) -> None:
        """One note (NB314) for what combining headings with tags changed against the tags
        alone, with the tag that undoes it."""
        if not self.cut:
            return
        cut = self.cut
        (heading_cell, heading), tagged, code_cell = cut[0]
        more = f" ({len(cut) - 1} more heading{'s' if len(cut) > 2 else ''} like it)" \
            if len(cut) > 1 else ""
        self.diags.append(Diagnostic(
            "NB314", f"the heading {heading!r} ends the step tagged {tagged.raw_name!r} and "
                     f"starts a step of its own{more}; tag cell {code_cell} "
                     f"step:{tagged.raw_name} to keep its cells in {tagged.raw_name!r}, or "
                     "convert with --split tags", path=self.nb.path, cell=heading_cell, line=1,
            col=0))


def split_by_headings(nb: Notebook) -> list[Group] | None:
    level = _heading_level(nb)
    return None if level is None else _merge_empty(_sections(nb, _heads(nb), level))


def _heads(nb: Notebook) -> list[tuple[int, int, str]]:
    """(markdown cell, level, text) of every cell's most important heading."""
    heads = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            h = _heading(cell.source)
            if h:
                heads.append((cell.index, h[0], h[1]))
    return heads


def _heading_level(nb: Notebook) -> int | None:
    """The most important heading level that makes at least two sections with code."""
    heads = _heads(nb)
    for level in sorted({lv for _, lv, _ in heads}):
        if sum(1 for g in _sections(nb, heads, level) if g.cells) >= 2:
            return level
    return None


def heading_starts(nb: Notebook) -> dict[int, str]:
    """Heading cell -> text, for the headings that start a section in split_by_headings."""
    level = _heading_level(nb)
    if level is None:
        return {}
    return _section_starts(_heads(nb), level)


def _section_starts(heads, level: int) -> dict[int, str]:
    # A heading above the split level that occurs once (the notebook's title) starts no step:
    # the code under it is preamble and joins the first section.
    counts: dict[int, int] = {}
    for _, lv, _ in heads:
        counts[lv] = counts.get(lv, 0) + 1
    return {idx: text for idx, lv, text in heads
            if lv == level or (lv < level and counts[lv] > 1)}


def _sections(nb: Notebook, heads, level: int) -> list[Group]:
    starts = _section_starts(heads, level)
    groups: list[Group] = []
    preamble = Group(raw_name="", title="", first_cell=1)
    current = preamble
    for cell in nb.cells:
        if cell.index in starts:
            current = Group(raw_name=starts[cell.index], title=starts[cell.index],
                            first_cell=cell.index)
            groups.append(current)
            continue
        if _is_code(cell) or (cell.cell_type == "code" and cell.source.strip()):
            current.cells.append(cell.index)
    if preamble.cells:
        groups.insert(0, preamble)
    return groups


def _merge_empty(groups: list[Group]) -> list[Group]:
    """Sections without code merge into the next section (or the previous at the end);
    the preamble (code before the first heading) joins the first section."""
    out: list[Group] = []
    carry: list[int] = []
    for g in groups:
        if not g.cells:
            continue
        if g.raw_name == "" and not out:
            carry.extend(g.cells)
            continue
        g.cells = carry + g.cells
        carry = []
        out.append(g)
    if carry:
        if out:
            out[-1].cells.extend(carry)
        else:
            out.append(Group(raw_name="main", title="main", cells=carry, first_cell=carry[0]))
    return out


def single(nb: Notebook) -> list[Group]:
    cells = [c.index for c in nb.cells if c.cell_type == "code"]
    stem = nb.name.rsplit(".", 1)[0]
    return [Group(raw_name=slug(stem) or "main", title=stem, cells=cells,
                  first_cell=cells[0] if cells else 1)]


def split(nb: Notebook, mode: str, diags: list[Diagnostic],
          an: Analysis | None = None) -> tuple[str, list[Group]]:
    chosen, groups = _split(nb, mode, diags, an)
    by_index = {c.index: c for c in nb.cells}
    for g in groups:  # per-step settings (limit:, retry:, ...) whatever made the split
        for i in g.cells:
            for t in by_index[i].tags:
                if t.startswith(RESOURCE_PREFIXES) and t not in g.tags:
                    g.tags.append(t)
    return chosen, groups


def _split(nb: Notebook, mode: str, diags: list[Diagnostic],
           an: Analysis | None) -> tuple[str, list[Group]]:
    """Tags always win; headings win where they give enough steps; otherwise a notebook large
    enough is split where its data flow narrows (`flow`); else one step, with NB304."""
    if mode == "tags" and has_step_tags(nb):
        return "tags", split_by_tags(nb, diags)
    if mode == "auto" and has_step_tags(nb):  # tags add steps to the notebook's sections
        return "tags", split_by_tags(nb, diags, heading_starts(nb))
    if mode == "tags":
        diags.append(Diagnostic("NB304", "no step tags found (--split tags); using one step",
                                path=nb.path))
        return "single", single(nb)
    headed = split_by_headings(nb) if mode in ("auto", "headings") else None
    if mode == "headings" or (mode == "auto" and headed and len(headed) >= discover.MIN_STEPS):
        if headed:
            return "headings", headed
    elif mode in ("auto", "flow") and an is not None and (
            mode == "flow" or discover.worth_discovering(nb, an)):
        found = split_by_flow(nb, an)
        if len(found) > max(1, len(headed or ())):
            return "flow", found
    if headed:
        return "headings", headed
    if mode != "single":
        diags.append(Diagnostic("NB304", "no tags, markdown headings or narrow points of the "
                                         "data flow split this notebook; it becomes one step",
                                path=nb.path))
    return "single", single(nb)


def split_by_flow(nb: Notebook, an: Analysis) -> list[Group]:
    segments = discover.discover(nb, an, headings_above(nb))
    return [Group(raw_name=s.name, title=s.title, cells=list(s.cells), reason=s.reason,
                  first_cell=s.cells[0]) for s in segments if s.cells]


def headings_above(nb: Notebook) -> dict[int, str]:
    """Code cell -> the most important heading of the markdown between it and the code cell
    before it."""
    out: dict[int, str] = {}
    pending: tuple[int, str] | None = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            h = _heading(cell.source)
            if h and (pending is None or h[0] <= pending[0]):
                pending = h
        elif cell.cell_type == "code" and cell.source.strip():
            if pending:
                out[cell.index] = pending[1]
            pending = None
    return out


def join_groups(groups: list[Group], joins: tuple[tuple[int, int], ...] | list) -> list[Group]:
    """Groups with the steps of each join (a cell of the step that makes a value, a cell of
    one that reads it) made one, together with every group between them, so the value never
    crosses a step boundary and the code keeps the notebook's order. The joined group keeps
    the first group's name; `prev:` tags naming a joined group point at it."""
    if not joins:
        return groups
    where = {c: i for i, g in enumerate(groups) for c in g.cells}
    target = list(range(len(groups)))  # group index -> the index it joins
    for a, b in joins:
        if a not in where or b not in where:
            continue
        lo, hi = sorted((where[a], where[b]))
        for i in range(lo, hi + 1):
            target[i] = target[lo]
    for i in range(len(target)):  # chains of joins: follow to the first group
        while target[target[i]] != target[i]:
            target[i] = target[target[i]]
    renamed = {groups[i].raw_name: groups[target[i]].raw_name for i in range(len(groups))}
    out: dict[int, Group] = {}
    for i, g in enumerate(groups):
        head = target[i]
        if head not in out:
            out[head] = Group(raw_name=g.raw_name, title=g.title, cells=[], prev=[], tags=[],
                              first_cell=g.first_cell, from_heading=g.from_heading)
        joined = out[head]
        joined.cells.extend(g.cells)
        joined.prev.extend(p for p in (renamed.get(p, p) for p in g.prev)
                           if p != joined.raw_name and p not in joined.prev)
        joined.tags.extend(t for t in g.tags if t not in joined.tags)
    for g in out.values():
        g.cells.sort()
    return list(out.values())


def assign_names(groups: list[Group], taken: set[str], nb: Notebook,
                 diags: list[Diagnostic], from_tags: bool) -> list[str]:
    """Valid, unique, readable step names (Python identifiers and Kubernetes labels)."""
    names: list[str] = []
    used = set(RESERVED) | set(taken)
    for g in groups:
        base = slug(g.raw_name) or "step"
        if keyword.iskeyword(base) or base in BUILTINS or base in used:
            cand = f"{base}_step"
            n = 2
            while cand in used:
                cand = f"{base}_{n}"
                n += 1
            base = cand
        if from_tags and not g.from_heading and base != g.raw_name:
            diags.append(Diagnostic("NB307", f"step name {g.raw_name!r} is used as {base!r}",
                                    path=nb.path, cell=g.first_cell, line=1, col=0))
        used.add(base)
        names.append(base)
    return names


def k8s_name(name: str) -> str:
    return name.replace("_", "-")[:63].strip("-")


def apply_metadata_settings(nb: Notebook, groups: list[Group], names: list[str],
                            diags: list[Diagnostic]) -> None:
    """Per-step settings from notebook metadata, for editors without a tag UI:

        "metadata": {"nb2pipe": {"defaults": ["retry:2"],
                                 "steps": {"train": ["limit:memory:4Gi", "gpu:1"]}}}

    `defaults` apply to every step; a step's own tags (cell tags, then metadata) win.
    """
    meta = nb.metadata.get("nb2pipe") if isinstance(nb.metadata, dict) else None
    if not isinstance(meta, dict):
        return
    defaults = meta.get("defaults") or []
    steps = meta.get("steps") or {}
    if not isinstance(defaults, list) or not isinstance(steps, dict):
        diags.append(Diagnostic("NB107", "notebook metadata nb2pipe.defaults must be a list "
                                         "and nb2pipe.steps a mapping of step -> list of tags",
                                path=nb.path))
        return
    known = set(names) | {g.raw_name for g in groups}
    for key in steps:
        if key not in known:
            diags.append(Diagnostic("NB107", f"notebook metadata names step {key!r}, which "
                                             "does not exist", path=nb.path))
    for g, name in zip(groups, names):
        own = steps.get(name, steps.get(g.raw_name, []))
        for t in list(own if isinstance(own, list) else []) + list(defaults):
            if not isinstance(t, str) or not t.startswith(RESOURCE_PREFIXES):
                diags.append(Diagnostic("NB107", f"notebook metadata setting {t!r} for step "
                                                 f"{name!r} is not a known setting", path=nb.path))
                continue
            prefix = t.split(":", 2)[0] + ":" + (t.split(":", 2)[1] + ":" if t.count(":") >= 2
                                                  else "")
            if not any(x.startswith(prefix) for x in g.tags):
                g.tags.append(t)
