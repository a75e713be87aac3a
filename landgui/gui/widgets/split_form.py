"""The Dataset tab's split settings box: validation and test fractions, seed, how the split is
materialized, the output folder, Split / Cancel and the progress bar; read as the core's
``SplitParams`` when a split starts."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from landgui.core.params import SplitParams
from landgui.gui.widgets.common import EtaProgressBar, hbox, path_row

#: the box's widgets, as the Dataset tab (and its tests) name them
FIELDS = (
    "val_spin",
    "test_spin",
    "seed_spin",
    "materialize_combo",
    "out_edit",
    "split_button",
    "cancel_button",
    "progress",
)


class SplitForm(QGroupBox):
    """The split's settings and its Split / Cancel buttons (``choose_out`` picks the output folder)."""

    def __init__(self, choose_out: Callable[[], None], parent: QWidget | None = None) -> None:
        super().__init__("Split into train / validation / test", parent)
        self.val_spin = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.9, singleStep=0.05, value=0.15)
        self.test_spin = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.9, singleStep=0.05, value=0.15)
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.materialize_combo = QComboBox()
        self.materialize_combo.addItems(["none", "copy", "link"])
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("output folder for split.json")
        self.split_button = QPushButton("Split")
        self.split_button.setEnabled(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = EtaProgressBar()
        form = QFormLayout(self)
        form.addRow("Validation fraction", self.val_spin)
        form.addRow("Test fraction", self.test_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Materialize", self.materialize_combo)
        form.addRow("Output folder", path_row(self.out_edit, choose_out))
        form.addRow(hbox(self.split_button, self.cancel_button))
        form.addRow(self.progress)

    def params(self) -> SplitParams:
        """The settings as the core's SplitParams (checked when the split runs)."""
        return SplitParams(
            val=self.val_spin.value(),
            test=self.test_spin.value(),
            seed=self.seed_spin.value(),
            materialize=self.materialize_combo.currentText(),
        )

    def new_dataset(self, _folder: str = "") -> None:
        """Another dataset was chosen: the bar no longer speaks of the previous one's split ("split
        written to ..."), unless a split is running (its progress goes on)."""
        if not self.cancel_button.isEnabled():
            self.progress.idle()
