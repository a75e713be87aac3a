"""``landgui finetune RUN --add CORRECTIONS --out NEW``: teach a run your scenes from corrections."""

from __future__ import annotations

import argparse
from typing import Any

from landgui.cli.common import note_stage
from landgui.core.training.finetune import finetune


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``finetune`` to the CLI's subparsers."""
    ft = sub.add_parser(
        "finetune", help="teach a run your scenes: retrain its head on labelled corrections into a new run"
    )
    ft.add_argument("run", help="the parent RUN_DIR (a transfer run; 'default' = the shipped model)")
    ft.add_argument(
        "--add",
        action="append",
        required=True,
        metavar="FOLDER",
        help="a class-folder dataset of corrections (repeatable), e.g. RUN_DIR/corrections",
    )
    ft.add_argument("--out", required=True, help="the new RUN_DIR")
    ft.add_argument("--epochs", type=int, default=40, help="head epochs (default 40)")
    ft.add_argument("--weight", type=float, default=10.0, help="how many parent images one correction counts as")
    ft.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    ft.add_argument("--quiet", action="store_true")
    ft.set_defaults(func=run)
    return ft


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    res = finetune(
        args.run,
        args.add,
        args.out,
        epochs=args.epochs,
        weight=args.weight,
        overwrite=args.overwrite,
        progress=note_stage(args.quiet),
    )
    counts = ", ".join(f"{k} {v}" for k, v in res.corrections.items())
    print(
        f"fine-tuned on {sum(res.corrections.values())} corrections ({counts}) + {res.replay} of the parent's "
        f"images in {res.seconds:.1f} s; run folder {res.run_dir}"
    )
    return 0
