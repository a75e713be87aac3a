"""A run folder made ready for training, its config.json, and its status.json kept fresh.

:func:`prepare_run_dir` refuses what must not be touched (another run without ``--overwrite``, a
file in the way, a read-only place) before anything is written; :func:`new_run_config` is what
reproduces the run; :class:`RunStatus` writes status.json with who writes it (pid, host) and a
heartbeat, so that a run whose process died is shown as interrupted rather than running forever.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from landgui import __version__
from landgui.core.base.errors import LandguiError
from landgui.core.data.split import load_split, split_hash
from landgui.core.params import ModelSpec, TrainParams
from landgui.core.runs.folder import HEARTBEAT_EVERY_S, RUN_SCHEMA_VERSION, STATUS_OWN_KEYS, RunFolder
from landgui.core.runs.sensor import SENSOR_KEY, contract_from_split
from landgui.core.training.checkpoints import Checkpoints, finite
from landgui.core.training.devices import DevicePlan


def prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse an existing run unless overwrite; refuse an unwritable folder."""
    if run_dir.exists() and not run_dir.is_dir():
        raise LandguiError(f"{run_dir} exists and is not a folder")
    folder = RunFolder(run_dir)
    if folder.is_run:
        if not overwrite:
            raise LandguiError(
                f"{run_dir} already holds a run; use --overwrite to replace it or --resume to continue it"
            )
        if folder.status() == "running":  # a live writer: its files would mix with ours
            st = folder.status_record()
            raise LandguiError(
                f"{run_dir} is still being trained (pid {st.get('pid')} on {st.get('host')}); stop it first, or wait"
            )
        folder.remove_own_files()  # only landgui's own files are removed
    parent = run_dir if run_dir.exists() else run_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise LandguiError(f"cannot write to {parent} (read-only)")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".landgui-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise LandguiError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"landgui": __version__, "tensorflow": tf.__version__, "keras": keras.__version__}


def new_run_config(split_path: str | Path, spec: ModelSpec, params: TrainParams) -> dict:
    """config.json of a new run: everything to reproduce it (versions, split path and hash, model,
    params) and the model's sensor contract from the split (:mod:`landgui.core.runs.sensor`)."""
    manifest = load_split(split_path)
    return {
        "run_schema_version": RUN_SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(),
        "landgui_version": __version__,
        "split": manifest["_path"],
        "split_hash": split_hash(manifest),
        "model": spec.to_dict(),
        "params": params.to_dict(),
        SENSOR_KEY: contract_from_split(manifest, spec.image_size).to_dict(),  # the model's sensor contract
    }


class RunStatus:
    """status.json of a run in training: its state, epochs done and best val_loss (from the
    ``record``), the devices, and who writes it (pid, host) with a heartbeat."""

    def __init__(self, folder: RunFolder, plan: DevicePlan, record: Checkpoints) -> None:
        self.folder, self.plan, self.record = folder, plan, record
        self.current: dict = {}
        self._last_write = 0.0

    def set(self, status: str, **extra: Any) -> None:
        """Write status.json: ``status`` ("running", "stopped", "completed", "failed") and ``extra``
        (stage, message, best_val_accuracy, ...)."""
        self.current = {
            "status": status,
            "epochs_done": len(self.record.history),
            "best_val_loss": finite(self.record.best_val_loss),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "heartbeat": time.time(),
            "devices": self.plan.devices,
            "strategy": self.plan.strategy,
            **extra,
        }
        self._last_write = time.monotonic()
        self.folder.write_status(self.current)

    def beat(self) -> None:
        """Write status.json again, unchanged but for the heartbeat, when the last write is older
        than ``HEARTBEAT_EVERY_S`` and the run is running."""
        if time.monotonic() - self._last_write > HEARTBEAT_EVERY_S and self.current.get("status") == "running":
            self.set("running", **{k: v for k, v in self.current.items() if k not in STATUS_OWN_KEYS})
