"""Values built from a secret cross no step boundary: each step that reads one recomputes it.

The taint pass (`nb2pipe/analysis/taint.py`) says which names hold a value built from a secret
at each statement. Such a value must never be a step input or output (it would be written to
the artifact store, the lineage database and, on a cluster, the artifact repository). Instead,
like replayed setup state, the statements that build it run again, from the environment, in
every later step that reads it: its backward slice (every statement that built the value since
its last plain binding, and those of the tainted values they read) is inserted just before the
statement that needs it.

That is only sound when running the slice again is cheap and gives the same value: its calls are
all in `rules.RECOMPUTE_*` (string building, encodings, hashes, environment reads, notebook
functions made of those), it touches no files and draws no random numbers, and the clean values
it reads have not changed since. Otherwise conversion stops with NB222, naming the value and
the fix: keep the cells in one step.

Replayed setup state (`common.setup_<step>()`) that reads a secret-derived value gets the
same slice in front of it, so later steps never pass the value as an argument.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import Iterator

from nb2pipe.analysis import rules
from nb2pipe.analysis.taint import SecretFlow, definition_closure, trace
from nb2pipe.diagnostics import Diagnostic

_NOT_DATA = frozenset({"import", "def", "class", "param", "metrics"})
REPLAY_NOTE = "# recomputed from the environment: built from a secret, never stored ({})"


@dataclass(frozen=True)
class Recompute:
    """What the planner needs: which statements run again where, and which values they are."""

    flow: SecretFlow = field(default_factory=SecretFlow)
    replays: dict[int, tuple] = field(default_factory=dict)  # reader seq -> slice (Stmts)
    recomputed: dict[int, tuple[str, ...]] = field(default_factory=dict)  # step index -> names
    setup_prefix: dict[int, tuple] = field(default_factory=dict)  # step index -> slice (Stmts)

    def envs_of(self, name: str) -> tuple[str, ...]:
        return tuple(sorted(self.flow.derived.get(name, ())))


def obstacle(node: ast.AST, imports: dict[str, str], defs_by_name: dict[str, list],
             data_names: set[str], seen: frozenset[str] = frozenset()) -> str | None:
    """Why running `node` again is not cheap and repeatable (the first offending call, as
    code), or None when every call it makes is known to be (see the rules tables)."""
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        f = call.func
        shown = f"`{_short(f)}(...)`"
        if isinstance(f, ast.Name):
            if f.id in defs_by_name and f.id not in seen:
                for d in defs_by_name[f.id]:
                    if d.is_class:
                        return f"{shown} creates an object of a notebook class"
                    inner = obstacle(d.node, imports, defs_by_name, data_names | set(d.local)
                                     | set(d.params), seen | {f.id})
                    if inner:
                        return inner
                continue
            if f.id in seen:
                continue
            if f.id in imports and f.id not in data_names:
                if rules.matches(imports[f.id], rules.RECOMPUTE_CALLS):
                    continue
                return shown
            if f.id in rules.RECOMPUTE_BUILTINS and f.id not in data_names:
                continue
            return shown
        if isinstance(f, ast.Attribute):
            qual = _qualname(f, imports, data_names)
            if qual is not None:
                if rules.matches(qual, rules.RECOMPUTE_CALLS):
                    continue
                return shown
            if f.attr in rules.RECOMPUTE_METHODS:
                continue
            return shown
        return shown
    return None


def _qualname(e: ast.AST, imports: dict[str, str], data_names: set[str]) -> str | None:
    parts: list[str] = []
    while isinstance(e, ast.Attribute):
        parts.append(e.attr)
        e = e.value
    if isinstance(e, ast.Name) and e.id in imports and e.id not in data_names:
        return ".".join([imports[e.id], *reversed(parts)])
    return None


def _short(e: ast.AST) -> str:
    text = ast.unparse(e)
    return text if len(text) <= 40 else text[:37] + "..."


def plan(an, cell_to_step: dict[int, int], step_names: list[str], lifted: tuple[str, ...],
         diags: list[Diagnostic]) -> Recompute:
    """Where secret-derived values are recomputed, with NB222 where they cannot be."""
    if not lifted and not any("environ" in c.source or "getenv" in c.source
                              for c in an.notebook.cells if c.cell_type == "code"):
        return Recompute()  # no secret can be read: skip the walk (large notebooks)
    flow = trace(an.stmts, an.definitions, lifted)
    if not flow:
        return Recompute()
    walk = _Walk(an, flow, step_names, diags)
    for st in an.stmts:
        idx = cell_to_step.get(st.cell)
        if idx is None or st.stripped or st.kind in _NOT_DATA:
            continue
        walk.visit(st, idx)
    return walk.result()


class _Walk:
    """The walk of `plan` in notebook order: which statements last wrote each name, what each
    step holds, and the slices replayed so far."""

    def __init__(self, an, flow: SecretFlow, step_names: list[str],
                 diags: list[Diagnostic]) -> None:
        self.an, self.flow, self.step_names, self.diags = an, flow, step_names, diags
        self.defs_by_name: dict[str, list] = {}
        self.free_of: dict[str, set[str]] = {}
        for d in an.definitions:
            self.defs_by_name.setdefault(d.name, []).append(d)
            self.free_of.setdefault(d.name, set()).update(d.free)
        self.by_seq = {st.seq: st for st in an.stmts}
        self.data_names: set[str] = set()
        for st in an.stmts:
            if st.kind not in _NOT_DATA:
                self.data_names |= st.binds | st.maybe
        self.history: dict[str, list[int]] = {}  # name -> writers since its last bind
        self.last_writer: dict[str, int] = {}
        self.deps: dict[int, dict[str, tuple[int, ...]]] = {}
        self.clean_reads: dict[int, dict[str, int | None]] = {}
        self.local: dict[int, set[str]] = {}  # step -> names it holds
        self.done: dict[int, set[int]] = {}  # step -> replayed seqs
        self.replays: dict[int, list] = {}  # reading statement -> the slice replayed before it
        self.recomputed: dict[int, set[str]] = {}
        self.prefix: dict[int, list] = {}  # step -> the slice its replayed setup needs
        self.refused: set[tuple[int, str]] = set()

    def result(self) -> Recompute:
        def in_order(stmts) -> tuple:
            return tuple(sorted(stmts, key=lambda s: s.seq))

        return Recompute(
            flow=self.flow, replays={k: in_order(v) for k, v in self.replays.items()},
            recomputed={k: tuple(sorted(v)) for k, v in self.recomputed.items()},
            setup_prefix={k: in_order(v) for k, v in self.prefix.items()})

    def visit(self, st, idx: int) -> None:
        local = self.local.setdefault(idx, set())
        facts = self.flow.at.get(st.seq)
        reads = definition_closure(st.reads, self.free_of)
        if facts is not None:
            needed = sorted(r for r in facts.reads if r not in local)
            if needed:
                self.replay_before(st, idx, needed)
            if st.kind == "setup" and facts.reads:
                self.prefix_setup(st, idx, sorted(facts.reads))
            self.deps[st.seq] = {r: tuple(self.history.get(r, ())) for r in facts.reads}
        self.clean_reads[st.seq] = {r: self.last_writer.get(r) for r in reads
                                    if facts is None or r not in facts.reads}
        self.record_writes(st)
        local.update(reads | st.binds | st.maybe | st.mutated)
        local.difference_update(st.deletes)

    def replay_before(self, st, idx: int, needed: list[str]) -> None:
        """The statement reads secret-derived values its step does not hold: the slice that
        builds them runs again just before it, or NB222 says why it cannot."""
        done = self.done.setdefault(idx, set())
        seqs = self.slice_of(needed, done)
        bad = self.why_not(seqs)
        if bad is None:
            self.replays.setdefault(st.seq, []).extend(self.by_seq[q] for q in seqs)
            done.update(seqs)
            for q in seqs:
                built = self.by_seq[q]
                self.local[idx].update(built.binds | built.maybe | built.mutated)
                self.recomputed.setdefault(idx, set()).update(
                    n for n in built.writes if n in self.flow.derived)
        elif (idx, needed[0]) not in self.refused:
            self.refused.add((idx, needed[0]))
            self.refuse(st, idx, needed, *bad)

    def prefix_setup(self, st, idx: int, reads: list[str]) -> None:
        """Later steps replay this setup through common.setup_<step>(): it gets the slice in
        front of it instead of taking the secret-derived value as an argument."""
        seqs = self.slice_of(reads, {q.seq for q in self.prefix.get(idx, ())})
        bad = self.why_not(seqs)
        if bad is None:
            self.prefix.setdefault(idx, []).extend(self.by_seq[q] for q in seqs)
        elif (idx, "setup") not in self.refused:
            self.refused.add((idx, "setup"))
            self.refuse(st, idx, reads, *bad)

    def record_writes(self, st) -> None:
        for b in st.binds:
            self.history[b] = [st.seq]
        for m in (st.maybe | st.mutated) - st.binds:
            self.history.setdefault(m, []).append(st.seq)
        for n in st.writes:
            self.last_writer[n] = st.seq
        for n in st.deletes:
            self.history.pop(n, None)

    def slice_of(self, names: list[str], skip: set[int]) -> list[int]:
        """The statements that built `names` (and what they read), minus `skip`."""
        out: set[int] = set()
        stack = [q for r in names for q in self.history.get(r, ())]
        while stack:
            q = stack.pop()
            if q in out or q in skip:
                continue
            out.add(q)
            stack.extend(p for hs in self.deps.get(q, {}).values() for p in hs)
        return sorted(out)

    def why_not(self, seqs: list[int]) -> tuple[str, object] | None:
        """Why the slice cannot run again cheaply and with the same result, or None."""
        bound: set[str] = set()
        for q in seqs:
            st = self.by_seq[q]
            if st.kind != "code" or st.files or st.draws_rng or st.seeds_rng or st.deletes:
                what = ("touches files" if st.files else "draws random numbers"
                        if st.draws_rng or st.seeds_rng else "is setup state"
                        if st.kind == "setup" else "deletes a name" if st.deletes
                        else f"is {st.kind} code")
                return f"it {what}", st
            why = obstacle(st.node, self.an.imports, self.defs_by_name, self.data_names)
            if why:
                return f"{why} may be slow, cost money or give another result when run again", st
            for r, writer in self.clean_reads.get(q, {}).items():
                if r not in bound and self.last_writer.get(r) != writer:
                    return f"'{r}', which it reads, has changed since", st
            bound |= st.binds | st.maybe
        return None

    def refuse(self, reader, step: int, names: list[str], why: str, where) -> None:
        name = names[0]
        envs = ", ".join(sorted({e for n in names for e in self.flow.derived.get(n, ())}))
        line, col = reader.read_pos.get(name, (reader.line, reader.col))
        step_name = self.step_names[step]
        self.diags.append(Diagnostic(
            "NB222", f"'{name}' is built from the secret {envs} and step '{step_name}' "
                     "reads it; a value built from a secret is never stored, and it cannot be "
                     f"recomputed here: {why} (cell {where.cell}, line {where.line}); keep "
                     f"cells {where.cell} and {reader.cell} in one step (tag them "
                     f"`step:{step_name}`)", path=self.an.notebook.path, cell=reader.cell,
            line=line, col=col))


def statements(stmts, cell_to_step: dict[int, int], rc: Recompute) -> Iterator[tuple]:
    """(statement, step index) in notebook order, each replayed slice just before the
    statement that reads the values it builds (in that statement's step)."""
    for st in stmts:
        idx = cell_to_step.get(st.cell)
        group = rc.replays.get(st.seq, ())
        envs = sorted({e for q in group for e in (rc.flow.at[q.seq].envs if q.seq in rc.flow.at
                                                   else ())})
        for i, q in enumerate(group):
            note = REPLAY_NOTE.format(", ".join(envs)) if i == 0 else ""
            yield replace(q, lead=note, mutations=list(q.mutations)), idx
        yield st, idx
