"""The first page of Assess accuracy: the map, the sample's design, the sample file.

A view over :class:`~landgui.gui.state.assessment_session.AssessmentSetup`: every field writes the
state when it changes and shows it when the state changes (no setting is read from a spin box at
click time). The assessment works on the written map (``NAME.summary.json`` and its class
raster), so the map on screen is exported first if it was not; an existing sample file is
continued, never drawn over; the last sample labelled can be continued after a restart.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from landgui.core.assessment.design import ALLOCATIONS, MAX_UNITS, MIN_UNITS
from landgui.gui.state.assessment_session import AssessmentSetup
from landgui.gui.widgets.common import last_dir, path_row, remember_dir

ALLOCATION_TEXT = {
    "recommended": "recommended: at least the minimum per class, the rest by area",
    "proportional": "proportional to the mapped area",
    "equal": "equal for every class",
}
INTRO = (
    "A stratified random sample of the map's cells (strata: the map classes and uncertain), labelled "
    "blind here, gives the map's accuracy and the area of every class with 95 % intervals "
    "(Olofsson et al. 2014). The labels are saved in the sample file as you go; they are never "
    "used to train a model."
)


def _left(widget: QWidget) -> QHBoxLayout:
    """``widget`` at its own size on the left of a row."""
    lay = QHBoxLayout()
    lay.addWidget(widget)
    lay.addStretch(1)
    return lay


def _set_text(edit: QLineEdit, text: str) -> None:
    if edit.text() != text:
        edit.setText(text)


class SetupPage(QWidget):
    """Choose the map and the sample. Signals: ``start()`` (draw the sample, or continue the
    existing file), ``open_sample(path)``, ``export_clicked()`` (export the map on screen)."""

    start = Signal()
    open_sample = Signal(str)
    export_clicked = Signal()

    def __init__(self, setup: AssessmentSetup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setup = setup
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.map_edit = QLineEdit()
        self.map_edit.setPlaceholderText("NAME.summary.json of an exported map")
        self.map_edit.textChanged.connect(setup.set_map)
        self.map_hint = QLabel("")
        self.map_hint.setWordWrap(True)
        self.export_button = QPushButton("Export the map on screen…")
        self.export_button.setToolTip("write the map of the scene on screen to a folder (all formats), then assess it")
        self.export_button.clicked.connect(self.export_clicked)
        self.n_radio = QRadioButton("units")
        self.se_radio = QRadioButton("for a standard error of overall accuracy of")
        group = QButtonGroup(self)
        group.addButton(self.n_radio)
        group.addButton(self.se_radio)
        self.n_spin = QSpinBox()
        self.n_spin.setRange(MIN_UNITS, MAX_UNITS)
        self.se_spin = QDoubleSpinBox()
        self.se_spin.setRange(0.001, 0.2)
        self.se_spin.setDecimals(3)
        self.se_spin.setSingleStep(0.005)
        self.se_spin.setValue(0.01)
        self.allocation = QComboBox()
        for a in ALLOCATIONS:
            self.allocation.addItem(ALLOCATION_TEXT[a], a)
        self.min_spin = QSpinBox()
        self.min_spin.setRange(0, 10_000)
        self.min_spin.setToolTip("units at least per class with the recommended allocation (the paper: 50-100)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("the same map and seed give the same sample")
        self.sample_edit = QLineEdit()
        self.sample_edit.textChanged.connect(setup.set_sample)
        self.start_button = QPushButton("")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.open_button = QPushButton("Open a sample file…")
        self.open_button.clicked.connect(self.choose_sample_to_open)
        self.last_button = QPushButton("")
        self.last_button.clicked.connect(lambda: self.open_sample.emit(self.last_button.property("path")))
        self.last_button.hide()
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #9a5b00")
        for spin in (self.n_spin, self.se_spin, self.min_spin, self.seed_spin):
            spin.setMinimumWidth(110)
            spin.valueChanged.connect(self._write_settings)
        for radio in (self.n_radio, self.se_radio):
            radio.toggled.connect(self._write_settings)
        self.allocation.currentIndexChanged.connect(self._write_settings)
        self._lay_out(intro)
        setup.changed.connect(self.refresh)
        self.refresh()

    def _lay_out(self, intro: QLabel) -> None:
        form = QFormLayout()
        form.addRow("Map", path_row(self.map_edit, self.choose_map))
        form.addRow("", self.map_hint)
        form.addRow("", _left(self.export_button))
        size = QHBoxLayout()
        size.addWidget(self.n_spin)
        size.addWidget(self.n_radio)
        size.addSpacing(12)
        size.addWidget(self.se_radio)
        size.addWidget(self.se_spin)
        size.addStretch(1)
        form.addRow("Sample size", size)
        form.addRow("Allocation", self.allocation)
        form.addRow("Minimum per class", _left(self.min_spin))
        form.addRow("Seed", _left(self.seed_spin))
        form.addRow("Sample file", path_row(self.sample_edit, self.choose_sample_path))
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.last_button)
        lay.addWidget(self.problem)
        lay.addStretch(1)

    # -- the state to the widgets and back ------------------------------------------------------
    def refresh(self) -> None:
        """Show the setup state."""
        st, s = self.setup, self.setup.settings
        _set_text(self.map_edit, st.map_path)
        _set_text(self.sample_edit, st.sample_path)
        design = self._design_widgets()
        blocked = [w.blockSignals(True) for w in design]
        self.n_radio.setChecked(s.target_se is None)
        self.se_radio.setChecked(s.target_se is not None)
        if s.n is not None:
            self.n_spin.setValue(s.n)
        if s.target_se is not None:
            self.se_spin.setValue(s.target_se)
        self.min_spin.setValue(s.min_per_class)
        self.seed_spin.setValue(s.seed)
        self.allocation.setCurrentIndex(max(0, self.allocation.findData(s.allocation)))
        for w, b in zip(design, blocked, strict=True):
            w.blockSignals(b)
        exists = st.sample_exists  # an existing sample is continued: its design is fixed already
        enabled = {self.n_spin: s.target_se is None, self.se_spin: s.target_se is not None}
        enabled[self.min_spin] = s.allocation == "recommended"
        for w in design:
            w.setEnabled(not exists and enabled.get(w, True))
        self.start_button.setText("Continue labelling this sample" if exists else "Draw the sample and start labelling")
        problem = st.problem()
        self.problem.setText(problem)
        self.start_button.setEnabled(not problem)

    def _design_widgets(self) -> list[QWidget]:
        return [self.n_radio, self.n_spin, self.se_radio, self.se_spin, self.allocation, self.min_spin, self.seed_spin]

    def _write_settings(self) -> None:
        se = self.se_radio.isChecked()
        self.setup.set_settings(
            n=None if se else self.n_spin.value(),
            target_se=self.se_spin.value() if se else None,
            allocation=self.allocation.currentData(),
            min_per_class=self.min_spin.value(),
            seed=self.seed_spin.value(),
        )

    def set_map_hint(self, text: str, can_export: bool) -> None:
        """What is known about the map on screen, and whether it can be exported from here."""
        self.map_hint.setText(text)
        self.map_hint.setVisible(bool(text))
        self.export_button.setEnabled(can_export)

    def set_last_sample(self, path: str, progress_text: str) -> None:
        """Offer to continue the last sample labelled (after a restart); ``path`` "" hides it."""
        self.last_button.setProperty("path", path)
        self.last_button.setText(f"Continue the last sample: {path} ({progress_text} labelled)")
        self.last_button.setVisible(bool(path))

    # -- files ------------------------------------------------------------------------------------
    def choose_map(self) -> None:
        """Ask for a map's ``NAME.summary.json``."""
        path, _ = QFileDialog.getOpenFileName(
            self, "The map to assess", last_dir("export"), "Map summaries (*.summary.json);;All files (*)"
        )
        if path:
            remember_dir("export", path)
            self.setup.set_map(path)

    def choose_sample_path(self) -> None:
        """Ask where the sample file goes (an existing one is continued)."""
        start = self.setup.sample_path or str(Path(last_dir("assess") or Path.home()) / "sample.csv")
        path, _ = QFileDialog.getSaveFileName(
            self, "Sample file", start, "Sample CSV (*.csv)", options=QFileDialog.Option.DontConfirmOverwrite
        )
        if path:
            path = path if path.lower().endswith(".csv") else f"{path}.csv"
            remember_dir("assess", path)
            self.setup.set_sample(path)

    def choose_sample_to_open(self) -> None:
        """Ask for an existing sample file and open it."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a sample file", last_dir("assess"), "Sample CSV (*.csv);;All files (*)"
        )
        if path:
            remember_dir("assess", path)
            self.open_sample.emit(path)
