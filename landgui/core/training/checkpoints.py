"""What a run has learnt so far, kept on disk after every epoch: for ``--resume`` and for the best model.

Files of the run folder (see :mod:`landgui.core.training.trainer`)::

    history.json                 one record per completed epoch
    model.keras                  the best model so far by val_loss (always loadable)
    checkpoint/state.json        stage, epoch within the stage, the last checkpoint's name, best
                                 val_loss, learning rate, epochs without improvement
    checkpoint/epoch-NNNN.*      the last completed epoch: weights and optimizer state
    checkpoint/best.weights.h5   the best weights of the stage, restored when it ends
    checkpoint/stage1.weights.h5 the head stage's result, the start of the fine-tune stage
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.runs.folder import RunFolder


def finite(x: Any) -> float | None:
    """``x`` as a float, or None when it is missing or not finite (JSON has no infinity)."""
    return None if x is None or not np.isfinite(x) else float(x)


def _read_state(p: Path) -> dict:
    """The checkpoint's state.json (the trainer's own bookkeeping for --resume), {} if missing or damaged."""
    try:
        state = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def check_checkpoint(folder: RunFolder) -> None:
    """Refuse to resume a run whose epochs are on record but whose checkpoint cannot bring them
    back (checkpoint/state.json missing or damaged, or its weights gone): resuming would start
    again from untrained weights and append to the history (issue 23, item 11)."""
    if not folder.history():
        return  # stopped before the first epoch: resuming starts it, as it should
    ck = Path(folder) / "checkpoint"
    state = _read_state(ck / "state.json")
    last = state.get("last")
    if not isinstance(last, str) or not (ck / f"{last}.weights.h5").is_file():
        raise LandguiError(
            f"{Path(folder)}: its checkpoint (checkpoint/state.json and the last epoch's weights) is missing "
            "or damaged, so it cannot be resumed; start a new run (--overwrite) or train into another --out"
        )


def _replace(save: Callable[[Path], Any], tmp: Path, dest: Path) -> None:
    """``save(tmp)``, then ``tmp`` renamed to ``dest``; never a partial ``dest``, no ``tmp`` left.
    (Keras wants its own suffixes, ``.keras`` and ``.weights.h5``, so the names are given)."""
    try:
        save(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


class Checkpoints:
    """A run's training record (``history``, ``state``, ``best_val_loss``) and its files (module doc)."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self.run = Path(folder)
        self.dir = self.run / "checkpoint"
        self.history: list[dict] = folder.history()
        self.state: dict = _read_state(self.dir / "state.json")
        best = self.state.get("best_val_loss")
        self.best_val_loss: float = float("inf") if best is None else best

    def best_epoch(self) -> dict | None:
        """The history record with the lowest val_loss (None before the first validated epoch)."""
        return min(
            (h for h in self.history if h.get("val_loss") is not None), key=lambda h: h["val_loss"], default=None
        )

    def ensure_space(self, model: Any) -> None:
        """Refuse to write a checkpoint that will not fit: HDF5 fails with a segfault on a full
        disk (measured: exit 139 and a damaged weights file), so the free space is checked first."""
        optimizer = getattr(model, "optimizer", None)  # a model assembled for saving has none
        n = sum(int(np.prod(w.shape)) for w in model.weights) + sum(
            int(np.prod(v.shape)) for v in getattr(optimizer, "variables", None) or []
        )
        need = 4 * n * 3 + (2 << 20)  # best weights, epoch weights + optimizer state, model.keras; margin
        try:
            free = shutil.disk_usage(self.run).free
        except OSError:
            return
        if free < need:
            raise LandguiError(
                f"the disk is full: {free / 2**20:.1f} MB free in {self.run}, a checkpoint needs about "
                f"{need / 2**20:.1f} MB; free some space, then continue with landgui train --resume {self.run}"
            )

    def save_model(self, model: Any) -> None:
        """model.keras, replaced atomically (a reader never sees half a file)."""
        self.ensure_space(model)
        _replace(model.save, self.run / "model.tmp.keras", self.run / "model.keras")

    def save_best_weights(self, model: Any) -> None:
        """The stage's best weights so far (best.weights.h5), replaced atomically."""
        _replace(model.save_weights, self.dir / ".best.partial.weights.h5", self.dir / "best.weights.h5")

    def restore_best(self, model: Any) -> None:
        """Load the stage's best weights, if an epoch improved on the start."""
        best = self.dir / "best.weights.h5"
        if best.exists():
            model.load_weights(best)

    def save(self, model: Any, stage: int, stage_epoch: int) -> None:
        """Weights + optimizer state of the last completed epoch, then state.json pointing at them."""
        self.dir.mkdir(exist_ok=True)
        name = f"epoch-{len(self.history):04d}"
        model.save_weights(self.dir / f"{name}.weights.h5")
        opt = {f"v{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
        np.savez(self.dir / f"{name}.optimizer.npz", **opt)  # type: ignore[arg-type]
        previous = self.state.get("last")
        self.state.update(
            {
                "stage": stage,
                "stage_epoch": stage_epoch,
                "last": name,
                "best_val_loss": finite(self.best_val_loss),
                "lr": float(np.asarray(model.optimizer.learning_rate)),
                "wait": self.state.get("wait", 0),
            }
        )
        write_json_atomic(self.dir / "state.json", self.state)
        self.folder.write_history(self.history)
        if previous and previous != name:
            for suffix in (".weights.h5", ".optimizer.npz"):
                (self.dir / f"{previous}{suffix}").unlink(missing_ok=True)

    def restore(self, model: Any, lr: float) -> None:
        """Weights and optimizer state of the last checkpoint into a compiled ``model``; the
        learning rate as it was then (``lr`` if the state does not say)."""
        name = self.state["last"]
        model.load_weights(self.dir / f"{name}.weights.h5")
        model.optimizer.build(model.trainable_variables)
        path = self.dir / f"{name}.optimizer.npz"
        if path.exists():
            with np.load(path) as z:
                vals = [z[f"v{i}"] for i in range(len(z.files))]
            if len(vals) == len(model.optimizer.variables):
                for var, val in zip(model.optimizer.variables, vals, strict=True):
                    if tuple(var.shape) == val.shape:
                        var.assign(val)
        model.optimizer.learning_rate.assign(self.state.get("lr", lr))

    def resume_into(self, model: Any, lr: float) -> None:
        """:meth:`restore` when the stage has a checkpoint to continue from (a resumed run)."""
        if self.state.get("last"):
            self.restore(model, lr)

    def start_fine_tune(self, model: Any, first_time: bool) -> None:
        """The fine-tune stage starts from the head stage's result: kept now (``first_time``,
        stage 2 begins with its own checkpoints), or loaded again on resume."""
        if first_time:
            self.state.pop("last", None)  # stage-1 (head) checkpoints do not fit the full model
            self.state.update({"stage": 2, "stage_epoch": 0, "wait": 0})
            _replace(model.save_weights, self.dir / ".stage1.partial.weights.h5", self.dir / "stage1.weights.h5")
        else:
            self.load_stage1(model)

    def load_stage1(self, model: Any) -> None:
        """The head stage's weights (fine-tuning never beat them, or a resumed fine-tune)."""
        model.load_weights(self.dir / "stage1.weights.h5")
