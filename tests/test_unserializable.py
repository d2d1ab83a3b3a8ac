"""Issue 12 item 5: values that cannot be serialized.

Real runs (`nb2pipe run` as a process, the fork worker, the store): a value no later step
reads and that cannot be serialized gets no artifact and the run succeeds, with the lineage
saying why; one a later step reads falls back to cloudpickle; one neither can write fails
the step with an error that names the value, both steps and the fix.
"""

from __future__ import annotations

from runner_helpers import check_store_consistent, cli, cli_json, db, project_from

import pytest

# Four kinds of value pickle refuses, none read by a later step: the run must not fail.
UNREAD = [
    ("code", "import threading", ["imports"]),
    ("code", "class Stubborn:\n    def __reduce__(self):\n        raise RuntimeError('no pickling')",
     ["functions"]),
    ("code", "n = 3\nlock = threading.Lock()\nsquares = (i * i for i in range(n))\n"
             "handle = open('notes.txt', 'w')\nstubborn = Stubborn()", ["step:make"]),
    ("code", "m = n + 1", ["step:use", "prev:make"]),
]

# A lambda: pickle refuses it (a local object of the step function), cloudpickle writes it.
LAMBDA = [
    ("code", "scale = lambda v: v * 2", ["step:make"]),
    ("code", "doubled = scale(21)", ["step:use", "prev:make"]),
]

# A generator a later step reads: neither pickle nor cloudpickle can write it.
READ_GENERATOR = [
    ("code", "squares = (i * i for i in range(4))", ["step:make"]),
    ("code", "total = sum(squares)", ["step:use", "prev:make"]),
]


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    return tmp_path_factory.mktemp("unserializable_templates")


def test_unread_values_that_cannot_be_serialized_are_recorded_not_persisted(templates,
                                                                           tmp_path):
    project = project_from(UNREAD, "unread", templates, tmp_path / "nb")
    rc, out = cli_json("run", project)
    assert rc == 0, out
    assert out["steps"] == {"make": "finished", "use": "finished"}
    rc, show = cli_json("runs", "show", project, "1")
    make = show["step_runs"]["make"]
    assert set(make["not_persisted"]) == {"lock", "squares", "handle", "stubborn"}
    assert "n" in make["outputs"]  # the value `use` reads is an artifact as before
    for name in ("lock", "squares", "handle", "stubborn"):
        lin = show["lineage"][f"make.{name}"]
        assert lin["persisted"] is False and lin["sha256"] is None
        assert "no later step reads it" in lin["reason"]
    assert "no pickling" in show["lineage"]["make.stubborn"]["reason"]
    assert "generator" in make["not_persisted"]["squares"]["type"]
    text = cli("runs", "show", project, "1").stdout
    assert "make.lock (not persisted) <- make" in text
    fetch = cli("runs", "fetch", project, "1", "lock", "-o", tmp_path / "lock.bin")
    assert fetch.returncode != 0 and "not persisted" in fetch.stderr
    assert "Traceback" not in fetch.stderr
    # served from the cache, the record comes along
    rc, again = cli_json("run", project)
    assert rc == 0 and again["steps"]["make"] == "cached"
    rc, show2 = cli_json("runs", "show", project, "2")
    assert set(show2["step_runs"]["make"]["not_persisted"]) == set(make["not_persisted"])
    check_store_consistent(project)


def test_verify_does_not_fail_on_unread_values_that_cannot_be_serialized(templates, tmp_path):
    """verify runs each step and stores its outputs as the runner does: the same rule."""
    project = project_from(UNREAD, "unread", templates, tmp_path / "nb")
    rc, report = cli_json("verify", project.parent / "unread.ipynb", "-o", project,
                          "--no-recheck")
    errors = {s["step"]: s["error"] for s in report["steps"] if s["error"]}
    assert not errors, errors
    assert rc == 0, report


