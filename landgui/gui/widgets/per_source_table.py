"""The Evaluation tab's per-source table: for an evaluation of a split of several sources, the
accuracy of each source and the recall of each class in it (``result["per_source"]``, see
:func:`landgui.core.evaluation.metrics.per_source_metrics`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from landgui.gui.widgets.common import table_height


class PerSourceTable(QTableWidget):
    """One column per source; rows: accuracy, balanced accuracy, images, then the recall of each
    class with its number of images in brackets ("–": no image of that class in that source)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 0, parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.setToolTip("each source's own figures: a class recalled well in one source and badly in another is a gap")

    def show_result(self, result: dict) -> bool:
        """Fill the table from ``result["per_source"]``; False (and empty) when there is none."""
        per_source = result.get("per_source") or {}
        names = list(per_source)
        labels = [lab for lab in result.get("row_labels") or result["labels"]]
        self.clear()
        self.setColumnCount(len(names))
        self.setHorizontalHeaderLabels(names)
        rows = ["accuracy", "balanced accuracy", "images", *[f"recall {lab}" for lab in labels]]
        self.setRowCount(len(rows) if names else 0)
        self.setVerticalHeaderLabels(rows)
        for col, name in enumerate(names):
            ps = per_source[name]
            cells = [f"{ps['accuracy']:.4f}", f"{ps['balanced_accuracy']:.4f}", str(ps["n_images"])]
            for lab in labels:
                c = ps["per_class"].get(lab)
                cells.append(f"{c['recall']:.4f} ({c['support']})" if c else "–")
            for row, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(row, col, item)
        return bool(names)

    def full_height(self, max_rows: int = 12) -> int:
        """The height that shows the header and up to ``max_rows`` rows without scrolling."""
        return table_height(self, max_rows)
