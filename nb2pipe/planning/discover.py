"""Steps from the data flow, for notebooks that tags and headings do not split.

A notebook with no tags and no (useful) headings would otherwise become one step. Here its code
cells are cut where few values cross from the cells before to the cells after (narrow points of
the flow), preferring boundaries between phases a reader recognises (reading data, cleaning,
building features, fitting, evaluating, writing results) and markdown headings, and avoiding
steps that are tiny or huge. The choice is a small dynamic program over cut positions; every
cost term is named below, so a boundary can always be explained by the values that cross it.

Any grouping of cells in notebook order is sound for the planner (it works out inputs, outputs,
shared objects, setup and random state for whatever groups it gets), so discovery only decides
where a reader would like the steps to be.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from nb2pipe.analysis.model import Analysis, Stmt
from nb2pipe.analysis.rules import PHASE_CALLS, PHASE_ORDER, estimator_phase
from nb2pipe.notebook import Notebook

# Which notebooks are worth splitting by flow (under --split auto): this many non-empty code
# cells and kept lines at least; tags and headings that already give MIN_STEPS steps win.
MIN_CELLS = 8
MIN_LINES = 10
MIN_STEPS = 3

# Step size, in kept lines plus code cells (a cell that only displays still is a piece of the
# notebook a reader goes through): steps of a few cells to a few dozen lines.
SMALL_STEP = 5
LARGE_STEP = 25
# Costs of the dynamic program (lower is better).
STEP_COST = 0.5  # each step: more steps must pay for themselves
TINY_STEP_COST = 2.0  # a step below SMALL_STEP
LARGE_STEP_COST_PER_LINE = 0.2  # per unit beyond LARGE_STEP
VALUE_COST = 0.5  # each value crossing a cut
PHASE_BONUS = 1.0  # the cut is between two different phases
HEADING_BONUS = 1.5  # the cut is at a markdown heading
MIXED_PHASE_COST = 1.0  # each change of phase inside a step: a step should do one job
MAX_CROSSING = 8  # a cut carrying more values than this is never made

_VERBS = {"load": "load", "clean": "clean", "features": "prepare", "fit": "train",
          "evaluate": "evaluate", "write": "write", "": "compute"}
_DATA_KINDS = frozenset({"code", "setup", "save", "metrics"})


@dataclass(frozen=True)
class CellFacts:
    cell: int
    lines: int  # lines of kept code
    writes: frozenset[str]  # names it binds or mutates
    reads: frozenset[str]  # names whose first use in the cell reads the value from before it
    phase: str  # load | clean | features | fit | evaluate | write | ""
    heading: str  # a markdown heading between the previous code cell and this one
    subject: str  # the name a step starting here would be named after
    estimator: str  # a model class it constructs or fits ("" if none)
    written_file: str  # stem of a file it writes ("" if none)


@dataclass(frozen=True)
class Cut:
    position: int  # index into the facts: the cut is just before facts[position]
    crossing: tuple[str, ...]  # values made before the cut and read after it
    phases: tuple[str, str]  # the phase just before and just after
    heading: str

    def reason(self) -> str:
        parts = []
        if self.crossing:
            shown = ", ".join(self.crossing)
            parts.append(f"{len(self.crossing)} value{'s' * (len(self.crossing) != 1)} "
                         f"cross{'es' * (len(self.crossing) == 1)}: {shown}")
        else:
            parts.append("no value crosses")
        before, after = self.phases
        if before and after and before != after:
            parts.append(f"phase {before} -> {after}")
        if self.heading:
            parts.append(f"heading {self.heading!r}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Segment:
    cells: tuple[int, ...]
    name: str  # readable raw name, made valid and unique by split.assign_names
    title: str
    reason: str  # why the step starts here ("" for the first)


def discover(nb: Notebook, an: Analysis, headings: dict[int, str]) -> list[Segment]:
    """Steps for the notebook's code cells, in order; one segment when no cut pays off.
    `headings`: code cell -> the markdown heading just above it."""
    facts = cell_facts(nb, an, headings)
    if not facts:
        return []
    data_names = _data_names(an)
    cuts = [_cut(facts, k, data_names) for k in range(len(facts))]
    chosen = choose_cuts(facts, cuts)
    bounds = [0] + chosen + [len(facts)]
    segments = []
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        part = facts[lo:hi]
        name, title = name_segment(part)
        segments.append(Segment(cells=tuple(f.cell for f in part), name=name, title=title,
                                reason=cuts[lo].reason() if i else ""))
    return segments


def worth_discovering(nb: Notebook, an: Analysis) -> bool:
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    return len(cells) >= MIN_CELLS and sum(_kept_lines(st) for st in an.stmts) >= MIN_LINES


# ---- facts per cell -------------------------------------------------------------------------

def cell_facts(nb: Notebook, an: Analysis, headings: dict[int, str]) -> list[CellFacts]:
    by_cell: dict[int, list[Stmt]] = {}
    for st in an.stmts:
        by_cell.setdefault(st.cell, []).append(st)
    facts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        stmts = [st for st in by_cell.get(cell.index, []) if st.kind in _DATA_KINDS]
        writes: set[str] = set()
        reads: set[str] = set()
        for st in stmts:  # in order: a name bound before it is read does not come in
            mutated = {m.root for m in st.mutations}
            reads |= (set(st.reads) | mutated) - writes
            writes |= st.binds | st.maybe | st.deletes | mutated
        calls = [c for st in stmts for c in _calls(st.node)]
        facts.append(CellFacts(
            cell=cell.index, lines=sum(_kept_lines(st) for st in stmts),
            writes=frozenset(writes), reads=frozenset(reads), phase=_phase(calls),
            heading=headings.get(cell.index, ""), subject=_subject(stmts),
            estimator=next((c for c in calls if estimator_phase(c)), ""),
            written_file=next((_stem(f.path) for st in stmts for f in st.files
                               if f.mode == "write" and f.path), "")))
    return facts


def _kept_lines(st: Stmt) -> int:
    if st.kind not in _DATA_KINDS:
        return 0
    return (getattr(st.node, "end_lineno", None) or st.node.lineno) - st.node.lineno + 1


def _calls(node: ast.AST) -> list[str]:
    """The last name of every call in a statement: `pd.read_csv(...)` -> 'read_csv'."""
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Attribute):
                out.append(f.attr)
            elif isinstance(f, ast.Name):
                out.append(f.id)
    return out


def _phase(calls: list[str]) -> str:
    """The phase most of a cell's calls belong to (ties: the later phase)."""
    counts: dict[str, int] = {}
    for c in calls:
        p = PHASE_CALLS.get(c) or estimator_phase(c)
        if p:
            counts[p] = counts.get(p, 0) + 1
    if not counts:
        return ""
    return max(counts, key=lambda p: (counts[p], PHASE_ORDER.index(p)))


