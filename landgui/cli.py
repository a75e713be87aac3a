"""Command line: ``landgui [gui] | split | ...``. Errors are one line on stderr with exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from landgui import __version__
from landgui.core.errors import LandguiError


def _cmd_split(args: argparse.Namespace) -> int:
    from landgui.core.dataset import scan_dataset
    from landgui.core.progress import TerminalProgress
    from landgui.core.split import SplitParams, check_out_dir, summary_table, write_split

    params = SplitParams(val=args.val, test=args.test, seed=args.seed, materialize=args.materialize)
    params.check()
    if Path(args.dataset).is_dir():
        check_out_dir(Path(args.dataset), Path(args.out))  # fail before a long scan
    bar = TerminalProgress(enabled=not args.quiet)
    scan = scan_dataset(args.dataset, min_correlation=params.near_duplicate_min_correlation, progress=bar)
    manifest = write_split(scan, args.out, params)
    if not args.quiet:
        print(summary_table(manifest))
        print(f"\nwrote {args.out}/split.json")
    return 0


def _cmd_gui(args: argparse.Namespace) -> int:
    from landgui.gui.app import run_app

    return run_app(getattr(args, "paths", []) or [])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="landgui", description="Land-cover classification of satellite imagery.")
    p.add_argument("--version", action="version", version=f"landgui {__version__}")
    sub = p.add_subparsers(dest="command")

    g = sub.add_parser("gui", help="start the desktop app (the default with no command)")
    g.add_argument("paths", nargs="*", help="dataset folders, split.json files or scenes to open")
    g.set_defaults(func=_cmd_gui)

    s = sub.add_parser("split", help="split a class-folder dataset into train/val/test without leakage")
    s.add_argument("dataset", help="folder with one sub-folder of images per class")
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
    s.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    s.set_defaults(func=_cmd_split)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args.func = _cmd_gui
        args.paths = []
    try:
        return int(args.func(args) or 0)
    except LandguiError as exc:
        print(f"landgui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("landgui: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
