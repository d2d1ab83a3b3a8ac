"""Small pure helpers over `ast` trees and cell source lines, shared by the analyzer."""

from __future__ import annotations

import ast
import copy

from nb2pipe.analysis import rules


def segment(lines: list[str], node: ast.AST) -> str:
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


def lead_comments(lines: list[str], start: int, prev_end: int) -> str:
    block = lines[prev_end:start - 1]
    keep = [ln for ln in block if ln.strip().startswith("#") and "nb2pipe:" not in ln]
    return "\n".join(k.strip() for k in keep)


def pip_requirements(cmd: list[str]) -> list[str] | None:
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


def is_scalar_literal(v: ast.AST | None) -> bool:
    """A number, string, bool or None (possibly negated): immutable, never aliased."""
    if isinstance(v, ast.UnaryOp) and isinstance(v.op, (ast.USub, ast.UAdd)):
        v = v.operand
    return isinstance(v, (ast.Constant, ast.JoinedStr)) and not isinstance(
        getattr(v, "value", None), bytes) or False


def is_literal(v: ast.AST) -> bool:
    try:
        ast.literal_eval(v)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def const_path(a: ast.AST) -> str | None:
    if isinstance(a, ast.Constant) and isinstance(a.value, str):
        return a.value
    if isinstance(a, ast.Call) and isinstance(a.func, ast.Name) and a.func.id == "Path" and a.args:
        return const_path(a.args[0])
    if isinstance(a, ast.BinOp) and isinstance(a.op, ast.Div):
        left, right = const_path(a.left), const_path(a.right)
        if left and right:
            return f"{left.rstrip('/')}/{right}"
    return None


def child_bodies(node: ast.stmt) -> list[list[ast.stmt]]:
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


def header_has_effect(node: ast.stmt) -> bool:
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
                                                and n.func.id in rules.PURE_BUILTINS):
                if isinstance(n.func, ast.Attribute) and n.func.attr in rules.PURE_METHODS:
                    continue
                if isinstance(n.func, ast.Attribute) and n.func.attr in ("subplots", "figure"):
                    continue
                return True
            if isinstance(n, ast.NamedExpr):
                return True
    return False


def without(node: ast.stmt, removed: list[ast.stmt]) -> ast.stmt:
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
    new = Remover().visit(copy_keep(node, ids))
    return ast.fix_missing_locations(new)


def copy_keep(node: ast.stmt, ids: set[int]) -> ast.stmt:
    """Copy the tree, dropping marked statements (by identity) while copying."""

    def cp(n):
        if isinstance(n, list):
            return [cp(x) for x in n if not (isinstance(x, ast.stmt) and id(x) in ids)]
        if isinstance(n, ast.AST):
            new = copy.copy(n)
            for fname, val in ast.iter_fields(n):
                setattr(new, fname, cp(val))
            # a block left empty needs `pass` to compile: a statement's body, an `except`
            # handler's, a `case` clause's
            if (isinstance(n, (ast.stmt, ast.ExceptHandler, ast.match_case))
                    and "body" in n._fields and not new.body):
                new.body = [ast.Pass()]
            return new
        return n

    return cp(node)


def node_text(lines: list[str], n: ast.AST) -> str:
    if not lines:
        return ast.unparse(n)
    seg = lines[n.lineno - 1:(n.end_lineno or n.lineno)]
    return "\n".join(seg).strip() or ast.unparse(n)


def names_in_target(t: ast.AST) -> list[str]:
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, (ast.Tuple, ast.List)):
        out: list[str] = []
        for e in t.elts:
            out.extend(names_in_target(e))
        return out
    if isinstance(t, ast.Starred):
        return names_in_target(t.value)
    return []


def flat_targets(t: ast.AST) -> list[ast.AST]:
    if isinstance(t, (ast.Tuple, ast.List)):
        out: list[ast.AST] = []
        for e in t.elts:
            out.extend(flat_targets(e))
        return out
    if isinstance(t, ast.Starred):
        return flat_targets(t.value)
    return [t]


def local_names(node: ast.AST) -> set[str]:
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


def names_bound_in_cells(nb) -> frozenset[str]:
    """Every name any code cell of the notebook binds, at any depth, stripped code included:
    a name outside this set is one the notebook itself never assigns."""
    from nb2pipe.analysis.ipysyntax import parse_cell

    bound: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = parse_cell(cell.source).tree
        for n in ast.walk(tree) if tree is not None else ():
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                bound.add(n.id)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(n.name)
            elif isinstance(n, ast.alias):
                bound.add((n.asname or n.name).split(".")[0])
            elif isinstance(n, ast.ExceptHandler) and n.name:
                bound.add(n.name)
            elif isinstance(n, ast.arg):
                bound.add(n.arg)
            elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
                bound.add(n.name)
            elif isinstance(n, ast.MatchMapping) and n.rest:
                bound.add(n.rest)
    return frozenset(bound)
