"""The Training tab's live loss and accuracy curves (matplotlib's object API, drawn with
``draw_idle`` and blitting; no pyplot)."""

from __future__ import annotations

import time

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import QTimer

from landgui.core.runs.listing import TAUGHT_STAGE


class CurvesCanvas(FigureCanvasQTAgg):
    """Loss and accuracy for train and validation; batch-level train curve within the epoch.

    Drawing the axes costs 150+ ms of GUI-thread time on a 2-core machine (tick labels are most
    of it), so within an epoch only the batch curve is redrawn, by blitting it over a saved
    background (a few ms); the full figure is redrawn at most once a second, at epoch ends.
    """

    FULL_REDRAW_INTERVAL = 1.0

    def __init__(self) -> None:
        self.figure = Figure(figsize=(6, 4), dpi=80)
        self.figure.subplots_adjust(left=0.1, right=0.98, top=0.97, bottom=0.09, hspace=0.18)
        super().__init__(self.figure)
        self.ax_loss = self.figure.add_subplot(211)
        self.ax_acc = self.figure.add_subplot(212)
        self.lines = {}
        for ax, key in ((self.ax_loss, "loss"), (self.ax_acc, "accuracy")):
            self.lines[key] = (
                ax.plot([], [], "o-", color="#0072B2", label=f"train {key}")[0],
                ax.plot([], [], "s-", color="#D55E00", label=f"val {key}")[0],
                ax.plot([], [], "-", color="#56B4E9", alpha=0.8, label="train (this epoch)", animated=True)[0],
            )
            ax.set_ylabel(key)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="center right")
        self.ax_acc.set_xlabel("epoch")
        # a run taught on corrections records losses only: its accuracy axes say so, not -0.04..0.04
        self.acc_note = self.ax_acc.text(
            0.5, 0.5, "", transform=self.ax_acc.transAxes, ha="center", va="center", color="#666666", fontsize=10
        )
        self.empty_text = self.figure.text(
            0.5,
            0.5,
            "Choose a split and press Start:\nthe loss and accuracy curves appear here.\n"
            "Select a past run to see its curves.",
            ha="center",
            va="center",
            color="#666666",
            fontsize=12,
        )
        self._background = None
        self._last_full = 0.0
        self._pending = False
        self.mpl_connect("draw_event", self._on_draw)
        self.clear_data()

    def clear_data(self) -> None:
        self.epochs: list[dict] = []
        self.batch_x: list[float] = []
        self.batch_loss: list[float] = []
        self.batch_acc: list[float] = []
        self.redraw()

    def set_history(self, history: list[dict]) -> None:
        self.epochs = list(history)
        self.batch_x, self.batch_loss, self.batch_acc = [], [], []
        self.redraw()

    def add_batch(self, rec: dict) -> None:
        if not self.ax_loss.get_visible():
            self.redraw()  # the first batch: show the axes
        total = max(rec.get("batches") or 1, 1)
        self.batch_x.append(len(self.epochs) + rec["batch"] / total)
        self.batch_loss.append(rec["metrics"].get("loss", float("nan")))
        self.batch_acc.append(rec["metrics"].get("accuracy", float("nan")))

    def add_epoch(self, rec: dict) -> None:
        self.epochs.append(rec)
        self.batch_x, self.batch_loss, self.batch_acc = [], [], []

    def _set_batch_data(self) -> None:
        self.lines["loss"][2].set_data(self.batch_x, self.batch_loss)
        self.lines["accuracy"][2].set_data(self.batch_x, self.batch_acc)

    def redraw(self) -> None:
        """Full redraw (axes rescaled), at most once per FULL_REDRAW_INTERVAL."""
        wait = self._last_full + self.FULL_REDRAW_INTERVAL - time.monotonic()
        if wait > 0:
            if not self._pending:
                self._pending = True
                QTimer.singleShot(int(wait * 1000) + 1, self._redraw_now)
            return
        self._redraw_now()

    def _redraw_now(self) -> None:
        self._pending = False
        self._last_full = time.monotonic()
        empty = not self.epochs and not self.batch_x
        self.empty_text.set_visible(empty)
        for ax in (self.ax_loss, self.ax_acc):
            ax.set_visible(not empty)
        xs = [h["epoch"] for h in self.epochs]
        for ax, key in ((self.ax_loss, "loss"), (self.ax_acc, "accuracy")):
            train, val, _ = self.lines[key]
            train.set_data(xs, [_num(h.get(key)) for h in self.epochs])
            val.set_data(xs, [_num(h.get(f"val_{key}")) for h in self.epochs])
            on_train = any(h.get("validated_on") == "train" for h in self.epochs)  # the split has no val images
            label = f"{key} on the training images (no val split)" if on_train else f"val {key}"
            if val.get_label() != label:
                val.set_label(label)
                ax.legend(fontsize=8, loc="center right")
            ax.relim()
            ax.autoscale_view()
            ax.set_xlim(0.8, len(xs) + 1.2)  # room for the running epoch's batch curve
        self.acc_note.set_text(self._no_accuracy_note())
        if self.acc_note.get_text():
            self.ax_acc.set_ylim(0.0, 1.0)
        self._set_batch_data()
        self.draw_idle()

    def _no_accuracy_note(self) -> str:
        """Why the accuracy axes are empty (a history of losses only), or "" when they are not."""
        keys = ("accuracy", "val_accuracy")
        if not self.epochs or any(h.get(k) is not None for h in self.epochs for k in keys) or self.batch_acc:
            return ""
        if any(h.get("stage") == TAUGHT_STAGE for h in self.epochs):
            return "taught on corrections: the head's loss only\n(no accuracy, no validation split)"
        return "no accuracy recorded for this run"

    def _on_draw(self, _event) -> None:
        self._background = self.copy_from_bbox(self.figure.bbox)
        self._blit_batches()

    def _blit_batches(self) -> None:
        for key in ("loss", "accuracy"):
            self.lines[key][2].axes.draw_artist(self.lines[key][2])
        self.blit(self.figure.bbox)

    def update_batches(self) -> None:
        """Cheap update within an epoch: only the batch curve, blitted over the saved background."""
        if self._background is None:
            self.redraw()
            return
        self._set_batch_data()
        self.restore_region(self._background)
        self._blit_batches()


def _num(v) -> float:
    return float("nan") if v is None else float(v)
