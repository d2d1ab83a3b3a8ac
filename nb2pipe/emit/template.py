"""The one way nb2pipe writes fixed scaffolding: template files in `templates/`, rendered by
filling their slots.

A template is a real Python file (already laid out the way black lays it out), so editors,
linters and the formatter check read it as what it becomes. Its slots are valid Python too:

- a **value slot** is a string literal `"__NAME__"`; it becomes the value as a Python literal
  (`pyfmt.lit`: strings double-quoted as black writes them, numbers as `repr`);
- a **block slot** is a line holding only a comment `# __NAME__` (indented or not); the
  whole line becomes the given code, which the caller lays out for that depth.

Code computed from the plan (signatures, step tables) is laid out by `pyfmt` and enters a
template through a block slot. Rendering fails loudly when a slot is left empty or a value has
no slot, so a template and its caller cannot drift apart unnoticed.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from nb2pipe.emit import pyfmt

FOLDER = Path(__file__).parent / "templates"
_VALUE_SLOT = re.compile(r'"__([A-Z][A-Z0-9_]*)__"')
_BLOCK_SLOT = re.compile(r"^[ \t]*# __([A-Z][A-Z0-9_]*)__[ \t]*$", re.MULTILINE)


@functools.lru_cache(maxsize=None)
def source(name: str) -> str:
    """The template file `name` as it is (for code that runs it rather than writes it)."""
    return (FOLDER / name).read_text(encoding="utf-8")


def slots(text: str) -> tuple[set[str], set[str]]:
    """The value slots and block slots a template has."""
    return set(_VALUE_SLOT.findall(text)), set(_BLOCK_SLOT.findall(text))


def render(name: str, values: dict[str, object] | None = None,
           blocks: dict[str, str] | None = None) -> str:
    """Template `name` with each value slot replaced by its literal and each block slot line
    by its code."""
    values, blocks = values or {}, blocks or {}
    text = source(name)
    want_values, want_blocks = slots(text)
    if want_values != set(values) or want_blocks != set(blocks):
        raise ValueError(f"template {name}: slots {sorted(want_values)} / {sorted(want_blocks)},"
                         f" given {sorted(values)} / {sorted(blocks)}")
    # values first: a literal never spans lines, so it cannot turn into a block slot
    text = _VALUE_SLOT.sub(lambda m: pyfmt.lit(values[m.group(1)]), text)
    return _BLOCK_SLOT.sub(lambda m: blocks[m.group(1)], text)


def without_docstring(name: str) -> str:
    """Template `name` after its module docstring: definitions pasted into a generated module
    that has a docstring of its own."""
    text = source(name)
    body = ast.parse(text).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        text = "".join(text.splitlines(True)[body[0].end_lineno:])
    return text.lstrip("\n")
