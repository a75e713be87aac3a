"""Command line: ``landgui [gui] | split | train | ... | segment | assess``. Each command is a module
of :mod:`landgui.cli.commands`; errors are one line on stderr with exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
from collections.abc import Sequence

from landgui import __version__
from landgui.cli.commands import COMMANDS, gui
from landgui.cli.common import Parser, fail, one_line
from landgui.core.base import logs
from landgui.core.base.atomic import why
from landgui.core.base.errors import LandguiError
from landgui.core.base.files import SHOWN_ERRORS


def build_parser() -> argparse.ArgumentParser:
    """The ``landgui`` parser with every command of :data:`landgui.cli.commands.COMMANDS`."""
    p = Parser(prog="landgui", description="Land-cover classification of satellite imagery.")
    p.add_argument("--version", action="version", version=f"landgui {__version__}")
    sub = p.add_subparsers(dest="command")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``landgui ARGV`` (the console entry point); returns the exit status: 0 done, 2 an error
    said in one line (logged with its traceback), 130 interrupted, or the command's own."""
    multiprocessing.freeze_support()  # the GUI's training process in a PyInstaller bundle
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (already said in one line)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if not getattr(args, "func", None):
        args.func = gui.run
        args.paths = []

    for stream in (sys.stdout, sys.stderr):  # a latin-1 file name printed as sc\ufffdne.png, never a crash
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors=SHOWN_ERRORS)  # type: ignore[union-attr]
    log_path = logs.setup()
    logs.log.info("landgui %s %s", __version__, " ".join(sys.argv[1:] if argv is None else argv))
    try:
        with logs.native_stderr_to_log():  # TensorFlow's, LiteRT's and GDAL's own lines: to a log
            return int(args.func(args) or 0)
    except LandguiError as exc:
        return fail(one_line(str(exc)), exc)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"{where}{why(exc)}", exc)
    except KeyboardInterrupt:
        print("landgui: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line for the user, the traceback in the log
        details = f"; details in {log_path}" if log_path else ""
        return fail(f"internal error ({type(exc).__name__}: {one_line(str(exc))[:200]}){details}", exc)


if __name__ == "__main__":
    sys.exit(main())
