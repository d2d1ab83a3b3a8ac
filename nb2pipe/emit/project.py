"""Emit the project around the package: README (docs with the DAG), pyproject, requirements,
tests and .gitignore."""

from __future__ import annotations

import re
import sys
from functools import lru_cache

from nb2pipe.validation.capture import step_annotations
from nb2pipe.emit import lock
from nb2pipe.emit.package import _cells, header
from nb2pipe.planning.model import PipelinePlan

# Runtime needs of the generated package itself (value files), by what the steps import.
RUNTIME_EXTRAS = {"pandas": ["pyarrow"], "sklearn": ["joblib"]}


@lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    """Module -> distributions. Scanning every installed package costs 0.1-0.4 s, so the
    result is cached on disk, keyed by the installed distributions (names and versions as
    their metadata folders say) on sys.path: any install or upgrade invalidates it."""
    import hashlib
    import json
    import os
    from importlib.metadata import packages_distributions

    key = hashlib.sha256()
    for entry in sys.path:
        try:
            names = sorted(n for n in os.listdir(entry or ".")
                           if n.endswith((".dist-info", ".egg-info", ".egg-link", ".pth")))
        except OSError:
            continue
        key.update(f"{entry}\0{names}\0".encode())
    from nb2pipe.tracking.cachedir import cache_dir

    path = os.path.join(cache_dir(), f"dists-{key.hexdigest()[:32]}.json")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if isinstance(data, dict):
            return data
    except (OSError, ValueError):
        pass
    data = {k: list(v) for k, v in packages_distributions().items()}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write only costs time
    return data


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def resolve_requirements(plan: PipelinePlan) -> tuple[list[str], list[str]]:
    """Pinned requirement lines for the modules the steps import, and unknown modules."""
    mapping = _packages_distributions()
    pins: dict[str, str] = {}
    unknown: list[str] = []
    modules = set(plan.imported_modules)
    for mod in list(modules):
        modules.update(RUNTIME_EXTRAS.get(mod, []))
    from nb2pipe.emit import serve_k8s

    if serve_k8s.deploys(plan):  # the image serves too (python -m <pkg>.serve)
        modules.update(serve_k8s.SERVICE_MODULES)
    for mod in sorted(modules):
        if mod in sys.stdlib_module_names or mod in plan.local_modules or mod == plan.package:
            continue
        dists = mapping.get(mod)
        if not dists:
            if mod in ("pyarrow", "joblib"):
                dists = [mod]
            else:
                unknown.append(mod)
                continue
        dist = _best_dist(mod, dists)
        v = _version(dist)
        key = _canon(dist)
        pins[key] = f"{dist}=={v}" if v else dist
    for req in plan.requirements:  # from `!pip install` lines
        name = re.split(r"[<>=!~\[; @]", req, maxsplit=1)[0]
        extras = re.match(r"^[^\[]*(\[[^\]]*\])", req)
        key = _canon(name)
        if not key or req.startswith(("-", ".", "/")) or "://" in req:
            continue  # options, local paths and URLs are not pins
        v = _version(name)
        if any(op in req for op in "<>=!~") or not v:
            pins[key] = req if key not in pins else pins[key]
        else:  # pinned to what is installed, extras kept
            pins[key] = f"{name}{extras.group(1) if extras else ''}=={v}"
    return [pins[k] for k in sorted(pins)], unknown


def _best_dist(module: str, dists: list[str]) -> str:
    """The distribution that provides a module: the one named like it if several do
    (namespace packages), else the first by name, for determinism."""
    for d in sorted(set(dists)):
        if _canon(d) == _canon(module):
            return d
    return sorted(set(dists))[0]


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_txt(plan: PipelinePlan, pins: list[str], unknown: list[str]) -> str:
    lines = [header(plan).rstrip(), "# Pinned to the versions installed where the notebook was "
             "converted."]
    lines.extend(pins)
    for u in unknown:
        lines.append(f"# unknown: module '{u}' is imported but no installed distribution "
                     "provides it")
    return "\n".join(lines) + "\n"


TEST_FILE = "requirements-test.txt"


def pandera_requirement(pins: list[str]) -> str | None:
    """The pandera range the generated schemas need, for the pandas the project pins: pandera
    0.24+ asks for pandas 2.1.1+ (and names its API `pandera.pandas`), 0.30+ supports pandas
    3; no pandas, no tables to check."""
    from packaging.version import InvalidVersion, Version

    pin = next((p for p in pins if _canon(p.split("==")[0]) == "pandas"), None)
    if pin is None:
        return None
    try:
        pandas = Version(pin.split("==", 1)[1]) if "==" in pin else None
    except InvalidVersion:
        pandas = None
    if pandas is not None and pandas < Version("2.1.1"):
        return "pandera>=0.20,<0.24"
    if pandas is not None and pandas.major >= 3:
        return "pandera[pandas]>=0.30,<1"
    return "pandera[pandas]>=0.20,<1"


