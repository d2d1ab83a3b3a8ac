"""Figure state: which figure each statement draws on or reads, so that plotting is kept or
stripped in whole slices.

Display code is stripped, but a value read back from a figure (`b, t = plt.ylim()`,
`lim = ax.get_xlim()`, `lines, labels = ax.get_legend_handles_labels()`) depends on the
drawing before it: keeping the read while stripping the drawing computes another value. So
every statement gets the figures it touches, and planning (`flow._restore_needed_plots`)
keeps, with a read that kept code needs, the plotting on that figure before it.

A figure is an abstract id. It is reached two ways:

* explicitly, through the objects bound from plotting (`fig, ax = plt.subplots()`,
  `ax2 = ax.twinx()`, `g = sns.FacetGrid(...)`): a statement reading such a name touches its
  figures;
* implicitly, through pyplot's current figure: a call of a `rules.CURRENT_FIGURE_MODULES`
  function (without `ax=`), or a plotting method on data (`df.plot()`), draws on it;
  `rules.FIGURE_CREATORS` start a new one, `rules.FIGURE_ENDERS` end it, and so does the end
  of a cell (the inline backend closes every figure after a cell runs).

Inside one compound statement (a loop that draws a grid of subplots), the same rule applies
at the level of its nested statements: `keep_nested_slices`.

A mixin of `nb2pipe.analysis.cells.Analyzer`: it shares the analyzer's state (`self`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nb2pipe.analysis import rules
from nb2pipe.analysis.astutil import child_bodies, names_in_target
from nb2pipe.analysis.model import Stmt
from nb2pipe.analysis.names import has_keyword

# statement kinds that configure or define, and never draw
_NOT_DRAWING = frozenset({"setup", "import", "def", "class", "param", "metrics", "magic",
                          "shell", "pip", "help"})


@dataclass
class FigureState:
    """What the forward walk over the notebook knows about figures so far."""

    fig_of: dict[str, frozenset[int]] = field(default_factory=dict)  # name -> its figures
    current: int | None = None  # pyplot's current figure
    cell: int | None = None
    count: int = 0

    def new(self) -> int:
        self.count += 1
        return self.count


class FigureSlices:
    # ---- what one call does to pyplot's current figure -----------------------------------
    def figure_role(self, call: ast.Call) -> str:
        """'create', 'end', 'current' (draws on or reads the current figure) or ''."""
        q = self.qual(call.func)
        if q:
            if q in rules.FIGURE_CREATORS:
                return "create"
            if q in rules.FIGURE_ENDERS:
                return "end"
            if rules.matches(q, rules.FIGURE_NEUTRAL):
                return ""
            if rules.in_modules(q, rules.CURRENT_FIGURE_MODULES):
                return "" if has_keyword(call, "ax") else "current"
            return ""
        f = call.func
        if isinstance(f, ast.Name):
            d = self.current_def.get(f.id)
            return "current" if d is not None and d.draws_only else ""
        if isinstance(f, ast.Attribute) and not has_keyword(call, "ax"):
            attrs, root = self._chain(call)
            if (any(a in rules.VIZ_METHODS for a in attrs) and isinstance(root, ast.Name)
                    and root.id not in self.viz and not self.is_module_name(root.id)):
                return "current"  # `df.plot()`, `s.hist()`: pandas draws on the current axes
        return ""

    def saves_figure(self, tree: ast.AST) -> bool:
        """A cell that saves a figure keeps its plotting, nested plotting included (the
        file is the cell's output: `fig.savefig(...)` after a loop that draws the panels)."""
        return any(isinstance(c, ast.Call) and self.is_save_call(c) for c in ast.walk(tree))

    def starts_figure(self, node: ast.AST) -> bool:
        return any(isinstance(c, ast.Call) and self.figure_role(c) == "create"
                   for c in ast.walk(node))

    def only_shows(self, node: ast.AST) -> bool:
        """`plt.show()`, `fig.show()`, `display(fig)`: needed for no value."""
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            return False
        f = node.value.func
        if isinstance(f, ast.Name):
            return f.id == "display"
        return isinstance(f, ast.Attribute) and f.attr in rules.SHOW_METHODS

    # ---- top level: the figures each statement touches, in notebook order ---------------
    def figures_touched(self, cell: int, st: Stmt) -> frozenset[int]:
        fs: FigureState = self.figure_state
        if fs.cell != cell:  # the kernel closed every figure when the last cell ended
            fs.cell, fs.current = cell, None
        if st.kind in _NOT_DRAWING:
            for n in st.binds | st.maybe:
                fs.fig_of.pop(n, None)
            return frozenset()
        touched: set[int] = set()
        for n in st.reads:
            touched |= fs.fig_of.get(n, frozenset())
        calls = sorted((c for c in ast.walk(st.node) if isinstance(c, ast.Call)),
                       key=lambda c: (c.lineno, c.col_offset))
        for call in calls:
            role = self.figure_role(call)
            if role == "create":
                fs.current = fs.new()
                touched.add(fs.current)
            elif role == "current":
                if fs.current is None:
                    fs.current = fs.new()
                touched.add(fs.current)
            elif role == "end":
                fs.current = None
        if self.only_shows(st.node):  # showing changes no value anything reads
            touched.clear()
        for n in st.binds | st.maybe:
            if st.kind == "plot":  # an object of the figure, or a value read from it
                fs.fig_of[n] = frozenset(touched) or frozenset({fs.new()})
            else:
                fs.fig_of.pop(n, None)
        return frozenset(touched)

    # ---- inside one compound statement ---------------------------------------------------
    def keep_nested_slices(self, node: ast.stmt, removed: list[ast.stmt]) -> list[ast.stmt]:
        """The nested statements to strip from a kept compound statement, such that no kept
        part reads a name only a stripped part binds (`axis = ax[row][col]` then
        `axis.axis(...)` in a loop), and a value read back from a figure keeps the drawing
        before it in its block, back to where that figure starts."""
        removed = list(removed)
        while True:
            reads = _names_read_outside(node, {id(r) for r in removed})
            needed = next((r for r in removed if _names_bound(r) & reads), None)
            if needed is None:
                return removed
            removed.remove(needed)
            for drawing in self._drawing_before(node, needed):
                if drawing in removed:
                    removed.remove(drawing)

    def _drawing_before(self, node: ast.stmt, target: ast.stmt) -> list[ast.stmt]:
        """Plotting statements before `target` in its block, back to the figure's start."""
        for block in _blocks(node):
            if any(s is target for s in block):
                out: list[ast.stmt] = []
                for s in reversed(block[:next(i for i, s in enumerate(block) if s is target)]):
                    if self.only_shows(s):
                        continue
                    out.append(s)
                    if self.starts_figure(s):
                        break
                return out
        return []

    def nested_viz_names(self, child: ast.stmt) -> set[str]:
        """Names a nested plotting statement binds (`axis = ax[row][col]`): plotting objects
        for the statements after it in the same compound statement."""
        if isinstance(child, (ast.Assign, ast.AnnAssign)):
            targets = child.targets if isinstance(child, ast.Assign) else [child.target]
            return {n for t in targets for n in names_in_target(t)}
        return set()

    def loop_viz_names(self, node: ast.stmt) -> set[str]:
        """`for ax in axes.flat:` binds plotting objects for the loop body."""
        if isinstance(node, (ast.For, ast.AsyncFor)) and self.is_viz_value(node.iter):
            return set(names_in_target(node.target))
        return set()


def _blocks(node: ast.AST):
    """Every statement list inside `node`, at any depth."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.stmt):
            yield from child_bodies(sub)


def _names_bound(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _names_read_outside(node: ast.AST, skip: set[int]) -> set[str]:
    """Names loaded anywhere in `node` except inside the statements whose ids are in skip."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in skip:
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
        stack.extend(ast.iter_child_nodes(n))
    return out


def keep_needed_plots(stmts: list[Stmt]) -> None:
    """Stripping never removes what kept code needs: a cell that saves a figure keeps the
    plotting that draws it, and a plotting statement whose result kept code reads is kept,
    with the plotting before it on the figures it reads (analysis/figures.py: a value read
    back from a figure depends on the drawing). The last pass of the analysis: planning
    reads the kinds it leaves and changes nothing."""
    save_cells = {st.cell for st in stmts if st.kind == "save"}
    for st in stmts:
        if st.cell in save_cells and st.kind == "plot" and not _is_show(st):
            st.kind = "code"
    needed: set[str] = set()
    needed_figures: set[int] = set()
    for st in reversed(stmts):
        if st.kind == "plot" and ((st.binds | st.maybe) & needed or st.figures & needed_figures):
            st.kind = "code"
        if not st.stripped and st.kind not in ("import", "def", "class", "param"):
            needed = (needed - st.binds) | set(st.reads)
            needed_figures |= st.figures


def _is_show(st: Stmt) -> bool:
    return st.source_excerpt.rstrip().endswith(".show()")
