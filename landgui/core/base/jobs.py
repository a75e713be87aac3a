"""How a long job ends, decided in one place, and running a job in a child process.

Every job of the core is called as ``fn(..., progress=..., should_stop=...)`` and ends in one of
three ways, an :class:`Outcome`: done (with its result), cancelled (it raised
:class:`~landgui.core.base.errors.Cancelled` because ``should_stop()`` said so) or failed (a
one-line message for the user, and the traceback as details where the failure is a bug or out of
memory). :func:`run_job` runs a job and classifies how it ended; :func:`failure` is the one
classifier of an exception, and logs it (``landgui.log``). The app's job threads
(``landgui.gui.jobs``) and the child process below both use them, so a failure reads the same
whichever way the job ran.

:func:`child_main` runs a job in a child process, used by the GUI for TensorFlow-heavy jobs
(training): TensorFlow's import, graph tracing and Keras's per-step Python hold the GIL for
hundreds of milliseconds at a time, which froze the window when training ran in a thread
(measured: 450-620 ms gaps). In a child process the GUI's interpreter never waits for them.
Messages on the queue::

    ("progress", (stage, done, total))   ("record", dict)   ("outcome", Outcome)
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from landgui.core.base import logs
from landgui.core.base.errors import Cancelled, LandguiError

DONE, CANCELLED, FAILED = "done", "cancelled", "failed"
OUT_OF_MEMORY = "out of memory: try a smaller batch size or image size"


@dataclass(frozen=True)
class Outcome:
    """How a job ended: ``status`` (:data:`DONE`, :data:`CANCELLED` or :data:`FAILED`), its
    ``result`` when done, and when failed a one-line ``message`` and ``details`` (a traceback, or
    empty for a problem the user can fix)."""

    status: str
    result: Any = None
    message: str = ""
    details: str = ""


def failure(exc: BaseException) -> Outcome:
    """The outcome of a job that raised ``exc``: cancelled, or failed with a one-line message
    (a :class:`LandguiError`'s own words; out of memory with advice; a bug as ``Type: message``
    with its traceback). Failures are logged with their traceback."""
    if isinstance(exc, Cancelled):
        return Outcome(CANCELLED)
    if isinstance(exc, LandguiError):
        out = Outcome(FAILED, message=str(exc))
    elif isinstance(exc, MemoryError):
        out = Outcome(FAILED, message=OUT_OF_MEMORY, details=_traceback(exc))
    else:
        out = Outcome(FAILED, message=f"{type(exc).__name__}: {exc}", details=_traceback(exc))
    logs.error_seen(out.message, exc)
    return out


def run_job(fn: Callable[..., Any], **kwargs: Any) -> Outcome:
    """Call ``fn(**kwargs)`` and say how it ended (:func:`failure` for an exception)."""
    try:
        result = fn(**kwargs)
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the user
        return failure(exc)
    return Outcome(DONE, result)


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def child_main(target: str, kwargs: dict, q: Any, stop: Any, records: bool = False) -> None:
    """Entry point of the child process: ``target`` is ``"package.module:function"``, called with
    ``kwargs``, ``progress`` and ``should_stop`` (and, with ``records``, ``on_record``); its
    progress, records and then its :class:`Outcome` are put on ``q`` (all picklable)."""
    import os

    try:
        os.nice(10)  # the window keeps priority over the job on a busy CPU
    except (AttributeError, OSError):
        pass

    logs.setup()
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)

    def progress(stage: str, done: int, total: int) -> None:
        q.put(("progress", (stage, done, total)))

    callbacks: dict[str, Any] = {"progress": progress, "should_stop": stop.is_set}
    if records:
        callbacks["on_record"] = lambda record: q.put(("record", record))
    q.put(("outcome", run_job(fn, **kwargs, **callbacks)))
