"""Emitters, one module per target, found through this registry.

Each emitter takes the PipelinePlan (never the notebook) and returns relative path -> text.
"""

from __future__ import annotations

from typing import Callable

from nb2pipe.planning.model import PipelinePlan

Emitter = Callable[[PipelinePlan, str], dict[str, str]]
_EMITTERS: dict[str, Emitter] = {}


def register(name: str) -> Callable[[Emitter], Emitter]:
    def deco(fn: Emitter) -> Emitter:
        _EMITTERS[name] = fn
        return fn

    return deco


@register("package")
def _package(plan: PipelinePlan, description: str) -> dict[str, str]:
    from nb2pipe.emit.package import package_files

    return package_files(plan)


@register("project")
def _project(plan: PipelinePlan, description: str) -> dict[str, str]:
    from nb2pipe.emit.project import project_files

    return project_files(plan, description)


@register("plan")
def _plan(plan: PipelinePlan, description: str) -> dict[str, str]:
    """The PipelinePlan itself (without code), for the runner and deploy tools."""
    return {"nb2pipe.plan.json": plan.dumps(include_code=False) + "\n"}


def emit_all(plan: PipelinePlan, description: str = "") -> dict[str, str]:
    files: dict[str, str] = {}
    for name in sorted(_EMITTERS):
        files.update(_EMITTERS[name](plan, description))
    return files
