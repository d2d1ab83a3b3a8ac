"""The statement model: what the analyzer finds for each top-level statement and definition.

The analyzer fills these in notebook order; planning reads them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Literal

from nb2pipe.diagnostics import Diagnostic
from nb2pipe.notebook import Notebook

# What a statement is; the last nine never reach a step module (display, scratch, shell, ...).
StmtKind = Literal["code", "import", "def", "class", "setup", "save", "param", "metrics",
                   "display", "plot", "magic", "shell", "pip", "skip", "cellmagic", "help",
                   "dead"]
STRIP_KINDS: frozenset[StmtKind] = frozenset({"display", "plot", "magic", "shell", "pip", "skip",
                                              "cellmagic", "help", "dead"})
# Why a statement of each kind was stripped, where the kind alone does not say it.
STRIP_REASONS = {"dead": "overwritten before use"}


@dataclass
class FileRef:
    path: str | None  # None: computed, not known before the code runs
    mode: str  # read | stat | write | mkdir | delete (analysis/rules.py: FS_FUNCS)
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
    kind: StmtKind
    reads: list[str] = field(default_factory=list)
    binds: set[str] = field(default_factory=set)
    maybe: set[str] = field(default_factory=set)
    deletes: set[str] = field(default_factory=set)
    mutations: list[Mutation] = field(default_factory=list)
    draws_rng: bool = False
    seeds_rng: bool = False
    files: list[FileRef] = field(default_factory=list)
    removed: list[tuple[int, str]] = field(default_factory=list)  # (line, text) stripped inside
    import_names: dict[str, str] = field(default_factory=dict)  # bound name -> import line
    defname: str = ""
    version: int = 0
    source_excerpt: str = ""
    loop_binds: set[str] = field(default_factory=set)
    read_pos: dict[str, tuple[int, int]] = field(default_factory=dict)  # cell line, col
    alias_objs: dict[str, frozenset[int]] = field(default_factory=dict)
    figures: frozenset[int] = frozenset()  # figures it draws on or reads (figures.py)

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
    draws_only: bool = False  # a function whose calls only plot or display (summaries.py)
    data_globals: tuple[str, ...] = ()  # notebook globals it needs (analysis/shared.py)
    emit_name: str = ""  # name in the shared module (analysis/shared.py)


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
