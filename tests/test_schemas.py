"""Issue 19 item 2: the captured profiles become pandera schemas (`<pkg>/schemas.py`).

The generated schemas pass and fail the same tables as nb2pipe's own checks
(tests/quality_oracle.py, the reference); the generated data-quality tests, run by
pytest in a generated project, pass on the sample data and fail on each kind of bad data; a
user imports the schemas and validates a frame with pandera itself.
"""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

from capture_helpers import (SAMPLES, captured_project, package_of, run_generated_tests,
                             sample_copy)
from nb2pipe.emit.project import pandera_requirement
from nb2pipe.emit.tests import schemas_source
from nb2pipe.validation import quality
from quality_oracle import check as oracle_check

pytest.importorskip("pandera")  # the test extra installs it (the generated tests need it)
try:  # as the generated schemas import it
    import pandera.pandas as pa
except ImportError:
    import pandera as pa


def _frame(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rs = np.random.RandomState(seed)
    return pd.DataFrame({
        "amount": rs.normal(100, 15, n),
        "count": rs.poisson(3, n),
        "plan": rs.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
        "age": np.where(rs.rand(n) < 0.05, np.nan, rs.randint(18, 80, n)),
        "flag": rs.rand(n) < 0.3,
        "code": pd.Series(rs.choice([1, 2, "x"], n), dtype=object),
        "note": [f"n{i}" for i in range(n)],
    })


def _schemas(frame: pd.DataFrame) -> types.ModuleType:
    """The generated schemas module for one profiled table, imported."""
    src = schemas_source("nb.ipynb", "pkg", {"load": {"df": quality.profile(frame)}})
    module = types.ModuleType("schemas_under_test")
    exec(compile(src, "schemas.py", "exec"), module.__dict__)
    return module


CASES = {
    "same data": lambda d: d,
    "a fresh sample": lambda d: _frame(600, seed=1),
    "a small sample": lambda d: _frame(60, seed=2),
    "extra column": lambda d: d.assign(extra=1),
    "reordered columns": lambda d: d[list(reversed(d.columns))],
    "nulls where none": lambda d: d.assign(amount=d.amount.mask(d.index % 10 == 0)),
    "one null where none": lambda d: d.assign(count=d["count"].astype(float).mask(d.index == 5)),
    "a few more nulls": lambda d: d.assign(age=d.age.mask(d.index % 50 == 0)),
    "many more nulls": lambda d: d.assign(age=d.age.mask(d.index % 4 == 0)),
    "far out of range": lambda d: d.assign(amount=d.amount.where(d.index != 3, 1e6)),
    "one just outside": lambda d: d.assign(amount=d.amount.where(d.index != 3,
                                                                 d.amount.max() + 20)),
    "a tail outside": lambda d: d.assign(amount=d.amount.where(d.index % 100 != 0,
                                                               d.amount.max() + 20)),
    "infinite": lambda d: d.assign(amount=d.amount.where(d.index != 7, np.inf)),
    "mean shift": lambda d: d.assign(amount=d.amount + 30),
    "small mean shift": lambda d: d.assign(amount=d.amount + 0.5),
    "spread": lambda d: d.assign(amount=(d.amount - 100) * 2.5 + 100),
    "unseen category": lambda d: d.assign(plan=d.plan.where(d.index % 50 != 0, "enterprise")),
    "proportion shift": lambda d: d.assign(plan=d.plan.where(d.index % 3 != 0, "pro")),
    "small proportion shift": lambda d: d.assign(plan=d.plan.where(d.index % 100 != 0, "pro")),
    "bool share shift": lambda d: d.assign(flag=True),
    "unseen key in object column": lambda d: d.assign(code=d.code.where(d.index != 9, 3)),
    "object column key as float": lambda d: d.assign(code=d.code.where(d.code != 1, 1.0)),
    "wrong dtype": lambda d: d.assign(count=d["count"].astype(float)),
    "nullable integer dtype": lambda d: d.assign(count=d["count"].astype("Int64")),
    "strings as numbers": lambda d: d.assign(amount=d.amount.astype(str)),
    "object strings": lambda d: d.assign(plan=d.plan.astype(object)),
    "category dtype": lambda d: d.assign(plan=d.plan.astype("category")),
    "missing column": lambda d: d.drop(columns=["plan"]),
    "duplicate column names": lambda d: pd.concat([d, d[["amount"]] * 0], axis=1),
    "no rows": lambda d: d.iloc[:0],
    "one row": lambda d: d.iloc[:1],
    "all missing where some were": lambda d: d.assign(age=np.nan),
    "a series": lambda d: d["amount"],
    "not a table": lambda d: [1, 2, 3],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_schemas_pass_and_fail_the_same_tables_as_the_profile_checks(case):
    base = _frame()
    module = _schemas(base)
    data = CASES[case](base.copy())
    expected = oracle_check(data, quality.profile(base))
    got = module.check(data, module.SCHEMAS["load.df"])
    assert bool(got) == bool(expected), (expected, got)
    # the same columns are named
    named = {p.split("'")[1] for p in expected if p.startswith("column '")}
    assert named == {p.split("'")[1] for p in got if p.startswith("column '")}, (expected, got)


def test_both_sides_of_the_parity_are_exercised():
    """A parity that never fails anything proves nothing: most corruptions fail."""
    base = _frame()
    prof = quality.profile(base)
    failing = [c for c in CASES if oracle_check(CASES[c](base.copy()), prof)]
    assert len(failing) >= 15 and len(CASES) - len(failing) >= 6, failing
    assert "same data" not in failing and "a fresh sample" not in failing


@pytest.mark.parametrize("seed", range(8))
def test_parity_on_random_frames_and_corruptions(seed):
    rs = np.random.RandomState(100 + seed)
    n = int(rs.randint(30, 400))
    base = pd.DataFrame({
        "x": rs.normal(rs.uniform(-50, 50), rs.uniform(0.1, 20), n),
        "k": rs.randint(0, 5, n),
        "c": rs.choice(list("abcd"), n, p=[0.4, 0.3, 0.2, 0.1]),
        "m": np.where(rs.rand(n) < 0.1, np.nan, rs.rand(n)),
    })
    module = _schemas(base)
    prof = quality.profile(base)
    for trial in range(12):
        d = base.sample(frac=float(rs.uniform(0.3, 1.0)), random_state=trial).copy()
        col = ["x", "k", "c", "m"][trial % 4]
        rows = rs.rand(len(d)) < rs.uniform(0, 0.2)
        if col == "c":
            d.loc[rows, "c"] = rs.choice(["a", "d", "z"])
        elif col == "k":
            d.loc[rows, "k"] = int(rs.choice([0, 4, 9]))
        else:
            d.loc[rows, col] = d[col].mean() + rs.choice([-1, 1]) * rs.uniform(0, 6) * d[col].std()
        expected = oracle_check(d, prof)
        got = module.check(d, module.SCHEMAS["load.df"])
        assert bool(got) == bool(expected), (seed, trial, col, expected, got)


def test_the_schema_is_pandera_and_validates_on_its_own():
    base = _frame()
    schema = _schemas(base).SCHEMAS["load.df"]
    assert isinstance(schema, pa.DataFrameSchema) and schema.name == "load.df"
    assert schema.columns["amount"].nullable is False and schema.columns["age"].nullable is True
    assert str(schema.columns["count"].dtype) == "int64"
    schema.validate(_frame(600, seed=1))
    bad = base.assign(plan=base.plan.where(base.index % 50 != 0, "enterprise"))
    with pytest.raises(pa.errors.SchemaError):
        schema.validate(bad)


def test_schemas_source_is_black_formatted_and_deterministic():
    black = pytest.importorskip("black")
    profiles = {"load": {"df": quality.profile(_frame())},
                "clean": {"a_rather_long_table_name": quality.profile(_frame(50, seed=4))}}
    src = schemas_source("nb.ipynb", "pkg", profiles)
    assert black.format_str(src, mode=black.Mode()) == src
    again = schemas_source("nb.ipynb", "pkg", dict(reversed(list(profiles.items()))))
    assert again == src
    compile(src, "schemas.py", "exec")


@pytest.mark.parametrize("pandas, expected", [
    ("1.5.3", "pandera>=0.20,<0.24"),
    ("2.0.3", "pandera>=0.20,<0.24"),
    ("2.2.3", "pandera[pandas]>=0.20,<1"),
    ("3.0.1", "pandera[pandas]>=0.30,<1"),
])
def test_pandera_range_follows_the_pinned_pandas(pandas, expected):
    assert pandera_requirement(["numpy==2.0.0", f"pandas=={pandas}"]) == expected
    assert pandera_requirement(["numpy==2.0.0"]) is None


# ---- in a generated project (a kernel runs the notebook once) ---------------------------------


@pytest.fixture(scope="module")
def churn():
    return captured_project("churn")


def _corrupt(kind: str, path) -> None:
    df = pd.read_csv(path)
    idx = df.index
    if kind == "wrong dtype":
        df["support_calls"] = df["support_calls"].astype(float) + 0.5
    elif kind == "nulls where none":
        df.loc[idx % 7 == 0, "gender"] = np.nan
    elif kind == "out of range":
        df.loc[idx % 97 == 0, "support_calls"] = 250
    elif kind == "unseen category":
        df.loc[idx % 40 == 0, "contract"] = "lifetime"
    elif kind == "proportion shift":
        df.loc[idx % 3 == 0, "internet_service"] = "fiber"
    df.to_csv(path, index=False)


@pytest.mark.kernel
@pytest.mark.parametrize("kind, expect", [
    ("wrong dtype", "column 'support_calls': dtype float64 (expected int64)"),
    ("nulls where none", "column 'gender': "),
    ("out of range", "column 'support_calls': "),
    ("unseen category", "unseen categories ['lifetime']"),
    ("proportion shift", "share of 'fiber'"),
])
def test_generated_data_quality_tests_fail_on_each_kind_of_bad_data(tmp_path, churn, kind,
                                                                    expect):
    data = sample_copy(tmp_path / "samples")
    good = run_generated_tests(churn, "tests/test_data_quality.py", workdir=data)
    assert good.returncode == 0 and "1 passed" in good.stdout, good.stdout[-3000:]
    _corrupt(kind, data / "data" / "customers.csv")
    bad = run_generated_tests(churn, "tests/test_data_quality.py", workdir=data)
    assert bad.returncode == 1 and "1 failed" in bad.stdout, bad.stdout[-3000:]
    assert expect in bad.stdout, bad.stdout[-3000:]


@pytest.mark.kernel
def test_generated_schemas_module_is_importable_and_validates_a_frame(churn):
    pkg = package_of(churn)
    text = (churn / pkg / "schemas.py").read_text()
    assert "pa.DataFrameSchema(" in text and 'pa.Check.isin(["dsl", "fiber", "none"])' in text
    assert "share_near(" in text and "pa.Check.in_range(" in text
    assert "pandera" in (churn / "requirements-test.txt").read_text()
    code = (
        "import sys, pandas as pd, pandera\n"
        f"from {pkg}.schemas import SCHEMAS, load_data__df\n"
        "assert SCHEMAS['load_data.df'] is load_data__df\n"
        "df = pd.read_csv(sys.argv[1])\n"
        "load_data__df.validate(df)\n"
        "bad = df.assign(contract=df['contract'].where(df.index % 40 != 0, 'lifetime'))\n"
        "try:\n"
        "    load_data__df.validate(bad, lazy=True)\n"
        "except pandera.errors.SchemaErrors as exc:\n"
        "    print('rejected:', sorted(set(exc.failure_cases['failure_case'].astype(str))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(SAMPLES / "data" / "customers.csv")],
                          cwd=churn, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rejected:" in done.stdout and "lifetime" in done.stdout, done.stdout

