"""Training tab: settings, Start / Stop / Resume, live loss and accuracy curves, past runs.

With a split of several sources (e.g. one per sensor) it offers to hold one out (train and select
on the others, then evaluate on every image of it, in the same background job) and to weigh the
sources of a class equally."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
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

from landgui.core.base.errors import LandguiError
from landgui.core.base.progress import format_seconds
from landgui.core.data.split import load_split, source_names
from landgui.core.models.build import (
    BACKBONES,  # one list for the CLI, the API and the app
    ModelSpec,
)
from landgui.core.runs.folder import RunFolder, history, run_status, status_text
from landgui.core.training import trainer as T
from landgui.gui.jobs import JobRegistry, ProcessJobWorker, TabJobs
from landgui.gui.state.app_state import AppState
from landgui.gui.widgets.common import EtaProgressBar, FormScroll, show_error
from landgui.gui.widgets.curves import CurvesCanvas

TRAINING_JOB = "training"
REDRAW_INTERVAL = 0.2  # seconds between live batch-curve updates within an epoch


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
        self.holdout_combo = QComboBox()
        self.holdout_combo.setToolTip(
            "train and select the model on the other sources only; when training completes the run is evaluated "
            "on every image of this source: how the recipe does on a sensor it never saw"
        )
        self.balance_check = QCheckBox("each source of a class weighs the same")
        self.balance_check.setToolTip(
            "weight the images so that every source of a class carries the same share of it, in training and in "
            "the validation loss that picks the best epoch (otherwise a large source outweighs a small one)"
        )
        self.balance_check.setChecked(True)
        self.split_sources: list[str] = []  # the sources of the split in the Split field

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
        form.addRow("Hold out a source", self.holdout_combo)
        form.addRow("Balance sources", self.balance_check)
        self.form = form
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
        self._update_sources()

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
        self._update_sources()

    def _update_sources(self) -> None:
        """Offer the source options when the split has several sources (read from its split.json)."""

        path = self.split_edit.text()
        try:
            sources = source_names(load_split(path)) if path else []
        except LandguiError:
            sources = []  # named when training starts
        if sources == self.split_sources and self.holdout_combo.count():
            return
        self.split_sources = sources
        keep = self.holdout_combo.currentData()
        self.holdout_combo.clear()
        self.holdout_combo.addItem("none: train on every source", None)
        for name in sources:
            self.holdout_combo.addItem(name, name)
        self.holdout_combo.setCurrentIndex(max(self.holdout_combo.findData(keep), 0))
        several = len(sources) > 1
        self.form.setRowVisible(self.holdout_combo, several)
        self.form.setRowVisible(self.balance_check, several)

    def refresh_runs(self) -> None:
        """List the state's runs (``AppState.runs``)."""
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        for info in self.state.runs:
            acc = f"val {info['best_val_accuracy']:.3f}" if info["best_val_accuracy"] is not None else "no epochs"
            if info.get("held_out_accuracy") is not None:
                acc += f", held-out {info['hold_out_source']} {info['held_out_accuracy']:.3f}"
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

        path = item.data(Qt.ItemDataRole.UserRole)
        self.current_run = Path(path)
        self.curves.set_history(history(path))
        self.resume_button.setEnabled(self._resumable(self.current_run))

    @staticmethod
    def _resumable(run: Path) -> bool:
        return run_status(run) in ("stopped", "interrupted", "failed")

    # -- run control ------------------------------------------------------------------------------
    def start(self) -> None:
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
        params = self.train_params()
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
            "landgui.core.training.trainer:train",
            {"split_path": split, "run_dir": str(run_dir), "spec": spec, "params": params, "overwrite": overwrite},
        )

    def train_params(self):
        """The settings as :class:`landgui.core.training.trainer.TrainParams` (the source options only
        when the split has several sources)."""

        several = len(self.split_sources) > 1
        transfer = self.model_combo.currentText() == "transfer"
        return T.TrainParams(
            epochs=self.epochs_spin.value(),
            fine_tune_epochs=self.ft_spin.value() if transfer else 0,
            batch_size=self.batch_spin.value(),
            lr=self.lr_spin.value(),
            seed=self.seed_spin.value(),
            augment=self.augment_check.isChecked(),
            balance_sources=self.balance_check.isChecked() if several else True,
            hold_out_source=self.holdout_combo.currentData() if several else None,
        )

    def _existing_run_choice(self, run_dir: Path) -> str:
        """A run of this name exists: "resume" it, "replace" it (its files only) or "cancel"."""
        from PySide6.QtWidgets import QMessageBox

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

        self.curves.set_history(history(run_dir))
        self._launch("landgui.core.training.trainer:resume", {"run_dir": str(run_dir)}, keep_curves=True)

    def _launch(self, target: str, kwargs: dict, keep_curves: bool = False) -> None:
        """Training runs in a child process (see landgui.core.base.jobs): the window never waits on its GIL."""
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
        text = f"{result.status}: {result.epochs_done} epochs, best val accuracy {acc}"
        held = _held_out_source(result.run_dir)
        if result.status == "completed" and held:
            self._evaluate_held_out(result.run_dir, held, text)
        else:
            self._finish(text, result.run_dir)

    def _finish(self, text: str, run_dir: str) -> None:
        self._end(text, run_dir)
        self.run_finished.emit(run_dir)

    def _evaluate_held_out(self, run_dir: str, source: str, text: str) -> None:
        """The run held a source out: evaluate it on every image of that source, in a child
        process as the training was (the CLI's and the API's train do the same)."""
        self.held_out_result = None
        worker = self.jobs.start(
            self,
            TRAINING_JOB,  # the training job's last step: Start stays disabled, Stop cancels it
            ProcessJobWorker(
                "landgui.core.evaluation.evaluate:evaluate_source", {"run_dir": run_dir, "source": source}, self
            ),
            label=f"evaluating {Path(run_dir).name} on held-out source {source}",
            progress=self.progress.update_progress,
            on_done=lambda ev: self._held_out_done(ev, text, run_dir),
            on_failed=lambda message, details: self._held_out_failed(message, details, text, run_dir),
            on_cancelled=lambda: self._finish(f"{text}; evaluation on held-out source {source} cancelled", run_dir),
        )
        if worker is None:
            self._finish(text, run_dir)
        else:
            self.info.setText(f"{text}; evaluating on every image of held-out source {source}…")

    def _held_out_done(self, ev: dict, text: str, run_dir: str) -> None:
        self.held_out_result = ev
        self._finish(
            f"{text} · held-out source {ev['held_out_source']}: accuracy {ev['accuracy']:.2%} on its "
            f"{ev['n_images']} images, a sensor the model never saw (not trained or selected on it)",
            run_dir,
        )

    def _held_out_failed(self, message: str, details: str, text: str, run_dir: str) -> None:
        self._finish(f"{text}; the evaluation on the held-out source failed", run_dir)
        show_error(self, "Held-out evaluation failed", message, details)

    def _failed(self, message: str, details: str) -> None:
        self._end("training failed")
        show_error(self, "Training failed", message, details)


def _held_out_source(run_dir: str) -> str | None:
    return ((RunFolder(run_dir).config() or {}).get("params") or {}).get("hold_out_source")


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
