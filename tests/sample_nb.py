"""A small sample notebook for the front-end tests (server extension, hooks, browser)."""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_sample(path: Path, extra_metadata: dict | None = None) -> Path:
    """Three sections (load, clean, summarize) that become three steps."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    if extra_metadata:
        nb.metadata.update(extra_metadata)
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Sales summary\n\nSums the sales per region."),
        nbformat.v4.new_markdown_cell("## Load"),
        nbformat.v4.new_code_cell("import json\n\nrows = [{'region': 'north', 'amount': 3},\n"
                                  "        {'region': 'south', 'amount': 5},\n"
                                  "        {'region': 'north', 'amount': None}]"),
        nbformat.v4.new_markdown_cell("## Clean"),
        nbformat.v4.new_code_cell("clean = [r for r in rows if r['amount'] is not None]\n"
                                  "clean"),
        nbformat.v4.new_markdown_cell("## Summarize"),
        nbformat.v4.new_code_cell("totals = {}\nfor r in clean:\n"
                                  "    totals[r['region']] = totals.get(r['region'], 0) + "
                                  "r['amount']\nprint(json.dumps(totals, sort_keys=True))"),
    ]
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
