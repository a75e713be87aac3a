"""Dataset tab: choose or drop a class-folder dataset (or several: sources, e.g. one per sensor,
split as one), see its classes per source, split it in a worker.

A view over the application state's dataset and split: it shows the split of the dataset on screen
only (:func:`landgui.gui.state.dataset_split.split_of`: the one in its output folder, or the state's
when it was made of these folders), follows a split chosen elsewhere (the Training tab), and a
typed path that is not a folder clears the dataset instead of leaving the previous one on screen."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from landgui.core.base.errors import LandguiError
from landgui.core.data.sample import SAMPLE_NAME, copy_sample_dataset, sample_dataset_dir
from landgui.core.data.scan import scan_sources
from landgui.core.data.split import load_split, split_warnings, write_split
from landgui.gui.jobs import JobRegistry, TabJobs
from landgui.gui.state.app_state import AppState
from landgui.gui.state.dataset_split import default_split_folder, inside_any, split_of
from landgui.gui.widgets.class_table import THUMB, ClassTableModel
from landgui.gui.widgets.common import (
    FormScroll,
    accept_copy,
    hbox,
    last_dir,
    remember_dir,
    show_error,
)
from landgui.gui.widgets.sources_panel import SourcesPanel, source_names
from landgui.gui.widgets.split_form import FIELDS as SPLIT_FIELDS
from landgui.gui.widgets.split_form import SplitForm
from landgui.gui.widgets.split_view import SplitView

SPLIT_JOB = "split"


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
        self.folder_edit.editingFinished.connect(self._typed)
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
        top = hbox(self.folder_edit, browse, add, open_split, self.sample_button, stretch_first=True)
        top.insertWidget(0, QLabel("Dataset:"))

        self.class_model = ClassTableModel()
        self.class_table = QTableView()
        self.class_table.setModel(self.class_model)
        self.class_table.setIconSize(QSize(THUMB * 3 + 8, THUMB))
        self.class_table.verticalHeader().setDefaultSectionSize(THUMB + 6)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.class_table.horizontalHeader().setStretchLastSection(True)  # the samples
        self.sources_panel = SourcesPanel()
        self.sources_panel.remove_requested.connect(self.remove_sources)

        self.split_box = SplitForm(self.choose_out)
        for name in SPLIT_FIELDS:  # the box's widgets, as the tab's own (tests, tools)
            setattr(self, name, getattr(self.split_box, name))
        self.split_box.split_button.clicked.connect(self.start_split)
        self.split_box.cancel_button.clicked.connect(self.cancel)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.sources_panel)
        lv.addWidget(self.class_table, 1)
        lv.addWidget(self.split_box)
        left.setMinimumHeight(self.split_box.sizeHint().height() + 120)  # the form, and a few classes
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
        self.state.split_changed.connect(self._follow_split)
        self.state.dataset_changed.connect(self.split_box.new_dataset)

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

    @property
    def shown_folders(self) -> list[str]:
        """The folders whose classes the tab shows (none before a restored session is shown)."""
        return list(self.class_model.folders)

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
        if d and inside_any(d, self.folders):
            show_error(self, "Output folder", f"{d} is inside the dataset: a new folder there would be read as a class")
        elif d:
            self.out_edit.setText(d)

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
        if not typed or typed == getattr(self, "_derived_out", None) or inside_any(typed, self.folders):
            self._derived_out = str(default_split_folder([Path(f) for f in folders]))
            self.out_edit.setText(self._derived_out)
        # this dataset's own split (the state's, or one in its output folder), never another's
        own = split_of(folders, [self.state.split, self.out_edit.text(), self._derived_out])
        if own is not None:
            self.show_manifest(own)
        self.state.set_split(own["_path"] if own else None)
        if own is None:
            self._follow_split("")
        n = self.class_model.rowCount()
        what = str(folders[0]) if len(folders) == 1 else f"{len(folders)} sources ({', '.join(named)})"
        if n == 0:
            self.status.emit(
                f"{what} holds no class folders: a dataset is one sub-folder of images per class (e.g. water/, desert/)"
            )
        else:
            self.status.emit(f"dataset {what}: {n} classes")

    def _typed(self) -> None:
        """The dataset field was edited: a folder becomes the dataset; anything else is refused
        and clears the dataset (the previous one's classes and split must not stay beside it)."""
        text = self.folder_edit.text().strip()
        if not self.folder_edit.isEnabled() or [text] == self.folders:
            return
        if text and Path(text).is_dir():
            self.set_dataset(text)
            return
        self.clear_dataset()
        if text:
            show_error(self, "Dataset", f"not a folder: {text}; choose a dataset folder (one sub-folder per class)")

    def clear_dataset(self) -> None:
        """No dataset: no classes, no split, nothing to split."""
        self.class_model.set_folders({})
        self.sources_panel.show_sources({})
        self.state.set_datasets([])
        self.state.set_split(None)
        self._follow_split("")
        self.split_button.setEnabled(False)

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

    def open_split(self, path: str, quiet: bool = False) -> bool:
        """Show a split.json (and its dataset); ``quiet``: a bad file is named in the status bar,
        not in a dialog (restoring a session). False when it could not be read."""
        try:
            manifest = load_split(path)
        except LandguiError as exc:
            if quiet:
                self.status.emit(f"split not reopened: {exc}")
            else:
                show_error(self, "Open split", str(exc))
            return False
        sources = manifest.get("sources") or {Path(manifest["dataset_root"]).name: manifest["dataset_root"]}
        if all(Path(f).is_dir() for f in sources.values()):
            self._show_sources(sources)
        self.show_manifest(manifest)
        self.state.set_split(manifest["_path"])
        self.split_written.emit(manifest["_path"])
        return True

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
        if out and (Path(out) / "split.json").exists():
            choice = self._confirm_replace(Path(out) / "split.json")
            if choice == "another":
                self.choose_out()
                if self.out_edit.text() != out:
                    self.start_split()  # asks again if that folder holds a split too
                return
            if choice != "replace":
                self.status.emit("split not written: the existing split.json was kept")
                return
        params = self.split_box.params()

        def job(progress, should_stop):
            params.check()
            scan = scan_sources(
                folders,
                min_correlation=params.near_duplicate_min_correlation,
                progress=progress,
                should_stop=should_stop,
            )
            manifest = write_split(scan, out, params, overwrite=True)  # a replace was confirmed above
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

    def _confirm_replace(self, existing: Path) -> str:
        """Ask before replacing a split.json that runs may have been trained on: "replace",
        "another" (choose another output folder) or "cancel"; the buttons are the question's."""
        box = QMessageBox(QMessageBox.Icon.Question, "Replace the split?", "", parent=self)
        box.setText(
            f"{existing} already exists, and runs trained on it point to it. Replacing it makes "
            "their evaluations refuse the new split.\n\nReplace it, or choose another output folder?"
        )
        replace = box.addButton("Replace it", QMessageBox.ButtonRole.DestructiveRole)
        another = box.addButton("Choose another folder…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(another)
        box.exec()
        return {replace: "replace", another: "another"}.get(box.clickedButton(), "cancel")

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
        """Show a split (a split.json's content)."""
        self.manifest = manifest
        self.view.show_manifest(manifest)

    def _follow_split(self, path: str) -> None:
        """Show the state's split: none, or (chosen elsewhere, e.g. in the Training tab) opened."""
        if self.manifest is not None and self.manifest.get("_path") == path:
            return
        if not path or not self.open_split(path, quiet=True):
            self.manifest = None
            self.view.show_none(dataset=bool(self.folders))
