"""How the Dataset tab shows a split (:class:`SplitView`): images per class and split, and with several sources the
images per class and source (chart) and per source x class x split (table), all from the
split's own counts (``counts``, ``counts_by_source``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from landgui.core.data.split import split_warnings
from landgui.gui.widgets.class_table import THUMB
from landgui.gui.widgets.common import show_placeholder, skipped_parts
from landgui.gui.widgets.thumbnails import ThumbnailLoader, blank_strip, paint_into

SPLITS = ("train", "val", "test")  # landgui.core.data.split.SPLITS, without importing the scanner here
SPLIT_COLOURS = {"train": "#0072B2", "val": "#E69F00", "test": "#009E73"}
SOURCE_COLOURS = ("#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999")


def several_sources(manifest: dict) -> bool:
    return len(manifest.get("counts_by_source") or {}) > 1


def draw_split(figure, manifest: dict) -> None:
    """Bars of images per class and split; below them, with several sources, images per class and
    source (grouped bars, one colour per source)."""
    classes, counts = manifest["classes"], manifest["counts"]
    by_source = manifest.get("counts_by_source") or {}
    figure.clear()
    several = several_sources(manifest)
    ax = figure.add_subplot(211 if several else 111)
    x = np.arange(len(classes))
    for k, s in enumerate(SPLITS):
        ax.bar(x + (k - 1) * 0.27, [counts[c][s] for c in classes], width=0.27, label=s, color=SPLIT_COLOURS[s])
    ax.set_xticks(x, classes, rotation=20)
    ax.set_ylabel("images")
    ax.set_title("Images per class and split")
    ax.set_ylim(0, max([counts[c][s] for c in classes for s in SPLITS] + [1]) * 1.1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)  # beside the bars: never over them
    if not several:
        return
    ax2 = figure.add_subplot(212)
    names = list(by_source)
    width = 0.8 / len(names)
    totals = {n: [sum(by_source[n].get(c, {}).values()) for c in classes] for n in names}
    for k, n in enumerate(names):
        offset = (k - (len(names) - 1) / 2) * width
        ax2.bar(x + offset, totals[n], width=width, label=n, color=SOURCE_COLOURS[k % len(SOURCE_COLOURS)])
    ax2.set_xticks(x, classes, rotation=20)
    ax2.set_ylabel("images")
    ax2.set_title("Images per class and source")
    ax2.set_ylim(0, max([v for t in totals.values() for v in t] + [1]) * 1.1)
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)


def fill_source_table(table: QTableWidget, manifest: dict) -> None:
    """One row per source x class: train, val, test and total images (``counts_by_source``)."""
    by_source = manifest.get("counts_by_source") or {}
    heads = ["source", "class", *SPLITS, "total"]
    table.setColumnCount(len(heads))
    table.setHorizontalHeaderLabels(heads)
    table.setRowCount(0)
    for name, rows in by_source.items():
        for c in manifest["classes"]:
            if c not in rows:
                continue
            r = table.rowCount()
            table.insertRow(r)
            cells = [name, c, *(rows[c][s] for s in SPLITS), sum(rows[c][s] for s in SPLITS)]
            for col, v in enumerate(cells):
                item = QTableWidgetItem(str(v))
                if col >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, col, item)


def sources_line(manifest: dict) -> str:
    """``source a: 60 images (train 42, val 9, test 9) · source b: ...`` for the summary."""
    parts = []
    for name, rows in (manifest.get("counts_by_source") or {}).items():
        n = {s: sum(r[s] for r in rows.values()) for s in SPLITS}
        parts.append(
            f"source <b>{name}</b>: {sum(n.values())} images (train {n['train']}, val {n['val']}, test {n['test']})"
        )
    return " · ".join(parts)


class SplitView(QWidget):
    """A split's summary line, its chart, and its tabs: class x source counts (several sources
    only), duplicate groups with thumbnails (decoded off the GUI thread), skipped files."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(5, 3), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.dup_list = QListWidget()
        self.dup_list.setWordWrap(True)  # long member lists wrap instead of running off the right edge
        self.dup_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.dup_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.dup_list.setIconSize(QSize(THUMB * 4 + 12, THUMB))
        self._dup_strips: list[QPixmap] = []
        self.dup_thumbs = ThumbnailLoader(self)
        self.dup_thumbs.ready.connect(self._dup_thumbnail_ready)
        self.skipped_table = QTableWidget(0, 2)
        self.skipped_table.setHorizontalHeaderLabels(["file", "reason"])
        self.skipped_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.source_table = QTableWidget(0, 6)  # images per source x class x split
        self.source_table.verticalHeader().setVisible(False)
        self.source_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.result_tabs = QTabWidget()
        self.result_tabs.addTab(self.source_table, "Class × source")
        self.result_tabs.addTab(self.dup_list, "Duplicate groups")
        self.result_tabs.addTab(self.skipped_table, "Skipped files")
        self.result_tabs.setTabVisible(0, False)  # only for several sources
        self.manifest: dict | None = None

        rv = QVBoxLayout(self)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.summary_label)
        rv.addWidget(self.canvas, 1)
        rv.addWidget(self.result_tabs, 1)
        self.show_none()

    def _dup_thumbnail_ready(self, key: object, image: QImage) -> None:
        group, slot = key  # type: ignore[misc]
        item = self.dup_list.item(group)
        if item is not None and group < len(self._dup_strips):
            paint_into(self._dup_strips[group], slot, image, THUMB)
            item.setIcon(QIcon(self._dup_strips[group]))

    # -- showing a split ----------------------------------------------------------------
    def show_none(self, dataset: bool = False) -> None:
        """No split: the chart says what to do (``dataset``: a dataset is chosen, not split yet)."""
        self.manifest = None
        self.summary_label.setText("No split of this dataset yet." if dataset else "No split yet.")
        show_placeholder(
            self.figure,
            "Press Split: the images per class and split appear here."
            if dataset
            else "Choose a dataset folder (or Use the sample dataset) and press Split: "
            "the images per class and split appear here.",
        )
        self.dup_thumbs.cancel_pending()
        self.dup_list.clear()
        self._dup_strips = []
        for table in (self.skipped_table, self.source_table):
            table.setRowCount(0)
        self.result_tabs.setTabVisible(0, False)

    def show_manifest(self, manifest: dict) -> None:
        """Show a split (a split.json's content)."""
        self.manifest = manifest
        draw_split(self.figure, manifest)
        self.canvas.draw_idle()
        several = several_sources(manifest)
        fill_source_table(self.source_table, manifest)
        self.result_tabs.setTabVisible(0, several)
        total = {s: len(manifest["splits"][s]) for s in ("train", "val", "test")}
        groups = manifest["duplicate_groups"]
        skipped, ignored = skipped_parts(manifest["skipped"])  # a README.txt beside the classes is not skipped
        self.summary_label.setText(
            f"<b>{manifest.get('_path', '')}</b><br>train {total['train']}, val {total['val']}, test {total['test']} · "
            f"{len(groups)} duplicate groups (each kept within one split) · "
            f"{len(manifest['excluded'])} files excluded for label conflicts · {skipped}"
            + (f" · {ignored}" if ignored else "")
            + (f"<br>{sources_line(manifest)}" if several else "")
            + "".join(f"<br><span style='color:#b00020'>warning: {w}</span>" for w in split_warnings(manifest))
        )
        root = Path(manifest["dataset_root"])
        self.dup_thumbs.cancel_pending()
        self.dup_list.clear()
        self._dup_strips = []
        for k, g in enumerate(groups):
            members = g["members"]
            self._dup_strips.append(blank_strip(min(len(members), 4), THUMB))
            for i, m in enumerate(members[:4]):  # decoded off the GUI thread, painted as they arrive
                self.dup_thumbs.request((k, i), root / m["path"], THUMB)
            where = g["split"] or "excluded"
            tag = "CONFLICT " if g["conflict"] else ""
            text = f"{tag}{g['kind']} ×{len(members)} → {where}\n" + ", ".join(m["path"] for m in members[:4])
            self.dup_list.addItem(QListWidgetItem(QIcon(self._dup_strips[-1]), text))
        self.skipped_table.setRowCount(0)
        for b in manifest["skipped"] + manifest["excluded"]:
            r = self.skipped_table.rowCount()
            self.skipped_table.insertRow(r)
            self.skipped_table.setItem(r, 0, QTableWidgetItem(b["path"]))
            self.skipped_table.setItem(r, 1, QTableWidgetItem(b["reason"]))
