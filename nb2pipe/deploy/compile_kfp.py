"""`nb2pipe compile-kfp PROJECT`: compile deploy/kfp_pipeline.py into deploy/kfp-pipeline.yaml.

For conversions done without the kfp SDK (an optional extra: it pins an older kubernetes
client, so it often lives in its own environment). Run this where kfp is installed.
"""

from __future__ import annotations

from nb2pipe.diagnostics import ExitCode
import argparse
import os
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="the generated project folder")
    parser.add_argument("--image", help="image for the steps (default: from the Dockerfile's "
                                        "tag convention, <package>:0.1.0)")
    parser.add_argument("-o", "--output", help="output file (default: deploy/kfp-pipeline.yaml)")


def main(args: argparse.Namespace) -> int:
    from nb2pipe.emit.kfp import compile_source, kfp_available

    project = Path(args.project)
    source = project / "deploy" / "kfp_pipeline.py"
    if not source.is_file():
        print(f"nb2pipe: error: {source} not found: convert the notebook first", file=sys.stderr)
        return ExitCode.USAGE
    if not kfp_available():
        print("nb2pipe: error: the kfp SDK is not installed here: pip install 'nb2pipe[kfp]' "
              "(in its own environment: kfp pins an older kubernetes client)", file=sys.stderr)
        return ExitCode.FINDINGS
    out = Path(args.output) if args.output else project / "deploy" / "kfp-pipeline.yaml"
    if args.image:
        os.environ["NB2PIPE_IMAGE"] = args.image
    compile_source(source.read_text(encoding="utf-8"), str(out))
    print(f"{out}: compiled")
    return ExitCode.OK
