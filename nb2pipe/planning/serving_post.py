"""Post-processing on the serving path: what the notebook does with the model's answer.

A service must answer as the notebook does: `labels = np.where(pred > 0.5, "yes", "no")`,
`price = np.expm1(pred)`, `le.inverse_transform(pred)`. Forward from the prediction
statement, a statement that reads the prediction (or a value made from it) is
**post-processing** and runs for a request, unless it is evaluation or has no per-row value:

* it reads the target (the `y` a model is fitted with, its split halves and values made from
  them) or calls a metric (`sklearn.metrics`, `*_score`, `*_error`): evaluation;
* it assigns nothing (a print, a loop), writes a file, summarizes the predictions
  (`pred.mean()`), changes a value the prediction does not make (`test["p"] = pred`), or reads
  a name set after the prediction: kept out, with the reason.

The answer is the one value the included statements end in. When they end in several values
(`labels` and `score`), the raw prediction is served and `ServingPlan.post_note` says why: an
ambiguity is reported, not guessed. The proof (validation/serving_proof.py) then compares the
served value with the notebook's own value of that name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nb2pipe.analysis.model import Analysis, Stmt
from nb2pipe.planning.model import ServingStmt
from nb2pipe.planning.serving_rewrite import AGGREGATE_METHODS

METRIC_MODULES = ("sklearn.metrics",)
METRIC_SUFFIXES = ("_score", "_error", "_loss")
METRIC_NAMES = frozenset({"confusion_matrix", "classification_report", "roc_curve",
                          "precision_recall_curve", "precision_recall_fscore_support"})
# builtins and numpy functions that reduce an array to a summary
SUMMARY_FUNCS = frozenset({"len", "sum", "max", "min", "sorted", "set", "Counter"}
                          | AGGREGATE_METHODS)
ASSIGNS = (ast.Assign, ast.AugAssign, ast.AnnAssign)


@dataclass(frozen=True)
class PostPath:
    """The statements after the prediction (included or not, with reasons), the name whose
    value answers a request ("" = the prediction), the names they read from before the
    prediction, and why the raw prediction is served when statements consume it."""

    stmts: tuple[ServingStmt, ...]
    output: str
    reads: tuple[str, ...]
    note: str = ""


def target_names(an: Analysis) -> set[str]:
    """The names holding the target: the `y` of every `fit(X, y)`, the halves a split makes
    of it, and values bound from them (forward, in notebook order)."""
    kept = [st for st in an.stmts if not st.stripped]
    targets: set[str] = set()
    for st in kept:
        for call in _calls(st.node):
            if isinstance(call.func, ast.Attribute) and call.func.attr.startswith("fit"):
                y = call.args[1] if len(call.args) > 1 else next(
                    (k.value for k in call.keywords if k.arg == "y"), None)
                if isinstance(y, ast.Name):
                    targets.add(y.id)
    for _ in range(2):  # a split before the fit: its halves and its argument
        for st in kept:
            for arg, train, test in _split_pairs(st):
                if {arg, train, test} & targets:
                    targets |= {n for n in (arg, train, test) if n}
    for st in kept:  # a split's other halves are features, not the target
        if set(st.reads) & targets and not _split_pairs(st):
            targets |= st.binds
    return targets


def _split_pairs(st: Stmt) -> list[tuple[str, str, str]]:
    node = st.node
    if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple)
            and isinstance(node.value, ast.Call)):
        return []
    names = [t.id if isinstance(t, ast.Name) else "" for t in node.targets[0].elts]
    args = [a.id if isinstance(a, ast.Name) else "" for a in node.value.args]
    if len(names) != 2 * len(args):
        return []
    return [(a, names[2 * i], names[2 * i + 1]) for i, a in enumerate(args)]


def _calls(node: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)]


def _dotted(func: ast.expr) -> str:
    """`np.mean` -> "np.mean"; "" for anything but a dotted name."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        inner = _dotted(func.value)
        return f"{inner}.{func.attr}" if inner else ""
    return ""


def _metric_call(st: Stmt, an: Analysis) -> str:
    """The metric function the statement calls ("" when none)."""
    for call in _calls(st.node):
        dotted = _dotted(call.func)
        last = dotted.rsplit(".", 1)[-1] if dotted else ""
        qual = an.imports.get(dotted.split(".")[0], "") if dotted else ""
        if (qual.startswith(METRIC_MODULES) or last in METRIC_NAMES
                or last.endswith(METRIC_SUFFIXES)):
            return last
    return ""


