"""A sample notebook for the workbench tests (run, runs, verify, submit from the panel).

Three heading sections become three steps; its parameters steer the run: `delay` makes the
train step slow (for cancel and one-run-per-project), `fail` makes it fail (for the failure
log), `scale` changes its result (for comparing two runs).
"""

from __future__ import annotations

from pathlib import Path

import nbformat


def write_workbench_sample(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell("delay = 0.0\nfail = False\nscale = 2")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Demand\n\nA small pipeline to run from the panel."),
        params,
        nbformat.v4.new_markdown_cell("## Load"),
        nbformat.v4.new_code_cell("import time\n\nrows = [3, 5, 8]"),
        nbformat.v4.new_markdown_cell("## Train"),
        nbformat.v4.new_code_cell(
            "time.sleep(delay)\nprint('training on', len(rows), 'rows')\nif fail:\n"
            "    raise ValueError('the train step failed on purpose')\ntotal = sum(rows) * scale"),
        nbformat.v4.new_markdown_cell("## Report"),
        nbformat.v4.new_code_cell("score = total / 10\nprint('score', score)"),
    ]
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
