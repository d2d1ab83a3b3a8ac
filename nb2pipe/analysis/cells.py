"""Analyze a notebook statement by statement, in notebook order.

For every top-level statement of every code cell this finds what it reads, binds and mutates
(a mutation is a write), whether it is an import, a definition, setup state, display or
plotting code, a magic, and which files and random state it touches. The result is a flat,
ordered list of `Stmt` plus the definitions table; planning turns it into steps.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path

from nb2pipe.analysis import rules
from nb2pipe.analysis.ipysyntax import magic_call, parse_cell
from nb2pipe.analysis.names import (Facts, free_names, global_assigns, has_keyword, root_name,
                                    statement_facts)
from nb2pipe.analysis.star_imports import StarImportResolver, explicit_import, names_read_in
from nb2pipe.diagnostics import Diagnostic
from nb2pipe.notebook import Cell, Notebook

PURE_BUILTINS = frozenset({
    "len", "type", "repr", "str", "sorted", "list", "dict", "set", "tuple", "sum", "min",
    "max", "abs", "round", "isinstance", "issubclass", "id", "dir", "help", "range", "zip",
    "enumerate", "any", "all", "hash", "format", "int", "float", "bool", "hex", "oct", "bin",
    "chr", "ord", "divmod", "pow", "callable", "hasattr", "getattr", "reversed", "frozenset",
    "map", "filter", "iter", "next", "slice", "complex", "bytes", "ascii",
})
STRIP_KINDS = frozenset({"display", "plot", "magic", "shell", "pip", "skip", "cellmagic",
                         "help"})


@dataclass
class FileRef:
    path: str
    mode: str  # "read" | "write"
    cell: int
    line: int
    call: str


@dataclass
class Mutation:
    root: str
    affected: frozenset[str]
    line: int
    col: int


@dataclass
class Stmt:
    cell: int
    seq: int  # position in notebook order
    node: ast.stmt  # the statement as kept (nested stripped children removed)
    text: str | None  # exact source of the statement (None: regenerate with ast.unparse)
    lead: str  # comment lines just above the statement
    line: int  # 1-based line in the cell
    col: int
    kind: str  # code|import|def|class|setup|save|param|metrics + STRIP_KINDS
    reads: list[str] = field(default_factory=list)
    binds: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)
    deletes: set[str] = field(default_factory=set)
    mutations: list[Mutation] = field(default_factory=list)
    draws_rng: bool = False
    seeds_rng: bool = False
    files: list[FileRef] = field(default_factory=list)
    removed: list[tuple[int, str]] = field(default_factory=list)  # (line, text) stripped inside
    calls_needing_globals: bool = False
    import_names: dict[str, str] = field(default_factory=dict)  # bound name -> import line
    defname: str = ""
    version: int = 0
    source_excerpt: str = ""
    loop_binds: set[str] = field(default_factory=set)
    read_pos: dict[str, tuple[int, int]] = field(default_factory=dict)  # cell line, col
    alias_objs: dict[str, frozenset[int]] = field(default_factory=dict)

    @property
    def stripped(self) -> bool:
        return self.kind in STRIP_KINDS

    @property
    def writes(self) -> set[str]:
        out = self.binds | self.maybe | self.deletes
        for m in self.mutations:
            out |= m.affected
        return out

    @property
    def mutated(self) -> set[str]:
        out: set[str] = set()
        for m in self.mutations:
            out |= m.affected
        return out


@dataclass
class Definition:
    """A top-level function or class, one per (name, version)."""

    name: str
    version: int
    cell: int
    line: int
    node: ast.AST
    text: str | None
    lead: str
    is_class: bool
    params: list[str]
    free: list[str]
    local: set[str]
    mutated_params: set[str]
    mutated_free: set[str]
    calls_user: list[tuple[str, list[str | None], dict[str, str | None]]]
    draws_rng: bool
    seq: int
    data_globals: tuple[str, ...] = ()  # filled by planning: notebook globals it needs
    emit_name: str = ""  # name in the shared module


@dataclass
class Analysis:
    notebook: Notebook
    stmts: list[Stmt]
    definitions: list[Definition]
    imports: dict[str, str]  # name -> qualified module path (last binding)
    requirements: list[str]  # from !pip / %pip install lines
    local_modules: set[str]
    cell_kinds: dict[int, str]  # cell index -> 'parameters'|'metrics'|''
    parameters: dict[str, tuple[str, int, int]]  # name -> (python literal source, cell, line)
    metrics: list[tuple[str, int, int]]
    diagnostics: list[Diagnostic]
    seeded: bool
    stripped_cells: list[tuple[int, str, str]]  # (cell, reason, source) of whole cells removed


def _segment(lines: list[str], node: ast.AST) -> str:
    start = node.lineno
    if getattr(node, "decorator_list", None):
        start = min([start] + [d.lineno for d in node.decorator_list])
    end = node.end_lineno or node.lineno
    seg = lines[start - 1:end]
    if not seg:
        return ""
    first = seg[0].encode()[node.col_offset:].decode(errors="replace") if start == node.lineno \
        else seg[0]
    # Only take whole lines: a statement sharing a line with another (`a = 1; b = 2`) is
    # regenerated instead.
    if first.strip() != seg[0].strip():
        return ""
    if (node.end_col_offset is not None
            and seg[-1].encode()[node.end_col_offset:].decode(errors="replace").strip() not in ("", ";")
            and not seg[-1].encode()[node.end_col_offset:].decode(errors="replace").strip().startswith("#")):
        return ""
    text = "\n".join(seg)
    return text


def _lead_comments(lines: list[str], start: int, prev_end: int) -> str:
    block = lines[prev_end:start - 1]
    keep = [ln for ln in block if ln.strip().startswith("#") and "nb2pipe:" not in ln]
    return "\n".join(k.strip() for k in keep)


class Analyzer:
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
        self.pt: dict[str, frozenset[int]] = {}
        self.containers: set[str] = set()
        self.immutable: set[str] = set()  # names bound to scalar literals: never mutated
        self.next_obj = 0
        self.seq = 0
        self.cell_kinds: dict[int, str] = {}
        self.parameters: dict[str, tuple[str, int, int]] = {}
        self.metrics: list[tuple[str, int, int]] = []
        self.stripped_cells: list[tuple[int, str, str]] = []
        self.seeded = False
        self.local_modules: set[str] = set()
        self._nb_dir = nb.directory
        self._star = StarImportResolver(nb.directory)  # one per conversion: caches modules
        self._read_anywhere: frozenset[str] | None = None  # computed at the first star import

    # ---- helpers -------------------------------------------------------------------------
    def diag(self, code: str, msg: str, cell: int, line: int | None = 1, col: int | None = 0,
             severity: str = "") -> None:
        self.diags.append(Diagnostic(code, msg, path=self.nb.path, cell=cell, line=line, col=col,
                                     severity=severity))

    def fresh(self) -> frozenset[int]:
        self.next_obj += 1
        return frozenset({self.next_obj})

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
        for node in tree.body:
            start = node.lineno
            if getattr(node, "decorator_list", None):
                start = min([start] + [d.lineno for d in node.decorator_list])
            lead = _lead_comments(lines, start, prev_end)
            prev_end = node.end_lineno or node.lineno
            text = _segment(lines, node)
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
            kept = _without(node, removed_nodes)
            st.node = kept
            st.text = None
            st.removed = [(n.lineno + offset, _node_text(lines, n)) for n in removed_nodes]
        facts = statement_facts(st.node)
        if facts.has_await or facts.has_yield or facts.has_return:
            what = "await" if facts.has_await else "yield" if facts.has_yield else "return"
            self.diag("NB210", f"top-level `{what}` cannot run inside a pipeline step",
                      cell.index, line, col)
        self.apply_facts(cell, st, facts, offset)
        self.stmts.append(st)

    # ---- kinds ---------------------------------------------------------------------------
    def magic(self, cell: Cell, st: Stmt, mc: tuple[str, str, str], offset: int) -> None:
        kind, name, arg = mc
        if kind in ("shell",) or (kind == "line" and name in ("pip", "conda", "mamba")):
            cmd = arg.split() if kind == "shell" else [name] + arg.split()
            reqs = _pip_requirements(cmd)
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
            ok = len(targets) == len(tlist) and _is_literal(node.value)
        if not ok:
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                return  # a docstring or a stray literal
            self.diag("NB306", "parameters cells may only assign literal values: "
                               f"`{st.source_excerpt[:60]}`", cell.index, st.line, st.col)
            return
        value = ast.unparse(node.value)
        for t in targets:
            self.parameters[t.id] = (value, cell.index, st.line)
            if _is_scalar_literal(node.value):
                self.immutable.add(t.id)
            self.data_bound.add(t.id)
            self.pt[t.id] = self.fresh()
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
                self.pt[bound] = self.fresh()
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
        local = _local_names(node) - set(params)
        mp, mf, calls, draws = self.function_effects(node, set(params), local)
        prev = [d for d in self.defs if d.name == name]
        d = Definition(name=name, version=len(prev) + 1, cell=cell.index, line=st.line, node=node,
                       text=st.text, lead=st.lead, is_class=is_class, params=params,
                       free=[f for f in free if f != name or is_class], local=local,
                       mutated_params=mp, mutated_free=mf, calls_user=calls, draws_rng=draws,
                       seq=st.seq)
        self.defs.append(d)
        self.current_def[name] = d
        self.data_bound.discard(name)
        self.import_bound.discard(name)
        self.viz.discard(name)
        self.pt[name] = self.fresh()
        st.kind = "class" if is_class else "def"
        st.defname = name
        st.version = d.version
        st.binds = {name}
        self.stmts.append(st)

    def function_effects(self, node: ast.AST, params: set[str], local: set[str]):
        mutated_params: set[str] = set()
        mutated_free: set[str] = set()
        calls: list[tuple[str, list[str | None], dict[str, str | None]]] = []
        draws = False

        def mark(root: str | None) -> None:
            if root is None or root in ("self", "cls"):
                return
            if root in params:
                mutated_params.add(root)
            elif root not in local and not self.is_module_name(root):
                mutated_free.add(root)

        for sub in ast.walk(node):
            if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = (sub.targets if isinstance(sub, (ast.Assign, ast.Delete))
                           else [sub.target])
                for t in targets:
                    for tt in _flat_targets(t):
                        if isinstance(tt, (ast.Subscript, ast.Attribute)):
                            mark(root_name(tt))
                        elif isinstance(tt, ast.Name) and isinstance(sub, ast.AugAssign):
                            # `lst += [x]` extends a list in place: count it (ints rebind,
                            # which only costs an extra edge)
                            mark(tt.id) if tt.id in params else None
            elif isinstance(sub, ast.Call):
                f = sub.func
                if isinstance(f, ast.Attribute):
                    r = root_name(f.value)
                    if r is not None and not self.is_module_name(r):
                        if f.attr not in rules.PURE_METHODS or has_keyword(sub, "inplace", True):
                            mark(r)
                    if (not self.qual(f) and f.attr in rules.RANDOM_STATE_APIS
                            and not has_keyword(sub, "random_state")):
                        draws = True
                elif isinstance(f, ast.Name):
                    if f.id in self.current_def or (f.id not in local and f.id not in params
                                                    and f.id not in rules.BUILTINS
                                                    and not self.is_module_name(f.id)):
                        calls.append((f.id, [root_name(a) for a in sub.args],
                                      {k.arg: root_name(k.value) for k in sub.keywords if k.arg}))
                # a module function: does it draw randomness or mutate an argument?
                q = self.qual(f) if isinstance(f, (ast.Attribute, ast.Name)) else None
                if q:
                    draws |= self._draws(q, sub)
                    idx = rules.ARG_MUTATORS.get(q)
                    if idx is not None and sub.args:
                        mark(root_name(sub.args[idx if idx >= 0 else 0]))
        return mutated_params, mutated_free, calls, draws

    def _draws(self, q: str, call: ast.Call) -> bool:
        last = q.rsplit(".", 1)[-1]
        if rules.in_modules(q, ("numpy.random", "random")) and q not in ("numpy.random", "random"):
            return last not in rules.RNG_NOT_DRAWING
        if q.startswith("torch.") and last in rules.TORCH_DRAWING:
            return True
        if last in rules.RANDOM_STATE_APIS and not has_keyword(call, "random_state"):
            return True
        return False

    # ---- classification of display / plotting ------------------------------------------------
    def classify(self, node: ast.stmt, top: bool) -> tuple[str, list[ast.stmt]]:
        """Kind of a statement and, for compound ones, nested statements to remove."""
        if isinstance(node, ast.Expr):
            mc = magic_call(node.value)
            if mc is not None:
                return ("pip" if mc[1] in ("pip",) else "magic"), []
            return self.classify_expr(node.value), []
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            if top and self.is_setup(node):
                return "setup", []
            if self.is_viz_value(node.value):
                return "plot", []
            return "code", []
        if isinstance(node, ast.AugAssign):
            if top and self.is_setup(node):
                return "setup", []
            return "code", []
        bodies = _bodies(node)
        if bodies:
            removed: list[ast.stmt] = []
            kept_any = False
            kinds: list[str] = []
            for body in bodies:
                for child in body:
                    if isinstance(child, ast.Pass):
                        continue
                    k, sub_removed = self.classify(child, top=False)
                    if k in STRIP_KINDS:
                        removed.append(child)
                        kinds.append(k)
                    else:
                        kept_any = True
                        removed.extend(sub_removed)
            if removed and not kept_any and not _header_has_effect(node):
                return (kinds[0] if kinds else "display"), []
            return "code", removed
        return "code", []

    def classify_expr(self, e: ast.expr) -> str:
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return "display"  # a stray string / docstring
        calls = [n for n in ast.walk(e) if isinstance(n, ast.Call)]
        if any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr))
               for n in ast.walk(e)):
            return "code"
        if not calls:
            return "display"
        if isinstance(e, ast.Call):
            if self.is_setup_call(e):
                return "setup"
            if self.is_save_call(e):
                return "save"
            if self.is_viz_call(e):
                return "plot"
        if all(self.is_pure_call(c) for c in calls):
            if self.seeded and any(self._draws(self.qual(c.func) or "", c) for c in calls):
                return "code"
            return "display"
        return "code"

    def is_setup_call(self, call: ast.Call) -> bool:
        q = self.qual(call.func)
        if q and rules.matches(q, rules.SETUP_CALLS):
            return True
        if isinstance(call.func, ast.Name) and call.func.id in ("set_seed", "seed_everything",
                                                                 "seed_all"):
            return True
        # methods on setup roots: plt.rcParams.update(...), sys.path.append(...)
        if isinstance(call.func, ast.Attribute):
            base = self.qual(call.func.value)
            if base and rules.in_modules(base, rules.SETUP_TARGETS):
                return True
        return False

    def is_setup(self, node: ast.stmt) -> bool:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            return self.is_setup_call(node.value)
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        if not targets:
            return False
        for t in targets:
            base = t
            while isinstance(base, (ast.Subscript, ast.Attribute)):
                if isinstance(base, ast.Subscript):
                    base = base.value
                    continue
                q = self.qual(base)
                if q and rules.in_modules(q, rules.SETUP_TARGETS):
                    break
                base = base.value
            else:
                return False
            if not isinstance(t, (ast.Subscript, ast.Attribute)):
                return False
            q = self.qual(base) if isinstance(base, ast.Attribute) else None
            if not (q and rules.in_modules(q, rules.SETUP_TARGETS)):
                return False
        return True

    def _chain(self, e: ast.AST):
        """Attribute names along a call/attribute chain, and its root expression."""
        attrs: list[str] = []
        while True:
            if isinstance(e, ast.Call):
                e = e.func
            elif isinstance(e, ast.Attribute):
                attrs.append(e.attr)
                e = e.value
            elif isinstance(e, ast.Subscript):
                e = e.value
            else:
                return attrs, e

    def is_viz_call(self, call: ast.Call) -> bool:
        f = call.func
        if isinstance(f, ast.Name) and f.id == "display":
            return True
        q = self.qual(f)
        if q and rules.in_modules(q, rules.VIZ_MODULES):
            return True
        attrs, root = self._chain(call)
        if any(a in rules.VIZ_METHODS for a in attrs):
            return True
        if isinstance(root, ast.Name):
            if root.id in self.viz:
                return True
            rq = self.qual(root)
            if rq and rules.in_modules(rq, rules.VIZ_MODULES):
                return True
        return False

    def is_save_call(self, call: ast.Call) -> bool:
        f = call.func
        if not isinstance(f, ast.Attribute):
            return False
        if f.attr == "savefig":
            return True
        attrs, root = self._chain(call)
        return (f.attr in rules.SAVE_METHODS and isinstance(root, ast.Name)
                and root.id in self.viz)

    def is_viz_value(self, v: ast.expr) -> bool:
        if isinstance(v, ast.Call):
            return self.is_viz_call(v) and not self.is_save_call(v)
        if isinstance(v, (ast.Subscript, ast.Attribute)):
            r = root_name(v)
            return r is not None and r in self.viz
        if isinstance(v, ast.Tuple):
            return bool(v.elts) and all(self.is_viz_value(x) for x in v.elts)
        return False

    def is_pure_call(self, c: ast.Call) -> bool:
        f = c.func
        if has_keyword(c, "inplace", True):
            return False
        if isinstance(f, ast.Name):
            return f.id in PURE_BUILTINS or f.id == "display"
        if isinstance(f, ast.Attribute):
            if self.is_viz_call(c):
                return True
            r = root_name(f.value)
            if self.is_module_name(r):
                q = self.qual(f) or ""
                return q.split(".")[0] in ("numpy", "pandas", "math", "statistics", "scipy") \
                    and not any(x in q for x in ("save", "seed", "set_", "to_", "random"))
            return f.attr in rules.PURE_METHODS
        return False

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
        # loop targets alias the items they iterate over before the body mutates them:
        # `for d in [train, test]: d.fillna(0, inplace=True)` mutates train and test
        for target, it in facts.loops:
            _, refs = self.objs_of(it)
            for n in _names_in_target(target):
                self.pt[n] = (refs or self.fresh()) | self.pt.get(n, frozenset())
        st.reads = list(facts.reads)
        st.read_pos = {n: (ln + offset, c) for n, (ln, c) in facts.read_pos.items()}
        st.binds = set(facts.binds)
        st.maybe = set(facts.maybe) - st.binds
        st.deletes = set(facts.deletes)
        roots: list[tuple[str, ast.AST]] = []
        extra_reads: list[str] = []
        for t in facts.targets + facts.aug_targets + facts.del_targets:
            r = root_name(t)
            if r is not None:
                roots.append((r, t))
        # `lst += [x]` extends the list in place: every alias of it changes too (for
        # immutable values this is a plain rebinding, and aliases are none)
        for n in facts.aug_names:
            if n.id not in self.immutable and n.id in self.pt:
                roots.append((n.id, n))
        for call in facts.calls:
            self.call_effects(call, st, roots, extra_reads, offset, cell)
        for call in facts.deferred_calls:
            # user functions referenced inside lambdas/comprehension bodies still need globals
            if isinstance(call.func, ast.Name) and call.func.id in self.current_def:
                g, _, _, _ = self.effects(call.func.id)
                if g:
                    st.calls_needing_globals = True
                    extra_reads.extend(sorted(g))
        # user functions referenced without a call (df.apply(f), key=f)
        called = {id(c.func) for c in facts.calls + facts.deferred_calls}
        for n in facts.name_loads:
            if n.id in self.current_def and id(n) not in called:
                g, _, _, draws = self.effects(n.id)
                if g:
                    st.calls_needing_globals = True
                    extra_reads.extend(sorted(g))
                st.draws_rng |= draws
        for r in extra_reads:
            if r not in st.reads and r not in st.binds:
                st.reads.append(r)
        # mutations: module roots are setup (monkeypatching); data roots are writes
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
        # files
        for call in facts.calls:
            self.file_refs(call, st, cell, offset)
        for target, _ in facts.loops:
            st.loop_binds |= set(_names_in_target(target))
        st.loop_binds |= facts.transient  # file handles, exceptions: not final values
        for m in st.mutations:
            for a in m.affected:
                st.alias_objs[a] = self.pt.get(a, frozenset())
        self.update_aliases(st, facts)
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
        if st.seeds_rng:
            self.seeded = True

    def call_effects(self, call: ast.Call, st: Stmt, roots: list, extra_reads: list[str],
                     offset: int, cell: Cell) -> None:
        f = call.func
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
                if f.attr not in rules.PURE_METHODS or has_keyword(call, "inplace", True):
                    roots.append((r, call))
            if f.attr in rules.RANDOM_STATE_APIS and not has_keyword(call, "random_state"):
                st.draws_rng = True
            return
        if isinstance(f, ast.Name):
            name = f.id
            if name in ("set_seed", "seed_everything", "seed_all"):
                st.seeds_rng = True
            if name in self.current_def:
                g, gm, mp, draws = self.effects(name)
                d = self.current_def[name]
                st.draws_rng |= draws
                if g:
                    st.calls_needing_globals = True
                    extra_reads.extend(sorted(g))
                for m in sorted(gm):
                    roots.append((m, call))
                for i, a in enumerate(call.args):
                    if i < len(d.params) and d.params[i] in mp:
                        r = root_name(a)
                        if r:
                            roots.append((r, a))
                for k in call.keywords:
                    if k.arg in mp:
                        r = root_name(k.value)
                        if r:
                            roots.append((r, k.value))

    def effects(self, name: str, seen: frozenset[str] = frozenset()):
        """(notebook globals read, globals mutated, params mutated, draws rng) of a call."""
        d = self.current_def.get(name)
        if d is None:
            return set(), set(), set(), False
        g = {n for n in d.free if self._is_data_name(n)}
        gm = {n for n in d.mutated_free if self._is_data_name(n)}
        mp = set(d.mutated_params)
        draws = d.draws_rng
        if d.is_class:
            for n in d.free:
                if n in self.current_def and n != name and n not in seen:
                    cg, _, _, cd = self.effects(n, seen | {name})
                    g |= cg
                    draws |= cd
            return g, gm, mp, draws
        for callee, pos, kw in d.calls_user:
            if callee in seen or callee == name or callee not in self.current_def:
                continue
            cg, cgm, cmp_, cdraws = self.effects(callee, seen | {name})
            g |= cg
            gm |= cgm
            draws |= cdraws
            cd = self.current_def[callee]
            for i, r in enumerate(pos):
                if r and i < len(cd.params) and cd.params[i] in cmp_:
                    if r in d.params:
                        mp.add(r)
                    elif self._is_data_name(r) and r not in d.local:
                        gm.add(r)
            for k, r in kw.items():
                if r and k in cmp_:
                    if r in d.params:
                        mp.add(r)
                    elif self._is_data_name(r) and r not in d.local:
                        gm.add(r)
        # names of other user functions it references are not data
        for n in d.free:
            if n in self.current_def and n != name and n not in seen and n not in \
                    {c for c, _, _ in d.calls_user}:
                cg, _, _, cd = self.effects(n, seen | {name})
                g |= cg
                draws |= cd
        return g, gm, mp, draws

    def _is_data_name(self, n: str) -> bool:
        if n in rules.BUILTINS and n not in self.data_bound:
            return False
        if self.is_module_name(n) or n in self.current_def:
            return False
        return True

    def affected(self, root: str) -> frozenset[str]:
        objs = self.pt.get(root)
        if not objs:
            return frozenset({root})
        out = {root}
        for name, o in self.pt.items():
            if o & objs and not self.is_module_name(name) and name not in self.current_def:
                out.add(name)
        return frozenset(out)

    def objs_of(self, v: ast.AST | None) -> tuple[bool, frozenset[int]]:
        """(needs a fresh object, objects the value may refer to)."""
        if v is None:
            return True, frozenset()
        if isinstance(v, ast.Name):
            if v.id in self.immutable:
                return True, frozenset()  # an int or a string cannot be changed in place
            o = self.pt.get(v.id)
            return (False, o) if o else (True, frozenset())
        if isinstance(v, (ast.List, ast.Tuple, ast.Set)):
            refs: frozenset[int] = frozenset()
            for e in v.elts:
                refs |= self.objs_of(e.value if isinstance(e, ast.Starred) else e)[1]
            return True, refs
        if isinstance(v, ast.Dict):
            refs = frozenset()
            for e in v.values:
                refs |= self.objs_of(e)[1]
            return True, refs
        if isinstance(v, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            refs = frozenset()
            for g in v.generators:
                refs |= self.objs_of(g.iter)[1]
            return True, refs
        if isinstance(v, ast.IfExp):
            a, b = self.objs_of(v.body), self.objs_of(v.orelse)
            return a[0] or b[0], a[1] | b[1]
        if isinstance(v, ast.BoolOp):
            fresh, refs = False, frozenset()
            for x in v.values:
                f, r = self.objs_of(x)
                fresh |= f
                refs |= r
            return fresh, refs
        if isinstance(v, ast.Attribute):
            r = root_name(v)
            if r and r in self.pt and not self.is_module_name(r) and v.attr not in ("copy",):
                return False, self.pt[r]
            return True, frozenset()
        if isinstance(v, ast.Subscript):
            if isinstance(v.value, ast.Attribute) and v.value.attr in ("loc", "iloc", "at",
                                                                         "iat", "str", "dt"):
                return True, frozenset()
            r = root_name(v)
            if r and r in self.pt and (r in self.containers or isinstance(v.value, ast.Attribute)
                                       or isinstance(v.value, ast.Subscript)):
                return False, self.pt[r]
            return True, frozenset()
        if isinstance(v, ast.Call):
            f = v.func
            last = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) \
                else ""
            if isinstance(f, ast.Attribute) and last in ("items", "values", "keys", "__iter__"):
                r = root_name(f.value)
                if r and r in self.pt:
                    return False, self.pt[r]
            copied = self.shallow_copy_of(v)
            if copied is not None:  # a new container holding the same elements
                return True, self.pt[copied]
            if last in rules.CONTAINER_BUILDERS or (last[:1].isupper() and last not in (
                    "DataFrame", "Series", "array", "Index")):
                refs = frozenset()
                for a in list(v.args) + [k.value for k in v.keywords]:
                    refs |= self.objs_of(a.value if isinstance(a, ast.Starred) else a)[1]
                return True, refs
            return True, frozenset()
        return True, frozenset()

    def shallow_copy_of(self, v: ast.AST | None) -> str | None:
        """The container name `v` shallow-copies (`d.copy()`, `copy.copy(d)`, `list(d)` is a
        container builder already), or None. The copy is a new object whose elements are the
        original's: mutating one of them shows through both. DataFrames and arrays are not
        containers here (their `.copy()` is deep)."""
        if not (isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute)
                and v.func.attr == "copy" and isinstance(v.func.value, ast.Name)):
            return None
        owner = v.func.value.id
        if self.is_module_name(owner):  # copy.copy(d)
            arg = v.args[0] if len(v.args) == 1 else None
            r = arg.id if isinstance(arg, ast.Name) else None
        else:  # d.copy()
            r = None if v.args else owner
        return r if r in self.containers and r in self.pt else None

    def update_aliases(self, st: Stmt, facts: Facts) -> None:
        handled: set[str] = set()
        for target, value, maybe in facts.assigns:
            names = _names_in_target(target)
            fresh, refs = self.objs_of(value)
            is_container = isinstance(value, (ast.List, ast.Tuple, ast.Set, ast.Dict,
                                              ast.ListComp, ast.SetComp, ast.DictComp)) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                and value.func.id in rules.CONTAINER_BUILDERS) or (
                self.shallow_copy_of(value) is not None)
            pairs: list[tuple[str, ast.AST | None]] = []
            if (isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
                    and len(target.elts) == len(value.elts)):
                for t, v in zip(target.elts, value.elts):
                    for n in _names_in_target(t):
                        pairs.append((n, v))
            for n in names:
                if isinstance(target, ast.Name) and _is_scalar_literal(value):
                    self.immutable.add(n)
                else:
                    self.immutable.discard(n)
                if pairs:
                    v = next((vv for nn, vv in pairs if nn == n), None)
                    f2, r2 = self.objs_of(v)
                else:
                    f2, r2 = fresh, refs
                objs = (self.fresh() if f2 else frozenset()) | r2
                if maybe and n in self.pt:
                    objs |= self.pt[n]
                self.pt[n] = objs
                if is_container and isinstance(target, ast.Name):
                    self.containers.add(n)
                else:
                    self.containers.discard(n)
                handled.add(n)
        for target, _ in facts.loops:
            handled.update(_names_in_target(target))
        for n in facts.aug_names:  # in place: same object (an int gets a fresh one below)
            if n.id not in self.immutable and n.id in self.pt:
                handled.add(n.id)
        for n in (st.binds | st.maybe) - handled:
            self.pt[n] = self.fresh()
            self.immutable.discard(n)
        for n in st.deletes:
            self.pt.pop(n, None)

    def file_refs(self, call: ast.Call, st: Stmt, cell: Cell, offset: int) -> None:
        f = call.func
        q = self.qual(f) or ""
        path = None
        mode = ""
        if q and rules.matches(q, rules.READ_FUNCS) and call.args:
            path, mode = _const_path(call.args[0]), "read"
        elif q in rules.WRITE_FUNCS and len(call.args) > rules.WRITE_FUNCS[q]:
            path, mode = _const_path(call.args[rules.WRITE_FUNCS[q]]), "write"
        elif isinstance(f, ast.Attribute) and f.attr in rules.WRITE_METHODS and call.args \
                and not self.is_module_name(root_name(f.value)):
            path, mode = _const_path(call.args[0]), "write"
        elif isinstance(f, ast.Name) and f.id == "open" and call.args:
            path = _const_path(call.args[0])
            m = call.args[1] if len(call.args) > 1 else next(
                (k.value for k in call.keywords if k.arg == "mode"), None)
            mv = m.value if isinstance(m, ast.Constant) and isinstance(m.value, str) else "r"
            mode = "write" if any(c in mv for c in "wax+") else "read"
        if path:
            st.files.append(FileRef(path=path, mode=mode, cell=cell.index,
                                    line=call.lineno + offset, call=ast.unparse(f)[:40]))


# ---- small helpers ----------------------------------------------------------------------------

def _pip_requirements(cmd: list[str]) -> list[str] | None:
    """`pip install -q a b==1` -> ['a', 'b==1']; None when it is not an install."""
    words = [w for w in cmd if w]
    while words and words[0] in ("python", "python3", "-m", "sys.executable", "{sys.executable}"):
        words = words[1:]
    if len(words) < 2 or words[0] not in ("pip", "pip3", "conda", "mamba") or words[1] != "install":
        return None
    out: list[str] = []
    skip_next = False
    for w in words[2:]:
        if skip_next:
            skip_next = False
            continue
        if w in ("-r", "-c", "-e", "--index-url", "-i", "--extra-index-url", "-f", "--channel"):
            skip_next = True
            continue
        if w.startswith("-"):
            continue
        out.append(w.strip("'\""))
    return out


def _is_scalar_literal(v: ast.AST | None) -> bool:
    """A number, string, bool or None (possibly negated): immutable, never aliased."""
    if isinstance(v, ast.UnaryOp) and isinstance(v.op, (ast.USub, ast.UAdd)):
        v = v.operand
    return isinstance(v, (ast.Constant, ast.JoinedStr)) and not isinstance(
        getattr(v, "value", None), bytes) or False


def _is_literal(v: ast.AST) -> bool:
    try:
        ast.literal_eval(v)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _const_path(a: ast.AST) -> str | None:
    if isinstance(a, ast.Constant) and isinstance(a.value, str):
        return a.value
    if isinstance(a, ast.Call) and isinstance(a.func, ast.Name) and a.func.id == "Path" and a.args:
        return _const_path(a.args[0])
    if isinstance(a, ast.BinOp) and isinstance(a.op, ast.Div):
        left, right = _const_path(a.left), _const_path(a.right)
        if left and right:
            return f"{left.rstrip('/')}/{right}"
    return None


def _bodies(node: ast.stmt) -> list[list[ast.stmt]]:
    out = []
    for attr in ("body", "orelse", "finalbody"):
        b = getattr(node, attr, None)
        if isinstance(b, list) and b and isinstance(b[0], ast.stmt):
            out.append(b)
    for h in getattr(node, "handlers", []) or []:
        out.append(h.body)
    for c in getattr(node, "cases", []) or []:
        out.append(c.body)
    return out


def _header_has_effect(node: ast.stmt) -> bool:
    """Would removing the whole compound statement drop work other than its body?"""
    exprs: list[ast.AST] = []
    if isinstance(node, (ast.For, ast.AsyncFor)):
        exprs = [node.iter]
    elif isinstance(node, (ast.If, ast.While)):
        exprs = [node.test]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        exprs = [i.context_expr for i in node.items]
    for e in exprs:
        for n in ast.walk(e):
            if isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name)
                                                and n.func.id in PURE_BUILTINS):
                if isinstance(n.func, ast.Attribute) and n.func.attr in rules.PURE_METHODS:
                    continue
                if isinstance(n.func, ast.Attribute) and n.func.attr in ("subplots", "figure"):
                    continue
                return True
            if isinstance(n, ast.NamedExpr):
                return True
    return False


def _without(node: ast.stmt, removed: list[ast.stmt]) -> ast.stmt:
    ids = {id(r) for r in removed}

    class Remover(ast.NodeTransformer):
        def generic_visit(self, n):
            for attr in ("body", "orelse", "finalbody"):
                b = getattr(n, attr, None)
                if isinstance(b, list) and b and isinstance(b[0], ast.stmt):
                    nb = [x for x in b if id(x) not in ids]
                    if not nb and attr == "body":
                        nb = [ast.Pass()]
                    setattr(n, attr, nb)
            return super().generic_visit(n)

    # deep-copy with a memo so removed ids refer to the original nodes
    new = Remover().visit(_copy_keep(node, ids))
    return ast.fix_missing_locations(new)


def _copy_keep(node: ast.stmt, ids: set[int]) -> ast.stmt:
    """Copy the tree, dropping marked statements (by identity) while copying."""

    def cp(n):
        if isinstance(n, list):
            return [cp(x) for x in n if not (isinstance(x, ast.stmt) and id(x) in ids)]
        if isinstance(n, ast.AST):
            new = copy.copy(n)
            for fname, val in ast.iter_fields(n):
                setattr(new, fname, cp(val))
            for attr in ("body",):
                b = getattr(new, attr, None)
                if isinstance(b, list) and not b and isinstance(n, ast.stmt) and attr in n._fields:
                    setattr(new, attr, [ast.Pass()])
            for h in getattr(new, "handlers", []) or []:
                if not h.body:
                    h.body = [ast.Pass()]
            return new
        return n

    return cp(node)


def _node_text(lines: list[str], n: ast.AST) -> str:
    if not lines:
        return ast.unparse(n)
    seg = lines[n.lineno - 1:(n.end_lineno or n.lineno)]
    return "\n".join(seg).strip() or ast.unparse(n)


def _names_in_target(t: ast.AST) -> list[str]:
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, (ast.Tuple, ast.List)):
        out: list[str] = []
        for e in t.elts:
            out.extend(_names_in_target(e))
        return out
    if isinstance(t, ast.Starred):
        return _names_in_target(t.value)
    return []


def _flat_targets(t: ast.AST) -> list[ast.AST]:
    if isinstance(t, (ast.Tuple, ast.List)):
        out: list[ast.AST] = []
        for e in t.elts:
            out.extend(_flat_targets(e))
        return out
    if isinstance(t, ast.Starred):
        return _flat_targets(t.value)
    return [t]


def _local_names(node: ast.AST) -> set[str]:
    """Names assigned anywhere inside a def (its locals), minus `global` declarations."""
    out: set[str] = set()
    glob: set[str] = set()
    for sub in ast.walk(node):
        if sub is node:
            continue
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            out.add(sub.id)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            for a in sub.names:
                out.add(a.asname or a.name.split(".")[0])
        elif isinstance(sub, ast.Global):
            glob.update(sub.names)
        elif isinstance(sub, ast.arg):
            out.add(sub.arg)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            out.add(sub.name)
    return out - glob


def analyze(nb: Notebook, skip_cells: set[int] | None = None) -> Analysis:
    return Analyzer(nb, skip_cells or set()).run()


def notebook_dir(nb: Notebook) -> Path:
    return nb.directory
