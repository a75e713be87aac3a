"""The Training tab's list of past runs: one line per run, each the run's
:meth:`landgui.core.runs.listing.RunSummary.line` (the application state's one reading of it)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from landgui.core.runs.listing import RunSummary


class RunList(QListWidget):
    """The runs, newest first; ``run_selected`` names the run folder the user picks. Refilling
    keeps the selected run selected and says nothing (a training re-reads its run every epoch)."""

    run_selected = Signal(str)  # the run folder

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)  # a run's long line wraps instead of running off the edge
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.currentItemChanged.connect(self._picked)

    def show_runs(self, runs: list[RunSummary]) -> None:
        """One line per run; the selected run stays selected."""
        current = self.selected_run()
        blocked = self.blockSignals(True)
        self.clear()
        for run in runs:
            item = QListWidgetItem(run.line())
            item.setData(Qt.ItemDataRole.UserRole, run.path)
            item.setToolTip(run.path)
            self.addItem(item)
            if run.path == current:
                self.setCurrentItem(item)
        self.blockSignals(blocked)

    def selected_run(self) -> str | None:
        """The selected run's folder, or None."""
        item = self.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def line_of(self, run: str) -> str | None:
        """The line shown for a run folder (None when it is not listed)."""
        for i in range(self.count()):
            if self.item(i).data(Qt.ItemDataRole.UserRole) == run:
                return self.item(i).text()
        return None

    def _picked(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        if item is not None:
            self.run_selected.emit(item.data(Qt.ItemDataRole.UserRole))
