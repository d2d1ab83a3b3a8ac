"""The serving proof (issue 16, item 2): is the derived serving path the notebook's?

In a fresh interpreter, the rendered serving module replays the training slice on the
notebook's data file (`learn`) and `prove` runs the request path on the raw rows behind the
evaluation set, as one batch and row by row, against the replay's predictions. The replay's
predictions must in turn be the notebook's own: their fingerprint must equal the one the
capture recorded in the notebook's kernel (same hashing as capture.KERNEL_SETUP). Both equal:
the path is verified and `serving.py` is written. Otherwise no serving.py and NB312 says why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from nb2pipe.diagnostics import Diagnostic
from nb2pipe.planning.model import PipelinePlan

PROOF_TIMEOUT = 900  # seconds: the replay fits the notebook's model again

# runs in the child: argv = module file, notebook folder; prints one JSON line last
_CHILD = r'''
import hashlib, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("nb2pipe_serving_proof", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mod
spec.loader.exec_module(mod)

def fingerprint(v):
    import numpy as np, pandas as pd
    h = hashlib.sha256()
    if isinstance(v, (pd.DataFrame, pd.Series)):
        h.update(repr(getattr(v, "columns", [getattr(v, "name", None)])).encode())
        h.update(repr(list(map(str, getattr(v, "dtypes", [getattr(v, "dtype", "")])))).encode())
        h.update(pd.util.hash_pandas_object(v, index=True).to_numpy().tobytes())
    elif isinstance(v, np.ndarray) and v.dtype.kind != "O":
        h.update(f"{v.dtype}{v.shape}".encode())
        h.update(np.ascontiguousarray(v).tobytes())
    else:
        return None
    return "sha256:" + h.hexdigest()

try:
    state = mod.learn(sys.argv[2])
    result = mod.prove(state)
    result["reference"] = fingerprint(state.reference)
except Exception as exc:
    result = {"ok": False, "why": f"the training replay failed: {type(exc).__name__}: {exc}"}
print("\n" + json.dumps(result, default=str))
'''


def run_proof(module_text: str, notebook_folder: Path) -> dict[str, Any]:
    """Run the proof child on `module_text`; its JSON result (ok, why, rows, ...)."""
    with tempfile.TemporaryDirectory(prefix="nb2pipe-serving-") as tmp:
        module = Path(tmp) / "serving_under_proof.py"
        module.write_text(module_text, encoding="utf-8")
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD, str(module),
                                   str(notebook_folder)], capture_output=True, text=True,
                                  timeout=PROOF_TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {"ok": False, "why": f"the proof took longer than {PROOF_TIMEOUT} s"}
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "why": f"the proof did not finish ({tail})"}


def captured_fingerprint(plan: PipelinePlan, capture: dict[str, Any] | None) -> str | None:
    """The fingerprint the capture recorded for the notebook's prediction."""
    if capture is None or plan.serving is None:
        return None
    name = plan.serving.prediction
    for step in plan.steps:
        if name in step.outputs:
            rec = capture.get("steps", {}).get(step.name, {}).get("outputs", {}).get(name)
            if rec:
                return rec.get("fingerprint")
    return None


def prove_plan(plan: PipelinePlan, notebook_folder: Path, capture: dict[str, Any] | None
               ) -> tuple[PipelinePlan, list[Diagnostic]]:
    """The plan with its serving path marked verified (or not), and the diagnostic saying
    which and why."""
    from nb2pipe.emit.serving import module_text

    serving = plan.serving
    if serving is None:
        return plan, []
    where = {"path": plan.notebook, "cell": serving.predict_cell, "line": serving.predict_line}
    expected = captured_fingerprint(plan, capture)
    result = run_proof(module_text(plan, serving), notebook_folder)
    if result.get("ok") and expected is None:
        result = {"ok": False, "why": f"the capture recorded no fingerprint of "
                                      f"{serving.prediction} to compare with"}
    elif result.get("ok") and result.get("reference") != expected:
        result = {"ok": False, "why": "replaying the notebook's code outside the notebook "
                                      f"gave other {serving.prediction} than the notebook"}
    if not result.get("ok"):
        why = result.get("why", "unknown")
        return replace(plan, serving=replace(serving, verified=False, proof=why)), [Diagnostic(
            "NB312", f"no serving.py: the serving path for {serving.model}.{serving.method}"
                     f"({serving.input}) does not reproduce the notebook: {why}", **where)]
    proof = (f"{result['rows']} evaluation rows as one batch and {result['single_rows']} "
             f"one at a time gave the notebook's {serving.prediction}; a request needs the "
             f"columns {', '.join(result['required'])}")
    return replace(plan, serving=replace(serving, verified=True, proof=proof,
                                         required=tuple(result["required"]))), [Diagnostic(
        "NB313", f"serving path verified: {proof}", **where)]