def _subject(stmts: list[Stmt]) -> str:
    """The name a cell works on most: bound or mutated most often (first one on a tie)."""
    counts: dict[str, int] = {}
    for st in stmts:
        for n in sorted(st.binds) + [m.root for m in st.mutations]:
            counts[n] = counts.get(n, 0) + 1
    return max(counts, key=lambda n: counts[n]) if counts else ""


def _stem(path: str) -> str:
    base = re.split(r"[\\/]", path)[-1]
    return base.split(".", 1)[0]


def _data_names(an: Analysis) -> set[str]:
    """Names whose values can cross a boundary: not modules, shared definitions or pipeline
    parameters (those reach every step another way)."""
    shared = set(an.imports) | {d.name for d in an.definitions} | set(an.parameters)
    every = set()
    for st in an.stmts:
        every |= st.binds | st.maybe | {m.root for m in st.mutations}
    return every - shared


# ---- choosing the cuts ----------------------------------------------------------------------

def _cut(facts: list[CellFacts], k: int, data_names: set[str]) -> Cut:
    """The cut just before facts[k]: the values made before it whose first use after it is a
    read (they would cross), the phases on either side, the heading there."""
    made = set()
    for f in facts[:k]:
        made |= f.writes
    crossing = []
    for name in sorted(made & data_names):
        for f in facts[k:]:
            if name in f.reads:
                crossing.append(name)
                break
            if name in f.writes:
                break
    before = next((f.phase for f in reversed(facts[:k]) if f.phase), "")
    after = next((f.phase for f in facts[k:] if f.phase), "")
    return Cut(position=k, crossing=tuple(crossing), phases=(before, after),
               heading=facts[k].heading if k else "")


