"""Values built from a secret never reach a stored artifact (issue 12, item 8).

Stage by stage: the taint pass (analysis facts from cells), the planner (no secret-derived
step input or output; the statements that build one are replayed where it is read; NB222 where
that is not cheap), the runner's log masking, and end to end: after `convert --capture` and
`nb2pipe run`, neither the secret nor any value built from it is in any file of the project.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import make_notebook

from nb2pipe.analysis.cells import analyze
from nb2pipe.analysis.secrets import rewrite_secrets, secret_names
from nb2pipe.analysis.taint import leaking_names, trace
from nb2pipe.api import convert, plan_notebook
from nb2pipe.notebook import read_notebook
from nb2pipe.runner.masking import Masker

TOKEN = "tok-live-8f3a9b2c7d11e5"


def _flow(tmp_path: Path, cells: list):
    path = make_notebook(tmp_path / "t.ipynb", cells)
    nb, _ = read_notebook(path, path.name)
    nb, _ = rewrite_secrets(nb)
    an = analyze(nb)
    return trace(an.stmts, an.definitions, secret_names(nb))


def _plan(tmp_path: Path, cells: list, name: str = "t"):
    path = make_notebook(tmp_path / f"{name}.ipynb", cells)
    plan, diags, _ = plan_notebook(path, tmp_path / f"{name}_pipeline")
    return plan, diags


def _tainted_io(plan) -> list[str]:
    derived = {n for n, _ in plan.secret_derived}
    return sorted({n for s in plan.steps for n in (*s.inputs, *s.outputs) if n in derived})


# ---- the taint pass -------------------------------------------------------------------------

def test_taint_follows_data_flow_from_the_lifted_secret(tmp_path):
    flow = _flow(tmp_path, [
        ("code", "import base64"),
        ("code", f'API_TOKEN = "{TOKEN}"\n'
                 'headers = {"Authorization": "Bearer " + API_TOKEN}\n'
                 "basic = base64.b64encode(API_TOKEN.encode())\n"
                 "rows = [1, 2]\n"
                 "n = len(API_TOKEN)\n"
                 "same = API_TOKEN == 'x'\n"
                 "cfg = {'a': 1}\n"
                 "cfg['auth'] = basic\n"
                 "total = sum(rows) + n + len(headers)\n"  # read: not dead scratch
                 "headers = {}\n"),
    ])
    assert set(flow.derived) == {"API_TOKEN", "headers", "basic", "cfg"}
    assert flow.derived["cfg"] == frozenset({"API_TOKEN"})
    # a clean rebinding ends the taint; measuring (len, ==) never starts one
    assert "headers" not in flow.final and {"API_TOKEN", "cfg", "basic"} <= flow.final


def test_functions_and_credential_like_env_reads_are_sources(tmp_path):
    flow = _flow(tmp_path, [
        ("code", "import os"),
        ("code", 'def client():\n    return {"key": os.environ["GITHUB_TOKEN"]}\n'
                 'def label(x):\n    return "id-" + str(x)\n'),
        ("code", "c = client()\nname = label(3)\nhome = os.environ['HOME']\n"),
        ("code", 'def keyed():\n    return "k:" + c["key"]\n'),
        ("code", "v = keyed()\n"),  # reads the tainted global `c` inside the function
    ])
    assert set(flow.derived) == {"c", "v"}
    assert flow.derived["c"] == frozenset({"GITHUB_TOKEN"})


def test_only_flowing_reads_pass_taint_on():
    import ast

    tree = ast.parse("x = (len(t) if t else 0) + f(u) + (v == 1) + isinstance(w, str)")
    assert leaking_names(tree, {"t", "u", "v", "w"}) == {"u"}


# ---- the planner ------------------------------------------------------------------------------

SECRET_CELLS = [
    ("code", "import os\nimport base64"),
    ("md", "## Load"),
    ("code", f'API_TOKEN = "{TOKEN}"\n'
             'headers = {"Authorization": "Bearer " + API_TOKEN}\n'
             'basic = base64.b64encode(("me:" + API_TOKEN).encode()).decode()\n'
             "rows = [1, 2, 3]\n"),
    ("md", "## Use"),
    ("code", "auth = headers['Authorization']\nprint(auth)\nprint(basic)\n"
             "m = sum(rows) + len(auth)\n"),
]


def test_secret_derived_values_are_recomputed_where_read(tmp_path):
    plan, diags = _plan(tmp_path, SECRET_CELLS)
    assert plan is not None and not [d for d in diags if d.is_error]
    assert _tainted_io(plan) == []
    use = plan.step("use")
    assert use.inputs == ("rows",) and use.outputs == ("m",)
    assert set(use.recomputed) == {"API_TOKEN", "headers", "basic"}
    assert 'API_TOKEN = os.environ["API_TOKEN"]' in use.body
    assert use.body.index("headers = ") < use.body.index("auth = ")
    assert dict(plan.secret_derived)["auth"] == ("API_TOKEN",)


def test_network_result_built_from_a_secret_is_refused(tmp_path):
    plan, diags = _plan(tmp_path, [
        ("code", "import requests"),
        ("md", "## Fetch"),
        ("code", f'API_TOKEN = "{TOKEN}"\n'
                 'r = requests.get("https://example.org", headers={"t": API_TOKEN})\n'),
        ("md", "## Use"),
        ("code", "data = r.json()\n"),
    ])
    found = [d for d in diags if d.code == "NB222"]
    assert len(found) == 1 and found[0].is_error
    d = found[0]
    assert (d.cell, d.line) == (5, 1) and "'r'" in d.message and "requests.get" in d.message
    assert "step:" in d.message and TOKEN not in d.message


def test_secret_value_read_after_its_clean_input_changed_is_refused(tmp_path):
    _, diags = _plan(tmp_path, [
        ("code", "import os"),
        ("md", "## A"),
        ("code", f'prefix = "Bearer "\nAPI_TOKEN = "{TOKEN}"\nauth = prefix + API_TOKEN\n'
                 'prefix = "Basic "\n'),
        ("md", "## B"),
        ("code", "print(auth, prefix)\n"),
    ])
    found = [d for d in diags if d.code == "NB222"]
    assert len(found) == 1 and "'prefix'" in found[0].message


def test_notebook_function_made_of_cheap_calls_is_replayed(tmp_path):
    plan, diags = _plan(tmp_path, [
        ("code", "import os"),
        ("md", "## A"),
        ("code", "def bearer(t):\n    return 'Bearer ' + t.strip()\n"),
        ("code", f'API_TOKEN = "{TOKEN}"\nauth = bearer(API_TOKEN)\nk = 2\n'),
        ("md", "## B"),
        ("code", "size = len(auth) * k\n"),
    ])
    assert not [d for d in diags if d.is_error], [d.format() for d in diags]
    assert _tainted_io(plan) == [] and plan.step("b").outputs == ("size",)
    assert "auth = bearer(API_TOKEN)" in plan.step("b").body


def test_replayed_setup_rebuilds_the_secret_value_itself(tmp_path):
    plan, diags = _plan(tmp_path, [
        ("code", "import os"),
        ("md", "## A"),
        ("code", f'my_api_key = "{TOKEN}"\nos.environ["SERVICE_API_KEY"] = my_api_key\n'
                 "x = 1\n"),
        ("md", "## B"),
        ("code", "y = x + len(os.environ['SERVICE_API_KEY'])\n"),
    ])
    assert not [d for d in diags if d.is_error], [d.format() for d in diags]
    a = plan.step("a")
    assert a.has_setup and a.setup_reads == ()
    assert a.setup_body.index("my_api_key = ") < a.setup_body.index('os.environ["SERVICE')
    assert _tainted_io(plan) == []


# ---- the runner's log masking -----------------------------------------------------------------

def test_masker_hides_the_secret_and_its_encodings():
    mask = Masker([TOKEN, "ab"])
    b64 = base64.b64encode(TOKEN.encode()).decode()
    text = f"Bearer {TOKEN}\n{json.dumps({'t': TOKEN})}\n{b64}\nab stays"
    out = mask(text)
    assert TOKEN not in out and b64.rstrip("=") not in out
    assert out.startswith("Bearer ***") and out.endswith("ab stays")


# ---- end to end -------------------------------------------------------------------------------

def _all_text_in_sqlite(path: Path) -> str:
    con = sqlite3.connect(str(path))
    try:
        parts = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in con.execute(f'SELECT * FROM "{table}"'):
                parts.extend(str(v) for v in row)
        return "\n".join(parts)
    finally:
        con.close()


def _value_reprs(project: Path, package: str) -> str:
    """Every stored value (run store and fixtures), loaded back: compressed formats
    (Parquet) hide their strings from a byte search."""
    code = ("import sys, json; from pathlib import Path; "
            f"from {package}._runtime import load_value; "
            "print('\\n'.join(repr(load_value(Path(p))) for p in sys.argv[1:]))")
    folders = sorted({str(m.parent) for m in project.rglob("meta.json")})
    if not folders:
        return ""
    proc = subprocess.run([sys.executable, "-c", code, *folders], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_no_secret_or_value_built_from_it_anywhere_in_the_project(tmp_path):
    nb = make_notebook(tmp_path / "sec.ipynb", SECRET_CELLS)
    out = tmp_path / "sec_pipeline"
    res = convert(nb, out, capture=True)
    assert res.ok, [d.format() for d in res.diagnostics]
    proc = subprocess.run([sys.executable, "-m", "nb2pipe", "run", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    logs = subprocess.run([sys.executable, "-m", "nb2pipe", "runs", "logs", str(out), "1",
                           "use"], capture_output=True, text=True, timeout=60).stdout
    basic = base64.b64encode(("me:" + TOKEN).encode()).decode()
    # printed values built from the secret are masked in the stored log
    assert TOKEN not in logs and basic not in logs and logs.count("***") == 2, logs
    forbidden = [TOKEN, "Bearer " + TOKEN, basic]
    searched = 0
    for p in out.rglob("*"):
        if not p.is_file() or p.name == "secrets.local.env":  # the one place, git-ignored
            continue
        data = p.read_bytes()
        searched += 1
        for v in forbidden:
            assert v.encode() not in data, f"{v!r} in {p.relative_to(out)}"
    assert searched > 20
    db_text = _all_text_in_sqlite(out / ".nb2pipe" / "runs.db")
    values = _value_reprs(out, "sec_pipeline")
    for v in forbidden:
        assert v not in db_text and v not in values
    # the pipeline still computes what the notebook did, and the step logged its prints
    assert "m" in json.loads((out / "nb2pipe.plan.json").read_text())["final_names"]
    assert (out / "tests/fixtures/use/outputs/m").is_dir()
    assert not list((out / "tests/fixtures").rglob("headers"))
    # no secret-derived value is an artifact on a cluster either
    import yaml

    docs = list(yaml.safe_load_all((out / "deploy/argo-workflow.yaml").read_text()))
    arts = {a["name"] for d in docs for t in d["spec"].get("templates", [])
            for a in t.get("outputs", {}).get("artifacts", [])}
    assert arts == {"rows", "m"}
    kfp = (out / "deploy/kfp_pipeline.py").read_text()
    assert "out_rows" in kfp and "out_headers" not in kfp and "API_TOKEN)" not in kfp
    readme = (out / "README.md").read_text()
    assert "## Values built from secrets" in readme and "`headers` (API_TOKEN)" in readme