def _summary_call(st: Stmt, derived: set[str]) -> str:
    """A call that reduces a value made from the prediction to a summary ("" when none)."""
    for call in _calls(st.node):
        dotted = _dotted(call.func)
        last = dotted.rsplit(".", 1)[-1] if dotted else ""
        if last not in SUMMARY_FUNCS:
            continue
        mentioned = {n.id for n in ast.walk(call) if isinstance(n, ast.Name)}
        if mentioned & derived:
            return last
    return ""


def exclusion(st: Stmt, derived: set[str], targets: set[str], late: set[str],
              an: Analysis) -> str:
    """Why a statement that reads the prediction is not post-processing ("" when it is)."""
    reads = set(st.reads)
    if reads & targets:
        return f"reads the target ({', '.join(sorted(reads & targets))}): evaluation"
    metric = _metric_call(st, an)
    if metric:
        return f"calls {metric}: evaluation"
    if st.kind != "code" or not isinstance(st.node, ASSIGNS):
        return "assigns no value for a request (a print, a loop, a display)"
    if any(f.mode == "write" for f in st.files):
        return "writes a file"
    summary = _summary_call(st, derived)
    if summary:
        return f"summarizes the predictions ({summary}): not one answer per row"
    foreign = st.mutated - derived - st.binds
    if foreign:
        return f"changes {', '.join(sorted(foreign))}, which the prediction does not make"
    if (reads - derived) & late:
        return f"reads {', '.join(sorted((reads - derived) & late))}, set after the prediction"
    return ""


def _post_stmt(st: Stmt, role: str, reason: str, code: str) -> ServingStmt:
    return ServingStmt(key=f"s{st.seq}", cell=st.cell, line=st.line, role=role,
                       reason=reason, code=code, serve=role in ("predict", "post"))


def derive_post(an: Analysis, predict: Stmt, prediction: str, source,
                targets: set[str]) -> PostPath:
    """The post-processing of `prediction` (bound by `predict`); `source(st)` gives a
    statement's code, `targets` the target's names (`target_names`)."""
    derived = {prediction}
    late: set[str] = set()
    out = [_post_stmt(predict, "predict", "the model's answer", source(predict))]
    included: list[Stmt] = []
    for st in (s for s in an.stmts if not s.stripped and s.seq > predict.seq):
        if not set(st.reads) & derived:
            derived -= st.binds  # rebound: the name holds something else from here
            late |= st.writes
            continue
        why = exclusion(st, derived, targets, late, an)
        if why:
            late |= st.writes
            out.append(_post_stmt(st, "excluded", why, source(st)))
            continue
        derived |= st.binds
        included.append(st)
        out.append(_post_stmt(st, "post", "post-processes the prediction", source(st)))
    return _settle(out, included, prediction, predict)


def _settle(out: list[ServingStmt], included: list[Stmt], prediction: str,
            predict: Stmt) -> PostPath:
    """Pick the answer: the one value the included statements end in (bound and not read
    by a later one; `pred = np.clip(pred, 0, None)` ends in its own name)."""
    live = {prediction}
    for st in included:
        live = (live - set(st.reads)) | st.binds
    leaves = sorted(live)
    pre = set(predict.reads)
    if not included:
        return PostPath(tuple(out), "", tuple(sorted(pre)))
    if len(leaves) != 1:
        note = (f"the prediction feeds several values ({', '.join(leaves)}): the raw "
                f"prediction {prediction} is served" if leaves else
                "the post-processing ends in no value: the raw prediction is served")
        return PostPath(tuple(_demote(st, note) for st in out), "", tuple(sorted(pre)), note)
    made = {prediction} | {n for st in included for n in st.binds}
    reads = pre | ({n for st in included for n in st.reads} - made)
    return PostPath(tuple(out), leaves[0], tuple(sorted(reads)))


def _demote(st: ServingStmt, note: str) -> ServingStmt:
    if st.role != "post":
        return st
    return ServingStmt(key=st.key, cell=st.cell, line=st.line, role="excluded",
                       reason=f"ambiguous: {note}", code=st.code, serve=False)
