"""Emit the generated project's tests and its validation step.

- `tests/test_steps.py`: each step importable with the expected signature; with a capture,
  each step run on its captured inputs reproduces its captured outputs (a step whose logic
  changes fails); without one, skipped stubs that say what to fill in.
- `tests/test_data_quality.py`: the data the first steps load, checked against the captured
  profiles (`_quality.check`: missing values, dtypes, ranges, mean/std, categories, shares).
- `tests/test_model_performance.py`: metrics (a `pipeline-metrics` cell, assignments from
  known metric functions such as `accuracy_score`/`r2_score`, or metric-named scalars) stay
  within a tolerance of the captured values.
- `<pkg>/validate.py`: run the steps checking the data (`python -m <pkg>.validate`), failing
  with a report; `<pkg>/_quality.py` and `<pkg>/_compare.py` are nb2pipe's own modules copied
  so the project runs without nb2pipe; `<pkg>/_profiles.py` holds the profiles it checks.
- `tests/fixtures/capture.json`: the captured baseline (types, fingerprints, samples,
  profiles); the fixture value files themselves are added by `api.convert`.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from typing import Any

from nb2pipe.emit import pyfmt
from nb2pipe.emit.package import header
from nb2pipe.planning.model import PipelinePlan

HIGHER = {"accuracy_score", "balanced_accuracy_score", "f1_score", "precision_score",
          "recall_score", "roc_auc_score", "r2_score", "average_precision_score",
          "silhouette_score", "explained_variance_score", "matthews_corrcoef",
          "cohen_kappa_score", "jaccard_score", "top_k_accuracy_score", "adjusted_rand_score",
          "calinski_harabasz_score", "d2_absolute_error_score"}
LOWER = {"mean_absolute_error", "mean_squared_error", "root_mean_squared_error",
         "mean_absolute_percentage_error", "median_absolute_error", "log_loss",
         "brier_score_loss", "hamming_loss", "mean_squared_log_error", "zero_one_loss",
         "davies_bouldin_score", "max_error"}
_NAME_HIGHER = re.compile(r"(^|_)(acc|accuracy|auc|f1|precision|recall|r2|silhouette|score|"
                          r"coverage)(_|$)")
_NAME_LOWER = re.compile(r"(^|_)(mae|mse|rmse|mape|loss|error|err)(_|$)")
ABS_TOL, REL_TOL = 0.02, 0.05  # metric tolerance: max(ABS_TOL, REL_TOL * |captured|)


def _called(node: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            out.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return out


def _direction(name: str, calls: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    if calls & HIGHER:
        return "higher"
    if calls & LOWER:
        return "lower"
    if _NAME_LOWER.search(name.lower()):
        return "lower"
    if _NAME_HIGHER.search(name.lower()):
        return "higher"
    return "unknown"


def detect_metrics(plan: PipelinePlan) -> list[tuple[str, str, str]]:
    """(name, step, direction) of the values the notebook computes as metrics.

    From the plan's metrics (a `pipeline-metrics` cell), and a light scan of each step's code:
    a single-name assignment whose value calls a known metric function (sklearn.metrics
    names, direct or wrapped as in `np.sqrt(mean_squared_error(...))`), or whose name reads
    like a metric (`mape`, `rmse_test`, `val_accuracy`, ...). Only names that are step outputs
    count, and the emitter keeps those whose captured value is a number.
    """
    found: dict[str, tuple[str, str]] = {}
    for m, step in plan.metrics:
        found[m] = (step, _direction(m))
    for s in plan.steps:
        try:
            tree = ast.parse(s.body or "")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                    isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
                calls = _called(node.value)
                if name not in s.outputs:
                    continue
                if calls & (HIGHER | LOWER) or _direction(name) != "unknown":
                    found[name] = (s.name, _direction(name, calls))
    return [(n, st, d) for n, (st, d) in sorted(found.items())]


def _source(rel: str) -> str:
    return (Path(__file__).parent.parent / rel).read_text(encoding="utf-8")


def _checked(plan: PipelinePlan, capture: dict | None) -> dict[str, list[str]]:
    """Which captured tables the validation step and data-quality tests check: the outputs
    of steps that read files (the data as loaded), else of the first step with a table."""
    if not capture:
        return {}
    steps = capture.get("steps", {})

    def tables(step: str) -> list[str]:
        outs = steps.get(step, {}).get("outputs", {})
        return [n for n in plan.step(step).outputs if outs.get(n, {}).get("profile")]

    readers = [s.name for s in plan.steps if any(f.mode == "read" for f in s.files)]
    chosen = {s: tables(s) for s in readers if tables(s)}
    if not chosen:
        for s in plan.steps:
            if tables(s.name):
                chosen = {s.name: tables(s.name)}
                break
    return chosen


def profiles_module(plan: PipelinePlan, capture: dict | None) -> str:
    checked = _checked(plan, capture)
    profiles = {s: {n: capture["steps"][s]["outputs"][n]["profile"] for n in names}
                for s, names in checked.items()} if capture else {}
    text = json.dumps(profiles, sort_keys=True, separators=(",", ":"))
    loads = pyfmt.Br("json.loads(", [pyfmt.normalize_quotes(repr(text))], ")")
    return (header(plan)
            + pyfmt.docstring(f"Data profiles captured from {plan.notebook} (`nb2pipe convert "
                              "--capture`): what the validation step and the data-quality tests "
                              "expect.", 0) + "\n\n"
            "import json\n\n"
            "# step -> names of the tables checked after it\n"
            + pyfmt.block(pyfmt.data(_sorted(checked)), 0, "CHECKED = ") + "\n\n"
            "# step -> name -> profile (columns, dtypes, missing, range, moments, categories)\n"
            + pyfmt.block(loads, 0, "PROFILES = ") + "\n")


def validate_module(plan: PipelinePlan) -> str:
    p = plan.package
    doc = pyfmt.docstring(
        "Run the pipeline checking the data against the captured profiles.\n\n"
        f"    python -m {p}.validate [--param NAME=VALUE ...]\n\n"
        f"Like `{p}.pipeline.run`, but after each step whose output tables were profiled when "
        "the\nnotebook was captured, the tables are checked (`_quality.check`); bad data stops "
        "the run\nwith a DataQualityError that lists every problem.\n", 0)
    no_profiles = pyfmt.q(f"no captured profiles: run `nb2pipe convert {plan.notebook} "
                          "--capture`; running without checks")
    imports = (pyfmt.from_import(p, ["_quality", "_runtime", "pipeline"]) + "\n"
               + pyfmt.from_import(f"{p}._profiles", ["CHECKED", "PROFILES"]))
    # black's layout; the only variable parts are the docstring, imports and NO_PROFILES
    return header(plan) + doc + VALIDATE.replace("IMPORTS", imports).replace(
        "NO_PROFILES_TEXT", no_profiles)


VALIDATE = '''

from __future__ import annotations

import copy
import importlib
import sys
from typing import Any

IMPORTS

DataQualityError = _quality.DataQualityError
NO_PROFILES = NO_PROFILES_TEXT


def check_step(step: str, outputs: dict[str, Any]) -> dict[str, list[str]]:
    """Problems of one step's checked outputs, by `step.name` (empty when all pass)."""
    problems = {}
    for name in CHECKED.get(step, []):
        if name in outputs:
            found = _quality.check(outputs[name], PROFILES[step][name])
            if found:
                problems[f"{step}.{name}"] = found
    return problems


