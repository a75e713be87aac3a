"""One training stage fitted by Keras: progress per batch, a record and a checkpoint per epoch,
early stopping, and the stop flag checked after every batch.

:class:`EpochRecorder` holds the stage's bookkeeping as plain Python (Keras stays unimported until
a stage is fitted); :meth:`EpochRecorder.keras_callback` hands its hooks to Keras as a
``keras.callbacks.LambdaCallback``. :func:`fit_stage` fits a model with it, halving the learning
rate after two epochs without improvement and writing TensorBoard logs.

Records sent to ``progress``: ``{"kind": "batch", "stage", "epoch", "epochs", "batch", "batches",
"metrics", "elapsed", "eta", "done"}`` after every batch and ``{"kind": "epoch", "stage", "epoch",
"epochs", "record", "elapsed"}`` after every completed epoch, whose ``record`` is the history.json
entry: stage, epoch (of the run), loss, accuracy, val_loss, val_accuracy, lr, seconds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from landgui.core.base.errors import LandguiError

if TYPE_CHECKING:
    from landgui.core.training.session import TrainingSession


def _clean(logs: Any) -> dict:
    return {k: float(np.asarray(v)) for k, v in (logs or {}).items() if np.ndim(np.asarray(v)) == 0}


class EpochRecorder:
    """The hooks of one stage (``stage`` 1 or 2, shown as ``stage_name``) of ``epochs`` epochs,
    from ``first_epoch`` on (a resumed stage). ``save_model`` is the model saved as model.keras
    when an epoch improves on the best val_loss (the whole model also when the head is fitted)."""

    def __init__(
        self, session: TrainingSession, stage: int, stage_name: str, epochs: int, first_epoch: int, save_model: Any
    ) -> None:
        self.session, self.stage, self.stage_name = session, stage, stage_name
        self.epochs, self.first_epoch, self.save_model = epochs, first_epoch, save_model
        self._epoch = first_epoch
        self._last_batch = 0
        self._t_epoch = time.monotonic()
        self._keras: Any = None

    def keras_callback(self) -> Any:
        """These hooks as a Keras callback (imports Keras); Keras gives it the model and the steps."""
        import keras

        self._keras = keras.callbacks.LambdaCallback(
            on_epoch_begin=self.on_epoch_begin,
            on_train_batch_end=self.on_train_batch_end,
            on_epoch_end=self.on_epoch_end,
        )
        return self._keras

    def _steps(self) -> int:
        return (self._keras.params or {}).get("steps") or 0

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        """Start the epoch's clock."""
        self._epoch = epoch
        self._last_batch = 0
        self._t_epoch = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        """Report the batch (ETA of the stage) and stop the fit when the caller asks to."""
        s, total = self.session, self._steps()
        self._last_batch = batch + 1
        elapsed = time.monotonic() - self._t_epoch
        done_in_stage = (self._epoch - self.first_epoch) * total + batch + 1 if total else batch + 1
        left = (self.epochs - self._epoch) * total - (batch + 1) if total else 0
        rate = elapsed / (batch + 1)
        s.progress(
            {
                "kind": "batch",
                "stage": self.stage_name,
                "epoch": self._epoch + 1,
                "epochs": self.epochs,
                "batch": batch + 1,
                "batches": total,
                "metrics": _clean(logs),
                "elapsed": s.elapsed(),
                "eta": max(0.0, left * rate),
                "done": done_in_stage,
            }
        )
        if s.should_stop():
            s.stopped = True
            self._keras.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        """Record a completed epoch, keep the best model, checkpoint, and stop early after
        ``patience`` epochs without improvement. An interrupted epoch is neither recorded nor kept."""
        s, book = self.session, self.session.record
        model = self._keras.model
        logs = _clean(logs)
        if s.stopped and self._last_batch < self._steps():
            return
        book.ensure_space(model)
        rec = {
            "stage": self.stage_name,
            "epoch": len(book.history) + 1,
            "loss": logs.get("loss"),
            "accuracy": logs.get("accuracy"),
            "val_loss": logs.get("val_loss"),
            "val_accuracy": logs.get("val_accuracy"),
            "lr": float(np.asarray(model.optimizer.learning_rate)),
            "seconds": round(time.monotonic() - self._t_epoch, 3),
        }
        if s.config.get("validated_on") == "train":  # no validation images: val_* are on the training images
            rec["validated_on"] = "train"
        book.history.append(rec)
        val = rec["val_loss"] if rec["val_loss"] is not None else rec["loss"]
        if val is not None and val < book.best_val_loss:
            book.best_val_loss = val
            book.state["wait"] = 0
            book.save_best_weights(model)
            book.state["best_stage"] = self.stage
            book.save_model(self.save_model)
        else:
            book.state["wait"] = book.state.get("wait", 0) + 1
        book.save(model, self.stage, epoch + 1)
        s.status.set("running", stage=self.stage_name)
        s.progress(
            {
                "kind": "epoch",
                "stage": self.stage_name,
                "epoch": epoch + 1,
                "epochs": self.epochs,
                "record": rec,
                "elapsed": s.elapsed(),
            }
        )
        if book.state["wait"] >= s.params.patience:
            model.stop_training = True


def fit_stage(
    session: TrainingSession,
    model: Any,
    train: Any,
    val: Any,
    stage: int,
    stage_name: str,
    epochs: int,
    save_model: Any,
) -> None:
    """Fit a compiled ``model`` for the stage's remaining epochs (none if the stage had finished or
    stopped early before a resume). Out of memory is a one-line error naming a smaller batch."""
    import keras
    import tensorflow as tf

    state, patience = session.record.state, session.params.patience
    first = state.get("stage_epoch", 0) if state.get("stage") == stage else 0
    if first >= epochs or (state.get("stage") == stage and state.get("wait", 0) >= patience):
        return
    if state.get("stage") != stage:
        state["wait"] = 0
    callbacks = [
        EpochRecorder(session, stage, stage_name, epochs, first, save_model).keras_callback(),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-6),
        keras.callbacks.TensorBoard(log_dir=str(session.run / "logs" / stage_name), write_graph=False),
    ]
    try:
        model.fit(train, validation_data=val, epochs=epochs, initial_epoch=first, verbose=0, callbacks=callbacks)
    except tf.errors.ResourceExhaustedError:
        batch = session.params.batch_size
        raise LandguiError(f"out of memory at batch size {batch}; try --batch-size {max(1, batch // 2)}") from None
