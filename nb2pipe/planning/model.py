"""PipelinePlan: the neutral, frozen, serializable description of a converted notebook.

Every emitter (modules, docs, tests, Argo, KFP) and the local runner read it; none of them
re-analyzes the notebook.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from nb2pipe.diagnostics import Diagnostic

# The plan file in a generated project: written by `PipelinePlan.dump`, read back only by
# `PipelinePlan.load` (every consumer takes a PipelinePlan).
PLAN_FILE = "nb2pipe.plan.json"

# the closed sets of the plan
FileMode = Literal["read", "stat", "write", "mkdir", "delete"]
DefinitionKind = Literal["function", "class"]
SplitMode = Literal["tags", "headings", "flow", "single"]
Better = Literal["higher", "lower", "unknown"]  # which way a metric improves


@dataclass(frozen=True)
class FileIO:
    path: str  # literal, as the notebook spells it (computed paths order steps, see file_edges)
    mode: FileMode
    cell: int
    line: int
    call: str


@dataclass(frozen=True)
class Stripped:
    cell: int
    line: int
    reason: str  # display | plot | magic | shell | pip | help | skip | cellmagic
    code: str


@dataclass(frozen=True)
class CommonRef:
    name: str  # name as the notebook uses it
    emit_name: str  # name in the shared module (versions of redefined names differ)


@dataclass(frozen=True)
class StepDeploy:
    """A step's placement and limits, from its tags (`limit:memory:2Gi`, `image:...`, ...),
    and the secrets it reads (planning/deploy.py)."""

    image: str | None = None
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    retries: int | None = None
    timeout: int | None = None  # seconds
    node_selector: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    cache: bool | None = None
    secrets: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # tags that could not be used, and why
    # where the requests and memory limit come from when a local run measured the step
    # ("peak 312 MiB, 4.1 s CPU in 3.2 s (run 7)"; planning/deploy.measured_resources)
    measured: str = ""


@dataclass(frozen=True)
class Metric:
    """A value the notebook computes as a model metric (planning/deploy.detect_metrics)."""

    name: str
    step: str
    better: Better


@dataclass(frozen=True)
class Step:
    name: str  # Python identifier; also the module and function name
    k8s_name: str  # DNS-1123 label for Kubernetes
    title: str  # heading or tag it came from
    cells: tuple[int, ...]
    inputs: tuple[str, ...]  # data from earlier steps, in order of first use
    input_sources: tuple[tuple[str, str], ...]  # (name, producing step)
    params: tuple[str, ...]  # pipeline parameters it reads
    outputs: tuple[str, ...]  # values it hands on (to later steps, or final values)
    upstream: tuple[str, ...]  # steps it depends on (data, files, random state, prev: tags)
    setup_from: tuple[str, ...]  # earlier steps whose setup state it replays first
    imports: tuple[str, ...]  # import lines the step module needs
    common: tuple[CommonRef, ...]  # shared functions/classes it uses
    files: tuple[FileIO, ...]
    stripped: tuple[Stripped, ...]
    rng_in: bool = False  # receives the notebook's global random state
    rng_out: bool = False  # hands its random state on
    rng_from: str = ""  # the step whose random state it receives (when rng_in)
    has_setup: bool = False  # establishes setup state later steps replay
    setup_reads: tuple[str, ...] = ()  # names its setup statements read
    metrics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # resource tags (limit:, image:, ...) for deploy emitters
    body: str = ""  # the step's code (already stripped and rewritten)
    setup_body: str = ""  # its setup statements, replayed by later steps
    terminal: tuple[str, ...] = ()  # outputs no later step reads (final values)
    # outputs that share objects, saved as one artifact each group so that a step receiving
    # them gets one object again, as the notebook had (see planning.flow._carry_alias_groups)
    bundles: tuple[tuple[str, ...], ...] = ()
    # notebook variables that shared classes read when their methods run: the step sets them
    # in common at its start (those it receives) and after each statement that rebinds one
    live_globals: tuple[str, ...] = ()
    recomputed: tuple[str, ...] = ()  # secret-derived values it rebuilds from the environment
    # outputs the step binds only on some paths (an `if`, a loop, a `match` case) and that did
    # not come in: it hands them on as unbound when they are not bound (_runtime.bound)
    maybe_unbound: tuple[str, ...] = ()
    # (upstream step, why): upstream links the notebook's file effects make, such as
    # ("plot", "file: plot.png") (planning/file_edges.py)
    file_edges: tuple[tuple[str, str], ...] = ()
    # steps found in the data flow (split "flow"): why this step starts where it does, such as
    # "2 values cross: model, X_test; phase fit -> evaluate" (planning/discover.py)
    boundary: str = ""
    # placement, limits and secrets on a cluster, from its tags and code (planning/deploy.py)
    deploy: StepDeploy = field(default_factory=StepDeploy)


@dataclass(frozen=True)
class SharedDef:
    name: str
    emit_name: str
    version: int
    cell: int
    line: int
    kind: DefinitionKind
    # notebook variables it reads: a function takes them as keyword-only parameters, a class
    # reads them from common, where the steps keep them live (planning/live_globals.py)
    data_globals: tuple[str, ...]
    code: str


@dataclass(frozen=True)
class ServingStmt:
    """One statement of the training slice behind the model's input (planning/serving.py)."""

    key: str  # "s<seq>": names the statement in the generated serving module
    cell: int
    line: int
    # read | request | split | training | fit | import | def | class | setup; after the
    # prediction (ServingPlan.post): predict | post | excluded
    role: str
    reason: str  # why it is on the request path or training-only (README)
    code: str  # the notebook's statement
    serve: bool  # runs for a request
    wants: tuple[str, ...] = ()  # names it must bind for the request (a split: test side)
    request: tuple[str, ...] = ()  # request-derived names after it
    learned: tuple[str, ...] = ()  # names it reads whose values come from training
    # the statement as the generated serving module runs it: with aggregates recorded on the
    # training data and replayed for a request (planning/serving_rewrite.py), and for a
    # request (a split passes the request through; a loop over [train, test] keeps test)
    learn_code: str = ""
    serve_code: str = ""
    # it only makes or fits the model: a run's replay, given the model it fitted, skips it
    model_only: bool = False


