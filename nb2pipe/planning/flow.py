"""Build the PipelinePlan: steps, their inputs and outputs, setup replay and the DAG.

Producers are resolved in notebook order: a name a step reads comes from the last statement
before it that bound or mutated it (a mutation is a write), so a name rebound ten times
resolves to the right producer, and a redefined function to the version in effect.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace
from typing import Literal

from nb2pipe.analysis import rules
from nb2pipe.analysis.cells import Analysis, Definition, Mutation, Stmt
from nb2pipe.analysis.model import STRIP_REASONS
from nb2pipe.analysis.shared import bound_names
from nb2pipe.analysis.secrets import secret_names
from nb2pipe.analysis.syspath import import_paths
from nb2pipe.diagnostics import Diagnostic
from nb2pipe.planning import deploy, drawing, file_edges, live_globals, recompute, serving
from nb2pipe.planning import split as splitting
from nb2pipe.planning.model import (CommonRef, FileIO, PipelinePlan, SharedDef, Step, Stripped)
from nb2pipe.transform.code import RNG, definition_source, statement_source

ProducerKind = Literal["param", "import", "def", "step", "deleted", "undefined", "error"]


@dataclass(frozen=True)
class Producer:
    """What last gave a name its value, in notebook order: a pipeline parameter, an import,
    a shared definition, a step (or a step's `del`), or nothing valid ("undefined" when the
    notebook never assigns it, "error" after a diagnostic)."""

    kind: ProducerKind
    step: str = ""  # "step" and "deleted": which step
    import_line: str = ""  # "import": the line that binds the name
    definition: Definition | None = None  # "def": the version in effect

    @property
    def carried(self) -> bool:
        """A value the pipeline hands between steps (a step output or a parameter)."""
        return self.kind in ("step", "param")


@dataclass
class _StepState:
    name: str
    title: str
    cells: list[int]
    prev: list[str]
    tags: list[str]
    stmts: list[Stmt] = field(default_factory=list)
    inputs: dict[str, str] = field(default_factory=dict)  # name -> producer step
    params: list[str] = field(default_factory=list)
    imports: dict[str, str] = field(default_factory=dict)  # name -> import line
    common: dict[str, Definition] = field(default_factory=dict)
    bound: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)
    written: set[str] = field(default_factory=set)
    producer_at_start: dict[str, Producer] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    upstream: set[str] = field(default_factory=set)
    files: list = field(default_factory=list)
    file_edges: list[tuple[str, str]] = field(default_factory=list)  # (upstream, why)
    stripped: list[Stripped] = field(default_factory=list)
    setup_stmts: list[Stmt] = field(default_factory=list)
    setup_from: list[str] = field(default_factory=list)
    setup_reads: list[str] = field(default_factory=list)
    rng_in: bool = False
    rng_out: bool = False
    bundles: list[set[str]] = field(default_factory=list)  # outputs saved together
    loop_only: set[str] = field(default_factory=set)
    metrics: list[str] = field(default_factory=list)
    order: int = 0
    live: set[str] = field(default_factory=set)  # see planning/live_globals.py
    boundary: str = ""  # flow splits: why the step starts here


def _is_builtin(name: str) -> bool:
    return name in rules.BUILTINS


def build_plan(an: Analysis, groups: list[splitting.Group], names: list[str], split_mode: str,
               package: str, workdir: str, diags: list[Diagnostic],
               measured: dict[str, dict[str, float]] | None = None) -> PipelinePlan | None:
    """The plan, phase by phase; each phase is a function of what the earlier ones found.
    `measured`: what local runs of the steps used, by step name (requests and limits)."""
    nb = an.notebook
    diag = _diagnostics_to(diags, nb.path)
    steps, cell_to_step = _new_steps(groups, names)
    by_name = {s.name: s for s in steps}
    raw_to_name = {g.raw_name: n for g, n in zip(groups, names)}
    defs_by_name, import_names, data_names = _shared_definitions(an, diag)
    # values built from a secret never cross a step boundary: each step that reads one runs
    # the statements that build it again, from the environment (planning/recompute.py)
    secret = recompute.plan(an, cell_to_step, names, secret_names(nb), diags)
    walk = _walk_statements(an, steps, cell_to_step, names, defs_by_name, secret, diag)
    _derive_outputs(an, steps, by_name, walk.producer, secret)
    for code, msg, cell, line, col in _carry_alias_groups(steps, by_name):
        diag(code, msg, cell, line, col)
    _check_redefinitions(an, defs_by_name, walk.def_first_use, diag)
    _link_upstream(steps, by_name, raw_to_name, diag)
    kept_steps, dropped = _setup_replay(steps, by_name, data_names, walk.stripped_cells, secret,
                                        diag)
    # functions that only draw, whose calls were stripped, leave the shared module too
    shared = replace(an, definitions=drawing.without_unused_drawing(
        an.definitions, {n for s in kept_steps for n in s.common}))
    plan_defs, final_steps, used_imports = _render_steps(shared, kept_steps, defs_by_name,
                                                         secret)
    final_steps = _with_deploy_settings(final_steps, plan_defs, _known_secrets(nb),
                                        measured or {})
    cell_metrics = tuple(dict.fromkeys(walk.metrics))
    common_imports, side_effect, imported_modules = _shared_imports(
        shared, kept_steps, used_imports, read_elsewhere=an.definitions)
    # the notebook's final namespace: names whose last producer is a step or a parameter
    # (a name deleted at the end is not a final value even if steps pass it on before)
    final_names = sorted(n for n in {o for s in final_steps for o in s.outputs}
                         | set(an.parameters)
                         if (p := walk.producer.get(n)) is None or p.carried)
    # the serving path: which statements new rows go through (planning/serving.py)
    serving_plan, serving_diags = serving.derive_safely(an)
    diags.extend(serving_diags)
    return PipelinePlan(
        package=package, notebook=nb.name, notebook_hash=nb.content_hash, workdir=workdir,
        split=split_mode, steps=tuple(final_steps),
        parameters=tuple((n, an.parameters[n][0]) for n in an.parameters),
        metrics=cell_metrics, model_metrics=deploy.detect_metrics(cell_metrics, final_steps),
        definitions=tuple(plan_defs),
        common_imports=tuple(sorted(common_imports)), side_effect_imports=tuple(side_effect),
        requirements=tuple(an.requirements), imported_modules=tuple(imported_modules),
        local_modules=tuple(sorted(an.local_modules)), stripped_cells=tuple(walk.stripped_cells),
        dropped_steps=tuple(dropped), final_names=tuple(final_names), seeded=an.seeded,
        diagnostics=tuple(diags), secret_derived=tuple(
            (n, secret.envs_of(n)) for n in sorted(secret.flow.derived)),
        import_paths=tuple(import_paths([st.node for st in an.stmts if st.kind == "setup"],
                                         an.imports)), serving=serving_plan)


def _diagnostics_to(diags: list[Diagnostic], path: str):
    def diag(code, msg, cell=None, line=None, col=None, severity=""):
        diags.append(Diagnostic(code, msg, path=path, cell=cell, line=line, col=col,
                                severity=severity))
    return diag


def _new_steps(groups: list[splitting.Group],
               names: list[str]) -> tuple[list[_StepState], dict[int, int]]:
    """One state per step group, and the step (index) each cell belongs to."""
    cell_to_step: dict[int, int] = {}
    steps: list[_StepState] = []
    for i, (g, name) in enumerate(zip(groups, names)):
        steps.append(_StepState(name=name, title=g.title, cells=list(g.cells), prev=list(g.prev),
                                tags=list(g.tags), order=i, boundary=g.reason))
        for c in g.cells:
            cell_to_step.setdefault(c, i)
    return steps, cell_to_step


def _shared_definitions(an: Analysis, diag):
    """Definitions by name (versions in order), with the name each gets in the shared module
    and the notebook globals each needs (NB205/NB208); also the names imports bind and the
    names kept code binds."""
    defs_by_name: dict[str, list[Definition]] = {}
    for d in an.definitions:
        defs_by_name.setdefault(d.name, []).append(d)
    import_names, data_names = bound_names(an.stmts, an.parameters)
    for d in an.definitions:
        if d.data_globals and not d.is_class:  # classes: see live_globals below
            diag("NB205", f"`{d.name}` reads notebook variable(s) {', '.join(d.data_globals)}; "
                          "they become keyword-only parameters", d.cell, d.line, 0)
    # class code that runs at import (class attributes, method defaults) cannot see a
    # variable the steps keep live in common: that alone is refused (live_globals.py)
    readers = {d.name for d in an.definitions if not d.is_class and d.data_globals}
    for d in an.definitions:
        if d.is_class and d.data_globals:
            for n in live_globals.eager_reads(d.node, set(d.data_globals), readers)[:1]:
                diag("NB208", f"class `{d.name}` reads notebook variable `{n.id}` when the "
                              "class statement runs", d.cell, n.lineno + d.line - d.node.lineno,
                     n.col_offset)
    return defs_by_name, import_names, data_names


@dataclass
class _Walk:
    """What the walk over the statements found besides the step states it filled in."""

    producer: dict[str, Producer]
    def_first_use: dict[str, int]
    stripped_cells: list[Stripped]
    metrics: list[tuple[str, str]]


def _walk_statements(an: Analysis, steps: list[_StepState], cell_to_step: dict[int, int],
                     names: list[str], defs_by_name: dict[str, list[Definition]],
                     secret: recompute.Recompute, diag) -> _Walk:
    """Statements in notebook order: each read resolves to its producer (the last statement
    before it that bound or mutated the name), which makes inputs, parameters, imports and
    shared functions of the reading step; binds and mutations make the step the producer."""
    walker = _Walker(an, steps, names, diag)
    for st, idx in recompute.statements(an.stmts, cell_to_step, secret):
        walker.visit(st, idx)
    return _Walk(walker.producer, walker.def_first_use, walker.stripped_cells, walker.metrics)


class _Walker:
    """The state of the walk over the statements (see _walk_statements): who produced each
    name so far, and the step being filled."""

    def __init__(self, an: Analysis, steps: list[_StepState], names: list[str], diag):
        self.an, self.steps, self.names, self.diag = an, steps, names, diag
        self.producer: dict[str, Producer] = {p: Producer("param") for p in an.parameters}
        self.def_first_use: dict[str, int] = {}
        self.stripped_cells = [Stripped(c, 1, reason, src)
                               for c, reason, src in an.stripped_cells]
        self.metrics: list[tuple[str, str]] = []
        self.current: _StepState | None = None
        self.defined_later: dict[str, int] = {}  # name -> first cell that binds it
        for st in an.stmts:
            for b in st.binds | st.maybe:
                self.defined_later.setdefault(b, st.cell)
        self._bound_anywhere: frozenset[str] | None = None  # parsed only when needed

    def bound_anywhere(self) -> frozenset[str]:
        if self._bound_anywhere is None:
            self._bound_anywhere = _names_bound_anywhere(self.an)
        return self._bound_anywhere

    # ---- one statement --------------------------------------------------------------------

    def visit(self, st: Stmt, idx: int | None) -> None:
        if st.kind == "import":
            for n, line in st.import_names.items():
                self.producer[n] = Producer("import", import_line=line)
            return
        if st.kind in ("def", "class"):
            d = next(x for x in self.an.definitions
                     if x.name == st.defname and x.version == st.version)
            self.producer[st.defname] = Producer("def", definition=d)
            return
        if st.kind == "param" or idx is None:
            return
        s = self.steps[idx]
        if self.current is not s:
            self.current = s
            s.producer_at_start = dict(self.producer)
        if st.kind == "metrics":
            self.metric_cell(st, s)
            return
        if st.stripped:
            s.stripped.append(Stripped(st.cell, st.line, STRIP_REASONS.get(st.kind, st.kind),
                                       st.source_excerpt))
            return
        for line, text in st.removed:
            s.stripped.append(Stripped(st.cell, line, "display", text))
        s.stmts.append(st)
        self.reads(st, s)
        self.writes(st, s)
        if st.kind == "setup":
            s.setup_stmts.append(st)
        s.files += [FileIO(f.path, f.mode, f.cell, f.line, f.call) for f in st.files
                    if f.path is not None]

    def metric_cell(self, st: Stmt, s: _StepState) -> None:
        for m in st.reads:
            p = self.producer.get(m)
            if p is None or not p.carried:
                self.diag("NB308", f"metric '{m}' is not computed by any step", st.cell,
                          st.line, st.col)
                continue
            owner = p.step if p.kind == "step" else s.name
            self.metrics.append((m, owner))
            if p.kind == "step":
                self.steps[self.names.index(owner)].metrics.append(m)

    def reads(self, st: Stmt, s: _StepState) -> None:
        reads = list(st.reads)
        if self.an.seeded and st.draws_rng:
            reads.append(RNG)
        for r in reads:
            self.resolve(r, s, st)
            if r == RNG and r not in s.bound and r not in s.maybe:
                p = self.producer.get(RNG)
                if p and p.kind == "step" and p.step != s.name:
                    s.inputs.setdefault(RNG, p.step)

    def writes(self, st: Stmt, s: _StepState) -> None:
        """Binds, mutations and deletions make this step the producer of the names."""
        made = Producer("step", s.name)
        for m in st.mutations:
            for a in m.affected:
                s.written.add(a)
                self.producer[a] = made
        for b in st.binds:
            s.bound.add(b)
            s.written.add(b)
            self.producer[b] = made
        for b in st.maybe:
            if b not in s.bound:
                s.maybe.add(b)
            s.written.add(b)
            self.producer[b] = made
        s.loop_only |= st.loop_binds
        s.loop_only -= st.binds - st.loop_binds
        for b in st.deletes:
            s.bound.discard(b)
            self.producer[b] = Producer("deleted", s.name)
        if self.an.seeded and (st.seeds_rng or st.draws_rng):
            if st.seeds_rng:
                s.bound.add(RNG)
            s.written.add(RNG)
            self.producer[RNG] = made

    # ---- one read ---------------------------------------------------------------------------

    def resolve(self, name: str, s: _StepState, st: Stmt) -> None:
        if name in s.bound or name in s.maybe:
            return
        p = self.producer.get(name)
        if p is None:
            if name != RNG and not _is_builtin(name):
                self.unproduced(name, st)
            return
        if p.kind == "step" and p.step == s.name:
            # this step changed the object only through an alias (`d.append(3)` after
            # `c = d`), so the name itself is not bound here: it comes in from whoever
            # produced it before the step (the aliasing check below then sees both arrive)
            p = s.producer_at_start.get(name) or p
        kind = p.kind
        if kind == "step":
            if p.step != s.name:
                s.inputs.setdefault(name, p.step)
        elif kind == "param":
            if name not in s.params:
                s.params.append(name)
        elif kind == "import":
            s.imports[name] = p.import_line
        elif kind == "def":
            d = p.definition
            s.common[name] = d
            self.def_first_use.setdefault(f"{d.name}#{d.version}", st.seq)
            for g in d.data_globals:
                self.resolve(g, s, st)
        elif kind == "deleted":
            self.diag("NB201", f"name '{name}' is read after `del {name}`", st.cell, st.line,
                      st.col)

    def unproduced(self, name: str, st: Stmt) -> None:
        """A read with no producer before it: NB221 where no cell binds the name and the read
        may never run, else NB201 (with where it is assigned, if anywhere)."""
        later = self.defined_later.get(name)
        line, col = st.read_pos.get(name, (st.line, st.col))
        if (later is None and _read_may_not_run(st.node, name)
                and name not in self.bound_anywhere()):
            # no cell binds it: the notebook itself would fail where this runs
            self.diag("NB221", f"name '{name}' is never assigned in the notebook; the step "
                               "raises NameError where the notebook would, if this line runs",
                      st.cell, line, col)
            self.producer[name] = Producer("undefined")
            return
        hint = (f"; it is assigned later, in cell {later}" if later and later > st.cell
                else "; it is only assigned in a stripped or skipped cell"
                if later is None and _assigned_in_stripped(self.an, name) else "")
        self.diag("NB201", f"name '{name}' is read before it is assigned{hint}", st.cell,
                  line, col)
        self.producer[name] = Producer("error")


def _derive_outputs(an: Analysis, steps: list[_StepState], by_name: dict[str, _StepState],
                    producer: dict[str, Producer], secret: recompute.Recompute) -> None:
    """Outputs: what later steps read, and final values; a value a step hands on without
    binding it comes in first."""
    for s in steps:
        for n, prod in s.inputs.items():
            by_name[prod].outputs.add(n)
    final: dict[str, str] = {}
    for n, p in producer.items():
        if p.kind == "step":
            final[n] = p.step
    for n, prod in final.items():
        s = by_name[prod]
        if n == RNG or n.startswith("_") or n in s.loop_only or n in secret.flow.final:
            continue
        s.outputs.add(n)
    # methods of shared classes read notebook variables from common at call time: each step
    # that may call them gets those variables and keeps common in sync (live_globals.py)
    classes = [(d.seq, d.data_globals) for d in an.definitions if d.is_class and d.data_globals]
    for s in steps:
        if not s.stmts:
            continue
        for n in sorted(live_globals.live_names(s.stmts[-1].seq, classes)):
            prior = s.producer_at_start.get(n)
            coming = prior is not None and prior.carried
            if coming or n in s.bound or n in s.maybe:
                s.live.add(n)
            if not coming or n in s.inputs or n in s.params:
                continue
            if prior.kind == "step":
                s.inputs[n] = prior.step
                by_name[prior.step].outputs.add(n)
            else:
                s.params.append(n)
    # a value a step may not (re)bind itself but hands on must come in first
    for s in steps:
        for n in sorted(s.outputs):
            if n in s.bound or n in s.inputs or n in s.params:
                continue
            prior = s.producer_at_start.get(n)
            if prior is None:
                continue
            if prior.kind == "step":
                s.inputs[n] = prior.step
                by_name[prior.step].outputs.add(n)
            elif prior.kind == "param" and n not in s.params:
                s.params.append(n)
    # outputs added to earlier steps may need inputs of their own: iterate to a fixpoint
    changed = True
    while changed:
        changed = False
        for s in steps:
            for n in sorted(s.outputs):
                if n in s.bound or n in s.inputs or n in s.params:
                    continue
                prior = s.producer_at_start.get(n)
                if prior and prior.kind == "step":
                    s.inputs[n] = prior.step
                    if n not in by_name[prior.step].outputs:
                        by_name[prior.step].outputs.add(n)
                        changed = True
    for s in steps:
        s.rng_in = RNG in s.inputs
        s.rng_out = RNG in s.outputs


def _check_redefinitions(an: Analysis, defs_by_name: dict[str, list[Definition]],
                         def_first_use: dict[str, int], diag) -> None:
    """NB207: a function calls another that is redefined after the caller's first use."""
    for d in an.definitions:
        for n in d.free:
            versions = defs_by_name.get(n, [])
            if len(versions) > 1:
                use = def_first_use.get(f"{d.name}#{d.version}")
                if use is not None and use < versions[-1].seq:
                    diag("NB207", f"`{d.name}` calls `{n}`, which is redefined in cell "
                                  f"{versions[-1].cell} after `{d.name}` is first used",
                         d.cell, d.line, 0)


