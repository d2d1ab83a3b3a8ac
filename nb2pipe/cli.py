"""Command line: a thin front end over the public API. Exit codes: nb2pipe.diagnostics.ExitCode
(0 ok, warnings allowed; 1 error findings / stale; 2 usage; 3 internal error)."""

from __future__ import annotations

from nb2pipe.diagnostics import ExitCode
import argparse
import json
import sys
from pathlib import Path



class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)


# Subcommands that live in their own modules: name -> (help, module). The module defines
# `configure(parser)` and `main(args) -> int`, and is imported only when its command runs,
# so the CLI's start stays light.
PLUGINS: dict[str, tuple[str, str]] = {
    "verify": ("run the notebook and its pipeline, compare every step's values",
               "nb2pipe.validation.verify"),
    "drift": ("compare new data with the captured training-data profile (exit 1 on drift)",
              "nb2pipe.validation.drift"),
    "sync": ("regenerate stale pipelines (never over hand edits); exit 1 if anything changed",
             "nb2pipe.hooks.sync"),
    "lint": ("print the analyzer's findings; exit 1 on errors", "nb2pipe.hooks.lint"),
    "run": ("run a generated pipeline locally (tracked, cached steps)", "nb2pipe.runner.cli"),
    "status": ("which steps of a generated pipeline are stale, and why", "nb2pipe.runner.cli"),
    "runs": ("list, show, compare and fetch recorded runs", "nb2pipe.runner.cli"),
    "trigger": ("run (or submit) a pipeline only when due: code, package, parameter or data "
                "changed, or data drifted; every decision recorded", "nb2pipe.runner.trigger"),
    "submit": ("submit a generated pipeline to Argo Workflows or Kubeflow Pipelines",
               "nb2pipe.deploy.submit"),
    "ci": ("write a CI workflow (GitHub Actions): check, test, run; build and submit on main",
           "nb2pipe.deploy.ci"),
    "serve": ("serve a project's verified model and pre-processing over HTTP (FastAPI)",
              "nb2pipe.service.cli"),
    "compile-kfp": ("compile a project's Kubeflow pipeline (where the kfp extra is installed)",
                    "nb2pipe.deploy.compile_kfp"),
}


# The commands in the order a user meets them, grouped; `nb2pipe --help` lists them so.
COMMAND_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Convert", ("convert",)),
    ("Run and inspect", ("run", "status", "runs")),
    ("Validate", ("verify", "check", "sync", "lint")),
    ("Serve", ("serve",)),
    ("Deploy", ("submit", "ci", "compile-kfp")),
    ("Understand and hand over", ("explain", "eject")),
    ("Monitor", ("drift", "trigger")),  # trigger acts on what drift and status find
)
BUILTIN_HELP = {
    "convert": "convert a notebook into a pipeline project",
    "explain": "explain a diagnostic code",
    "eject": "take ownership of a generated project: nb2pipe stops managing it (its lock file "
             "and headers are removed)",
    "check": "exit 1 if a notebook's generated pipeline is stale",
}


def _command_help(name: str) -> str:
    return PLUGINS[name][0] if name in PLUGINS else BUILTIN_HELP[name]


def _commands_epilog() -> str:
    lines = []
    for title, names in COMMAND_GROUPS:
        lines.append(f"{title}:")
        lines += [f"  {n:<12} {_command_help(n)}" for n in names]
    lines.append("")
    lines.append("`nb2pipe COMMAND --help` describes a command.")
    return "\n".join(lines)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    p = _Parser(prog="nb2pipe", description="Turn a Jupyter notebook into a pipeline.",
                epilog=_commands_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="store_true", help="print the version")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND",
                           help="one of the commands listed below")
    for _, names in COMMAND_GROUPS:
        for name in names:
            # no help= here: the grouped list in the epilog is the one listing of the commands
            sp = sub.add_parser(name, description=_command_help(name))
            if name in PLUGINS:
                if name == command:
                    import importlib

                    importlib.import_module(PLUGINS[name][1]).configure(sp)
            else:
                BUILTIN_CONFIGURE[name](sp)
    return p


def _configure_convert(c: argparse.ArgumentParser) -> None:
    c.add_argument("notebook")
    c.add_argument("-o", "--outdir", help="output folder (default: <stem>_pipeline beside it)")
    c.add_argument("--name", help="package name (default: from the output folder)")
    c.add_argument("--split", default="auto", choices=["auto", "tags", "headings", "flow", "single"])
    c.add_argument("--json", action="store_true", help="print the result and PipelinePlan as JSON")
    c.add_argument("--force", action="store_true", help="overwrite hand-edited generated files")
    c.add_argument("--dry-run", action="store_true", help="analyze and plan, write nothing")
    c.add_argument("--ignore", action="append", default=[], metavar="CODE",
                   help="silence a warning code (repeatable, or comma-separated); the notebook "
                        "can also list codes in its metadata: {\"nb2pipe\": {\"ignore\": [...]}}")
    c.add_argument("--capture", action="store_true",
                   help="execute the notebook once and record each step's values (test "
                        "fixtures, types, data profiles, metrics)")
    c.add_argument("--base-image", metavar="IMAGE[@sha256:DIGEST]",
                   help="base image of the Dockerfile, pinned by tag and best by digest "
                        "(default: the official slim image of this Python's full version); "
                        "the notebook's metadata can set it: {\"nb2pipe\": {\"base_image\": "
                        "...}}")
    c.add_argument("--data-in-image", action=argparse.BooleanOptionalAction, default=None,
                   help="copy the data files the steps read into the image (the default), or "
                        "leave them out and pass them at submit time (--data-from)")
    c.add_argument("--lock-hashes", action="store_true",
                   help="ask the package index (through pip; needs the network) for the "
                        "hashes of every file requirements.lock pins, so the image build "
                        "verifies them")


