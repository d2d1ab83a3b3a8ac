"""Issue 14: every core dependency in pyproject.toml does a real job, and the exit codes and the
`--param` parser have one home each."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# distribution name -> the module nb2pipe imports it as
IMPORT_NAMES = {"jupyter-server": "jupyter_server", "gitpython": "git", "ipython": "IPython",
                "pyyaml": "yaml"}
# needed at run time without an import: the kernel capture and verify start
NOT_IMPORTED = {"ipykernel": "the Python kernel `convert --capture` and `verify` start"}


def _core_dependencies() -> list[str]:
    """The names in [project] dependencies (read without tomllib: the tests run on 3.10)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S).group(1)
    return [re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower()
            for d in re.findall(r'^\s*"([^"]+)"', block, re.M)]


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "nb2pipe").rglob("*.py"):
        if "templates" in path.parts:
            continue  # the generated project's code: its imports are its own requirements
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("dist", _core_dependencies())
def test_every_core_dependency_is_imported_by_nb2pipe(dist):
    if dist in NOT_IMPORTED:
        return
    module = IMPORT_NAMES.get(dist, dist.replace("-", "_"))
    assert module in _imported_modules(), (
        f"{dist} is declared in pyproject.toml but no module of nb2pipe imports {module}")


def test_dependencies_nobody_uses_are_gone():
    assert not {"nbconvert", "libcst", "papermill"} & set(_core_dependencies())


def test_exit_codes_have_one_home():
    """No module defines its own EXIT_* constants or returns a bare exit number from main."""
    offenders = []
    for path in (ROOT / "nb2pipe").rglob("*.py"):
        if "emit" in path.parts:  # generated code carries its own, it runs without nb2pipe
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"^EXIT_\w+\s*(,|=)", text, re.M):
            offenders.append(f"{path.name}: defines EXIT_* constants")
        tree = ast.parse(text)
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.name == "main":
                for r in ast.walk(fn):
                    if isinstance(r, ast.Return) and isinstance(r.value, ast.Constant) \
                            and isinstance(r.value.value, int):
                        offenders.append(f"{path.name}:{r.lineno}: return {r.value.value}")
    assert not offenders, offenders


def test_param_parsing_has_one_home():
    from nb2pipe.planning.params import ParamError, param_sources, parse_params

    assert parse_params(["a=3", "b=x y", "c=[1, 2]"], ["a", "b", "c"]) == {
        "a": 3, "b": "x y", "c": [1, 2]}
    assert param_sources(["a=3", "b=word"], ["a", "b"]) == {"a": "3", "b": "'word'"}
    for bad, why in [("a", "NAME=VALUE"), ("z=1", "unknown parameter 'z'")]:
        with pytest.raises(ParamError, match=why):
            parse_params([bad], ["a"])
    offenders = [p.name for p in (ROOT / "nb2pipe").rglob("*.py")
                 if "emit" not in p.parts and p.name != "params.py"
                 and "expects NAME=VALUE" in p.read_text(encoding="utf-8")]
    assert not offenders, offenders


def test_help_lists_the_commands_in_the_order_a_user_meets_them(capsys):
    from nb2pipe.cli import COMMAND_GROUPS, _parser, main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    listed = re.findall(r"^  ([a-z][a-z-]*) ", out, re.M)
    assert listed == ["convert", "run", "status", "runs", "verify", "check", "sync", "lint",
                      "serve", "submit", "ci", "compile-kfp", "explain", "eject", "drift",
                      "trigger"]
    assert [t for t, _ in COMMAND_GROUPS] == [
        "Convert", "Run and inspect", "Validate", "Serve", "Deploy", "Understand and hand over",
        "Monitor"]
    # every command the parser knows is listed, once
    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(listed)


def test_the_plan_file_is_read_and_written_through_pipeline_plan_only():
    """Issue 14 item 1: PipelinePlan.load / dump are the only readers and writers of
    nb2pipe.plan.json (untrusted.py checks what load reads); no module indexes a plan as a
    dict."""
    allowed = {ROOT / "nb2pipe" / "planning" / "model.py", ROOT / "nb2pipe" / "untrusted.py"}
    offenders = []
    for path in (ROOT / "nb2pipe").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path not in allowed:
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.Constant) and node.value == "nb2pipe.plan.json":
                    offenders.append(f"{path.name}:{node.lineno}: names the plan file")
        if path in allowed or path.name == "_runtime.py":
            continue  # the raw JSON's checker; the generated runtime reads its own project
        for m in re.finditer(r"\bplan(\[[\"']|\.get\()", text):
            offenders.append(f"{path.name}: indexes a plan as a dict ({m.group(0)})")
    assert not offenders, offenders


def test_a_plan_round_trips_through_its_file(tmp_path):
    from nb2pipe.api import convert
    from nb2pipe.planning.model import PipelinePlan

    res = convert(ROOT / "sample_notebooks" / "churn.ipynb", tmp_path / "churn_pipeline")
    assert res.ok
    loaded = PipelinePlan.load(tmp_path / "churn_pipeline")
    assert loaded.to_json(include_code=False) == res.plan.to_json(include_code=False)
    assert loaded.step("train").inputs == res.plan.step("train").inputs
    again = tmp_path / "again"
    again.mkdir()
    loaded.dump(again)
    assert PipelinePlan.load(again) == loaded


def test_the_package_top_level_shows_the_stages():
    """Issue 14 item 2: at most eight modules at the top of nb2pipe/; the rest in folders that
    docs/architecture.md maps."""
    top = sorted(p.name for p in (ROOT / "nb2pipe").glob("*.py"))
    assert len(top) <= 8, top
    guide = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    folders = sorted(p.name for p in (ROOT / "nb2pipe").iterdir()
                     if p.is_dir() and (p / "__init__.py").exists())
    for name in folders:
        assert f"| `{name}/` |" in guide, f"{name}/ is missing from the architecture map"
