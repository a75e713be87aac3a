"""The blind-labelling page of Assess accuracy: one sample unit at a time, zoomed and in its context.

A view over :class:`~landgui.gui.state.assessment_session.AssessmentSession`: the unit's cell
outlined in the middle of a zoomed view (the cell and one cell around it) and of a larger view of
the scene around it; the map class hidden unless "Show the map class" is ticked; keys 1-9 give the
reference class (the run's classes in order, numbered on their buttons), 0 or X "can't tell",
Left / Backspace go back, Right goes on without a label, M shows or hides the map class. Every
label is saved in the sample file as it is given; the progress reads "73 / 300".
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from landgui.core.assessment.samplefile import CANT_TELL
from landgui.core.base.errors import LandguiError
from landgui.gui.state.assessment_session import AssessmentSession
from landgui.gui.tabs.scene.layers import qimage
from landgui.gui.widgets.common import show_error

ZOOM_AROUND = 1  # the zoomed view: the unit's cell and one cell on every side
CONTEXT_MIN_PX = 640  # the context view spans at least this many scene pixels ...
CONTEXT_MAX_AROUND = 40  # ... and at most this many cells on every side
OUTLINE = QColor("#ffd400")
KEYS_HELP = "keys: 1-9 class · 0 or X can't tell · ← or Backspace back · → next · M map class"


def context_around(cell: int) -> int:
    """Cells on every side of the unit in the context view: at least 5, about CONTEXT_MIN_PX px."""
    return max(5, min(CONTEXT_MAX_AROUND, math.ceil((CONTEXT_MIN_PX / max(cell, 1) - 1) / 2)))


class UnitImage(QWidget):
    """An image scaled to fit (whole pixels kept sharp when enlarged) with one rectangle outlined."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self._image = None
        self._rect = (0, 0, 0, 0)
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, rgb, rect: tuple) -> None:
        """Show ``rgb`` (H, W, 3 uint8) with ``rect`` (x, y, w, h in its pixels) outlined."""
        self._image, self._rect = qimage(rgb), rect
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#202020"))
        p.setPen(QColor("#dddddd"))
        p.drawText(6, 16, self.title)
        if self._image is None:
            return
        iw, ih = self._image.width(), self._image.height()
        top = 22
        scale = min(self.width() / iw, (self.height() - top) / ih)
        w, h = iw * scale, ih * scale
        x0, y0 = (self.width() - w) / 2, top + (self.height() - top - h) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1)
        p.drawImage(QRectF(x0, y0, w, h), self._image)
        rx, ry, rw, rh = self._rect
        pen = QPen(OUTLINE, 2)
        p.setPen(pen)
        p.drawRect(QRectF(x0 + rx * scale - 1, y0 + ry * scale - 1, rw * scale + 2, rh * scale + 2))
        p.end()


