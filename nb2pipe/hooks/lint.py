"""`nb2pipe lint`: the analyzer's findings for notebooks, as a linter hook.

Errors fail (exit 1), warnings print. Suppressions: per notebook in its metadata
(`{"nb2pipe": {"ignore": ["NB211"]}}`) and per run with `--ignore NB211`; both go through
`nb2pipe.diagnostics.suppress`, the same filter `convert` uses. Errors cannot be silenced.
"""

from __future__ import annotations

from nb2pipe.diagnostics import ExitCode
import sys
from pathlib import Path


def configure(parser) -> None:
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--ignore", action="append", default=[], metavar="CODE",
                        help="silence a warning code (repeatable, or comma-separated)")
    parser.add_argument("--split", default="auto", choices=["auto", "tags", "headings", "flow", "single"])
    parser.add_argument("--show-info", action="store_true", help="print notes (info) too")


def main(args) -> int:
    from nb2pipe.api import plan_notebook
    from nb2pipe.diagnostics import has_errors, parse_codes, unsuppressible

    ignore = parse_codes(args.ignore)
    bad = unsuppressible(ignore)
    if bad:
        print(f"nb2pipe: note: {', '.join(bad)} cannot be ignored (errors stop conversion; "
              "unknown codes do nothing)", file=sys.stderr)
    failed = 0
    for nb in args.notebooks:
        path = Path(nb)
        if not path.is_file():
            print(f"{nb}: no such notebook", file=sys.stderr)
            failed += 1
            continue
        _, diags, _ = plan_notebook(path, split=args.split, ignore=tuple(ignore))
        for d in diags:
            if d.severity != "info" or args.show_info:
                # the location with the path as given, so it opens in the user's editor
                print(nb + d.format()[len(d.path or "<notebook>"):])
        failed += has_errors(diags)
    return ExitCode.FINDINGS if failed else ExitCode.OK
