"""The Evaluation tab's image list: the images of a confusion-matrix cell, or of a prediction,
as thumbnails named by file (decoded off the GUI thread), enlarged on demand and exported as CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QLabel, QListView, QListWidget, QListWidgetItem, QMenu, QPushButton, QVBoxLayout, QWidget

from landgui.core.base.atomic import write_text_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.inference.predictors import predictions_csv
from landgui.gui.widgets.common import choose_save_path, hbox, show_error
from landgui.gui.widgets.image_preview import ImagePreviewDialog, open_in_system_viewer
from landgui.gui.widgets.thumbnails import ThumbnailLoader, placeholder_pixmap

THUMB = 72
#: The item's record for the preview dialog and the CSV export: {path, pred, confidence, probs, true?}.
INFO_ROLE = Qt.ItemDataRole.UserRole + 1


class PredictionList(QWidget):
    """A line saying what is listed, Export CSV…, and the images (double-click: enlarge;
    right-click: open in the system viewer). ``export_name()`` names the CSV a save dialog offers."""

    status = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.export_name: Callable[[], str] = lambda: "predictions.csv"
        self.cell_label = QLabel("Click a confusion-matrix cell to see its images.")
        self.cell_label.setWordWrap(True)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("the listed predictions as CSV: file, predicted class, probability per class")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.choose_export)
        self.images = QListWidget()
        self.images.setViewMode(QListView.ViewMode.IconMode)
        self.images.setIconSize(QSize(THUMB, THUMB))
        self.images.setGridSize(QSize(THUMB + 70, THUMB + 40))
        self.images.setResizeMode(QListView.ResizeMode.Adjust)
        self.images.setWordWrap(True)
        self.images.setToolTip("double-click an image to enlarge it; right-click to open it in the system viewer")
        self.images.itemActivated.connect(self.enlarge)
        self.images.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.images.customContextMenuRequested.connect(self._image_menu)
        self.thumbs = ThumbnailLoader(self)  # thumbnails are decoded off the GUI thread
        self.thumbs.ready.connect(self._thumbnail_ready)
        self.listed: list[dict] = []  # what the list shows, for the CSV export
        self.preview: ImagePreviewDialog | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(hbox(self.cell_label, self.export_button, stretch_first=True))
        lay.addWidget(self.images, 1)

    def show_images(self, rows: list[dict], text: str, limit: int = 200) -> None:
        """Show images as thumbnails named by file, decoded off the GUI thread; ``rows`` are
        {path (absolute), pred, confidence, probs {class: p}, true?}, all kept for the CSV export."""
        self.thumbs.cancel_pending()
        self.images.clear()
        self.listed = rows
        self.cell_label.setText(text)
        self.export_button.setEnabled(bool(rows))
        waiting = QIcon(placeholder_pixmap(THUMB))
        for k, r in enumerate(rows[:limit]):
            item = QListWidgetItem(waiting, f"{Path(r['path']).name}\n{r['pred']} {r['confidence']:.2f}")
            item.setToolTip(r["path"] + "\n" + "\n".join(f"{c}: {v:.4f}" for c, v in r["probs"].items()))
            item.setData(INFO_ROLE, r)
            self.images.addItem(item)
            self.thumbs.request(k, r["path"], THUMB)

    def _thumbnail_ready(self, row: object, image: QImage) -> None:
        item = self.images.item(int(row))  # type: ignore[call-overload]
        if item is not None and not image.isNull():
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def enlarge(self, item: QListWidgetItem | None) -> None:
        """The image at full size with its true and predicted class and probabilities."""
        if item is None:
            return
        self.preview = ImagePreviewDialog(item.data(INFO_ROLE), self)
        self.preview.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.preview.show()

    def _image_menu(self, pos) -> None:
        item = self.images.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Enlarge…", lambda: self.enlarge(item))
        menu.addAction("Open in system viewer", lambda: open_in_system_viewer(item.data(INFO_ROLE)["path"]))
        menu.exec(self.images.viewport().mapToGlobal(pos))

    def choose_export(self) -> None:
        """Ask where to write the listed predictions, then write them."""
        path = choose_save_path(self, "export-csv", "Export predictions as CSV", self.export_name())
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """Write the listed predictions (all of them, not only the thumbnails shown) as CSV, atomically."""
        labels = list(self.listed[0]["probs"]) if self.listed else []
        try:
            write_text_atomic(path, predictions_csv(self.listed, labels))
        except LandguiError as exc:
            show_error(self, "Export CSV", str(exc))
            return
        self.status.emit(f"wrote {len(self.listed)} predictions to {path}")
