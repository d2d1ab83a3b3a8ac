"""`nb2pipe sync`: regenerate the pipelines of stale notebooks, as a formatter would.

Exit 1 when a file was (re)written, so the user re-stages it (the pre-commit contract), or when a
pipeline stays stale (hand-edited files are never overwritten; conversion failed). Notebooks
that are up to date cost one hash check, no analysis.
"""

from __future__ import annotations

from nb2pipe.diagnostics import ExitCode
import sys
from pathlib import Path


def configure(parser) -> None:
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("-o", "--outdir", help="output folder (one notebook only)")
    parser.add_argument("--ignore-unconverted", action="store_true",
                        help="leave notebooks that have no generated pipeline alone "
                             "(default: convert them)")
    parser.add_argument("--ignore", action="append", default=[], metavar="CODE",
                        help="silence a warning code (repeatable, or comma-separated)")


def main(args) -> int:
    from nb2pipe.hooks.check import staleness
    from nb2pipe.diagnostics import parse_codes

    if args.outdir and len(args.notebooks) > 1:
        print("nb2pipe: error: -o works with one notebook only", file=sys.stderr)
        return ExitCode.USAGE
    ignore = parse_codes(args.ignore)
    failed = 0
    for nb in args.notebooks:
        state = staleness(Path(nb), Path(args.outdir) if args.outdir else None)
        if not state.stale or (not state.converted and args.ignore_unconverted):
            continue
        # only the user can decide: hand edits alone, or a lock nb2pipe did not write
        if state.not_nb2pipe or (state.edited and not (state.notebook_changed or state.missing)):
            print(f"{nb}: {state.summary()}")
            failed += 1
            continue
        failed += _regenerate(nb, state, ignore)
    return ExitCode.FINDINGS if failed else ExitCode.OK


def _regenerate(nb: str, state, ignore: frozenset[str]) -> int:
    from nb2pipe.api import convert

    options = state.lock.get("options") or {}
    res = convert(Path(nb), state.outdir, name=options.get("name"),
                  split=options.get("split") or "auto", ignore=tuple(ignore),
                  base_image=options.get("base_image"),
                  data_in_image=options.get("data_in_image"),
                  lock_hashes=options.get("lock_hashes") is True)
    for d in res.diagnostics:
        if d.severity != "info":
            print(d.format(), file=sys.stderr)
    if not res.ok:
        print(f"{nb}: not regenerated (conversion failed)")
        return ExitCode.FINDINGS
    parts = []
    if res.written:
        parts.append(f"wrote {len(res.written)} file{'s' if len(res.written) != 1 else ''}")
    if res.removed:
        parts.append(f"removed {', '.join(res.removed)}")
    if res.kept:
        parts.append(f"kept hand-edited {', '.join(res.kept)} (nb2pipe convert --force "
                     "overwrites)")
    if parts:
        print(f"{nb}: regenerated {state.outdir}: {'; '.join(parts)}"
              + ("; re-stage it" if res.written or res.removed else ""))
    return ExitCode.FINDINGS if (res.written or res.removed or res.kept) else ExitCode.OK
