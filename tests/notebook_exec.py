"""Execute a notebook with a real kernel (nbclient) and compare it with its pipeline.

The notebook runs top to bottom in its own folder; a last cell pickles the requested final
values (cloudpickle, so classes defined in the notebook travel by value). The pipeline runs
in a fresh interpreter, which loads that baseline and compares value by value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DUMP_CELL = """
import cloudpickle as __nb2pipe_cp
__nb2pipe_vals = {{}}
for __nb2pipe_n in {names!r}:
    if __nb2pipe_n in globals():
        __nb2pipe_vals[__nb2pipe_n] = globals()[__nb2pipe_n]
with open({out!r}, "wb") as __nb2pipe_fh:
    __nb2pipe_cp.dump(__nb2pipe_vals, __nb2pipe_fh)
"""


def notebook_values(notebook: Path, names: list[str], out_file: Path, timeout: int = 600,
                    kernel_name: str = "python3") -> None:
    """Execute the notebook and write the named final values to out_file."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(DUMP_CELL.format(names=list(names),
                                                               out=str(out_file))))
    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backend


CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import importlib
import cloudpickle
from nb2pipe.validation.compare import compare
pipeline = importlib.import_module(sys.argv[2] + ".pipeline")
with open(sys.argv[3], "rb") as fh:
    baseline = cloudpickle.load(fh)
values = pipeline.run()
out = {}
for name, expected in baseline.items():
    if name not in values:
        out[name] = ["missing", "the pipeline does not produce it"]
        continue
    v = compare(expected, values[name])
    out[name] = [v.status, v.detail]
print("NB2PIPE-RESULT " + json.dumps(out, sort_keys=True))
"""


def pipeline_compare(project: Path, package: str, baseline_file: Path,
                     timeout: int = 600) -> dict[str, tuple[str, str]]:
    """Run the generated pipeline in a fresh interpreter and compare with the baseline."""
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(project), package,
                           str(baseline_file)], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=str(project))
    for line in proc.stdout.splitlines():
        if line.startswith("NB2PIPE-RESULT "):
            return {k: tuple(v) for k, v in json.loads(line[len("NB2PIPE-RESULT "):]).items()}
    raise RuntimeError(f"pipeline run failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
