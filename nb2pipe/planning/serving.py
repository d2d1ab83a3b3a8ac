"""The serving path: which of the notebook's statements turn raw rows into the model's input.

Derived from the analysis, never guessed (issue 16, item 1):

* the **prediction** is the last kept statement `P = M.predict(A)` (or `predict_proba`) with
  `A` a plain name, also inside an expression that is not evaluation
  (`P = np.expm1(M.predict(A))`); cells tagged `serve:model` narrow the search to themselves;
  what the notebook does with `P` afterwards is post-processing (planning/serving_post.py);
* the **raw frame** `D` is the value a statement binds from a data file it reads, in the
  backward slice of `A`: a request's rows take its place;
* forward from `D`, the **request-derived names** R: a split (`train_test_split`) passes the
  request through to its test-side targets, train-side targets are training-only; a
  statement that reads an R name is on the request path unless it drops rows (a filter,
  `dropna`, `drop_duplicates`, `query`, ...: training-only) or fits (that cannot be served: the
  path is refused); statements that read no R name are training-only, and the names they
  bind that the request path reads are **learned**: their values come from the training
  replay, as they were when the request-path statement ran in the notebook.

What this module decides is only the shape; the generated `serving.py` replays the slice on
the training data ("learn") and runs the request path on new rows ("serve"), and the proof
(nb2pipe/validation/serving_proof.py) compares it with the notebook's predictions before
the module is emitted.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nb2pipe.analysis import rules
from nb2pipe.analysis.model import Analysis, Stmt
from nb2pipe.diagnostics import Diagnostic
from nb2pipe.planning import serving_post as post
from nb2pipe.planning import serving_rewrite as rewrite
from nb2pipe.planning.model import ServingPlan, ServingStmt

PREDICT_METHODS = ("predict", "predict_proba")
SPLIT_FUNCS = {"train_test_split"}
FIT_METHODS = {"fit", "fit_transform", "partial_fit", "fit_predict", "fit_resample"}
# methods that keep a subset of the rows: training-only on the request path
ROW_FILTER_METHODS = {"dropna", "drop_duplicates", "query", "sample", "head", "tail", "nlargest",
                      "nsmallest"}
# a subscript whose index is one of these selects rows by a condition (`df[df.age > 0]`)
_MASK_NODES = (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp)
_MASK_METHODS = {"isin", "notna", "notnull", "isna", "isnull", "between", "duplicated"}
TAG_STEER = ("tag the cell of a statement that new rows must go through `serve:include`, "
             "a cell that only training needs `serve:skip`, and the cell of the prediction "
             "`serve:model`")


@dataclass
class _Prediction:
    stmt: Stmt
    model: str
    input: str
    method: str


def derive(an: Analysis) -> tuple[ServingPlan | None, list[Diagnostic]]:
    """The serving path of the notebook (None when there is no prediction to serve, or when
    it cannot be derived: then an NB311 note says which statement stands in the way)."""
    nb = an.notebook
    tags = {c.index: c.tags for c in nb.cells}
    kept = [st for st in an.stmts if not st.stripped]
    targets = post.target_names(an)
    pred = _find_prediction(kept, tags, an, targets)
    if pred is None:
        return None, []

    def refuse(msg: str, st: Stmt | None = None) -> tuple[None, list[Diagnostic]]:
        where = st or pred.stmt
        return None, [Diagnostic("NB311", f"no serving path for {pred.model}.{pred.method}"
                                          f"({pred.input}): {msg}; {TAG_STEER}",
                                 path=nb.name, cell=where.cell, line=where.line, col=where.col)]

    before = [st for st in kept if st.seq < pred.stmt.seq]
    after = post.derive_post(an, pred.stmt, _target_name(pred.stmt), _source, targets)
    post_reads = set(after.reads) - {pred.input, pred.model}
    learn = _backward(before, {pred.input, pred.model} | post_reads, an)
    reads = [st for st in _backward(before, {pred.input}, an)
             if any(f.mode == "read" and f.path for f in st.files) and len(st.binds) == 1]
    if len(reads) != 1:
        return refuse("the model's input does not come from exactly one data file read into "
                      f"one name ({len(reads)} such reads)")
    read = reads[0]
    roles = _classify(learn, read, tags)
    serve_keys = _serve_slice(learn, roles, pred.input)
    for st in learn:
        if st.seq in serve_keys and roles[st.seq][0] == "fit":
            return refuse(f"`{_source(st).strip()}` {roles[st.seq][1]}; a service cannot fit "
                          "on the rows it is asked about", st)
    stmts = _serving_stmts(learn, roles, serve_keys, an, pred.model)
    learned = sorted({n for s in stmts for n in s.learned})
    return ServingPlan(
        model=pred.model, prediction=_target_name(pred.stmt), method=pred.method,
        input=pred.input, frame=next(iter(read.binds)),
        data_file=next(f.path for f in read.files if f.mode == "read" and f.path),
        statements=tuple(stmts), learned=tuple(learned),
        predict_cell=pred.stmt.cell, predict_line=pred.stmt.line, post=after.stmts,
        output=after.output, post_reads=tuple(sorted(post_reads)), post_note=after.note), []


def derive_safely(an: Analysis) -> tuple[ServingPlan | None, list[Diagnostic]]:
    """`derive`, for conversion: serving is an extra, so code it does not foresee gets no
    serving path and a note, and the pipeline is converted as before."""
    try:
        return derive(an)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, SyntaxError,
            AssertionError, RecursionError) as exc:
        return None, [Diagnostic("NB311", f"no serving path: it could not be derived "
                                          f"({type(exc).__name__}: {exc}); {TAG_STEER}",
                                 path=an.notebook.name)]


def _target_name(st: Stmt) -> str:
    node = st.node
    assert isinstance(node, ast.Assign)
    target = node.targets[0]
    assert isinstance(target, ast.Name)
    return target.id


def _predict_call(node: ast.expr) -> ast.Call | None:
    """The one `M.predict(A)` / `M.predict_proba(A)` call in an expression (None: none or
    several)."""
    found = [c for c in ast.walk(node) if isinstance(c, ast.Call)
             and isinstance(c.func, ast.Attribute) and c.func.attr in PREDICT_METHODS
             and isinstance(c.func.value, ast.Name) and len(c.args) == 1
             and not c.keywords and isinstance(c.args[0], ast.Name)]
    return found[0] if len(found) == 1 else None


def _find_prediction(kept: list[Stmt], tags: dict[int, tuple[str, ...]], an: Analysis,
                     targets: set[str]) -> _Prediction | None:
    """The last `P = M.predict(A)`, also inside an expression (`np.expm1(M.predict(A))`,
    `M.predict_proba(A)[:, 1]`) that is not evaluation; `predict` before `predict_proba`
    (the label is what a service answers with); only in `serve:model` cells when any cell
    has that tag."""
    tagged = {c for c, t in tags.items() if "serve:model" in t}
    found: dict[str, _Prediction] = {}
    for st in kept:
        if tagged and st.cell not in tagged:
            continue
        node = st.node
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        call = _predict_call(node.value)
        if call is None:
            continue
        func = call.func
        assert isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
        model, data = func.value.id, call.args[0].id
        if call is not node.value and post.exclusion(st, {model, data}, targets, set(), an):
            continue  # `acc = accuracy_score(y_test, model.predict(X_test))`: evaluation
        found[func.attr] = _Prediction(st, model, data, func.attr)
    return found.get("predict") or found.get("predict_proba")


def _backward(before: list[Stmt], wanted: set[str], an: Analysis) -> list[Stmt]:
    """The statements (in notebook order) that the values of `wanted` depend on, with the
    definitions they call and the notebook's setup state (seeds, options)."""
    free = {d.name: set(d.free) for d in an.definitions}
    needed = set(wanted)
    picked: list[Stmt] = []
    for st in reversed(before):
        if st.kind == "setup" or (st.writes & needed):
            picked.append(st)
            needed -= st.binds - st.mutated - set(st.reads)
            needed |= set(st.reads)
            for name in st.reads:
                needed |= free.get(name, set())
    picked.reverse()
    return picked


