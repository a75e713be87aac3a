"""The callback types every long job of the core takes: one progress signature, one stop flag.

A job reports ``progress(stage, done, total)``: a short stage name ("classifying", "scanning",
"exporting"), the units done and the units in that stage (``done == total`` closes the stage). It
asks ``should_stop()`` between units of work and raises
:class:`~landgui.core.base.errors.Cancelled` when it returns True. The CLI draws these with
:class:`~landgui.core.base.progress.TerminalProgress`, the app relays them through a Qt signal
(``landgui.gui.jobs``); neither ever sees another shape.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: where a long job is (see the module doc)."""

StopFn = Callable[[], bool]
"""``should_stop()``: True when the job must stop (it then raises ``Cancelled``)."""

RecordFn = Callable[[dict], None]
"""``on_record(record)``: a job's structured log besides its progress (training's per-batch
metrics and per-epoch history, as ``{"kind": "batch" | "epoch" | "prepare" | "note", ...}``)."""


def no_progress(stage: str, done: int, total: int) -> None:
    """A :data:`ProgressFn` that reports nowhere (for a job called without one)."""


def never_stop() -> bool:
    """A :data:`StopFn` that never asks to stop."""
    return False
