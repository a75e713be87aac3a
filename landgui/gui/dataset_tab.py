"""Dataset tab: choose or drop a class-folder dataset, see its classes, split it in a worker."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from landgui.gui.common import (
    EtaProgressBar,
    FormScroll,
    accept_copy,
    last_dir,
    remember_dir,
    show_error,
    show_placeholder,
)
from landgui.gui.state import AppState
from landgui.gui.thumbnails import ThumbnailLoader, blank_strip, paint_into
from landgui.gui.workers import JobRegistry, TabJobs

THUMB = 48
SPLIT_JOB = "split"


def default_split_folder(dataset: Path) -> Path:
    """Where a dataset's split goes unless the user says otherwise: a sibling ``<name>-split``
    next to the dataset, never inside it (a new folder there would be read as a class); under
    ~/landgui-data when the dataset's parent folder cannot be written."""
    dataset = Path(os.path.abspath(dataset.expanduser()))
    name = f"{dataset.name or 'dataset'}-split"
    if dataset.parent != dataset and os.access(dataset.parent, os.W_OK):
        return dataset.parent / name
    return Path.home() / "landgui-data" / name


class ClassTableModel(QAbstractTableModel):
    """Classes of a dataset folder: name, number of files, three sample thumbnails (decoded off
    the GUI thread: a row shows its thumbnails as they arrive)."""

    HEADERS = ("class", "files", "samples")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, int, list[str]]] = []
        self._icons: dict[int, QIcon] = {}
        self._strips: dict[int, QPixmap] = {}
        self.thumbs = ThumbnailLoader(self)
        self.thumbs.ready.connect(self._thumbnail_ready)

    def set_folder(self, root: Path) -> None:
        self.thumbs.cancel_pending()
        self.beginResetModel()
        self.rows = []
        self._icons, self._strips = {}, {}
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = sorted(f.path for f in os.scandir(d) if f.is_file() and not f.name.startswith("."))
            self.rows.append((d.name, len(files), files[:3]))
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008,N802
        return 3

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
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
            index = self.index(row, 2)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        name, n, _ = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return name if index.column() == 0 else (n if index.column() == 1 else None)
        if role == Qt.ItemDataRole.DecorationRole and index.column() == 2:
            return self._samples_icon(index.row())
        return None