def _configure_check(k: argparse.ArgumentParser) -> None:
    k.add_argument("notebooks", nargs="+")
    k.add_argument("-o", "--outdir", help="output folder (one notebook only)")
    k.add_argument("--ignore-unconverted", action="store_true",
                   help="pass notebooks that have no generated pipeline (pre-commit hook)")


BUILTIN_CONFIGURE = {
    "convert": _configure_convert,
    "explain": lambda e: e.add_argument("code"),
    "eject": lambda j: j.add_argument("outdir"),
    "check": _configure_check,
}


def _print_diags(diags, stream) -> None:
    for d in diags:
        print(d.format(), file=stream)


def cmd_convert(args) -> int:
    import gc

    nb = Path(args.notebook)
    if not nb.exists():
        print(f"nb2pipe: error: {args.notebook}: no such file", file=sys.stderr)
        return ExitCode.USAGE
    if nb.is_dir():
        print(f"nb2pipe: error: {args.notebook} is a folder, not a notebook", file=sys.stderr)
        return ExitCode.USAGE
    # first thing: a child that imports black while we import the rest, read and plan
    from nb2pipe.emit import blackchild

    blackchild.spawn_early()
    from nb2pipe.api import convert
    from nb2pipe.diagnostics import parse_codes

    # The analyzer allocates many small, long-lived objects; default GC thresholds rescan
    # them over and over (measured: ~11% of a 2,000-cell conversion).
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)

    res = convert(nb, args.outdir, name=args.name, split=args.split, force=args.force,
                  dry_run=args.dry_run, capture=args.capture,
                  ignore=tuple(parse_codes(args.ignore)), base_image=args.base_image,
                  data_in_image=args.data_in_image, lock_hashes=args.lock_hashes)
    if args.json:
        print(json.dumps(res.to_json(), indent=2, sort_keys=True, ensure_ascii=False))
        _print_diags([d for d in res.diagnostics if d.severity != "info"], sys.stderr)
    else:
        _print_diags([d for d in res.diagnostics if d.severity != "info"], sys.stderr)
        if res.ok and res.plan is not None:
            plan = res.plan
            steps = ", ".join(s.name for s in plan.steps)  # type: ignore[attr-defined]
            verb = {"converted": "converted", "unchanged": "unchanged"}.get(res.status, res.status)
            print(f"{res.notebook}: {verb} -> {res.outdir} ({len(plan.steps)} steps: "  # type: ignore
                  f"{steps}; {len(res.written)} written, {len(res.unchanged)} unchanged"
                  + (f", {len(res.kept)} kept" if res.kept else "") + ")")
        elif not res.ok:
            n = sum(1 for d in res.diagnostics if d.is_error)
            print(f"{res.notebook}: not converted ({n} error{'s' if n != 1 else ''})",
                  file=sys.stderr)
    if res.internal_error:
        print("nb2pipe: internal error — please report it with the notebook", file=sys.stderr)
    return res.exit_code


def cmd_explain(args) -> int:
    from nb2pipe.diagnostics import CODES, explain

    text = explain(args.code)
    if text is None:
        print(f"nb2pipe: unknown code {args.code!r}; known: {', '.join(sorted(CODES))}",
              file=sys.stderr)
        return ExitCode.USAGE
    print(text, end="")
    return ExitCode.OK


def cmd_eject(args) -> int:
    from nb2pipe.writer import eject

    outdir = Path(args.outdir)
    done, problem = eject(outdir)
    if problem:
        print(f"nb2pipe: error: {problem}", file=sys.stderr)
        return ExitCode.FINDINGS
    print(f"{outdir}: ejected; {done} files are yours now (nb2pipe convert will not overwrite "
          "them without --force)")
    return ExitCode.OK


def cmd_check(args) -> int:
    from nb2pipe.hooks.check import staleness

    if args.outdir and len(args.notebooks) > 1:
        print("nb2pipe: error: -o works with one notebook only", file=sys.stderr)
        return ExitCode.USAGE
    stale = 0
    for nb in args.notebooks:
        state = staleness(Path(nb), Path(args.outdir) if args.outdir else None)
        if not state.stale or (not state.converted and args.ignore_unconverted):
            continue
        print(f"{nb}: {state.summary()}")  # one line per stale notebook
        stale += 1
    return ExitCode.FINDINGS if stale else ExitCode.OK


def _command_of(argv: list[str]) -> str | None:
    for a in argv:
        if not a.startswith("-"):
            return a
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    parser = _parser(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.version:
        from nb2pipe import __version__

        print(f"nb2pipe {__version__}")
        return ExitCode.OK
    if args.command is None:
        parser.print_help()
        return ExitCode.USAGE
    try:
        if args.command in PLUGINS:
            import importlib

            return int(importlib.import_module(PLUGINS[args.command][1]).main(args))
        return {"convert": cmd_convert, "explain": cmd_explain, "check": cmd_check,
                "eject": cmd_eject}[
            args.command](args)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as exc:  # the boundary: a bug, not a traceback
        print(f"nb2pipe: internal error {type(exc).__name__}: {exc} — please report it",
              file=sys.stderr)
        return ExitCode.INTERNAL
