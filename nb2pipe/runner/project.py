"""A generated project as the runner sees it: `nb2pipe.plan.json` and the package files.

The runner never re-analyzes the notebook; everything it needs (steps, their data edges,
parameters, files read and written, metrics, imported modules) is in the plan.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nb2pipe.planning.model import PLAN_FILE as PLAN, PipelinePlan
from nb2pipe.planning import serving_status
from nb2pipe.planning.params import ParamError, parse_params



class ProjectError(Exception):
    pass


@dataclass(frozen=True)
class StepInfo:
    name: str
    inputs: tuple[tuple[str, str], ...]  # (value name, producing step); _rng included
    params: tuple[str, ...]
    outputs: tuple[str, ...]
    upstream: tuple[str, ...]
    reads: tuple[str, ...]  # data files read (paths as written in the notebook)
    writes: tuple[str, ...]
    modules: tuple[str, ...]  # top-level modules its code imports (with the shared module's)
    uses_common: bool
    metrics: tuple[str, ...]
    # it also stores the serving state (its code and the training data it replays are then
    # part of what the step's results depend on)
    serving_state: bool = False


def notebook_folder(root: Path, workdir: str) -> Path:
    """Where the steps read and write the notebook's files: NB2PIPE_WORKDIR when set, as the
    generated `_runtime.workdir()` decides (the data hashes behind staleness must be of the
    files the steps read), else the notebook's folder as the plan records it."""
    env = os.environ.get("NB2PIPE_WORKDIR")
    return Path(env).resolve() if env else (root / workdir).resolve()


def _top_modules(lines: list[str] | tuple[str, ...]) -> set[str]:
    mods: set[str] = set()
    for line in lines:
        try:
            tree = ast.parse(line)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                mods.add(node.module.split(".")[0])
    return mods


class Project:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        plan_file = self.root / PLAN
        if not plan_file.exists():
            raise ProjectError(f"{root}: not a generated project (no {PLAN}); create one with "
                               "`nb2pipe convert NOTEBOOK`")
        from nb2pipe.untrusted import NotNb2pipe

        try:  # the plan names modules and folders: checked before anything is derived from it
            self.plan: PipelinePlan = PipelinePlan.load(self.root)
        except NotNb2pipe as exc:
            raise ProjectError(f"{plan_file}: not a plan nb2pipe wrote: {exc}") from None
        except OSError as exc:
            raise ProjectError(f"{plan_file}: cannot read: {exc.strerror or exc}") from None
        self.package: str = self.plan.package
        self.pkg_dir = self.root / self.package
        if not (self.pkg_dir / "_runtime.py").exists():
            raise ProjectError(f"{root}: package {self.package}/ is missing; re-run "
                               "`nb2pipe convert`")
        self.workdir = notebook_folder(self.root, self.plan.workdir)
        self.defaults: dict[str, Any] = {}
        for name, lit in self.plan.parameters:
            try:
                self.defaults[name] = ast.literal_eval(lit)
            except (ValueError, SyntaxError):
                self.defaults[name] = lit
        plan_metrics: dict[str, list[str]] = {}
        for m, s in self.plan.metrics:
            plan_metrics.setdefault(s, []).append(m)
        common_mods = _top_modules(self.plan.common_imports) | _top_modules(
            self.plan.side_effect_imports)
        self.steps: dict[str, StepInfo] = {}
        rng_from: str | None = None
        state_step = serving_status.state_step(self.plan)
        for s in self.plan.steps:
            inputs = [tuple(x) for x in s.input_sources]
            upstream = list(s.upstream)
            if s.rng_in:
                rng_from = s.rng_from or rng_from  # the plan names it (older: inferred)
                if rng_from is None:
                    raise ProjectError(f"step {s.name} needs the random state but no earlier "
                                       "step hands it on")
                inputs.append(("_rng", rng_from))
                if rng_from not in upstream:
                    upstream.append(rng_from)
            for _, src in inputs:
                if src not in upstream:
                    upstream.append(src)
            uses_common = bool(s.setup_from or s.rng_in or s.rng_out or s.common)
            mods = _top_modules(s.imports)
            if uses_common:
                mods |= common_mods
            outputs = list(s.outputs) + (["_rng"] if s.rng_out else [])
            serves = state_step is not None and s.name == state_step.name
            reads = [f.path for f in s.files if f.mode == "read"]
            if serves:
                reads.append(self.plan.serving.data_file)
            self.steps[s.name] = StepInfo(
                name=s.name, inputs=tuple(inputs), params=tuple(s.params),
                outputs=tuple(outputs), upstream=tuple(upstream),
                reads=tuple(dict.fromkeys(reads)), serving_state=serves,
                writes=tuple(dict.fromkeys(f.path for f in s.files if f.mode == "write")),
                modules=tuple(sorted(mods)), uses_common=uses_common,
                metrics=tuple(dict.fromkeys(list(s.metrics) + plan_metrics.get(s.name, []))))
            if s.rng_out:
                rng_from = s.name
        for st in self.steps.values():
            for up in st.upstream:
                if up not in self.steps:
                    raise ProjectError(f"step {st.name}: unknown upstream step {up!r}")
        self.order = list(self.steps)  # notebook order is a topological order

    def local_module_file(self, module: str) -> Path | None:
        """A module next to the notebook (imported as in Jupyter), if it is one."""
        for cand in (self.workdir / f"{module}.py", self.workdir / module / "__init__.py"):
            if cand.exists():
                return cand
        return None

    def data_path(self, path: str) -> Path:
        return self.workdir / path  # absolute paths stay absolute

    def step_file(self, step: str) -> Path:
        return self.pkg_dir / "steps" / f"{step}.py"

    def parse_params(self, items: list[str]) -> dict[str, Any]:
        try:
            return parse_params(items, self.defaults)
        except ParamError as e:
            raise ProjectError(str(e)) from None

    def final_producers(self) -> dict[str, str]:
        """Each final name -> the last step that outputs it (parameters have none)."""
        out: dict[str, str] = {}
        for st in self.steps.values():
            for name in st.outputs:
                if not name.startswith("_"):
                    out[name] = st.name
        return {n: out[n] for n in self.plan.final_names if n in out}

    def downstream(self, step: str) -> list[str]:
        seen: set[str] = set()
        for st in self.order:
            if any(u == step or u in seen for u in self.steps[st].upstream):
                seen.add(st)
        return [s for s in self.order if s in seen]