def test_a_value_read_later_falls_back_to_cloudpickle(templates, tmp_path):
    project = project_from(LAMBDA, "lam", templates, tmp_path / "nb")
    rc, out = cli_json("run", project)
    assert rc == 0, out
    from nb2pipe.runner.report import load_values

    assert load_values(project, "1", names=["doubled"]) == {"doubled": 42}
    con = db(project)
    try:
        fmt = con.execute("SELECT a.format FROM outputs o JOIN artifacts a ON a.sha=o.sha "
                          "WHERE o.name='scale'").fetchone()[0]
    finally:
        con.close()
    assert fmt == "pickle"


def test_a_value_read_later_that_nothing_can_write_names_both_steps_and_the_fix(templates,
                                                                                tmp_path):
    project = project_from(READ_GENERATOR, "readgen", templates, tmp_path / "nb")
    proc = cli("run", project)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    rc, out = cli_json("run", project)
    assert rc == 1 and out["steps"] == {"make": "failed", "use": "skipped"}
    err = out["errors"]["make"]
    assert "output 'squares'" in err and "step 'make'" in err and "'use' read it" in err
    assert "cloudpickle" in err  # both serializers were tried
    assert "step:NAME" in err and "--capture" in err  # the fix
    check_store_consistent(project)


# ---- --capture: step boundaries where no such value has to cross one --------------------------

LOCK_READ_TWO_STEPS_LATER = [
    ("code", "import threading", ["imports"]),
    ("code", "n = 3\nlock = threading.Lock()", ["step:make"]),
    ("code", "k = n * 2", ["step:middle", "prev:make"]),
    ("code", "with lock:\n    m = n + 1", ["step:use", "prev:middle"]),
    ("code", "total = m + k", ["step:last", "prev:use"]),
]


def test_capture_joins_the_steps_a_value_that_cannot_be_serialized_would_cross(tmp_path):
    from conftest import make_notebook

    from nb2pipe.api import convert

    nb = make_notebook(tmp_path / "locked.ipynb", LOCK_READ_TWO_STEPS_LATER)
    out = tmp_path / "locked_pipeline"
    plain = convert(nb, out)
    assert [s.name for s in plain.plan.steps] == ["make", "middle", "use", "last"]
    rc, res = cli_json("run", out)
    assert rc == 1 and "output 'lock'" in res["errors"]["make"]  # without the types: fails

    captured = convert(nb, out, capture=True, force=True)
    assert captured.ok, [d.format() for d in captured.diagnostics]
    # make, middle and use are one step (middle lies between: the notebook's order holds)
    assert [s.name for s in captured.plan.steps] == ["make", "last"]
    joined = [d for d in captured.diagnostics if d.code == "NB310"]
    assert len(joined) == 1 and "'lock'" in joined[0].message and "'use'" in joined[0].message
    rc, res = cli_json("run", out)
    assert rc == 0, res
    from nb2pipe.runner.report import load_values

    assert load_values(out, "latest", names=["total"]) == {"total": 10}

    # a plain convert of the unchanged notebook keeps the boundaries the capture placed
    again = convert(nb, out)
    assert again.ok and [s.name for s in again.plan.steps] == ["make", "last"]
    # only the cluster specs (and the plan holding them) change: each step is sized from
    # what the run measured
    assert all(f.startswith("deploy/") or f == "nb2pipe.plan.json" for f in again.written), \
        again.written


def test_join_groups_takes_in_every_group_between_and_renames_prev():
    from nb2pipe.planning.split import Group, join_groups

    groups = [Group("load", "load", [1, 2]), Group("mid", "mid", [3], prev=["load"]),
              Group("use", "use", [4], prev=["mid"]), Group("end", "end", [5], prev=["use"])]
    joined = join_groups(groups, [(2, 4)])
    assert [(g.raw_name, g.cells, g.prev) for g in joined] == [
        ("load", [1, 2, 3, 4], []), ("end", [5], ["load"])]
    assert join_groups(groups, []) is groups
    # chained joins end in one group
    chained = join_groups(groups, [(3, 4), (1, 3)])
    assert [g.cells for g in chained] == [[1, 2, 3, 4], [5]]