class DatasetTab(TabJobs, QWidget):
    split_written = Signal(str)  # path of split.json
    status = Signal(str)

    def __init__(
        self, state: AppState | None = None, jobs: JobRegistry | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.state = state or AppState(str(Path.home() / "landgui-runs"), parent=self)
        self.jobs = jobs or JobRegistry(self)
        self.manifest: dict | None = None

        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("dataset folder with one sub-folder per class (or drop it here)")
        self.folder_edit.editingFinished.connect(lambda: self.set_dataset(self.folder_edit.text()))
        self.folder_edit.textChanged.connect(self.folder_edit.setToolTip)  # the whole path, however narrow
        browse = QPushButton("Choose dataset…")
        browse.clicked.connect(self.choose_dataset)
        open_split = QPushButton("Open split.json…")
        open_split.clicked.connect(self.choose_split_file)
        self.sample_button = QPushButton("Use the sample dataset")
        self.sample_button.setToolTip(
            "copy 240 example patches (4 classes) to ~/landgui-data/landcover4-sample and open them"
        )
        self.sample_button.clicked.connect(self.use_sample)
        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset:"))
        top.addWidget(self.folder_edit, 1)
        top.addWidget(browse)
        top.addWidget(open_split)
        top.addWidget(self.sample_button)

        self.class_model = ClassTableModel()
        self.class_table = QTableView()
        self.class_table.setModel(self.class_model)
        self.class_table.setIconSize(QSize(THUMB * 3 + 8, THUMB))
        self.class_table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.class_table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        self.val_spin = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.9, singleStep=0.05, value=0.15)
        self.test_spin = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.9, singleStep=0.05, value=0.15)
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.materialize_combo = QComboBox()
        self.materialize_combo.addItems(["none", "copy", "link"])
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("output folder for split.json")
        self.out_edit.textChanged.connect(self.out_edit.setToolTip)
        out_btn = QPushButton("…")
        out_btn.setMaximumWidth(36)
        out_btn.clicked.connect(self.choose_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(out_btn)
        self.split_button = QPushButton("Split")
        self.split_button.setEnabled(False)
        self.split_button.clicked.connect(self.start_split)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = EtaProgressBar()

        form = QFormLayout()
        form.addRow("Validation fraction", self.val_spin)
        form.addRow("Test fraction", self.test_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Materialize", self.materialize_combo)
        form.addRow("Output folder", out_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.split_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        form.addRow(self.progress)
        split_box = QGroupBox("Split into train / validation / test")
        split_box.setLayout(form)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.class_table, 1)
        lv.addWidget(split_box)
        left.setMinimumHeight(split_box.sizeHint().height() + 120)  # the form, and a few classes
        self.left_scroll = FormScroll(left)  # the form stays readable in a small window: it scrolls

        self.figure = Figure(figsize=(5, 3), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        show_placeholder(
            self.figure,
            "Choose a dataset folder (or Use the sample dataset) and press Split: "
            "the images per class and split appear here.",
        )
        self.summary_label = QLabel("No split yet.")
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
        self.result_tabs = QTabWidget()
        self.result_tabs.addTab(self.dup_list, "Duplicate groups")
        self.result_tabs.addTab(self.skipped_table, "Skipped files")

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.summary_label)
        rv.addWidget(self.canvas, 1)
        rv.addWidget(self.result_tabs, 1)

        splitter = QSplitter()
        splitter.addWidget(self.left_scroll)
        splitter.addWidget(right)
        splitter.setSizes([520, 700])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    # -- choosing input -------------------------------------------------------------------
    def choose_dataset(self) -> None:
        d = QFileDialog.getExistingDirectory(
            self, "Choose a dataset folder", self.folder_edit.text() or last_dir("dataset")
        )
        if d:
            remember_dir("dataset", d)
            self.set_dataset(d)

    def use_sample(self) -> None:
        """Copy the shipped sample dataset to the user's data folder (once) and open it."""
        from landgui.core.errors import LandguiError
        from landgui.core.sample import SAMPLE_NAME, copy_sample_dataset, sample_dataset_dir

        dest = Path.home() / "landgui-data" / SAMPLE_NAME
        readme = dest / "README.txt"
        try:
            if not (readme.is_file() and readme.read_bytes() == (sample_dataset_dir() / "README.txt").read_bytes()):
                copy_sample_dataset(dest)
        except (LandguiError, OSError) as exc:
            show_error(self, "Sample dataset", str(exc))
            return
        self.set_dataset(str(dest))

    def choose_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Choose the output folder", self.out_edit.text())
        if d and self._inside_dataset(d):
            show_error(self, "Output folder", f"{d} is inside the dataset: a new folder there would be read as a class")
        elif d:
            self.out_edit.setText(d)

    def _inside_dataset(self, out: str) -> bool:
        data = self.folder_edit.text()
        if not (out and data):
            return False
        o, ds = Path(out).expanduser().resolve(), Path(data).expanduser().resolve()
        return o == ds or o.is_relative_to(ds)

    def choose_split_file(self) -> None:
        f, _ = QFileDialog.getOpenFileName(
            self, "Open split.json", last_dir("split"), "Split files (split.json *.json)"
        )
        if f:
            remember_dir("split", f)
            self.open_split(f)

    def set_dataset(self, folder: str) -> None:
        p = Path(folder)
        if not folder or not p.is_dir():
            if folder:
                show_error(self, "Dataset", f"not a folder: {folder}")
            return
        self.folder_edit.setText(str(p))
        self.class_model.set_folder(p)
        self.state.set_dataset(str(p))
        # the output folder follows the dataset unless the user typed one, and is never inside it
        typed = self.out_edit.text()
        if not typed or typed == getattr(self, "_derived_out", None) or self._inside_dataset(typed):
            self._derived_out = str(default_split_folder(p))
            self.out_edit.setText(self._derived_out)
        n = self.class_model.rowCount()
        self.split_button.setEnabled(n > 0)
        if n == 0:
            self.status.emit(
                f"{p} holds no class folders: a dataset is one sub-folder of images per class (e.g. water/, desert/)"
            )
        else:
            self.status.emit(f"dataset {p}: {n} classes")

    def open_split(self, path: str, quiet: bool = False) -> None:
        """Show a split.json (and its dataset); ``quiet``: a bad file is named in the status bar,
        not in a dialog (restoring a session)."""
        from landgui.core.errors import LandguiError
        from landgui.core.split import load_split

        try:
            manifest = load_split(path)
        except LandguiError as exc:
            if quiet:
                self.status.emit(f"split not reopened: {exc}")
            else:
                show_error(self, "Open split", str(exc))
            return
        root = Path(manifest["dataset_root"])
        if root.is_dir():
            self.folder_edit.setText(str(root))
            self.class_model.set_folder(root)
            self.split_button.setEnabled(True)
            self.state.set_dataset(str(root))
        self.show_manifest(manifest)
        self.state.set_split(manifest["_path"])
        self.split_written.emit(manifest["_path"])

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            accept_copy(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            p = url.toLocalFile()
            accept_copy(event)
            if os.path.isdir(p):
                self.set_dataset(p)
            elif p.endswith(".json"):
                self.open_split(p)
            else:
                show_error(
                    self, "Dataset", f"{Path(p).name or p} is not a dataset folder or a split.json: drop a folder"
                )
            return

    # -- splitting ----------------------------------------------------------------------
    def start_split(self) -> None:
        from landgui.core.dataset import scan_dataset
        from landgui.core.split import SplitParams, write_split

        dataset, out = self.folder_edit.text(), self.out_edit.text()
        existing = Path(out) / "split.json"
        if out and existing.exists() and not self._confirm_replace(existing):
            self.status.emit("split not written: the existing split.json was kept")
            return
        params = SplitParams(
            val=self.val_spin.value(),
            test=self.test_spin.value(),
            seed=self.seed_spin.value(),
            materialize=self.materialize_combo.currentText(),
        )

        def job(progress, should_stop):
            params.check()
            scan = scan_dataset(
                dataset,
                min_correlation=params.near_duplicate_min_correlation,
                progress=progress,
                should_stop=should_stop,
            )
            manifest = write_split(scan, out, params)
            manifest["_path"] = str(Path(out, "split.json").resolve())
            return manifest

        worker = self.jobs.start(
            self,
            SPLIT_JOB,
            job,
            label="split",
            progress=self.progress.update_progress,
            on_done=self._split_done,
            on_failed=self._split_failed,
            on_cancelled=lambda: self._end("split cancelled"),
        )
        if worker is not None:
            self.split_button.setEnabled(False)
            self.cancel_button.setEnabled(True)

    def _confirm_replace(self, existing: Path) -> bool:
        """Ask before replacing a split.json that runs may have been trained on."""
        answer = QMessageBox.question(
            self,
            "Replace the split?",
            f"{existing} already exists, and runs trained on it point to it. Replacing it makes "
            "their evaluations refuse the new split.\n\nReplace it, or choose another output folder?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def cancel(self) -> None:
        self.jobs.cancel(SPLIT_JOB)

    def _end(self, text: str) -> None:
        self.progress.finish(text)
        self.split_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.status.emit(text)

    def _split_done(self, manifest: dict) -> None:
        from landgui.core.split import split_warnings

        warnings = split_warnings(manifest)
        self._end(f"split written to {manifest['_path']}" + (f"; warning: {warnings[0]}" if warnings else ""))
        self.show_manifest(manifest)
        self.state.set_split(manifest["_path"])
        self.split_written.emit(manifest["_path"])

    def _split_failed(self, message: str, details: str) -> None:
        self._end("split failed")
        show_error(self, "Split failed", message, details)

    def _dup_thumbnail_ready(self, key: object, image: QImage) -> None:
        group, slot = key  # type: ignore[misc]
        item = self.dup_list.item(group)
        if item is not None and group < len(self._dup_strips):
            paint_into(self._dup_strips[group], slot, image, THUMB)
            item.setIcon(QIcon(self._dup_strips[group]))

    # -- showing a split ----------------------------------------------------------------
    def show_manifest(self, manifest: dict) -> None:
        from landgui.core.split import split_warnings

        self.manifest = manifest
        classes = manifest["classes"]
        counts = manifest["counts"]
        self.figure.clear()
        ax = self.figure.add_subplot(111)
        x = np.arange(len(classes))
        colours = {"train": "#0072B2", "val": "#E69F00", "test": "#009E73"}
        for k, s in enumerate(("train", "val", "test")):
            ax.bar(x + (k - 1) * 0.27, [counts[c][s] for c in classes], width=0.27, label=s, color=colours[s])
        ax.set_xticks(x, classes, rotation=20)
        ax.set_ylabel("images")
        ax.set_title("Images per class and split")
        ax.set_ylim(0, max([counts[c][s] for c in classes for s in ("train", "val", "test")] + [1]) * 1.25)
        ax.legend(ncols=3, loc="upper center")  # above the bars, never over them
        self.canvas.draw_idle()
        total = {s: len(manifest["splits"][s]) for s in ("train", "val", "test")}
        groups = manifest["duplicate_groups"]
        self.summary_label.setText(
            f"<b>{manifest.get('_path', '')}</b><br>train {total['train']}, val {total['val']}, test {total['test']} · "
            f"{len(groups)} duplicate groups (each kept within one split) · "
            f"{len(manifest['excluded'])} files excluded for label conflicts · {len(manifest['skipped'])} skipped"
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