@dataclass(frozen=True)
class ServingPlan:
    """How new rows become a prediction: the model, the raw frame they replace, the slice
    (planning/serving.py) and whether the proof found it equal to the notebook."""

    model: str  # the fitted model's name
    prediction: str  # the notebook's prediction (P in `P = M.predict(A)`)
    method: str  # predict | predict_proba
    input: str  # A: the model's input
    frame: str  # D: the raw frame a request's rows replace
    data_file: str  # the file D is read from (relative to the notebook)
    statements: tuple[ServingStmt, ...]
    learned: tuple[str, ...]  # names whose values come from training
    predict_cell: int = 0
    predict_line: int = 0
    verified: bool = False  # the proof found the service equal to the notebook
    proof: str = ""  # what the proof compared, or why it failed
    required: tuple[str, ...] = ()  # raw columns a request must have (found by the proof)
    # the prediction statement and the statements that consume its value, in notebook order
    # (planning/serving_post.py): role predict/post run for a request, excluded ones do not
    post: tuple[ServingStmt, ...] = ()
    output: str = ""  # the name a request is answered with ("": the prediction itself)
    post_reads: tuple[str, ...] = ()  # names post-processing reads from training (`le`)
    post_note: str = ""  # why the raw prediction is served although statements consume it

    @property
    def served(self) -> str:
        """The name whose value answers a request."""
        return self.output or self.prediction

    def unproven(self) -> ServingPlan:
        """The derivation alone (what planning the notebook again gives)."""
        return replace(self, verified=False, proof="", required=())


