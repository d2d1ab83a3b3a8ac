"""The public API: convert a notebook into a pipeline project. Returns values, never raises
for bad notebooks, never prints."""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nb2pipe import __version__
from nb2pipe.diagnostics import Diagnostic, has_errors

SPLIT_MODES = ("auto", "tags", "headings", "flow", "single")


@dataclass(frozen=True)
class ConversionResult:
    status: str  # "converted" | "unchanged" | "failed"
    notebook: str
    outdir: str | None = None
    plan: object | None = None  # PipelinePlan
    diagnostics: tuple[Diagnostic, ...] = ()
    written: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    internal_error: str | None = None
    files: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def exit_code(self) -> int:
        if self.internal_error:
            return 3
        return 1 if has_errors(list(self.diagnostics)) or self.status == "failed" else 0

    def to_json(self) -> dict:
        return {
            "status": self.status, "notebook": self.notebook, "outdir": self.outdir,
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "written": list(self.written), "unchanged": list(self.unchanged),
            "kept": list(self.kept), "removed": list(self.removed),
            "internal_error": self.internal_error,
            "plan": self.plan.to_json() if self.plan is not None else None,  # type: ignore
        }


def default_outdir(notebook: Path) -> Path:
    return notebook.parent / f"{_package_name(notebook.stem)}_pipeline"


def _package_name(text: str) -> str:
    from nb2pipe.planning.split import slug

    s = slug(text) or "notebook"
    return s


def plan_notebook(notebook: str | Path, outdir: str | Path | None = None, name: str | None = None,
                  split: str = "auto", ignore: tuple[str, ...] | list[str] = (),
                  joins: tuple[tuple[int, int], ...] = (), image: ImageOptions | None = None,
                  text: str | None = None):
    """Read, analyze and plan. Returns (plan or None, diagnostics, notebook or None).

    `text`: the notebook's JSON as an editor holds it (unsaved edits), read instead of the
    file at `notebook`, which still places it (its folder, its name in the diagnostics).

    Warnings and notes whose code the notebook's metadata (`nb2pipe.ignore`) or `ignore`
    silences are left out of the diagnostics; errors never are. `joins`: pairs of cells
    whose steps become one (a value that cannot be serialized passes between them).
    """
    from nb2pipe.diagnostics import suppress

    plan, diags, nb = _plan(notebook, outdir, name, split, joins, text)
    if plan is not None and not has_errors(diags):
        plan = _with_image(plan, nb, image or ImageOptions(), diags)
    return plan, suppress(diags, _silenced(nb, ignore)), nb


@dataclass(frozen=True)
class ImageOptions:
    """Convert options for the container image; None: the notebook's metadata
    (`{"nb2pipe": {"base_image": ..., "data_in_image": ...}}`), else the default."""
    base_image: str | None = None
    data_in_image: bool | None = None
    lock_hashes: bool = False  # requirements.lock with --hash lines (network at convert time)


