"""Dataset tab: choose or drop a class-folder dataset (or several: sources, e.g. one per sensor,
split as one), see its classes per source, split it in a worker."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSize, Signal
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
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from landgui.core.base.errors import LandguiError
from landgui.core.data.sample import SAMPLE_NAME, copy_sample_dataset, sample_dataset_dir
from landgui.core.data.scan import scan_sources
from landgui.core.data.split import SplitParams, load_split, split_warnings, write_split
from landgui.gui.jobs import JobRegistry, TabJobs
from landgui.gui.state.app_state import AppState
from landgui.gui.widgets.class_table import THUMB, ClassTableModel
from landgui.gui.widgets.common import (
    EtaProgressBar,
    FormScroll,
    accept_copy,
    last_dir,
    remember_dir,
    show_error,
)
from landgui.gui.widgets.sources_panel import SourcesPanel, source_names
from landgui.gui.widgets.split_view import SplitView

SPLIT_JOB = "split"


def default_split_folder(dataset: Path | list[Path]) -> Path:
    """Where a dataset's split goes unless the user says otherwise: a sibling ``<name>-split``
    next to the dataset, never inside it (a new folder there would be read as a class); under
    ~/landgui-data when the dataset's parent folder cannot be written. Several source folders:
    ``<a>+<b>-split`` in their common parent folder."""
    folders = [
        Path(os.path.abspath(Path(d).expanduser())) for d in (dataset if isinstance(dataset, list) else [dataset])
    ]
    name = "+".join(d.name or "dataset" for d in folders)[:80] + "-split"
    parent = folders[0].parent
    if len(folders) > 1:
        try:
            parent = Path(os.path.commonpath(folders))
        except ValueError:  # on different drives
            pass
    if parent not in folders and os.access(parent, os.W_OK):
        return parent / name
    return Path.home() / "landgui-data" / name


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
        add = QPushButton("Add folder…")
        add.setToolTip(
            "add another dataset folder (e.g. another sensor's patches) as a source: the folders are split as "
            "one dataset, stratified by class x source, and each image keeps its source"
        )
        add.clicked.connect(self.choose_source)
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
        top.addWidget(add)
        top.addWidget(open_split)
        top.addWidget(self.sample_button)

        self.class_model = ClassTableModel()
        self.class_table = QTableView()
        self.class_table.setModel(self.class_model)
        self.class_table.setIconSize(QSize(THUMB * 3 + 8, THUMB))
        self.class_table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.class_table.horizontalHeader().setStretchLastSection(True)  # the samples
        self.sources_panel = SourcesPanel()
        self.sources_panel.remove_requested.connect(self.remove_sources)

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
        lv.addWidget(self.sources_panel)
        lv.addWidget(self.class_table, 1)
        lv.addWidget(split_box)
        left.setMinimumHeight(split_box.sizeHint().height() + 120)  # the form, and a few classes
        self.left_scroll = FormScroll(left)  # the form stays readable in a small window: it scrolls

        self.view = SplitView()  # the split's counts, duplicate groups and skipped files
        v = self.view  # its widgets, as the tests and tools name them
        self.figure, self.canvas, self.summary_label = v.figure, v.canvas, v.summary_label
        self.dup_list, self.skipped_table, self.source_table, self.result_tabs = (
            v.dup_list,
            v.skipped_table,
            v.source_table,
            v.result_tabs,
        )

        splitter = QSplitter()
        splitter.addWidget(self.left_scroll)
        splitter.addWidget(self.view)
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

    def choose_source(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Add a dataset folder (a source)", last_dir("dataset"))
        if d:
            remember_dir("dataset", d)
            self.add_source(d)

    @property
    def folders(self) -> list[str]:
        """The dataset's folders (the application state's): one, or several sources."""
        return self.state.datasets

    def use_sample(self) -> None:
        """Copy the shipped sample dataset to the user's data folder (once) and open it."""

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

    def _inside_dataset(self, out: str, folders: list[str] | None = None) -> bool:
        if not out:
            return False
        o = Path(out).expanduser().resolve()
        for data in self.folders if folders is None else folders:
            ds = Path(data).expanduser().resolve()
            if o == ds or o.is_relative_to(ds):
                return True
        return False

    def choose_split_file(self) -> None:
        f, _ = QFileDialog.getOpenFileName(
            self, "Open split.json", last_dir("split"), "Split files (split.json *.json)"
        )
        if f:
            remember_dir("split", f)
            self.open_split(f)

    def set_dataset(self, folder: str) -> None:
        """One dataset folder (replacing any sources)."""
        self.set_sources([folder] if folder else [])

    def add_source(self, folder: str) -> None:
        """Add a dataset folder as one more source (the first one is the dataset itself)."""
        self.set_sources(self.folders + [folder])

    def remove_sources(self, folders: list[str]) -> None:
        self.set_sources([f for f in self.folders if f not in folders])

    def set_sources(self, folders: list[str]) -> None:
        """The dataset's folders: one (as ``set_dataset``), or several sources, each named after
        its folder. Folders that are missing, share a name or lie inside one another are refused
        with one line, and nothing changes."""

        for folder in folders:
            if not Path(folder).is_dir():
                show_error(self, "Dataset", f"not a folder: {folder}")
                return
        if not folders:
            return
        try:
            named = source_names(folders)
        except LandguiError as exc:
            show_error(self, "Dataset", f"{exc}; remove one or rename its folder")
            return
        self._show_sources(named)
        # the output folder follows the dataset unless the user typed one, and is never inside it
        typed = self.out_edit.text()
        if not typed or typed == getattr(self, "_derived_out", None) or self._inside_dataset(typed):
            self._derived_out = str(default_split_folder([Path(f) for f in folders]))
            self.out_edit.setText(self._derived_out)
        n = self.class_model.rowCount()
        what = str(folders[0]) if len(folders) == 1 else f"{len(folders)} sources ({', '.join(named)})"
        if n == 0:
            self.status.emit(
                f"{what} holds no class folders: a dataset is one sub-folder of images per class (e.g. water/, desert/)"
            )
        else:
            self.status.emit(f"dataset {what}: {n} classes")

    def _show_sources(self, named: dict[str, str]) -> None:
        """Show the folders (``{source name: folder}``) and make them the state's dataset."""
        folders = [str(Path(f)) for f in named.values()]
        single = len(folders) == 1
        self.folder_edit.setEnabled(single)
        self.folder_edit.setText(folders[0] if single else "")
        if not single:
            self.folder_edit.setPlaceholderText(f"{len(folders)} dataset folders (sources): listed below")
        self.sources_panel.show_sources(dict(zip(named, folders, strict=True)))
        self.class_model.set_folders({name: Path(f) for name, f in zip(named, folders, strict=True)})
        self.state.set_datasets(folders)
        self.split_button.setEnabled(self.class_model.rowCount() > 0)

    def open_split(self, path: str, quiet: bool = False) -> None:
        """Show a split.json (and its dataset); ``quiet``: a bad file is named in the status bar,
        not in a dialog (restoring a session)."""

        try:
            manifest = load_split(path)
        except LandguiError as exc:
            if quiet:
                self.status.emit(f"split not reopened: {exc}")
            else:
                show_error(self, "Open split", str(exc))
            return
        sources = manifest.get("sources") or {Path(manifest["dataset_root"]).name: manifest["dataset_root"]}
        if all(Path(f).is_dir() for f in sources.values()):
            self._show_sources(sources)
        self.show_manifest(manifest)
        self.state.set_split(manifest["_path"])
        self.split_written.emit(manifest["_path"])

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            accept_copy(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [url.toLocalFile() for url in event.mimeData().urls()]
        folders = [p for p in paths if os.path.isdir(p)]
        if len(folders) > 1:  # several folders dropped at once: several sources
            accept_copy(event)
            self.set_sources(folders)
            return
        for p in paths:
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
        folders, out = self.folders, self.out_edit.text()
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
            scan = scan_sources(
                folders,
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
        warnings = split_warnings(manifest)
        self._end(f"split written to {manifest['_path']}" + (f"; warning: {warnings[0]}" if warnings else ""))
        self.show_manifest(manifest)
        self.state.set_split(manifest["_path"])
        self.split_written.emit(manifest["_path"])

    def _split_failed(self, message: str, details: str) -> None:
        self._end("split failed")
        show_error(self, "Split failed", message, details)

    # -- showing a split ----------------------------------------------------------------
    def show_manifest(self, manifest: dict) -> None:
        self.manifest = manifest
        self.view.show_manifest(manifest)
