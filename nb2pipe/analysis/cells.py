"""Analyze a notebook statement by statement, in notebook order.

For every top-level statement of every code cell this finds what it reads, binds and mutates
(a mutation is a write), whether it is an import, a definition, setup state, display or
plotting code, a magic, and which files and random state it touches. The result is a flat,
ordered list of `Stmt` plus the definitions table; planning turns it into steps.

The analyzer is one class assembled from mixins, one concern each, over shared state:
`kinds` (statement kinds), `display` (display and plotting detection), `summaries` (what a
call to a notebook function does), `aliases` (which names share an object), `files` (file
effects). The statement model is in `model`, the API knowledge in `rules`, small AST helpers
in `astutil`.
"""

from __future__ import annotations

import ast

from nb2pipe.analysis import rules
from nb2pipe.analysis.aliases import AliasTracking
from nb2pipe.analysis.astutil import (is_literal, is_scalar_literal, lead_comments,
                                      local_names, names_in_target, node_text, pip_requirements,
                                      segment, without)
from nb2pipe.analysis.display import DisplayDetection
from nb2pipe.analysis.figures import FigureSlices, FigureState, keep_needed_plots
from nb2pipe.analysis.files import FileEffects
from nb2pipe.analysis.ipysyntax import magic_call, parse_cell
from nb2pipe.analysis.kinds import StatementKinds
from nb2pipe.analysis.dead_scratch import mark_dead_scratch
from nb2pipe.analysis.model import (STRIP_KINDS, Analysis, Definition, FileRef, Mutation,
                                    Stmt)
from nb2pipe.analysis.names import (Facts, free_names, global_assigns, has_keyword, out_arguments,
                                    root_name, statement_facts)
from nb2pipe.analysis.shared import resolve_definitions
from nb2pipe.analysis.star_imports import StarImportResolver, explicit_import, names_read_in
from nb2pipe.analysis.summaries import FunctionSummaries
from nb2pipe.diagnostics import Diagnostic
from nb2pipe.notebook import Cell, Notebook

# the statement model is part of this module's interface (planning imports it from here)
__all__ = ["STRIP_KINDS", "Analysis", "Analyzer", "Definition", "FileRef", "Mutation", "Stmt",
           "analyze"]



