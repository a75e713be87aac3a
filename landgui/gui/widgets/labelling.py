"""Teach it this scene: select patches on the map, label them with number keys, fine-tune, re-map.

The corrections live in the scene's session (:class:`landgui.gui.state.scene_session.SceneSession`,
one :class:`~landgui.core.training.corrections.Corrections` per map); this panel only shows them
and offers the loop's buttons (most uncertain next, undo/redo, save, fine-tune). The map view
draws the selection and the corrected patches from the same session.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from landgui.core.base.errors import LandguiError
from landgui.core.scenes.io import open_scene
from landgui.core.training.corrections import Cell, corrections_dir, uncertain_order
from landgui.gui.state.scene_session import ScenesState, corrections_text
from landgui.gui.widgets.common import show_error

HELP = (
    "Click a patch (Shift/Ctrl+click adds, Shift+drag an area), press 1-9 for its true class, "
    "0 takes it back; Ctrl+Z / Ctrl+Shift+Z undo and redo."
)


class LabelPanel(QGroupBox):
    """Corrections on the map on screen.

    Signals: ``finetune_requested(parent_run, corrections_dir)``; ``status(line)``;
    ``reveal(row, col)``: show that patch (the next most uncertain one). The number keys, Delete
    and Ctrl+Z work anywhere in ``keys_widget`` (the Scene tab)."""

    finetune_requested = Signal(str, str)
    status = Signal(str)
    reveal = Signal(int, int)

    def __init__(self, state: ScenesState, keys_widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__("Teach it this scene", parent)
        self.state = state
        self._uncertain: list[Cell] = []
        self._uncertain_pos = 0
        self.help = QLabel(HELP)
        self.help.setWordWrap(True)
        self.keys_label = QLabel("")
        self.keys_label.setWordWrap(True)
        self.count_label = QLabel("")
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
        buttons = QGridLayout()
        buttons.addWidget(self.uncertain_button, 0, 0)
        buttons.addWidget(self.undo_button, 0, 1)
        buttons.addWidget(self.redo_button, 0, 2)
        buttons.addWidget(self.save_button, 1, 0)
        buttons.addWidget(self.finetune_button, 1, 1, 1, 2)
        lay.addLayout(buttons)
        lay.addWidget(self.count_label)

        for k in range(1, 10):
            QShortcut(QKeySequence(str(k)), keys_widget, lambda k=k: self.assign(k - 1))
        for key in ("0", "Delete", "Backspace"):
            QShortcut(QKeySequence(key), keys_widget, lambda: self.assign(None))
        QShortcut(QKeySequence("Ctrl+Z"), keys_widget, self.undo)
        QShortcut(QKeySequence("Ctrl+Shift+Z"), keys_widget, self.redo)
        for signal in (state.current_changed, state.result_changed, state.selection_changed, state.corrections_changed):
            signal.connect(self.refresh)
        state.current_changed.connect(self._forget_uncertain)
        state.result_changed.connect(self._forget_uncertain)
        self.refresh()

    # -- state ---------------------------------------------------------------------------------------
    @property
    def corrections(self):
        """The corrections of the map on screen (None before a map)."""
        s = self.state.current
        return None if s is None or s.result is None else s.corrections

    @property
    def selection(self) -> set[Cell]:
        """The selected patches of the map on screen."""
        s = self.state.current
        return set() if s is None else set(s.selection)

    def select(self, cells: set[Cell], add: bool = False) -> None:
        """Select patches of the map on screen."""
        if (s := self.state.current) is not None and s.result is not None:
            s.select(cells, add)

    def assign(self, k: int | None) -> None:
        """Label the selection as class ``k`` (None: take the labels back)."""
        if (s := self.state.current) is not None and (line := s.assign(k)):
            self.status.emit(line)

    def undo(self) -> None:
        """Undo the last labelling step."""
        if (s := self.state.current) is not None and (line := s.undo()):
            self.status.emit(line)

    def redo(self) -> None:
        """Redo the last undone labelling step."""
        if (s := self.state.current) is not None and (line := s.redo()):
            self.status.emit(line)

    def next_uncertain(self) -> None:
        """Select (and show) the patch the model is least sure of, then the next one."""
        s = self.state.current
        if s is None or s.result is None:
            return
        if not self._uncertain or self._uncertain_pos >= len(self._uncertain):
            self._uncertain, self._uncertain_pos = uncertain_order(s.result), 0
        if not self._uncertain:
            return
        cell = self._uncertain[self._uncertain_pos]
        self._uncertain_pos += 1
        s.select({cell}, focus=cell)
        self.reveal.emit(*cell)

    def _forget_uncertain(self) -> None:
        self._uncertain, self._uncertain_pos = [], 0

    # -- saving and fine-tuning ------------------------------------------------------------------------
    def destination(self) -> Path | None:
        """Where this map's corrections are saved (beside its run, or in the user's runs folder)."""
        s = self.state.current
        res = None if s is None else s.result
        return corrections_dir(res.run) if res is not None and res.run else None

    def save(self) -> list[Path]:
        """Write the corrections not saved yet; returns the new files."""
        s, c, dest = self.state.current, self.corrections, self.destination()
        if s is None or c is None or dest is None:
            return []
        try:
            scene = open_scene(s.path, s.result.reading if s.result is not None else None)  # the map's grid
            try:
                files = c.save(scene, dest)
            finally:
                scene.close()
        except LandguiError as exc:
            show_error(self, "Save corrections", str(exc))
            return []
        s.corrections_saved()
        self.status.emit(f"saved {len(files)} correction(s) to {dest}")
        return files

    def request_finetune(self) -> None:
        """Save the corrections and ask for a run fine-tuned on them (``finetune_requested``)."""
        s, c, dest = self.state.current, self.corrections, self.destination()
        if s is None or c is None or dest is None:
            return
        if not c.assigned and not (dest / "corrections.json").exists():
            show_error(self, "Fine-tune", "label some patches first: select them and press their class number")
            return
        self.save()
        self.finetune_requested.emit(str(s.result.run), str(dest))

    # -- showing -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Buttons and counts of the map on screen."""
        s, c = self.state.current, self.corrections
        for b in (self.uncertain_button, self.save_button, self.finetune_button):
            b.setEnabled(c is not None)
        self.undo_button.setEnabled(bool(c and c.can_undo))
        self.redo_button.setEnabled(bool(c and c.can_redo))
        if s is None or c is None:
            self.keys_label.setText("")
            self.count_label.setText("classify a scene first, then correct its map here")
            return
        self.keys_label.setText("  ".join(f"{k + 1} = {lab}" for k, lab in enumerate(c.labels[:9])))
        self.count_label.setText(corrections_text(c) + (f"; selected {len(s.selection)}" if s.selection else ""))
