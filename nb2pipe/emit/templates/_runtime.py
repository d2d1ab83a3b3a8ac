"""Runtime support for a generated pipeline: working folder, value files, step entrypoint.

This file is copied into every generated package (as `_runtime.py`), so the generated
pipeline runs without nb2pipe installed.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import importlib
import json
import os
import pickle
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

PACKAGE = "__PACKAGE__"
# The notebook's folder, relative to the generated project's root: relative paths in the
# steps resolve against it, as they did in Jupyter. NB2PIPE_WORKDIR overrides it.
NOTEBOOK_DIR = "__WORKDIR__"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# the value under which the step that fits the served model stores the serving state
SERVING_STATE = "_serving"


def load_local_secrets(path: Path | None = None) -> list[str]:
    """Local runs: put the git-ignored secrets.local.env (written by conversion) into
    os.environ, without overriding variables already set (a cluster sets them from a
    Kubernetes Secret). Lines are NAME=value, the value plain or JSON-quoted."""
    path = path or PROJECT_ROOT / "secrets.local.env"
    loaded: list[str] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return loaded
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        name = name.strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if name not in os.environ:
            os.environ[name] = value
            loaded.append(name)
    return loaded


load_local_secrets()


def workdir() -> Path:
    env = os.environ.get("NB2PIPE_WORKDIR")
    return Path(env).resolve() if env else (PROJECT_ROOT / NOTEBOOK_DIR).resolve()


def add_workdir_to_path(import_paths: list[str] | None = None) -> None:
    """Local helper modules next to the notebook stay importable, as in Jupyter, and so do
    the folders the notebook put on sys.path (relative to its folder)."""
    wd = workdir()
    for folder in [str(wd)] + [str((wd / p).resolve()) for p in import_paths or ()]:
        if folder not in sys.path:
            sys.path.append(folder)


@contextlib.contextmanager
def in_workdir() -> Iterator[Path]:
    os.environ.setdefault("MPLBACKEND", "Agg")
    old = os.getcwd()
    wd = workdir()
    os.chdir(wd)
    try:
        yield wd
    finally:
        os.chdir(old)


# ---- values on disk ------------------------------------------------------------------------
# Each value is a folder <name>/ holding value.<ext> and meta.json (format, type, sha256).
# A table is an Arrow IPC file ("arrow"): written and read back at memory speed, so handing a
# large frame to the next step costs little. Its sha256 (the content address) is that of the
# uncompressed file, which is also what a step writes. The local store compresses it later
# (`nb2pipe runs compact`, zstd where it pays), and a compressed copy reads back the same
# table. Older artifacts ("parquet") keep loading.

_JSON_TYPES = (bool, int, float, str, type(None))


def _json_safe(v: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    t = type(v)
    if t in _JSON_TYPES:
        return not (t is float and (v != v or v in (float("inf"), float("-inf"))))
    if t is list:
        return all(_json_safe(x, depth + 1) for x in v)
    if t is dict:
        return all(type(k) is str and _json_safe(x, depth + 1) for k, x in v.items())
    return False


def _is_dataframe(v: Any) -> bool:
    t = type(v)
    return t.__name__ == "DataFrame" and t.__module__.startswith("pandas")


def _arrow_ok(df: Any) -> bool:
    """A frame Arrow stores and gives back as it was (else it is pickled)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    cols = list(df.columns)
    if getattr(df.columns, "nlevels", 1) != 1 or len(set(cols)) != len(cols):
        return False
    if not all(isinstance(c, str) for c in cols):
        return False
    if (
        df.index.nlevels == 1
        and df.index.name is not None
        and not isinstance(df.index.name, str)
    ):
        return False
    if df.attrs:
        return False
    return all(
        str(t) != "object" or _object_column_ok(df[c]) for c, t in df.dtypes.items()
    )


def _object_column_ok(col: Any) -> bool:
    kinds = {type(x) for x in col.head(1000) if x is not None and x == x}
    return kinds <= {str} or kinds <= {bytes}


