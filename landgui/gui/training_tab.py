"""Training tab: settings, Start / Stop / Resume, live loss and accuracy curves, past runs."""

from __future__ import annotations

import time
from pathlib import Path

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from landgui.core.progress import format_seconds
from landgui.gui.common import EtaProgressBar, FormScroll, show_error
from landgui.gui.state import AppState
from landgui.gui.workers import JobRegistry, ProcessJobWorker, TabJobs

BACKBONES = ("efficientnet_lite0", "mobilenet_v2", "efficientnet_b0", "resnet50", "vgg16")
TRAINING_JOB = "training"
REDRAW_INTERVAL = 0.2  # seconds between live batch-curve updates within an epoch


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
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="center right")
        self.ax_acc.set_xlabel("epoch")
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
            ax.relim()
            ax.autoscale_view()
            ax.set_xlim(0.8, len(xs) + 1.2)  # room for the running epoch's batch curve
        self._set_batch_data()
        self.draw_idle()

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


class TrainingTab(TabJobs, QWidget):
    run_finished = Signal(str)  # run folder
    status = Signal(str)

    def __init__(
        self, state: AppState | None = None, jobs: JobRegistry | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state or AppState(str(Path.home() / "landgui-runs"), parent=self)
        self.jobs = jobs or JobRegistry(self)
        self.current_run: Path | None = None
        self._last_draw = 0.0

        self.split_edit = QLineEdit(self.state.split or "")
        self.split_edit.setPlaceholderText("split.json (from the Dataset tab)")
        self.split_edit.setToolTip(self.split_edit.text())
        self.split_edit.textChanged.connect(self.split_edit.setToolTip)  # the whole path, however narrow
        self.split_edit.editingFinished.connect(lambda: self.state.set_split(self.split_edit.text() or None))
        split_btn = QPushButton("…")
        split_btn.setMaximumWidth(36)
        split_btn.clicked.connect(self._choose_split)
        self.runs_edit = QLineEdit(self.state.runs_dir)
        self.runs_edit.setToolTip(self.runs_edit.text())
        self.runs_edit.textChanged.connect(self.runs_edit.setToolTip)
        self.runs_edit.editingFinished.connect(lambda: self.state.set_runs_dir(self.runs_edit.text()))
        runs_btn = QPushButton("…")
        runs_btn.setMaximumWidth(36)
        runs_btn.clicked.connect(self._choose_runs_dir)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("run name (default: model-time)")
        self.model_combo = QComboBox()
        self.model_combo.addItems(["transfer", "scratch"])
        self.model_combo.currentTextChanged.connect(self._model_changed)
        self.backbone_combo = QComboBox()
        self.backbone_combo.addItems(BACKBONES)
        self.size_spin = QSpinBox(minimum=16, maximum=512, singleStep=16, value=128)
        self.epochs_spin = QSpinBox(minimum=1, maximum=500, value=15)
        self.ft_spin = QSpinBox(minimum=0, maximum=100, value=0)
        self.batch_spin = QSpinBox(minimum=1, maximum=1024, value=32)
        self.lr_spin = QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=1.0, singleStep=1e-4, value=1e-3)
        self.augment_check = QCheckBox("augment (flips, rotations, resolution, blur, JPEG, colour, noise)")
        self.augment_check.setChecked(True)
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)

        form = QFormLayout()
        form.addRow("Split", _row(self.split_edit, split_btn))
        form.addRow("Runs folder", _row(self.runs_edit, runs_btn))
        form.addRow("Run name", self.name_edit)
        form.addRow("Model", self.model_combo)
        form.addRow("Backbone", self.backbone_combo)
        form.addRow("Image size", self.size_spin)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Fine-tune epochs", self.ft_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow(self.augment_check)
        box = QGroupBox("Training settings")
        box.setLayout(form)

        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self.resume)
        self.progress = EtaProgressBar()
        self.info = QLabel("")
        self.info.setWordWrap(True)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(box)
        lv.addLayout(_hbox(self.start_button, self.stop_button, self.resume_button))
        lv.addWidget(self.progress)
        lv.addWidget(self.info)
        lv.addWidget(QLabel("Past runs (select to view their curves):"))
        self.runs_list = QListWidget()
        self.runs_list.setWordWrap(True)  # a run's long line wraps instead of running off the edge
        self.runs_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.runs_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.runs_list.currentItemChanged.connect(self._show_run)
        lv.addWidget(self.runs_list, 1)
        left.setMinimumHeight(left.sizeHint().height() - self.runs_list.sizeHint().height() + 100)
        self.left_scroll = FormScroll(left)  # the settings stay readable in a small window: they scroll

        self.curves = CurvesCanvas()
        splitter = QSplitter()
        splitter.addWidget(self.left_scroll)
        splitter.addWidget(self.curves)
        splitter.setSizes([620, 660])  # room for a path; never narrower than the form (FormScroll)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.refresh_runs()
        self.state.runs_changed.connect(self.refresh_runs)
        self.state.runs_dir_changed.connect(self.runs_edit.setText)
        self.state.split_changed.connect(self.set_split)

    # -- settings helpers -----------------------------------------------------------------------
    def _choose_split(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Choose split.json", self.split_edit.text(), "split.json (*.json)")
        if f:
            self.set_split(f)

    def _choose_runs_dir(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Runs folder", self.runs_edit.text())
        if d:
            self.state.set_runs_dir(d)  # every tab follows

    def _model_changed(self, model: str) -> None:
        transfer = model == "transfer"
        self.backbone_combo.setEnabled(transfer)
        self.ft_spin.setEnabled(transfer)
        self.size_spin.setValue(128 if transfer else 64)
        self.epochs_spin.setValue(15 if transfer else 25)

    def set_split(self, path: str) -> None:
        self.split_edit.setText(path)
        self.state.set_split(path or None)

    def refresh_runs(self) -> None:
        """List the state's runs (``AppState.runs``)."""
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        for info in self.state.runs:
            acc = f"val {info['best_val_accuracy']:.3f}" if info["best_val_accuracy"] is not None else "no epochs"
            item = QListWidgetItem(
                f"{info['name']}  [{info['status_text']}]  {info['model']} {info['backbone']} "
                f"{info['image_size']}px, {info['epochs']} epochs, {acc}"
            )
            item.setData(Qt.ItemDataRole.UserRole, info["path"])
            self.runs_list.addItem(item)
        self.runs_list.blockSignals(False)

    def _show_run(self, item: QListWidgetItem | None, _prev=None) -> None:
        if item is None or self.jobs.busy(TRAINING_JOB):
            return
        from landgui.core.runs import history

        path = item.data(Qt.ItemDataRole.UserRole)
        self.current_run = Path(path)
        self.curves.set_history(history(path))
        self.resume_button.setEnabled(self._resumable(self.current_run))

    @staticmethod
    def _resumable(run: Path) -> bool:
        from landgui.core.runs import run_status

        return run_status(run) in ("stopped", "interrupted", "failed")

    # -- run control ------------------------------------------------------------------------------
    def start(self) -> None:
        from landgui.core import training as T
        from landgui.core.models import ModelSpec
        from landgui.core.runs import RunFolder

        split = self.split_edit.text()
        if self.runs_edit.text() != self.state.runs_dir:  # typed, and Start pressed at once
            self.state.set_runs_dir(self.runs_edit.text())
        if not split:
            show_error(self, "Training", "choose a split.json first (split a dataset in the Dataset tab)")
            return
        model = self.model_combo.currentText()
        name = self.name_edit.text().strip() or f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = Path(self.state.runs_dir) / name
        spec = ModelSpec(
            model=model,
            backbone=self.backbone_combo.currentText(),
            image_size=self.size_spin.value(),
            resolution=T.DEFAULT_RESOLUTION[model],
        )
        params = T.TrainParams(
            epochs=self.epochs_spin.value(),
            fine_tune_epochs=self.ft_spin.value() if model == "transfer" else 0,
            batch_size=self.batch_spin.value(),
            lr=self.lr_spin.value(),
            seed=self.seed_spin.value(),
            augment=self.augment_check.isChecked(),
        )
        overwrite = False
        if RunFolder(run_dir).is_run:  # the CLI's --resume / --overwrite, as a question
            choice = self._existing_run_choice(run_dir)
            if choice == "resume":
                self.current_run = run_dir
                self.resume()
                return
            if choice != "replace":
                return
            overwrite = True
        self.current_run = run_dir
        self._launch(
            "landgui.core.training:train",
            {"split_path": split, "run_dir": str(run_dir), "spec": spec, "params": params, "overwrite": overwrite},
        )

    def _existing_run_choice(self, run_dir: Path) -> str:
        """A run of this name exists: "resume" it, "replace" it (its files only) or "cancel"."""
        from PySide6.QtWidgets import QMessageBox

        from landgui.core.runs import run_status, status_text

        status = run_status(run_dir)
        box = QMessageBox(self)
        box.setWindowTitle("A run with this name exists")
        box.setText(
            f"{run_dir.name} already exists ({status_text(status)}). Continue it, replace it with a new "
            "run (its model and history are deleted), or choose another name?"
        )
        resume = box.addButton("Continue it", QMessageBox.ButtonRole.AcceptRole)
        resume.setEnabled(status in ("stopped", "interrupted", "failed"))
        replace = box.addButton("Replace it", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return {resume: "resume", replace: "replace"}.get(box.clickedButton(), "cancel")

    def resume(self) -> None:
        run_dir = self.current_run
        if run_dir is None:
            return
        from landgui.core.runs import history

        self.curves.set_history(history(run_dir))
        self._launch("landgui.core.training:resume", {"run_dir": str(run_dir)}, keep_curves=True)

    def _launch(self, target: str, kwargs: dict, keep_curves: bool = False) -> None:
        """Training runs in a child process (see landgui.core.jobs): the window never waits on its GIL."""
        if not keep_curves:
            self.curves.clear_data()
        worker = self.jobs.start(
            self,
            TRAINING_JOB,
            ProcessJobWorker(target, kwargs, self),
            label=f"training {Path(kwargs['run_dir']).name}",
            record=self.on_record,
            on_done=self._done,
            on_failed=self._failed,
            on_cancelled=lambda: self._end("training stopped before the first epoch"),
        )
        if worker is None:
            return
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.info.setText(f"training into {self.current_run}")

    def stop(self) -> None:
        if self.jobs.cancel(TRAINING_JOB):
            self.stop_button.setEnabled(False)
            self.info.setText("stopping at the end of this batch…")

    def on_record(self, rec: dict) -> None:
        kind = rec["kind"]
        if kind == "prepare":
            self.progress.update_progress(rec["stage"], rec["done"], rec["total"])
            return
        if kind == "batch":
            self.curves.add_batch(rec)
            total = rec["batches"] or rec["batch"]
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(rec["batch"])
            m = rec["metrics"]
            self.progress.setFormat(
                f"{rec['stage']} epoch {rec['epoch']}/{rec['epochs']}, batch {rec['batch']}/{total}  "
                f"loss {m.get('loss', 0):.3f}  ETA {format_seconds(rec['eta'])}"
            )
        elif kind == "epoch":
            self.curves.add_epoch(rec["record"])
            h = rec["record"]
            val = f", val acc {h['val_accuracy']:.3f}" if h.get("val_accuracy") is not None else ""
            self.status.emit(f"epoch {h['epoch']} ({h['stage']}): loss {h['loss']:.3f}, acc {h['accuracy']:.3f}{val}")
        now = time.monotonic()
        if kind == "epoch":
            self.curves.redraw()
        elif now - self._last_draw > REDRAW_INTERVAL:
            self._last_draw = now
            self.curves.update_batches()

    def _end(self, text: str, run_dir: str | None = None) -> None:
        self.progress.finish(text)  # one line; the run's folder goes in the line below it
        text = f"{text} — {run_dir}" if run_dir else text
        self.info.setText(text)
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.resume_button.setEnabled(self.current_run is not None and self._resumable(self.current_run))
        self.state.refresh_runs()  # every tab's run lists follow
        self.status.emit(text)

    def _done(self, result) -> None:
        acc = f"{result.best_val_accuracy:.4f}" if result.best_val_accuracy is not None else "n/a"
        self.curves.set_history(result.history)
        self._end(f"{result.status}: {result.epochs_done} epochs, best val accuracy {acc}", result.run_dir)
        self.run_finished.emit(result.run_dir)

    def _failed(self, message: str, details: str) -> None:
        self._end("training failed")
        show_error(self, "Training failed", message, details)


def _row(*widgets) -> QHBoxLayout:
    lay = QHBoxLayout()
    for i, w in enumerate(widgets):
        lay.addWidget(w, 1 if i == 0 else 0)
    return lay


def _hbox(*widgets) -> QHBoxLayout:
    lay = QHBoxLayout()
    for w in widgets:
        lay.addWidget(w)
    return lay
