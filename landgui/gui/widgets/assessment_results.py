"""The results page of Assess accuracy: what :func:`landgui.core.assessment.api.estimate` said.

The overall accuracy with its 95 % interval, the table of every class (map area by pixel
counting beside the estimated area and its 95 % interval, user's and producer's accuracy), the
notes of the assessment (units "can't tell", a run taught on this scene, interim estimates) and
a button that opens the report (``assessment.html``) in the system's browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from landgui.core.assessment.report import format_area, format_pct, format_pct_ci
from landgui.core.scenes.grid import UNCERTAIN
from landgui.gui.widgets.image_preview import open_in_system_viewer

FIGURE_MAX_HEIGHT = 330  # px: the figure of map and estimated areas, beside the table
COLUMNS = ("class", "map area", "estimated area", "95 % interval", "user's accuracy", "producer's accuracy", "units")


def area_rows(result: dict[str, Any]) -> list[list[str]]:
    """The table's rows as shown: one per class, then ``uncertain`` (a map area only)."""
    unit = result["area_unit"]
    rows = []
    for c, r in result["classes"].items():
        lo, hi = r["area_ci95"] or (None, None)
        rows.append(
            [
                c,
                format_area(r["map_area"], unit),
                format_area(r["area"], unit),
                f"{format_area(lo, unit)} – {format_area(hi, unit)}",
                f"{format_pct(r['users'])} ({format_pct_ci(r['users_ci95'])})",
                f"{format_pct(r['producers'])} ({format_pct_ci(r['producers_ci95'])})",
                str(r["n"]),
            ]
        )
    if result.get("uncertain"):
        u = result["uncertain"]
        rows.append([UNCERTAIN, format_area(u["map_area"], unit), "-", "-", "-", "-", str(u["n"])])
    return rows


class ResultsPage(QWidget):
    """One assessment's results. ``back()`` when the user returns to labelling; ``status(line)``."""

    back = Signal()
    status = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: dict[str, Any] | None = None
        self.overall = QLabel("")
        self.overall.setStyleSheet("font-size: 16px")
        self.overall.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.sample_line = QLabel("")
        self.sample_line.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)  # no empty space
        self.table.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Maximum)
        self.figure = QLabel("")
        self.figure.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #7a4a00")
        self.files_label = QLabel("")
        self.files_label.setWordWrap(True)
        self.files_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_button = QPushButton("Open the report")
        self.report_button.setToolTip("assessment.html: the design, the sample, the error matrix and the estimates")
        self.report_button.clicked.connect(self.open_report)
        self.folder_button = QPushButton("Open the folder")
        self.folder_button.clicked.connect(lambda: self._open(self._folder()))
        self.back_button = QPushButton("← Back to labelling")
        self.back_button.clicked.connect(self.back)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.report_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.overall)
        lay.addWidget(self.sample_line)
        lay.addWidget(self.table, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.figure)
        lay.addWidget(self.notes)
        lay.addWidget(self.files_label)
        lay.addStretch(1)
        lay.addLayout(buttons)

    def show_result(self, result: dict[str, Any]) -> None:
        """Show an assessment (the dict of :func:`landgui.core.assessment.api.estimate`)."""
        self.result = result
        unit = result["area_unit"]
        self.overall.setText(
            f"Overall accuracy <b>{format_pct(result['overall'])}</b> "
            f"(95 % interval {format_pct_ci(result['overall_ci95'])}); areas in {unit}"
        )
        sm = result["sample"]
        self.sample_line.setText(
            f"{sm['units']} units: {sm['labelled']} labelled with a class, {sm['cant_tell']} can't tell "
            f"(left out of the estimates), {sm['unlabelled']} not labelled yet."
        )
        rows = area_rows(result)
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self.table.resizeRowsToContents()
        png = (result.get("files") or {}).get("figure")
        pixmap = QPixmap(png) if png else QPixmap()
        if not pixmap.isNull() and pixmap.height() > FIGURE_MAX_HEIGHT:
            pixmap = pixmap.scaledToHeight(FIGURE_MAX_HEIGHT, Qt.TransformationMode.SmoothTransformation)
        self.figure.setPixmap(pixmap)
        self.notes.setText("\n".join(f"• {n}" for n in result.get("notes", [])))
        files = result.get("files") or {}
        self.files_label.setText(f"written to {self._folder()}" if files else "")
        self.report_button.setEnabled("html" in files)
        self.folder_button.setEnabled(bool(files))

    def _folder(self) -> str:
        files = (self.result or {}).get("files") or {}
        html = files.get("html", "")
        return str(Path(html).parent) if html else ""

    def open_report(self) -> bool:
        """Open ``assessment.html`` with the desktop's browser."""
        return self._open(((self.result or {}).get("files") or {}).get("html", ""))

    def _open(self, path: str) -> bool:
        ok = bool(path) and open_in_system_viewer(path)
        if path and not ok:
            self.status.emit(f"no program here opens it: {path}")
        return ok
