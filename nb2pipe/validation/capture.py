"""Capture: execute the original notebook once with a real kernel (nbclient), with a hook at
each step boundary.

Before the first cell of a step the hook records the step's inputs (and parameters and random
state); after its last cell it records every top-level name the step's cells leave defined
(bound, rebound or mutated, from the analysis), which includes the step's outputs. For each
value it records its type, a fingerprint, a small sample and, for tables, a profile
(`nb2pipe.validation.quality.profile`), and dumps the value itself (cloudpickle, for `verify`).
With a fixtures folder it also writes the step inputs/outputs as value files in the generated
package's own format (`_runtime.save_value`), for the generated unit tests.

The hook code runs inside the kernel and needs only the stdlib, cloudpickle and the sources of
`nb2pipe/validation/quality.py` and the generated `_runtime.py`, which it is given as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nb2pipe.planning.model import PipelinePlan

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nb2pipe.emit import template

CAPTURE_FILE = "tests/fixtures/capture.json"
FIXTURES_DIR = "tests/fixtures"
CAPTURE_FORMAT = 1
MAX_FIXTURE_BYTES = 20 * 1024 * 1024  # per value; larger values get no fixture file

KERNEL_SETUP = r'''
def __nb2pipe_make_recorder(out_dir, fixtures_dir, quality_src, runtime_src, rng_src,
                            max_bytes, describe=True):
    import hashlib, json, os, pickle, re, sys
    import cloudpickle
    quality, runtime = ({"__name__": "nb2pipe_quality"},
                        {"__name__": "nb2pipe_runtime", "__file__": os.path.join(out_dir, "x", "_runtime.py")})
    exec(compile(quality_src, "nb2pipe_quality.py", "exec"), quality)
    exec(compile(runtime_src, "nb2pipe_runtime.py", "exec"), runtime)
    rng = {"__name__": "nb2pipe_rng_state"}
    exec(compile(rng_src, "nb2pipe_rng_state.py", "exec"), rng)
    rng_state = rng["get_rng_state"]  # the state the generated steps save and restore
    user_ns = globals()

    def type_name(v):
        t = type(v)
        return f"{t.__module__}.{t.__qualname__}"

    def fingerprint(v, data):
        h = hashlib.sha256()
        try:
            mod = type(v).__module__ or ""
            if mod.startswith("pandas") and type(v).__name__ in ("DataFrame", "Series"):
                import pandas as pd
                h.update(repr(getattr(v, "columns", [getattr(v, "name", None)])).encode())
                h.update(repr(list(map(str, getattr(v, "dtypes", [getattr(v, "dtype", "")])))).encode())
                h.update(pd.util.hash_pandas_object(v, index=True).to_numpy().tobytes())
            elif type(v).__name__ == "ndarray" and v.dtype.kind != "O":
                import numpy as np
                h.update(f"{v.dtype}{v.shape}".encode())
                h.update(np.ascontiguousarray(v).tobytes())
            else:
                h.update(data)
        except Exception:
            h.update(data)
        return "sha256:" + h.hexdigest()

    def sample(v):
        try:
            if hasattr(v, "head") and hasattr(v, "shape"):
                text = v.head(5).to_string()
            elif type(v).__name__ == "ndarray":
                import numpy as np
                text = np.array2string(v[:5] if v.ndim else v, threshold=20, edgeitems=3)
            else:
                text = repr(v)
        except Exception as exc:
            text = f"<repr failed: {type(exc).__name__}>"
        text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)  # deterministic capture files
        return text if len(text) <= 1500 else text[:1497] + "..."

    def scalar(v):
        if type(v) in (bool, int, str) or v is None:
            return v if not isinstance(v, str) or len(v) <= 200 else None
        try:
            import numbers, math
            if isinstance(v, numbers.Real) and not isinstance(v, bool):
                f = float(v)
                return f if math.isfinite(f) else None
        except Exception:
            pass
        return None

    def shape(v):
        s = getattr(v, "shape", None)
        if isinstance(s, tuple) and all(isinstance(x, int) for x in s):
            return list(s)
        try:
            return [len(v)] if isinstance(v, (list, tuple, dict, set)) else None
        except Exception:
            return None

    def write_fixture(v, data, folder):
        if len(data) > max_bytes:
            return None, f"value is {len(data)} bytes, over the fixture limit"
        try:
            plain = pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)
            by_ref = b"__main__" in plain
        except Exception:
            by_ref = True
        try:
            if by_ref:  # classes defined in the notebook: pickled by value
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, "value.pickle"), "wb") as fh:
                    fh.write(data)
                meta = {"format": "pickle", "type": type_name(v),
                        "sha256": hashlib.sha256(data).hexdigest(), "file": "value.pickle",
                        "size": len(data)}
                with open(os.path.join(folder, "meta.json"), "w") as fh:
                    json.dump(meta, fh, indent=1)
            else:
                runtime["save_value"](v, runtime["Path"](folder))
        except Exception as exc:
            return None, f"cannot write a fixture: {type(exc).__name__}: {exc}"
        return folder, ""

    class Recorder:
        def record(self, step, phase, names, rng=False, groups=()):
            items = [(n, user_ns[n]) if n in user_ns else (n, KeyError) for n in names]
            if rng:
                items.append(("_rng", rng_state()))
            folder = os.path.join(out_dir, step, phase)
            os.makedirs(folder, exist_ok=True)
            records = {}
            for name, v in items:
                rec = {"defined": v is not KeyError}
                records[name] = rec
                if v is KeyError:
                    continue
                rec["type"] = type_name(v)
                try:
                    data = cloudpickle.dumps(v)
                except Exception as exc:
                    data = None
                    rec["note"] = f"cannot be serialized: {type(exc).__name__}: {exc}"[:300]
                    rec["unserializable"] = True
                if data is not None:
                    with open(os.path.join(folder, name + ".pkl"), "wb") as fh:
                        fh.write(data)
                    rec["dump"] = name + ".pkl"
                if name == "_rng":
                    rec["type"] = "rng-state"
                elif describe:
                    rec["fingerprint"] = fingerprint(v, data or b"")
                    rec["sample"] = sample(v)
                    rec["shape"] = shape(v)
                    s = scalar(v)
                    if s is not None:
                        rec["value"] = s
                    try:
                        p = quality["profile"](v)
                    except Exception as exc:
                        p = None
                        rec["note"] = f"profile failed: {type(exc).__name__}: {exc}"[:300]
                    if p is not None:
                        rec["profile"] = p
                if fixtures_dir and data is not None:
                    where, why = write_fixture(v, data, os.path.join(fixtures_dir, step, phase,
                                                                     name))
                    if where:
                        rec["fixture"] = f"{step}/{phase}/{name}"
                    else:
                        rec["fixture_note"] = why
            if fixtures_dir:
                for group in groups:  # names sharing objects: one fixture, as the pipeline
                    self.bundle_fixture(group, os.path.join(fixtures_dir, step, phase))
            with open(os.path.join(folder, "index.json"), "w") as fh:
                json.dump(records, fh, indent=1, sort_keys=True)

        def bundle_fixture(self, group, folder):
            if not all(n in user_ns for n in group):
                return
            try:
                data = cloudpickle.dumps({n: user_ns[n] for n in group})
            except Exception:
                return  # each member keeps its own fixture
            if len(data) > max_bytes:
                return
            meta = {"format": "pickle", "type": "bundle", "bundle": list(group),
                    "sha256": hashlib.sha256(data).hexdigest(), "file": "value.pickle",
                    "size": len(data)}
            for n in group:
                target = os.path.join(folder, n)
                os.makedirs(target, exist_ok=True)
                for old in os.listdir(target):
                    os.unlink(os.path.join(target, old))
                with open(os.path.join(target, "value.pickle"), "wb") as fh:
                    fh.write(data)
                with open(os.path.join(target, "meta.json"), "w") as fh:
                    json.dump(meta, fh, indent=1)

    return Recorder()
'''


@dataclass
class CaptureRun:
    """What one hooked execution of the notebook produced."""

    ok: bool
    dump_dir: Path
    error: str = ""
    error_cell: int | None = None
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # step/phase


def _read_source(rel: str) -> str:
    """A module of nb2pipe as text, by its path inside the package."""
    return (Path(__file__).parent.parent / rel).read_text(encoding="utf-8")


def step_names(nb: Any, steps: list[dict[str, Any]], hidden: frozenset[str] = frozenset()
               ) -> dict[str, tuple[list[str], list[str]]]:
    """Per step: (names recorded before it, names recorded after it).

    Before: its inputs and parameters. After: every top-level name its kept statements bind,
    rebind or mutate (imports, definitions and the parameters cell aside), plus its outputs.
    Never a name in `hidden` (values built from a secret: no sample, type or fixture of them
    may reach the project).
    """
    from nb2pipe.analysis.cells import analyze

    an = analyze(nb)
    by_cell: dict[int, set[str]] = {}
    for st in an.stmts:
        if st.stripped or st.kind in ("import", "def", "class", "param"):
            continue
        by_cell.setdefault(st.cell, set()).update(st.writes)
    out = {}
    for s in steps:
        writes: set[str] = set(s["outputs"])
        for c in s["cells"]:
            writes |= by_cell.get(c, set())
        pre = list(dict.fromkeys(list(s["inputs"]) + list(s["params"])))
        out[s["name"]] = ([n for n in pre if n not in hidden],
                          sorted(n for n in writes if n.isidentifier() and n not in hidden))
    return out


def _fixture_groups(s: dict[str, Any], by_name: dict[str, dict[str, Any]],
                    phase: str) -> list[list[str]]:
    """Names of a step's inputs (or outputs) that travel as one artifact in the pipeline
    (a producer's bundle): their fixtures are one bundle too, so a step test gets one object
    for them, as the pipeline does."""
    if phase == "outputs":
        return [list(b) for b in s.get("bundles", ())]
    sources = dict(s.get("input_sources", ()))
    groups: list[list[str]] = []
    for name, producer in sources.items():
        for bundle in by_name.get(producer, {}).get("bundles", ()):
            members = [m for m in bundle if sources.get(m) == producer]
            if name in bundle and len(members) >= 2 and members not in groups:
                groups.append(members)
    return groups


def hooked_notebook(nb_path: Path, steps: list[dict[str, Any]], names: dict, dump_dir: Path,
                    fixtures_dir: Path | None, describe: bool = True) -> tuple[Any, dict[int, int]]:
    """The notebook with the recorder set up first and a hook around each step.

    Returns the notebook and a map from executed cell position to the original cell number
    (1-based, as in the plan).
    """
    import nbformat

    nb = nbformat.read(str(nb_path), as_version=4)
    setup = (KERNEL_SETUP + "\n__nb2pipe_recorder = __nb2pipe_make_recorder("
             f"{str(dump_dir)!r}, {str(fixtures_dir) if fixtures_dir else None!r}, "
             f"{_read_source('validation/quality.py')!r}, "
             f"{template.source('_runtime.py')!r}, {template.source('rng_state.py')!r}, "
             f"{MAX_FIXTURE_BYTES!r}, describe={describe!r})\ndel __nb2pipe_make_recorder\n")
    first = {min(s["cells"]): s for s in steps if s["cells"]}
    last = {max(s["cells"]): s for s in steps if s["cells"]}
    cells = [nbformat.v4.new_code_cell(setup)]
    origin: dict[int, int] = {}

    by_name = {s["name"]: s for s in steps}

    def hook(s: dict[str, Any], phase: str) -> Any:
        pre, post = names[s["name"]]
        which = pre if phase == "inputs" else post
        rng = bool(s.get("rng_in")) if phase == "inputs" else False
        groups = _fixture_groups(s, by_name, phase)
        return nbformat.v4.new_code_cell(
            f"__nb2pipe_recorder.record({s['name']!r}, {phase!r}, {which!r}, rng={rng!r}"
            + (f", groups={groups!r})" if groups else ")"))

    for i, cell in enumerate(nb.cells, start=1):  # plan cell numbers are 1-based
        if i in first:
            cells.append(hook(first[i], "inputs"))
        origin[len(cells)] = i
        cells.append(cell)
        if i in last:
            cells.append(hook(last[i], "outputs"))
    for c in cells:
        c.pop("id", None)
    nb.cells = cells
    nb.nbformat_minor = max(nb.get("nbformat_minor", 4), 4)
    return nb, origin


def run_hooked(nb_path: Path, steps: list[dict[str, Any]], dump_dir: Path,
               fixtures_dir: Path | None = None, timeout: int = 600,
               kernel_name: str = "python3", describe: bool = True,
               hidden: frozenset[str] = frozenset()) -> CaptureRun:
    """Execute the notebook in its folder with boundary hooks; never raises for cell errors."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from nb2pipe.notebook import read_notebook

    nb_obj, _ = read_notebook(nb_path, nb_path.name)
    names = step_names(nb_obj, steps, hidden)
    dump_dir.mkdir(parents=True, exist_ok=True)
    nb, origin = hooked_notebook(nb_path, steps, names, dump_dir, fixtures_dir, describe)
    env_keys = ("MPLBACKEND", "PATH")
    saved = {k: os.environ.get(k) for k in env_keys}
    os.environ["MPLBACKEND"] = "Agg"
    # `!pip` in a notebook must reach the pip of the kernel's environment
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + (saved["PATH"] or "")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(nb_path.resolve().parent)}})
    run = CaptureRun(True, dump_dir)
    try:
        client.execute()
    except CellExecutionError as exc:
        run.ok = False
        pos = next((i for i, c in enumerate(nb.cells)
                    if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        run.error_cell = origin.get(pos) if pos is not None else None
        import re

        text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
        run.error = "\n".join(text[-6:])
    except Exception as exc:  # noqa: BLE001 - kernel death, timeout: a result, not a crash
        run.ok = False
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for s in steps:
        for phase in ("inputs", "outputs"):
            idx = dump_dir / s["name"] / phase / "index.json"
            if idx.exists():
                run.records.setdefault(s["name"], {})[phase] = json.loads(idx.read_text())
    return run


# ---- capture for the generated project ------------------------------------------------------

def secret_derived_names(plan: PipelinePlan) -> frozenset[str]:
    """Names of the values built from a secret."""
    return frozenset(name for name, _ in plan.secret_derived)


def plan_steps(plan: PipelinePlan) -> list[dict[str, Any]]:
    """The step fields capture and verify hand to the notebook hook (as JSON)."""
    raw = plan.to_json(include_code=False)
    return [{k: s.get(k) for k in ("name", "cells", "inputs", "input_sources", "params",
                                   "outputs", "rng_in", "rng_out", "bundles")} for s in raw["steps"]]


@dataclass
class Capture:
    """Captured baseline for a generated project: JSON data plus fixture files (bytes)."""

    data: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)  # project-relative path -> bytes

    def value(self, step: str, phase: str, name: str) -> dict[str, Any] | None:
        return self.data.get("steps", {}).get(step, {}).get(phase, {}).get(name)


def capture(nb_path: Path, plan: Any, timeout: int = 600) -> tuple[Capture | None, str]:
    """Execute the notebook once; returns the capture (or None) and an error message."""
    tmp = Path(tempfile.mkdtemp(prefix="nb2pipe-capture-"))
    try:
        steps = plan_steps(plan)
        run = run_hooked(nb_path, steps, tmp / "dump", tmp / "fixtures", timeout=timeout,
                         hidden=secret_derived_names(plan))
        if not run.ok:
            where = f"cell {run.error_cell}: " if run.error_cell is not None else ""
            return None, f"the notebook failed while capturing ({where}{run.error})"
        data: dict[str, Any] = {"format": CAPTURE_FORMAT, "notebook": plan.notebook,
                                "notebook_hash": plan.notebook_hash, "package": plan.package,
                                "steps": {}}
        files: dict[str, bytes] = {}
        for s in steps:
            entry: dict[str, Any] = {}
            for phase in ("inputs", "outputs"):
                recs = run.records.get(s["name"], {}).get(phase, {})
                clean = {}
                for name, rec in sorted(recs.items()):
                    rec = {k: v for k, v in rec.items() if k != "dump"}
                    if rec.get("fixture"):
                        folder = tmp / "fixtures" / rec["fixture"]
                        for f in sorted(folder.iterdir()):
                            files[f"{FIXTURES_DIR}/{rec['fixture']}/{f.name}"] = f.read_bytes()
                    clean[name] = rec
                entry[phase] = clean
            data["steps"][s["name"]] = entry
        return Capture(data, files), ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def values_that_cannot_cross(plan: Any, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The step inputs the capture could not serialize (not even with cloudpickle): each
    must stay in the step that makes it. Per value: its name, type, producing step and
    reading step, and a cell of each (the plan's cell numbers)."""
    steps = {s["name"]: s for s in plan_steps(plan)}
    found = []
    for name, s in steps.items():
        sources = dict(s.get("input_sources") or ())
        for value, rec in sorted(data.get("steps", {}).get(name, {}).get("inputs", {}).items()):
            producer = steps.get(sources.get(value, ""))
            if not rec.get("unserializable") or producer is None:
                continue
            if not producer["cells"] or not s["cells"]:
                continue
            found.append({"name": value, "type": rec.get("type", "?"),
                          "producer": producer["name"], "reader": name,
                          "cells": [min(producer["cells"]), min(s["cells"])]})
    return found


def saved_joins(outdir: Path, notebook_hash: str) -> list[dict[str, Any]]:
    """The steps an earlier `--capture` joined (values that cannot cross a boundary), while
    the notebook is unchanged: a plain convert places its boundaries the same way."""
    try:
        data = json.loads((outdir / CAPTURE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("notebook_hash") != notebook_hash:
        return []
    joined = data.get("joined")
    return [j for j in joined if isinstance(j, dict) and isinstance(j.get("cells"), list)
            and len(j["cells"]) == 2] if isinstance(joined, list) else []


def load_capture(outdir: Path, plan: Any) -> Capture | None:
    """A capture already in the project, reused while the notebook and steps are unchanged."""
    path = outdir / CAPTURE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("notebook_hash") != plan.notebook_hash or \
            data.get("format") != CAPTURE_FORMAT:
        return None
    if sorted(data.get("steps", {})) != sorted(s.name for s in plan.steps):
        return None
    files: dict[str, bytes] = {}
    for step, entry in data["steps"].items():
        for phase in ("inputs", "outputs"):
            for rec in entry.get(phase, {}).values():
                if rec.get("fixture"):
                    folder = outdir / FIXTURES_DIR / rec["fixture"]
                    if not folder.is_dir():
                        return None
                    for f in sorted(folder.iterdir()):
                        files[f"{FIXTURES_DIR}/{rec['fixture']}/{f.name}"] = f.read_bytes()
    return Capture(data, files)


# ---- type annotations for step signatures ---------------------------------------------------

_PUBLIC = {"pandas.core.frame.DataFrame": "pandas.DataFrame",
           "pandas.core.series.Series": "pandas.Series",
           "numpy.ndarray": "numpy.ndarray", "builtins.NoneType": "None"}


def annotation(type_name: str) -> str:
    """A readable annotation for a captured type: builtins bare, private modules trimmed
    (`sklearn.ensemble._forest.RandomForestClassifier` -> `sklearn.ensemble.RandomForestClassifier`)."""
    if type_name in _PUBLIC:
        return _PUBLIC[type_name]
    mod, _, name = type_name.rpartition(".")
    if mod == "builtins":
        return name
    if mod == "__main__":
        return name
    parts = [p for p in mod.split(".") if not p.startswith("_")]
    if mod.startswith("pandas"):
        parts = ["pandas"]
    if mod.startswith("numpy"):
        parts = ["numpy"]
    return ".".join(parts + [name])


def step_annotations(cap: Capture | dict | None, step: str) -> dict[str, dict[str, str]]:
    """{"inputs": {name: annotation}, "outputs": {name: annotation}} for one step."""
    data = cap.data if isinstance(cap, Capture) else (cap or {})
    entry = data.get("steps", {}).get(step, {})
    return {phase: {n: annotation(r["type"]) for n, r in sorted(entry.get(phase, {}).items())
                    if r.get("type") and n != "_rng"} for phase in ("inputs", "outputs")}