def _calls(node: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)]


def _call_name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr
    if isinstance(f, ast.Name):
        return f.id
    return ""


def _split_call(st: Stmt) -> ast.Call | None:
    node = st.node
    if (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Tuple) and isinstance(node.value, ast.Call)
            and _call_name(node.value) in SPLIT_FUNCS):
        return node.value
    return None


def _filters_rows(st: Stmt) -> str:
    """Why the statement keeps only some rows ("" when it does not)."""
    for call in _calls(st.node):
        name = _call_name(call)
        if isinstance(call.func, ast.Attribute) and name in ROW_FILTER_METHODS:
            return f"drops rows (.{name})"
        if name == "drop" and any(k.arg == "index" for k in call.keywords):
            return "drops rows (.drop(index=...))"
    for sub in (n for n in ast.walk(st.node) if isinstance(n, ast.Subscript)):
        index = sub.slice
        if isinstance(sub.value, ast.Attribute) and sub.value.attr in ("loc", "iloc"):
            first = index.elts[0] if isinstance(index, ast.Tuple) and index.elts else index
            if not (isinstance(first, ast.Slice) and first.lower is None
                    and first.upper is None):
                return f"selects rows (.{sub.value.attr}[...])"
        elif isinstance(index, _MASK_NODES) or (
                isinstance(index, ast.Call) and _call_name(index) in _MASK_METHODS):
            return "selects rows by a condition"
    return ""


