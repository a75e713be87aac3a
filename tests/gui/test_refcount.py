"""Guard against a binding that loses references to None: PySide6-Essentials 6.12.0 dropped one on
every call of a void Qt method (e.g. QPainterPath.moveTo), so a few hundred map redraws took None's
reference count to zero and the app crashed on exit ("none_dealloc", exit 134)."""

import sys

from PySide6.QtCore import QRectF
from PySide6.QtGui import QPainterPath


def test_void_qt_calls_keep_none_alive(qapp):
    path = QPainterPath()
    before = sys.getrefcount(None)
    for _ in range(2000):
        path.moveTo(1.0, 2.0)
        path.lineTo(3.0, 4.0)
        path.addRect(QRectF(0, 0, 1, 1))
    assert sys.getrefcount(None) - before > -100