def _link_upstream(steps: list[_StepState], by_name: dict[str, _StepState],
                   raw_to_name: dict[str, str], diag) -> None:
    """Upstream steps from `prev:` tags and data inputs; a cycle is NB303."""
    for s in steps:
        for p in s.prev:
            target = raw_to_name.get(p, p if p in by_name else None)
            if target is None or target not in by_name:
                diag("NB302", f"prev:{p} names no step", s.cells[0] if s.cells else None, 1, 0)
                continue
            if target != s.name:
                s.upstream.add(target)
        for prod in s.inputs.values():
            s.upstream.add(prod)
    _add_file_edges(steps, by_name)
    cycle = _find_cycle(steps)
    if cycle:
        diag("NB303", "steps depend on each other in a cycle: " + " -> ".join(cycle),
             by_name[cycle[0]].cells[0] if by_name[cycle[0]].cells else None, 1, 0)


def _add_file_edges(steps: list[_StepState], by_name: dict[str, _StepState]) -> None:
    """Upstream links from the notebook's file effects (planning/file_edges.py), those that
    the data and `prev:` links do not already imply."""
    edges = file_edges.file_effect_edges(
        [(s.name, [f for st in s.stmts for f in st.files]) for s in steps])
    needed = file_edges.without_implied(edges, {s.name: set(s.upstream) for s in steps})
    for e in needed:
        s = by_name[e.downstream]
        s.upstream.add(e.upstream)
        s.file_edges.append((e.upstream, e.reason))


