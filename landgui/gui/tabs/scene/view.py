"""The map view: zoom with the wheel or + / -, pan by dragging, drop files; it reports hover,
clicks, Shift+drag areas and right clicks in scene pixels (it draws nothing itself: see
:mod:`landgui.gui.tabs.scene.layers`)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView

from landgui.gui.widgets.common import accept_copy


class SceneView(QGraphicsView):
    """Zoom with the wheel, pan by dragging, drop files; reports hover and clicks in scene pixels."""

    files_dropped = Signal(list)
    hovered = Signal(float, float)
    clicked = Signal(float, float, bool)  # scene x, y; True with Shift or Ctrl (add to the selection)
    area_selected = Signal(QRectF)  # Shift+drag: a rubber band in scene pixels
    context_requested = Signal(float, float, object)  # right click: scene x, y and the global QPoint

    def __init__(self) -> None:
        super().__init__()
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)  # hover reports without a button pressed
        self.setAcceptDrops(True)
        self.setBackgroundBrush(QColor("#202020"))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._press = None
        self._band = QRectF()
        self.last_modifiers = Qt.KeyboardModifier.NoModifier
        self.rubberBandChanged.connect(lambda _r, a, b: self._track_band(a, b))

    def _track_band(self, a, b) -> None:
        if not (a.isNull() and b.isNull()):
            self._band = QRectF(a, b).normalized()

    def wheelEvent(self, event) -> None:  # noqa: N802
        factor = 1.25 ** (event.angleDelta().y() / 120)
        self.scale(factor, factor)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        """Keyboard zoom: + / - (and Ctrl++ / Ctrl+-), F fits the scene; the arrow keys pan."""
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.scale(1.25, 1.25)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.scale(0.8, 0.8)
        elif key == Qt.Key.Key_F:
            self.fit()
        else:
            super().keyPressEvent(event)  # arrows scroll the view

    def fit(self) -> None:
        """Show the whole scene."""
        if not self.scene().sceneRect().isEmpty():
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._press = event.position()
        self.last_modifiers = event.modifiers()
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._band = QRectF()
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        super().mouseReleaseEvent(event)
        banding = self.dragMode() == QGraphicsView.DragMode.RubberBandDrag
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        if self._press is not None and (event.position() - self._press).manhattanLength() < 4:
            p = self.mapToScene(event.position().toPoint())
            add = bool(self.last_modifiers & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))
            self.clicked.emit(p.x(), p.y(), add)
        elif banding and self._press is not None:
            a = self.mapToScene(self._press.toPoint())
            b = self.mapToScene(event.position().toPoint())
            self.area_selected.emit(self._band if not self._band.isEmpty() else QRectF(a, b).normalized())
        self._press = None

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        super().mouseMoveEvent(event)
        p = self.mapToScene(event.position().toPoint())
        self.hovered.emit(p.x(), p.y())

    def contextMenuEvent(self, event) -> None:  # noqa: N802
        p = self.mapToScene(event.pos())
        self.context_requested.emit(p.x(), p.y(), event.globalPos())

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            accept_copy(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            accept_copy(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            accept_copy(event)
            self.files_dropped.emit(files)
