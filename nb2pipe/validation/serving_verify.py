"""The serving proof at `nb2pipe verify` (issue 16, item 2).

`verify` runs the notebook once; the value it leaves for the served name (the prediction
after post-processing) is what the serving path must reproduce. The module proven is the
project's own `<package>/serving.py` when it has one (what `nb2pipe serve` runs), else the
one the notebook's current derivation renders, so `verify` also says whether a project
without a serving.py could have one (and why not: NB311 / NB312).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nb2pipe.planning.model import PipelinePlan

VERIFIED, NOT_VERIFIED, NOT_DERIVED = "verified", "not verified", "no serving path"


@dataclass
class ServingCheck:
    """What verify found about the serving path."""

    status: str  # verified | not verified | no serving path
    code: str  # NB313 | NB312 | NB311
    message: str
    shipped: bool  # the project has a serving.py (a failure then fails verify)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        where = "its serving.py" if self.shipped else "no serving.py in the project"
        mark = self.status if self.status == VERIFIED else self.status.upper()
        return f"serving ({where}): {mark} [{self.code}] {self.message}"


def _module(notebook: Path, project: Path, plan: PipelinePlan
            ) -> tuple[PipelinePlan | None, str, bool, str]:
    """(plan with the serving path, module text, shipped, NB311 message when not derived)."""
    shipped = project / plan.package / "serving.py"
    if plan.serving is not None and shipped.is_file():
        return plan, shipped.read_text(encoding="utf-8"), True, ""
    from nb2pipe.api import plan_notebook
    from nb2pipe.emit.serving import module_text

    fresh, diags, _ = plan_notebook(notebook, project, name=plan.package)
    if fresh is None or fresh.serving is None:
        why = next((d.message for d in diags if d.code == "NB311"), "")
        return None, "", False, why
    return fresh, module_text(fresh, fresh.serving), False, ""


def _dumped_value(plan: PipelinePlan, serving_plan: PipelinePlan, dump: Path) -> Path | None:
    """The notebook's value of the served name in verify's dump (the end of the step whose
    cells make it)."""
    from nb2pipe.emit.serving import served_cell

    serving = serving_plan.serving
    assert serving is not None
    cell = served_cell(serving)
    for step in plan.steps:
        if cell in step.cells or serving.served in step.outputs:
            path = dump / step.name / "outputs" / f"{serving.served}.pkl"
            if path.is_file():
                return path
    return None


def check_serving(notebook: Path, project: Path, plan: PipelinePlan, dump: Path
                  ) -> ServingCheck | None:
    """The serving proof against this notebook run (None: the notebook serves nothing)."""
    from nb2pipe.validation.serving_proof import prove_against_dump

    serving_plan, text, shipped, not_derived = _module(notebook, project, plan)
    if serving_plan is None:
        return ServingCheck(NOT_DERIVED, "NB311", not_derived, False) if not_derived else None
    value = _dumped_value(plan, serving_plan, dump)
    if value is None:
        served = serving_plan.serving.served  # type: ignore[union-attr]
        return ServingCheck(NOT_VERIFIED, "NB312", f"the notebook run left no value of "
                                                   f"{served} to compare with", shipped)
    marked, diag = prove_against_dump(serving_plan, text, notebook.resolve().parent, value)
    return ServingCheck(VERIFIED if marked.verified else NOT_VERIFIED, diag.code,
                        diag.message, shipped)
