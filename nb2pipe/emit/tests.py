"""Emit the generated project's tests and its validation step.

- `tests/test_steps.py`: each step importable with the expected signature; with a capture,
  each step run on its captured inputs reproduces its captured outputs (a step whose logic
  changes fails); without one, skipped stubs that say what to fill in.
- `tests/test_data_quality.py`: the data the first steps load, checked against the captured
  profiles, as pandera schemas (`<pkg>/schemas.py`: dtypes, missing values, ranges,
  mean/std, categories, shares).
- `tests/test_model_performance.py`: metrics (a `pipeline-metrics` cell, assignments from
  known metric functions such as `accuracy_score`/`r2_score`, or metric-named scalars) stay
  within a tolerance of the captured values.
- `<pkg>/validate.py`: run the steps checking the data (`python -m <pkg>.validate`), failing
  with a report; `<pkg>/_compare.py` is nb2pipe's own module copied so the project runs
  without nb2pipe; `<pkg>/_profiles.py` holds the captured profiles (the runtime reads their
  column names); `<pkg>/schemas.py` holds the pandera schemas built from them
  (the one implementation of the data-quality rules; tests/quality_oracle.py is the
  reference they are tested against).
- `tests/fixtures/capture.json`: the captured baseline (types, fingerprints, samples,
  profiles); the fixture value files themselves are added by `api.convert`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath
from typing import Any

from nb2pipe.emit import pyfmt, template
from nb2pipe.emit.package import header
from nb2pipe.planning.model import PipelinePlan
from nb2pipe.validation import quality

ABS_TOL, REL_TOL = 0.02, 0.05  # metric tolerance: max(ABS_TOL, REL_TOL * |captured|)


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


# dtypes pandera's engines know by these names in every pandera the requirement allows
# (0.20 for pandas 1.5 to 0.3x for pandas 3); another dtype is checked by `dtype_is` alone
PANDERA_DTYPES = frozenset(
    [f"{k}{b}" for k in ("int", "uint", "Int", "UInt") for b in (8, 16, 32, 64)]
    + ["float16", "float32", "float64", "Float32", "Float64", "bool", "boolean", "object",
       "str", "string", "category", "datetime64[ns]"])
STRING_DTYPES = ("str", "string")  # values are the category names themselves


def _column_schema(base: dict[str, Any]) -> pyfmt.Br:
    """`pa.Column(...)` for one profiled column: the data-quality rules as pandera checks,
    with the margins computed here from `quality.TOLERANCES`."""
    dtype = base["dtype"]
    checks: list[pyfmt.Item] = [f"dtype_is({pyfmt.q(dtype)})"]
    if base["missing"]:
        share = base["missing"] / max(base["count"], 1)
        checks.append(f"missing_share_below({pyfmt.lit(float(share))})")
    tol = quality.TOLERANCES
    if base["kind"] == "numeric" and "min" in base:
        span = base["max"] - base["min"]
        margin = tol["range_margin"] * (span if span > 0 else max(abs(base["max"]), 1.0)) \
            + tol["range_std"] * (base.get("std") or 0.0)
        low, high = base["min"] - margin, base["max"] + margin
        # none beyond three margins; a few (range_share) just outside: rare tails
        checks.append(pyfmt.Br("pa.Check.in_range(", [pyfmt.lit(low - 2 * margin),
                                                      pyfmt.lit(high + 2 * margin)], ")"))
        checks.append(pyfmt.Br("mostly_in_range(", [pyfmt.lit(low), pyfmt.lit(high)], ")"))
        std = base.get("std")
        if std is not None and std > 0:
            checks.append(pyfmt.Br("mean_near(", [pyfmt.lit(float(base["mean"])),
                                                  pyfmt.lit(float(std))], ")"))
            checks.append(f"std_near({pyfmt.lit(float(std))})")
    elif base["kind"] == "categorical" and "categories" in base:
        names = sorted(base["categories"])
        isin = "pa.Check.isin(" if dtype in STRING_DTYPES else "known_categories("
        checks.append(pyfmt.Br(isin, [pyfmt.data(names)], ")"))
        checks.extend(pyfmt.Br("share_near(", [pyfmt.q(c), pyfmt.lit(float(base["categories"][c]))],
                               ")") for c in names)
    args: list[pyfmt.Item] = [pyfmt.q(dtype) if dtype in PANDERA_DTYPES else "None",
                              f"nullable={base['missing'] > 0}",
                              pyfmt.Br("checks=[", checks, "]", "coll")]
    return pyfmt.Br("pa.Column(", args, ")")


def schema_variable(step: str, name: str) -> str:
    """The module-level name of a table's schema (`from <pkg>.schemas import ...`)."""
    return f"{step}__{name}"


