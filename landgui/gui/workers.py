"""One QThread per long job, wrapping a core function's progress callback and stop flag."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from landgui.core.errors import Cancelled, LandguiError
from landgui.core.logs import error_seen


class JobWorker(QThread):
    """Runs ``fn(progress=..., should_stop=...)`` off the GUI thread.

    Signals: ``progress(stage, done, total)`` (or ``record(dict)`` for cores that report records,
    like training), ``finished_ok(result)``, ``failed(message, details)``, ``cancelled()``.
    ``requestInterruption()`` sets the stop flag the core checks.
    """

    progress = Signal(str, int, int)
    record = Signal(dict)
    finished_ok = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    def __init__(self, fn: Callable[..., Any], parent=None) -> None:
        super().__init__(parent)
        self._fn = fn

    def run(self) -> None:  # noqa: D401 - Qt override
        try:
            result = self._fn(progress=self._emit_progress, should_stop=self.isInterruptionRequested)
        except Cancelled:
            self.cancelled.emit()
        except LandguiError as exc:
            error_seen(str(exc), exc)
            self.failed.emit(str(exc), "")
        except MemoryError as exc:
            error_seen("out of memory", exc)
            self.failed.emit("out of memory: try a smaller batch size or image size", traceback.format_exc())
        except Exception as exc:  # noqa: BLE001 - every failure must reach the user
            error_seen(f"{type(exc).__name__}: {exc}", exc)
            self.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            self.finished_ok.emit(result)

    def _emit_progress(self, stage: Any, done: int = 0, total: int = 0, *extra: Any) -> None:
        if isinstance(stage, dict):
            self.record.emit(stage)
        else:
            self.progress.emit(stage, int(done), int(total))


class ProcessJobWorker(JobWorker):
    """Like :class:`JobWorker`, but the job runs in a child process (``landgui.core.jobs``).

    ``target`` is ``"module:function"``; the function is called with ``kwargs`` plus
    ``progress`` and ``should_stop``. Its result must be picklable.
    """

    def __init__(self, target: str, kwargs: dict, parent=None) -> None:
        super().__init__(lambda **_: None, parent)
        self._target, self._kwargs = target, kwargs

    def run(self) -> None:  # noqa: D401 - Qt override
        import multiprocessing as mp
        import queue as queue_mod

        from landgui.core.jobs import child_main

        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        stop = ctx.Event()
        proc = ctx.Process(target=child_main, args=(self._target, self._kwargs, q, stop), daemon=True)
        proc.start()
        outcome = None
        while outcome is None:
            if self.isInterruptionRequested():
                stop.set()
            try:
                msg = q.get(timeout=0.05)
            except queue_mod.Empty:
                if not proc.is_alive():
                    outcome = ("failed", f"the job's process ended unexpectedly (exit code {proc.exitcode})", "")
                continue
            if msg[0] == "progress":
                self._emit_progress(*msg[1])
            else:
                outcome = msg
        proc.join(timeout=30)
        if outcome[0] == "done":
            self.finished_ok.emit(outcome[1])
        elif outcome[0] == "cancelled":
            self.cancelled.emit()
        else:
            self.failed.emit(outcome[1], outcome[2])
