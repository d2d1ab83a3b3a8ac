"""The global random state of the notebook, saved after a step and restored before the
next one (emitted into the generated `common.py`; the capture recorder uses it too)."""


def get_rng_state():
    """The global random state of random, numpy and torch (those imported)."""
    import random
    import sys

    state = {"random": random.getstate()}
    if "numpy" in sys.modules:
        state["numpy"] = sys.modules["numpy"].random.get_state()
    if "torch" in sys.modules:
        state["torch"] = sys.modules["torch"].get_rng_state()
    return state


def set_rng_state(state):
    """Restore the random state the notebook had when this step started."""
    if state is None:
        return
    import random
    import sys

    random.setstate(state["random"])
    if "numpy" in state:
        import numpy

        numpy.random.set_state(state["numpy"])
    if "torch" in state and "torch" in sys.modules:
        sys.modules["torch"].set_rng_state(state["torch"])
