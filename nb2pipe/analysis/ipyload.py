"""IPython's input transformer, without importing all of IPython.

`IPython.core.inputtransformer2.TransformerManager` is how nb2pipe reads magics, shell escapes
and help syntax (the way IPython reads them). But `import IPython.core.inputtransformer2` runs
`IPython/__init__.py`, which imports the interactive shell, traitlets and logging: about 40 ms,
the largest import of a conversion, for two modules that need only the standard library
(`inputtransformer2` imports `IPython.utils.tokenutil` and nothing else of IPython's).

So, when IPython is not imported yet, those two source files of the installed IPython are
loaded as private modules (`nb2pipe._ipython_tokenutil`, `nb2pipe._ipython_inputtransformer2`),
the one `from IPython.utils import tokenutil` line pointed at the private copy. The code
object is cached next to nb2pipe's other caches, keyed by the files' paths, sizes and mtimes
and the interpreter, so a conversion does not recompile them. Anything unexpected (another
import line, a missing file, a different IPython layout) falls back to the normal import, and
`tests/test_analysis.py` checks both paths transform the same cells identically. Nothing is
ever put under the name `IPython` in `sys.modules`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys
import types
from pathlib import Path

from nb2pipe.tracking.cachedir import cache_dir

NEEDLE = "from IPython.utils import tokenutil"
PRIVATE = "nb2pipe._ipython_inputtransformer2"
PRIVATE_TOKENUTIL = "nb2pipe._ipython_tokenutil"


def transformer_manager_class() -> type:
    if "IPython" in sys.modules or os.environ.get("NB2PIPE_IPYTHON_IMPORT"):
        return _imported()
    try:
        return _standalone()
    except Exception:  # noqa: BLE001 - any surprise: the normal import
        return _imported()


def _imported() -> type:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager


def _standalone() -> type:
    loaded = sys.modules.get(PRIVATE)
    if loaded is not None:
        return loaded.TransformerManager
    spec = importlib.util.find_spec("IPython")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("IPython is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    tok_path = root / "utils" / "tokenutil.py"
    it2_path = root / "core" / "inputtransformer2.py"
    tok = _module(PRIVATE_TOKENUTIL, tok_path, {})
    it2 = _module(PRIVATE, it2_path, {NEEDLE: f"import {PRIVATE_TOKENUTIL} as tokenutil"})
    manager = it2.TransformerManager
    if not callable(getattr(manager(), "transform_cell", None)):
        raise ImportError("unexpected TransformerManager")
    del tok
    return manager


def _module(name: str, path: Path, replace: dict[str, str]) -> types.ModuleType:
    code = _code(path, replace)
    module = types.ModuleType(name)
    module.__file__ = str(path)
    module.__package__ = "nb2pipe"
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)  # noqa: S102 - IPython's own module source
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _code(path: Path, replace: dict[str, str]) -> types.CodeType:
    st = path.stat()
    key = hashlib.blake2b(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{sys.version}\0"
                          f"{sorted(replace.items())}".encode(), digest_size=12).hexdigest()
    cache = cache_dir() / f"ipython-{key}.marshal"
    try:
        return marshal.loads(cache.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass
    source = path.read_text(encoding="utf-8")
    for old, new in replace.items():
        if source.count(old) != 1:
            raise ImportError(f"{path.name}: expected one {old!r}")
        source = source.replace(old, new)
    if "from IPython" in source or "import IPython" in source:
        raise ImportError(f"{path.name} imports more of IPython than expected")
    code = compile(source, str(path), "exec", dont_inherit=True)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(code))
        os.replace(tmp, cache)
    except OSError:
        pass
    return code
