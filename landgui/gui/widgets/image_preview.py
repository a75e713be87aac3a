"""A thumbnail enlarged: the image at full size (small patches scaled up by whole pixels), its
true and predicted class with every class probability, and a button to open it in the system viewer."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from landgui.gui.widgets.thumbnails import ThumbnailLoader

#: A patch smaller than this is shown scaled up by a whole factor (nearest pixel) to about this size.
MIN_SHOWN = 256


def open_in_system_viewer(path: str | Path) -> bool:
    """Open a file with the desktop's default application."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def prediction_text(info: dict) -> str:
    """Rich text: true and predicted class, then each class probability, most probable first."""
    head = f"predicted <b>{info['pred']}</b> ({info['confidence']:.2f})"
    if info.get("true"):
        verdict = "correct" if info["true"] == info["pred"] else "<span style='color:#b00020'>wrong</span>"
        head = f"true <b>{info['true']}</b> · {head} · {verdict}"
    probs = sorted(info.get("probs", {}).items(), key=lambda kv: -kv[1])
    return head + "<br>" + "<br>".join(f"{lab}: {p:.4f}" for lab, p in probs)


class ImagePreviewDialog(QDialog):
    """``info``: {path (absolute), pred, confidence, probs {class: p}, true (optional)}."""

    def __init__(self, info: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.image = QImage()
        path = Path(info["path"])
        self.setWindowTitle(path.name)
        self.picture = QLabel("loading…")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(MIN_SHOWN, MIN_SHOWN)
        scroll = QScrollArea()
        scroll.setWidget(self.picture)
        scroll.setWidgetResizable(True)
        self.text = QLabel(prediction_text(info))
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.path_label = QLabel(str(path))
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.open_button = QPushButton("Open in system viewer")
        self.open_button.clicked.connect(lambda: open_in_system_viewer(path))
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.text)
        layout.addWidget(self.path_label)
        layout.addWidget(buttons)
        self.resize(560, 620)
        self.loader = ThumbnailLoader(self)
        self.loader.ready.connect(self._show_image)
        self.loader.request(None, path, None)  # full size, decoded off the GUI thread

    def _show_image(self, _key: object, image: QImage) -> None:
        self.image = image
        if image.isNull():
            self.picture.setText("this file cannot be read")
            return
        w, h = image.width(), image.height()
        factor = max(1, MIN_SHOWN // max(w, h))
        pm = QPixmap.fromImage(image)
        if factor > 1:
            pm = pm.scaled(
                w * factor, h * factor, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
            )
        self.picture.setPixmap(pm)
        size = f"{w} x {h} px" + (f", shown x{factor}" if factor > 1 else "")
        self.picture.setToolTip(size)
        self.path_label.setText(f"{self.info['path']} ({size})")

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        self.loader.cancel_pending()
        self.loader.wait(2000)
        super().done(result)
