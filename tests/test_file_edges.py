"""Issue 12 item 6: the notebook's file effects order steps in `nb2pipe run`.

Real conversions and real runs (`python -m nb2pipe`, the local runner with two jobs): a step
that writes a file finishes before a later step that touches it, and a step that writes at a
computed path before every later step that touches the file system. Without the edges the
runner starts such steps side by side and the later one fails (FileNotFoundError).
"""

from __future__ import annotations

import json

from conftest import make_notebook
from runner_helpers import cli


def _convert_and_run(tmp_path, cells):
    nb = make_notebook(tmp_path / "nb.ipynb", cells)
    proc = cli("convert", nb, "-o", tmp_path / "out", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = json.loads(proc.stdout)["plan"]
    run = cli("run", tmp_path / "out", "--jobs", "2", timeout=300)
    return plan, run


def _step(plan, name):
    return next(s for s in plan["steps"] if s["name"] == name)


def test_a_saved_figure_is_there_for_the_next_section(tmp_path):
    """The issue's example: `savefig` in one section, `os.path.getsize` in the next."""
    plan, run = _convert_and_run(tmp_path, [
        ("md", "## Plot"),
        ("code", "import os\nimport matplotlib\nmatplotlib.use('Agg')\n"
                 "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
                 "ax.plot([1, 2, 3])\nfig.savefig('plot.png')"),
        ("md", "## Report"),
        ("code", "size = os.path.getsize('plot.png')\nprint('size', size)"),
    ])
    assert _step(plan, "report")["upstream"] == ["plot"]
    assert _step(plan, "report")["file_edges"] == [["plot", "file: plot.png"]]
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_a_file_written_at_a_computed_path_orders_later_file_system_steps(tmp_path):
    """The writer spells its path as an expression: nb2pipe cannot tell which file it is, so
    every later step that touches the file system waits for it; one that does not, does not."""
    plan, run = _convert_and_run(tmp_path, [
        ("md", "## Write"),
        ("code", "import os\nimport time\ntime.sleep(1)  # a slow step: the race shows\n"
                 "name = 'res' + 'ult.txt'\nwith open(name, 'w') as fh:\n    fh.write('42')"),
        ("md", "## Free"),
        ("code", "doubled = [2 * v for v in range(3)]"),
        ("md", "## Read"),
        ("code", "with open('result.txt') as fh:\n    answer = int(fh.read())"),
    ])
    read = _step(plan, "read")
    assert read["upstream"] == ["write"]
    assert read["file_edges"][0][1] == "file system: computed path (cell 2, line 5)"
    assert _step(plan, "free")["upstream"] == []
    assert run.returncode == 0, run.stdout + run.stderr
