r"""Log files for bug reports: every error a user saw as one line is logged with its traceback.

* ``landgui.log`` in the user's state folder (``$XDG_STATE_HOME/landgui``, else
  ``~/.local/state/landgui``; ``%LOCALAPPDATA%\landgui`` on Windows) for every command and the app;
* ``landgui.log`` in a run folder while that run trains (:func:`run_log`).

Both rotate (1 MB, 3 old files kept). A folder that cannot be written only loses the log.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from landgui.core.base.paths import state_dir

LOGGER = "landgui"
NATIVE_LOG = "native.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(LOGGER)
log.addHandler(logging.NullHandler())
log.propagate = False  # our records go to our files, not to a root handler that TensorFlow set up


def _handler(path: Path) -> logging.Handler | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # errors: a file name that is not UTF-8 (surrogate escapes) is logged as \udce9, never a
        # "Logging error" traceback on the user's terminal
        h = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", errors="backslashreplace"
        )
    except OSError:
        return None
    h.setFormatter(logging.Formatter(_FORMAT))
    return h


def user_log_path() -> Path:
    """Where the user's ``landgui.log`` goes: in the state folder (:func:`~landgui.core.base.paths.state_dir`)."""
    return state_dir() / "landgui.log"


_user_handler: logging.Handler | None = None
_quiet_root = logging.NullHandler()  # the root logger has a handler even when no log can be written

#: What TensorFlow's C++ side prints (2: errors only; its startup INFO lines and the oneDNN and
#: CPU-feature notes would precede a one-line error). An explicit setting by the user wins.
TF_CPP_MIN_LOG_LEVEL = "2"


def quiet_libraries() -> None:
    """Keep the libraries' chatter off the terminal, in ``landgui.log`` instead: set before
    TensorFlow loads, so that an error path prints one line and nothing before it.

    * TensorFlow's C++ log (``TF_CPP_MIN_LOG_LEVEL``, unless the user set it);
    * Python warnings (Keras, NumPy, rasterio's ``NotGeoreferencedWarning``) become log records;
    * the root logger gets a handler: TensorFlow then adds no stderr handler of its own, and the
      records of ``tensorflow``, ``absl``, ``keras`` and ``rasterio`` (GDAL's CPLE warnings) go to
      the root's handler, the user's log, instead of Python's last-resort stderr handler."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_CPP_MIN_LOG_LEVEL)
    logging.captureWarnings(True)
    root = logging.getLogger()
    if _quiet_root not in root.handlers:
        root.addHandler(_quiet_root)


def setup() -> Path | None:
    """Log to the user's ``landgui.log`` (ours and, from WARNING, the libraries' records, see
    :func:`quiet_libraries`); returns its path, None if it cannot be written. Calling it again is
    cheap (and follows a changed state folder, as in tests)."""
    global _user_handler
    quiet_libraries()
    path = user_log_path()
    root = logging.getLogger()
    if _user_handler is not None:
        if Path(_user_handler.baseFilename) == path.absolute():  # type: ignore[attr-defined]
            return path
        log.removeHandler(_user_handler)
        root.removeHandler(_user_handler)
        _user_handler.close()
        _user_handler = None
    h = _handler(path)
    if h is None:
        return None
    _user_handler = h
    log.addHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False
    root.addHandler(h)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    return path


@contextlib.contextmanager
def run_log(run_dir: str | Path) -> Iterator[None]:
    """Also log to ``RUN_DIR/landgui.log`` inside the block (a training run)."""
    h = _handler(Path(run_dir) / "landgui.log")
    if h is None:
        yield
        return
    log.addHandler(h)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(h)
        h.close()


def native_log_path() -> Path:
    """Where what C/C++ libraries print on a command's stderr goes (:func:`native_stderr_to_log`)."""
    return state_dir() / NATIVE_LOG


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """Inside the block, file descriptor 2 (where TensorFlow's absl log, LiteRT's "Created
    TensorFlow Lite XNNPACK delegate" and GDAL print from C/C++) writes to ``native.log`` in the
    state folder, while Python's ``sys.stderr`` (landgui's errors, warnings and progress bar)
    stays on the terminal. TensorFlow 2.21 prints its start-up lines before it reads
    ``TF_CPP_MIN_LOG_LEVEL``, so the variable alone cannot keep them off an error path.

    Where ``sys.stderr`` writes elsewhere (pytest's capture), only file descriptor 2 moves;
    where it cannot (no descriptor 2, as in the app without a console) or the log cannot be
    opened, nothing changes."""
    try:
        os.fstat(2)
        fd = _open_native_log()
    except OSError:
        fd = None
    if fd is None:
        yield
        return
    try:
        on_fd2 = sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        on_fd2 = False
    old = sys.stderr
    if old is not None:
        old.flush()
    saved = os.dup(2)
    if on_fd2:  # Python's stderr keeps the terminal through a copy of descriptor 2
        sys.stderr = open(  # noqa: SIM115 - closed below, after fd 2 is restored
            saved, "w", buffering=1, encoding=old.encoding, errors=old.errors, closefd=False
        )
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield
    finally:
        if on_fd2:
            sys.stderr.flush()
        os.dup2(saved, 2)
        if on_fd2:
            sys.stderr.close()
            sys.stderr = old
        os.close(saved)


def _open_native_log() -> int | None:
    path = native_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > MAX_BYTES:  # keep it small: start afresh
            path.unlink()
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return None


def error_seen(message: str, exc: BaseException | None = None) -> None:
    """Record an error the user was shown (as one line), with the traceback behind it."""
    if exc is not None:
        log.error("%s", message, exc_info=(type(exc), exc, exc.__traceback__))
    else:
        log.error("%s", message)
