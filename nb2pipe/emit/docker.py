"""Emit the Dockerfile (one image for all steps; per-step `image:` tags override it) and its
.dockerignore.

The image: a slim Python of the converting interpreter's minor version, requirements pinned to
the converting environment (project.resolve_requirements), the generated package installed,
a non-root user (the uid the Kubernetes security contexts run as). The data files the steps
read and the notebook's local helper modules live in the notebook's folder, outside the
project: they are copied from a named build context (`--build-context notebook=<folder>`),
so nothing is duplicated into the project. Users who keep data out of the image pass the files
as inputs at submit time instead (`--data-from`); see deploy/README.md.
"""

from __future__ import annotations

import sys

from nb2pipe.emit import k8s
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


def base_image() -> str:
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def build_command(plan: PipelinePlan, tag: str = "IMAGE") -> str:
    """The one command that builds the image, run from the generated project's folder."""
    return f"docker build --build-context notebook={plan.workdir} -t {tag} ."


def dockerfile(plan: PipelinePlan) -> str:
    pkg = plan.package
    uid = k8s.UID
    lines = [header(plan).rstrip(),
             f"# Build: {build_command(plan)}",
             "# (the notebook's folder provides the data files and helper modules below)",
             f"FROM {base_image()}", "",
             "ENV PYTHONDONTWRITEBYTECODE=1 \\", "    PYTHONUNBUFFERED=1 \\",
             "    PIP_NO_CACHE_DIR=1 \\", "    PIP_DISABLE_PIP_VERSION_CHECK=1 \\",
             f"    NB2PIPE_WORKDIR={k8s.WORKDIR} \\", "    MPLBACKEND=Agg", "",
             f"RUN groupadd --gid {uid} app \\",
             f"    && useradd --uid {uid} --gid app --create-home --shell /usr/sbin/nologin app",
             f"WORKDIR {k8s.APP_DIR}", "",
             "# Dependencies first (pinned to the environment the notebook was converted in), so",
             "# code changes do not reinstall them.",
             "COPY requirements.txt ./",
             "RUN pip install -r requirements.txt", "",
             "COPY pyproject.toml ./",
             f"COPY {pkg}/ ./{pkg}/",
             "RUN pip install --no-deps . && rm -rf build", ""]
    files = k8s.data_files(plan)
    mods = list(plan.local_modules)
    if files or mods:
        lines.append("# Data files the steps read and local helper modules, from the notebook's "
                     "folder")
        for f in files:
            lines.append(f"COPY --from=notebook {f} {k8s.WORKDIR}/{f}")
        for m in mods:  # a helper package (folder) needs `COPY --from=notebook m/ .../m/`
            lines.append(f"COPY --from=notebook {m}.py {k8s.WORKDIR}/{m}.py")
        lines.append("")
    from nb2pipe.emit.kfp import kfp_runtime_requirement

    lines += ["# Kubeflow Pipelines runs each step through kfp's executor: the image carries it",
              "# (without its dependencies, as KFP installs it), and the folders KFP's launcher",
              "# writes artifacts to are the step user's",
              f'RUN pip install --no-deps "{kfp_runtime_requirement()}" \\',
              f"    && mkdir -p /gcs /minio /s3 && chown {uid}:{uid} /gcs /minio /s3", "",
              f"RUN mkdir -p {k8s.WORKDIR} /tmp/nb2pipe \\",
              f"    && chown -R {uid}:{uid} {k8s.WORKDIR} /tmp/nb2pipe", "",
              f"USER {uid}:{uid}",
              f'CMD ["python", "-m", "{pkg}", "steps"]', ""]
    return "\n".join(lines)


def docker_files(plan: PipelinePlan) -> dict[str, str]:
    return {"Dockerfile": dockerfile(plan), ".dockerignore": DOCKERIGNORE}
