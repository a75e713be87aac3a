"""``landgui split DATASET... --out DIR``: a leakage-free train/val/test split of class folders."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from landgui.core.base.progress import TerminalProgress
from landgui.core.data.scan import parse_sources, scan_sources
from landgui.core.data.split import (
    SplitParams,
    check_split_target,
    split_warnings,
    write_split,
)
from landgui.core.data.split_report import summary_table
from landgui.core.params import parse_gsd


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``split`` to the CLI's subparsers."""
    s = sub.add_parser("split", help="split a class-folder dataset into train/val/test without leakage")
    s.add_argument(
        "dataset",
        nargs="+",
        metavar="DATASET",
        help="folder with one sub-folder of images per class; several folders (sources, e.g. one per sensor) "
        "are split as one dataset, stratified by class x source: PATH (named after the folder) or NAME=PATH",
    )
    s.add_argument("--out", required=True, help="folder to write split.json (and the materialized layout) into")
    s.add_argument("--val", type=float, default=0.15, help="validation fraction (default 0.15)")
    s.add_argument("--test", type=float, default=0.15, help="test fraction (default 0.15)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument(
        "--materialize",
        choices=["none", "copy", "link"],
        default="none",
        help="also lay out OUT/{train,val,test}/<class>/ as copies or links (default none)",
    )
    s.add_argument(
        "--gsd",
        action="append",
        metavar="SOURCE=METRES",
        help="ground sample distance of a source's images in metres (repeatable; SOURCE/CLASS=METRES for one "
        "class folder), recorded with every run trained on the split as the model's ground resolution",
    )
    s.add_argument("--overwrite", action="store_true", help="replace a split.json already in --out")
    s.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    s.set_defaults(func=run)
    return s


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    params = SplitParams(
        val=args.val, test=args.test, seed=args.seed, materialize=args.materialize, gsd=parse_gsd(args.gsd)
    )
    params.check()
    sources = parse_sources(args.dataset)
    params.check_gsd_names(sources)  # before the scan; SOURCE/CLASS names are checked after it
    check_split_target(list(sources.values()), args.out, params, overwrite=args.overwrite)  # before a long scan
    bar = TerminalProgress(enabled=not args.quiet)
    scan = scan_sources(
        {n: str(p) for n, p in sources.items()}, min_correlation=params.near_duplicate_min_correlation, progress=bar
    )
    manifest = write_split(scan, args.out, params, overwrite=args.overwrite)

    for w in split_warnings(manifest):
        print(f"landgui: warning: {w}", file=sys.stderr)
    if not args.quiet:
        print(summary_table(manifest))
        print(f"\nwrote {args.out}/split.json")
    return 0
