"""IPython's input transformer loaded without importing IPython reads cells exactly as the
normal import does, and never puts anything under the name `IPython`."""

from __future__ import annotations

import json
import subprocess
import sys

CELLS = [
    "%matplotlib inline\nx = 1",
    "!pip install foo==1.0\ny = !ls -la",
    "df?",
    "??obj.attr",
    "%%time\nz = 2\n",
    "%%capture out\nprint(1)\n",
    "a = %who_ls",
    "x = 1 if y else 2  # %not a magic",
    "%load_ext autoreload\n%autoreload 2\nimport pandas as pd",
    "for i in range(3):\n    !echo {i}\n",
    "get_ipython().run_line_magic('time', 'x = 1')",
    "%%bash\necho hi\n",
    "s = '''\n%not magic inside a string\n'''",
]

SCRIPT = """
import json, sys
from nb2pipe.analysis import ipyload
manager = ipyload.transformer_manager_class()
standalone = manager.__module__.startswith("nb2pipe.")
ipython_imported = "IPython" in sys.modules
cells = json.loads(sys.stdin.read())
ours = [manager().transform_cell(c) for c in cells]
from IPython.core.inputtransformer2 import TransformerManager
theirs = [TransformerManager().transform_cell(c) for c in cells]
print(json.dumps({"standalone": standalone, "ipython_imported": ipython_imported,
                  "same": ours == theirs, "ours": ours, "theirs": theirs}))
"""


def _run(env_extra: dict[str, str], tmp_path) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k != "NB2PIPE_IPYTHON_IMPORT"}
    env.update({"NB2PIPE_CACHE_DIR": str(tmp_path / "cache"), **env_extra})
    out = subprocess.run([sys.executable, "-c", SCRIPT], input=json.dumps(CELLS), text=True,
                         capture_output=True, env=env, check=True)
    return json.loads(out.stdout)


def test_standalone_transformer_matches_ipython(tmp_path):
    first = _run({}, tmp_path)  # compiles and caches the code objects
    assert first["standalone"] and not first["ipython_imported"]
    assert first["same"], list(zip(first["ours"], first["theirs"]))
    again = _run({}, tmp_path)  # from the cache
    assert again["standalone"] and again["same"]
    assert list((tmp_path / "cache").glob("ipython-*.marshal"))


def test_normal_import_when_asked(tmp_path):
    res = _run({"NB2PIPE_IPYTHON_IMPORT": "1"}, tmp_path)
    assert not res["standalone"] and res["same"]
