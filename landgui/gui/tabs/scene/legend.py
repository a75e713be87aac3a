"""The legend of the map on screen: each class with its colour and share of the area (untick to
hide it, double-click to change its colour), and "uncertain"; in the uncertainty view, the
confidence scale. Derived from the Scene tab's state; changes go back through it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QColorDialog, QListWidget, QListWidgetItem, QWidget

from landgui.core.base.errors import LandguiError
from landgui.core.runs.palette import save_palette
from landgui.core.scenes.result import UNCERTAIN, UNCERTAIN_RGB
from landgui.gui.state.scene_session import ScenesState
from landgui.gui.tabs.scene.layers import confidence_colours
from landgui.gui.widgets.common import show_error


def _swatch(colour: QColor) -> QIcon:
    pm = QPixmap(14, 14)
    pm.fill(colour)
    return QIcon(pm)


class Legend(QListWidget):
    """The legend; ``status`` says where a new colour was kept."""

    status = Signal(str)

    def __init__(self, state: ScenesState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._fit_rows(5)
        self.setToolTip("untick to hide a class; double-click to change its colour")
        self.itemChanged.connect(self._toggled)
        self.itemDoubleClicked.connect(self.edit_colour)
        for signal in (state.current_changed, state.result_changed, state.look_changed, state.display_changed):
            signal.connect(self.refresh)

    def refresh(self) -> None:
        """Rebuild the rows from the map on screen."""
        blocked = self.blockSignals(True)
        self.clear()
        s = self.state.current
        res = None if s is None else s.result
        if res is not None and self.state.view == "uncertainty":
            for level in (1.0, 0.9, 0.7, 0.5, 0.3):
                r, g, b, _ = confidence_colours(np.array([level], np.float32))[0]
                self.addItem(QListWidgetItem(_swatch(QColor(int(r), int(g), int(b))), f"confidence {level:.1f}"))
        elif res is not None:
            rows = [
                (k, QColor(s.palette[lab]), f"{lab}  {res.coverage.get(lab, 0):.1%}")
                for k, lab in enumerate(res.labels)
            ]
            if res.uncertain_below > 0:
                share = res.coverage.get(UNCERTAIN, 0)
                rows.append(
                    (
                        len(res.labels),
                        QColor(*UNCERTAIN_RGB),
                        f"{UNCERTAIN} (below {res.uncertain_below:.2f})  {share:.1%}",
                    )
                )
            for k, colour, text in rows:
                item = QListWidgetItem(_swatch(colour), text)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Unchecked if k in s.hidden else Qt.CheckState.Checked)
                item.setData(Qt.ItemDataRole.UserRole, k)
                self.addItem(item)
        self._fit_rows(self.count())
        self.blockSignals(blocked)

    def _fit_rows(self, n: int) -> None:
        """As tall as its rows: every class and "uncertain" visible, no empty space below."""
        row = self.sizeHintForRow(0) if self.count() else self.fontMetrics().height() + 4
        self.setFixedHeight(max(3, n) * row + 2 * self.frameWidth() + 4)

    def _toggled(self, item: QListWidgetItem) -> None:
        s, k = self.state.current, item.data(Qt.ItemDataRole.UserRole)
        if s is not None and isinstance(k, int):
            s.set_hidden(k, item.checkState() != Qt.CheckState.Checked)

    def edit_colour(self, item: QListWidgetItem) -> None:
        """Double-click on a class: choose its colour, saved in the run's palette."""
        s = self.state.current
        res = None if s is None else s.result
        k = item.data(Qt.ItemDataRole.UserRole)
        if res is None or not isinstance(k, int) or k >= len(res.labels):
            return  # the uncertainty view or the "uncertain" row: fixed colours
        lab = res.labels[k]
        colour = QColorDialog.getColor(QColor(s.palette[lab]), self, f"Colour of {lab}")
        if colour.isValid():
            self.set_colour(lab, colour.name().upper())

    def set_colour(self, label: str, colour: str) -> None:
        """Give class ``label`` of the map on screen the colour ``colour`` (``#RRGGBB``), in the
        run's palette too where the run can be written."""
        s = self.state.current
        if s is None or s.result is None:
            return
        s.set_palette({**s.palette, label: colour})
        try:
            saved = save_palette(s.result.run, s.palette) if s.result.run else False
        except LandguiError as exc:
            show_error(self, "Colours", str(exc))
            saved = False
        where = "saved in the run" if saved else "for this session (the shipped model is read-only)"
        self.status.emit(f"{label} is now {colour}, {where}")
