"""A function's own names (parameters, locals, names bound in its nested scopes) are never
notebook reads, whatever the function is called. Regression: a def named `top` had every
parameter reported unbound (NB201), because `symtable` before Python 3.12 takes any table
named "top" for the module."""

from __future__ import annotations

import ast
import builtins

import pytest

from nb2pipe.analysis.names import free_names
from test_analysis import C, M, _convert, assert_same, codes, step

# each def reads exactly one notebook global, `g`; every other name is its own
_SHAPES = {
    "defaults": 'def NAME(df, n=5, column="tip_pct"):\n'
                "    return sorted(df, key=column.count)[:n] + [g]",
    "star_args": "def NAME(a, /, b, *rest, key=None, **kw):\n"
                 "    return (a, b, rest, key, kw, g)",
    "lambda_and_comprehension": "def NAME(xs, k):\n"
                                "    f = lambda v, w=k: v + w\n"
                                "    return [f(x) for x in xs if x > k] + [g]",
    "nested_def": "def NAME(a):\n"
                  "    def inner(b, *, c=1):\n"
                  "        return a + b + c + g\n"
                  "    return inner(a)",
    "method": "class NAME:\n"
              "    scale = 2\n"
              "    def NAME(self, v, *a, **kw):\n"
              "        return v * len(a) + len(kw) + g",
    "locals_and_handlers": "def NAME(path):\n"
                           "    total: int = 0\n"
                           "    for i in range(3):\n"
                           "        total += i\n"
                           "    try:\n"
                           "        import os\n"
                           "    except ImportError as err:\n"
                           "        raise err\n"
                           "    return total + g + len(os.sep)",
}


@pytest.mark.parametrize("name", ["top", "helper"])
@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_free_names_are_only_module_reads(shape, name):
    node = ast.parse(_SHAPES[shape].replace("NAME", name)).body[0]
    assert [n for n in free_names(node) if not hasattr(builtins, n)] == ["g"]


def test_parameters_of_a_function_named_top_are_not_unbound(notebook_factory):
    cells = [(M, "## Data"), (C, "tips = [3.0, 1.0, 2.0, 5.0]"),
             (M, "## Use"), (C, "def top(df, n=5, *rest, reverse=True, **kw):\n"
                                "    return sorted(df, reverse=reverse)[:n]\n"
                                "best = top(tips, n=2)")]
    res, out = _convert(notebook_factory, cells)
    assert "NB201" not in codes(res), [d.format() for d in res.diagnostics]
    assert step(res, "use").inputs == ("tips",)
    assert_same(cells, res, out)
