"""Findings are data: a code, a severity, a location and a message.

The analyzer collects them; the CLI, the hook and the JupyterLab panel render them.
Codes are stable: NB1xx reading, NB2xx analysis, NB3xx planning, NB4xx emitting.
"""

from __future__ import annotations

from enum import IntEnum

from dataclasses import asdict, dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"
INFO = "info"


class ExitCode(IntEnum):
    """Every exit code nb2pipe's commands use (the CLI, its plugins, the step worker)."""

    OK = 0  # done (warnings allowed), nothing stale, no drift
    FINDINGS = 1  # error findings, stale or changed files, drift, a failed run or check
    USAGE = 2  # bad arguments or input the command cannot start from
    INTERNAL = 3  # a bug in nb2pipe (reported with a traceback file)
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT (128 + 2)


@dataclass(frozen=True)
class Code:
    code: str
    severity: str
    title: str
    explanation: str
    fix: str


_CODES = [
    # ---- reading -------------------------------------------------------------------------
    Code("NB101", ERROR, "not a readable notebook",
         "The file is not valid JSON or is not a Jupyter notebook (no 'cells' list).",
         "Open it in Jupyter and save it again, or restore it from version control."),
    Code("NB102", ERROR, "unsupported or invalid notebook format",
         "The notebook's nbformat version is unknown, or the document does not follow the "
         "nbformat schema after upgrading to version 4.",
         "Save the notebook with a current Jupyter (nbformat 4)."),
    Code("NB103", ERROR, "not a Python notebook",
         "The notebook's kernel or language is not Python; nb2pipe converts Python code only.",
         "Convert a notebook that runs on a Python kernel (kernelspec language 'python')."),
    Code("NB104", ERROR, "syntax error in a cell",
         "A code cell is neither valid Python nor valid IPython syntax, so it cannot be analyzed; "
         "or it nests deeper than Python can compile once generated: Python allows 99 levels of "
         "indentation, and every cell goes one level deeper in the generated code (inside a "
         "function), so a cell may nest 98 blocks deep.",
         "Fix the cell so that it runs in Jupyter, or tag it `skip`. For code nested too deeply, "
         "move the innermost blocks into a function in a helper module next to the notebook and "
         "import it."),
    Code("NB105", ERROR, "nothing to convert",
         "The notebook has no code cells with code in them (it is empty or only markdown).",
         "Add code cells, or convert another notebook."),
    Code("NB106", WARNING, "cell magic not converted",
         "Cell magics such as %%bash, %%writefile, %%sh or %%html run outside Python; their "
         "effects (files written, shell state) are not part of the pipeline. Magics that run "
         "their Python body once in the notebook's namespace (%%time, %%capture, %%prun, "
         "%%memit, %%mprun, %%lprun, %%debug) are unwrapped and their body kept; %%timeit "
         "and display magics (%%html, %%latex, ...) are removed.",
         "Move the work into Python code (e.g. subprocess.run, open(...).write) or tag the cell "
         "`skip` to silence this."),
    Code("NB107", WARNING, "unknown tag",
         "A cell tag looks like an nb2pipe/Kale tag (it has a `name:value` form) but is not one "
         "that nb2pipe knows, so it has no effect.",
         "Use one of: step:NAME, block:NAME, prev:NAME, skip, imports, functions, parameters, "
         "pipeline-parameters, pipeline-metrics, limit:, image:, label:, annotation:, retry:, "
         "cache:, secret:, timeout:, nodeselector:."),
    Code("NB108", ERROR, "notebook is not UTF-8 text",
         "Notebook files are UTF-8 JSON; this file contains bytes that are not UTF-8.",
         "Re-save the file as UTF-8."),
    Code("NB109", WARNING, "shell command stripped",
         "A `!command` line runs in a shell. It is removed from the step; `!pip install` lines "
         "become requirements. If a shell command's result is assigned (`x = !ls`) that value "
         "cannot be reproduced and conversion stops (severity error).",
         "Replace the shell command with Python (pathlib, subprocess.run) if the pipeline needs "
         "its effect."),
    Code("NB110", WARNING, "line magic with effects",
         "A line magic such as %cd, %run, %store, %env or %load changes state that nb2pipe "
         "cannot carry into a pipeline step. It is removed.",
         "Replace it with Python (os.chdir, import, os.environ[...] = ...)."),
    Code("NB111", WARNING, "large cell",
         "A very large cell makes one big step and a slow diff.",
         "Split the cell, or add step tags / markdown headings."),
    # ---- analysis ------------------------------------------------------------------------
    Code("NB201", ERROR, "name read before it is assigned",
         "The code reads a name that no earlier cell (in notebook order, skipped cells excluded) "
         "assigns, imports or defines. The notebook only works if run out of order, or it "
         "relies on a cell that was skipped.",
         "Define the name in an earlier cell, reorder the cells, or un-skip the cell that "
         "defines it."),
    Code("NB202", ERROR, "star import",
         "`from module import *` is converted to explicit imports of the names it binds, read "
         "from the module's source (its `__all__`, or its public top-level names) without "
         "running it. This is reported only where those names cannot be known: the module "
         "cannot be found, it is a relative import, the star import is inside a try block, "
         "or the module computes its `__all__` in a way that needs running it.",
         "Install the module (or put it next to the notebook), or import the names you use "
         "explicitly."),
    Code("NB203", ERROR, "dynamic code execution",
         "exec(), eval() or compile() run code nb2pipe cannot see, so the names they read and "
         "write are unknown.",
         "Write the code out, or use a dictionary instead of dynamic names."),
    Code("NB204", ERROR, "namespace manipulation",
         "globals(), locals() or vars() used to read or write variables by name hides data flow.",
         "Use a dictionary you own instead of the module namespace."),
    Code("NB205", INFO, "function reads a notebook global",
         "A function defined in the notebook reads a variable that notebook code assigns. The "
         "function moves to the shared module and gets the variable as a keyword-only "
         "parameter; every call passes the current value, as the notebook would have read it.",
         "Nothing to do; pass the value as an argument yourself to make this explicit."),
    Code("NB206", ERROR, "function assigns a notebook global",
         "A function uses `global x` and assigns it. Moving the function to a module would "
         "change which namespace it writes to.",
         "Return the value from the function and assign it at the call site."),
    Code("NB207", ERROR, "redefined function used before its last definition",
         "A function or class is defined more than once, and another function that refers to it "
         "is used before the last definition. In the notebook the call would see whichever "
         "version existed at call time; a module can hold only one.",
         "Give the versions different names."),
    Code("NB208", ERROR, "class reads a notebook global when it is defined",
         "Methods of a notebook class may read notebook variables: the class moves to the shared "
         "module, and every step keeps those variables there in step with its own (set at its "
         "start, and again after each statement that rebinds one), so a method sees the value "
         "the variable has when the method is called, as in the notebook. What that cannot "
         "cover is code that runs when the class statement itself runs - a class attribute "
         "(`rate = RATE`), a method's default value (`def f(self, r=RATE)`) or decorator, or a "
         "call at class level to a notebook function that reads a variable: the shared module "
         "runs it at import, before any step has set the variable.",
         "Read the variable inside a method (or pass it to the constructor) instead of at class "
         "level."),
    Code("NB209", ERROR, "aliased objects cross a step boundary",
         "Two names refer to the same object (e.g. `b = a`, or a list holding `a`), and a step "
         "mutates it through one name while both reach that step from earlier steps. Such "
         "names normally travel together: the latest step that produced one of them hands the "
         "others on and saves the group as one artifact, so they arrive as one object. This "
         "error remains only where that cannot work: one of the names is a pipeline parameter "
         "(parameters arrive as literals, never as an object another name holds).",
         "Copy the parameter when making the second name (`b = list(a)`), or keep these "
         "cells in one step."),
    Code("NB210", ERROR, "top-level await or yield",
         "Top-level `await`, `yield` or `return` has no meaning in a pipeline step.",
         "Wrap the asynchronous code in a function and run it with asyncio.run()."),
    Code("NB211", WARNING, "name is both imported and assigned",
         "A name is bound by an import in one place and by assignment in another; readers get "
         "whichever binding came last in notebook order.",
         "Use different names for modules and data."),
    Code("NB212", ERROR, "default argument reads a notebook global",
         "A function's default value or decorator reads a variable assigned by notebook code; "
         "it would be evaluated when the shared module is imported, where the variable does "
         "not exist.",
         "Use `None` as the default and read the value inside the call."),
    Code("NB213", ERROR, "magic output assigned",
         "A value produced by a magic (`x = %sql ...`) cannot be reproduced in a step, so "
         "conversion stops.",
         "Compute the value in Python."),
    Code("NB220", WARNING, "hard-coded secret",
         "A string literal that looks like a credential (assigned to a name such as *token*, "
         "*password*, *secret*, *api_key*, passed as such a keyword, shaped like an AWS / "
         "GitHub / Slack key, or in a cell tagged secret:NAME) was replaced by an environment "
         "read, os.environ[\"NAME\"]. No generated file holds the value except the "
         "git-ignored secrets.local.env, which the generated runtime loads for local runs; on "
         "a cluster the variable comes from a Kubernetes Secret.",
         "Read the secret from the environment in the notebook yourself, and create the "
         "Kubernetes Secret: kubectl create secret generic <package>-secrets "
         "--from-env-file=secrets.local.env"),
    Code("NB221", WARNING, "name never assigned in the notebook",
         "A statement reads a name that no cell assigns, imports or defines, so in the "
         "notebook it would raise NameError when it runs; it evidently does not run there "
         "(an `except` fallback, a branch not taken). The step keeps the statement as it is: "
         "it fails the same way, at the same moment, if it ever runs.",
         "Define the name, or remove the dead code."),
    Code("NB222", ERROR, "value built from a secret cannot be recomputed",
         "A value built from a secret (a hard-coded credential lifted to the environment, or "
         "a credential-like environment variable) is never stored: not as a step input or "
         "output, not in the run store, the lineage, test fixtures or a cluster's artifact "
         "repository. A later step that reads it runs the statements that build it again, "
         "from the environment. That is refused when running them again is not cheap and "
         "repeatable: a call outside string building, encodings, hashes and environment "
         "reads (a network request, a client that connects), a file read or write, random "
         "numbers, or a value it reads that has changed since.",
         "Keep the cells that build the value and the cells that read it in one step (give "
         "them the same `step:NAME` tag), or build the value in the step that uses it."),
    # ---- planning ------------------------------------------------------------------------
    Code("NB301", ERROR, "step tagged on cells that are not together",
         "The same step name is given to cells separated by cells of other steps. Running them "
         "as one step would change the order in which the notebook's code runs.",
         "Give the separated cells different step names, or move them together."),
    Code("NB302", ERROR, "prev: names a step that does not exist",
         "A `prev:NAME` tag refers to no step of the notebook.",
         "Fix the name, or remove the tag."),
    Code("NB303", ERROR, "step dependencies form a cycle",
         "The `prev:` tags together with the data flow make a cycle, so no order can run the "
         "steps.",
         "Remove the `prev:` tag that points forward in the notebook."),
    Code("NB304", INFO, "one step",
         "The notebook has no step tags and no markdown headings that split it, and its data "
         "flow has no narrow point worth a boundary (or it is too small to split), so the "
         "whole notebook becomes one step.",
         "Add markdown headings (## Load, ## Clean, ...) or `step:NAME` tags to get more steps."),
    Code("NB305", INFO, "step without code dropped",
         "After removing display and plotting code, a section had no code left, so it is not a "
         "step. Its stripped code is listed in the generated README.",
         "Nothing to do."),
    Code("NB306", ERROR, "parameters cell with non-literal values",
         "A `parameters` / `pipeline-parameters` cell may only assign literal values "
         "(numbers, strings, booleans, None, lists/dicts/tuples of those), as papermill and "
         "Kubernetes parameters need.",
         "Compute derived values in a later cell."),
    Code("NB307", WARNING, "step name changed",
         "A step name from a tag or heading was not a valid Python identifier and Kubernetes "
         "name, or collided with another name, so it was changed.",
         "Use a lowercase name of letters, digits and underscores in the tag."),
    Code("NB308", ERROR, "metric is never computed",
         "A `pipeline-metrics` cell names a variable that no step computes.",
         "Fix the name or compute the metric in a step."),
    Code("NB309", INFO, "display and plotting code stripped",
         "Display and plotting statements were removed from a step; they are listed in the "
         "generated README.",
         "Nothing to do. Save a figure with savefig(...) to keep a plot as an output."),
    Code("NB310", INFO, "steps joined: a value cannot be serialized",
         "With --capture, nb2pipe knows the type of every value that crosses a step "
         "boundary. A value that neither pickle nor cloudpickle can write (a lock, a "
         "generator, an open file, an object whose __reduce__ refuses) cannot travel from "
         "the step that makes it to a later step that reads it, so those steps, and any "
         "between them, became one step. Later plain conversions keep the join while the "
         "notebook is unchanged.",
         "Nothing to do. To keep the steps apart, make the value in the step that reads it, "
         "or hand on something that serializes (the data instead of an open file)."),
    Code("NB311", INFO, "no serving path",
         "The notebook predicts with a model, but nb2pipe could not derive how new rows "
         "become the model's input: the prediction's input does not come from one data "
         "file, or a statement the rows must go through fits on them (a scaler or encoder "
         "fitted on the test data, or on all the data after the split), which a service "
         "cannot do for the rows it is asked about. No serving.py is written.",
         "Fit transformers on the training data only and apply them to the test data. Tag "
         "a cell `serve:skip` when only training needs it, `serve:include` when new rows "
         "must go through it, and the cell of the prediction to serve `serve:model`."),
    Code("NB312", WARNING, "serving path disagrees with the notebook",
         "With --capture (and at `nb2pipe verify`), nb2pipe replays the training slice and "
         "runs the derived serving path, with the notebook's post-processing of the "
         "prediction, on the raw rows behind the notebook's evaluation set, as one batch and "
         "row by row. Its answers differed from the notebook's (or it failed), so no "
         "serving.py is written (verify fails when the project ships one): a service that "
         "silently disagrees with the notebook would be worse than none. Usual causes: a "
         "statistic of the evaluation set itself (ranks, a groupby transform), row order "
         "that matters, encodings that depend on the batch.",
         "Compute such statistics on the training data and apply them to the test data; tag "
         "cells `serve:skip` / `serve:include` to steer which statements new rows go "
         "through."),
    Code("NB313", INFO, "serving path verified",
         "The derived serving path gave the notebook's own predictions (after the "
         "notebook's post-processing of them) for the raw rows behind its evaluation set "
         "(as one batch and row by row), so <package>/serving.py was written and `nb2pipe "
         "serve` can serve it. `nb2pipe status` and the JupyterLab panel show it.",
         "Nothing to do."),
    Code("NB314", INFO, "a heading splits a tagged step",
         "The notebook has both `step:NAME` tags and markdown headings that split it into "
         "sections. Both start steps: a tagged cell starts its step, and each section starts "
         "one too, named after its heading. Here a heading follows a tagged step's cells, so "
         "the untagged cells under it became a step of their own instead of continuing the "
         "tagged one (as they would with tags alone). One note per notebook, at the first "
         "such heading.",
         "Tag the first code cell under the heading with the same step:NAME to keep it in "
         "that step, or convert with --split tags to split by the tags alone."),
    # ---- emitting ------------------------------------------------------------------------
    Code("NB401", WARNING, "hand-edited file kept",
         "A generated file was changed after nb2pipe wrote it, so it was not overwritten.",
         "Pass --force to overwrite it, or keep your edit."),
    Code("NB402", ERROR, "cannot write output",
         "The output folder or a file in it could not be written (permissions, disk full, or "
         "a file in the way).",
         "Choose another output folder with -o, or fix its permissions."),
    Code("NB403", ERROR, "internal error: generated code is invalid",
         "nb2pipe produced a file that does not compile, a step module or common.py that "
         "reads a name it never assigns (the self-check reads the generated code before "
         "anything is written), or converting twice gave different bytes. This is a bug in "
         "nb2pipe.",
         "Please report it with the notebook (or a reduced copy)."),
    Code("NB408", WARNING, "lock hashes not obtained",
         "`convert --lock-hashes` asks the package index, through pip, for the hash of every "
         "file requirements.lock pins (for linux/amd64 and linux/arm64 images). pip could not "
         "tell (no network, a pin the index does not have), and pip takes hashes for all "
         "requirements or none, so the lock was written without them.",
         "Convert again with the index reachable, or without --lock-hashes."),
    Code("NB409", INFO, "Kubeflow pipeline not compiled",
         "The kfp SDK is not installed where nb2pipe ran, so deploy/kfp-pipeline.yaml was not "
         "written; deploy/kfp_pipeline.py (the pipeline in the kfp DSL) was. kfp is an optional "
         "extra because it pins an older kubernetes client.",
         "Run `nb2pipe compile-kfp PROJECT` in an environment with `pip install 'nb2pipe[kfp]'`."),
    Code("NB404", ERROR, "output folder is unsafe",
         "The output folder is the notebook's own folder or would overwrite the notebook.",
         "Choose another output folder with -o."),
    Code("NB405", ERROR, "capture failed",
         "`convert --capture` executes the notebook with a real kernel to record each step's "
         "values; the notebook raised an error (or the kernel died or timed out), so nothing "
         "was captured and nothing was written.",
         "Make the notebook run top to bottom (Restart & Run All), or convert without "
         "--capture."),
    Code("NB406", ERROR, "invalid image option",
         "The base image (`--base-image`, or `base_image` in the notebook's `nb2pipe` "
         "metadata) is not a pinned image reference, or `data_in_image` in the metadata is "
         "not true or false. An image without a tag, or tagged `latest`, changes under the "
         "pipeline.",
         "Give REPOSITORY:TAG, best with its digest: "
         "`--base-image python:3.11.14-slim-bookworm@sha256:...`."),
    Code("NB407", WARNING, "data file for the image not found",
         "The Dockerfile bakes the files the steps read into the image: conversion copies "
         "them from the notebook's folder into the project's build-context/ folder. This "
         "file was not there, or it is a link that leads out of the notebook's folder (never "
         "followed: it could bake any file of this machine into an image that gets pushed), "
         "so the image will not have it.",
         "Put the file in place and convert again, or convert with --no-data-in-image and "
         "pass the data at submit time (`nb2pipe submit --data-from`)."),
]

