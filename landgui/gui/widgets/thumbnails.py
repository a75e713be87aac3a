"""Images for thumbnails and previews decoded off the GUI thread.

A small thread pool decodes each file to a ``QImage`` (safe outside the GUI thread, unlike a
``QPixmap``); ``ready(key, image)`` arrives in the GUI thread, where the widget makes the pixmap.
Results of requests made before :meth:`ThumbnailLoader.cancel_pending` are dropped, so a list that
was refilled never receives the previous list's images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from landgui.core.data.imageio import ImageReadError, read_image


def thumbnail_image(path: str | Path, side: int | None) -> QImage:
    """An image file as a QImage whose longer side is ``side`` (None: native size); a null
    QImage when the file cannot be read. Safe to call from any thread."""
    import cv2

    try:
        rgb = read_image(path)
    except ImageReadError:
        return QImage()
    h, w = rgb.shape[:2]
    if side is not None:
        s = side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(rgb)
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()


def placeholder_pixmap(side: int) -> QPixmap:
    """A grey square shown while a thumbnail loads, or for a file that cannot be read."""
    from PySide6.QtCore import Qt

    pm = QPixmap(side, side)
    pm.fill(Qt.GlobalColor.lightGray)
    return pm


class _Relay(QObject):
    """Carries a decoded image from a pool thread to the GUI thread (a queued signal)."""

    done = Signal(int, object, QImage)


class _Decode(QRunnable):
    def __init__(self, relay: _Relay, generation: int, key: object, path: str, side: int | None) -> None:
        super().__init__()
        self.relay, self.generation, self.key, self.path, self.side = relay, generation, key, path, side

    def run(self) -> None:  # noqa: D401 - Qt override
        try:
            image = thumbnail_image(self.path, self.side)
        except Exception:  # noqa: BLE001 - out of memory, a decoder's bug: still answered, blank (issue 23)
            image = QImage()
        self.relay.done.emit(self.generation, self.key, image)


class ThumbnailLoader(QObject):
    """Decodes images in a pool thread: ``request(key, path, side)`` -> ``ready(key, QImage)``."""

    ready = Signal(object, QImage)

    def __init__(self, parent: QObject | None = None, threads: int = 1) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._generation = 0
        self._relay = _Relay()  # no parent: alive while a pool thread still holds it
        self._relay.done.connect(self._deliver)

    def request(self, key: object, path: str | Path, side: int | None) -> None:
        self.pool.start(_Decode(self._relay, self._generation, key, str(path), side))

    def cancel_pending(self) -> None:
        """Forget every request made so far: queued ones are dropped, running ones are ignored."""
        self._generation += 1
        self.pool.clear()

    def wait(self, msecs: int = -1) -> bool:
        """Wait for the decodes under way (tests, closing)."""
        return self.pool.waitForDone(msecs)

    def _deliver(self, generation: int, key: object, image: QImage) -> None:
        if generation == self._generation:
            self.ready.emit(key, image)


def blank_strip(count: int, side: int, gap: int = 4) -> QPixmap:
    """A transparent strip for ``count`` thumbnails side by side, filled by :func:`paint_into`."""
    from PySide6.QtCore import Qt

    strip = QPixmap(max(1, side * count + gap * (count - 1)), side)
    strip.fill(Qt.GlobalColor.transparent)
    return strip


def paint_into(strip: QPixmap, slot: int, image: QImage, side: int, gap: int = 4) -> None:
    """Draw a decoded thumbnail into place ``slot`` of a strip (grey for a file that cannot be read)."""
    from PySide6.QtGui import QPainter

    p = QPainter(strip)
    if image.isNull():
        p.drawPixmap(slot * (side + gap), 0, placeholder_pixmap(side))
    else:
        p.drawImage(slot * (side + gap), 0, image)
    p.end()
