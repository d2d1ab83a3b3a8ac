"""`nb2pipe ci --github PROJECT`: write a GitHub Actions workflow for a generated project.

On a change to the notebook, the generated code or the data: `nb2pipe check` (the pipeline is
not stale), the generated tests, and a local run on the sample data. On the main branch, after
those pass: build and push the image, then submit the pipeline — in a job bound to a GitHub
environment, so the environment's protection rules (required reviewers) are the approval gate.
"""

from __future__ import annotations

from nb2pipe.planning.model import PLAN_FILE, PipelinePlan
from nb2pipe.diagnostics import ExitCode
import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

WORKFLOW = ".github/workflows/nb2pipe.yml"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="the generated project folder")
    parser.add_argument("--github", action="store_true", required=True,
                        help="write a GitHub Actions workflow (the only CI supported)")
    parser.add_argument("--root", help="the repository root the workflow lives in (default: "
                                       "the project, as its own repository); paths in the "
                                       "workflow are relative to it")
    parser.add_argument("--engine", choices=["argo", "kfp"], default="argo")
    parser.add_argument("--environment", default="production",
                        help="GitHub environment guarding the submit job (add required "
                             "reviewers to it for an approval gate)")
    parser.add_argument("--registry", default="ghcr.io",
                        help="image registry (default ghcr.io, with the built-in token)")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}")
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")


def _rel(path: Path, root: Path) -> str:
    rel = os.path.relpath(path.resolve(), root.resolve()).replace(os.sep, "/")
    return "." if rel == "" else rel


def _context_step(plan: PipelinePlan, project: Path, root: Path) -> list[dict[str, Any]]:
    """The copies `nb2pipe convert` makes into build-context/ (git-ignored, so a checkout
    lacks them), made again before the build: the project folder is the build context."""
    from nb2pipe.emit.docker import BUILD_CONTEXT, context_files

    files = context_files(plan)
    if not files:
        return []
    dest = project / BUILD_CONTEXT
    folders = sorted({_rel((dest / f).parent, root) for f in files})
    lines = [f"mkdir -p {' '.join(folders)}"] + [
        f"cp {_rel(project / plan.workdir / f, root)} {_rel(dest / f, root)}" for f in files]
    return [{"name": "Copy the data and helper modules into the build context",
             "run": "\n".join(lines)}]


