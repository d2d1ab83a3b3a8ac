"""Read a notebook file into cells: validated, upgraded to v4, tags and markers parsed.

Only this module reads notebooks. It never writes: the input notebook stays the user's.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2pipe.diagnostics import Diagnostic

MARKER = re.compile(r"^\s*#\s*nb2pipe\s*:\s*(?P<body>.+?)\s*$")

# Tags nb2pipe understands (value tags are "prefix:value").
FLAG_TAGS = {"skip", "imports", "functions", "parameters", "pipeline-parameters",
             "pipeline-metrics", "injected-parameters"}
VALUE_TAGS = {"step", "block", "prev", "limit", "image", "label", "annotation", "retry",
              "cache", "secret", "timeout", "nodeselector", "request", "gpu", "serve"}
# Tags other tools use; recognised so they do not trigger NB107.
FOREIGN_TAGS = {"hide-input", "hide-output", "hide-cell", "remove-cell", "remove-input",
                "remove-output", "raises-exception", "hide_input", "hide_output", "thebe-init",
                "full-width", "margin", "output_scroll", "scroll-output", "remove_cell",
                "active-ipynb", "active-py", "export", "exports", "hide", "skip-execution"}


@dataclass(frozen=True)
class Cell:
    index: int  # 1-based over all cells
    cell_type: str  # "code" | "markdown" | "raw"
    source: str
    tags: tuple[str, ...] = ()
    cell_id: str = ""

    def has_tag(self, name: str) -> bool:
        return name in self.tags

    def tag_values(self, prefix: str) -> list[str]:
        pre = prefix + ":"
        return [t[len(pre):] for t in self.tags if t.startswith(pre)]


@dataclass(frozen=True)
class Notebook:
    path: str  # as given, for messages
    cells: tuple[Cell, ...]
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    content_hash: str = ""
    file: str = ""  # the real path on disk ("" when parsed from text)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def directory(self) -> Path:
        return Path(self.file or self.path).resolve().parent


def _tags_from_markers(source: str) -> tuple[list[str], str]:
    """`# nb2pipe: step load` comment lines at the top of a cell act as tags."""
    tags: list[str] = []
    for line in source.split("\n"):
        if not line.strip():
            continue
        m = MARKER.match(line)
        if not m:
            break
        body = m.group("body").split()
        if len(body) == 1:
            tags.append(body[0])
        elif len(body) >= 2:
            tags.append(f"{body[0]}:{body[1]}")
    return tags, source


def content_hash(raw: dict[str, Any]) -> str:
    """Hash of what conversion depends on: cell types, sources, tags, kernel language.

    Outputs and execution counts are left out, so re-running the notebook does not make its
    pipeline stale.
    """
    h = hashlib.sha256()
    lang = (raw.get("metadata", {}).get("kernelspec", {}) or {}).get("language", "")
    h.update(json.dumps(lang).encode())
    for c in raw.get("cells", []):
        src = c.get("source", "")
        if isinstance(src, list):
            src = "".join(src)
        tags = (c.get("metadata", {}) or {}).get("tags", [])
        h.update(json.dumps([c.get("cell_type"), src, tags], ensure_ascii=False).encode())
    nbmeta = (raw.get("metadata", {}) or {}).get("nb2pipe", {})
    h.update(json.dumps(nbmeta, sort_keys=True).encode())
    return h.hexdigest()


def read_notebook(path: str | Path, display_path: str | None = None,
                  ) -> tuple[Notebook | None, list[Diagnostic]]:
    """Read and validate; returns (notebook or None, diagnostics)."""
    p = Path(path)
    shown = display_path or p.name
    diags: list[Diagnostic] = []

    def fail(code: str, msg: str, line: int | None = None, col: int | None = None):
        diags.append(Diagnostic(code, msg, path=shown, line=line, col=col))
        return None, diags

    try:
        data = p.read_bytes()
    except OSError as exc:
        return fail("NB101", f"cannot read notebook: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return fail("NB108", f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8",
                    line=line)
    return parse_notebook(text, shown, diags, file=str(p))


def parse_notebook(text: str, shown: str, diags: list[Diagnostic] | None = None,
                   file: str = "") -> tuple[Notebook | None, list[Diagnostic]]:
    diags = diags if diags is not None else []

    def fail(code: str, msg: str, line: int | None = None, col: int | None = None):
        diags.append(Diagnostic(code, msg, path=shown, line=line, col=col))
        return None, diags

    if not text.strip():
        return fail("NB101", "file is empty, not a notebook")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return fail("NB101", f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    except RecursionError:
        return fail("NB101", "malformed JSON: nested too deeply")
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        return fail("NB101", "JSON document is not a Jupyter notebook (no 'cells')")
    major = raw.get("nbformat")
    if not isinstance(major, int) or isinstance(major, bool) or major < 1 or major > 4:
        return fail("NB102", f"nbformat {major!r} is not supported (expected 4; 2 and 3 are "
                             "upgraded)")
    if major < 4:
        import nbformat  # lazy: only old notebooks pay for it

        try:
            node = nbformat.reads(text, as_version=4)
        except Exception as exc:  # nbformat raises many kinds on broken input
            return fail("NB102", f"cannot upgrade nbformat {major} notebook: {exc}")
        raw = json.loads(nbformat.writes(node))
    problem = _structure_problem(raw)
    if problem:
        return fail("NB102", problem)

    meta = raw.get("metadata", {}) or {}
    lang = ((meta.get("kernelspec") or {}).get("language")
            or (meta.get("language_info") or {}).get("name") or "python")
    if str(lang).lower() not in ("python", "python3", "ipython", "python2"):
        kname = (meta.get("kernelspec") or {}).get("name", lang)
        return fail("NB103", f"kernel {kname!r} runs {lang!r}, not Python")

    cells: list[Cell] = []
    for i, c in enumerate(raw["cells"], start=1):
        src = c.get("source", "")
        if isinstance(src, list):
            src = "".join(src)
        src = src.replace("\r\n", "\n").replace("\r", "\n")
        tags = [t for t in ((c.get("metadata") or {}).get("tags") or []) if isinstance(t, str)]
        bad = _surrogate(src, tags)
        if bad is not None:  # JSON escapes like "\ud800" decode to text that is not UTF-8
            line, col = bad
            diags.append(Diagnostic("NB108", "cell contains a lone surrogate escape (\\ud800-"
                                             "\\udfff), which is not UTF-8 text",
                                    path=shown, cell=i, line=line, col=col))
            return None, diags
        if c.get("cell_type") == "code":
            marker_tags, src = _tags_from_markers(src)
            tags.extend(marker_tags)
        for t in tags:
            _check_tag(t, shown, i, diags)
        cells.append(Cell(index=i, cell_type=str(c.get("cell_type")), source=src,
                          tags=tuple(dict.fromkeys(t.strip() for t in tags)),
                          cell_id=str(c.get("id", ""))))
    nb = Notebook(path=shown, cells=tuple(cells), metadata=meta, content_hash=content_hash(raw),
                  file=file)
    if not any(c.cell_type == "code" and c.source.strip() and not c.has_tag("skip")
               for c in cells):
        what = "no cells" if not cells else "no code (only markdown or empty cells)"
        diags.append(Diagnostic("NB105", f"notebook has {what}", path=shown))
    return nb, diags


def _surrogate(src: str, tags: list[str]) -> tuple[int, int] | None:
    """(line, col) of the first lone surrogate in a cell's source (or (1, 0) in its tags)."""
    try:
        src.encode("utf-8")
    except UnicodeEncodeError as exc:
        before = src[: exc.start]
        return before.count("\n") + 1, exc.start - (before.rfind("\n") + 1)
    try:
        "".join(tags).encode("utf-8")
    except UnicodeEncodeError:
        return 1, 0
    return None


