"""Model performance: the retrained model's metrics stay within a tolerance of the
values the notebook computed when it was captured. Tolerance: max(ABS_TOL, REL_TOL * |value|),
one-sided for metrics where higher (or lower) is better."""

import pytest

ABS_TOL, REL_TOL = "__ABS_TOL__", "__REL_TOL__"
# metric -> [step, captured value, "higher" | "lower" | "unknown" is better]
# __BASELINE__


@pytest.mark.parametrize("metric", sorted(BASELINE))
def test_metric_within_tolerance(step_outputs, metric):
    step, expected, better = BASELINE[metric]
    actual = float(step_outputs[step][metric])
    tol = max(ABS_TOL, REL_TOL * abs(expected))
    msg = f"{metric} = {actual:.6g}, captured {expected:.6g} (tolerance {tol:.3g})"
    if better == "higher":
        assert actual >= expected - tol, msg
    elif better == "lower":
        assert actual <= expected + tol, msg
    else:
        assert abs(actual - expected) <= tol, msg