def _is_ndarray(v: Any) -> bool:
    t = type(v)
    return t.__name__ == "ndarray" and t.__module__ == "numpy" and v.dtype.kind != "O"


def _is_model(v: Any) -> bool:
    mod = type(v).__module__ or ""
    return mod.split(".")[0] in (
        "sklearn",
        "xgboost",
        "lightgbm",
        "catboost",
        "imblearn",
    ) or (hasattr(v, "fit") and hasattr(v, "get_params"))


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_value(
    value: Any, folder: Path, step: str = "", name: str = ""
) -> dict[str, Any]:
    """Write one value with the format that fits its type; returns its meta data."""
    folder.mkdir(parents=True, exist_ok=True)
    fmt = "pickle"
    if _is_dataframe(value) and _arrow_ok(value):
        fmt = "arrow"
    elif _is_ndarray(value):
        fmt = "npy"
    elif _json_safe(value):
        fmt = "json"
    elif _is_model(value):
        try:
            import joblib  # noqa: F401

            fmt = "joblib"
        except ImportError:
            fmt = "pickle"
    target = folder / f"value.{fmt}"

    def write(tmp: Path) -> None:
        if fmt == "arrow":
            _write_arrow(_arrow_table(value), tmp)
        elif fmt == "npy":
            import numpy as np

            with open(tmp, "wb") as fh:
                np.save(fh, value, allow_pickle=False)
        elif fmt == "json":
            tmp.write_text(json.dumps(value, sort_keys=False))
        elif fmt == "joblib":
            import joblib

            joblib.dump(value, tmp)
        else:
            _pickle(value, tmp, step, name)

    # a table Arrow cannot hold, or a model joblib cannot pickle (a lambda inside it),
    # goes through _pickle, which tries cloudpickle too
    fallback = {
        "arrow": (
            TypeError,
            ValueError,
            ImportError,
            AttributeError,
            NotImplementedError,
        ),
        "joblib": (Exception,),
    }
    try:
        _write_atomic(target, write)
    except fallback.get(fmt, ()):
        fmt = "pickle"
        target = folder / "value.pickle"
        _write_atomic(target, lambda tmp: _pickle(value, tmp, step, name))
    meta = {
        "format": fmt,
        "type": f"{type(value).__module__}.{type(value).__qualname__}",
        "sha256": _file_sha(target),
        "file": target.name,
        "size": target.stat().st_size,
    }
    _write_meta(folder, meta)
    return meta


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    text = json.dumps(meta, indent=1)
    _write_atomic(folder / "meta.json", lambda tmp: tmp.write_text(text))