def cut_cost(cut: Cut) -> float:
    if len(cut.crossing) > MAX_CROSSING:
        return float("inf")
    before, after = cut.phases
    bonus = PHASE_BONUS if before and after and before != after else 0.0
    bonus += HEADING_BONUS if cut.heading else 0.0
    return VALUE_COST * len(cut.crossing) - bonus


def step_cost(size: int) -> float:
    cost = STEP_COST
    if size < SMALL_STEP:
        cost += TINY_STEP_COST
    if size > LARGE_STEP:
        cost += (size - LARGE_STEP) * LARGE_STEP_COST_PER_LINE
    return cost


def choose_cuts(facts: list[CellFacts], cuts: list[Cut]) -> list[int]:
    """Cut positions (indexes into facts) minimising the summed step and cut costs. Forward
    dynamic program: best[i] is final once every shorter prefix has been extended."""
    n = len(facts)
    best = [0.0] + [float("inf")] * n
    back = [0] * (n + 1)
    for i in range(n):
        if best[i] == float("inf"):
            continue
        enter = cut_cost(cuts[i]) if i else 0.0
        if enter == float("inf"):
            continue
        size, changes, last_phase = 0, 0, ""
        for j in range(i + 1, n + 1):
            f = facts[j - 1]
            size += f.lines + 1
            if f.phase:
                changes += bool(last_phase and f.phase != last_phase)
                last_phase = f.phase
            total = best[i] + enter + step_cost(size) + MIXED_PHASE_COST * changes
            if total <= best[j]:  # on a tie, the later cut: display cells stay with their code
                best[j], back[j] = total, i
    out = []
    j = n
    while j > 0:
        if back[j]:
            out.append(back[j])
        j = back[j]
    return sorted(out)


# ---- names ----------------------------------------------------------------------------------

def name_segment(part: list[CellFacts]) -> tuple[str, str]:
    """A name from what the step does: `load_customers`, `clean_df`, `train_random_forest`,
    `evaluate_model`; the heading above its first cell when there is one."""
    if part[0].heading:
        return part[0].heading, part[0].heading
    phases = [f.phase for f in part if f.phase]
    phase = max(phases, key=lambda p: (phases.count(p), -phases.index(p))) if phases else ""
    obj = ""
    if phase == "fit":
        obj = next((_estimator_words(f.estimator) for f in part if f.estimator), "")
    elif phase == "write":
        obj = next((f.written_file for f in part if f.written_file), "")
    elif phase == "evaluate":
        obj = "model"
    if not obj:
        obj = next((f.subject for f in part if f.phase == phase and f.subject),
                   next((f.subject for f in part if f.subject), "")) or "data"
    raw = f"{_VERBS[phase]}_{obj}"
    return raw, raw.replace("_", " ")


def _estimator_words(cls: str) -> str:
    """`RandomForestClassifier` -> 'random_forest'; `ols` -> 'ols'."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls).lower()
    for suffix in ("_classifier", "_regressor"):
        if words.endswith(suffix) and words != suffix.strip("_"):
            words = words[: -len(suffix)]
    return words