def testing_requirements(pins: list[str]) -> list[str]:
    """What the generated tests need beyond the pipeline's own requirements."""
    pandera = pandera_requirement(pins)
    return ["pytest>=7"] + ([pandera] if pandera else [])


def testing_requirements_txt(plan: PipelinePlan, pins: list[str]) -> str:
    lines = [header(plan).rstrip(),
             f"# The generated tests and `python -m {plan.package}.validate` (pandera: the "
             "data-quality schemas).", "-r requirements.txt"]
    return "\n".join(lines + testing_requirements(pins)) + "\n"


def pyproject(plan: PipelinePlan, pins: list[str], python: tuple[int, int]) -> str:
    """`python`: the oldest Python the pinned versions install on (lock.minimum_python)."""
    deps = "".join(f'    "{p}",\n' for p in pins)
    tests = ", ".join(f'"{r}"' for r in testing_requirements(pins))
    return (header(plan) +
            "[build-system]\n"
            'requires = ["setuptools>=61"]\n'
            'build-backend = "setuptools.build_meta"\n\n'
            "[project]\n"
            f'name = "{plan.package.replace("_", "-")}"\n'
            'version = "0.1.0"\n'
            f'description = "Pipeline generated by nb2pipe from {plan.notebook}"\n'
            f'requires-python = ">={python[0]}.{python[1]}"\n'
            f"dependencies = [\n{deps}]\n\n"
            "[project.optional-dependencies]\n"
            f"test = [{tests}]\n\n"
            "[tool.setuptools]\n"
            f'packages = ["{plan.package}", "{plan.package}.steps"]\n\n'
            "[tool.pytest.ini_options]\n"
            'testpaths = ["tests"]\n')


def _mermaid(plan: PipelinePlan) -> str:
    lines = ["```mermaid", "flowchart TD"]
    for s in plan.steps:
        lines.append(f'    {s.name}["{s.name}"]')
    for s in plan.steps:
        for u in s.upstream:
            label = sorted(n for n, src in s.input_sources if src == u)
            text = ", ".join(label[:4]) + (", ..." if len(label) > 4 else "")
            lines.append(f"    {u} -->|{text}| {s.name}" if text else f"    {u} --> {s.name}")
    lines.append("```")
    return "\n".join(lines)


def _typed(name: str, types: dict[str, str]) -> str:
    return f": `{types[name]}`" if name in types else ""


