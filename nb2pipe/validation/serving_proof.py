"""The serving proof (issue 16, item 2): is the derived serving path the notebook's?

In a fresh interpreter, the rendered serving module replays the training slice on the
notebook's data file (`learn`) and `prove` runs the request path on the raw rows behind the
evaluation set, as one batch and row by row, against the replay's predictions. The replay's
predictions must in turn be the notebook's own: their fingerprint must equal the one the
capture recorded in the notebook's kernel (same hashing as capture.KERNEL_SETUP). Both equal:
the path is verified and `serving.py` is written. Otherwise no serving.py and NB312 says why.
"Predictions" are the served value: the prediction after the notebook's post-processing
(planning/serving_post.py), compared with the notebook's own value of that name.

`nb2pipe verify` runs the same proof (`prove_against_dump`) against the value its own run of
the notebook left, instead of the capture's fingerprint.
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
    else:  # as the capture hashes other values: their cloudpickle bytes
        import cloudpickle
        h.update(cloudpickle.dumps(v))
    return "sha256:" + h.hexdigest()

try:
    state = mod.learn(sys.argv[2])
    result = mod.prove(state)
    result["reference"] = fingerprint(state.reference)
    if len(sys.argv) > 3:  # the notebook's own value, dumped by nb2pipe verify's run
        import cloudpickle
        with open(sys.argv[3], "rb") as fh:
            result["notebook_same"] = bool(mod.same(state.reference, cloudpickle.load(fh)))
except Exception as exc:
    result = {"ok": False, "why": f"the training replay failed: {type(exc).__name__}: {exc}"}
print("\n" + json.dumps(result, default=str))
'''


def run_proof(module_text: str, notebook_folder: Path, notebook_value: Path | None = None
              ) -> dict[str, Any]:
    """Run the proof child on `module_text`; its JSON result (ok, why, rows, ...). With
    `notebook_value` (a cloudpickle of the notebook's served value), also `notebook_same`."""
    extra = [str(notebook_value)] if notebook_value is not None else []
    with tempfile.TemporaryDirectory(prefix="nb2pipe-serving-") as tmp:
        module = Path(tmp) / "serving_under_proof.py"
        module.write_text(module_text, encoding="utf-8")
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD, str(module),
                                   str(notebook_folder), *extra], capture_output=True, text=True,
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
    """The fingerprint the capture recorded for the notebook's served value."""
    from nb2pipe.emit.serving import served_record

    return served_record(plan, capture).get("fingerprint")


def _against_notebook(result: dict[str, Any], served: str, expected: str | None
                      ) -> dict[str, Any]:
    """The proof's result, failed unless the replay's served value is the notebook's own
    (`notebook_same` from verify's dump, else the capture's fingerprint)."""
    if not result.get("ok"):
        return result
    if "notebook_same" in result:
        same = result["notebook_same"]
    elif expected is None:
        return {"ok": False, "why": f"the capture recorded no fingerprint of {served} to "
                                    "compare with"}
    else:
        same = result.get("reference") == expected
    if not same:
        return {"ok": False, "why": "replaying the notebook's code outside the notebook gave "
                                    f"other {served} than the notebook"}
    return result


def verdict(plan: PipelinePlan, result: dict[str, Any]) -> tuple[Any, Diagnostic]:
    """(the serving plan marked verified or not, NB313 or NB312) for a proof result."""
    serving = plan.serving
    assert serving is not None
    where = {"path": plan.notebook, "cell": serving.predict_cell, "line": serving.predict_line}
    if not result.get("ok"):
        why = result.get("why", "unknown")
        return replace(serving, verified=False, proof=why), Diagnostic(
            "NB312", f"no serving.py: the serving path for {serving.model}.{serving.method}"
                     f"({serving.input}) does not reproduce the notebook: {why}", **where)
    proof = (f"{result['rows']} evaluation rows as one batch and {result['single_rows']} "
             f"one at a time gave the notebook's {serving.served}; a request needs the "
             f"columns {', '.join(result['required'])}")
    return replace(serving, verified=True, proof=proof,
                   required=tuple(result["required"])), Diagnostic(
        "NB313", f"serving path verified: {proof}", **where)


def prove_plan(plan: PipelinePlan, notebook_folder: Path, capture: dict[str, Any] | None
               ) -> tuple[PipelinePlan, list[Diagnostic]]:
    """The plan with its serving path marked verified (or not), and the diagnostic saying
    which and why."""
    from nb2pipe.emit.serving import module_text

    serving = plan.serving
    if serving is None:
        return plan, []
    result = _against_notebook(run_proof(module_text(plan, serving), notebook_folder),
                               serving.served, captured_fingerprint(plan, capture))
    marked, diag = verdict(plan, result)
    return replace(plan, serving=marked), [diag]


def prove_against_dump(plan: PipelinePlan, text: str, notebook_folder: Path,
                       notebook_value: Path) -> tuple[Any, Diagnostic]:
    """For `nb2pipe verify`: the serving module `text` against the notebook's served value
    as a fresh run of the notebook left it (`notebook_value`, a cloudpickle)."""
    assert plan.serving is not None
    result = _against_notebook(run_proof(text, notebook_folder, notebook_value),
                               plan.serving.served, None)
    return verdict(plan, result)
