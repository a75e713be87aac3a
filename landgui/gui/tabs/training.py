"""Training tab: settings, Start / Stop / Resume, live loss and accuracy curves, past runs.

With a split of several sources (e.g. one per sensor) it offers to hold one out (train and select
on the others, then evaluate on every image of it, in the same background job) and to weigh the
sources of a class equally. What it says about a run (the list's lines, the line a finished
training ends with, whether Resume is offered) is the application state's reading of the run
folder (:class:`landgui.core.runs.listing.RunSummary`), re-read as the training reports; the bar
and its ETA cover the whole run (:class:`landgui.gui.state.training_progress.TrainingProgress`)."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from landgui.core.base.errors import LandguiError
from landgui.core.data.split import load_split, source_names
from landgui.core.params import TrainParams
from landgui.core.runs.folder import RunFolder
from landgui.core.runs.listing import RunSummary, planned_stages
from landgui.gui.jobs import JobRegistry, JobTab, ProcessJobWorker
from landgui.gui.state.app_state import AppState
from landgui.gui.state.training_progress import TrainingProgress
from landgui.gui.widgets.common import EtaProgressBar, FormScroll, hbox, path_row, show_error
from landgui.gui.widgets.curves import CurvesCanvas
from landgui.gui.widgets.run_list import RunList
from landgui.gui.widgets.training_form import FIELDS as SETTINGS_FIELDS
from landgui.gui.widgets.training_form import TrainingSettings

TRAINING_JOB = "training"
REDRAW_INTERVAL = 0.2  # seconds between live batch-curve updates within an epoch


class TrainingTab(JobTab):
    run_finished = Signal(str)  # run folder
    status = Signal(str)

    def __init__(
        self, state: AppState | None = None, jobs: JobRegistry | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(state, jobs, parent)
        self.current_run: Path | None = None
        self._last_draw = 0.0

        self.run_progress: TrainingProgress | None = None  # the running job's, from its first record
        self.split_edit = QLineEdit(self.state.split or "")
        self.split_edit.setPlaceholderText("split.json (from the Dataset tab)")
        self.split_edit.editingFinished.connect(lambda: self.state.set_split(self.split_edit.text() or None))
        self.runs_edit = QLineEdit(self.state.runs_dir)
        self.runs_edit.editingFinished.connect(lambda: self.state.set_runs_dir(self.runs_edit.text()))
        self.settings = TrainingSettings()
        for name in SETTINGS_FIELDS:  # the settings' widgets, as the tab's own (tests, tools)
            setattr(self, name, getattr(self.settings, name))
        self.form = self.settings.form
        self.form.insertRow(0, "Split", path_row(self.split_edit, self._choose_split))
        self.form.insertRow(1, "Runs folder", path_row(self.runs_edit, self._choose_runs_dir))

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
        lv.addWidget(self.settings)
        lv.addLayout(hbox(self.start_button, self.stop_button, self.resume_button))
        lv.addWidget(self.progress)
        lv.addWidget(self.info)
        lv.addWidget(QLabel("Past runs (select to view their curves):"))
        self.runs_list = RunList()
        self.runs_list.run_selected.connect(self._show_run)
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
        self.settings.set_sources(sources)

    @property
    def split_sources(self) -> list[str]:
        """The sources of the split in the Split field."""
        return self.settings.sources

    def refresh_runs(self) -> None:
        """List the state's runs (``AppState.runs``), the run on the curves selected; Resume
        follows the chosen run's status."""
        self.runs_list.show_runs(self.state.runs, select=self._shown_run())
        self._sync_resume()

    def _shown_run(self) -> str | None:
        """The run whose curves are shown (the list selects it)."""
        return str(self.current_run) if self.current_run is not None else None

    def _show_run(self, path: str) -> None:
        if self.jobs.busy(TRAINING_JOB):  # the curves stay on the training run: so does the list
            QTimer.singleShot(0, lambda: self.runs_list.select_run(self._shown_run()))
            return
        self.current_run = Path(path)
        self.curves.set_history(RunFolder(path).history())
        self._sync_resume()

    def _summary(self, run: Path | None) -> RunSummary | None:
        """The state's reading of a run (read from its folder when it is not in the runs folder)."""
        if run is None:
            return None
        return self.state.summary(run) or RunSummary.read(run)

    def _sync_resume(self) -> None:
        summary = self._summary(self.current_run)
        self.resume_button.setEnabled(not self.jobs.busy(TRAINING_JOB) and summary is not None and summary.resumable)

    # -- run control ------------------------------------------------------------------------------
    def start(self) -> None:
        split = self.split_edit.text()
        if self.runs_edit.text() != self.state.runs_dir:  # typed, and Start pressed at once
            self.state.set_runs_dir(self.runs_edit.text())
        if not split:
            show_error(self, "Training", "choose a split.json first (split a dataset in the Dataset tab)")
            return
        spec, params = self.settings.spec(), self.train_params()
        name = self.settings.name_edit.text().strip() or f"{spec.model}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = Path(self.state.runs_dir) / name
        overwrite = False
        existing = RunSummary.read(run_dir)
        if existing is not None:  # the CLI's --resume / --overwrite, as a question
            choice = self._existing_run_choice(existing)
            if choice == "resume":
                self.current_run = run_dir
                self.resume()
                return
            if choice != "replace":
                return
            overwrite = True
        self.current_run = run_dir
        self._launch(
            "landgui.core.services:train",
            {"split_path": split, "run_dir": str(run_dir), "spec": spec, "params": params, "overwrite": overwrite},
        )

    def train_params(self) -> TrainParams:
        """The settings as the core's TrainParams (:meth:`TrainingSettings.train_params`)."""
        return self.settings.train_params()

    def _existing_run_choice(self, run: RunSummary) -> str:
        """A run of this name exists: "resume" it, "replace" it (its files only) or "cancel"."""
        box = QMessageBox(self)
        box.setWindowTitle("A run with this name exists")
        box.setText(
            f"{run.name} already exists ({run.status_text}). Continue it, replace it with a new "
            "run (its model and history are deleted), or choose another name?"
        )
        resume = box.addButton("Continue it", QMessageBox.ButtonRole.AcceptRole)
        resume.setEnabled(run.resumable)
        replace = box.addButton("Replace it", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return {resume: "resume", replace: "replace"}.get(box.clickedButton(), "cancel")

    def resume(self) -> None:
        run_dir = self.current_run
        if run_dir is None:
            return

        self.curves.set_history(RunFolder(run_dir).history())
        self._launch("landgui.core.services:resume", {"run_dir": str(run_dir)}, keep_curves=True)

    def _launch(self, target: str, kwargs: dict, keep_curves: bool = False) -> None:
        """Training runs in a child process (see landgui.core.base.jobs): the window never waits on its GIL."""
        if not keep_curves:
            self.curves.clear_data()
        self.run_progress = None  # the run's stages are read from its folder with the first record
        self.runs_list.select_run(str(self.current_run))  # none until the new run is listed
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
        """One record of the training (``prepare``, ``batch``, ``epoch``, ``note``)."""
        kind = rec["kind"]
        if kind not in ("prepare", "batch", "epoch"):
            return
        if self.run_progress is None or kind == "epoch":
            self._reread_run()  # running (also a resumed run), and each epoch's figures, in every list
        progress = self.run_progress
        assert progress is not None
        progress.add(rec)
        if kind == "prepare" and not progress.started:
            self.progress.update_progress(rec["stage"], rec["done"], rec["total"])
            return
        self._show_progress(progress)
        if kind == "batch":
            self.curves.add_batch(rec)
        elif kind == "epoch":
            self.curves.add_epoch(rec["record"])
            h = rec["record"]
            val = f", val acc {h['val_accuracy']:.3f}" if h.get("val_accuracy") is not None else ""
            if val and h.get("validated_on") == "train":  # the split has no validation images
                val = f", acc on the training images {h['val_accuracy']:.3f} (no validation split)"
            self.status.emit(f"epoch {h['epoch']} ({h['stage']}): loss {h['loss']:.3f}, acc {h['accuracy']:.3f}{val}")
        now = time.monotonic()
        if kind == "epoch":
            self.curves.redraw()
        elif kind == "batch" and now - self._last_draw > REDRAW_INTERVAL:
            self._last_draw = now
            self.curves.update_batches()

    def _show_progress(self, progress: TrainingProgress) -> None:
        """The run's share on the bar; after the training, the finishing step by name, with its
        own count where it has one, else as a busy bar (its name in the line below it)."""
        text = progress.text()
        self.progress.setFormat(text)
        if progress.finishing is None:
            self.progress.setRange(0, progress.maximum)
            self.progress.setValue(progress.value)
            return
        step = progress.step
        self.progress.setRange(0, step[1] if step else 0)  # 0..0: busy, no percentage
        self.progress.setValue(step[0] if step else 0)
        self.progress.setToolTip(text.replace(" %p%", ""))
        self.info.setText(f"{text.replace(' %p%', '')} — {self.current_run}")

    def _reread_run(self) -> None:
        """Re-read the training run into the state (its row in every list follows) and, with its
        first record, take the run's planned stages for the bar."""
        summary = self.state.refresh_run(self.current_run) if self.current_run is not None else None
        if self.run_progress is None:
            stages = summary.stages if summary is not None else planned_stages(self._planned_config())
            self.run_progress = TrainingProgress(stages)

    def _planned_config(self) -> dict:
        """The settings as a run's config says them (before the run's config.json is readable)."""
        return {"model": self.settings.spec().to_dict(), "params": self.train_params().to_dict()}

    def _end(self, text: str, run_dir: str | None = None) -> None:
        self.progress.finish(text)  # one line; the run's folder goes in the line below it
        text = f"{text} — {run_dir}" if run_dir else text
        self.info.setText(text)
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.state.refresh_runs()  # every tab's run lists follow
        self._sync_resume()
        self.status.emit(text)

    def _done(self, result) -> None:
        """The training ended: its line is the run folder's reading, as the list's is."""
        run = self.state.refresh_run(result.run_dir) or RunSummary.read(result.run_dir)
        self.curves.set_history(RunFolder(result.run_dir).history())
        text = f"{result.status}: {result.epochs_done} epochs"
        if run is not None:
            text = f"{run.status}: {run.epochs_text()}, {run.val_text(digits=4)}"
        held = run.hold_out_source if run is not None else None
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