def readme(plan: PipelinePlan, description: str, unknown: list[str],
           capture: dict | None = None) -> str:
    p = plan.package
    out = [f"# {p}", "", f"Pipeline generated by nb2pipe from `{plan.notebook}` "
           f"(split by {plan.split}). Edit the notebook and convert again; generated files "
           "you edit by hand are kept (nb2pipe reports them) unless you pass `--force`.", ""]
    if description:
        out += ["## What it does", "", description.strip(), ""]
    out += ["## Steps", "", _mermaid(plan), "",
            "| step | notebook cells | inputs | parameters | outputs |",
            "|---|---|---|---|---|"]
    for s in plan.steps:
        types = step_annotations(capture, s.name)
        ins = ", ".join(f"`{n}`{_typed(n, types['inputs'])} ({src})"
                        for n, src in s.input_sources) or "-"
        outs = ", ".join(f"`{x}`{_typed(x, types['outputs'])}" for x in s.outputs) or "-"
        out.append(f"| `{s.name}` | {_cells(s.cells)} | {ins} | "
                   f"{', '.join(f'`{x}`' for x in s.params) or '-'} | {outs} |")
    out.append("")
    out += _boundaries_section(plan)
    if capture:
        out += ["Types are those the notebook's values had when nb2pipe executed it "
                "(`convert --capture`).", ""]
    if plan.parameters:
        out += ["## Parameters", "", "| name | default |", "|---|---|"]
        out += [f"| `{n}` | `{lit}` |" for n, lit in plan.parameters]
        out.append("")
    if plan.metrics:
        out += ["## Metrics", ""] + [f"- `{m}` (step `{s}`)" for m, s in plan.metrics] + [""]
    out += secret_values_section(plan)
    files = [(s.name, f) for s in plan.steps for f in s.files]
    if files:
        out += ["## Files read and written", "", "| step | file | mode | cell |", "|---|---|---|---|"]
        out += [f"| `{s}` | `{f.path}` | {f.mode} | {f.cell} |" for s, f in files]
        out.append("")
        out.append(f"Relative paths resolve against the notebook's folder (`{plan.workdir}` from "
                   "this project), as in Jupyter; set `NB2PIPE_WORKDIR` to run elsewhere.")
        out.append("")
    out += ["## Run it", "", "```", f"python -m {p}.pipeline                 # all steps, "
            "in-process", f"python -m {p}.pipeline --param NAME=VALUE",
            f"python -m {p} step STEP --inputs IN --outputs OUT   # one step, as a container "
            "runs it", f"python -m {p}.validate                 # all steps, checking the "
            "data against the captured profiles", "pytest                                   "
            "# generated tests", "docker build -t IMAGE .                  # the container "
            "image (or podman build; see deploy/README.md)", "```", "",
            "## Tests, verification and drift", "",
            "- `tests/test_steps.py`: each step importable with its signature; with a capture, "
            "each step run on its captured inputs reproduces its captured outputs.",
            "- `tests/test_data_quality.py`: the loaded data against the pandera schemas in "
            f"`{p}/schemas.py`, built from the captured profiles (missing values, dtypes, "
            "ranges, mean/std, categories and their shares); import them in your own code: "
            f"`from {p}.schemas import SCHEMAS`. Install the test requirements first: "
            f"`pip install -r {TEST_FILE}`.",
            "- `tests/test_model_performance.py`: the retrained model's metrics against the "
            "captured ones.",
            f"- `nb2pipe verify {plan.workdir}/{plan.notebook} -o .` runs the notebook and the "
            "pipeline and "
            "compares every value step by step.",
            "- `nb2pipe drift . NEW.csv` compares new data with the captured training-data "
            "profile (exit 1 on drift).", ""]
    if not capture:
        out += ["No capture yet: the fixture, data-quality and performance tests are skipped "
                f"stubs. Run `nb2pipe convert {plan.workdir}/{plan.notebook} -o . --capture` "
                "(here) to execute the "
                "notebook once and fill them in.", ""]
    out += serving_section(plan)
    out += ["## What was stripped", "",
            "Display and plotting code, magics and shell commands are not part of the steps. "
            "`print` calls are kept (they go to the step's log).", ""]
    any_stripped = False
    for s in plan.steps:
        if not s.stripped:
            continue
        any_stripped = True
        out.append(f"### `{s.name}`")
        out.append("")
        for x in s.stripped:
            code = x.code.strip().replace("\n", " ⏎ ")
            if len(code) > 120:
                code = code[:117] + "..."
            out.append(f"- cell {x.cell}, line {x.line} ({x.reason}): `{_md(code)}`")
        out.append("")
    if plan.stripped_cells:
        any_stripped = True
        out.append("### Whole cells")
        out.append("")
        for x in plan.stripped_cells:
            first = x.code.strip().split("\n")[0][:100]
            out.append(f"- cell {x.cell} ({x.reason}): `{_md(first)}`")
        out.append("")
    if not any_stripped:
        out += ["Nothing was stripped.", ""]
    if unknown:
        out += ["## Unknown imports", "", "These modules are imported but no installed "
                "distribution provides them; add them to requirements.txt by hand:", ""]
        out += [f"- `{u}`" for u in unknown] + [""]
    notes = [d for d in plan.diagnostics if d.severity in ("warning", "error")]
    if notes:
        out += ["## Diagnostics", ""] + [f"- `{_md(d.format())}`" for d in notes] + [""]
    return "\n".join(out)


def serving_section(plan: PipelinePlan) -> list[str]:
    """## Serving: which statements new rows go through and which are training-only, and
    whether the proof found the path equal to the notebook (planning/serving.py)."""
    sv = plan.serving
    if sv is None:
        return []
    if sv.verified:
        status = (f"Verified: {_md(sv.proof)}. A run stores what the statements below learn "
                  "from training (`_serving`, beside the model); `nb2pipe serve .` serves the "
                  f"model and state of the latest run (`{plan.package}/serving.py`).")
    elif sv.proof:
        status = f"Not served: the proof failed ({_md(sv.proof)}), so there is no serving.py."
    else:
        status = ("Not proven yet, so there is no serving.py: run `nb2pipe convert "
                  f"{plan.workdir}/{plan.notebook} -o . --capture`.")
    out = ["## Serving", "", f"New rows replace `{sv.frame}` (read from `{sv.data_file}`) and "
           f"go through the statements below to `{sv.input}`, then `{sv.model}.{sv.method}`. "
           + status, "", "| cell | line | statement | for a request | why |", "|---|---|---|---|---|"]
    for st in sv.statements:
        if st.role in ("import", "def", "class", "setup"):
            continue
        first = st.code.splitlines()[0] if st.code else st.key
        runs = "runs" if st.serve else "training only"
        why = st.reason + (f"; from training: {', '.join(st.learned)}" if st.learned else "")
        out.append(f"| {st.cell} | {st.line} | `{_md(first)}` | {runs} | {_md(why)} |")
    return out + [""] + post_processing_section(sv)


