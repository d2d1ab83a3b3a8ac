"""`<pkg>/serving.py`: the serving path of the plan (planning/serving.py), rendered into the
serving template. Written only once the proof found it equal to the notebook
(`ServingPlan.verified`); `module_text` also renders an unproven path for the proof itself."""

from __future__ import annotations

import posixpath

from nb2pipe.emit import pyfmt, template
from nb2pipe.planning.model import PipelinePlan, ServingPlan


def _statement(st) -> dict:
    return {"key": st.key, "role": st.role, "serve": st.serve, "wants": list(st.wants),
            "learned": list(st.learned), "learn": st.learn_code or st.code,
            "request": st.serve_code, "model_only": st.model_only}


def module_text(plan: PipelinePlan, serving: ServingPlan) -> str:
    """The generated serving module for `serving` (proven or not)."""
    table = [_statement(st) for st in serving.statements]
    post = [{"key": st.key, "code": st.code} for st in serving.post if st.serve]
    if not post:  # a plan from before post-processing was derived
        post = [{"key": "predict", "code": f"{serving.prediction} = {serving.model}."
                                           f"{serving.method}({serving.input})"}]
    return template.render("serving.py", values={
        "DATA_FILE": serving.data_file, "FRAME": serving.frame, "MODEL": serving.model,
        "INPUT": serving.input, "PREDICTION": serving.prediction, "METHOD": serving.method,
        "OUTPUT": serving.served,
        # the package folder is one level below the project root
        "WORKDIR": posixpath.normpath(plan.workdir or "."),
    }, blocks={"STATEMENTS": pyfmt.block(pyfmt.data(table), 0, prefix="STATEMENTS = "),
               "POST": pyfmt.block(pyfmt.data(post), 0, prefix="POST = "),
               "POST_READS": pyfmt.block(pyfmt.data(list(serving.post_reads)), 0,
                                         prefix="POST_READS = ")})


def served_cell(serving: ServingPlan) -> int:
    """The cell of the statement that makes the served value."""
    made = [st.cell for st in serving.post if st.serve]
    return max(made) if made else serving.predict_cell


def served_record(plan: PipelinePlan, capture: dict | None) -> dict:
    """What the capture recorded of the served value in the notebook ({} when nothing): its
    step's record, at the end of the step whose cells make it."""
    serving = plan.serving
    if not capture or serving is None:
        return {}
    cell = served_cell(serving)
    for step in plan.steps:
        if cell in step.cells or serving.served in step.outputs:
            rec = capture.get("steps", {}).get(step.name, {}).get("outputs", {}).get(
                serving.served)
            if rec:
                return rec
    return {}


def _prediction_fixture(plan: PipelinePlan, capture: dict | None) -> str:
    """The captured predictions' value folder, relative to the project ("" when none)."""
    rec = served_record(plan, capture)
    return f"tests/fixtures/{rec['fixture']}" if rec.get("fixture") else ""


def serving_files(plan: PipelinePlan, capture: dict | None = None) -> dict[str, str]:
    """serving.py and its skew test, once the serving path is verified."""
    if plan.serving is None or not plan.serving.verified:
        return {}
    return {f"{plan.package}/serving.py": module_text(plan, plan.serving),
            "tests/test_serving.py": template.render("test_serving.py", values={
                "PACKAGE": plan.package, "FIXTURE": _prediction_fixture(plan, capture)})}
