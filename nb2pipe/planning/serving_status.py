"""Does a generated project have a verified serving path, and if not, why (issue 16, item 7)?

Read from the project's plan file (the proof's verdict, written by `convert --capture`), its
`<package>/serving.py` and its run store (which run stored the serving state a service loads);
nothing is executed, so `nb2pipe status` and the JupyterLab panel can ask it cheaply. `nb2pipe verify` runs the proof again against the notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nb2pipe.planning.model import PipelinePlan, Step

# the value under which a run stores the serving path's learned state, beside the model
SERVING_STATE = "_serving"


def model_step(plan: PipelinePlan) -> Step | None:
    """The last step that outputs the served model (a later refit or mutation is a new
    version): the one whose run stores the serving state."""
    if plan.serving is None:
        return None
    found = [s for s in plan.steps if plan.serving.model in s.outputs]
    return found[-1] if found else None


def secret_learned(plan: PipelinePlan) -> list[str]:
    """Names the serving state would hold whose values are built from a secret: a run never
    stores those (planning/recompute.py), so such a path gets no stored state."""
    if plan.serving is None:
        return []
    secret = {name for name, _ in plan.secret_derived}
    held = {n for st in plan.serving.statements for n in st.learned}
    return sorted((held | set(plan.serving.post_reads)) & secret)


def unservable_reason(plan: PipelinePlan) -> str:
    """Why no run can store the serving state of a verified path ("" when one can)."""
    names = secret_learned(plan)
    if not names:
        return ""
    return (f"the request path reads {', '.join(names)}, built from a secret: a run never "
            "stores it, and a service learns nothing itself (tag the cell that reads it "
            "`serve:skip` if new rows do not need it)")


def state_step(plan: PipelinePlan) -> Step | None:
    """The step that stores the serving state in a run: the model's, once the serving path
    is verified (only then does the project have a serving.py) and holds no secret."""
    if plan.serving is None or not plan.serving.verified or unservable_reason(plan):
        return None
    return model_step(plan)


def _answer(status: str, code: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"verified": status == "verified", "status": status, "code": code,
            "reason": reason, **extra}


def serving_status(plan: PipelinePlan, project: Path) -> dict[str, Any]:
    """{verified, status, code, reason, ...}: status is verified | not verified | not proven |
    no serving path | none (the notebook predicts nothing); code the NB31x that says why."""
    sv = plan.serving
    if sv is None:
        note = next((d for d in plan.diagnostics if d.code == "NB311"), None)
        if note is not None:
            return _answer("no serving path", "NB311", note.message)
        return _answer("none", "", "the notebook makes no prediction with a fitted model "
                                   "(`P = model.predict(X)`)")
    where = {"model": sv.model, "prediction": sv.prediction, "output": sv.served,
             "module": f"{plan.package}/serving.py"}
    if sv.verified and (project / plan.package / "serving.py").is_file():
        return _answer("verified", "NB313", sv.proof, run=served_run(plan, project),
                       unservable=unservable_reason(plan), **where)
    if sv.verified:
        return _answer("not verified", "NB313", f"{plan.package}/serving.py is missing: "
                                                "convert again", **where)
    if sv.proof:
        return _answer("not verified", "NB312", sv.proof, **where)
    return _answer("not proven", "", "convert with --capture to prove the serving path "
                                     "against the notebook's predictions", **where)


def served_run(plan: PipelinePlan, project: Path) -> int | None:
    """The run `nb2pipe serve` would serve: the latest finished run of the model's step that
    stored the serving state beside the model (None: none yet, or no readable store)."""
    import sqlite3

    from nb2pipe.tracking.store import Store, StoreError

    step = state_step(plan)
    if step is None or not (project / ".nb2pipe").is_dir():
        return None
    try:
        store = Store(project, create=False)
    except (StoreError, OSError, sqlite3.Error):
        return None
    try:
        row = store.latest_finished(step.name)
        if row is None or SERVING_STATE not in store.outputs_of(row["id"]):
            return None
        return int(row["run_id"])
    except (StoreError, sqlite3.Error):
        return None
    finally:
        store.close()


def project_serving_status(project: Path) -> dict[str, Any] | None:
    """`serving_status` of the project at `project` (None: no readable plan there)."""
    from nb2pipe.untrusted import NotNb2pipe

    try:
        plan = PipelinePlan.load(project)
    except (FileNotFoundError, NotNb2pipe, OSError):
        return None
    return serving_status(plan, project)


def format_serving_status(st: dict[str, Any]) -> str:
    """One line for `nb2pipe status`."""
    if st["verified"]:
        serve = (f"`nb2pipe serve` serves run {st['run']}" if st.get("run") is not None else
                 "no run has stored its serving state yet: `nb2pipe run`, then `nb2pipe serve`")
        if st.get("unservable"):
            serve = f"not servable: {st['unservable']}"
        return f"serving: verified ({st['module']} answers with {st['output']}; {serve})"
    code = f" [{st['code']}]" if st["code"] else ""
    return f"serving: {st['status']}{code}: {st['reason']}"