def run_steps(
    validate: bool = True, stop_after: str | None = None, **params: Any
) -> dict[str, dict[str, Any]]:
    """Run the steps in order; returns each step's outputs by step name."""
    unknown = sorted(set(params) - set(pipeline.PARAMETERS))
    if unknown:
        raise TypeError(f"unknown pipeline parameter(s): {unknown}")
    v: dict[str, Any] = {**pipeline.PARAMETERS, **params}
    per_step: dict[str, dict[str, Any]] = {}
    with _runtime.in_workdir():
        for name, spec in pipeline.STEPS.items():
            module = importlib.import_module(f"{__package__}.steps.{name}")
            func = getattr(module, name)
            kwargs = {k: v[k] for k in spec["params"]}
            if spec["rng_in"]:
                kwargs["_rng"] = v.get("_rng")
            out = func(*[v[n] for n in spec["inputs"]], **kwargs)
            v.update(out)
            # later steps may mutate these objects in place: keep the checked ones as they were
            per_step[name] = {
                k: copy.deepcopy(x) if k in CHECKED.get(name, ()) else x
                for k, x in out.items()
            }
            if validate:
                problems = check_step(name, out)
                if problems:
                    raise DataQualityError(
                        f"step {name}: the data does not look like the data the notebook "
                        "was captured with:\\n" + _quality.report(problems)
                    )
            if name == stop_after:
                break
    return per_step


