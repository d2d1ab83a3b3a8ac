"""`nb2pipe ci --github PROJECT`: write a GitHub Actions workflow for a generated project.

On a change to the notebook, the generated code or the data: `nb2pipe check` (the pipeline is
not stale), the generated tests, and a local run on the sample data. On the main branch, after
those pass: build and push the image, then submit the pipeline — in a job bound to a GitHub
environment, so the environment's protection rules (required reviewers) are the approval gate.

One workflow per project (`.github/workflows/nb2pipe-<package>.yml`), so several projects can
share a repository; a workflow file nb2pipe did not write for the same project is never
replaced without --force.
"""

from __future__ import annotations

from nb2pipe.deploy.install_spec import InstallSpec, detect, extra_requirements, given
from nb2pipe.planning.model import PLAN_FILE, PipelinePlan
from nb2pipe.emit.project import TEST_FILE
from nb2pipe.diagnostics import ExitCode
import argparse
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WORKFLOW_DIR = ".github/workflows"
LEGACY_WORKFLOW = f"{WORKFLOW_DIR}/nb2pipe.yml"  # one file for every project, before issue 15
# The line that says which project a workflow file was written for (relative to the root).
OWNER_MARK = "# nb2pipe-ci-project: "
# Current majors, all on the node24 runtime (node20 is deprecated on GitHub's runners and
# actionlint reports it): checkout v6, setup-python v6, setup-buildx v4, login v4.
CHECKOUT = "actions/checkout@v6"
SETUP_PYTHON = "actions/setup-python@v6"
SETUP_BUILDX = "docker/setup-buildx-action@v4"
DOCKER_LOGIN = "docker/login-action@v4"
CACHE = "actions/cache@v5"  # node24 major
DEFAULT_SCHEDULE = "0 6 * * *"  # daily, 06:00 UTC
SPEC_VARIABLE = "NB2PIPE_SPEC"
# GitHub's rule for secret names: letters, digits, underscores, not a digit first, no GITHUB_.
_SECRET_NAME = re.compile(r"^(?!GITHUB_)[A-Z_][A-Z0-9_]*$", re.IGNORECASE)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="the generated project folder")
    parser.add_argument("--github", action="store_true", required=True,
                        help="write a GitHub Actions workflow (the only CI supported)")
    parser.add_argument("--root", help="the repository root the workflow lives in (default: "
                                       "the git repository holding the project, else the "
                                       "project); paths in the workflow are relative to it")
    parser.add_argument("--engine", choices=["argo", "kfp"], default="argo")
    parser.add_argument("--environment", default="production",
                        help="GitHub environment guarding the submit job (add required "
                             "reviewers to it for an approval gate)")
    parser.add_argument("--registry", default="ghcr.io",
                        help="image registry (default ghcr.io, with the built-in token)")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--schedule", default=DEFAULT_SCHEDULE, metavar="CRON",
                        help="when the retrain job runs `nb2pipe trigger --run` (cron, UTC; "
                             f"default {DEFAULT_SCHEDULE!r}); it also runs on a manual dispatch")
    parser.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}")
    parser.add_argument("--nb2pipe-spec", metavar="SPEC",
                        help="the pip requirement the workflow installs nb2pipe with (a wheel "
                             "path relative to the repository root, "
                             "'nb2pipe @ git+https://...@REV', ...); default: the way "
                             "this nb2pipe was installed (its git repository and revision)")
    parser.add_argument("--force", action="store_true",
                        help="replace a workflow file nb2pipe did not write for this project")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")


@dataclass(frozen=True)
class Options:
    engine: str = "argo"
    environment: str = "production"
    registry: str = "ghcr.io"
    branch: str = "main"
    python: str = "3.11"
    install: InstallSpec = InstallSpec(None, "unknown")
    schedule: str = DEFAULT_SCHEDULE


@dataclass(frozen=True)
class Layout:
    """Where the project's files are, relative to the repository root."""

    project: str
    notebook: str
    workdir: str
    watched: tuple[str, ...]  # on.push.paths

    def outside(self) -> list[str]:
        """Watched paths outside the repository: GitHub cannot see them."""
        return [p for p in self.watched if p == ".." or p.startswith("../")]