def _with_image(plan, nb, image: ImageOptions, diags: list[Diagnostic]):
    """The plan with the image options; an invalid one is an NB406 error."""
    from dataclasses import replace

    from nb2pipe.emit.image import base_image_problem

    meta = nb.metadata.get("nb2pipe") if isinstance(nb.metadata, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    ref = image.base_image if image.base_image is not None else meta.get("base_image", "")
    data = image.data_in_image if image.data_in_image is not None else meta.get(
        "data_in_image", True)
    if not isinstance(ref, str):
        problem: str | None = "base_image in the notebook's metadata is not a string"
    elif not isinstance(data, bool):
        problem = "data_in_image in the notebook's metadata is not true or false"
    else:  # an empty option is a mistake; empty metadata means the default
        problem = base_image_problem(ref) if ref or image.base_image is not None else None
    if problem:
        diags.append(Diagnostic("NB406", problem, path=plan.notebook))
        return plan
    return replace(plan, base_image=ref, data_in_image=data, lock_hashes=image.lock_hashes)


def _silenced(nb, ignore: tuple[str, ...] | list[str]) -> set[str]:
    """Codes silenced for this notebook: its metadata `nb2pipe.ignore`, and `ignore`."""
    from nb2pipe.diagnostics import suppressed_codes

    return {c.upper() for c in ignore} | (
        set(suppressed_codes(nb.metadata)) if nb is not None else set())


def _measured(out: Path) -> dict[str, dict[str, float]]:
    """What earlier local runs of the project measured per step ({} before the first run):
    the deploy emitters size requests and limits from it. Read-only: converting never
    writes to the run store."""
    from nb2pipe.tracking.store import read_measured_resources

    return read_measured_resources(out)


def _plan(notebook: str | Path, outdir: str | Path | None, name: str | None, split: str,
          joins: tuple[tuple[int, int], ...] = (), text: str | None = None):
    from nb2pipe.analysis.cells import analyze
    from nb2pipe.notebook import parse_notebook, read_notebook
    from nb2pipe.planning import split as splitting
    from nb2pipe.planning.flow import build_plan

    nb_path = Path(notebook)
    shown = nb_path.name
    out = Path(outdir) if outdir is not None else default_outdir(nb_path)
    nb, diags = (read_notebook(nb_path, shown) if text is None
                 else parse_notebook(text, shown, file=str(nb_path)))
    if nb is None or has_errors(diags):
        return None, diags, nb
    nb = _rewrite_secrets(nb, diags)
    package = _package_name(name) if name else _package_name(out.resolve().name)
    clash = _package_clash(package)
    if clash:
        source = "--name" if name else f"the output folder name {out.resolve().name!r}"
        diags.append(Diagnostic(
            "NB404", f"package name {package!r} (from {source}) {clash}, so the generated "
                     "pipeline could not be imported; choose another output folder with -o "
                     "or pass --name", path=shown))
        return None, diags, nb
    an = analyze(nb)
    diags.extend(an.diagnostics)
    mode, groups = splitting.split(nb, split, diags, an)
    groups = splitting.join_groups(groups, joins)
    taken = set(an.imports) | {d.name for d in an.definitions} | set(an.parameters) | {package}
    for st in an.stmts:
        taken |= st.binds | st.maybe | set(st.reads)
    names = splitting.assign_names(groups, taken, nb, diags, from_tags=(mode == "tags"))
    splitting.apply_metadata_settings(nb, groups, names, diags)
    workdir = os.path.relpath(nb_path.resolve().parent, out.resolve()).replace(os.sep, "/")
    plan = build_plan(an, groups, names, mode, package, workdir, diags, _measured(out))
    if plan is not None and not plan.steps and not has_errors(diags):
        diags.append(Diagnostic("NB105", "no code is left after stripping display code",
                                path=shown))
    return plan, diags, nb


def _package_clash(package: str) -> str | None:
    """Why `package` cannot be the generated package's name: a keyword, or the name of a
    standard-library or installed module, which `import` would find instead of (or be shadowed
    by) the generated package (`-o json` breaks pandas' own `from json import loads`)."""
    import importlib.machinery
    import keyword
    import sys

    if keyword.iskeyword(package):
        return "is a Python keyword"
    if package == "test":  # the standard library's own test suite: never imported
        return None
    if package in sys.builtin_module_names or package in sys.stdlib_module_names:
        return f"would shadow the standard-library module {package!r}"
    cwd = os.getcwd()
    paths = [p for p in sys.path if p and os.path.abspath(p) != cwd]
    try:
        spec = importlib.machinery.PathFinder.find_spec(package, paths)
    except (ImportError, ValueError, OSError):
        spec = None
    if spec is None or spec.origin in (None, "namespace"):
        return None
    if any(Path(loc, "_runtime.py").is_file() for loc in spec.submodule_search_locations or ()):
        return None  # a package nb2pipe generated (this project, `pip install`ed)
    return f"would shadow the installed module {package!r} ({spec.origin})"


def _rewrite_secrets(nb, diags: list[Diagnostic]):
    """Hard-coded secrets become environment reads before anything else sees the cells."""
    from nb2pipe.analysis.secrets import rewrite_secrets

    nb, found = rewrite_secrets(nb)
    diags.extend(found)
    return nb


def _description(nb) -> str:
    for c in nb.cells:
        if c.cell_type == "markdown" and c.source.strip():
            lines = [ln for ln in c.source.strip().split("\n")]
            body = [ln for ln in lines if not ln.lstrip().startswith("#")]
            text = "\n".join(body).strip()
            if text:
                return text
        if c.cell_type == "code":
            break
    return ""


def render(plan, nb, capture: dict | None = None) -> dict[str, str]:
    """All generated files (relative path -> text), formatted and checked. `capture` is the
    captured baseline (`nb2pipe.validation.capture.Capture.data`) for the emitters that use it."""
    from nb2pipe.analysis.secrets import local_secrets_file
    from nb2pipe.emit import k8s, registry

    files = registry.emit_all(plan, description=_description(nb), capture=capture)
    # values live only here (git-ignored), one line per secret the pods ask the Secret for
    files.update(local_secrets_file(nb, tuple(k8s.all_secrets(plan))))
    # Python files come out black-formatted from the emitters (nb2pipe.emit.pyfmt): black
    # runs only on the notebook's own code, a block at a time, cached per notebook
    return {rel: text if text.endswith("\n") else text + "\n"
            for rel, text in sorted(files.items())}


def _capture(nb_path: Path, out: Path, plan, run: bool, dry_run: bool, shown: str):
    """(Capture or None, failure diagnostic or None): a fresh capture when asked, else the
    project's existing one if it still matches the notebook and its steps."""
    from nb2pipe.validation import capture as capturing

    if dry_run:  # write nothing, execute nothing
        return None, None
    if not run:
        return capturing.load_capture(out, plan), None
    cap, error = capturing.capture(nb_path, plan)
    if cap is None:
        return None, Diagnostic("NB405", error, path=shown)
    return cap, None


MAX_JOIN_ROUNDS = 20  # each round executes the notebook once more


def _plan_and_capture(nb_path: Path, out: Path, name: str | None, split: str,
                      ignore: tuple[str, ...] | list[str], capture: bool, dry_run: bool,
                      shown: str, image: ImageOptions):
    """Plan, and capture when asked: (plan, diagnostics, notebook, capture, capture failure,
    joins).

    The capture knows every value's type: a value that cannot be serialized (a lock, a
    generator, an open file) and that a later step reads would fail the run, so the steps
    from the one that makes it to the one that reads it become one step, and the notebook
    is planned and captured again until no such value crosses a boundary. A plain convert
    reuses the joins of the project's capture while the notebook is unchanged."""
    from nb2pipe.validation import capture as capturing

    plan, diags, nb = plan_notebook(nb_path, out, name, split, ignore, image=image)
    if plan is None or has_errors(diags):
        return plan, diags, nb, None, None, ()
    joined: list[dict[str, Any]] = []
    if not capture:  # a dry run too: it shows what convert would write
        joined = capturing.saved_joins(out, plan.notebook_hash)
        if joined:
            plan, diags, nb = plan_notebook(nb_path, out, name, split, ignore,
                                            _join_cells(joined), image)
            if plan is None or has_errors(diags):
                return plan, diags, nb, None, None, _join_cells(joined)
    cap, cap_diag = _capture(nb_path, out, plan, capture, dry_run, shown)
    rounds = 0
    while capture and cap is not None and rounds < MAX_JOIN_ROUNDS:
        crossing = capturing.values_that_cannot_cross(plan, cap.data)
        if not crossing:
            break
        rounds += 1
        tried = joined + crossing
        plan2, diags2, nb2 = plan_notebook(nb_path, out, name, split, ignore,
                                           _join_cells(tried), image)
        if plan2 is None or has_errors(diags2):
            break  # keep the plan as it was: the run names the value and the fix
        joined, plan, diags, nb = tried, plan2, diags2, nb2
        cap, cap_diag = _capture(nb_path, out, plan, capture, dry_run, shown)
    if cap is not None and joined:
        cap.data["joined"] = joined
    for j in joined:
        diags.append(Diagnostic(
            "NB310", f"steps '{j['producer']}' and '{j['reader']}' are one step: "
                     f"'{j['name']}' ({j['type']}) cannot be serialized, so it cannot cross a "
                     "step boundary", path=shown, cell=j["cells"][1], line=1, col=0))
    return plan, diags, nb, cap, cap_diag, _join_cells(joined)


def _image_lock_options(image: ImageOptions) -> dict[str, Any]:
    """The image options given on the command line, for `sync` and the Jupyter extension to
    convert again the same way (options the notebook's metadata sets stay there)."""
    return {k: v for k, v in (("base_image", image.base_image),
                              ("data_in_image", image.data_in_image),
                              ("lock_hashes", image.lock_hashes or None)) if v is not None}


def _unproven(plan):
    """The plan as planning gives it, before the serving proof marked it."""
    if plan.serving is None:
        return plan
    return replace(plan, serving=plan.serving.unproven())


def _serving_proof(plan, nb_path: Path, out: Path, cap_data: dict | None, fresh: bool):
    """(plan, diagnostics): with a fresh capture, the serving path is proven against the
    notebook (validation/serving_proof.py); otherwise the project's last proof holds while
    the notebook and the derived path are unchanged."""
    if plan.serving is None:
        return plan, []
    if fresh:
        from nb2pipe.validation.serving_proof import prove_plan

        return prove_plan(plan, nb_path.resolve().parent, cap_data)
    from nb2pipe.planning.model import PipelinePlan
    from nb2pipe.untrusted import NotNb2pipe

    try:
        old = PipelinePlan.load(out)
    except (FileNotFoundError, NotNb2pipe, OSError):
        return plan, []
    # the last proof's verdict, either way: a plain convert writes what --capture wrote
    if (old.notebook_hash == plan.notebook_hash and old.serving is not None
            and old.serving.proof and _same_path(old.serving, plan.serving)):
        return replace(plan, serving=replace(plan.serving, verified=old.serving.verified,
                                             proof=old.serving.proof,
                                             required=old.serving.required)), []
    return plan, []


def _same_path(old, new) -> bool:
    """The same derivation (the plan file keeps no code: compare the statements' roles)."""
    def shape(sp):
        return ([(s.key, s.role, s.serve, s.wants, s.learned) for s in sp.statements],
                sp.model, sp.input, sp.frame, sp.prediction, sp.served,
                [s.key for s in sp.post if s.role == "post"])

    return shape(old) == shape(new)


def _join_cells(joined: list[dict[str, Any]]) -> tuple[tuple[int, int], ...]:
    return tuple((int(j["cells"][0]), int(j["cells"][1])) for j in joined)


def _emit_notes(files: dict[str, str], shown: str) -> list[Diagnostic]:
    from nb2pipe.emit.kfp import COMPILED, SOURCE
    from nb2pipe.emit.lock import HASHES_FAILED, LOCK_FILE

    for line in files.get(LOCK_FILE, "").splitlines():
        if line.startswith(HASHES_FAILED):
            return [Diagnostic("NB408", f"{LOCK_FILE} written without hashes: "
                                        f"{line[len(HASHES_FAILED) + 2:]}", path=shown)]
    if SOURCE in files and COMPILED not in files:
        return [Diagnostic("NB409", f"{COMPILED} not written: the kfp SDK is not installed "
                                    "here; run `nb2pipe compile-kfp` where it is", path=shown)]
    return []


class SelfCheckError(Exception):
    pass


def _self_check(files: dict[str, str], package: str, nb) -> None:
    """Every generated Python file compiles, and the modules that hold the notebook's code
    (step modules, common.py) read no name they never bind (emit/namecheck.py), except a
    name the notebook itself never assigns (NB221 warned about it: the notebook fails there
    too) or one the IPython kernel provides (`_`, `Out`, `display`, ...)."""
    from nb2pipe.analysis import rules
    from nb2pipe.analysis.astutil import names_bound_in_cells
    from nb2pipe.emit.namecheck import unbound_names

    in_notebook: list[frozenset[str]] = []  # parsed only when a module reads a stray name
    for rel, text in files.items():
        if rel.endswith(".py"):
            try:
                compile(text, rel, "exec")
            except (SyntaxError, ValueError) as exc:
                raise SelfCheckError(f"generated {rel} does not compile: {exc}") from None
            if rel == f"{package}/common.py" or (rel.startswith(f"{package}/steps/")
                                                 and not rel.endswith("__init__.py")):
                for name, line, col in unbound_names(text, rel):
                    if name in rules.BUILTINS:
                        continue
                    if not in_notebook:
                        in_notebook.append(names_bound_in_cells(nb))
                    if name not in in_notebook[0]:
                        continue
                    raise SelfCheckError(f"generated {rel}:{line}:{col + 1} reads '{name}', "
                                         "which the module never assigns")


def convert(notebook: str | Path, outdir: str | Path | None = None, name: str | None = None,
            split: str = "auto", force: bool = False, dry_run: bool = False,
            self_check: bool = True, ignore: tuple[str, ...] | list[str] = (),
            capture: bool = False, base_image: str | None = None,
            data_in_image: bool | None = None, lock_hashes: bool = False) -> ConversionResult:
    """Convert one notebook. Bad notebooks give a 'failed' result with diagnostics.

    With capture, the notebook is executed once (nbclient) and its step values become test
    fixtures, types, data profiles and metrics in the project; without it, a capture already
    in the project is kept while the notebook and its steps are unchanged.

    `base_image` (a pinned image reference, best with a digest) replaces the Dockerfile's
    default base; `data_in_image=False` keeps the data files out of the image. None: the
    notebook's metadata decides, else the defaults (emit/image.py, data in the image).
    `lock_hashes` asks the package index (through pip) for the hashes requirements.lock
    pins; never by default, since conversion is otherwise fast and offline."""
    nb_path = Path(notebook)
    request = _Request(nb_path, Path(outdir) if outdir is not None else default_outdir(nb_path),
                       name, split, force, dry_run, self_check, tuple(ignore), capture,
                       ImageOptions(base_image, data_in_image, lock_hashes))
    # Tree walks recurse once per nesting level; code Python itself accepts (a 500-term sum)
    # needs more than the default 1,000 frames. Deeper still is refused as NB104, not a crash.
    # Before 3.11 every Python call also takes C stack, so the headroom is smaller there.
    sys.setrecursionlimit(max(sys.getrecursionlimit(),
                              10_000 if sys.version_info >= (3, 11) else 4_000))
    try:
        return _refused_paths(request) or _convert(request)
    except SelfCheckError as exc:
        return request.failed(Diagnostic(
            "NB403", f"{exc} — this is a bug in nb2pipe, please report it",
            path=request.shown), internal_error=str(exc))
    except RecursionError:
        cell, line = _deepest_cell(nb_path)
        return request.failed(Diagnostic("NB104", "code is nested too deeply to analyze",
                                         path=request.shown, cell=cell, line=line))
    except Exception as exc:  # the boundary: no traceback reaches the user
        report = _save_crash_report(traceback.format_exc())
        where = f" (details in {report})" if report else ""
        return request.failed(Diagnostic(
            "NB403", f"internal error {type(exc).__name__}: {exc} — please report it{where}",
            path=request.shown), internal_error=f"{type(exc).__name__}: {exc}{where}")
    finally:
        if "nb2pipe.emit.codefmt" in sys.modules:  # no formatting child outlives a conversion
            sys.modules["nb2pipe.emit.codefmt"].CACHE.close()
        if "nb2pipe.emit.blackchild" in sys.modules:
            sys.modules["nb2pipe.emit.blackchild"].discard_early()


@dataclass(frozen=True)
class _Request:
    """One conversion's options, as `convert` was called."""
    nb_path: Path
    out: Path
    name: str | None
    split: str
    force: bool
    dry_run: bool
    self_check: bool
    ignore: tuple[str, ...]
    capture: bool
    image: ImageOptions

    @property
    def shown(self) -> str:  # how diagnostics name the notebook
        return self.nb_path.name

    def failed(self, *diags: Diagnostic, plan=None, internal_error: str | None = None):
        return ConversionResult("failed", self.shown, str(self.out), plan=plan,
                                diagnostics=tuple(diags), internal_error=internal_error)


def _refused_paths(request: _Request) -> ConversionResult | None:
    """A failed result for options that cannot work whatever the notebook holds."""
    nb_path, out, shown = request.nb_path, request.out, request.shown
    if request.split not in SPLIT_MODES:
        return request.failed(Diagnostic("NB102", f"unknown split mode {request.split!r}",
                                         path=shown))
    if nb_path.exists() and out.resolve() == nb_path.resolve().parent:
        return request.failed(Diagnostic(
            "NB404", "output folder is the notebook's own folder", path=shown))
    if nb_path.exists() and out.resolve() == nb_path.resolve():
        return request.failed(Diagnostic("NB404", "output folder is the notebook itself",
                                         path=shown))
    return None


def _convert(request: _Request) -> ConversionResult:
    """Plan, capture and prove, render, check, then write (or show, for a dry run)."""
    from nb2pipe.diagnostics import suppress
    from nb2pipe.emit import codefmt, package

    nb_path, out, shown = request.nb_path, request.out, request.shown
    codefmt.CACHE.load(nb_path)
    codefmt.CACHE.spawn()  # a child imports black while we read and plan
    plan, diags, nb, cap, cap_diag, joins = _plan_and_capture(
        nb_path, out, request.name, request.split, request.ignore, request.capture,
        request.dry_run, shown, request.image)
    if plan is None or has_errors(diags):
        return request.failed(*diags, plan=plan)
    if cap_diag is not None:
        return request.failed(*diags, cap_diag, plan=plan)
    silenced = _silenced(nb, request.ignore)
    cap_data = cap.data if cap is not None else None
    plan, serving_diags = _serving_proof(plan, nb_path, out, cap_data,
                                         request.capture and not request.dry_run)
    diags.extend(suppress(serving_diags, silenced))
    codefmt.CACHE.start(package.code_blocks(plan))  # black works while we go on
    if request.self_check:
        _check_plan_is_stable(request, plan, joins)
    files = render(plan, nb, cap_data)  # the child is joined (or killed: `finally` in convert)
    diags.extend(suppress(_emit_notes(files, shown), silenced))
    if request.self_check:
        _self_check(files, plan.package, nb)
    if nb_path.resolve().parent == out.resolve() or any(
            (out / rel).resolve() == nb_path.resolve() for rel in files):
        return request.failed(*diags, Diagnostic(
            "NB404", "output would overwrite the notebook", path=shown), plan=plan)
    if request.dry_run:
        return ConversionResult("converted", shown, str(out), plan=plan,
                                diagnostics=tuple(diags), files=files)
    return _write(request, plan, files, cap, diags, silenced)


def _check_plan_is_stable(request: _Request, plan, joins) -> None:
    """Converting twice must give the same plan (rendering a plan is a pure function of it;
    tests/test_determinism.py converts in separate processes, other hash seeds, and compares
    the bytes)."""
    plan2, _, _ = plan_notebook(request.nb_path, request.out, request.name, request.split,
                                request.ignore, joins, request.image)
    if plan2 is None or _unproven(plan2) != _unproven(plan):
        raise SelfCheckError("converting twice gave different plans")


def _write(request: _Request, plan, files: dict[str, str], cap, diags: list[Diagnostic],
           silenced: set[str]) -> ConversionResult:
    """Write the project (never over a hand edit without --force) and its build context."""
    from nb2pipe.diagnostics import suppress
    from nb2pipe.emit import codefmt
    from nb2pipe.emit.buildcontext import sync_build_context
    from nb2pipe.writer import write_tree

    nb_path, out = request.nb_path, request.out
    lock = {
        "nb2pipe": __version__,
        "notebook": os.path.relpath(nb_path.resolve(), out.resolve()).replace(os.sep, "/"),
        "notebook_hash": plan.notebook_hash,
        "options": {"name": plan.package, "split": request.split,
                    **_image_lock_options(request.image)},
        "cells": {str(c): s.name for s in plan.steps for c in s.cells},
    }
    rep = write_tree(out, {**files, **(cap.files if cap is not None else {})}, lock,
                     request.force, request.shown, protect=(nb_path,))
    if not has_errors(rep.diagnostics):
        rep.diagnostics.extend(suppress(sync_build_context(plan, out), silenced))
    codefmt.CACHE.save()
    status = "failed" if has_errors(rep.diagnostics) else (
        "converted" if rep.written or rep.removed else "unchanged")
    return ConversionResult(status, request.shown, str(out), plan=plan,
                            diagnostics=tuple(diags + rep.diagnostics),
                            written=tuple(rep.written), unchanged=tuple(rep.unchanged),
                            kept=tuple(rep.kept), removed=tuple(rep.removed), files=files)


def _deepest_cell(nb_path: Path) -> tuple[int | None, int | None]:
    """(cell, line) of the most deeply nested code, for the location of a "nested too deeply"
    finding: a cell that Python itself cannot parse, else the deepest syntax tree (measured
    without recursion)."""
    import ast

    from nb2pipe.notebook import read_notebook

    try:
        nb, _ = read_notebook(nb_path)
    except RecursionError:
        return None, None
    best: tuple[int, int | None, int | None] = (-1, None, None)
    for cell in (nb.cells if nb is not None else ()):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except RecursionError:
            return cell.index, None
        except (SyntaxError, ValueError):  # IPython syntax: not measured
            continue
        stack = [(tree, 0, 1)]
        while stack:
            node, depth, line = stack.pop()
            line = getattr(node, "lineno", line)
            if depth > best[0]:
                best = (depth, cell.index, line)
            stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))
    return best[1], best[2]


def _save_crash_report(text: str) -> str | None:
    """Keep the traceback for a bug report in a file, never in the user's output."""
    import tempfile

    try:
        fd, path = tempfile.mkstemp(prefix="nb2pipe-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return path
    except OSError:
        return None
