import pytest

# __IMPORTS__

CASES = [(step, name) for step, names in CHECKED.items() for name in names]
LAST = "__LAST_STEP__"


@pytest.fixture(scope="module")
def loaded():
    """The steps up to the last checked one, on the data as it is now."""
    return validate.run_steps(validate=False, stop_after=LAST)


@pytest.mark.parametrize("step,name", CASES)
def test_data_matches_captured_profile(loaded, step, name):
    problems = schemas.check(loaded[step][name], schemas.SCHEMAS[f"{step}.{name}"])
    assert not problems, "\n" + schemas.report({f"{step}.{name}": problems})