def _setup_replay(steps: list[_StepState], by_name: dict[str, _StepState], data_names: set[str],
                  stripped_cells: list[Stripped], secret: recompute.Recompute,
                  diag) -> tuple[list[_StepState], list[str]]:
    """Steps left without code are dropped (NB305); every later step replays the setup state
    of the steps before it, and what that setup reads comes in as inputs."""
    kept_steps = [s for s in steps if s.stmts]
    dropped = [s.name for s in steps if not s.stmts]
    for s in steps:
        if not s.stmts and s.cells:
            diag("NB305", f"section '{s.title}' has no code left after stripping display code",
                 s.cells[0], 1, 0)
            stripped_cells.extend(s.stripped)
    for s in kept_steps:  # replayed setup that reads a secret-derived value rebuilds it first
        s.setup_stmts[:0] = secret.setup_prefix.get(s.order, ())
    setup_owners: list[_StepState] = []
    for s in kept_steps:
        s.setup_from = [o.name for o in setup_owners]
        if s.setup_stmts:
            setup_owners.append(s)
    for s in kept_steps:
        reads: list[str] = []
        bound_local: set[str] = set()
        for st in s.setup_stmts:
            for r in st.reads:
                if r in bound_local or r in reads:
                    continue
                p = s.producer_at_start.get(r)
                if r in s.bound or (p and p.carried):
                    reads.append(r)
            bound_local |= st.binds
        s.setup_reads = [r for r in reads if not _is_builtin(r) or r in data_names]
    # replayed setup reads are read at the start of the later step
    for s in kept_steps:
        for owner_name in s.setup_from:
            owner = by_name[owner_name]
            for r in owner.setup_reads:
                if r in s.inputs or r in s.params:
                    continue
                p = s.producer_at_start.get(r)
                if p and p.kind == "step":
                    s.inputs[r] = p.step
                    by_name[p.step].outputs.add(r)
                    s.upstream.add(p.step)
                elif p and p.kind == "param":
                    s.params.append(r)
            # imports the replayed setup needs are in common
    return kept_steps, dropped


