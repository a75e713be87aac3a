"""``landgui gui [PATHS...]``: start the desktop app (also what ``landgui`` alone does)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``gui`` to the CLI's subparsers."""
    g = sub.add_parser("gui", help="start the desktop app (the default with no command)")
    g.add_argument("paths", nargs="*", help="dataset folders, split.json files or scenes to open")
    g.set_defaults(func=run)
    return g


def run(args: argparse.Namespace) -> int:
    """Open the window (Qt is loaded here only, so other commands never load it)."""
    from landgui.gui.app import run_app

    return run_app(getattr(args, "paths", []) or [])
