"""Teach it this scene: select patches on the map, label them with number keys, fine-tune, re-map.

The state lives in :class:`landgui.core.training.corrections.Corrections` (one per classified scene);
this panel only shows it: the selection outlined in white, corrected patches outlined in their
new class colour, and the buttons of the loop (most uncertain next, undo/redo, save, fine-tune).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QPainterPath, QPen, QShortcut
from PySide6.QtWidgets import QGraphicsPathItem, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from landgui.core.base.errors import LandguiError
from landgui.core.scenes import open_scene
from landgui.core.training.corrections import Cell, Corrections, corrections_dir, uncertain_order
from landgui.gui.widgets.common import show_error

HELP = (
    "Click a patch to select it (Shift/Ctrl+click adds, Shift+drag selects an area), then press "
    "1-9 for its true class (0 or Delete takes a label back). Ctrl+Z / Ctrl+Shift+Z undo and redo."
)


class LabelPanel(QGroupBox):
    """Corrections on the current map. ``finetune_requested(parent_run, corrections_dir)``."""

    finetune_requested = Signal(str, str)
    status = Signal(str)

    def __init__(self, tab: Any, parent: QWidget | None = None) -> None:
        super().__init__("Teach it this scene", parent)
        self.tab = tab
        self.by_scene: dict[str, Corrections] = {}
        self.selection: set[Cell] = set()
        self._uncertain: list[Cell] = []
        self._uncertain_pos = 0
        self.select_item = QGraphicsPathItem()
        pen = QPen(QColor("#ffffff"), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.select_item.setPen(pen)
        self.select_item.setZValue(3)
        self.corrected_items: list[QGraphicsPathItem] = []
        tab.view.scene().addItem(self.select_item)

        self.help = QLabel(HELP)
        self.help.setWordWrap(True)
        self.keys_label = QLabel("")
        self.keys_label.setWordWrap(True)
        self.count_label = QLabel("no corrections yet")
        self.count_label.setWordWrap(True)
        self.uncertain_button = QPushButton("Most uncertain next")
        self.uncertain_button.setToolTip("select the patch the model is least sure of (smallest margin), then the next")
        self.uncertain_button.clicked.connect(self.next_uncertain)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.clicked.connect(self.redo)
        self.save_button = QPushButton("Save corrections")
        self.save_button.clicked.connect(self.save)
        self.finetune_button = QPushButton("Fine-tune on corrections and re-map")
        self.finetune_button.setToolTip(
            "save the corrections, retrain the map's model head on them (a new run; the model itself "
            "is not changed) and classify this scene again with it"
        )
        self.finetune_button.clicked.connect(self.request_finetune)
        lay = QVBoxLayout(self)
        lay.addWidget(self.help)
        lay.addWidget(self.keys_label)
        row = QHBoxLayout()
        for b in (self.uncertain_button, self.undo_button, self.redo_button):
            row.addWidget(b)
        lay.addLayout(row)
        lay.addWidget(self.count_label)
        row2 = QHBoxLayout()
        row2.addWidget(self.save_button)
        row2.addWidget(self.finetune_button)
        lay.addLayout(row2)

        for k in range(1, 10):
            QShortcut(QKeySequence(str(k)), tab, lambda k=k: self.assign(k - 1))
        for key in ("0", "Delete", "Backspace"):
            QShortcut(QKeySequence(key), tab, lambda: self.assign(None))
        QShortcut(QKeySequence("Ctrl+Z"), tab, self.undo)
        QShortcut(QKeySequence("Ctrl+Shift+Z"), tab, self.redo)
        self.refresh()

    # -- state ---------------------------------------------------------------------------------------
    @property
    def corrections(self) -> Corrections | None:
        res, path = self.tab.result, self.tab.current
        if res is None or path is None:
            return None
        c = self.by_scene.get(path)
        g = res.grid
        if c is None or (c.patch, c.stride, c.rows, c.cols, c.labels) != (
            g.patch,
            g.stride,
            g.rows,
            g.cols,
            res.labels,
        ):
            c = self.by_scene[path] = Corrections.for_result(res)  # a new map geometry: new corrections
        return c

    def select(self, cells: set[Cell], add: bool = False) -> None:
        self.selection = (self.selection | cells) if add else set(cells)
        self.refresh()

    def select_rect(self, rect: QRectF, add: bool) -> None:
        res = self.tab.result
        if res is None:
            return
        g = res.grid
        r0, r1 = max(0, int(rect.top() // g.stride)), min(g.rows - 1, int(rect.bottom() // g.stride))
        c0, c1 = max(0, int(rect.left() // g.stride)), min(g.cols - 1, int(rect.right() // g.stride))
        self.select({(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}, add)

    def assign(self, k: int | None) -> None:
        c = self.corrections
        if c is None or not self.selection:
            return
        if k is not None and k >= len(c.labels):
            self.status.emit(f"there is no class {k + 1}: the model has {len(c.labels)}")
            return
        c.assign(self.selection, k)
        what = "label taken back" if k is None else f"labelled {c.labels[k]}"
        self.status.emit(f"{len(self.selection)} patch(es) {what}")
        self.refresh()

    def undo(self) -> None:
        if (c := self.corrections) is not None and c.undo():
            self.refresh()

    def redo(self) -> None:
        if (c := self.corrections) is not None and c.redo():
            self.refresh()

    def next_uncertain(self) -> None:
        res = self.tab.result
        if res is None:
            return
        if not self._uncertain or self._uncertain_pos >= len(self._uncertain):
            self._uncertain, self._uncertain_pos = uncertain_order(res), 0
        if not self._uncertain:
            return
        cell = self._uncertain[self._uncertain_pos]
        self._uncertain_pos += 1
        g = res.grid
        self.tab.select_at(cell[1] * g.stride + 0.5, cell[0] * g.stride + 0.5)
        self.tab.view.centerOn(cell[1] * g.stride + g.patch / 2, cell[0] * g.stride + g.patch / 2)

    def scene_changed(self) -> None:
        self.selection = set()
        self._uncertain = []
        self.refresh()

    # -- saving and fine-tuning -------------------------------------------------------------------------
    def destination(self) -> Path | None:
        res = self.tab.result
        return corrections_dir(res.run) if res is not None and res.run else None

    def save(self) -> list[Path]:
        c, dest = self.corrections, self.destination()
        if c is None or dest is None:
            return []
        try:
            scene = open_scene(self.tab.current)
            try:
                files = c.save(scene, dest)
            finally:
                scene.close()
        except LandguiError as exc:
            show_error(self, "Save corrections", str(exc))
            return []
        self.status.emit(f"saved {len(files)} correction(s) to {dest}")
        self.refresh()
        return files

    def request_finetune(self) -> None:
        c, dest = self.corrections, self.destination()
        if c is None or dest is None:
            return
        if not c.assigned and not (dest / "corrections.json").exists():
            show_error(self, "Fine-tune", "label some patches first: select them and press their class number")
            return
        self.save()
        self.finetune_requested.emit(str(self.tab.result.run), str(dest))

    # -- drawing -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        res, c = self.tab.result, self.corrections
        for it in self.corrected_items:
            self.tab.view.scene().removeItem(it)
        self.corrected_items = []
        enabled = res is not None
        for b in (self.uncertain_button, self.save_button, self.finetune_button):
            b.setEnabled(enabled)
        self.undo_button.setEnabled(bool(c and c.can_undo))
        self.redo_button.setEnabled(bool(c and c.can_redo))
        if res is None or c is None:
            self.select_item.setPath(QPainterPath())
            self.keys_label.setText("")
            self.count_label.setText("classify a scene first, then correct its map here")
            return
        self.keys_label.setText("  ".join(f"{k + 1} = {lab}" for k, lab in enumerate(res.labels[:9])))
        g = res.grid
        sel = QPainterPath()
        for r, col in sorted(self.selection):
            sel.addRect(QRectF(col * g.stride, r * g.stride, g.patch, g.patch))
        self.select_item.setPath(sel)
        for k, lab in enumerate(res.labels):
            cells = [cell for cell, v in c.assigned.items() if v == k]
            if not cells:
                continue
            path = QPainterPath()
            for r, col in cells:
                path.addRect(QRectF(col * g.stride + 2, r * g.stride + 2, g.patch - 4, g.patch - 4))
            item = QGraphicsPathItem(path)
            pen = QPen(QColor(self.tab.palette.get(lab, "#ffff00")), 3)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(2.5)
            self.tab.view.scene().addItem(item)
            self.corrected_items.append(item)
        counts = c.counts()
        text = ", ".join(f"{lab} {n}" for lab, n in counts.items()) or "none"
        unsaved = c.unsaved()
        self.count_label.setText(
            f"corrections on this map: {text}"
            + (f" ({unsaved} not saved)" if unsaved else "")
            + (f"; selected {len(self.selection)}" if self.selection else "")
        )
