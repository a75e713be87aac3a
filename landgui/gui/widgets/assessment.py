"""Assess accuracy…: the Scene tab's window for the accuracy and areas of a map (issue 24).

Three pages over the assessment state (:mod:`landgui.gui.state.assessment_session`):

1. :class:`~landgui.gui.widgets.assessment_setup.SetupPage`: the written map (the map on screen
   exported, or any ``NAME.summary.json``), the sample's size (units, or a target standard error),
   allocation and seed, and the sample file; or an existing sample, or the last one labelled.
2. :class:`~landgui.gui.widgets.assessment_label.LabelPage`: the units one at a time, blind, keys
   1-9 and 0; every label saved in the sample file as it is given.
3. :class:`~landgui.gui.widgets.assessment_results.ResultsPage`: the estimates of
   :func:`landgui.core.assessment.api.estimate`, and the report written beside the sample.

Drawing or opening a sample (the map read, the scene opened) and estimating (the report's figure)
run as jobs of the window's registry (kind ``assess``, one at a time); exporting the map is the
Scene tab's own export job. The last sample opened is remembered (QSettings, like recent files),
so that after a restart labelling continues where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from landgui.core.assessment import api
from landgui.core.assessment.samplefile import progress, read_sample
from landgui.core.base.errors import LandguiError
from landgui.gui.jobs import JobRegistry, JobWorker
from landgui.gui.state.assessment_session import (
    AssessmentSession,
    AssessmentSetup,
    LoadedSample,
    draw_sample,
    load_sample,
)
from landgui.gui.widgets.assessment_label import LabelPage
from landgui.gui.widgets.assessment_results import ResultsPage
from landgui.gui.widgets.assessment_setup import SetupPage
from landgui.gui.widgets.common import EtaProgressBar, choose_output_folder, show_error

ASSESS_JOB = "assess"
LAST_SAMPLE_KEY = "assessment/last_sample"


def last_sample() -> str:
    """The sample file labelled last (kept across restarts), or "" when there is none any more."""
    path = str(QSettings("landgui", "landgui").value(LAST_SAMPLE_KEY, "") or "")
    return path if path and Path(path).is_file() else ""


def remember_sample(path: str | Path) -> None:
    """Remember ``path`` as the sample labelled last."""
    QSettings("landgui", "landgui").setValue(LAST_SAMPLE_KEY, str(path))


class AssessDialog(QDialog):
    """Assess the accuracy of a written map. Signals: ``export_requested(folder)``: export the
    map on screen there (the Scene tab does, then calls :meth:`map_exported`); ``status(line)``;
    ``sample_loaded()`` when a sample is on the labelling page; ``estimated(result)``."""

    export_requested = Signal(str)
    status = Signal(str)
    sample_loaded = Signal()
    estimated = Signal(dict)

    def __init__(self, jobs: JobRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Assess accuracy")
        self.jobs = jobs
        self.setup = AssessmentSetup(self)
        self.session: AssessmentSession | None = None
        self.result: dict[str, Any] | None = None
        self.setup_page = SetupPage(self.setup)
        self.label_page = LabelPage()
        self.results_page = ResultsPage()
        self.pages = QStackedWidget()
        for page in (self.setup_page, self.label_page, self.results_page):
            self.pages.addWidget(page)
        self.progress = EtaProgressBar()
        self.status_line = QLabel("")
        self.status_line.setWordWrap(True)
        self.new_button = QPushButton("Another sample…")
        self.new_button.setToolTip("back to the map and the sample's design (the labels so far stay saved)")
        self.new_button.clicked.connect(self.show_setup)
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("the labels are saved as you go: Assess accuracy… continues later")
        self.close_button.clicked.connect(self.close)
        foot = QHBoxLayout()
        foot.addWidget(self.progress, 1)
        foot.addWidget(self.new_button)
        foot.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.pages, 1)
        lay.addWidget(self.status_line)
        lay.addLayout(foot)
        self.setup_page.start.connect(self.start)
        self.setup_page.open_sample.connect(self.open_sample)
        self.setup_page.export_clicked.connect(self.choose_export_folder)
        self.label_page.estimate.connect(self.estimate)
        self.label_page.finished.connect(self.estimate)
        self.label_page.status.connect(self.say)
        self.results_page.back.connect(self.show_labelling)
        self.results_page.status.connect(self.say)
        self.jobs.changed.connect(self._sync_buttons)
        self.resize(1100, 760)
        self.show_setup()

    # -- pages ------------------------------------------------------------------------------------
    def show_setup(self) -> None:
        """The map and the sample's design (and the last sample, to continue)."""
        path = last_sample()
        text = ""
        if path:
            try:
                done, total = progress(read_sample(path))
                text = f"{done} / {total}"
            except LandguiError:
                path = ""
        self.setup_page.set_last_sample(path, text)
        self.setup_page.refresh()  # the sample file may exist now
        self.pages.setCurrentWidget(self.setup_page)
        self._sync_buttons()

    def show_labelling(self) -> None:
        """The unit on screen of the sample being labelled."""
        if self.session is not None:
            self.pages.setCurrentWidget(self.label_page)
            self.label_page.setFocus()
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        busy = self.jobs.busy(ASSESS_JOB)
        self.setup_page.start_button.setEnabled(not busy and not self.setup.problem())
        self.setup_page.open_button.setEnabled(not busy)
        self.setup_page.last_button.setEnabled(not busy)
        self.label_page.estimate_button.setEnabled(not busy and self.session is not None)
        self.new_button.setEnabled(self.pages.currentWidget() is not self.setup_page)

    def say(self, line: str) -> None:
        """A line under the pages and in the window's status bar."""
        self.status_line.setText(line)
        self.status.emit(line)

    # -- the map on screen --------------------------------------------------------------------------
    def offer_map(self, scene: str | None, has_map: bool, exported: str | None) -> None:
        """What the Scene tab has on screen: the scene's file name (None: none), whether it is
        classified, and the ``NAME.summary.json`` its map was exported to (None: not since it
        was made). An exported map becomes the map to assess."""
        if scene is None:
            hint = "No scene on screen: choose an exported map (NAME.summary.json), or open a sample file."
        elif not has_map:
            hint = f"{scene} is not classified yet: Classify it in the Scene tab, then export its map here."
        elif exported is None or not Path(exported).is_file():
            hint = (
                f"The map of {scene} on screen is not written yet: the assessment works on the written map "
                "(its NAME.summary.json and class raster). Export it to a folder first."
            )
        else:
            hint = f"The map of {scene} on screen was exported to {exported}."
            self.setup.set_map(exported)
        self.setup_page.set_map_hint(hint, has_map)

    def choose_export_folder(self) -> None:
        """Ask for a folder and export the map on screen there."""
        folder = choose_output_folder(self, "export", "Export the map to folder")
        if folder:
            self.export_to(folder)

    def export_to(self, folder: str) -> None:
        """Export the map on screen into ``folder`` (through the Scene tab)."""
        self.say(f"exporting the map to {folder}…")
        self.export_requested.emit(folder)

    def map_exported(self, files: dict[str, str]) -> None:
        """The Scene tab wrote the map (``files`` of the export): assess it."""
        summary = files.get("summary", "")
        self.setup.set_map(summary)
        self.setup_page.set_map_hint(f"The map on screen was exported to {summary}.", True)
        self.say(f"map written: {summary}")

    # -- jobs -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Draw the sample of the setup (or continue the existing sample file) and label it."""
        st = self.setup
        if problem := st.problem():
            self.say(problem)
            return
        if st.sample_exists:
            self.open_sample(st.sample_path, st.map_path)
            return
        map_path, sample_path, settings = st.map_path, st.sample_path, st.settings
        self._run(
            lambda progress, should_stop: draw_sample(map_path, sample_path, settings, progress),
            self._loaded,
            "draw the sample",
        )

    def open_sample(self, path: str, map_path: str | None = None) -> None:
        """Open an existing sample (its map found from its design file) and continue labelling it."""
        self._run(
            lambda progress, should_stop: load_sample(path, map_path or None, progress),
            self._loaded,
            "open the sample",
        )

    def _loaded(self, loaded: LoadedSample) -> None:
        if self.session is not None:
            self.session.close()
            self.session.deleteLater()
        self.session = AssessmentSession(loaded, self)
        self.setup.set_map(str(loaded.map_path))
        self.setup.set_sample(str(loaded.sample_path))
        remember_sample(loaded.sample_path)
        self.label_page.set_session(self.session)
        self.show_labelling()
        s = self.session
        self.say(
            f"{loaded.sample_path}: {s.progress_text} labelled"
            + (f"; continuing at unit {s.current.id}" if s.progress[0] and not s.complete else "")
        )
        self.sample_loaded.emit()

    def estimate(self) -> None:
        """Estimate from the labels so far and write the report beside the sample."""
        s = self.session
        if s is None:
            return
        map_path, sample_path = s.map_path, s.sample_path
        self._run(
            lambda progress, should_stop: api.estimate(map_path, sample_path, out=sample_path.parent),
            self._estimated,
            "estimate",
        )

    def _estimated(self, result: dict[str, Any]) -> None:
        self.result = result
        self.results_page.show_result(result)
        self.pages.setCurrentWidget(self.results_page)
        self._sync_buttons()
        self.say(f"report written to {result['files']['html']}")
        self.estimated.emit(result)

    def _run(self, job, on_done, label: str) -> JobWorker | None:
        def done(result: Any) -> None:
            self.progress.finish(f"{label}: done")
            on_done(result)

        def failed(message: str, details: str) -> None:
            self.progress.finish(f"{label}: failed")
            self.say(message)
            show_error(self, "Assess accuracy", message, details)

        return self.jobs.start(
            self,
            ASSESS_JOB,
            job,
            label=label,
            on_done=done,
            on_failed=failed,
            on_cancelled=lambda: self.progress.finish("cancelled"),
            progress=self.progress.update_progress,
        )
