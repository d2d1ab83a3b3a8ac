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
    from IPython.core.inputtransformer2 import TransformerManager  # lazy: ~0.3 s import

    return TransformerManager()


def _ipython_to_python(source: str) -> str:
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


def _parse(text: str) -> tuple[ast.Module | None, tuple[str, int, int] | None]:
    try:
        tree = ast.parse(text)
        # only long cells can nest deep enough to matter (the parser caps brackets at 200)
        if len(text) > 1000 and not _compiles_in_plain_python(tree):
            return None, ("cannot parse: code is nested too deeply for Python to compile", 1, 0)
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
        transformed = _ipython_to_python(text)
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
    if name in ("time", "capture"):  # run once in the user namespace: keep the body
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