@dataclass(frozen=True)
class PipelinePlan:
    package: str
    notebook: str  # notebook file name
    notebook_hash: str
    workdir: str  # notebook folder, relative to the generated project root
    split: SplitMode
    steps: tuple[Step, ...]
    parameters: tuple[tuple[str, str], ...]  # (name, Python literal)
    metrics: tuple[tuple[str, str], ...]  # (name, step)
    definitions: tuple[SharedDef, ...]
    common_imports: tuple[str, ...]
    side_effect_imports: tuple[str, ...]
    requirements: tuple[str, ...]  # from !pip install lines
    imported_modules: tuple[str, ...]  # top-level modules imported by kept code
    local_modules: tuple[str, ...]
    stripped_cells: tuple[Stripped, ...]
    dropped_steps: tuple[str, ...]
    final_names: tuple[str, ...]  # names the pipeline's final namespace holds
    seeded: bool
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    # folders the notebook adds to sys.path with literal paths, relative to its folder:
    # applied when the package is imported, before the step modules' imports run
    import_paths: tuple[str, ...] = ()
    # (name, secret environment variables) of every value built from a secret: never a step
    # input or output, never stored (planning/recompute.py)
    secret_derived: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # the model metrics the performance tests hold the pipeline to (planning/deploy.py)
    model_metrics: tuple[Metric, ...] = ()
    # the image (convert options or notebook metadata, emit/image.py): the user's base image
    # ("" = the pinned default for this Python), and whether the data files the steps read
    # are copied into it (else they are passed at submit time)
    base_image: str = ""
    data_in_image: bool = True
    lock_hashes: bool = False  # requirements.lock with --hash lines, asked of the index
    # the serving path (planning/serving.py), None when the notebook serves no prediction
    serving: ServingPlan | None = None

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def to_json(self, include_code: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["diagnostics"] = [d.to_json() for d in self.diagnostics]
        # the secret fields only where the notebook has secrets: other plans stay as they were
        if not data["secret_derived"]:
            del data["secret_derived"]
        if not data["base_image"]:  # image options only where given: other plans stay as were
            del data["base_image"]
        if data["data_in_image"]:
            del data["data_in_image"]
        if not data["lock_hashes"]:
            del data["lock_hashes"]
        for s in data["steps"]:
            if not s["recomputed"]:
                del s["recomputed"]
            if not s["file_edges"]:
                del s["file_edges"]
            if not s["boundary"]:
                del s["boundary"]
            if s["deploy"] == asdict(StepDeploy()):
                del s["deploy"]
        if not data["model_metrics"]:
            del data["model_metrics"]
        if data["serving"] is None:
            del data["serving"]
        elif not include_code:
            for st in data["serving"]["statements"] + data["serving"]["post"]:
                for k in ("code", "learn_code", "serve_code"):
                    st.pop(k, None)
        if not include_code:
            for s in data["steps"]:
                s.pop("body", None)
                s.pop("setup_body", None)
            for d in data["definitions"]:
                d.pop("code", None)
        return data

    def dumps(self, include_code: bool = True) -> str:
        return json.dumps(self.to_json(include_code), indent=2, sort_keys=True, ensure_ascii=False)

    # ---- the plan file: the one reader and writer of nb2pipe.plan.json ----------------------

    def dump(self, project: str | Path) -> Path:
        path = Path(project) / PLAN_FILE
        path.write_text(self.dumps(include_code=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, project: str | Path) -> PipelinePlan:
        """The plan of a generated project, checked as untrusted input (nb2pipe/untrusted.py):
        FileNotFoundError when there is none, untrusted.NotNb2pipe when the file there is not a
        plan nb2pipe wrote. Code is not stored in the file: step bodies and shared definitions
        come back empty."""
        from nb2pipe.untrusted import NotNb2pipe, read_plan

        data = read_plan(Path(project), PLAN_FILE)
        try:
            return cls.from_json(data)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise NotNb2pipe(f"{PLAN_FILE} does not have the fields nb2pipe writes "
                             f"({type(exc).__name__}: {exc})") from None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PipelinePlan:
        """The inverse of to_json (without code: bodies and definitions' code are '')."""
        steps = tuple(_step_from_json(s) for s in data["steps"])
        definitions = tuple(SharedDef(**{"code": "", **_known(SharedDef, d),
                                         "data_globals": tuple(d.get("data_globals", ()))})
                            for d in data.get("definitions", ()))
        diagnostics = tuple(Diagnostic(**_known(Diagnostic, d))
                            for d in data.get("diagnostics", ()))
        metrics = tuple(Metric(**_known(Metric, m)) for m in data.get("model_metrics", ()))
        plain = {k: _tupled(v) for k, v in _known(cls, data).items()
                 if k not in ("steps", "definitions", "diagnostics", "model_metrics",
                              "serving")}
        return cls(**plain, steps=steps, definitions=definitions, diagnostics=diagnostics,
                   model_metrics=metrics, serving=_serving_from_json(data.get("serving")))


def _known(klass, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of `data` that are fields of `klass` (a newer plan may carry more)."""
    names = {f.name for f in fields(klass)}
    return {k: v for k, v in data.items() if k in names}


def _tupled(value: Any) -> Any:
    """JSON lists back to the tuples the frozen dataclasses hold."""
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


def _serving_stmt_from_json(data: dict[str, Any]) -> ServingStmt:
    """A serving statement without its code (the plan file keeps none)."""
    return ServingStmt(**{"code": "", "learn_code": "", "serve_code": "",
                          **{k: _tupled(v) for k, v in _known(ServingStmt, data).items()}})


def _serving_from_json(data: dict[str, Any] | None) -> ServingPlan | None:
    if data is None:
        return None
    plain = {k: _tupled(v) for k, v in _known(ServingPlan, data).items()
             if k not in ("statements", "post")}
    return ServingPlan(**plain, statements=tuple(map(_serving_stmt_from_json,
                                                     data.get("statements", ()))),
                       post=tuple(map(_serving_stmt_from_json, data.get("post", ()))))


def _step_from_json(data: dict[str, Any]) -> Step:
    nested = {"files": FileIO, "stripped": Stripped, "common": CommonRef}
    values = {}
    for k, v in _known(Step, data).items():
        if k in nested:
            values[k] = tuple(nested[k](**_known(nested[k], x)) for x in v)
        elif k == "deploy":
            values[k] = StepDeploy(**{f: _tupled(x) if f in ("secrets", "notes") else x
                                      for f, x in _known(StepDeploy, v).items()})
        else:
            values[k] = _tupled(v)
    return Step(**values)