def _rel(path: Path, root: Path) -> str:
    """`path` relative to `root`, normalized ('/'-separated, no '.' parts): GitHub path
    filters reject '.' and '..' segments."""
    rel = os.path.relpath(path.resolve(), root.resolve()).replace(os.sep, "/")
    return "." if rel == "" else rel


def _context_step(plan: PipelinePlan, lay: Layout) -> list[dict[str, Any]]:
    """The copies `nb2pipe convert` makes into build-context/ (git-ignored, so a checkout
    lacks them), made again before the build: the project folder is the build context."""
    import posixpath

    from nb2pipe.emit.docker import BUILD_CONTEXT, context_files

    files = context_files(plan)
    if not files:
        return []
    dest = _in(lay.project, BUILD_CONTEXT)
    folders = sorted({posixpath.dirname(f"{dest}/{f}") for f in files})
    lines = [f"mkdir -p {' '.join(shlex.quote(d) for d in folders)}"] + [
        f"cp {shlex.quote(_in(lay.workdir, f))} {shlex.quote(f'{dest}/{f}')}" for f in files]
    return [{"name": "Copy the data and helper modules into the build context",
             "run": "\n".join(lines)}]


def workflow_file(package: str) -> str:
    return f"{WORKFLOW_DIR}/nb2pipe-{package.replace('_', '-')}.yml"


def layout(project: Path, root: Path, plan: PipelinePlan, notebook: str) -> Layout:
    proj = _rel(project, root)
    data = [_rel(project / plan.workdir / f.path, root) for s in plan.steps
            for f in s.files if f.mode == "read"]
    helpers = [_rel(project / plan.workdir / f"{m}.py", root) for m in plan.local_modules]
    nb = _rel(project / notebook, root)
    watched = [nb, f"{proj}/**" if proj != "." else "**", *data, *helpers,
               workflow_file(plan.package)]
    return Layout(proj, nb, _rel(project / plan.workdir, root), tuple(dict.fromkeys(watched)))


def plan_secrets(plan: PipelinePlan) -> list[str]:
    """Every secret a step of the plan reads, once each."""
    return sorted({name for step in plan.steps for name in step.deploy.secrets})


def _in(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}"


def _install(opts: Options, *more: str) -> str:
    """A run script installing `more` and nb2pipe; when the spec is unknown it stops first with
    an error telling the user to set it (pip's own error would not say what to do)."""
    line = " ".join(["python -m pip install", *more, f'"${SPEC_VARIABLE}"'])
    if opts.install.spec:
        return line
    return (f'if [ -z "${SPEC_VARIABLE}" ]; then\n'
            f'  echo "::error::Set the repository variable {SPEC_VARIABLE} to the pip '
            'requirement that installs nb2pipe (for example nb2pipe @ '
            'git+https://github.com/OWNER/REPO@REV), or write this workflow again with '
            'nb2pipe ci --github --nb2pipe-spec SPEC"\n'
            "  exit 1\nfi\n" + line + "\n")


def _secret_env(names: list[str]) -> dict[str, Any]:
    """The secrets, from the CI's secret store, as the environment variables steps read."""
    env = {n: f"${{{{ secrets.{n} }}}}" for n in names}
    return {"env": env} if env else {}


def _python(lay: Layout, opts: Options) -> dict[str, Any]:
    # the pip cache is keyed on this project's requirements (other projects have their own)
    return {"python-version": opts.python, "cache": "pip",
            "cache-dependency-path": _in(lay.project, "requirements.txt")}