def _known_secrets(nb) -> frozenset[str]:
    """Environment variables the notebook holds secrets in: named by the secrets rewrite or
    by a `secret:NAME` tag."""
    tagged = {v for c in nb.cells for v in c.tag_values("secret")}
    return frozenset(secret_names(nb)) | tagged


def _with_deploy_settings(steps: list[Step], definitions: list[SharedDef],
                          known_secrets: frozenset[str],
                          measured: dict[str, dict[str, float]]) -> list[Step]:
    """Each step's placement, limits and secrets, from its tags and the code it runs (its
    body, the setup it replays, the shared definitions it uses)."""
    by_name = {s.name: s for s in steps}
    out = []
    for s in steps:
        used = {c.emit_name for c in s.common}
        codes = [s.body, *(by_name[o].setup_body for o in s.setup_from if o in by_name)]
        codes += [d.code for d in definitions if d.emit_name in used]
        secrets = deploy.step_secrets(known_secrets, codes)
        out.append(replace(s, deploy=deploy.deploy_settings(s.name, s.tags, secrets,
                                                            measured.get(s.name))))
    return out


def _render_steps(an: Analysis, kept_steps: list[_StepState],
                  defs_by_name: dict[str, list[Definition]], secret: recompute.Recompute):
    """The code of the shared definitions and of each step, as plan values."""
    kept_names = {s.name for s in kept_steps}
    globals_of_current: dict[str, tuple[str, ...]] = {}
    plan_defs: list[SharedDef] = []
    for d in an.definitions:
        src, _ = definition_source(d, _globals_for_def(d, defs_by_name))
        plan_defs.append(SharedDef(name=d.name, emit_name=d.emit_name, version=d.version,
                                   cell=d.cell, line=d.line,
                                   kind="class" if d.is_class else "function",
                                   data_globals=d.data_globals,
                                   code=src))
    final_steps: list[Step] = []
    used_imports: set[str] = set()
    for s in kept_steps:
        for n, d in s.common.items():
            globals_of_current[n] = d.data_globals if not d.is_class else ()
        gl = {n: (d.data_globals if not d.is_class else ()) for n, d in s.common.items()}
        parts: list[str] = []
        uses_partial = False
        for st in s.stmts:
            src, part = statement_source(st, gl)
            parts.append(live_globals.with_syncs(src, st.lead, s.live))
            uses_partial |= part
        setup_parts = [statement_source(st, gl)[0] for st in s.setup_stmts]
        imports = sorted(set(s.imports.values()))
        if uses_partial:
            imports = sorted(set(imports) | {"import functools"})
        used_imports |= set(s.imports.values())
        inputs = [n for n in s.inputs if n != RNG]
        outputs = sorted(n for n in s.outputs if n != RNG)
        terminal = sorted(n for n in outputs if all(n not in o.inputs for o in kept_steps
                                                    if o is not s))
        final_steps.append(Step(
            name=s.name, k8s_name=splitting.k8s_name(s.name), title=s.title,
            boundary=s.boundary, cells=tuple(s.cells), inputs=tuple(inputs),
            input_sources=tuple((n, s.inputs[n]) for n in inputs),
            params=tuple(s.params), outputs=tuple(outputs),
            upstream=tuple(sorted(u for u in s.upstream if u in kept_names and u != s.name)),
            setup_from=tuple(s.setup_from), imports=tuple(imports),
            common=tuple(CommonRef(n, d.emit_name) for n, d in sorted(s.common.items())),
            files=tuple(s.files), stripped=tuple(s.stripped), rng_in=s.rng_in,
            rng_out=s.rng_out, rng_from=s.inputs.get(RNG, "") if s.rng_in else "",
            has_setup=bool(s.setup_stmts), setup_reads=tuple(s.setup_reads),
            bundles=tuple(sorted(tuple(sorted(b & set(outputs))) for b in s.bundles
                                 if len(b & set(outputs)) >= 2)),
            metrics=tuple(dict.fromkeys(s.metrics)), tags=tuple(s.tags),
            body="\n".join(parts), setup_body="\n".join(setup_parts), terminal=tuple(terminal),
            live_globals=tuple(sorted(s.live)), recomputed=secret.recomputed.get(s.order, ()),
            maybe_unbound=_maybe_unbound(s, outputs),
            file_edges=tuple((u, why) for u, why in s.file_edges if u in kept_names)))
    return plan_defs, final_steps, used_imports


