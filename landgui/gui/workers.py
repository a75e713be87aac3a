"""One QThread per long job, wrapping a core function's progress callback and stop flag."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

from landgui.core.errors import Cancelled, LandguiError


class JobWorker(QThread):
    """Runs ``fn(progress=..., should_stop=...)`` off the GUI thread.

    Signals: ``progress(stage, done, total)``, ``finished_ok(result)``, ``failed(message, details)``,
    ``cancelled()``. ``requestInterruption()`` sets the stop flag the core checks.
    """

    progress = Signal(str, int, int)
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
            self.failed.emit(str(exc), "")
        except MemoryError:
            self.failed.emit("out of memory: try a smaller batch size or image size", traceback.format_exc())
        except Exception as exc:  # noqa: BLE001 - every failure must reach the user
            self.failed.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        else:
            self.finished_ok.emit(result)

    def _emit_progress(self, stage: str, done: int, total: int, *extra: Any) -> None:
        self.progress.emit(stage, int(done), int(total))
