"""The Dataset tab's classes table: the classes of one dataset folder, or of several (sources),
with the number of files per class (and per class x source) and three sample thumbnails."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap

from landgui.gui.widgets.thumbnails import ThumbnailLoader, blank_strip, paint_into

THUMB = 48


def class_files(root: Path) -> dict[str, list[str]]:
    """The class folders of one dataset folder and their files (hidden ones left out), by name."""
    out: dict[str, list[str]] = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out[d.name] = sorted(f.path for f in os.scandir(d) if f.is_file() and not f.name.startswith("."))
    return out


class ClassTableModel(QAbstractTableModel):
    """Classes of a dataset: name, number of files, with several sources one column of files per
    source, then three sample thumbnails (decoded off the GUI thread: a row shows its thumbnails
    as they arrive).

    ``rows`` are ``(class, files, sample paths)``; ``per_source`` is ``{source: {class: files}}``
    (one source named after its folder for a single dataset folder)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, int, list[str]]] = []
        self.per_source: dict[str, dict[str, int]] = {}
        self.folders: list[str] = []  # the folders shown, in their order
        self._icons: dict[int, QIcon] = {}
        self._strips: dict[int, QPixmap] = {}
        self.thumbs = ThumbnailLoader(self)
        self.thumbs.ready.connect(self._thumbnail_ready)

    @property
    def sources(self) -> list[str]:
        """The source columns shown: none for one dataset folder."""
        return list(self.per_source) if len(self.per_source) > 1 else []

    @property
    def samples_column(self) -> int:
        return 2 + len(self.sources)

    def set_folder(self, root: Path) -> None:
        self.set_folders({root.name or "dataset": root})

    def set_folders(self, folders: dict[str, Path]) -> None:
        """Show the classes of the source folders (``{name: folder}``), the union of their classes."""
        self.thumbs.cancel_pending()
        self.beginResetModel()
        listed = {name: class_files(Path(root)) for name, root in folders.items()}
        self.folders = [str(root) for root in folders.values()]
        self.per_source = {name: {c: len(files) for c, files in by_class.items()} for name, by_class in listed.items()}
        self.rows = []
        self._icons, self._strips = {}, {}
        for c in sorted({c for by_class in listed.values() for c in by_class}):
            files = [f for by_class in listed.values() for f in by_class.get(c, [])]
            samples = [by_class[c][0] for by_class in listed.values() if by_class.get(c)]  # one per source first
            samples += [f for f in files if f not in samples]
            self.rows.append((c, len(files), samples[:3]))
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 3 + len(self.sources)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return ("class", "files", *self.sources, "samples")[section]
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal:
            if 2 <= section < self.samples_column:
                return f"files of each class in source {self.sources[section - 2]}"
        return None

    def _samples_icon(self, row: int) -> QIcon:
        if row not in self._icons:
            self._strips[row] = blank_strip(3, THUMB)
            self._icons[row] = QIcon(self._strips[row])
            for i, f in enumerate(self.rows[row][2]):
                self.thumbs.request((row, i), f, THUMB)
        return self._icons[row]

    def _thumbnail_ready(self, key: object, image: QImage) -> None:
        row, slot = key  # type: ignore[misc]
        if row in self._strips:
            paint_into(self._strips[row], slot, image, THUMB)
            self._icons[row] = QIcon(self._strips[row])
            index = self.index(row, self.samples_column)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        name, n, _ = self.rows[index.row()]
        col, sources = index.column(), self.sources
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return name
            if col == 1:
                return n
            if col < self.samples_column:
                return self.per_source[sources[col - 2]].get(name, 0)
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == self.samples_column:
            return self._samples_icon(index.row())
        return None
