"""Verify: does the generated pipeline compute what the notebook computed, step by step?

1. The original notebook runs once with a real kernel and boundary hooks (`nb2pipe.validation.capture`):
   each step's inputs before its first cell, and every top-level name its cells leave defined
   after its last cell.
2. Each pipeline step runs in a fresh interpreter, as a container runs it: inputs are the
   values earlier pipeline steps wrote (value files, `_runtime.save_value`), so wiring, setup
   replay and serialization are all exercised. A profiling hook keeps the step function's
   locals at return, so every name the step leaves defined is compared, not only the ones it
   returns.
3. Values are compared type-aware (`nb2pipe.validation.compare`; fitted models by parameters and fitted
   attributes, or else by their predictions on the step's 2-D inputs, figures not at all).
   When something differs, the notebook
   runs a second time: a value that differs between two notebook runs is reported as
   nondeterministic (unseeded randomness), not as a conversion bug.
4. The serving path (validation/serving_verify.py): the serving proof against the value the
   notebook run left for the served prediction.

Also the `nb2pipe verify` subcommand (`configure`, `main`).
"""

from __future__ import annotations

from nb2pipe.planning.model import PLAN_FILE, PipelinePlan
from nb2pipe.diagnostics import ExitCode
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EQUAL, DIFFERENT, NOT_COMPARABLE = "equal", "different", "not comparable"
NONDETERMINISTIC, ERROR = "nondeterministic", "error"

def _run_one(package: str, spec: dict[str, Any], values_dir: str, nb_dump: str) -> dict:
    """Run one step on the pipeline's own earlier outputs and compare with the notebook.

    Runs in a forked child of the zygote (`_zygote`): fresh module state for the generated
    package, heavy libraries already imported.
    """
    import importlib

    step = spec["name"]
    rt = importlib.import_module(package + "._runtime")
    pipeline = importlib.import_module(package + ".pipeline")
    func = getattr(importlib.import_module(f"{package}.steps.{step}"), step)
    args, kwargs = _step_arguments(rt, pipeline, spec, values_dir)
    inputs_differ = _inputs_differ(Path(nb_dump) / step / "inputs",
                                   dict(zip(spec["inputs"], args), **kwargs))
    out, seen = _call_recording_locals(rt, func, args, kwargs)
    # a final value that cannot be serialized is not persisted (older projects' _runtime
    # has no readers_of: every value is taken as read, as it was then)
    readers = rt.readers_of(step, pipeline.STEPS) if hasattr(rt, "readers_of") else None
    rt.save_values(out, Path(values_dir) / step, step, spec.get("bundles", ()),
                   **({"readers": readers} if readers is not None else {}))
    folder = Path(nb_dump) / step / "outputs"
    values = [row for name, rec in sorted(_notebook_records(folder).items())
              if (row := _compare_output(name, rec, folder, seen)) is not None]
    return {"error": None, "values": values, "inputs_differ": inputs_differ}


def _notebook_records(folder: Path) -> dict:
    """The notebook's captured values at one step boundary (name -> record), or none."""
    idx = folder / "index.json"
    return json.loads(idx.read_text()) if idx.exists() else {}


def _load_notebook_value(folder: Path, rec: dict) -> Any:
    """One value the notebook had, as the capture dumped it."""
    import cloudpickle

    with open(folder / rec["dump"], "rb") as fh:
        return cloudpickle.load(fh)


def _step_arguments(rt: Any, pipeline: Any, spec: dict[str, Any],
                    values_dir: str) -> tuple[list, dict]:
    """The step's inputs as the pipeline's earlier steps saved them, its parameters, and the
    random state it continues from: the step runs on the pipeline's values, not the notebook's."""
    sources = dict(spec["input_sources"])
    loaded = rt.load_values({n: Path(values_dir) / sources[n] / n for n in spec["inputs"]})
    args = [loaded[n] for n in spec["inputs"]]
    kwargs = {p: pipeline.PARAMETERS[p] for p in spec["params"]}
    if spec["rng_in"]:
        rng = Path(values_dir) / (spec["rng_from"] or "-") / "_rng"
        kwargs["_rng"] = rt.load_value(rng) if rng.exists() else None
    return args, kwargs


def _inputs_differ(folder: Path, given: dict[str, Any]) -> list[str]:
    """Inputs that already differ from the notebook's: a difference in the outputs then
    comes from an earlier step, not this one."""
    from nb2pipe.validation.compare import compare

    differ = []
    for name, rec in _notebook_records(folder).items():
        if name == "_rng" or not rec.get("dump") or name not in given:
            continue
        if compare(_load_notebook_value(folder, rec), given[name]).status == DIFFERENT:
            differ.append(name)
    return differ


