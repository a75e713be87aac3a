"""What every command of the command line shares: the parser with one-line errors, the engine
option's help, a stage printer, and how an error reaches the user."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from landgui.core.base import logs
from landgui.core.base.types import ProgressFn
from landgui.core.inference.engine import ENGINES

ENGINE_HELP = (
    "inference engine: litert (fast, converted once per model), keras, or auto = litert where installed (default)"
)


class Parser(argparse.ArgumentParser):
    """argparse with landgui's one-line errors (no usage dump; the hint names --help)."""

    def error(self, message: str) -> Any:
        """Exit with code 2 and ``landgui: error: MESSAGE (see: PROG --help)``."""
        self.exit(2, f"landgui: error: {message} (see: {self.prog} --help)\n")


def add_engine(parser: argparse.ArgumentParser) -> None:
    """The ``--engine auto|litert|keras`` option of the commands that run a model."""
    parser.add_argument("--engine", choices=ENGINES, default="auto", help=ENGINE_HELP)


def note_stage(quiet: bool) -> ProgressFn:
    """A progress callback that prints each new stage name once (e.g. a one-off model conversion)."""
    seen: set[str] = set()

    def note(stage: str, done: int, total: int) -> None:
        if not quiet and stage not in seen:
            seen.add(stage)
            print(f"{stage}...", file=sys.stderr, flush=True)

    return note


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) made one space."""
    return " ".join(text.split())


def fail(message: str, exc: BaseException) -> int:
    """Log ``exc`` with its traceback, say ``landgui: error: MESSAGE`` on stderr; exit status 2."""
    logs.error_seen(message, exc)
    print(f"landgui: error: {message}", file=sys.stderr)
    return 2
