"""Black's layout for what nb2pipe writes itself, without running black.

Generated modules must be black-formatted, but black costs about 5 µs per character, and most
of a generated project is nb2pipe's own scaffolding (the pipeline's step table, signatures,
return dictionaries, the test and Kubeflow modules), not the notebook's code. So scaffolding
is laid out here the way black lays it out: double-quoted strings, a bracketed construct on
one line when it fits in 88 columns, else split at its outer bracket, with the body on one
line (calls, signatures) or one item per line with a trailing comma (collections, imports,
bodies that do not fit), recursively. The notebook's own code goes through black in
`codefmt`; fixed scaffolding comes from `template`.

`tests/test_format.py` checks that black leaves every generated file unchanged, on the golden
cases, the sample notebooks and generated notebooks of a few hundred cells.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Union

LINE_LENGTH = 88
INDENT = "    "
# a code block longer than this (a pasted 100,000-character literal) is written as it is:
# black would take seconds and explode it to one element per line
BLACK_LIMIT = 100_000


# ---------------------------------------------------------------------------------------------
# widths and literals
# ---------------------------------------------------------------------------------------------

def width(text: str) -> int:
    """Display width as black measures it (East Asian wide characters count 2)."""
    if text.isascii():
        return len(text)
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def fits(text: str, depth: int) -> bool:
    return width(INDENT * depth + text) <= LINE_LENGTH


def q(value: str) -> str:
    """A string literal the way black writes it (double quotes unless that adds escapes)."""
    if '"' not in value and "\\" not in value and value.isprintable():
        return '"' + value + '"'
    return normalize_quotes(repr(value))


def normalize_quotes(literal: str) -> str:
    """black's `normalize_string_quotes` for a plain (un-prefixed, single-line) literal."""
    if literal[:3] in ('"""', "'''") or literal[0] not in "'\"":
        return literal
    orig, new = ("'", '"') if literal[0] == "'" else ('"', "'")
    body = literal[1:-1]
    escaped_new = re.compile(rf"([^\\]|^)\\((?:\\\\)*){new}")
    escaped_orig = re.compile(rf"([^\\]|^)\\((?:\\\\)*){orig}")
    unescaped_new = re.compile(rf"(([^\\]|^)(\\\\)*){new}")
    new_body = _sub_twice(escaped_new, rf"\1\2{new}", body)
    if body != new_body:
        body = new_body
        literal = f"{orig}{body}{orig}"
    new_body = _sub_twice(escaped_orig, rf"\1\2{orig}", new_body)
    new_body = _sub_twice(unescaped_new, rf"\1\\{new}", new_body)
    new_escapes = new_body.count("\\")
    orig_escapes = body.count("\\")
    if new_escapes > orig_escapes:
        return literal  # do not introduce more escaping
    if new_escapes == orig_escapes and orig == '"':
        return literal  # prefer double quotes
    return f"{new}{new_body}{new}"


def _sub_twice(regex: re.Pattern, replacement: str, text: str) -> str:
    return regex.sub(replacement, regex.sub(replacement, text))