def run(**params: Any) -> dict[str, Any]:
    """pipeline.run with validation: the final values by name."""
    v: dict[str, Any] = {**pipeline.PARAMETERS, **params}
    for out in run_steps(True, **params).values():
        v.update(out)
    return v


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.validate")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    params = dict(_runtime._parse_param(x) for x in args.param)
    if not CHECKED:
        print(NO_PROFILES, file=sys.stderr)
    try:
        run_steps(True, **params)
    except DataQualityError as exc:
        print(f"data quality check failed: {exc}", file=sys.stderr)
        return 1
    print("all steps ran; the data matches the captured profiles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def conftest(plan: PipelinePlan) -> str:
    p = plan.package
    return header(plan) + f'''"""Shared test setup: the project root on sys.path, one pipeline run per session."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def step_outputs():
    """Each step's outputs from one run of the pipeline on the current data."""
{pyfmt.from_import(p, ["validate"], 1)}

    return validate.run_steps(validate=False)
'''


def steps_test(plan: PipelinePlan, capture: dict | None) -> str:
    p = plan.package
    cases: dict[str, dict[str, Any]] = {}
    for s in plan.steps:
        entry = (capture or {}).get("steps", {}).get(s.name)
        if not capture:
            reason = (f"no captured fixtures: run `nb2pipe convert {plan.notebook} --capture`, "
                      f"or put the inputs of step {s.name} (value files) under "
                      f"tests/fixtures/{s.name}/inputs/ and its expected outputs under "
                      f"tests/fixtures/{s.name}/outputs/, then list them in CASES")
            cases[s.name] = {"skip": reason, "outputs": []}
            continue
        ins = entry.get("inputs", {}) if entry else {}
        outs = entry.get("outputs", {}) if entry else {}
        need = list(s.inputs) + list(s.params) + (["_rng"] if s.rng_in else [])
        missing = [n for n in need if not ins.get(n, {}).get("fixture")]
        if missing:
            notes = "; ".join(f"{n}: {ins.get(n, {}).get('fixture_note') or ins.get(n, {}).get('note') or 'not captured'}"
                              for n in missing)
            cases[s.name] = {"skip": f"inputs without a fixture ({notes}); provide them under "
                                     f"tests/fixtures/{s.name}/inputs/", "outputs": []}
            continue
        cases[s.name] = {"skip": "", "outputs": [n for n in s.outputs
                                                 if outs.get(n, {}).get("fixture")]}
    return (header(plan) + pyfmt.docstring(f"Tests for the steps of {plan.notebook}.", 0)
            + STEPS_TEST.replace("IMPORTS", pyfmt.from_import(p, ["_compare", "_runtime",
                                                                   "pipeline"]))
            .replace("CASES_VALUE", pyfmt.block(pyfmt.data(_sorted(cases)), 0, "CASES = ")))


def _sorted(value):
    """Plain data with dict keys sorted (as json.dumps(sort_keys=True) wrote it before)."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


STEPS_TEST = '''

import importlib
import inspect
from pathlib import Path

import pytest

IMPORTS

FIXTURES = Path(__file__).parent / "fixtures"
# step -> why its fixture test is skipped ("" when it runs), outputs compared with fixtures
CASES_VALUE
PACKAGE = pipeline.__package__


@pytest.mark.parametrize("name", list(pipeline.STEPS))
def test_step_importable_with_expected_signature(name):
    module = importlib.import_module(f"{PACKAGE}.steps.{name}")
    func = getattr(module, name)
    spec = pipeline.STEPS[name]
    params = inspect.signature(func).parameters
    positional = [n for n, x in params.items() if x.kind == x.POSITIONAL_OR_KEYWORD]
    assert positional == spec["inputs"]
    keyword = [n for n, x in params.items() if x.kind == x.KEYWORD_ONLY]
    assert [n for n in keyword if n != "_rng"] == spec["params"]


@pytest.mark.parametrize("name", list(pipeline.STEPS))
def test_step_reproduces_captured_outputs(name):
    """The step, run on the inputs the notebook gave it, returns what the notebook computed."""
    case = CASES.get(name) or {"skip": "not in CASES", "outputs": []}
    if case["skip"]:
        pytest.skip(case["skip"])
    spec = pipeline.STEPS[name]
    folder = FIXTURES / name
    func = getattr(importlib.import_module(f"{PACKAGE}.steps.{name}"), name)
    loaded = _runtime.load_values({n: folder / "inputs" / n for n in spec["inputs"]})
    args = [loaded[n] for n in spec["inputs"]]
    kwargs = {k: _runtime.load_value(folder / "inputs" / k) for k in spec["params"]}
    if spec["rng_in"]:
        kwargs["_rng"] = _runtime.load_value(folder / "inputs" / "_rng")
    with _runtime.in_workdir():
        got = func(*args, **kwargs)
    problems = []
    for out in case["outputs"]:
        if out not in got:
            problems.append(f"{out}: not returned")
            continue
        expected = _runtime.load_value(folder / "outputs" / out)
        verdict = _compare.compare(expected, got[out], rtol=1e-6, atol=1e-9)
        if verdict.status == _compare.DIFFERENT:
            problems.append(f"{out}: {verdict.detail}")
    message = f"step {name} no longer computes what the notebook computed:\\n  "
    assert not problems, message + "\\n  ".join(problems)


def test_pipeline_runs_and_produces_every_output(step_outputs):
    for name, spec in pipeline.STEPS.items():
        for out in spec["outputs"]:
            assert out in step_outputs[name], f"step {name} did not produce {out}"
'''


def _skip_stub(plan: PipelinePlan, title: str, test: str, why: str) -> str:
    return (header(plan) + pyfmt.docstring(f"{title} for {plan.notebook} (stub).", 0)
            + f"\n\nimport pytest\n\n\ndef {test}():\n"
            + pyfmt.block(pyfmt.Br("pytest.skip(", [pyfmt.q(why)], ")"), 1) + "\n")


def quality_test(plan: PipelinePlan, capture: dict | None) -> str:
    p = plan.package
    checked = _checked(plan, capture)
    if not checked:
        why = (f"no captured data profile: run `nb2pipe convert {plan.notebook} --capture` to "
               "generate data-quality checks" if not capture else
               "the captured steps produce no tables to check; write checks here")
        return _skip_stub(plan, "Data-quality tests", "test_data_quality", why)
    last = [s.name for s in plan.steps if s.name in checked][-1]
    doc = pyfmt.docstring(
        "Data-quality tests: the data as the pipeline loads it now, against the profiles\n"
        f"captured from {plan.notebook}: no missing values where there were none, dtypes, "
        "values within\nthe observed range (with a margin), mean/std, categories within the "
        "known set and their\nshares within tolerance (bias). Tolerances: "
        f"`{p}._quality.TOLERANCES`.", 0)
    imports = (pyfmt.from_import(p, ["_quality", "validate"]) + "\n"
               + pyfmt.from_import(f"{p}._profiles", ["CHECKED", "PROFILES"]))
    return (header(plan) + doc + QUALITY_TEST.replace("IMPORTS", imports)
            .replace("LAST_STEP", pyfmt.q(last)))


QUALITY_TEST = '''

import pytest

IMPORTS

CASES = [(step, name) for step, names in CHECKED.items() for name in names]
LAST = LAST_STEP


@pytest.fixture(scope="module")
def loaded():
    """The steps up to the last checked one, on the data as it is now."""
    return validate.run_steps(validate=False, stop_after=LAST)


@pytest.mark.parametrize("step,name", CASES)
def test_data_matches_captured_profile(loaded, step, name):
    problems = _quality.check(loaded[step][name], PROFILES[step][name])
    assert not problems, "\\n" + _quality.report({f"{step}.{name}": problems})
'''


def performance_test(plan: PipelinePlan, capture: dict | None) -> str:
    metrics = detect_metrics(plan)
    baseline: dict[str, list[Any]] = {}
    for name, step, direction in metrics:
        rec = (capture or {}).get("steps", {}).get(step, {}).get("outputs", {}).get(name, {})
        value = rec.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and \
                math.isfinite(value):
            baseline[name] = [step, rec["value"], direction]
    if not baseline:
        why = (f"no captured metrics: run `nb2pipe convert {plan.notebook} --capture`"
               if capture is None and metrics else
               "no metric found: assign metrics from sklearn.metrics functions (accuracy_score, "
               "r2_score, ...) or list them in a cell tagged `pipeline-metrics`")
        return _skip_stub(plan, "Model performance tests", "test_model_performance", why)
    return (header(plan) + PERFORMANCE_TEST
            .replace("TOLERANCES", f"ABS_TOL, REL_TOL = {ABS_TOL!r}, {REL_TOL!r}")
            .replace("BASELINE_VALUE", pyfmt.block(pyfmt.data(_sorted(baseline)), 0,
                                                   "BASELINE = ")))


PERFORMANCE_TEST = '''"""Model performance: the retrained model's metrics stay within a tolerance of the
values the notebook computed when it was captured. Tolerance: max(ABS_TOL, REL_TOL * |value|),
one-sided for metrics where higher (or lower) is better."""

import pytest

TOLERANCES
# metric -> [step, captured value, "higher" | "lower" | "unknown" is better]
BASELINE_VALUE


@pytest.mark.parametrize("metric", sorted(BASELINE))
def test_metric_within_tolerance(step_outputs, metric):
    step, expected, better = BASELINE[metric]
    actual = float(step_outputs[step][metric])
    tol = max(ABS_TOL, REL_TOL * abs(expected))
    msg = f"{metric} = {actual:.6g}, captured {expected:.6g} (tolerance {tol:.3g})"
    if better == "higher":
        assert actual >= expected - tol, msg
    elif better == "lower":
        assert actual <= expected + tol, msg
    else:
        assert abs(actual - expected) <= tol, msg
'''


def test_files(plan: PipelinePlan, capture: dict | None) -> dict[str, str]:
    p = plan.package
    files = {
        "tests/conftest.py": conftest(plan),
        "tests/test_steps.py": steps_test(plan, capture),
        "tests/test_data_quality.py": quality_test(plan, capture),
        "tests/test_model_performance.py": performance_test(plan, capture),
        f"{p}/_quality.py": header(plan) + _source("validation/quality.py"),
        f"{p}/_compare.py": header(plan) + _source("validation/compare.py"),
        f"{p}/_profiles.py": profiles_module(plan, capture),
        f"{p}/validate.py": validate_module(plan),
    }
    if capture:
        files["tests/fixtures/capture.json"] = json.dumps(
            capture, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return files
