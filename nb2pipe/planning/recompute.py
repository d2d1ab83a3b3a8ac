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


@dataclass
class _Walk:
    """State of the walk in notebook order (internal to `plan`)."""

    history: dict[str, list[int]] = field(default_factory=dict)  # name -> writers since bind
    last_writer: dict[str, int] = field(default_factory=dict)
    deps: dict[int, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    clean_reads: dict[int, dict[str, int | None]] = field(default_factory=dict)
    local: dict[int, set[str]] = field(default_factory=dict)  # step -> names it holds
    done: dict[int, set[int]] = field(default_factory=dict)  # step -> replayed seqs


def plan(an, cell_to_step: dict[int, int], step_names: list[str], lifted: tuple[str, ...],
         diags: list[Diagnostic]) -> Recompute:
    """Where secret-derived values are recomputed, with NB222 where they cannot be."""
    if not lifted and not any("environ" in c.source or "getenv" in c.source
                              for c in an.notebook.cells if c.cell_type == "code"):
        return Recompute()  # no secret can be read: skip the walk (large notebooks)
    flow = trace(an.stmts, an.definitions, lifted)
    if not flow:
        return Recompute()
    defs_by_name: dict[str, list] = {}
    free_of: dict[str, set[str]] = {}
    for d in an.definitions:
        defs_by_name.setdefault(d.name, []).append(d)
        free_of.setdefault(d.name, set()).update(d.free)
    by_seq = {st.seq: st for st in an.stmts}
    data_names: set[str] = set()
    for st in an.stmts:
        if st.kind not in _NOT_DATA:
            data_names |= st.binds | st.maybe
    w = _Walk()
    replays: dict[int, list] = {}
    recomputed: dict[int, set[str]] = {}
    prefix: dict[int, list] = {}
    refused: set[tuple[int, str]] = set()

    def slice_of(roots: dict[str, tuple[int, ...]], skip: set[int]) -> list[int]:
        out: set[int] = set()
        stack = [q for hs in roots.values() for q in hs]
        while stack:
            q = stack.pop()
            if q in out or q in skip:
                continue
            out.add(q)
            stack.extend(p for hs in w.deps.get(q, {}).values() for p in hs)
        return sorted(out)

    def why_not(seqs: list[int]) -> tuple[str, object] | None:
        bound: set[str] = set()
        for q in seqs:
            st = by_seq[q]
            if st.kind != "code" or st.files or st.draws_rng or st.seeds_rng or st.deletes:
                what = ("touches files" if st.files else "draws random numbers"
                        if st.draws_rng or st.seeds_rng else "is setup state"
                        if st.kind == "setup" else "deletes a name" if st.deletes
                        else f"is {st.kind} code")
                return f"it {what}", st
            why = obstacle(st.node, an.imports, defs_by_name, data_names)
            if why:
                return f"{why} may be slow, cost money or give another result when run again", st
            for r, writer in w.clean_reads.get(q, {}).items():
                if r not in bound and w.last_writer.get(r) != writer:
                    return f"'{r}', which it reads, has changed since", st
            bound |= st.binds | st.maybe
        return None

    def refuse(reader, step: int, names: list[str], why: str, where) -> None:
        name = names[0]
        envs = ", ".join(sorted({e for n in names for e in flow.derived.get(n, ())}))
        line, col = reader.read_pos.get(name, (reader.line, reader.col))
        diags.append(Diagnostic(
            "NB222", f"'{name}' is built from the secret {envs} and step '{step_names[step]}' "
                     "reads it; a value built from a secret is never stored, and it cannot be "
                     f"recomputed here: {why} (cell {where.cell}, line {where.line}); keep "
                     f"cells {where.cell} and {reader.cell} in one step (tag them "
                     f"`step:{step_names[step]}`)", path=an.notebook.path, cell=reader.cell,
            line=line, col=col))

    for st in an.stmts:
        idx = cell_to_step.get(st.cell)
        if idx is None or st.stripped or st.kind in _NOT_DATA:
            continue
        local = w.local.setdefault(idx, set())
        done = w.done.setdefault(idx, set())
        facts = flow.at.get(st.seq)
        reads = definition_closure(st.reads, free_of)
        if facts is not None:
            needed = sorted(r for r in facts.reads if r not in local)
            if needed:
                seqs = slice_of({r: tuple(w.history.get(r, ())) for r in needed}, done)
                bad = why_not(seqs)
                if bad is None:
                    replays.setdefault(st.seq, []).extend(by_seq[q] for q in seqs)
                    done.update(seqs)
                    for q in seqs:
                        local.update(by_seq[q].binds | by_seq[q].maybe | by_seq[q].mutated)
                        recomputed.setdefault(idx, set()).update(
                            n for n in by_seq[q].writes if n in flow.derived)
                elif (idx, needed[0]) not in refused:
                    refused.add((idx, needed[0]))
                    refuse(st, idx, needed, *bad)
            if st.kind == "setup" and facts.reads:
                # later steps replay this setup through common.setup_<step>(): it gets the
                # slice in front of it instead of taking the secret-derived value as argument
                seqs = slice_of({r: tuple(w.history.get(r, ())) for r in facts.reads},
                                {q.seq for q in prefix.get(idx, ())})
                bad = why_not(seqs)
                if bad is None:
                    prefix.setdefault(idx, []).extend(by_seq[q] for q in seqs)
                elif (idx, "setup") not in refused:
                    refused.add((idx, "setup"))
                    refuse(st, idx, sorted(facts.reads), *bad)
            w.deps[st.seq] = {r: tuple(w.history.get(r, ())) for r in facts.reads}
        w.clean_reads[st.seq] = {r: w.last_writer.get(r) for r in reads
                                 if facts is None or r not in facts.reads}
        for b in st.binds:
            w.history[b] = [st.seq]
        for m in (st.maybe | st.mutated) - st.binds:
            w.history.setdefault(m, []).append(st.seq)
        for n in st.writes:
            w.last_writer[n] = st.seq
        for n in st.deletes:
            w.history.pop(n, None)
        local.update(reads | st.binds | st.maybe | st.mutated)
        local.difference_update(st.deletes)
    return Recompute(
        flow=flow, replays={k: tuple(sorted(v, key=lambda s: s.seq)) for k, v in replays.items()},
        recomputed={k: tuple(sorted(v)) for k, v in recomputed.items()},
        setup_prefix={k: tuple(sorted(v, key=lambda s: s.seq)) for k, v in prefix.items()})


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