def _fits(st: Stmt) -> str:
    for call in _calls(st.node):
        if isinstance(call.func, ast.Attribute) and call.func.attr in FIT_METHODS:
            return call.func.attr
    return ""


def _loop_items(st: Stmt) -> list[str] | None:
    """The names of `for v in [a, b]:` (None for any other statement)."""
    node = st.node
    if isinstance(node, ast.For) and isinstance(node.iter, (ast.List, ast.Tuple)) and all(
            isinstance(e, ast.Name) for e in node.iter.elts):
        return [e.id for e in node.iter.elts]
    return None


def _classify(learn: list[Stmt], read: Stmt, tags: dict[int, tuple[str, ...]]):
    """Role and reason of every statement of the training slice, forward from the read:
    {seq: (role, reason, request names after it)}. A statement that fits on request data gets
    the role "fit": the path is refused if the model's input needs it."""
    request = set(read.binds)
    roles: dict[int, tuple[str, str, frozenset[str]]] = {}
    for st in learn:
        cell_tags = tags.get(st.cell, ())
        reads_request = bool(set(st.reads) & request)
        if st is read:
            roles[st.seq] = ("read", "the raw data: a request's rows take its place",
                             frozenset(request))
            continue
        if st.kind in ("import", "def", "class", "setup"):
            roles[st.seq] = (st.kind, "definitions and setup run on both paths",
                             frozenset(request))
            continue
        split = _split_call(st)
        if split is not None and reads_request:
            request |= _split_test_targets(st, split, request)
            request -= _split_train_targets(st, split)
            roles[st.seq] = ("split", "splits rows: the request passes through to the "
                             "test side", frozenset(request))
            continue
        if not reads_request or "serve:skip" in cell_tags:
            request -= st.binds
            why = ("tagged serve:skip" if reads_request else
                   "reads no request data: what it binds comes from training")
            roles[st.seq] = ("training", why, frozenset(request))
            continue
        row_filter = _filters_rows(st)
        if row_filter and "serve:include" not in cell_tags:
            roles[st.seq] = ("training", f"{row_filter}: training only", frozenset(request))
            continue
        fit = _fits(st)
        if fit:
            roles[st.seq] = ("fit", f"fits (.{fit}) on request data", frozenset(request))
            continue
        items = _loop_items(st)
        skipped = {n for n in items or () if n not in request}
        request |= st.binds | (st.mutated - skipped)
        if items is not None:
            request -= {st.node.target.id} if isinstance(st.node.target, ast.Name) else set()
        roles[st.seq] = ("request", "transforms the request rows", frozenset(request))
    return roles


