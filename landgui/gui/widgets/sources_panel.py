"""The Dataset tab's list of sources: several dataset folders (e.g. one per sensor) split as one
dataset, each a source named after its folder (:func:`landgui.core.data.scan.scan_sources`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from landgui.core.data.scan import parse_sources


class SourcesPanel(QGroupBox):
    """A view of the dataset's source folders (the application state's ``datasets``) with a
    Remove button; shown only when there are several. It keeps no list of its own: ``show``
    is given the folders and their source names, ``remove_requested`` asks the tab to drop some."""

    remove_requested = Signal(list)  # folders to remove

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Sources: dataset folders split as one, stratified by class x source", parent)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["source", "folder"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.itemSelectionChanged.connect(self._sync)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("leave the selected source folders out of the dataset")
        self.remove_button.clicked.connect(self._remove)
        hint = QLabel("Each folder is a source named after it, with one sub-folder per class; Add folder… adds one")
        hint.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(hint, 1)
        row.addWidget(self.remove_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addLayout(row)
        self.setVisible(False)
        self._sync()

    def show_sources(self, sources: dict[str, str]) -> None:
        """``{source name: folder}``, in order; the panel shows itself only for several."""
        self.table.setRowCount(0)
        for name, folder in sources.items():
            r = self.table.rowCount()
            self.table.insertRow(r)
            self.table.setItem(r, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(folder)
            item.setToolTip(folder)
            self.table.setItem(r, 1, item)
        rows = max(len(sources), 2)
        self.table.setFixedHeight(
            self.table.horizontalHeader().sizeHint().height()
            + rows * self.table.verticalHeader().defaultSectionSize()
            + 4
        )
        self.setVisible(len(sources) > 1)
        self._sync()

    def folders(self) -> list[str]:
        return [self.table.item(r, 1).text() for r in range(self.table.rowCount())]

    def _sync(self) -> None:
        self.remove_button.setEnabled(bool(self.table.selectionModel().selectedRows()))

    def _remove(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        if rows:
            self.remove_requested.emit([self.table.item(r, 1).text() for r in rows])


def source_names(folders: list[str]) -> dict[str, str]:
    """``{source name: folder}`` for the folders as given (a source is named after its folder);
    one :class:`LandguiError` line when two share a name, a folder lies inside another, or one is
    missing (:func:`landgui.core.data.scan.parse_sources` decides)."""

    names = list(parse_sources([str(Path(f)) for f in folders]))
    return dict(zip(names, folders, strict=True))