def _arrow_table(df: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(df)  # the index as pandas.to_parquet keeps it


_BATCH_BYTES = 1 << 24


def _write_arrow(table: Any, path: Path) -> None:
    """An uncompressed Arrow IPC file in batches of about 16 MiB: its bytes depend on the
    table alone (its address)."""
    import pyarrow as pa

    rows = max(1024, table.num_rows * _BATCH_BYTES // max(table.nbytes, 1))
    with pa.OSFile(str(path), "wb") as sink:
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=rows)


def _read_arrow(path: Path, compressed: bool) -> Any:
    """An uncompressed file is memory-mapped, so it becomes the frame in one copy; a
    compressed one is read (decompressing from a map would hold both in memory). Either
    reads either: a file compacted between reading meta.json and opening it still loads.
    """
    import pyarrow as pa

    with (pa.OSFile if compressed else pa.memory_map)(str(path)) as source:
        return pa.ipc.open_file(source).read_all().to_pandas()


class Unserializable(ValueError):
    """A value neither pickle nor cloudpickle can write; `why` says what each said."""

    def __init__(self, message: str, why: str = "") -> None:
        super().__init__(message)
        self.why = why or message


def _pickle(value: Any, tmp: Path, step: str, name: str) -> None:
    """pickle, then cloudpickle (lambdas, local functions, classes defined in the notebook)."""
    try:
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return
    except Exception as exc:  # noqa: BLE001 - a __reduce__ may raise anything
        failures = [f"pickle: {type(exc).__name__}: {exc}"]
    try:
        import cloudpickle
    except ImportError:
        failures.append("cloudpickle: not installed")
    else:
        try:
            with open(tmp, "wb") as fh:
                cloudpickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
            return
        except Exception as exc:  # noqa: BLE001 - report any failure the same way
            failures.append(f"cloudpickle: {type(exc).__name__}: {exc}")
    why = "; ".join(failures)
    raise Unserializable(
        f"step '{step}': output '{name}' ({type(value).__name__}) cannot be "
        f"serialized ({why})",
        why,
    ) from None


def readers_of(step: str, steps: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """The steps that read each value `step` hands on: those that list it as an input and
    have `step` upstream (every data producer is upstream of its readers)."""
    readers: dict[str, list[str]] = {}
    for other, spec in steps.items():
        if other != step and step in spec["upstream"]:
            for n in spec["inputs"]:
                readers.setdefault(n, []).append(other)
    return readers


def _keep_in_one_step(name: str, step: str, readers: list[str]) -> str:
    """The fix for a value that must cross a step boundary but cannot be serialized."""
    steps = ", ".join(f"'{r}'" for r in readers)
    return (
        f"; step(s) {steps} read it, so it must cross a step boundary. Keep the cells that "
        f"make and use '{name}' in one step: tag them with one `step:NAME` (Kale: "
        f"`block:NAME`) or remove the heading / `# nb2pipe: step` marker between '{step}' "
        f"and {steps}; `nb2pipe convert --capture` places the boundaries so for you"
    )


def _not_persisted(value: Any, folder: Path, reason: str) -> dict[str, Any]:
    """The meta data of a value no later step reads and that cannot be serialized: no
    artifact, only the record of why (the run's lineage shows it)."""
    meta = {
        "persisted": False,
        "type": f"{type(value).__module__}.{type(value).__qualname__}",
        "reason": reason,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("value.*"):
        stale.unlink()
    _write_meta(folder, meta)
    return meta


def save_values(
    values: dict[str, Any],
    outputs_dir: Path,
    step: str = "",
    bundles: Any = (),
    readers: dict[str, list[str]] | None = None,
    on_ready: Callable[[dict[str, dict[str, Any]]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Write a step's outputs, one folder each. The members of a bundle (outputs that share
    objects, e.g. `b = a` or a list holding a frame) are pickled together, and every member's
    folder holds that same pickle: loading them together gives one object again.

    `readers` maps a name to the later steps that read it (None: every value is read). A
    value no later step reads (a final value) that cannot be serialized is not persisted:
    its meta data says so and why, and the step still succeeds. One a later step reads
    fails the step with an error that names it, both steps and the fix.

    `on_ready(metas)` is called once every value is written and its content address known:
    a caller can hand the files on (the local runner starts the next step) while this
    process finishes its result and exits."""

    def read_by(names: list[str]) -> list[str]:
        if readers is None:
            return ["a later step"]
        found = [r for n in names for r in readers.get(n, ())]
        if any(n.startswith("_") for n in names):  # the random state: always handed on
            found.append("a later step")
        return list(dict.fromkeys(found))

    def write(names: list[str], save: Callable[[], Any]) -> dict[str, dict[str, Any]]:
        """Each name's meta data: one artifact for all of `names`, or none and why."""
        try:
            meta = save()
        except Unserializable as exc:
            later = read_by(names)
            if later:
                raise Unserializable(
                    str(exc) + _keep_in_one_step("+".join(names), step, later)
                ) from None
            reason = f"no later step reads it, and it cannot be serialized ({exc.why})"
            return {
                n: _not_persisted(values[n], outputs_dir / n, reason) for n in names
            }
        return {n: meta for n in names}

    metas: dict[str, dict[str, Any]] = {}
    for members in bundles:
        present = [m for m in members if m in values]
        if len(present) < 2:
            continue
        group = {m: values[m] for m in present}
        folders = [outputs_dir / m for m in present]
        metas.update(write(present, lambda: _save_bundle(group, folders, step)))
    for name, value in values.items():
        if name not in metas:
            metas.update(
                write([name], lambda: save_value(value, outputs_dir / name, step, name))
            )
    if on_ready is not None:
        on_ready(metas)
    return metas


def _save_bundle(
    group: dict[str, Any], folders: list[Path], step: str
) -> dict[str, Any]:
    first = folders[0]
    first.mkdir(parents=True, exist_ok=True)
    target = first / "value.pickle"
    _write_atomic(target, lambda tmp: _pickle(group, tmp, step, "+".join(group)))
    meta = {
        "format": "pickle",
        "type": "bundle",
        "bundle": list(group),
        "sha256": _file_sha(target),
        "file": target.name,
        "size": target.stat().st_size,
    }
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        if folder != first:
            _write_atomic(
                folder / "value.pickle", lambda tmp: shutil.copyfile(target, tmp)
            )
        _write_meta(folder, meta)
    return meta


class Unbound:
    """Stands for a name a step binds only on some paths and did not bind on this run (the
    notebook went on without it). Loading it raises NameError, as reading it in the kernel
    would have."""

    def __reduce__(self) -> str:
        return "UNBOUND"

    def __repr__(self) -> str:
        return "<unbound>"


UNBOUND = Unbound()


def bound(names: dict[str, Any], name: str) -> Any:
    """The value of `name` among a step's local names, or UNBOUND."""
    return names.get(name, UNBOUND)


def drop_unbound(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not UNBOUND}


def _check_bound(name: str, value: Any) -> Any:
    if isinstance(value, Unbound):
        raise NameError(
            f"name {name!r} is not defined: the step that binds it binds it only on some "
            "paths through its cells, and did not on this run"
        )
    return value


def load_values(folders: dict[str, Path]) -> dict[str, Any]:
    """Load values by name; members of one bundle are unpickled once, so they share their
    objects again."""
    bundles: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for name, folder in folders.items():
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("bundle"):
            if meta["sha256"] not in bundles:
                bundles[meta["sha256"]] = _load_file(folder / meta["file"], meta)
            out[name] = bundles[meta["sha256"]][name]
        else:
            out[name] = _load_file(folder / meta["file"], meta)
        _check_bound(name, out[name])
    return out


def load_value(folder: Path, name: str = "") -> Any:
    """One value; `name` picks the member of a bundle (default: the folder's name)."""
    name = name or folder.name
    return load_values({name: folder})[name]


def _load_file(path: Path, meta: dict[str, Any]) -> Any:
    fmt = meta["format"]
    if fmt == "arrow":
        return _read_arrow(path, bool(meta.get("compression")))
    if fmt == "parquet":
        import pandas as pd

        return pd.read_parquet(path)
    if fmt == "npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    if fmt == "json":
        return json.loads(path.read_text())
    if fmt == "joblib":
        import joblib

        return joblib.load(path)
    with open(path, "rb") as fh:
        return pickle.load(fh)


# ---- the step entrypoint (the container command) ----------------------------------------------


def _parse_param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise SystemExit(f"--param expects NAME=VALUE, got {text!r}")
    name, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return name.strip(), value


# ---- failures reading data -------------------------------------------------------------------
# A step that fails reading one of its data files says which step, which file and what is wrong
# with it, instead of a traceback from deep inside pandas.


class StepDataError(Exception):
    """A step could not read one of its data files."""


def _data_problem(exc: BaseException) -> str | None:
    """What is wrong with a data file, from the error reading it raised; None when the error
    is not about the data."""
    kind = type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        return "the file is missing"
    if kind == "EmptyDataError":
        return "the file is empty (no rows, no header)"
    if kind == "ParserError":
        return f"a malformed row ({str(exc).split('error: ')[-1].strip()})"
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        return f"a required column is missing: {exc.args[0]!r}"
    text = str(exc)
    if isinstance(exc, ValueError) and ("Missing column" in text or "Usecols" in text):
        return f"a required column is missing ({text})"
    return None


def _header(path: str) -> list[str] | None:
    """The column names on a text table's first line (None: not such a file)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
    except OSError:
        return None
    return [c.strip().strip('"') for c in first.split(",")] if first else None


def _failed_file(exc: BaseException, reads: list[str]) -> str | None:
    """Which of the step's data files the error is about; None when none of them is."""
    if isinstance(exc, FileNotFoundError):
        name = str(exc.filename or "")
        hits = [f for f in reads if name == f or name.endswith("/" + f.lstrip("./"))]
        return hits[0] if hits else None
    if isinstance(exc, KeyError):
        # only a column the file's header lacks is the data's fault
        column = exc.args[0]
        return next((f for f in reads if column not in (_header(f) or [column])), None)
    if type(exc).__name__ == "EmptyDataError":
        empty = [f for f in reads if os.path.isfile(f) and os.path.getsize(f) == 0]
        return empty[0] if empty else None
    return reads[0] if len(reads) == 1 else None


@contextlib.contextmanager
def reading_data(step: str, reads: list[str]) -> Iterator[None]:
    """Turn a failure reading one of `reads` (paths relative to the working folder, which
    must be current) into a StepDataError naming the step, the file and the problem."""
    try:
        yield
    except Exception as exc:
        problem = _data_problem(exc)
        where = _failed_file(exc, reads) if problem and reads else None
        if where is None:
            raise
        raise StepDataError(f"step {step}: {where}: {problem}") from exc


def _check_columns(step: str, outputs: dict[str, Any]) -> None:
    """A table the step loaded lacks a column it had when the notebook was captured: a
    KeyError now, in the step that read the file, rather than later in another step."""
    try:
        profiles = importlib.import_module(f"{PACKAGE}._profiles").PROFILES
    except ImportError:  # a project without the validation modules
        return
    for name, profile in profiles.get(step, {}).items():
        columns = getattr(outputs.get(name), "columns", None)
        if columns is None:
            continue
        have = {str(c) for c in columns}
        missing = [c for c in profile.get("columns", {}) if c not in have]
        if missing:
            raise KeyError(missing[0])


def run_step(
    name: str,
    inputs_dir: Path,
    outputs_dir: Path,
    params: dict[str, Any],
    on_ready: Callable[[dict[str, dict[str, Any]]], None] | None = None,
) -> dict:
    """Run one step from serialized inputs to serialized outputs (`on_ready`: see
    save_values)."""
    pipeline = importlib.import_module(f"{PACKAGE}.pipeline")
    spec = pipeline.STEPS[name]
    module = importlib.import_module(f"{PACKAGE}.steps.{name}")
    func = getattr(module, name)
    loaded = load_values({n: inputs_dir / n for n in spec["inputs"]})
    args = [loaded[n] for n in spec["inputs"]]
    kwargs = {p: params.get(p, pipeline.PARAMETERS[p]) for p in spec["params"]}
    if spec["rng_in"]:
        kwargs["_rng"] = load_value(inputs_dir / "_rng")
    reads = spec.get("reads", [])
    with in_workdir(), reading_data(name, reads):
        outputs = func(*args, **kwargs)
        if reads:
            _check_columns(name, outputs)
    extra: dict[str, dict[str, Any]] = {}
    if spec.get("serving_state"):  # the step that fits the served model
        extra = _save_serving_state(outputs, outputs_dir)

    def ready(metas: dict[str, dict[str, Any]]) -> None:
        if on_ready is not None:
            on_ready({**metas, **extra})

    metas = save_values(
        outputs,
        outputs_dir,
        name,
        spec.get("bundles", ()),
        readers_of(name, pipeline.STEPS),
        ready,
    )
    return {**metas, **extra}


def _save_serving_state(
    outputs: dict[str, Any], outputs_dir: Path
) -> dict[str, dict[str, Any]]:
    """The serving path's learned state for the model this step fitted, stored beside it
    (value SERVING_STATE): what a service loads with the model, so it learns nothing itself.
    An extra of the run: when it cannot be learned or stored, the step still succeeds and
    says why (a service then refuses this run)."""
    folder = outputs_dir / SERVING_STATE
    try:
        serving = importlib.import_module(f"{PACKAGE}.serving")
        state = serving.for_run(outputs[serving.MODEL])
        return {SERVING_STATE: save_value(state, folder, SERVING_STATE, SERVING_STATE)}
    except Exception as exc:  # noqa: BLE001 - an extra: reported, never fatal
        shutil.rmtree(folder, ignore_errors=True)
        print(
            f"warning: no serving state stored ({type(exc).__name__}: {exc}); "
            "a service cannot serve this run's model",
            file=sys.stderr,
        )
        return {}


# ---- is a run due? (the first step of the scheduled workflow) -------------------------------
# The image holds the package and the data; the hashes the last successful run recorded come
# back as a file (an artifact at a fixed key). Due when they differ, or when there are none.


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def current_hashes() -> dict[str, str]:
    """sha256 of the package's code and of every data file a step reads ("missing" for a
    file that is not there yet, e.g. one an earlier step writes)."""
    pipeline = importlib.import_module(f"{PACKAGE}.pipeline")
    code = hashlib.sha256()
    for path in sorted(Path(pipeline.__file__).parent.rglob("*.py")):
        code.update(path.name.encode() + b"\0" + path.read_bytes())
    out = {f"code:{PACKAGE}": code.hexdigest()}
    reads = sorted(
        {f for spec in pipeline.STEPS.values() for f in spec.get("reads", [])}
    )
    with in_workdir() as wd:
        for rel in reads:
            out[rel] = _file_sha(wd / rel) if (wd / rel).is_file() else "missing"
    return out


def check_due(last: Path, out: Path) -> bool:
    """Write out/due ("true" or "false") and out/hashes.json; print why."""
    now = current_hashes()
    try:
        before = json.loads(last.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = None
    if before is None:
        why = ["no hashes recorded by a successful run"]
    else:
        why = [
            f"{k} changed"
            for k in sorted(set(now) | set(before))
            if now.get(k) != before.get(k)
        ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "hashes.json").write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    (out / "due").write_text("true" if why else "false")
    print(
        "run due: " + "; ".join(why) if why else "nothing due: code and data unchanged"
    )
    return bool(why)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {PACKAGE}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the whole pipeline in-process")
    p_run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p_step = sub.add_parser("step", help="run one step from serialized inputs")
    p_step.add_argument("name")
    p_step.add_argument(
        "--inputs", type=Path, required=True, help="folder of input values"
    )
    p_step.add_argument(
        "--outputs", type=Path, required=True, help="folder for output values"
    )
    p_step.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    sub.add_parser("steps", help="print the steps as JSON")
    p_check = sub.add_parser(
        "check", help="is a run due? (code or data hashes changed)"
    )
    p_check.add_argument(
        "--last", type=Path, required=True, help="the last hashes.json"
    )
    p_check.add_argument(
        "--out", type=Path, required=True, help="folder for due, hashes"
    )
    args = parser.parse_args(argv)
    pipeline = importlib.import_module(f"{PACKAGE}.pipeline")
    if args.command == "steps":
        print(json.dumps(pipeline.STEPS, indent=2))
        return 0
    if args.command == "check":
        check_due(args.last, args.out)
        return 0
    params = dict(_parse_param(p) for p in args.param)
    unknown = sorted(set(params) - set(pipeline.PARAMETERS))
    if unknown:
        print(
            f"error: unknown parameter(s): {', '.join(unknown)}; known: "
            f"{', '.join(pipeline.PARAMETERS) or '(none)'}",
            file=sys.stderr,
        )
        return 2
    if args.command == "run":
        values = pipeline.run(**params)
        shown = {
            k: type(v).__name__ for k, v in values.items() if not k.startswith("_")
        }
        print(json.dumps(shown, indent=1, sort_keys=True))
        return 0
    if args.name not in pipeline.STEPS:
        print(
            f"error: no step {args.name!r}; steps: {', '.join(pipeline.STEPS)}",
            file=sys.stderr,
        )
        return 2
    try:
        metas = run_step(args.name, args.inputs, args.outputs, params)
    except StepDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(metas, indent=1, sort_keys=True))
    return 0
