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
from collections.abc import Iterator
from pathlib import Path

from landgui.core.base.paths import state_dir

LOGGER = "landgui"
MAX_BYTES = 1_000_000
BACKUPS = 3
_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

log = logging.getLogger(LOGGER)
log.addHandler(logging.NullHandler())
log.propagate = False  # our records go to our files, not to a root handler that TensorFlow set up


def _handler(path: Path) -> logging.Handler | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        h = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        return None
    h.setFormatter(logging.Formatter(_FORMAT))
    return h


def user_log_path() -> Path:
    """Where the user's ``landgui.log`` goes: in the state folder (:func:`~landgui.core.base.paths.state_dir`)."""
    return state_dir() / "landgui.log"


_user_handler: logging.Handler | None = None


def setup() -> Path | None:
    """Log to the user's ``landgui.log``; returns its path, None if it cannot be written.
    Calling it again is cheap (and follows a changed state folder, as in tests)."""
    global _user_handler
    path = user_log_path()
    if _user_handler is not None:
        if Path(_user_handler.baseFilename) == path.absolute():  # type: ignore[attr-defined]
            return path
        log.removeHandler(_user_handler)
        _user_handler.close()
        _user_handler = None
    h = _handler(path)
    if h is None:
        return None
    _user_handler = h
    log.addHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False
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


def error_seen(message: str, exc: BaseException | None = None) -> None:
    """Record an error the user was shown (as one line), with the traceback behind it."""
    if exc is not None:
        log.error("%s", message, exc_info=(type(exc), exc, exc.__traceback__))
    else:
        log.error("%s", message)