CODES: dict[str, Code] = {c.code: c for c in _CODES}


@dataclass(frozen=True)
class Diagnostic:
    """One finding with a location. `cell` is the 1-based index over all cells."""

    code: str
    message: str
    path: str = ""
    cell: int | None = None
    line: int | None = None
    col: int | None = None
    severity: str = ""

    def __post_init__(self) -> None:
        if not self.severity:
            object.__setattr__(self, "severity", CODES[self.code].severity)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def location(self) -> str:
        parts = [self.path or "<notebook>"]
        if self.cell is not None:
            parts.append(f"cell_{self.cell}")
            parts.append(str(self.line if self.line is not None else 1))
            parts.append(str((self.col if self.col is not None else 0) + 1))
        return ":".join(parts)

    def format(self) -> str:
        return f"{self.location()}: {self.code} {self.message}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["location"] = self.location()
        return data


def explain(code: str) -> str | None:
    entry = CODES.get(code.upper())
    if entry is None:
        return None
    return (
        f"{entry.code} ({entry.severity}): {entry.title}\n\n"
        f"{entry.explanation}\n\nHow to fix: {entry.fix}\n"
    )


def has_errors(diags: list[Diagnostic] | tuple[Diagnostic, ...]) -> bool:
    return any(d.is_error for d in diags)