class Analyzer(StatementKinds, DisplayDetection, FunctionSummaries, AliasTracking,
               FileEffects, FigureSlices):
    """One pass over the notebook's code cells, in order; `run()` returns the Analysis."""

    def __init__(self, nb: Notebook, skip_cells: set[int]) -> None:
        self.nb = nb
        self.skip_cells = skip_cells
        self.diags: list[Diagnostic] = []
        self.stmts: list[Stmt] = []
        self.defs: list[Definition] = []
        self.current_def: dict[str, Definition] = {}
        self.imports: dict[str, str] = {}
        self.import_bound: set[str] = set()
        self.data_bound: set[str] = set()
        self.requirements: list[str] = []
        self.viz: set[str] = set()
        self.points_to: dict[str, frozenset[int]] = {}
        self.containers: set[str] = set()
        self.frames: set[str] = set()  # names bound to pandas objects: iterating gives labels
        self.immutable: set[str] = set()  # names bound to scalar literals: never mutated
        self.next_obj = 0
        self.seq = 0
        self.cell_kinds: dict[int, str] = {}
        self.parameters: dict[str, tuple[str, int, int]] = {}
        self.metrics: list[tuple[str, int, int]] = []
        self.stripped_cells: list[tuple[int, str, str]] = []
        self.seeded = False
        self.figure_state = FigureState()  # figures.py: which figure each statement touches
        self.saving_cell = False  # the cell saves a figure: its nested plotting is kept too
        self.local_modules: set[str] = set()
        self._nb_dir = nb.directory
        self._star = StarImportResolver(nb.directory)  # one per conversion: caches modules
        self._read_anywhere: frozenset[str] | None = None  # computed at the first star import

    # ---- helpers -------------------------------------------------------------------------
    def diag(self, code: str, msg: str, cell: int, line: int | None = 1, col: int | None = 0,
             severity: str = "") -> None:
        self.diags.append(Diagnostic(code, msg, path=self.nb.path, cell=cell, line=line, col=col,
                                     severity=severity))


    def qual(self, e: ast.AST) -> str | None:
        if isinstance(e, ast.Name):
            if e.id in self.import_bound and e.id not in self.data_bound:
                return self.imports.get(e.id)
            return None
        if isinstance(e, ast.Attribute):
            base = self.qual(e.value)
            return f"{base}.{e.attr}" if base else None
        return None

    def is_module_name(self, name: str | None) -> bool:
        return bool(name) and name in self.import_bound and name not in self.data_bound

    # ---- main loop -----------------------------------------------------------------------
    def run(self) -> Analysis:
        for cell in self.nb.cells:
            if cell.cell_type != "code":
                continue
            if not cell.source.strip():
                continue
            if cell.index in self.skip_cells or cell.has_tag("skip"):
                self.stripped_cells.append((cell.index, "tagged skip", cell.source))
                continue
            self.cell(cell)
        mark_dead_scratch(self.stmts, self.defs, self.imports)
        keep_needed_plots(self.stmts)
        resolve_definitions(self.stmts, self.defs, self.parameters)
        return Analysis(
            notebook=self.nb, stmts=self.stmts, definitions=self.defs, imports=dict(self.imports),
            requirements=sorted(dict.fromkeys(self.requirements)), local_modules=self.local_modules,
            cell_kinds=self.cell_kinds, parameters=self.parameters, metrics=self.metrics,
            diagnostics=self.diags, seeded=self.seeded, stripped_cells=self.stripped_cells)

    def cell(self, cell: Cell) -> None:
        if len(cell.source) > 100_000 or cell.source.count("\n") > 2000:
            self.diag("NB111", f"cell has {cell.source.count(chr(10)) + 1} lines and "
                               f"{len(cell.source)} characters", cell.index)
        parsed = parse_cell(cell.source)
        if parsed.error is not None:
            msg, line, col = parsed.error
            self.diag("NB104", msg, cell.index, line, col)  # parse_cell already shifted it
            return
        if parsed.cell_magic is not None:
            cm = parsed.cell_magic
            if cm.name in rules.DISPLAY_CELL_MAGICS:
                self.stripped_cells.append((cell.index, f"%%{cm.name} cell", cell.source))
            else:
                self.diag("NB106", f"%%{cm.name} cell is not converted; its effects are not "
                                   "part of the pipeline", cell.index)
                self.stripped_cells.append((cell.index, f"%%{cm.name} cell", cell.source))
            return
        kind = ""
        if cell.has_tag("parameters") or cell.has_tag("pipeline-parameters"):
            kind = "parameters"
        elif cell.has_tag("pipeline-metrics"):
            kind = "metrics"
        elif cell.has_tag("injected-parameters"):
            self.stripped_cells.append((cell.index, "papermill injected parameters", cell.source))
            return
        self.cell_kinds[cell.index] = kind
        lines = parsed.python.split("\n")
        prev_end = 0
        tree = parsed.tree
        assert tree is not None
        self.saving_cell = self.saves_figure(tree)
        for node in tree.body:
            start = node.lineno
            if getattr(node, "decorator_list", None):
                start = min([start] + [d.lineno for d in node.decorator_list])
            lead = lead_comments(lines, start, prev_end)
            prev_end = node.end_lineno or node.lineno
            text = segment(lines, node)
            self.statement(cell, node, text or None, lead, parsed.line_offset, kind, lines)

    # ---- one statement -------------------------------------------------------------------
    def statement(self, cell: Cell, node: ast.stmt, text: str | None, lead: str, offset: int,
                  cell_kind: str, lines: list[str]) -> None:
        line = node.lineno + offset
        col = node.col_offset
        self.seq += 1
        excerpt = (text or ast.unparse(node)).strip()
        st = Stmt(cell=cell.index, seq=self.seq, node=node, text=text, lead=lead, line=line,
                  col=col, kind="code", source_excerpt=excerpt)

        # IPython magics, shell escapes, help
        if isinstance(node, ast.Expr):
            mc = magic_call(node.value)
            if mc is not None:
                self.magic(cell, st, mc, offset)
                return
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            mc = magic_call(node.value)
            if mc is not None:
                code = "NB109" if mc[0] in ("shell", "getoutput") else "NB213"
                self.diag(code, f"value of {'shell command' if code == 'NB109' else 'magic'} "
                                f"assigned to a variable cannot be reproduced in a step",
                          cell.index, line, col, severity="error")
                return

        if cell_kind == "parameters":
            self.parameter(cell, st)
            return
        if cell_kind == "metrics":
            self.metric(cell, st)
            return

        if isinstance(node, (ast.Import, ast.ImportFrom)) or self._is_import_block(node):
            self.import_stmt(cell, st)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.definition(cell, st)
            return

        self.check_dynamic(cell, node, offset)
        kind, removed_nodes = self.classify(node, top=True)
        st.kind = kind
        if kind not in STRIP_KINDS and removed_nodes:
            kept = without(node, removed_nodes)
            st.node = kept
            st.text = None
            st.removed = [(n.lineno + offset, node_text(lines, n)) for n in removed_nodes]
        facts = statement_facts(st.node)
        if facts.has_await or facts.has_yield or facts.has_return:
            what = "await" if facts.has_await else "yield" if facts.has_yield else "return"
            self.diag("NB210", f"top-level `{what}` cannot run inside a pipeline step",
                      cell.index, line, col)
        self.apply_facts(cell, st, facts, offset)
        st.figures = self.figures_touched(cell.index, st)
        self.stmts.append(st)

    # ---- kinds ---------------------------------------------------------------------------
    def magic(self, cell: Cell, st: Stmt, mc: tuple[str, str, str], offset: int) -> None:
        kind, name, arg = mc
        if kind in ("shell",) or (kind == "line" and name in ("pip", "conda", "mamba")):
            cmd = arg.split() if kind == "shell" else [name] + arg.split()
            reqs = pip_requirements(cmd)
            if reqs is not None:
                self.requirements.extend(reqs)
                st.kind = "pip"
            else:
                st.kind = "shell"
                self.diag("NB109", f"shell command `!{arg.strip()[:60]}` removed from the step",
                          cell.index, st.line, st.col)
            self.stmts.append(st)
            return
        if kind == "line" and name in rules.KEEP_BODY_MAGICS:
            inner = parse_cell(arg)
            if inner.tree is not None and inner.error is None:
                for sub in inner.tree.body:
                    sub_text = ast.get_source_segment(inner.python, sub)
                    ast.increment_lineno(sub, st.line - 1 - offset)
                    self.statement(cell, sub, sub_text, st.lead, offset, "", [])
                return
        if kind == "line" and name in ("pinfo", "pinfo2", "psearch"):
            st.kind = "help"
        else:
            st.kind = "magic"
            if kind == "line" and (name in rules.EFFECT_MAGICS
                                   or name not in rules.SCRATCH_MAGICS):
                self.diag("NB110", f"%{name} removed from the step; its effect is lost",
                          cell.index, st.line, st.col)
        self.stmts.append(st)

    def parameter(self, cell: Cell, st: Stmt) -> None:
        node = st.node
        ok = isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
        targets = []
        if ok:
            tlist = node.targets if isinstance(node, ast.Assign) else [node.target]
            targets = [t for t in tlist if isinstance(t, ast.Name)]
            ok = len(targets) == len(tlist) and is_literal(node.value)
        if not ok:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                return  # a docstring or a stray literal
            self.diag("NB306", "parameters cells may only assign literal values: "
                               f"`{st.source_excerpt[:60]}`", cell.index, st.line, st.col)
            return
        value = ast.unparse(node.value)
        for t in targets:
            self.parameters[t.id] = (value, cell.index, st.line)
            if is_scalar_literal(node.value):
                self.immutable.add(t.id)
            self.data_bound.add(t.id)
            self.points_to[t.id] = self.fresh()
        st.kind = "param"
        st.binds = {t.id for t in targets}
        self.stmts.append(st)

    def metric(self, cell: Cell, st: Stmt) -> None:
        node = st.node
        names: list[str] = []
        if isinstance(node, ast.Expr):
            v = node.value
            if isinstance(v, ast.Name):
                names = [v.id]
            elif isinstance(v, ast.Tuple):
                names = [e.id for e in v.elts if isinstance(e, ast.Name)]
            elif (isinstance(v, ast.Call) and isinstance(v.func, ast.Name)
                  and v.func.id == "print"):
                names = [a.id for a in v.args if isinstance(a, ast.Name)]
        if not names:
            # Not a plain metric reference: keep it as code of the step.
            self.cell_kinds[cell.index] = ""
            kind, _ = self.classify(node, top=True)
            st.kind = kind
            facts = statement_facts(node)
            self.apply_facts(cell, st, facts, 0)
            self.stmts.append(st)
            return
        for n in names:
            self.metrics.append((n, cell.index, st.line))
        st.kind = "metrics"
        st.reads = names
        self.stmts.append(st)

    def _is_import_block(self, node: ast.stmt) -> bool:
        """`try: import x` / `except ImportError: x = None` blocks act as imports."""
        if not isinstance(node, ast.Try):
            return False
        body_ok = all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) for s in node.body)
        handlers_ok = all(
            all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass))
                or (isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant))
                for s in h.body) for h in node.handlers)
        return body_ok and handlers_ok and not node.orelse and not node.finalbody

    def import_stmt(self, cell: Cell, st: Stmt) -> None:
        st.kind = "import"
        node = st.node
        nodes = [node] if isinstance(node, (ast.Import, ast.ImportFrom)) else [
            s for s in ast.walk(node) if isinstance(s, (ast.Import, ast.ImportFrom))]
        block_text = None if isinstance(node, (ast.Import, ast.ImportFrom)) else (
            st.text or ast.unparse(node))
        for n in nodes:
            if isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names):
                # a star import becomes explicit imports of the names it binds; NB202 only
                # where they cannot be known (star_imports.py), or inside an import block,
                # whose text is kept whole
                star = n
                n, problem = explicit_import(n, self._star, self._names_read_anywhere())
                if n is not None and block_text is not None:
                    n, problem = None, (f"`from {star.module} import *` inside a try block: "
                                        "the block is kept as written; import names explicitly")
                if n is None:
                    self.diag("NB202", problem, cell.index, st.line, st.col)
                    continue
            for a in n.names:
                if isinstance(n, ast.Import):
                    bound = a.asname or a.name.split(".")[0]
                    qual = a.name if a.asname else a.name.split(".")[0]
                    line = f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
                    top = a.name.split(".")[0]
                else:
                    bound = a.asname or a.name
                    mod = ("." * n.level) + (n.module or "")
                    qual = f"{mod}.{a.name}" if n.module else a.name
                    line = f"from {mod} import {a.name}" + (f" as {a.asname}" if a.asname else "")
                    top = (n.module or "").split(".")[0] if n.level == 0 else ""
                if bound in self.data_bound:
                    self.diag("NB211", f"`{bound}` is assigned as data and imported here",
                              cell.index, st.line, st.col)
                self.data_bound.discard(bound)
                self.import_bound.add(bound)
                self.imports[bound] = qual
                st.import_names[bound] = block_text or line
                st.binds.add(bound)
                self.viz.discard(bound)
                self.points_to[bound] = self.fresh()
                if top and self._is_local_module(top):
                    self.local_modules.add(top)
        self.stmts.append(st)

    def _names_read_anywhere(self) -> frozenset[str]:
        if self._read_anywhere is None:
            self._read_anywhere = names_read_in(
                parse_cell(c.source).tree or ast.Module(body=[], type_ignores=[])
                for c in self.nb.cells if c.cell_type == "code")
        return self._read_anywhere

    def _is_local_module(self, top: str) -> bool:
        d = self._nb_dir
        return (d / f"{top}.py").is_file() or (d / top / "__init__.py").is_file()

    def definition(self, cell: Cell, st: Stmt) -> None:
        node = st.node
        assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        name = node.name
        is_class = isinstance(node, ast.ClassDef)
        self.check_dynamic(cell, node, 0, inside_def=True)
        for g in global_assigns(node):
            self.diag("NB206", f"`{name}` declares `global {g}`; a function moved to a module "
                               "cannot assign notebook globals", cell.index, st.line, st.col)
        # decorators, defaults and bases run at definition time, in the notebook namespace
        outer: list[ast.AST] = list(node.decorator_list)
        if is_class:
            outer += list(node.bases) + [k.value for k in node.keywords]
        else:
            outer += list(node.args.defaults) + [d for d in node.args.kw_defaults if d]
        annotations: list[ast.AST] = []
        if not is_class:
            a = node.args
            annotations = [x.annotation for x in a.posonlyargs + a.args + a.kwonlyargs
                           + [v for v in (a.vararg, a.kwarg) if v] if x.annotation]
            if node.returns is not None:
                annotations.append(node.returns)
        # names evaluated when the def runs (decorators, defaults, bases, annotations) must
        # be importable in the shared module too
        outer_names = [n.id for e in outer + annotations for n in ast.walk(e)
                       if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
        for e in outer:
            for n in ast.walk(e):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                    if (n.id not in rules.BUILTINS and not self.is_module_name(n.id)
                            and n.id not in self.current_def):
                        self.diag("NB212", f"`{name}`: default/decorator reads notebook "
                                           f"variable `{n.id}`", cell.index,
                                  n.lineno + st.line - node.lineno, n.col_offset)
        params: list[str] = []
        if not is_class:
            a = node.args
            params = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
        free = list(dict.fromkeys(free_names(node) + [
            n for n in outer_names if n not in rules.BUILTINS or n in self.data_bound]))
        local = local_names(node) - set(params)
        mutated_params, mutated_free, calls, draws = self.function_effects(
            node, set(params), local)
        prev = [d for d in self.defs if d.name == name]
        d = Definition(name=name, version=len(prev) + 1, cell=cell.index, line=st.line, node=node,
                       text=st.text, lead=st.lead, is_class=is_class, params=params,
                       free=[f for f in free if f != name or is_class], local=local,
                       mutated_params=mutated_params, mutated_free=mutated_free,
                       calls_user=calls, draws_rng=draws, seq=st.seq,
                       draws_only=self.draws_only(node, mutated_params, mutated_free, draws))
        self.defs.append(d)
        self.current_def[name] = d
        self.data_bound.discard(name)
        self.import_bound.discard(name)
        self.viz.discard(name)
        self.points_to[name] = self.fresh()
        st.kind = "class" if is_class else "def"
        st.defname = name
        st.version = d.version
        st.binds = {name}
        self.stmts.append(st)


    # ---- classification of display / plotting ------------------------------------------------


    # ---- dynamic code --------------------------------------------------------------------
    def check_dynamic(self, cell: Cell, node: ast.AST, offset: int, inside_def: bool = False) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                name = sub.func.id
                if name in ("exec", "eval", "compile") and name not in self.data_bound \
                        and name not in self.current_def:
                    self.diag("NB203", f"`{name}(...)` runs code that cannot be analyzed",
                              cell.index, sub.lineno + offset, sub.col_offset)
                elif name in ("globals", "locals") or (name == "vars" and not sub.args):
                    if name == "locals" and inside_def:
                        continue
                    self.diag("NB204", f"`{name}()` reads or writes variables by name",
                              cell.index, sub.lineno + offset, sub.col_offset)

    # ---- facts -> data flow --------------------------------------------------------------
    def apply_facts(self, cell: Cell, st: Stmt, facts: Facts, offset: int) -> None:
        """Turn one statement's syntactic facts into its dataflow: reads, writes, mutations,
        file effects and aliases, in the order each stage needs the ones before it."""
        self._alias_loop_targets(facts)
        _copy_facts(st, facts, offset)
        roots = self._written_roots(facts)
        extra_reads: list[str] = []
        for call in facts.calls:
            self.call_effects(call, st, roots, extra_reads, offset, cell)
        extra_reads += self._function_globals(st, facts)
        for r in extra_reads:
            if r not in st.reads and r not in st.binds:
                st.reads.append(r)
        self._apply_mutations(st, roots, offset)
        self._file_effects(cell, st, facts, offset)
        for target, _ in facts.loops:
            st.loop_binds |= set(names_in_target(target))
        st.loop_binds |= facts.transient  # file handles, exceptions: not final values
        for m in st.mutations:
            for a in m.affected:
                st.alias_objs[a] = self.points_to.get(a, frozenset())
        self.update_aliases(st, facts)
        self._record_bindings(cell, st)
        if st.seeds_rng:
            self.seeded = True

    def _alias_loop_targets(self, facts: Facts) -> None:
        """Loop targets alias the items they iterate over before the body mutates them:
        `for d in [train, test]: d.fillna(0, inplace=True)` mutates train and test."""
        for target, it in facts.loops:
            refs = self.items_of(it)
            for n in names_in_target(target):
                self.points_to[n] = (refs or self.fresh()) | self.points_to.get(n, frozenset())

    def _written_roots(self, facts: Facts) -> list[tuple[str, ast.AST]]:
        """The names whose objects a statement writes through (`df["x"] = ...`, `x += ...`,
        `del d[k]`): each is a mutation of that object, seen through every alias."""
        roots: list[tuple[str, ast.AST]] = []
        for t in facts.targets + facts.aug_targets + facts.del_targets:
            r = root_name(t)
            if r is not None:
                roots.append((r, t))
        # `lst += [x]` extends the list in place: every alias of it changes too (for
        # immutable values this is a plain rebinding, and aliases are none)
        for n in facts.aug_names:
            if n.id not in self.immutable and n.id in self.points_to:
                roots.append((n.id, n))
        return roots

    def _function_globals(self, st: Stmt, facts: Facts) -> list[str]:
        """Globals read by notebook functions the statement uses without calling them here
        (inside lambdas and comprehensions, or passed as `df.apply(f)`, `key=f`): they run
        in this step, so their globals are its inputs."""
        reads: list[str] = []
        for call in facts.deferred_calls:
            if isinstance(call.func, ast.Name) and call.func.id in self.current_def:
                reads.extend(sorted(self.effects(call.func.id).reads_globals))
        called = {id(c.func) for c in facts.calls + facts.deferred_calls}
        for n in facts.name_loads:
            if n.id in self.current_def and id(n) not in called:
                fx = self.effects(n.id)
                reads.extend(sorted(fx.reads_globals))
                st.draws_rng |= fx.draws_rng
        return reads

    def _apply_mutations(self, st: Stmt, roots: list[tuple[str, ast.AST]], offset: int) -> None:
        """Mutations: module roots are setup (monkeypatching); data roots are writes, and read
        too (a mutation changes a value the step must have)."""
        for r, n in roots:
            if self.is_module_name(r) or r in self.current_def:
                if st.kind == "code" and not self.is_module_name(r):
                    continue
                if st.kind == "code":
                    st.kind = "setup"
                continue
            if r not in st.reads and r not in st.binds and r not in st.maybe:
                st.reads.append(r)
            st.mutations.append(Mutation(r, self.affected(r), getattr(n, "lineno", 1) + offset,
                                         getattr(n, "col_offset", 0)))

    def _file_effects(self, cell: Cell, st: Stmt, facts: Facts, offset: int) -> None:
        """The files a statement touches, directly or through a notebook function (at paths
        unknown here), so file effects order the steps."""
        for call in facts.calls:
            self.file_refs(call, st, cell, offset)
        for name in sorted({n.id for n in facts.name_loads if n.id in self.current_def}):
            mode = self.function_file_mode(name)
            if mode:
                st.files.append(FileRef(path=None, mode=mode, cell=cell.index,
                                        line=st.line, call=name))

    def _record_bindings(self, cell: Cell, st: Stmt) -> None:
        """What the names a statement binds now hold (a figure or data), so later statements
        are judged against the latest binding; a data name over an import is NB211."""
        for name in st.binds | st.maybe:
            if st.kind in ("plot",):
                self.viz.add(name)
            else:
                self.viz.discard(name)
            self.data_bound.add(name)
            if name in self.import_bound and st.kind not in ("import",):
                self.diag("NB211", f"`{name}` is imported and assigned as data here",
                          cell.index, st.line, st.col)
                self.import_bound.discard(name)
            self.current_def.pop(name, None)

    def call_effects(self, call: ast.Call, st: Stmt, roots: list, extra_reads: list[str],
                     offset: int, cell: Cell) -> None:
        f = call.func
        for target in out_arguments(call):
            roots.append((root_name(target), target))
        q = self.qual(f)
        if q:
            if rules.matches(q, rules.SEED_CALLS) or q in rules.SEED_CALLS:
                st.seeds_rng = True
            elif self._draws(q, call):
                st.draws_rng = True
            idx = rules.ARG_MUTATORS.get(q)
            if idx is not None and call.args:
                targets = call.args if idx < 0 else call.args[idx:idx + 1]
                for a in targets:
                    r = root_name(a)
                    if r:
                        roots.append((r, a))
            return
        if isinstance(f, ast.Attribute):
            if f.attr in ("seed", "manual_seed") and isinstance(f.value, ast.Name) \
                    and self.is_module_name(f.value.id):
                st.seeds_rng = True
            r = root_name(f.value)
            if r is not None and not self.is_module_name(r) and r not in self.current_def:
                if rules.may_mutate_receiver(f.attr, has_keyword(call, "inplace", True)):
                    roots.append((r, call))
            if f.attr in rules.RANDOM_STATE_APIS and not has_keyword(call, "random_state"):
                st.draws_rng = True
            return
        if isinstance(f, ast.Name):
            name = f.id
            if name in ("set_seed", "seed_everything", "seed_all"):
                st.seeds_rng = True
            if name in self.current_def:
                fx = self.effects(name)
                d = self.current_def[name]
                st.draws_rng |= fx.draws_rng
                extra_reads.extend(sorted(fx.reads_globals))
                for m in sorted(fx.mutates_globals):
                    roots.append((m, call))
                for i, a in enumerate(call.args):
                    if i < len(d.params) and d.params[i] in fx.mutates_params:
                        r = root_name(a)
                        if r:
                            roots.append((r, a))
                for k in call.keywords:
                    if k.arg in fx.mutates_params:
                        r = root_name(k.value)
                        if r:
                            roots.append((r, k.value))


def _copy_facts(st: Stmt, facts: Facts, offset: int) -> None:
    """The statement's own reads and bindings, with read positions in notebook lines."""
    st.reads = list(facts.reads)
    st.read_pos = {n: (ln + offset, c) for n, (ln, c) in facts.read_pos.items()}
    st.binds = set(facts.binds)
    st.maybe = set(facts.maybe) - st.binds
    st.deletes = set(facts.deletes)


def analyze(nb: Notebook, skip_cells: set[int] | None = None) -> Analysis:
    return Analyzer(nb, skip_cells or set()).run()


