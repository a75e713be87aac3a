"""The Evaluation tab's Compare runs table: every run side by side (``AppState.runs``, i.e.
:class:`landgui.core.runs.listing.RunSummary`), with a column per evaluated folder, per source of
a multi-source test split, and the accuracy on a held-out source where a run held one out."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from landgui.core.runs.listing import RunSummary

HEADS = ["run", "status", "model", "backbone", "size", "epochs", "test acc", "macro F1"]


def _acc(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"


class CompareRunsTable(QTableWidget):
    """One row per run. Columns past the fixed ones appear only when some run has them:
    ``test acc SOURCE`` (the test split's accuracy on each source), ``held-out acc`` (on every
    image of the source the run never saw, named in the cell) and ``FOLDER acc`` (evaluations
    on a folder)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(HEADS), parent)
        self.setHorizontalHeaderLabels(HEADS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # nothing cut
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def show_runs(self, runs: list[RunSummary]) -> None:
        """One row per run, in the order given."""
        sources = list(dict.fromkeys(name for r in runs for name in r.source_accuracy))
        held = any(r.held_out_accuracy is not None for r in runs)
        folders = sorted({name for r in runs for name in r.data_accuracy})
        heads = HEADS + [f"test acc {s}" for s in sources] + (["held-out acc"] if held else [])
        heads += [f"{f} acc" for f in folders]
        self.setColumnCount(len(heads))
        self.setHorizontalHeaderLabels(heads)
        self.setRowCount(0)
        for r in runs:
            row = self.rowCount()
            self.insertRow(row)
            held_cell = []
            if held:
                v = r.held_out_accuracy
                held_cell = ["" if v is None else f"{v:.4f} ({r.hold_out_source})"]
            vals = [
                r.name,
                r.status_text,
                r.model,
                r.backbone,
                r.image_size,
                r.epochs,
                _acc(r.test_accuracy),
                _acc(r.macro_f1),
                *[_acc(r.source_accuracy.get(s)) for s in sources],
                *held_cell,
                *[_acc(r.data_accuracy.get(f)) for f in folders],
            ]
            for c, v in enumerate(vals):
                item = QTableWidgetItem(str(v))
                if heads[c] == "epochs":
                    item.setToolTip(r.epochs_text())
                if heads[c] == "held-out acc":
                    item.setToolTip(
                        f"accuracy on every image of source {r.hold_out_source}, which the run never saw: "
                        "it was trained and selected on the other sources only"
                    )
                self.setItem(row, c, item)