def post_processing_section(sv) -> list[str]:
    """README lines: what the notebook does with the prediction, and which of it a request
    gets (planning/serving_post.py)."""
    if not sv.post:
        return []
    answer = (f"A request is answered with `{sv.served}`" + (
        f", the notebook's post-processing of `{sv.prediction}`." if sv.output else
        f", the model's answer." + (f" {sv.post_note}." if sv.post_note else "")))
    out = [f"After the model: the statements that use its prediction. {answer}", "",
           "| cell | line | statement | for a request | why |", "|---|---|---|---|---|"]
    for st in sv.post:
        first = st.code.splitlines()[0] if st.code else st.key
        runs = "runs" if st.serve else "left out"
        out.append(f"| {st.cell} | {st.line} | `{_md(first)}` | {runs} | {_md(st.reason)} |")
    return out + [""]


def secret_values_section(plan: PipelinePlan) -> list[str]:
    """README lines: which values are built from a secret, and where they are recomputed."""
    if not plan.secret_derived:
        return []
    out = ["## Values built from secrets", "",
           "These values are built from a secret (the environment variables in brackets). "
           "They are never step inputs or outputs, so they never reach the run store "
           "(`.nb2pipe/`), the lineage, test fixtures or a cluster's artifact repository, "
           "and they are not among the pipeline's final values. Each step that reads one "
           "recomputes it from the environment, running the statements that build it again:",
           ""]
    where: dict[str, list[str]] = {}
    for s in plan.steps:
        for n in s.recomputed:
            where.setdefault(n, []).append(s.name)
    for name, envs in plan.secret_derived:
        steps = ", ".join(f"`{x}`" for x in where.get(name, []))
        out.append(f"- `{name}` ({', '.join(envs)})"
                   + (f": recomputed in {steps}" if steps else ": used only where it is built"))
    out += ["", "The runner masks the secrets' values in the step logs it stores.", ""]
    return out


def _md(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|")


GITIGNORE = ".nb2pipe/\nbuild-context/\n__pycache__/\n*.egg-info/\n.pytest_cache/\nsecrets.local.*\n"


def project_files(plan: PipelinePlan, description: str,
                  capture: dict | None = None) -> dict[str, str]:
    """README, pyproject, requirements (direct, and the full lock the image installs),
    .gitignore (the tests come from emit/tests.py)."""
    pins, unknown = resolve_requirements(plan)
    full = lock.build_lock(pins)
    python = lock.minimum_python(full, (sys.version_info.major, sys.version_info.minor))
    return {
        "README.md": readme(plan, description, unknown, capture),
        "pyproject.toml": pyproject(plan, pins, python),
        "requirements.txt": requirements_txt(plan, pins, unknown),
        TEST_FILE: testing_requirements_txt(plan, pins),
        lock.LOCK_FILE: _lock_file(plan, full),
        ".gitignore": GITIGNORE,
    }


def _lock_file(plan: PipelinePlan, full: lock.Lock) -> str:
    if not plan.lock_hashes:  # the default: no network at convert time
        return lock.lock_text(header(plan), full)
    hashes, failed = lock.fetch_hashes(full)
    return lock.lock_text(header(plan), full, hashes, failed)


def _boundaries_section(plan: PipelinePlan) -> list[str]:
    """Steps found in the data flow: why each starts where it does."""
    if plan.split != "flow":
        return []
    out = ["The notebook has no step tags and too few headings, so nb2pipe cut it where few "
           "values cross from one part to the next, preferring changes of phase (loading, "
           "cleaning, features, fitting, evaluating, writing). Tag cells `step:NAME` to choose "
           "the steps yourself.", "", "| step | starts here because |", "|---|---|"]
    out += [f"| `{s.name}` | {_md(s.boundary)} |" for s in plan.steps if s.boundary]
    return out + [""]