def workflow(project: Path, root: Path, engine: str = "argo", environment: str = "production",
             registry: str = "ghcr.io", branch: str = "main", python: str = "3.11") -> dict[str, Any]:
    """The workflow as a mapping (key order is the order GitHub documents)."""
    plan = PipelinePlan.load(project)
    lock = json.loads((project / "nb2pipe.lock.json").read_text(encoding="utf-8"))
    proj = _rel(project, root)
    notebook = _rel(project / lock["notebook"], root)
    pkg = plan.package
    name = pkg.replace("_", "-")
    data = [_rel(project / plan.workdir / f.path, root) for s in plan.steps
            for f in s.files if f.mode == "read"]
    helpers = [_rel(project / plan.workdir / f"{m}.py", root) for m in plan.local_modules]
    paths = list(dict.fromkeys([notebook, f"{proj}/**" if proj != "." else "**", *data, *helpers,
                                WORKFLOW]))
    in_proj = {"working-directory": proj} if proj != "." else {}
    setup_python = {"uses": "actions/setup-python@v5", "with": {"python-version": python,
                                                                "cache": "pip"}}
    test_steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        setup_python,
        {"name": "Install the pipeline's pinned requirements and nb2pipe",
         "run": "python -m pip install -r requirements.txt nb2pipe pytest", **in_proj},
        {"name": "The generated pipeline is up to date with the notebook",
         "run": f"nb2pipe check {notebook} -o {proj}"},
        {"name": "Generated tests", "run": "python -m pytest -q tests", **in_proj},
        {"name": "Local run on the sample data", "run": f"python -m {pkg}.pipeline", **in_proj},
    ]
    image = f"{registry}/${{{{ github.repository_owner }}}}/{name}:${{{{ github.sha }}}}"
    submit = (f"nb2pipe submit {proj} --engine {engine} --image \"$IMAGE\"" +
              (" --namespace \"$NAMESPACE\" --kubeconfig \"$RUNNER_TEMP/kubeconfig\""
               if engine == "argo" else " --host \"$KFP_HOST\""))
    deploy_steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        {"uses": "docker/setup-buildx-action@v3"},
        {"name": "Log in to the registry", "uses": "docker/login-action@v3",
         "with": {"registry": registry, "username": "${{ github.actor }}",
                  "password": "${{ secrets.REGISTRY_PASSWORD || secrets.GITHUB_TOKEN }}"}},
        *_context_step(plan, project, root),
        {"name": "Build and push the image",
         "run": f"docker buildx build -t \"$IMAGE\" --push {proj}"},
        setup_python,
        {"name": "Install nb2pipe", "run": "python -m pip install nb2pipe" +
                                          ("[kfp]" if engine == "kfp" else "")},
    ]
    if engine == "argo":
        deploy_steps.append({"name": "Cluster credentials",
                             "run": "printf '%s' \"$KUBECONFIG_DATA\" > "
                                    "\"$RUNNER_TEMP/kubeconfig\"",
                             "env": {"KUBECONFIG_DATA": "${{ secrets.KUBECONFIG }}"}})
    deploy_steps.append({"name": "Submit the pipeline", "run": submit})
    env = {"IMAGE": image}
    if engine == "argo":
        env["NAMESPACE"] = "${{ vars.NB2PIPE_NAMESPACE || 'default' }}"
    else:
        env["KFP_HOST"] = "${{ vars.KFP_HOST }}"
    return {
        "name": f"nb2pipe {name}",
        "on": {
            "push": {"branches": [branch], "paths": paths},
            "pull_request": {"paths": paths},
            "workflow_dispatch": None,
        },
        "permissions": {"contents": "read"},
        "concurrency": {"group": f"nb2pipe-{name}-${{{{ github.ref }}}}",
                        "cancel-in-progress": True},
        "jobs": {
            "test": {"name": "check, test, run locally", "runs-on": "ubuntu-latest",
                     "timeout-minutes": 30, "steps": test_steps},
            "deploy": {"name": "build the image and submit (approval required)",
                       "needs": "test",
                       "if": f"github.event_name != 'pull_request' && "
                             f"github.ref == 'refs/heads/{branch}'",
                       "runs-on": "ubuntu-latest", "timeout-minutes": 30,
                       "environment": {"name": environment},
                       "permissions": {"contents": "read", "packages": "write"},
                       "env": env, "steps": deploy_steps},
        },
    }


def render(wf: dict[str, Any], project_name: str) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # no &anchors: plain, reviewable YAML
            return True

    # `on` must stay a string key (YAML 1.1 readers would see a boolean); `null` as empty
    _Dumper.add_representer(type(None), lambda d, _: d.represent_scalar(
        "tag:yaml.org,2002:null", ""))
    text = yaml.dump(wf, Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False)
    head = (f"# Generated by nb2pipe for {project_name}: `nb2pipe ci --github` writes it again.\n"
            "# The deploy job waits for the approval rules of its GitHub environment (Settings >\n"
            "# Environments > required reviewers). Secrets: KUBECONFIG (argo) or variables\n"
            "# KFP_HOST (kfp); variable NB2PIPE_NAMESPACE picks the namespace.\n")
    return head + text


def main(args: argparse.Namespace) -> int:
    project = Path(args.project)
    if not (project / PLAN_FILE).is_file() or not (
            project / "nb2pipe.lock.json").is_file():
        print(f"nb2pipe: error: {project} is not a project nb2pipe generated (no "
              "nb2pipe.plan.json / nb2pipe.lock.json)", file=sys.stderr)
        return ExitCode.USAGE
    root = Path(args.root) if args.root else project
    wf = workflow(project, root, args.engine, args.environment, args.registry, args.branch,
                  args.python)
    text = render(wf, project.resolve().name)
    outside = [p for p in wf["on"]["push"]["paths"] if p.startswith("../")]
    if outside:
        print(f"nb2pipe ci: warning: {', '.join(outside)} lie outside {root}; GitHub sees only "
              "the repository: pass --root REPO_ROOT (the repository holding the notebook and "
              "the project)", file=sys.stderr)
    if args.stdout:
        print(text, end="")
        return ExitCode.OK
    target = root / WORKFLOW
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.read_text(encoding="utf-8") if target.exists() else None
    if old == text:
        print(f"{target}: unchanged")
        return ExitCode.OK
    tmp = target.with_suffix(".yml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    print(f"{target}: written")
    return ExitCode.OK