def _maybe_unbound(s: _StepState, outputs: list[str]) -> tuple[str, ...]:
    """Outputs bound only on some paths through the step, with no value coming in: the
    notebook may go on without them, so the step must not fail on returning them."""
    return tuple(n for n in outputs if n in s.maybe and n not in s.bound
                 and n not in s.inputs and n not in s.params)


def _shared_imports(an: Analysis, kept_steps: list[_StepState], used_imports: set[str],
                    read_elsewhere: list[Definition] = ()):
    """Imports of the shared module (what definitions and setup statements read), imports
    kept only for their side effects, and the top-level modules the pipeline imports. A name
    a left-out definition reads (`read_elsewhere`) was used, not imported for an effect."""
    # shared module imports: what definitions and setup statements read
    common_imports: set[str] = set()
    import_line: dict[str, str] = {}
    for st in an.stmts:
        if st.kind == "import":
            import_line.update(st.import_names)
    read_anywhere: set[str] = set()
    for st in an.stmts:
        read_anywhere |= set(st.reads)
    for d in read_elsewhere:
        read_anywhere |= set(d.free)
    for d in an.definitions:
        read_anywhere |= set(d.free)
        for n in d.free:
            if n in import_line:
                common_imports.add(import_line[n])
    for s in kept_steps:
        for st in s.setup_stmts:
            for r in st.reads:
                if r in import_line:
                    common_imports.add(import_line[r])
    side_effect = sorted({line for n, line in import_line.items() if n not in read_anywhere})
    imported_modules = sorted({_top_module(line) for line in
                               used_imports | common_imports | set(side_effect)} - {""})
    return sorted(common_imports), side_effect, imported_modules


