"""``landgui evaluate RUN``: a run's accuracy on its test split, another split file, a folder or a source."""

from __future__ import annotations

import argparse
import json
from typing import Any

from landgui.cli.common import add_engine
from landgui.core import services
from landgui.core.base.progress import TerminalProgress
from landgui.core.evaluation.report import report_text
from landgui.core.runs.folder import RunFolder


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``evaluate`` to the CLI's subparsers."""
    e = sub.add_parser("evaluate", help="evaluate a run on a split of its split.json (default: test)")
    e.add_argument("run", help="RUN_DIR")
    e.add_argument("--split", choices=["test", "val", "train"], default="test")
    e.add_argument(
        "--data",
        metavar="FOLDER",
        help="evaluate on any class-folder dataset instead (classes matched by name; e.g. your own scenes' patches)",
    )
    e.add_argument("--split-file", metavar="F", help="evaluate on this split.json instead of the run's own")
    e.add_argument(
        "--allow-other-split",
        action="store_true",
        help="with --split-file: accept a split other than the one the run was trained on (reported in the JSON)",
    )
    e.add_argument(
        "--ignore-unknown", action="store_true", help="with --data: leave out folder classes the model lacks"
    )
    e.add_argument(
        "--adapt",
        action="store_true",
        help="adapt the model to the evaluated images first (batch-norm statistics, no labels used; the run is not changed)",
    )
    add_engine(e)
    e.add_argument("--json", action="store_true", help="print the evaluation JSON instead of the report")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=run)
    return e


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    bar = TerminalProgress(enabled=not (args.quiet or args.json), unit="images")
    result = services.evaluate(
        args.run,
        split=args.split,
        data=args.data,
        split_file=args.split_file,
        allow_other_split=args.allow_other_split,
        ignore_unknown=args.ignore_unknown,
        adapt=args.adapt,
        engine=args.engine,
        progress=bar,
    )
    name = result["split"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(report_text(result))
        print(
            f"\nwrote {RunFolder(result.get('written_to', args.run)).evaluation_file(name)}, predictions-{name}.csv, "
            f"confusion-{name}.png, per-class-{name}.png"
        )
    return 0
