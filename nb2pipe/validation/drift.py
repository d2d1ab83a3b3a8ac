"""`nb2pipe drift PROJECT NEW.csv`: has new data drifted from the data the notebook was
captured with? A retrain trigger for CI: exit 1 past the threshold.

The baseline is a table profile in the project's capture (`tests/fixtures/capture.json`,
written by `convert --capture`): by default the captured table whose columns best match the
new file's (the data as loaded), or the one named with `--value STEP.NAME`. Per column:
PSI over the baseline's quantile bins and the KS statistic at the bin edges for numbers; PSI
and total-variation shift over the known categories (unseen values pooled) for categoricals
(`nb2pipe.validation.quality.drift`).
"""

from __future__ import annotations

from nb2pipe.diagnostics import ExitCode
import json
import sys
from pathlib import Path
from typing import Any

from nb2pipe.validation.capture import CAPTURE_FILE


def captured_tables(project: Path) -> dict[str, dict[str, Any]]:
    """`step.name` -> profile of every captured table output (notebook order)."""
    data = json.loads((project / CAPTURE_FILE).read_text(encoding="utf-8"))
    from nb2pipe.planning.model import PipelinePlan

    order = [s.name for s in PipelinePlan.load(project).steps]
    out: dict[str, dict[str, Any]] = {}
    for step in order:
        for name, rec in sorted(data["steps"].get(step, {}).get("outputs", {}).items()):
            if rec.get("profile"):
                out[f"{step}.{name}"] = rec["profile"]
    return out


def choose(tables: dict[str, dict[str, Any]], columns: list[str]) -> str | None:
    """The table sharing the most columns with the new data (the earliest on ties)."""
    best, score = None, 0.0
    cols = set(map(str, columns))
    for key, prof in tables.items():
        known = set(prof["columns"])
        if not known:
            continue
        s = len(known & cols) / len(known | cols)
        if s > score:
            best, score = key, s
    return best


def read_table(path: Path) -> Any:
    import pandas as pd

    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def drift_report(project: Path, data: Path, value: str | None = None,
                 psi_threshold: float = 0.2) -> dict[str, Any]:
    from nb2pipe.validation.quality import drift

    tables = captured_tables(project)
    frame = read_table(data)
    key = value or choose(tables, list(frame.columns))
    if key is None or key not in tables:
        raise LookupError(f"no captured table {value!r}; captured: {', '.join(tables) or '-'}"
                          if value else "no captured table shares columns with the new data")
    prof = tables[key]
    columns = drift(frame, prof, psi_threshold=psi_threshold)
    drifted = [c["column"] for c in columns if c["status"] == "drift"]
    return {"project": str(project), "data": str(data), "baseline": key,
            "baseline_rows": prof["rows"], "rows": int(len(frame)),
            "psi_threshold": psi_threshold, "columns": columns, "drifted": drifted,
            "drift": bool(drifted)}


def format_report(rep: dict[str, Any]) -> str:
    lines = [f"drift of {rep['data']} ({rep['rows']} rows) against {rep['baseline']} "
             f"({rep['baseline_rows']} rows captured)"]
    w = max([len(c["column"]) for c in rep["columns"]] + [6])

    def f(x: Any) -> str:
        return "-" if x is None else f"{x:.4g}"

    lines.append(f"{'column':<{w}}  {'kind':<11}  {'PSI':>8}  {'KS':>7}  {'KS p':>8}  "
                 f"{'shift':>7}  status")
    for c in rep["columns"]:
        lines.append(f"{c['column']:<{w}}  {c['kind']:<11}  {f(c['psi']):>8}  {f(c['ks']):>7}  "
                     f"{f(c['ks_pvalue']):>8}  {f(c['shift']):>7}  "
                     f"{c['status'].upper() if c['status'] == 'drift' else c['status']}"
                     + (f"  ({c['note']})" if c["note"] else ""))
    n = len(rep["drifted"])
    lines.append(f"result: {n} of {len(rep['columns'])} columns drifted (PSI threshold "
                 f"{rep['psi_threshold']}) -> {'DRIFT' if n else 'OK'}")
    return "\n".join(lines)


def configure(parser: Any) -> None:
    parser.add_argument("project", help="the generated project (converted with --capture)")
    parser.add_argument("data", help="new data: CSV (or Parquet)")
    parser.add_argument("--value", metavar="STEP.NAME",
                        help="the captured table to compare with (default: best column match)")
    parser.add_argument("--threshold", type=float, default=0.2,
                        help="PSI at or above which a column has drifted (default 0.2)")
    parser.add_argument("--json", metavar="FILE",
                        help="write the report here (default: PROJECT/.nb2pipe/validation/drift.json)")


def main(args: Any) -> int:
    project, data = Path(args.project), Path(args.data)
    if not (project / CAPTURE_FILE).is_file():
        print(f"nb2pipe: error: {project} has no capture ({CAPTURE_FILE}); run: nb2pipe "
              "convert NOTEBOOK -o PROJECT --capture", file=sys.stderr)
        return ExitCode.USAGE
    if not data.is_file():
        print(f"nb2pipe: error: {data}: no such file", file=sys.stderr)
        return ExitCode.USAGE
    try:
        rep = drift_report(project, data, args.value, args.threshold)
    except LookupError as exc:
        print(f"nb2pipe: error: {exc.args[0]}", file=sys.stderr)
        return ExitCode.USAGE
    out = Path(args.json) if args.json else project / ".nb2pipe" / "drift.json"
    from nb2pipe.writer import atomic_write

    atomic_write(out, (json.dumps(rep, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    print(format_report(rep))
    print(f"report: {out}")
    return ExitCode.FINDINGS if rep["drift"] else ExitCode.OK
