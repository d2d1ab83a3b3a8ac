"""Real notebooks: run the shared corpus harness (../shared/corpus/measure.py) and write the
"corpus" section of RESULTS.md.

Two variants of the harness's last cell, which reads every value the notebook ends with:
- `import`: the fingerprint function is imported from a module (the harness as shipped);
- `helper`: the same function is defined in the cell itself, as a user would write a small
  helper; its body calls methods on its argument, so an analyzer that takes a read-only
  notebook function as mutating what it is given refuses or mis-splits notebooks here.

The harness is loaded from the corpus folder and only its cell text is changed in memory: the
corpus itself is never written to.

    python benchmarks/bench_corpus.py --nb2pipe /path/to/corpus-venv/bin/nb2pipe [--jobs 2]
        [--variant import|helper|both] [--no-write] [--corpus ../shared/corpus]

The nb2pipe given must live in a venv with the corpus's pinned packages (see the corpus
README: `bash make_venv.sh VENV && VENV/bin/pip install -e .`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def load_harness(corpus: Path):
    spec = importlib.util.spec_from_file_location("corpus_measure", corpus / "measure.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def use_helper_cell(measure) -> None:
    """The last cell defines the fingerprint function itself instead of importing it."""
    body = measure.FP_MODULE_SOURCE.split('"""', 2)[2].replace("fingerprint(", "_nbm_fp(")

    def explicit_cell(names: list[str], outfile: str) -> str:
        lines = ["# measure.py (helper variant): the fingerprint helper defined in the cell",
                 body, "", "_nbm_state = {}"]
        lines += [f"_nbm_state[{n!r}] = _nbm_fp({n})" for n in names]
        lines += measure.state_file_lines(outfile)
        return "\n".join(lines)

    measure.explicit_cell = explicit_cell


def run_variant(corpus: Path, nb2pipe: str, jobs: int, variant: str) -> tuple[str, dict]:
    measure = load_harness(corpus)
    if variant == "helper":
        use_helper_cell(measure)
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(out):
        measure.main(["eval", "--nb2pipe", nb2pipe, "--jobs", str(jobs),
                      "--json", str(Path(tmp) / "r.json")])
    text = out.getvalue()
    summary = json.loads(text.strip().splitlines()[-1])
    return text, summary


def section(results: dict[str, tuple[str, dict]], commit: str) -> str:
    lines = ["## Real notebooks: the shared corpus (benchmarks/bench_corpus.py)", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · nb2pipe commit "
             f"{commit} · `../shared/corpus/measure.py eval` (convert, `nb2pipe run`, compare "
             "the end state with the notebook's baseline).", "",
             "| variant of the last cell | notebooks | converted | ran | equal | different | "
             "multi-step share (≥15 cells) | run / papermill (median) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for variant, (_, s) in results.items():
        lines.append(f"| {variant} | {s['notebooks']} | {s['converted']} | {s['ran']} | "
                     f"**{s['equal']}** | {s['different']} | {s.get('multi_step_share')} | "
                     f"{s.get('run_over_papermill_median')} |")
    for variant, (text, _) in results.items():
        rows = [ln for ln in text.splitlines() if ln and not ln.startswith(("#", "{"))]
        lines += ["", f"Per notebook ({variant}):", "", "```"]
        lines += [re.sub(r"\s+$", "", ln)[:220] for ln in rows]
        lines += ["```"]
    return "\n".join(lines)


def write_section(body: str) -> None:
    text = RESULTS.read_text()
    start, end = "<!-- corpus:start -->", "<!-- corpus:end -->"
    block = f"{start}\n{body}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text,
                      flags=re.S)
    else:
        marker = "<!-- hooks:start -->"
        text = text.replace(marker, block + "\n\n" + marker, 1)
    RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nb2pipe", required=True)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--variant", choices=["import", "helper", "both"], default="both")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    variants = ["import", "helper"] if args.variant == "both" else [args.variant]
    results = {v: run_variant(args.corpus, args.nb2pipe, args.jobs, v) for v in variants}
    body = section(results, commit)
    print(body)
    if not args.no_write:
        write_section(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
