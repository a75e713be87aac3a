"""``landgui sample-dataset DEST``: copy the shipped sample dataset to start from."""

from __future__ import annotations

import argparse
from typing import Any

from landgui.core.data.sample import copy_sample_dataset


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``sample-dataset`` to the CLI's subparsers."""
    sd = sub.add_parser("sample-dataset", help="copy the small sample dataset (60 patches per class) to DEST")
    sd.add_argument("dest", help="a new or empty folder")
    sd.set_defaults(func=run)
    return sd


def run(args: argparse.Namespace) -> int:
    """Copy the sample and say where it went and what to do next."""
    dest = copy_sample_dataset(args.dest)
    n = sum(1 for p in dest.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    print(f"copied the sample dataset ({n} images) to {dest}; next: landgui split {dest} --out {dest}-split")
    return 0
