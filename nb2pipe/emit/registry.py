"""Emitters, one module per target, found through this registry.

Each emitter takes the PipelinePlan (never the notebook) and returns relative path -> text.
"""

from __future__ import annotations

from typing import Callable

from nb2pipe.planning.model import PLAN_FILE, PipelinePlan

Emitter = Callable[..., dict[str, str]]
_EMITTERS: dict[str, Emitter] = {}
_WANTS_CAPTURE: set[str] = set()  # emitters called as fn(plan, description, capture)


def register(name: str, capture: bool = False) -> Callable[[Emitter], Emitter]:
    def deco(fn: Emitter) -> Emitter:
        _EMITTERS[name] = fn
        if capture:
            _WANTS_CAPTURE.add(name)
        return fn

    return deco


@register("package", capture=True)
def _package(plan: PipelinePlan, description: str, capture: dict | None) -> dict[str, str]:
    from nb2pipe.emit.package import package_files

    return package_files(plan, capture)


@register("project", capture=True)
def _project(plan: PipelinePlan, description: str, capture: dict | None) -> dict[str, str]:
    from nb2pipe.emit.project import project_files

    return project_files(plan, description, capture)


@register("tests", capture=True)
def _tests(plan: PipelinePlan, description: str, capture: dict | None) -> dict[str, str]:
    """Unit tests (captured fixtures or marked stubs), data-quality and model-performance
    tests, the validation step and the captured baseline."""
    from nb2pipe.emit.tests import test_files

    return test_files(plan, capture)


@register("plan")
def _plan(plan: PipelinePlan, description: str) -> dict[str, str]:
    """The PipelinePlan itself (without code), for the runner and deploy tools."""
    return {PLAN_FILE: plan.dumps(include_code=False) + "\n"}


@register("argo")
def _argo(plan: PipelinePlan, description: str) -> dict[str, str]:
    from nb2pipe.emit.argo import argo_files

    return argo_files(plan)


@register("docker")
def _docker(plan: PipelinePlan, description: str) -> dict[str, str]:
    from nb2pipe.emit.docker import docker_files

    return docker_files(plan)


@register("kfp")
def _kfp(plan: PipelinePlan, description: str) -> dict[str, str]:
    from nb2pipe.emit.kfp import kfp_files

    return kfp_files(plan)


@register("serving", capture=True)
def _serving(plan: PipelinePlan, description: str, capture: dict | None) -> dict[str, str]:
    """<pkg>/serving.py and tests/test_serving.py (the skew test), when the serving path was
    proven equal to the notebook."""
    from nb2pipe.emit.serving import serving_files

    return serving_files(plan, capture)


@register("serve_k8s")
def _serve_k8s(plan: PipelinePlan, description: str) -> dict[str, str]:
    """deploy/serve-kserve.yaml, deploy/serve-deployment.yaml and the image's serving entry,
    when the verified serving path can run on a cluster."""
    from nb2pipe.emit.serve_k8s import serve_k8s_files

    return serve_k8s_files(plan)


def emit_all(plan: PipelinePlan, description: str = "",
             capture: dict | None = None) -> dict[str, str]:
    files: dict[str, str] = {}
    # the package (the notebook's code, formatted by black) last: a formatting child started
    # by api.convert works meanwhile
    for name in sorted(_EMITTERS, key=lambda n: (n == "package", n)):
        if name in _WANTS_CAPTURE:
            files.update(_EMITTERS[name](plan, description, capture))
        else:
            files.update(_EMITTERS[name](plan, description))
    return files