def _structure_problem(raw: dict[str, Any]) -> str | None:
    cells = raw.get("cells")
    if not isinstance(cells, list):
        return "'cells' is not a list"
    for i, c in enumerate(cells, start=1):
        if not isinstance(c, dict):
            return f"cell {i} is not an object"
        if c.get("cell_type") not in ("code", "markdown", "raw"):
            return f"cell {i} has unknown cell_type {c.get('cell_type')!r}"
        src = c.get("source", "")
        if not isinstance(src, str) and not (isinstance(src, list)
                                             and all(isinstance(s, str) for s in src)):
            return f"cell {i} has a source that is not text"
        md = c.get("metadata", {})
        if md is not None and not isinstance(md, dict):
            return f"cell {i} has metadata that is not an object"
        tags = (md or {}).get("tags", [])
        if tags is not None and not isinstance(tags, list):
            return f"cell {i} has tags that are not a list"
    meta = raw.get("metadata", {})
    if not isinstance(meta, dict):
        return "notebook metadata is not an object"
    for key in ("kernelspec", "language_info"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            return f"notebook metadata {key!r} is not an object"
    return None


def _check_tag(tag: str, shown: str, cell: int, diags: list[Diagnostic]) -> None:
    t = tag.strip()
    if t in FLAG_TAGS or t in FOREIGN_TAGS:
        return
    if ":" in t:
        prefix = t.split(":", 1)[0]
        if prefix in VALUE_TAGS:
            return
        diags.append(Diagnostic("NB107", f"unknown tag {t!r} (prefix {prefix!r})", path=shown,
                                cell=cell, line=1, col=0))
    elif t.replace("_", "-") in FLAG_TAGS or t in {"step", "block", "prev"}:
        diags.append(Diagnostic("NB107", f"unknown tag {t!r}; did you mean "
                                         f"{t.replace('_', '-')!r} or '{t}:NAME'?",
                                path=shown, cell=cell, line=1, col=0))
