"""Star imports become explicit imports: the names a module exports are read from its
source (never by running it), and NB202 is left for modules that cannot be found or whose
names cannot be known without running them."""

from __future__ import annotations

import sys
import textwrap

import pytest

from nb2pipe.analysis import star_imports
from nb2pipe.analysis.star_imports import StarImportResolver
from test_analysis import C, M, _convert, assert_same, codes


def _write(root, files: dict[str, str]):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def _names(root, module):
    found = StarImportResolver(root).exports(module)
    assert not found.problem, found.problem
    return set(found.names)


def test_declared_all_in_its_literal_forms(tmp_path):
    _write(tmp_path, {"mod_all.py": """
        __all__ = ["a"] + ["b"]
        __all__ += ("c",)
        __all__.extend(["d"])
        __all__.append("e")
        a = b = c = d = e = hidden = 1
    """})
    assert _names(tmp_path, "mod_all") == {"a", "b", "c", "d", "e"}


def test_without_all_the_public_names_bound_when_it_runs(tmp_path):
    _write(tmp_path, {"mod_pub.py": """
        from typing import TYPE_CHECKING
        import os.path as osp, json
        from collections import OrderedDict as OD
        if TYPE_CHECKING:
            from decimal import Decimal
        try:
            from fast import thing
        except ImportError:
            def thing():
                inside = 1
        x, (y, _private) = 1, (2, 3)
        class K:
            attr = 1
        for loop_var in range(2):
            pass
        z: int = 3
        w: int
    """})
    assert _names(tmp_path, "mod_pub") == {"TYPE_CHECKING", "osp", "json", "OD", "thing", "x",
                                          "y", "K", "loop_var", "z"}


def test_follows_star_imports_and_other_modules_all_inside_a_package(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "from .core import *\nfrom . import extra\n"
                           "__all__ = core_names + extra.__all__\ncore_names = []\n",
        "pkg/core.py": "__all__ = ['alpha']\nalpha = 1\n",
        "pkg/extra.py": "__all__ = ['beta']\nbeta = 2\n",
        "pkg/flat/__init__.py": "from .inner import *\nfrom ..core import alpha as again\n",
        "pkg/flat/inner.py": "gamma = 3\n",
    })
    assert _names(tmp_path, "pkg.flat") == {"gamma", "again", "inner"}
    # `core_names` is assigned after `__all__` reads it: unknown, not silently empty
    assert "cannot follow" in StarImportResolver(tmp_path).exports("pkg").problem


@pytest.mark.parametrize("source", [
    "__all__ = ['a']\ndef add(n):\n    __all__.append(n)\nadd('b')\n",  # a helper changes it
    "__all__ = [n for n in globals() if n.islower()]\n",                 # computed
    "__all__ = ['a', 1]\n",                                              # not names
    "def broken(:\n",                                                    # no parse
])
def test_names_that_cannot_be_known_are_a_problem_not_a_guess(tmp_path, source):
    (tmp_path / "odd.py").write_text(source)
    found = StarImportResolver(tmp_path).exports("odd")
    assert found.problem and found.names == ()


def test_modules_are_read_never_run_nor_their_parents_imported(tmp_path):
    _write(tmp_path, {
        "boom/__init__.py": "open('RAN', 'w').write('x')\nraise SystemExit(1)\n",
        "boom/leaf.py": "open('RAN', 'w').write('x')\nvalue = 1\n",
    })
    assert _names(tmp_path, "boom.leaf") == {"value"}
    assert not (tmp_path / "RAN").exists()
    assert "boom" not in sys.modules and "boom.leaf" not in sys.modules


def test_installed_and_extension_modules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # converting from the notebook's own folder, as users do
    resolver = StarImportResolver(tmp_path)
    assert {"mean", "median", "NormalDist"} <= set(resolver.exports("statistics").names)
    assert "sqrt" in resolver.exports("math").names  # no Python source: imported
    assert "join" in resolver.exports("os.path").names  # installed by `import os`
    # built-in and frozen modules have no file: never taken for one beside the notebook
    assert "version_info" in resolver.exports("sys").names
    assert "getcwd" in resolver.exports("os").names
    assert "cannot be found" in resolver.exports("no_such_module_nb2pipe").problem


def test_each_module_is_resolved_once_per_conversion(tmp_path, monkeypatch):
    (tmp_path / "once.py").write_text("a = 1\n")
    calls = []
    real = star_imports.find_module_spec
    monkeypatch.setattr(star_imports, "find_module_spec",
                        lambda m, d: calls.append(m) or real(m, d))
    resolver = StarImportResolver(tmp_path)
    assert resolver.exports("once") == resolver.exports("once")
    assert calls == ["once"]


def test_star_imports_convert_to_explicit_imports(notebook_factory):
    cells = [(M, "## Load"), (C, "from statistics import *\nfrom helpers_star import *\n"
                                 "xs = [1.0, 2.0, 4.0]"),
             (M, "## Use"), (C, "m = mean(xs) + double(median(xs))")]
    nb = notebook_factory(cells)
    (nb.parent / "helpers_star.py").write_text(
        "__all__ = ['double']\ndef double(v):\n    return 2 * v\ndef other():\n    pass\n")
    sys.path.insert(0, str(nb.parent))  # the notebook's kernel imports from its folder
    try:
        res, out = _convert(notebook_factory, cells)
        assert "NB202" not in codes(res), [d.format() for d in res.diagnostics]
        generated = {p: p.read_text() for p in out.rglob("*.py")}
        assert not [p for p, text in generated.items() if "import *" in text]
        use = next(text for p, text in generated.items() if p.name == "use.py")
        assert "from statistics import mean, median" in use or (
            "from statistics import mean" in use and "from statistics import median" in use)
        assert "from helpers_star import double" in use and "other" not in use
        assert_same(cells, res, out)
    finally:
        sys.path.remove(str(nb.parent))
        sys.modules.pop("helpers_star", None)


def test_a_star_import_of_a_missing_module_is_nb202_naming_it(notebook_factory):
    res, _ = _convert(notebook_factory, [(C, "from no_such_module_nb2pipe import *\nx = 1")])
    d = next(d for d in res.diagnostics if d.code == "NB202")
    assert "no_such_module_nb2pipe" in d.format() and "cannot be found" in d.format()


def test_a_compiled_module_next_to_the_notebook_is_not_imported(tmp_path):
    # any file the extension-module loader accepts: importing it would run user code
    from importlib.machinery import EXTENSION_SUFFIXES
    (tmp_path / f"native{EXTENSION_SUFFIXES[0]}").write_bytes(b"not really a library")
    found = StarImportResolver(tmp_path).exports("native")
    assert "no Python source" in found.problem


def test_a_module_nested_too_deeply_to_parse_is_a_problem(tmp_path):
    (tmp_path / "deep.py").write_text("x = " + "(" * 5000 + "1" + ")" * 5000 + "\n")
    assert StarImportResolver(tmp_path).exports("deep").problem
