"""One process training one run: what the recipes, the epoch callback and the trainer share.

The core reports through ``progress(record: dict)`` and checks ``should_stop()`` every batch; no
Qt. Records are ``{"kind": "prepare", "stage", "done", "total", "elapsed"}`` (loading, features),
``{"kind": "batch", ...}`` and ``{"kind": "epoch", ...}`` (:mod:`landgui.core.training.callbacks`),
and ``{"kind": "note", "message"}`` for things to tell the user once (e.g. ``devices="all"`` on a
machine without a GPU).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from landgui.core.base.types import RecordFn, StopFn
from landgui.core.params import ModelSpec, TrainParams
from landgui.core.runs.folder import RunFolder
from landgui.core.training.checkpoints import Checkpoints
from landgui.core.training.devices import DevicePlan
from landgui.core.training.rundir import RunStatus


class TrainingSession:
    """A run being trained by this process: its folder, settings (from config.json), devices,
    record (:class:`Checkpoints`), status.json (:class:`RunStatus`) and the caller's hooks."""

    def __init__(
        self, run_dir: Path, config: dict, progress: RecordFn | None, should_stop: StopFn | None, plan: DevicePlan
    ) -> None:
        self.run = run_dir
        self.folder = RunFolder(run_dir)
        self.config = config
        self.spec = ModelSpec.from_dict(config["model"])
        self.params = TrainParams.from_dict(config["params"])
        self.plan = plan
        self.record = Checkpoints(self.folder)
        self.status = RunStatus(self.folder, plan, self.record)
        self._user_progress = progress or (lambda r: None)
        self.should_stop = should_stop or (lambda: False)
        self.stopped = False  # set when should_stop() ended a stage early
        self.t0 = time.monotonic()
        self.strategy: Any = None  # the tf.distribute strategy, created when training starts

    def elapsed(self) -> float:
        """Seconds since this process started on the run."""
        return time.monotonic() - self.t0

    def scope(self) -> contextlib.AbstractContextManager:
        """The strategy's scope (models built, compiled, restored and fitted in it), or no-op for one device."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def progress(self, record: dict) -> None:
        """Report to the caller, and keep the run's heartbeat fresh (at most every few seconds)."""
        self.status.beat()
        self._user_progress(record)

    def stage_progress(self, stage: str, done: int, total: int) -> None:
        """A ``(stage, done, total)`` step of preparation (loading, features) as a "prepare" record."""
        self.progress({"kind": "prepare", "stage": stage, "done": done, "total": total, "elapsed": self.elapsed()})

    def note(self, message: str) -> None:
        """Something to tell the user once."""
        self.progress({"kind": "note", "message": message})
