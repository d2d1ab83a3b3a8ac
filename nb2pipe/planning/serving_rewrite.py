"""Source rewrites for the serving path (planning/serving.py decides which statements).

Two kinds:

* **instrumented** (both modes): state a request-path statement computes from data, an
  aggregate such as `df["age"].median()` or `s.quantile(q)` inside a helper, becomes
  `__nb2pipe_learned__("site", lambda: <call>)`. On the training replay the generated module
  evaluates and records it (per statement, site and occurrence); for a request it returns the
  recorded value, so a fill value or a cap is the training run's, never the request's.
  `pd.get_dummies(...)` and `.drop(...)` go through `__nb2pipe_call__`: for a request,
  get_dummies keeps every category (`drop_first` would drop whichever category a small batch
  happens to list first; the columns are aligned to the model's afterwards) and drop ignores
  columns the request does not have (the target).
* **for a request** (serve mode only): a split passes the request through to the test-side
  names, a loop over `[train, test]` iterates the request's items only, and a tuple
  assignment `X_test, y_test = test[f], test[t]` keeps the parts the request needs.
"""

from __future__ import annotations

import ast

# reductions whose value is a statistic of the data they are called on
AGGREGATE_METHODS = frozenset({
    "median", "mean", "quantile", "std", "var", "min", "max", "sum", "mode", "nunique",
    "unique", "value_counts", "count", "describe", "idxmax", "idxmin", "prod", "agg",
    "aggregate", "cov", "corr", "sem", "skew", "kurt", "kurtosis", "percentile", "nanmean",
    "nanmedian", "nanstd", "nanpercentile", "nanquantile", "average", "ptp"})
LEARNED = "__nb2pipe_learned__"
CALL = "__nb2pipe_call__"
WRAPPED_METHODS = frozenset({"drop", "get_dummies"})


class _Instrument(ast.NodeTransformer):
    def __init__(self, key: str) -> None:
        self.key = key
        self.sites = 0

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        if not isinstance(func, ast.Attribute):
            return node
        if func.attr in AGGREGATE_METHODS:
            self.sites += 1
            site = ast.Constant(f"{self.key}.{self.sites}")
            thunk = ast.Lambda(args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                                  kw_defaults=[], defaults=[]), body=node)
            return ast.Call(ast.Name(LEARNED, ast.Load()), [site, thunk], [])
        if func.attr in WRAPPED_METHODS:
            return ast.Call(ast.Name(CALL, ast.Load()),
                            [ast.Constant(func.attr), func.value, *node.args], node.keywords)
        return node


def instrumented(code: str, key: str) -> str:
    """`code` with its aggregates recorded/replayed and get_dummies/drop wrapped ("" sites:
    the code unchanged)."""
    tree = ast.parse(code)
    rewriter = _Instrument(key)
    new = rewriter.visit(tree)
    changed = rewriter.sites or CALL in ast.unparse(new)
    return ast.unparse(ast.fix_missing_locations(new)) if changed else code


def for_request(code: str, role: str, wants: set[str], request: set[str]) -> str:
    """The statement as it runs for a request."""
    tree = ast.parse(code)
    node = tree.body[0] if len(tree.body) == 1 else None
    if role == "split" and isinstance(node, ast.Assign):
        return _split_passthrough(node, wants)
    if isinstance(node, ast.For) and isinstance(node.iter, (ast.List, ast.Tuple)):
        node.iter.elts = [e for e in node.iter.elts
                          if not isinstance(e, ast.Name) or e.id in request]
        return ast.unparse(tree)
    if (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Tuple) and isinstance(node.value, ast.Tuple)
            and len(node.targets[0].elts) == len(node.value.elts)
            and all(isinstance(t, ast.Name) for t in node.targets[0].elts)):
        pairs = [(t, v) for t, v in zip(node.targets[0].elts, node.value.elts) if t.id in wants]
        return "\n".join(f"{t.id} = {ast.unparse(v)}" for t, v in pairs)
    return code


def _split_passthrough(node: ast.Assign, wants: set[str]) -> str:
    """`a_tr, a_te, b_tr, b_te = train_test_split(a, b)` -> `a_te = a` for what is wanted."""
    targets = node.targets[0].elts
    call = node.value
    lines = []
    for i, arg in enumerate(call.args):
        if 2 * i + 1 < len(targets):
            target = targets[2 * i + 1]
            if isinstance(target, ast.Name) and target.id in wants:
                lines.append(f"{target.id} = {ast.unparse(arg)}")
    return "\n".join(lines)
