"""Shared test setup: the project root on sys.path, one pipeline run per session."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: the scale check (skipped unless NB2PIPE_SCALE=1)"
    )


@pytest.fixture(scope="session")
def step_outputs():
    """Each step's outputs from one run of the pipeline on the current data."""
    # __IMPORTS__

    return validate.run_steps(validate=False)