def _split_pairs(st: Stmt, split: ast.Call) -> list[tuple[str, str, str]]:
    """(argument, train target, test target) per array argument of the split."""
    targets = st.node.targets[0].elts
    names = [t.id if isinstance(t, ast.Name) else "" for t in targets]
    args = [a.id if isinstance(a, ast.Name) else "" for a in split.args]
    if len(names) != 2 * len(args):
        return []
    return [(a, names[2 * i], names[2 * i + 1]) for i, a in enumerate(args)]


def _split_test_targets(st: Stmt, split: ast.Call, request: set[str]) -> set[str]:
    return {te for a, _, te in _split_pairs(st, split) if a in request and te}


def _split_train_targets(st: Stmt, split: ast.Call) -> set[str]:
    return {tr for _, tr, _ in _split_pairs(st, split) if tr}


def _serve_slice(learn: list[Stmt], roles: dict, input_name: str) -> dict[int, set[str]]:
    """The request-path statements the model's input needs: {seq: names it must bind}."""
    needed = {input_name}
    out: dict[int, set[str]] = {}
    for st in reversed(learn):
        role = roles[st.seq][0]
        if role in ("import", "def", "class", "setup"):
            out[st.seq] = set()
            continue
        if role not in ("request", "split", "read", "fit"):
            continue
        if role == "split":
            pairs = _split_pairs(st, _split_call(st))
            hit = {te for a, _, te in pairs if te in needed}
            if hit:
                out[st.seq] = hit
                needed -= hit
                needed |= {a for a, _, te in pairs if te in hit}
            continue
        wanted = st.writes & needed
        if not wanted:
            continue
        out[st.seq] = wanted
        needed -= st.binds - st.mutated - set(st.reads)
        needed |= set(st.reads)
    return out


def _serving_stmts(learn: list[Stmt], roles: dict, serve: dict[int, set[str]],
                   an: Analysis, model: str) -> list[ServingStmt]:
    free = {d.name: set(d.free) for d in an.definitions}
    defined = set(free)
    out: list[ServingStmt] = []
    for st in learn:
        role, reason, request = roles[st.seq]
        on_path = st.seq in serve
        learned: set[str] = set()
        if on_path and role in ("request", "split"):
            names = set(st.reads)
            for n in st.reads:
                names |= free.get(n, set())
            # a loop over [train, test] serves only its request items
            skipped = {n for n in _loop_items(st) or () if n not in request}
            learned = {n for n in names - request - skipped - set(an.imports) - defined
                       if n not in rules.BUILTINS}
        if not on_path and role in ("request", "fit"):
            reason = "not needed for the model's input"
            role = "training"
        key = f"s{st.seq}"
        code = _source(st)
        instrument = on_path and role in ("request", "split", "def", "class")
        learn_code = rewrite.instrumented(code, key) if instrument else code
        serve_code = ""
        if on_path:
            serve_code = rewrite.for_request(learn_code, role, serve.get(st.seq, set()),
                                             set(request))
        out.append(ServingStmt(
            key=key, cell=st.cell, line=st.line, role=role, reason=reason,
            code=code, serve=on_path, wants=tuple(sorted(serve.get(st.seq, ()))),
            request=tuple(sorted(request)), learned=tuple(sorted(learned)),
            learn_code=learn_code, serve_code=serve_code,
            model_only=_only_makes_model(st, role, on_path, model)))
    return out


def _only_makes_model(st: Stmt, role: str, on_path: bool, model: str) -> bool:
    """`model = Estimator(...)`, `model.fit(X, y)`: training-only statements whose only effect
    is the model (a run that fitted it needs them no more)."""
    return (not on_path and role in ("training", "fit") and st.kind == "code"
            and bool(st.writes) and st.writes <= {model})


def _source(st: Stmt) -> str:
    """The statement's source as Python (a `%time x = ...` line is its statement)."""
    if st.text is not None:
        try:
            ast.parse(st.text)
            return st.text
        except SyntaxError:
            pass
    return ast.unparse(st.node)