def checks_job(lay: Layout, plan: PipelinePlan, opts: Options,
             secrets: list[str]) -> dict[str, Any]:
    in_proj = {"working-directory": lay.project} if lay.project != "." else {}
    steps: list[dict[str, Any]] = [
        {"uses": CHECKOUT},
        {"uses": SETUP_PYTHON, "with": _python(lay, opts)},
        {"name": "Install the pipeline's pinned requirements and nb2pipe",
         "run": _install(opts, "-r", shlex.quote(_in(lay.project, TEST_FILE)))},
        {"name": "The generated pipeline is up to date with the notebook",
         "run": f"nb2pipe check {shlex.quote(lay.notebook)} -o {shlex.quote(lay.project)}"},
        {"name": "Generated tests", "run": "python -m pytest -q tests", **in_proj,
         **_secret_env(secrets)},
        {"name": "Local run on the sample data", "run": f"python -m {plan.package}.pipeline",
         **in_proj, **_secret_env(secrets)},
    ]
    # the schedule is the retrain job's; the checks run on changes and on a manual dispatch
    return {"name": "check, test, run locally", "if": "github.event_name != 'schedule'",
            "runs-on": "ubuntu-latest",
            "timeout-minutes": 30, "steps": steps}


def retrain_job(lay: Layout, plan: PipelinePlan, opts: Options,
                secrets: list[str]) -> dict[str, Any]:
    """On the schedule or a manual dispatch: `nb2pipe trigger --run`, which runs the pipeline
    only when its code, packages, parameters or data changed since the last successful run.
    The run store (.nb2pipe/) is what it compares with, so it travels between runs in the
    Actions cache: restored from the newest entry, saved under this run's id."""
    store = _in(lay.project, ".nb2pipe")
    key = f"nb2pipe-store-{plan.package}"
    steps: list[dict[str, Any]] = [
        {"uses": CHECKOUT},
        {"uses": SETUP_PYTHON, "with": _python(lay, opts)},
        {"name": "Install the pipeline's pinned requirements and nb2pipe",
         "run": _install(opts, "-r", shlex.quote(_in(lay.project, "requirements.txt")))},
        {"name": "The run store of earlier triggered runs", "uses": CACHE,
         "with": {"path": store, "key": f"{key}-${{{{ github.run_id }}}}",
                  "restore-keys": f"{key}-"}},
        {"name": "Run the pipeline if it is due (code, packages, parameters or data changed)",
         "run": f"nb2pipe trigger {shlex.quote(lay.project)} --run", **_secret_env(secrets)},
    ]
    return {"name": "retrain when due (schedule, manual dispatch)",
            "if": "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'",
            "runs-on": "ubuntu-latest", "timeout-minutes": 60, "steps": steps}