class LabelPage(QWidget):
    """Label the units of a sample one at a time. Signals: ``status(line)``; ``estimate()``
    (the Estimate button); ``finished()`` when the last unit without a label gets one."""

    status = Signal(str)
    estimate = Signal()
    finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: AssessmentSession | None = None
        self.zoom = UnitImage("the unit (zoomed)")
        self.context = UnitImage("around it")
        self.progress_label = QLabel("")
        self.progress_label.setStyleSheet("font-size: 18px; font-weight: bold")
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.reference_label = QLabel("")
        self.map_check = QCheckBox("Show the map class (M)")
        self.map_check.setToolTip("off by default: labelling blind keeps the map's answer from swaying yours")
        self.map_check.toggled.connect(lambda on: self.session is not None and self.session.set_show_map_class(on))
        self.map_label = QLabel("")
        self.taught_label = QLabel("")
        self.taught_label.setWordWrap(True)
        self.taught_label.setStyleSheet("color: #9a5b00")
        self.done_label = QLabel("")
        self.done_label.setWordWrap(True)
        self.class_box = QGridLayout()
        self.class_buttons: list[QPushButton] = []
        self.cant_button = QPushButton(f"0  {CANT_TELL}")
        self.cant_button.setToolTip("reported, and left out of the estimates (also key X)")
        self.cant_button.clicked.connect(lambda: self.give(None))
        self.back_button = QPushButton("← Back")
        self.back_button.clicked.connect(self.back)
        self.next_button = QPushButton("Next →")
        self.next_button.setToolTip("the next unit, leaving this one as it is")
        self.next_button.clicked.connect(self.forward)
        self.estimate_button = QPushButton("Estimate")
        self.estimate_button.setToolTip("accuracy and class areas with 95 % intervals from the labels so far")
        self.estimate_button.clicked.connect(self.estimate)
        keys = QLabel(KEYS_HELP)
        keys.setStyleSheet("color: #555")
        self._lay_out(keys)
        self._shortcuts()

    def _lay_out(self, keys: QLabel) -> None:
        views = QHBoxLayout()
        views.addWidget(self.zoom, 1)
        views.addWidget(self.context, 1)
        head = QHBoxLayout()
        head.addWidget(self.progress_label)
        head.addWidget(self.progress_bar, 1)
        nav = QHBoxLayout()
        for w in (self.back_button, self.next_button):
            nav.addWidget(w)
        nav.addStretch(1)
        nav.addWidget(self.estimate_button)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(views, 1)
        lay.addWidget(self.info)
        row = QHBoxLayout()
        row.addWidget(self.map_check)
        row.addWidget(self.map_label, 1)
        row.addWidget(self.reference_label)
        lay.addLayout(row)
        lay.addLayout(self.class_box)
        lay.addLayout(nav)
        lay.addWidget(keys)
        lay.addWidget(self.done_label)
        lay.addWidget(self.taught_label)

    def _shortcuts(self) -> None:
        """The keys act while this page is shown (a hidden page's shortcuts never fire)."""
        for k in range(1, 10):
            QShortcut(QKeySequence(str(k)), self, lambda k=k: self.give(k - 1))
        for key in ("0", "X"):
            QShortcut(QKeySequence(key), self, lambda: self.give(None))
        for key in ("Left", "Backspace"):
            QShortcut(QKeySequence(key), self, self.back)
        QShortcut(QKeySequence("Right"), self, self.forward)
        QShortcut(QKeySequence("M"), self, self.map_check.toggle)

    # -- following a session ----------------------------------------------------------------------
    def set_session(self, session: AssessmentSession | None) -> None:
        """Label ``session``'s sample (None: nothing)."""
        self.session = session
        while self.class_box.count():
            item = self.class_box.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.class_buttons = []
        if session is None:
            return
        for k, lab in enumerate(session.labels[:9]):
            b = QPushButton(f"{k + 1}  {lab}")
            b.clicked.connect(lambda _=False, k=k: self.give(k))
            self.class_box.addWidget(b, k // 5, k % 5)
            self.class_buttons.append(b)
        n = len(self.class_buttons)
        self.class_box.addWidget(self.cant_button, n // 5, n % 5)
        self.map_check.setChecked(session.show_map_class)
        self.taught_label.setText("\n".join(f"⚠ {t}" for t in session.taught))
        self.taught_label.setVisible(bool(session.taught))
        session.moved.connect(self._show_unit)
        session.changed.connect(self.refresh)
        self._show_unit()

    def _show_unit(self) -> None:
        s = self.session
        if s is None:
            return
        cell = s.loaded.mapdata.scene(s.current.scene).cell
        try:
            self.zoom.set_image(*s.window(ZOOM_AROUND))
            self.context.set_image(*s.window(context_around(cell)))
        except LandguiError as exc:
            self.status.emit(f"cannot read the scene around unit {s.current.id}: {exc}")
        self.refresh()

    def refresh(self) -> None:
        """Progress, the unit's place, its label and (when shown) its map class."""
        s = self.session
        if s is None:
            return
        u = s.current
        done, total = s.progress
        self.progress_label.setText(s.progress_text)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        where = f"x {u.x:,.6g}, y {u.y:,.6g}"
        self.info.setText(
            f"unit {u.id} ({s.index + 1} of {total} in the sample) · scene {u.scene} · row {u.row}, col {u.col} · {where}"
        )
        self.reference_label.setText(f"your label: <b>{u.reference}</b>" if u.reference else "not labelled yet")
        self.map_label.setText(f"map class: <b>{u.map_class}</b>" if s.show_map_class else "")
        if self.map_check.isChecked() != s.show_map_class:
            self.map_check.setChecked(s.show_map_class)
        self.back_button.setEnabled(s.index > 0)
        self.next_button.setEnabled(s.index < total - 1)
        self.done_label.setText(
            f"All {total} units are labelled: press Estimate (labels can still be changed with Back)."
            if s.complete
            else ""
        )

    # -- acting -------------------------------------------------------------------------------------
    def give(self, k: int | None) -> None:
        """Label the unit on screen: class index ``k``, or None for "can't tell"."""
        s = self.session
        if s is None or not self.isVisible():
            return
        was_complete = s.complete
        try:
            line = s.label(k)
        except LandguiError as exc:
            self.status.emit(f"the label was not saved: {exc}")
            show_error(self, "Label not saved", f"the label was not saved: {exc}")
            return
        self.status.emit(line)
        if s.complete and not was_complete:
            self.finished.emit()

    def back(self) -> None:
        """The unit before."""
        if self.session is not None:
            self.session.back()

    def forward(self) -> None:
        """The next unit, without a label."""
        if self.session is not None:
            self.session.forward()
