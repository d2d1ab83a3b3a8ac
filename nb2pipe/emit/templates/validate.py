from __future__ import annotations

import copy
import importlib
import sys
from typing import Any

# __IMPORTS__

DataQualityError = schemas.DataQualityError
NO_PROFILES = "__NO_PROFILES__"


def check_step(step: str, outputs: dict[str, Any]) -> dict[str, list[str]]:
    """Problems of one step's checked outputs, by `step.name` (empty when all pass)."""
    problems = {}
    for name in CHECKED.get(step, []):
        if name in outputs:
            found = schemas.check(outputs[name], schemas.SCHEMAS[f"{step}.{name}"])
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
                        "was captured with:\n" + schemas.report(problems)
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