def _names_bound_anywhere(an: Analysis) -> frozenset[str]:
    """Every name any code cell binds, at any depth, stripped code included."""
    from nb2pipe.analysis.astutil import names_bound_in_cells

    return names_bound_in_cells(an.notebook)


def _read_may_not_run(node: ast.AST, name: str) -> bool:
    """Whether every read of `name` in the statement sits where it may not run: an `except`
    handler, a branch, a loop body, the right side of `and`/`or`, a lambda or a
    comprehension. An unconditional read of an unassigned name fails the notebook too."""
    def conditional_parts(n: ast.AST) -> tuple[list[ast.AST], list[ast.AST]]:
        """(parts that always run, parts that may not)."""
        if isinstance(n, (ast.If, ast.While)):
            return [n.test], n.body + n.orelse
        if isinstance(n, (ast.For, ast.AsyncFor)):
            return [n.iter, n.target], n.body + n.orelse
        if isinstance(n, ast.Try) or type(n).__name__ == "TryStar":
            return n.body + n.finalbody, list(n.handlers) + n.orelse
        if isinstance(n, ast.IfExp):
            return [n.test], [n.body, n.orelse]
        if isinstance(n, ast.BoolOp):
            return n.values[:1], n.values[1:]
        if isinstance(n, ast.Match):
            return [n.subject], list(n.cases)
        if isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            # the first iterable is evaluated at once, the rest per item (maybe never)
            return [n.generators[0].iter], [n]
        if isinstance(n, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef)):
            return [], [n]
        return list(ast.iter_child_nodes(n)), []

    def unconditional_read(n: ast.AST) -> bool:
        if isinstance(n, ast.Name):
            return n.id == name and isinstance(n.ctx, ast.Load)
        always, _ = conditional_parts(n)
        return any(unconditional_read(c) for c in always)

    return not unconditional_read(node)