def deploy_job(lay: Layout, plan: PipelinePlan, opts: Options) -> dict[str, Any]:
    name = plan.package.replace("_", "-")
    image = f"{opts.registry}/${{{{ github.repository_owner }}}}/{name}:${{{{ github.sha }}}}"
    kfp = opts.engine == "kfp"
    extras = extra_requirements("kfp") if kfp else []
    steps: list[dict[str, Any]] = [
        {"uses": CHECKOUT},
        {"uses": SETUP_BUILDX},
        {"name": "Log in to the registry", "uses": DOCKER_LOGIN,
         "with": {"registry": opts.registry, "username": "${{ github.actor }}",
                  "password": "${{ secrets.REGISTRY_PASSWORD || secrets.GITHUB_TOKEN }}"}},
        *_context_step(plan, lay),
        {"name": "Build and push the image",
         "run": f"docker buildx build -t \"$IMAGE\" --push {shlex.quote(lay.project)}"},
        {"uses": SETUP_PYTHON, "with": _python(lay, opts)},
        {"name": "Install nb2pipe", "run": _install(opts, *(f'"{r}"' for r in extras))},
    ]
    env = {"IMAGE": image}
    submit = f"nb2pipe submit {shlex.quote(lay.project)} --engine {opts.engine} --image \"$IMAGE\""
    if kfp:
        env["KFP_HOST"] = "${{ vars.KFP_HOST }}"
        submit += " --host \"$KFP_HOST\""
    else:
        env["NAMESPACE"] = "${{ vars.NB2PIPE_NAMESPACE || 'default' }}"
        submit += " --namespace \"$NAMESPACE\" --kubeconfig \"$RUNNER_TEMP/kubeconfig\""
        steps.append({"name": "Cluster credentials",
                      "run": "printf '%s' \"$KUBECONFIG_DATA\" > \"$RUNNER_TEMP/kubeconfig\"",
                      "env": {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}"}})
    steps.append({"name": "Submit the pipeline", "run": submit})
    return {"name": "build the image and submit (approval required)", "needs": "test",
            "if": f"github.event_name != 'pull_request' && "
                  f"github.ref == 'refs/heads/{opts.branch}'",
            "runs-on": "ubuntu-latest", "timeout-minutes": 30,
            "environment": {"name": opts.environment},
            "permissions": {"contents": "read", "packages": "write"},
            "env": env, "steps": steps}


def workflow(lay: Layout, plan: PipelinePlan, opts: Options) -> dict[str, Any]:
    """The workflow as a mapping (key order is the order GitHub documents)."""
    name = plan.package.replace("_", "-")
    paths = list(lay.watched)
    secrets = [n for n in plan_secrets(plan) if _SECRET_NAME.match(n)]
    return {
        "name": f"nb2pipe {name}",
        "on": {
            "push": {"branches": [opts.branch], "paths": paths},
            "pull_request": {"paths": paths},
            "schedule": [{"cron": opts.schedule}],
            "workflow_dispatch": None,
        },
        "permissions": {"contents": "read"},
        "env": {SPEC_VARIABLE: opts.install.spec or f"${{{{ vars.{SPEC_VARIABLE} }}}}"},
        "concurrency": {"group": f"nb2pipe-{name}-${{{{ github.ref }}}}",
                        "cancel-in-progress": True},
        "jobs": {"test": checks_job(lay, plan, opts, secrets),
                 "deploy": deploy_job(lay, plan, opts),
                 "retrain": retrain_job(lay, plan, opts, secrets)},
    }


def header(lay: Layout, install: InstallSpec, secrets: list[str]) -> str:
    import textwrap

    lines = [f"Generated by nb2pipe for {lay.project}: `nb2pipe ci --github` writes it again.",
             "The deploy job waits for the approval rules of its GitHub environment (Settings >",
             "Environments > required reviewers). Secrets: KUBECONFIG (argo) or variables",
             "KFP_HOST (kfp); variable NB2PIPE_NAMESPACE picks the namespace. The retrain job",
             "runs `nb2pipe trigger --run` on the schedule (--schedule) and on a manual dispatch."]
    if install.spec:
        more = (f"{SPEC_VARIABLE} (how nb2pipe is installed) comes from {install.source}; "
                "--nb2pipe-spec changes it.")
    else:
        more = (f"How to install nb2pipe is not known ({install.source}): set the repository "
                f"variable {SPEC_VARIABLE} (e.g. nb2pipe @ git+https://github.com/OWNER/REPO@REV)"
                " or write this file again with --nb2pipe-spec SPEC.")
    if secrets:
        more += (" The tests and the local run read these repository secrets: "
                 + ", ".join(secrets) + ".")
    lines += textwrap.wrap(more, 88, break_long_words=False, break_on_hyphens=False)
    return "".join(f"# {line}\n" for line in lines) + f"{OWNER_MARK}{lay.project}\n"


def render(wf: dict[str, Any], head: str) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # no &anchors: plain, reviewable YAML
            return True

    # `on` must stay a string key (YAML 1.1 readers would see a boolean); `null` as empty
    _Dumper.add_representer(type(None), lambda d, _: d.represent_scalar(
        "tag:yaml.org,2002:null", ""))
    # multi-line scripts as literal blocks: read as the shell will run them
    _Dumper.add_representer(str, lambda d, s: d.represent_scalar(
        "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))
    text = yaml.dump(wf, Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False)
    return head + text


def repository_root(project: Path) -> Path:
    """The git repository holding the project, else the project itself."""
    try:
        done = subprocess.run(["git", "-C", str(project), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return project
    top = done.stdout.strip()
    return Path(top) if done.returncode == 0 and top else project


def owner(text: str) -> str | None:
    """The project a workflow file was written for, from its mark; None if nb2pipe did not
    write it (or wrote it before the mark existed)."""
    for line in text.splitlines():
        if line.startswith(OWNER_MARK):
            return line[len(OWNER_MARK):].strip()
        if not line.startswith("#"):
            return None
    return None


def _cannot_write(target: Path, exc: OSError) -> int:
    print(f"nb2pipe ci: error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
    return ExitCode.FINDINGS


def write_workflow(target: Path, text: str, project: str, force: bool) -> int:
    try:
        old = target.read_text(encoding="utf-8", errors="replace") if target.exists() else None
    except OSError as exc:
        return _cannot_write(target, exc)
    if old == text:
        print(f"{target}: unchanged")
        return ExitCode.OK
    if old is not None and owner(old) != project and not force:
        whose = owner(old)
        why = (f"nb2pipe wrote it for the project {whose}" if whose else
               "nb2pipe did not write it")
        print(f"nb2pipe ci: error: {target} exists and {why}; not replaced (pass --force to "
              "replace it)", file=sys.stderr)
        return ExitCode.USAGE
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".yml.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        return _cannot_write(target, exc)
    print(f"{target}: written")
    return ExitCode.OK


def _load(project: Path) -> tuple[PipelinePlan, str] | str:
    """The plan and the notebook's path (relative to the project), or why they cannot be read."""
    from nb2pipe.untrusted import NotNb2pipe, read_lock

    if not (project / PLAN_FILE).is_file() or not (project / "nb2pipe.lock.json").is_file():
        return (f"{project} is not a project nb2pipe generated (no nb2pipe.plan.json / "
                "nb2pipe.lock.json)")
    try:
        lock = read_lock(project)
        plan = PipelinePlan.load(project)
    except (NotNb2pipe, OSError, ValueError) as exc:
        return f"{project}: {exc}"
    notebook = lock.get("notebook") if lock else None
    if not isinstance(notebook, str) or not notebook:
        return f"{project}: nb2pipe.lock.json does not name the notebook"
    return plan, notebook


def _warn_secret_names(names: list[str]) -> None:
    bad = [n for n in names if not _SECRET_NAME.match(n)]
    if bad:
        print(f"nb2pipe ci: warning: {', '.join(bad)} cannot be GitHub secret names (letters, "
              "digits and '_', not starting with GITHUB_): the workflow does not pass them; "
              "rename the environment variables the notebook reads", file=sys.stderr)


def _note_legacy(root: Path, project: str) -> None:
    legacy = root / LEGACY_WORKFLOW
    try:
        head = legacy.read_text(encoding="utf-8", errors="replace")[:300]
    except OSError:  # none, or unreadable: nothing to say
        return
    if "Generated by nb2pipe" in head:
        print(f"nb2pipe ci: note: {legacy} was written by an older nb2pipe (one workflow for "
              f"every project); if it was for {project}, delete it", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    project = Path(args.project)
    loaded = _load(project)
    if isinstance(loaded, str):
        print(f"nb2pipe: error: {loaded}", file=sys.stderr)
        return ExitCode.USAGE
    plan, notebook = loaded
    root = Path(args.root) if args.root else repository_root(project)
    lay = layout(project, root, plan, notebook)
    outside = lay.outside()
    if outside:
        print(f"nb2pipe ci: error: {', '.join(outside)} lie outside the repository root "
              f"{root}: a workflow can neither watch nor read them. Move them into the "
              "repository, or pass --root REPO_ROOT (the repository holding the notebook and "
              "the project)", file=sys.stderr)
        return ExitCode.USAGE
    if len(args.schedule.split()) != 5:
        print(f"nb2pipe ci: error: --schedule {args.schedule!r}: a cron expression has five "
              "fields (minute hour day-of-month month day-of-week), e.g. '0 6 * * *'",
              file=sys.stderr)
        return ExitCode.USAGE
    install = given(args.nb2pipe_spec) if args.nb2pipe_spec else detect()
    opts = Options(args.engine, args.environment, args.registry, args.branch, args.python,
                   install, args.schedule)
    secrets = plan_secrets(plan)
    _warn_secret_names(secrets)
    wf = workflow(lay, plan, opts)
    text = render(wf, header(lay, install, [n for n in secrets if _SECRET_NAME.match(n)]))
    if args.stdout:
        print(text, end="")
        return ExitCode.OK
    _note_legacy(root, lay.project)
    return write_workflow(root / workflow_file(plan.package), text, lay.project, args.force)