def schemas_module(plan: PipelinePlan, capture: dict | None) -> str:
    """`<pkg>/schemas.py` for the tables the validation step checks. Only profiles are read:
    values built from a secret are never profiled (the capture hides them)."""
    checked = _checked(plan, capture)
    profiles = {s: {n: capture["steps"][s]["outputs"][n]["profile"] for n in names}
                for s, names in checked.items()} if capture else {}
    return header(plan) + schemas_source(plan.notebook, plan.package, profiles)


def schemas_source(notebook: str, package: str,
                   profiles: dict[str, dict[str, dict[str, Any]]]) -> str:
    """A pandera DataFrameSchema per profiled table (step -> name -> profile): dtypes,
    nullability, ranges, categories; the tolerance and proportion checks pandera has no
    built-in for; and the `check`/`report` the validation step and data-quality tests call."""
    blocks = []
    table: list[pyfmt.Item] = []
    for step, names in _sorted(profiles).items():
        for name, prof in names.items():
            key = f"{step}.{name}"
            cols = pyfmt.Br("{", pyfmt.dict_items(
                (pyfmt.q(c), _column_schema(prof["columns"][c])) for c in sorted(prof["columns"])),
                "}", "coll")
            schema = pyfmt.Br("pa.DataFrameSchema(", [cols, f"name={pyfmt.q(key)}"], ")")
            var = schema_variable(step, name)
            blocks.append(pyfmt.block(schema, 0, f"{var} = "))
            table.append(f"{pyfmt.q(key)}: {var}")
    if blocks:
        blocks.insert(0, "require_pandera()")
    blocks.append(pyfmt.block(pyfmt.Br("{", table, "}", "coll"), 0, "SCHEMAS = "))
    tolerances = ("# the tolerances of nb2pipe's checks (the margins below are computed from "
                  "them)\n"
                  + pyfmt.block(pyfmt.data(dict(quality.TOLERANCES)), 0, "TOLERANCES = "))
    doc = pyfmt.docstring(
        f"pandera schemas of the tables captured from {notebook} (`nb2pipe convert "
        "--capture`).\n\n"
        f"    from {package}.schemas import SCHEMAS\n"
        "    SCHEMAS[\"step.name\"].validate(frame)\n\n"
        "Each column: its dtype, whether it may hold missing values, the observed range with "
        "a\nmargin, the known categories; the checks pandera has no built-in for (a few values "
        "just\noutside the range, mean and spread, category shares: bias) are custom checks "
        f"below.\n`python -m {package}.validate` and tests/test_data_quality.py use them.", 0)
    return doc + "\n\n" + template.render(
        "schemas.py", blocks={"TOLERANCES": tolerances, "SCHEMAS": "\n\n".join(blocks)})


def validate_module(plan: PipelinePlan) -> str:
    p = plan.package
    doc = pyfmt.docstring(
        "Run the pipeline checking the data against the captured profiles.\n\n"
        f"    python -m {p}.validate [--param NAME=VALUE ...]\n\n"
        f"Like `{p}.pipeline.run`, but after each step whose output tables were profiled when "
        "the\nnotebook was captured, the tables are checked (`schemas.check`); bad data stops "
        "the run\nwith a DataQualityError that lists every problem.\n", 0)
    no_profiles = (f"no captured profiles: run `nb2pipe convert {plan.notebook} --capture`; "
                   "running without checks")
    imports = (pyfmt.from_import(p, ["_runtime", "pipeline", "schemas"]) + "\n"
               + pyfmt.from_import(f"{p}._profiles", ["CHECKED"]))
    return header(plan) + doc + "\n\n" + template.render(
        "validate.py", values={"NO_PROFILES": no_profiles}, blocks={"IMPORTS": imports})




def conftest(plan: PipelinePlan) -> str:
    imports = pyfmt.from_import(plan.package, ["validate"], 1)
    return header(plan) + template.render("conftest.py", blocks={"IMPORTS": imports})


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
            + "\n\n" + template.render("test_steps.py", blocks={
                "IMPORTS": pyfmt.from_import(p, ["_compare", "_runtime", "pipeline"]),
                "CASES": pyfmt.block(pyfmt.data(_sorted(cases)), 0, "CASES = ")}))


