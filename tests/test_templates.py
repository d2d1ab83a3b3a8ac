"""Fixed scaffolding comes from real Python template files (issue 14 item 3)."""

from __future__ import annotations

import ast
from pathlib import Path

import black
import pytest

from nb2pipe.emit import template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(p.name for p in template.FOLDER.glob("*.py"))


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_template_is_python_as_black_lays_it_out(name):
    text = template.source(name)
    ast.parse(text)
    assert black.format_str(text, mode=black.Mode()) == text


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_is_rendered_by_some_emitter(name):
    quoted = (f'"{name}"', f"'{name}'")
    users = [p for p in (ROOT / "nb2pipe").rglob("*.py") if "templates" not in p.parts
             and any(q in p.read_text(encoding="utf-8") for q in quoted)]
    assert users, f"template {name} is used nowhere"


def test_render_fills_values_as_literals_and_blocks_as_lines(tmp_path, monkeypatch):
    (tmp_path / "t.py").write_text('X = "__NAME__"\n\n\ndef f():\n    # __BODY__\n    return X\n')
    monkeypatch.setattr(template, "FOLDER", tmp_path)
    template.source.cache_clear()
    try:
        odd = 'a "quoted" \\ value\n# __BODY__'
        out = template.render("t.py", values={"NAME": odd},
                              blocks={"BODY": "    y = 1\n    z = 2"})
        ns: dict = {}
        exec(compile(out, "t.py", "exec"), ns)
        assert ns["X"] == odd and ns["f"]() == odd
        assert "    y = 1\n    z = 2\n    return X" in out
        with pytest.raises(ValueError, match="slots"):
            template.render("t.py", values={"NAME": "x"})  # a block slot left empty
        with pytest.raises(ValueError, match="slots"):
            template.render("t.py", values={"NAME": "x", "OTHER": 1}, blocks={"BODY": ""})
    finally:
        template.source.cache_clear()


def test_no_emitter_keeps_python_scaffolding_in_a_string_constant():
    """The old ways (`VALIDATE.replace("IMPORTS", ...)`, a copied module with JSON
    placeholders) are gone: Python scaffolding of more than a few lines lives in templates/."""
    offenders = []
    for path in [*(ROOT / "nb2pipe" / "emit").glob("*.py"),
                 ROOT / "nb2pipe" / "validation" / "capture.py"]:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                    and node.value.value.count("\n") > 5 and "\ndef " in node.value.value
                    and path.name != "capture.py"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def test_one_random_state_helper_for_the_steps_and_the_capture(tmp_path):
    """The generated common.py and the capture recorder save and restore the random state
    with the same code (templates/rng_state.py)."""
    from nb2pipe.api import convert
    from nb2pipe.validation import capture

    res = convert(ROOT / "sample_notebooks" / "churn.ipynb", tmp_path / "out", dry_run=True)
    assert res.ok and res.plan.seeded
    common = res.files[f"{res.plan.package}/common.py"]
    assert template.without_docstring("rng_state.py").strip() in common
    kernel = capture.KERNEL_SETUP
    assert "def rng_state" not in kernel and 'rng["get_rng_state"]' in kernel
    ns: dict = {}
    exec(template.source("rng_state.py"), ns)
    import random

    state = ns["get_rng_state"]()
    first = random.random()
    ns["set_rng_state"](state)
    assert random.random() == first
