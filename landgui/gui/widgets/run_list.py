"""The Training tab's list of past runs: one line per run, each the run's
:meth:`landgui.core.runs.listing.RunSummary.line` (the application state's one reading of it)."""

from __future__ import annotations

from pathlib import Path

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

    def show_runs(self, runs: list[RunSummary], select: str | None = None) -> None:
        """One line per run; ``select`` (a run folder) is selected, else the selected run stays
        selected. A ``select`` not listed (yet) leaves no run selected."""
        current = select if select is not None else self.selected_run()
        blocked = self.blockSignals(True)
        self.clear()
        for run in runs:
            item = QListWidgetItem(run.line())
            item.setData(Qt.ItemDataRole.UserRole, run.path)
            item.setToolTip(run.path)
            self.addItem(item)
        self.blockSignals(blocked)
        self.select_run(current)

    def select_run(self, run: str | None) -> None:
        """Select a run folder without saying so (the caller shows it); none when it is not listed."""
        blocked = self.blockSignals(True)
        self.setCurrentRow(-1)
        self.clearSelection()
        for i in range(self.count()):
            if run is not None and Path(self.item(i).data(Qt.ItemDataRole.UserRole)) == Path(run):
                self.setCurrentRow(i)
                break
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