def lit(value) -> str:
    """One-line Python literal of plain data (str, numbers, bools, None, list, tuple, dict)."""
    if isinstance(value, str):
        return q(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{lit(k)}: {lit(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(lit(v) for v in value)
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return _float(repr(value))
    return repr(value)


def _float(text: str) -> str:
    """black's numeric literal normalization for a float's repr (`1e+16` -> `1e16`)."""
    if "e" not in text:
        return text
    before, after = text.split("e")
    sign = "-" if after.startswith("-") else ""
    after = after.lstrip("+-")
    if "." in before:
        whole, frac = before.split(".")
        before = f"{whole or 0}.{frac or 0}"
    return f"{before}e{sign}{after}"


# ---------------------------------------------------------------------------------------------
# bracketed constructs
# ---------------------------------------------------------------------------------------------

@dataclass
class Br:
    """A bracketed construct: `open` ends with the bracket, `close` starts with its partner.

    kind: "call" (calls, subscripts: the body stays on one line when it fits), "def" (a
    signature: likewise, but a lone parameter gets a trailing comma), "coll" (a list, dict,
    set or tuple display: always one item per line once split), "import" (`from x import`
    names: like "coll", with the parentheses black adds when it splits), "magic" (a
    collection written with a magic trailing comma: always one item per line)."""

    open: str
    items: list
    close: str
    kind: str = "call"

    def flat(self) -> str:
        inner = ", ".join(flat(i) for i in self.items)
        if self.kind == "import":
            return self.open[:-1].rstrip() + " " + inner
        return self.open + inner + self.close


Item = Union[str, Br]


def flat(item: Item) -> str:
    return item if isinstance(item, str) else item.flat()


def dict_items(pairs) -> list[Item]:
    """Items of a dict display: (key literal, value item) pairs."""
    out: list[Item] = []
    for key, val in pairs:
        if isinstance(val, Br):
            out.append(Br(f"{key}: {val.open}", val.items, val.close, val.kind))
        else:
            out.append(f"{key}: {val}")
    return out


def data(value) -> Item:
    """Plain data as an item (nested collections split the way black splits them)."""
    if isinstance(value, dict):
        return Br("{", dict_items((lit(k), data(v)) for k, v in value.items()), "}", "coll")
    if isinstance(value, list):
        return Br("[", [data(v) for v in value], "]", "coll")
    return lit(value)


def layout(item: Item, depth: int, prefix: str = "", suffix: str = "") -> list[str]:
    """Lines (indented) of `prefix + item + suffix` at `depth`, laid out as black would."""
    one = prefix + flat(item) + suffix
    if isinstance(item, str) or not item.items or (item.kind != "magic" and fits(one, depth)):
        return [INDENT * depth + one]
    head = prefix + item.open
    tail = item.close + suffix
    lines = [INDENT * depth + head]
    items = item.items
    if len(items) == 1:
        comma = "," if item.kind in ("def", "import", "magic") else ""
        lines += layout(items[0], depth + 1, "", comma)
    elif item.kind in ("call", "def") and fits(", ".join(flat(i) for i in items), depth + 1):
        lines.append(INDENT * (depth + 1) + ", ".join(flat(i) for i in items))
    else:
        for it in items:
            lines += layout(it, depth + 1, "", ",")
    lines.append(INDENT * depth + tail)
    return lines


def block(item: Item, depth: int, prefix: str = "", suffix: str = "") -> str:
    return "\n".join(layout(item, depth, prefix, suffix))


def from_import(module: str, names: list[str], depth: int = 0) -> str:
    """`from module import a, b` (one line, or split with parentheses as black splits it)."""
    return block(Br(f"from {module} import (", list(names), ")", "import"), depth)


def docstring(text: str, depth: int) -> str:
    """A docstring as black leaves it: `text` is its content (lines joined with newlines,
    continuation lines without indentation); returned indented, quotes included."""
    indent = INDENT * depth
    lines = text.split("\n")
    if len(lines) == 1:
        body = text.strip()
    else:
        rest = [ln.rstrip() for ln in lines[1:]]
        body = "\n".join([lines[0].strip()] + [indent + ln if ln else "" for ln in rest[:-1]]
                         + [indent + rest[-1]])
    if body:
        if body[0] == '"':
            body = " " + body
        if body[-1] == '"':
            body += " "
        if body[-1] == "\\" and (len(body) - len(body.rstrip("\\"))) % 2:
            body += " "
    closing = '"""'
    if len(lines) > 1 and not body.endswith("\n"):
        last = body.split("\n")[-1]
        if len(last) + 3 > LINE_LENGTH:
            closing = "\n" + indent + '"""'
    return indent + '"""' + body + closing