def suppressed_codes(metadata: dict[str, Any] | None) -> frozenset[str]:
    """Codes a notebook silences in its metadata: `{"nb2pipe": {"ignore": ["NB211"]}}`."""
    meta = (metadata or {}).get("nb2pipe") if isinstance(metadata, dict) else None
    codes = meta.get("ignore") if isinstance(meta, dict) else None
    if not isinstance(codes, list):
        return frozenset()
    return frozenset(c.strip().upper() for c in codes if isinstance(c, str) and c.strip())


def suppress(diags: list[Diagnostic] | tuple[Diagnostic, ...],
             codes: frozenset[str] | set[str] | tuple[str, ...] | list[str]) -> list[Diagnostic]:
    """Drop the findings whose code is silenced — the one place suppressions are applied.

    Errors are never dropped: an error means the notebook cannot be converted soundly, and a
    silenced error would only move the failure from the linter to `convert`.
    """
    silenced = {c.upper() for c in codes}
    if not silenced:
        return list(diags)
    return [d for d in diags if d.is_error or d.code not in silenced]


def parse_codes(values: list[str] | tuple[str, ...]) -> frozenset[str]:
    """Codes from command-line values: repeatable and comma-separated (`--ignore NB211,NB106`)."""
    return frozenset(c.strip().upper() for v in values for c in v.split(",") if c.strip())


def unsuppressible(codes: frozenset[str] | set[str] | tuple[str, ...] | list[str]) -> list[str]:
    """The given codes that are errors (or unknown), for a message to the user."""
    return sorted(c for c in {c.upper() for c in codes}
                  if c not in CODES or CODES[c].severity == ERROR)
