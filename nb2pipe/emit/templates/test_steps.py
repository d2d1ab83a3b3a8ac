import importlib
import inspect
from pathlib import Path

import pytest

# __IMPORTS__

FIXTURES = Path(__file__).parent / "fixtures"
# step -> why its fixture test is skipped ("" when it runs), outputs compared with fixtures
# __CASES__
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
    message = f"step {name} no longer computes what the notebook computed:\n  "
    assert not problems, message + "\n  ".join(problems)


def test_pipeline_runs_and_produces_every_output(step_outputs):
    for name, spec in pipeline.STEPS.items():
        for out in spec["outputs"]:
            assert out in step_outputs[name], f"step {name} did not produce {out}"
