"""The pipeline as a whole, each step through the container entrypoint (`_runtime.run_step`),
in a scratch working folder holding copies of the input files:

- on a sample of the input rows (same columns, row order kept), with the final metrics within
  a stated band of the notebook's captured values;
- against broken input files (missing, empty, a malformed row, a required column missing):
  the step that reads the file fails with a message naming the file and the problem;
- at 10x and 100x the input rows (marked slow, skipped unless NB2PIPE_SCALE=1): run time and
  peak memory per step, reported, not asserted.
"""

import os
import re
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest

# __IMPORTS__

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FRACTION = "__SAMPLE_FRACTION__"
# a metric passes when |sample run - captured| <= max(BAND_ABS, BAND_REL * |captured|)
BAND_ABS, BAND_REL = "__BAND_ABS__", "__BAND_REL__"
# input table (relative to the notebook's folder) -> the first step that reads it
# __INPUTS__
# folders the steps write files into (relative to the notebook's folder)
# __OUT_DIRS__
# metric -> [step, captured value]
# __BASELINE__


def _producers() -> dict[str, dict[str, str]]:
    """For each step, the step whose output each of its inputs is (the latest before it)."""
    latest: dict[str, str] = {}
    out: dict[str, dict[str, str]] = {}
    for name, spec in pipeline.STEPS.items():
        needs = list(spec["inputs"]) + (["_rng"] if spec["rng_in"] else [])
        out[name] = {n: latest[n] for n in needs}
        latest.update({n: name for n in spec["outputs"]})
        if spec["rng_out"]:
            latest["_rng"] = name
    return out


def run_steps(scratch: Path, stop_after: str | None = None) -> dict[str, dict]:
    """Each step in order through run_step; returns seconds and peak memory (MiB) per step."""
    producers, report = _producers(), {}
    for name in pipeline.STEPS:
        inputs = scratch / "values" / name / "inputs"
        inputs.mkdir(parents=True)
        for value, step in producers[name].items():
            (inputs / value).symlink_to(scratch / "values" / step / "outputs" / value)
        tracemalloc.start()
        started = time.perf_counter()
        _runtime.run_step(name, inputs, scratch / "values" / name / "outputs", {})
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        report[name] = {"seconds": round(seconds, 3), "peak_mib": round(peak, 1)}
        if name == stop_after:
            break
    return report


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A working folder with copies of the input tables; the steps run in it."""
    work = tmp_path / "work"
    for rel in list(INPUTS) + OUT_DIRS:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
    for rel in INPUTS:
        shutil.copyfile(_runtime.workdir() / rel, work / rel)
    monkeypatch.setenv("NB2PIPE_WORKDIR", str(work))
    return tmp_path


def _resize(work: Path, rel: str, factor: float) -> None:
    """The table with `factor` times its rows: a seeded sample (order kept) or, above 1,
    rows drawn with replacement from it (the captured schema and distributions)."""
    import pandas as pd

    path = work / rel
    table = pd.read_csv(path)
    n = max(1, int(round(len(table) * factor)))
    rows = table.sample(n=n, replace=factor > 1, random_state=0)
    rows.sort_index(kind="stable").to_csv(path, index=False)


def test_whole_pipeline_on_a_sample(scratch):
    for rel in INPUTS:
        _resize(scratch / "work", rel, SAMPLE_FRACTION)
    report = run_steps(scratch)
    print(f"sample run ({SAMPLE_FRACTION:.0%} of the rows):", report)
    for metric, (step, expected) in BASELINE.items():
        folder = scratch / "values" / step / "outputs" / metric
        actual = float(_runtime.load_value(folder))
        band = max(BAND_ABS, BAND_REL * abs(expected))
        msg = f"{metric} = {actual:.6g} on the sample, captured {expected:.6g}"
        assert abs(actual - expected) <= band, f"{msg} (band {band:.3g})"


def _fail_reading(scratch: Path, rel: str) -> str:
    """Run the steps up to the one reading `rel`; the message it fails with."""
    with pytest.raises(_runtime.StepDataError) as info:
        run_steps(scratch, stop_after=INPUTS[rel])
    message = str(info.value)
    assert message.startswith(f"step {INPUTS[rel]}: {rel}: "), message
    return message


def _required_column(rel: str) -> str | None:
    """A column of the table that the step reading it must find: one of the captured table's
    columns, else one its code names."""
    header = (Path(os.environ["NB2PIPE_WORKDIR"]) / rel).read_text().splitlines()[0]
    columns = [c.strip().strip('"') for c in header.split(",")]
    step = INPUTS[rel]
    tables = PROFILES.get(step, {}).values()
    profiled = {c for table in tables for c in table.get("columns", {})}
    code = (Path(_runtime.__file__).parent / "steps" / f"{step}.py").read_text()
    named = [c for c in columns if re.search(rf"[\"']{re.escape(c)}[\"']", code)]
    return next((c for c in columns if c in profiled), named[0] if named else None)


@pytest.mark.parametrize("rel", sorted(INPUTS))
def test_missing_input_file(scratch, rel):
    (scratch / "work" / rel).unlink()
    assert "the file is missing" in _fail_reading(scratch, rel)


@pytest.mark.parametrize("rel", sorted(INPUTS))
def test_empty_input_file(scratch, rel):
    (scratch / "work" / rel).write_text("")
    assert "the file is empty" in _fail_reading(scratch, rel)


@pytest.mark.parametrize("rel", sorted(INPUTS))
def test_malformed_row(scratch, rel):
    path = scratch / "work" / rel
    lines = path.read_text().splitlines()
    width = len(lines[0].split(","))
    lines.insert(2, ",".join(["1"] * (width + 3)))  # three fields too many
    path.write_text("\n".join(lines) + "\n")
    assert "a malformed row" in _fail_reading(scratch, rel)


@pytest.mark.parametrize("rel", sorted(INPUTS))
def test_required_column_missing(scratch, rel):
    import pandas as pd

    column = _required_column(rel)
    if column is None:
        pytest.skip(f"no capture, and the step reading {rel} names none of its columns")
    path = scratch / "work" / rel
    pd.read_csv(path).drop(columns=[column]).to_csv(path, index=False)
    message = _fail_reading(scratch, rel)
    assert "a required column is missing" in message and column in message


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("NB2PIPE_SCALE"), reason="slow: NB2PIPE_SCALE=1")
@pytest.mark.parametrize("factor", [10, 100])
def test_scale(scratch, factor):
    for rel in INPUTS:
        _resize(scratch / "work", rel, factor)
    report = run_steps(scratch)
    print(f"\n{factor}x the input rows:")
    for step, used in report.items():
        seconds, peak = used["seconds"], used["peak_mib"]
        print(f"  {step:<24} {seconds:>9.2f} s  {peak:>9.1f} MiB peak")