def _sorted(value):
    """Plain data with dict keys sorted (as json.dumps(sort_keys=True) wrote it before)."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value




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
        "known set and their\nshares within tolerance (bias): the pandera schemas of "
        f"`{p}.schemas`.", 0)
    imports = (pyfmt.from_import(p, ["schemas", "validate"]) + "\n"
               + pyfmt.from_import(f"{p}._profiles", ["CHECKED"]))
    return header(plan) + doc + "\n\n" + template.render(
        "test_data_quality.py", values={"LAST_STEP": last}, blocks={"IMPORTS": imports})




def performance_test(plan: PipelinePlan, capture: dict | None) -> str:
    metrics = plan.model_metrics
    baseline: dict[str, list[Any]] = {}
    for name, step, direction in ((m.name, m.step, m.better) for m in metrics):
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
    return header(plan) + template.render(
        "test_model_performance.py", values={"ABS_TOL": ABS_TOL, "REL_TOL": REL_TOL},
        blocks={"BASELINE": pyfmt.block(pyfmt.data(_sorted(baseline)), 0, "BASELINE = ")})




SAMPLE_FRACTION = 0.5  # of each input table's rows, for the whole-pipeline run
# the band a metric of the sample run stays within: max(BAND_ABS, BAND_REL * |captured|)
BAND_ABS, BAND_REL = 0.15, 0.25


def pipeline_inputs(plan: PipelinePlan) -> dict[str, str]:
    """The notebook's input tables (CSV files read and written by no step) -> the first step
    that reads each."""
    written = {f.path for s in plan.steps for f in s.files if f.mode == "write"}
    out: dict[str, str] = {}
    for s in plan.steps:
        for f in s.files:
            if f.mode == "read" and f.path.endswith(".csv") and f.path not in written:
                out.setdefault(f.path, s.name)
    return out


def pipeline_test(plan: PipelinePlan, capture: dict | None) -> str:
    inputs = pipeline_inputs(plan)
    if not inputs:
        return _skip_stub(plan, "Whole-pipeline tests", "test_pipeline",
                          "the notebook reads no CSV input table")
    out_dirs = sorted({str(PurePosixPath(f.path).parent) for s in plan.steps for f in s.files
                       if f.mode == "write"} - {"."})
    baseline: dict[str, list[Any]] = {}
    for m in plan.model_metrics:
        rec = (capture or {}).get("steps", {}).get(m.step, {}).get("outputs", {}).get(m.name, {})
        value = rec.get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and \
                math.isfinite(value):
            baseline[m.name] = [m.step, value]
    return header(plan) + template.render(
        "test_pipeline.py",
        values={"SAMPLE_FRACTION": SAMPLE_FRACTION, "BAND_ABS": BAND_ABS, "BAND_REL": BAND_REL},
        blocks={"IMPORTS": pyfmt.from_import(plan.package, ["_runtime", "pipeline"]) + "\n"
                + pyfmt.from_import(f"{plan.package}._profiles", ["PROFILES"]),
                "INPUTS": pyfmt.block(pyfmt.data(inputs), 0, "INPUTS = "),
                "OUT_DIRS": pyfmt.block(pyfmt.data(out_dirs), 0, "OUT_DIRS = "),
                "BASELINE": pyfmt.block(pyfmt.data(_sorted(baseline)), 0, "BASELINE = ")})


def test_files(plan: PipelinePlan, capture: dict | None) -> dict[str, str]:
    p = plan.package
    files = {
        "tests/conftest.py": conftest(plan),
        "tests/test_steps.py": steps_test(plan, capture),
        "tests/test_data_quality.py": quality_test(plan, capture),
        "tests/test_model_performance.py": performance_test(plan, capture),
        "tests/test_pipeline.py": pipeline_test(plan, capture),
        f"{p}/_compare.py": header(plan) + _source("validation/compare.py"),
        f"{p}/_profiles.py": profiles_module(plan, capture),
        f"{p}/schemas.py": schemas_module(plan, capture),
        f"{p}/validate.py": validate_module(plan),
    }
    if capture:
        files["tests/fixtures/capture.json"] = json.dumps(
            capture, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return files
