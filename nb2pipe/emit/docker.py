"""Emit the Dockerfile (one image for all steps; per-step `image:` tags override it) and its
.dockerignore.

The image: a Python image pinned by full version (or the user's base image, emit/image.py),
every distribution the steps need installed from the full lock (emit/lock.py) without
resolving anything, the generated package, and a non-root user (the uid the Kubernetes
security contexts run as). The project folder is the whole build context, so a plain
`docker build -t IMAGE .` (or `podman build`) works: conversion copies the data files the
steps read and the notebook's local helper modules from the notebook's folder into
build-context/ (buildcontext.py), and the Dockerfile copies that folder once, already owned
by the user. With `--no-data-in-image` the data stays out and is passed at submit time
(`--data-from`); see deploy/README.md.
"""

from __future__ import annotations

from nb2pipe.emit import k8s
from nb2pipe.emit.image import default_base_image
from nb2pipe.emit.lock import LOCK_FILE
from nb2pipe.emit.package import header
from nb2pipe.planning.model import PipelinePlan

DOCKERIGNORE = """\
# Never send local secrets, run state or caches to the build.
secrets.local.*
.nb2pipe/
**/__pycache__/
*.egg-info/
.pytest_cache/
.git/
"""


BUILD_CONTEXT = "build-context"  # in the project: copies of the notebook folder's files
BUILD_COMMAND = "docker build -t IMAGE ."


def base_image(plan: PipelinePlan) -> str:
    return plan.base_image or default_base_image()


def context_files(plan: PipelinePlan) -> list[str]:
    """Paths in the notebook's folder that the image needs under the working folder: the data
    files the steps read (unless kept out) and the local helper modules."""
    files = k8s.data_files(plan) if plan.data_in_image else []
    return files + [f"{m}.py" for m in plan.local_modules]


def build_command(tag: str = "IMAGE") -> str:
    """The one command that builds the image, run in the generated project's folder."""
    return BUILD_COMMAND.replace("IMAGE", tag)


def dockerfile(plan: PipelinePlan) -> str:
    uid = k8s.UID
    lines = [header(plan).rstrip(),
             f"# Build, in this folder: {BUILD_COMMAND}   (or podman build -t IMAGE .)",
             f"FROM {base_image(plan)}", "",
             "ENV PYTHONDONTWRITEBYTECODE=1 \\", "    PYTHONUNBUFFERED=1 \\",
             "    PIP_NO_CACHE_DIR=1 \\", "    PIP_DISABLE_PIP_VERSION_CHECK=1 \\",
             f"    NB2PIPE_WORKDIR={k8s.WORKDIR} \\", "    MPLBACKEND=Agg", "",
             # empty folders: chown costs nothing here, unlike `chown -R` after the data COPY,
             # which would store every data file a second time in a new layer
             f"RUN groupadd --gid {uid} app \\",
             f"    && useradd --uid {uid} --gid app --create-home --shell /usr/sbin/nologin app \\",
             f"    && mkdir -p {k8s.WORKDIR} /tmp/nb2pipe \\",
             f"    && chown {uid}:{uid} {k8s.WORKDIR} /tmp/nb2pipe",
             f"WORKDIR {k8s.APP_DIR}", "",
             "# Dependencies first, so code changes do not reinstall them: every distribution the",
             "# steps need, pinned to the environment the notebook was converted in; --no-deps,",
             "# since the lock is complete and nothing unpinned may slip in.",
             f"COPY {LOCK_FILE} ./",
             f"RUN pip install --no-deps -r {LOCK_FILE}", ""]
    lines += _package_lines(plan) + _kfp_lines() + _context_lines(plan)
    lines += [f"USER {uid}:{uid}", f'CMD ["python", "-m", "{plan.package}", "steps"]', ""]
    return "\n".join(lines)


def _kfp_lines() -> list[str]:
    """Kubeflow Pipelines runs each step through kfp's executor: the image carries it (no pip
    install at pod start, which needs PyPI from the cluster), without its dependencies as KFP
    installs it; the folders KFP's launcher writes artifacts to belong to the step user."""
    from nb2pipe.emit.kfp import kfp_runtime_requirement

    uid = k8s.UID
    return ["# Kubeflow Pipelines: kfp's executor (as KFP installs it) and the folders its",
            "# launcher writes artifacts to, owned by the step user",
            f'RUN pip install --no-deps "{kfp_runtime_requirement()}" \\',
            f"    && mkdir -p /gcs /minio /s3 && chown {uid}:{uid} /gcs /minio /s3", ""]


def _package_lines(plan: PipelinePlan) -> list[str]:
    pkg = plan.package
    return ["COPY pyproject.toml ./", f"COPY {pkg}/ ./{pkg}/",
            "RUN pip install --no-deps . && rm -rf build", ""]


def _context_lines(plan: PipelinePlan) -> list[str]:
    files = context_files(plan)
    lines = [] if plan.data_in_image or not k8s.data_files(plan) else [
        "# The data files the steps read are not in the image (--no-data-in-image): pass them",
        "# at submit time (nb2pipe submit --data-from URL), see deploy/README.md.", ""]
    if not files:
        return lines
    lines += [f"# From the notebook's folder, copied into {BUILD_CONTEXT}/ by nb2pipe convert "
              "(run it again", "# after changing them), owned by the user the steps run as:"]
    lines += [f"#   {f}" for f in files]
    lines += [f"COPY --chown={k8s.UID}:{k8s.UID} {BUILD_CONTEXT}/ {k8s.WORKDIR}/", ""]
    return lines


def docker_files(plan: PipelinePlan) -> dict[str, str]:
    return {"Dockerfile": dockerfile(plan), ".dockerignore": DOCKERIGNORE}
