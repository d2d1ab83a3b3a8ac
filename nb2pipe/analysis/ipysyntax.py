"""Turn a cell's IPython source into Python that the stdlib `ast` can parse.

Plain Python parses directly (the fast path: no IPython import). Cells with magics, shell
escapes or help syntax go through IPython's own input transformer (``TransformerManager``),
so IPython syntax is understood the way IPython understands it, never regexed. The result
calls ``get_ipython().run_line_magic(...)``, ``.system(...)`` or ``.run_cell_magic(...)``,
which the analyzer recognises in the tree.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache

from nb2pipe.analysis import rules


@dataclass(frozen=True)
class CellMagic:
    name: str
    line: str
    body: str


@dataclass(frozen=True)
class ParsedCell:
    python: str  # the text the tree was parsed from (transformed if needed)
    tree: ast.Module | None
    line_offset: int = 0  # add to tree line numbers to get the cell's line
    cell_magic: CellMagic | None = None  # a cell magic whose body is not Python we keep
    error: tuple[str, int, int] | None = None  # (message, line, col) if unparseable


@lru_cache(maxsize=1)
def _transformer():
    # lazy, and without importing all of IPython (nb2pipe/analysis/ipyload.py)
    from nb2pipe.analysis.ipyload import transformer_manager_class

    return transformer_manager_class()()


def ipython_to_python(source: str) -> str:
    return _transformer().transform_cell(source)


PYTHON_DEFAULT_RECURSION_LIMIT = 1000


def _compiles_in_plain_python(tree: ast.Module) -> bool:
    """nb2pipe raises its own recursion limit for its tree walks; code that a kernel with the
    default limit cannot compile (a 3,000-term sum) must still be refused, as in Jupyter."""
    import sys

    old = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(min(old, PYTHON_DEFAULT_RECURSION_LIMIT))
        compile(tree, "<cell>", "exec", dont_inherit=True)
        return True
    except RecursionError:
        return False
    except (SyntaxError, ValueError):
        return True  # reported elsewhere (or IPython syntax transformed later)
    finally:
        sys.setrecursionlimit(old)


# CPython's tokenizer keeps at most 100 indentation levels, the module's own included
# (MAXINDENT, the same in 3.10 to 3.13), so code can nest 99 blocks deep. Generated code puts
# every cell one block deeper than the notebook does: a step's code goes inside
# `def <step>(...)` and setup code inside `def setup_<step>()` (functions and classes keep
# their depth in common.py; one extra level for any cell is the rule that is always safe).
PYTHON_MAX_BLOCK_DEPTH = 99
GENERATED_EXTRA_DEPTH = 1
MAX_CELL_BLOCK_DEPTH = PYTHON_MAX_BLOCK_DEPTH - GENERATED_EXTRA_DEPTH


def _may_nest_too_deep(text: str) -> bool:
    """False when no statement can be more than MAX_CELL_BLOCK_DEPTH blocks deep: the cheap
    test that spares almost every cell the tree walk.

    Each indented block indents by at least one more character than the block around it (a
    tab counts as one character here: Python's tab-consistency check counts it as one column),
    and only the innermost block can be a one-line suite (`if x: y`), so a statement d blocks
    deep is on a line with at least d - 1 leading whitespace characters."""
    need = MAX_CELL_BLOCK_DEPTH  # a statement MAX_CELL_BLOCK_DEPTH + 1 blocks deep
    return any(len(ln) - len(ln.lstrip(" \t\f")) >= need for ln in text.splitlines())


def _too_deep_for_generated_code(tree: ast.Module) -> tuple[str, int, int] | None:
    """The first statement more than MAX_CELL_BLOCK_DEPTH blocks deep, as a parse error.

    Depth is counted the way generated code lays the statement out: every block is a level,
    one-line suites included (ast.unparse and black put them on lines of their own), an
    `elif` is not; a `match` adds two (its `case` and the case's body)."""
    worst: tuple[int, int, int] | None = None  # (line, col, depth)
    todo: list[tuple[list[ast.stmt], int]] = [(tree.body, 0)]
    while todo:
        body, depth = todo.pop()
        for st in body:
            if depth > MAX_CELL_BLOCK_DEPTH:
                if worst is None or (st.lineno, st.col_offset) < worst[:2]:
                    worst = (st.lineno, st.col_offset, depth)
                continue
            for field in ("body", "orelse", "finalbody"):
                inner = getattr(st, field, None)
                if not isinstance(inner, list) or not inner:
                    continue
                is_elif = (field == "orelse" and isinstance(st, ast.If) and len(inner) == 1
                           and isinstance(inner[0], ast.If)
                           and inner[0].col_offset == st.col_offset)
                todo.append((inner, depth if is_elif else depth + 1))
            for handler in getattr(st, "handlers", ()):  # try / try*: `except` bodies
                todo.append((handler.body, depth + 1))
            for case in getattr(st, "cases", ()):  # match: `case` bodies
                todo.append((case.body, depth + 2))
    if worst is None:
        return None
    line, col, depth = worst
    return (f"code nested {depth} blocks deep cannot be converted: the generated code puts "
            f"every cell inside a function, one block deeper, and Python allows at most "
            f"{PYTHON_MAX_BLOCK_DEPTH} levels of indentation; move the innermost blocks into "
            "a function in a helper module next to the notebook and import it", line, col)


def _parse(text: str) -> tuple[ast.Module | None, tuple[str, int, int] | None]:
    try:
        tree = ast.parse(text)
        # only long cells can nest deep enough to matter (the parser caps brackets at 200)
        if len(text) > 1000 and not _compiles_in_plain_python(tree):
            return None, ("cannot parse: code is nested too deeply for Python to compile", 1, 0)
        too_deep = _too_deep_for_generated_code(tree) if _may_nest_too_deep(text) else None
        if too_deep is not None:
            return None, too_deep
        return tree, None
    except SyntaxError as exc:
        return None, (exc.msg or "invalid syntax", exc.lineno or 1, max((exc.offset or 1) - 1, 0))
    except (ValueError, RecursionError, MemoryError) as exc:
        # null bytes, or nesting deeper than the parser allows
        return None, (f"cannot parse: {type(exc).__name__}: {exc}"[:200], 1, 0)


def _cell_magic_call(tree: ast.Module) -> tuple[str, str, str] | None:
    """If the tree is one `get_ipython().run_cell_magic(name, line, body)` call, return it."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return None
    call = tree.body[0].value
    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr == "run_cell_magic" and len(call.args) == 3
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)):
        name, line, body = (a.value for a in call.args)  # type: ignore[union-attr]
        return name, line, body
    return None


def parse_cell(source: str) -> ParsedCell:
    text = source
    stripped = text.lstrip()
    if not stripped:
        return ParsedCell(python="", tree=ast.Module(body=[], type_ignores=[]))
    if not stripped.startswith("%%"):
        tree, err = _parse(text)
        if tree is not None:
            return ParsedCell(python=text, tree=tree)
    else:
        err = None
    try:
        transformed = ipython_to_python(text)
    except Exception as exc:  # IPython's transformer can raise on odd input
        return ParsedCell(python=text, tree=None, error=(f"cannot read IPython syntax: {exc}", 1, 0))
    tree, err2 = _parse(transformed)
    if tree is None:
        # IPython's transformer keeps line numbers, so when it changed the text (magics,
        # shell escapes) its error location is right; for plain Python, the original's is.
        use = err2 if transformed != text or err is None else err
        return ParsedCell(python=text, tree=None, error=use)
    magic = _cell_magic_call(tree)
    if magic is None:
        return ParsedCell(python=transformed, tree=tree)
    name, line, body = magic
    lead = len(text) - len(stripped)
    offset = text[:lead].count("\n") + 1
    if name in rules.KEEP_BODY_CELL_MAGICS:  # run once in the user namespace: keep the body
        inner = parse_cell(body)
        return ParsedCell(python=inner.python, tree=inner.tree,
                          line_offset=inner.line_offset + offset,
                          cell_magic=inner.cell_magic, error=_shift(inner.error, offset))
    return ParsedCell(python=transformed, tree=ast.Module(body=[], type_ignores=[]),
                      cell_magic=CellMagic(name, line, body))


def _shift(err, offset):
    if err is None:
        return None
    return (err[0], err[1] + offset, err[2])


def magic_call(node: ast.AST) -> tuple[str, str, str] | None:
    """Recognise a transformed magic: returns (kind, name, argument).

    kind is 'line' (``%name arg``), 'shell' (``!cmd``, name ''), or 'getoutput' (``x = !cmd``).
    """
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    owner = node.func.value
    if not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
            and owner.func.id == "get_ipython"):
        return None
    args = [a.value for a in node.args if isinstance(a, ast.Constant)]
    attr = node.func.attr
    if attr == "run_line_magic" and len(args) >= 2:
        return "line", str(args[0]), str(args[1])
    if attr == "system" and args:
        return "shell", "", str(args[0])
    if attr == "getoutput" and args:
        return "getoutput", "", str(args[0])
    if attr == "run_cell_magic" and len(args) >= 3:
        return "cell", str(args[0]), str(args[2])
    return "other", attr, ""