def _alias_hazards(s: _StepState) -> list[tuple[set[str], Stmt, Mutation]]:
    """Groups of names that arrive in step `s` from outside and may share an object that `s`
    mutates through one of them. Such a group must arrive as one object, as in the kernel."""
    needed = set(s.inputs) | s.outputs
    found: list[tuple[set[str], Stmt, Mutation]] = []
    for st in s.stmts:
        for m in st.mutations:
            incoming = [a for a in sorted(m.affected)
                        if a in needed and (a in s.inputs or a in s.params)]
            group: set[str] = set()
            for i, a in enumerate(incoming):
                for b in incoming[i + 1:]:
                    if st.alias_objs.get(a, frozenset()) & st.alias_objs.get(b, frozenset()):
                        group |= {a, b}
            if group:
                found.append((group, st, m))
    return found


def _add_bundle(s: _StepState, group: set[str]) -> None:
    """Outputs of `s` saved as one artifact; overlapping bundles merge."""
    merged = set(group)
    rest = []
    for b in s.bundles:
        if b & merged:
            merged |= b
        else:
            rest.append(b)
    s.bundles = rest + [merged]


def _carry_alias_groups(steps: list[_StepState], by_name: dict[str, _StepState]) -> list[tuple]:
    """Make names that share an object travel between steps together.

    Steps exchange serialized values, so two names of one object would arrive as two copies,
    and a mutation through one would miss the other. Instead, every member of such a group
    comes from one producer, the latest of the members' producers: it passes the other
    members through, and saves the group as one artifact (one pickle keeps identity). The
    producer may in turn receive members from different steps: the same rule applies there,
    down to the step where the members were last together. Only a member that is a pipeline
    parameter (or not a step's value at all) cannot travel with the others: NB209.
    Returns the NB209 diagnostics as (code, message, cell, line, col)."""
    problems: list[tuple] = []
    pending = [(s, group, st, m) for s in steps for group, st, m in _alias_hazards(s)]
    while pending:
        s, group, st, m = pending.pop(0)
        blocked = sorted(n for n in group if n not in s.inputs)
        if blocked:
            problems.append(("NB209", f"'{blocked[0]}' shares an object with "
                             f"{', '.join(repr(n) for n in sorted(group - {blocked[0]}))}, and "
                             f"step '{s.name}' mutates it (via '{m.root}'), but '{blocked[0]}' "
                             "is a pipeline parameter, so they cannot travel together",
                             st.cell, m.line, m.col))
            continue
        producer = by_name[max((s.inputs[n] for n in group), key=lambda p: by_name[p].order)]
        arriving: set[str] = set()
        for n in sorted(group):
            if s.inputs[n] != producer.name and n not in producer.inputs:
                prior = producer.producer_at_start.get(n)
                if not prior or prior.kind != "step":
                    problems.append(("NB209", f"'{n}' shares an object with "
                                     f"{', '.join(repr(x) for x in sorted(group - {n}))}, and "
                                     f"step '{s.name}' mutates it (via '{m.root}'), but step "
                                     f"'{producer.name}' cannot hand '{n}' on with them",
                                     st.cell, m.line, m.col))
                    break
                producer.inputs[n] = prior.step
                by_name[prior.step].outputs.add(n)
            if n in producer.inputs:
                arriving.add(n)
            producer.outputs.add(n)
            s.inputs[n] = producer.name
        else:
            _add_bundle(producer, group)
            if len(arriving) >= 2:
                pending.append((producer, arriving, st, m))
    return problems