def _call_recording_locals(rt: Any, func: Any, args: list, kwargs: dict) -> tuple[Any, dict]:
    """Call the step and keep its locals at return: every value it computes is compared,
    not only those it returns."""
    seen: dict[str, Any] = {}

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is func.__code__:
            seen.update(frame.f_locals)

    sys.setprofile(hook)
    try:
        with rt.in_workdir():
            out = func(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return out, seen


def _compare_output(name: str, rec: dict, folder: Path, seen: dict[str, Any]) -> list | None:
    """[name, status, detail] for one value the notebook had (or left undefined) at the end
    of the step, against the step's locals; None when neither defines it."""
    from nb2pipe.validation.compare import compare

    if not rec.get("defined"):
        if name in seen:
            return [name, DIFFERENT, "the notebook leaves it undefined, the pipeline defines it"]
        return None
    if not rec.get("dump"):
        return [name, NOT_COMPARABLE, rec.get("note", "not captured")]
    if name not in seen:
        return [name, DIFFERENT, "the pipeline step does not define it"]
    try:
        expected = _load_notebook_value(folder, rec)
        v = compare(expected, seen[name])
        if v.status == NOT_COMPARABLE and hasattr(expected, "predict"):
            v = _compare_predictions(expected, seen[name], seen) or v
        return [name, v.status, v.detail]
    except Exception as exc:  # noqa: BLE001 - a failing comparison is a finding
        return [name, NOT_COMPARABLE, f"comparison failed: {type(exc).__name__}: {exc}"]


def _compare_predictions(a: Any, b: Any, scope: dict[str, Any]) -> Any:
    """Fitted models whose state cannot be compared: by their predictions on the 2-D
    tables/arrays the step holds (e.g. its test features). None when none fits."""
    from nb2pipe.validation.compare import EQUAL as SAME, Verdict, compare

    for name, x in sorted(scope.items()):
        if len(getattr(x, "shape", ())) != 2:
            continue
        try:
            pa, pb = a.predict(x), b.predict(x)
        except Exception:  # noqa: BLE001 - not an input this model takes
            continue
        v = compare(pa, pb)
        if v.status == SAME:
            return Verdict(EQUAL, f"same predictions on {name}")
        return Verdict(v.status, f"predictions on {name}: {v.detail}")
    return None


def _zygote(argv: list[str]) -> None:
    """Import the heavy libraries once, then run each step in a forked child (a fresh
    package state per step, as a container has) and print the results as one JSON line."""
    project, package, values_dir, nb_dump, job_file = argv[:5]
    job = json.loads(Path(job_file).read_text())
    sys.path.insert(0, project)
    _preimport(["cloudpickle", "nb2pipe.validation.compare"] + job["preimport"])
    results: dict[str, dict] = {}
    failed: set[str] = set()
    rng_from = None
    for spec in job["steps"]:
        name = spec["name"]
        blocked = _failed_upstream(spec, failed, rng_from)
        if blocked:
            results[name] = _step_error(f"not run: upstream step(s) {', '.join(blocked)} failed")
            failed.add(name)
            continue
        spec = dict(spec, rng_from=rng_from)
        if not hasattr(os, "fork"):  # no isolation without fork: run in this process
            res = _run_one_reporting(package, spec, values_dir, nb_dump)
        else:
            res = _run_one_forked(package, spec, values_dir, nb_dump,
                                  Path(values_dir) / f".result-{name}.json", job["timeout"])
        results[name] = res
        if res["error"]:
            failed.add(name)
        if spec["rng_out"]:
            rng_from = name
    print("NB2PIPE-VERIFY " + json.dumps(results))


def _preimport(modules: list[str]) -> None:
    """Import once in the zygote what every forked step would import again; a module that
    fails here is left for the step to report."""
    import importlib

    for mod in modules:
        try:
            importlib.import_module(mod)
        except Exception:  # noqa: BLE001 - the step will report it
            pass


def _failed_upstream(spec: dict[str, Any], failed: set[str], rng_from: str | None) -> list[str]:
    """Failed steps this one takes values or its random state from: running it would only
    repeat their failure."""
    blocked = sorted({src for _, src in spec["input_sources"]} & failed)
    if spec["rng_in"] and rng_from in failed:
        blocked.append(rng_from)
    return blocked


def _step_error(error: str) -> dict:
    """A step's result when it produced no comparison."""
    return {"error": error, "values": [], "inputs_differ": []}


def _run_one_reporting(package: str, spec: dict[str, Any], values_dir: str,
                       nb_dump: str) -> dict:
    """_run_one, with any failure (even SystemExit) as the step's error, not the zygote's."""
    import traceback

    try:
        return _run_one(package, spec, values_dir, nb_dump)
    except BaseException:  # noqa: BLE001 - any failure is the step's error
        return _step_error(traceback.format_exc(limit=-4)[-3000:])


def _run_one_forked(package: str, spec: dict[str, Any], values_dir: str, nb_dump: str,
                    out_file: Path, timeout: float) -> dict:
    """Run one step in a forked child that hands its result back through out_file: a fresh
    package state per step, and a step that hangs or dies cannot take the others along."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: run, write the result, leave without cleanup
        code = 0
        res = _run_one_reporting(package, spec, values_dir, nb_dump)
        try:
            out_file.write_text(json.dumps(res))
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    status = _wait_or_kill(pid, timeout)
    if out_file.exists():
        return json.loads(out_file.read_text())
    if status == -1:
        return _step_error(f"timed out after {timeout} s")
    return _step_error(f"the step process died (status {status})")


def _wait_or_kill(pid: int, timeout: float) -> int:
    """The child's wait status, or -1 when it outlived timeout and was killed."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            return st
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return -1
        time.sleep(0.02)


ZYGOTE = "import sys; from nb2pipe.validation.verify import _zygote; _zygote(sys.argv[1:])"


@dataclass
class ValueResult:
    name: str
    status: str
    detail: str = ""


@dataclass
class StepResult:
    step: str
    values: list[ValueResult] = field(default_factory=list)
    error: str = ""
    inputs_differ: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    notebook: str
    project: str
    steps: list[StepResult] = field(default_factory=list)
    notebook_error: str = ""
    notes: list[str] = field(default_factory=list)
    serving: Any = None  # serving_verify.ServingCheck: the serving proof against this run

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            for v in s.values:
                out[v.status] = out.get(v.status, 0) + 1
            if s.error:
                out[ERROR] = out.get(ERROR, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        c = self.counts()
        # a serving.py the project ships must still give the notebook's predictions; a
        # project without one only hears why it has none
        serving_fails = (self.serving is not None and self.serving.shipped
                         and self.serving.status != "verified")
        return (not self.notebook_error and not c.get(DIFFERENT) and not c.get(ERROR)
                and not serving_fails)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["counts"] = self.counts()
        return data

    def format(self) -> str:
        lines = [f"verify {self.notebook} against {self.project} ({len(self.steps)} steps)"]
        if self.notebook_error:
            lines.append(f"  the notebook failed: {self.notebook_error}")
        width = max([len(v.name) for s in self.steps for v in s.values] + [4])
        for s in self.steps:
            lines.append(f"step {s.step}")
            if s.error:
                lines.append("  ERROR: the pipeline step failed:")
                lines.extend("    " + ln for ln in s.error.strip().splitlines()[-6:])
            if s.inputs_differ:
                lines.append(f"  (its inputs already differ from the notebook's: "
                             f"{', '.join(s.inputs_differ)} — look upstream first)")
            for v in s.values:
                mark = {DIFFERENT: "DIFFERENT", NONDETERMINISTIC: "nondeterministic"}.get(
                    v.status, v.status)
                lines.append(f"  {v.name:<{width}}  {mark}" + (f"  {v.detail}" if v.detail
                                                                else ""))
        if self.serving is not None:
            lines.append(self.serving.format())
        lines.extend(self.notes)
        c = self.counts()
        summary = ", ".join(f"{n} {k}" for k, n in sorted(c.items())) or "nothing compared"
        lines.append(f"result: {summary} -> {'OK' if self.ok else 'FAILED'}")
        return "\n".join(lines)


def _run_steps(project: Path, plan: PipelinePlan, steps: list[dict[str, Any]], values: Path,
               dump: Path, timeout: int) -> dict[str, dict]:
    """All steps, in notebook order, each in its own forked interpreter state."""
    job = values / ".job.json"
    job.write_text(json.dumps({"steps": steps, "timeout": timeout,
                               "preimport": [m for m in plan.imported_modules
                                             if m not in plan.local_modules]}))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    cmd = [sys.executable, "-c", ZYGOTE, str(project), plan.package, str(values), str(dump),
           str(job)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(project),
                              timeout=timeout * max(len(steps), 1) + 60)
    except subprocess.TimeoutExpired:
        return {s["name"]: {"error": "timed out", "values": [], "inputs_differ": []}
                for s in steps}
    for line in proc.stdout.splitlines():
        if line.startswith("NB2PIPE-VERIFY "):
            return json.loads(line[len("NB2PIPE-VERIFY "):])
    err = f"the pipeline process exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return {s["name"]: {"error": err, "values": [], "inputs_differ": []} for s in steps}


def _same_in_notebook_runs(dump_a: Path, dump_b: Path, step: str, name: str) -> bool | None:
    """Whether two notebook runs gave equal values (None: cannot tell)."""
    import cloudpickle

    from nb2pipe.validation.compare import EQUAL as SAME, compare

    try:
        vals = []
        for d in (dump_a, dump_b):
            with open(d / step / "outputs" / f"{name}.pkl", "rb") as fh:
                vals.append(cloudpickle.load(fh))
        return compare(vals[0], vals[1]).status == SAME
    except Exception:  # noqa: BLE001 - unreadable dumps: cannot tell
        return None


def verify(notebook: Path, project: Path, timeout: int = 600,
           recheck: bool = True, serving: bool = True) -> VerifyReport:
    """Compare the notebook with its generated pipeline, step by step, and (`serving`) its
    serving path with the notebook's predictions."""
    from nb2pipe.validation.capture import plan_steps, run_hooked

    plan = PipelinePlan.load(project)
    steps = plan_steps(plan)
    report = VerifyReport(notebook.name, str(project))
    from nb2pipe.hooks.check import check_notebook

    stale = [p for p in check_notebook(notebook, project) if "notebook changed" in p]
    if stale:
        report.notes.append("note: the notebook changed since the pipeline was generated; "
                            "convert again before trusting this result")
    tmp = Path(tempfile.mkdtemp(prefix="nb2pipe-verify-"))
    try:
        run = run_hooked(notebook, steps, tmp / "nb1", timeout=timeout, describe=False)
        if not run.ok:
            where = f"cell {run.error_cell}: " if run.error_cell is not None else ""
            report.notebook_error = f"{where}{run.error}"
            return report
        values = tmp / "values"
        values.mkdir()
        results = _run_steps(project, plan, steps, values, tmp / "nb1", timeout)
        for s in steps:
            out = results.get(s["name"]) or {"error": "not run", "values": [],
                                             "inputs_differ": []}
            report.steps.append(StepResult(s["name"], [ValueResult(*v) for v in out["values"]],
                                           out["error"] or "", out["inputs_differ"]))
        different = [(s.step, v) for s in report.steps for v in s.values if v.status == DIFFERENT]
        if different and recheck:
            run2 = run_hooked(notebook, steps, tmp / "nb2", timeout=timeout, describe=False)
            if run2.ok:
                for step, v in different:
                    if _same_in_notebook_runs(tmp / "nb1", tmp / "nb2", step, v.name) is False:
                        v.status = NONDETERMINISTIC
                        v.detail = ("the notebook itself gives another value on a second run "
                                    "(unseeded randomness?), so this is not a conversion bug; "
                                    "seed it to verify it. Pipeline: " + v.detail)
        if serving:
            from nb2pipe.validation.serving_verify import check_serving

            report.serving = check_serving(notebook, project, plan, tmp / "nb1")
        return report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- CLI ---------------------------------------------------------------------------------

def configure(parser: Any) -> None:
    parser.add_argument("notebook")
    parser.add_argument("-o", "--outdir", help="the generated project (default: "
                                               "<stem>_pipeline beside the notebook)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per notebook run / "
                                                                 "step")
    parser.add_argument("--no-recheck", action="store_true",
                        help="do not run the notebook a second time to tell unseeded "
                             "randomness from conversion bugs")


def main(args: Any) -> int:
    nb = Path(args.notebook)
    if not nb.is_file():
        print(f"nb2pipe: error: {args.notebook}: no such notebook", file=sys.stderr)
        return ExitCode.USAGE
    if args.outdir:
        project = Path(args.outdir)
    else:
        from nb2pipe.api import default_outdir

        project = default_outdir(nb)
    if not (project / PLAN_FILE).is_file():
        print(f"nb2pipe: error: {project} is not a generated project (no nb2pipe.plan.json); "
              f"run: nb2pipe convert {args.notebook} -o {project}", file=sys.stderr)
        return ExitCode.USAGE
    report = verify(nb, project.resolve(), timeout=args.timeout, recheck=not args.no_recheck)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        print(report.format())
    return ExitCode.OK if report.ok else ExitCode.FINDINGS