def _globals_for_def(d: Definition, defs_by_name: dict[str, list[Definition]]):
    """Inside a shared function, calls to other shared functions pass their globals."""
    out: dict[str, tuple[str, ...]] = {}
    for n in d.free:
        versions = defs_by_name.get(n)
        if versions and not versions[-1].is_class:
            out[n] = versions[-1].data_globals
    if not d.is_class:
        out.setdefault(d.name, d.data_globals)
    return out


def _top_module(line: str) -> str:
    words = line.replace(",", " ").split()
    if len(words) >= 2 and words[0] in ("import", "from"):
        mod = words[1]
        if mod.startswith("."):
            return ""
        return mod.split(".")[0]
    if "import" in words:
        # a try/except import block: first module named
        i = words.index("import")
        if i + 1 < len(words):
            return words[i + 1].split(".")[0]
    return ""


def _assigned_in_stripped(an: Analysis, name: str) -> bool:
    for _, _, src in an.stripped_cells:
        if name in src:
            return True
    return any(name in st.binds for st in an.stmts if st.stripped)


def _find_cycle(steps: list[_StepState]) -> list[str] | None:
    graph = {s.name: sorted(s.upstream) for s in steps}
    color: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        color[n] = 1
        path.append(n)
        for m in graph.get(n, []):
            if color.get(m) == 1:
                return path[path.index(m):] + [m]
            if color.get(m) is None:
                found = visit(m)
                if found:
                    return found
        path.pop()
        color[n] = 2
        return None

    for s in steps:
        if color.get(s.name) is None:
            found = visit(s.name)
            if found:
                return found
    return None

