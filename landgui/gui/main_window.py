"""The main window: wires tabs, menus, settings and workers together (and nothing more)."""

from __future__ import annotations

import platform
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QTabWidget

from landgui import __version__
from landgui.gui.common import show_error
from landgui.gui.dataset_tab import DatasetTab
from landgui.gui.evaluation_tab import EvaluationTab
from landgui.gui.scene_tab import SceneTab
from landgui.gui.training_tab import TrainingTab

MAX_RECENT = 8
SCENE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("landgui", "landgui")
        self.setWindowTitle(f"landgui {__version__}")
        runs_dir = str(self.settings.value("runs_dir", str(Path.home() / "landgui-runs")))
        self.dataset_tab = DatasetTab()
        self.training_tab = TrainingTab(runs_dir)
        self.evaluation_tab = EvaluationTab(runs_dir)
        self.scene_tab = SceneTab(runs_dir)
        self.tabs = QTabWidget()
        for tab, name in (
            (self.dataset_tab, "&Dataset"),
            (self.training_tab, "&Training"),
            (self.evaluation_tab, "&Evaluation"),
            (self.scene_tab, "&Scene"),
        ):
            self.tabs.addTab(tab, name)
            tab.status.connect(lambda m: self.statusBar().showMessage(m, 15000))
        self.setCentralWidget(self.tabs)
        self.dataset_tab.split_written.connect(self.training_tab.set_split)
        self.dataset_tab.split_written.connect(self._remember)
        self.training_tab.run_finished.connect(self._run_finished)
        self.training_tab.runs_edit.editingFinished.connect(
            lambda: self.set_runs_dir(self.training_tab.runs_edit.text())
        )
        self.scene_tab.scene_loaded.connect(self._remember)
        self._build_menus()
        geom = self.settings.value("window/geometry")
        if geom is not None:
            self.restoreGeometry(geom)
        else:
            self.resize(1280, 800)
        idx = int(self.settings.value("window/tab", 0))
        self.tabs.setCurrentIndex(idx if 0 <= idx < self.tabs.count() else 0)
        self.statusBar().showMessage(
            "Ready: open a dataset (Ctrl+D), a scene (Ctrl+Shift+O) or drop them on the window"
        )

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("Open &dataset…", "Ctrl+D", self.dataset_tab.choose_dataset),
            ("Open &split.json…", "Ctrl+O", self.dataset_tab.choose_split_file),
            ("Open &run…", "Ctrl+R", self.choose_run),
            ("Open sc&ene…", "Ctrl+Shift+O", self.scene_tab.choose_scenes),
            ("Open de&mo scene", "Ctrl+M", self.scene_tab.open_demo),
        ):
            act = QAction(text, self, shortcut=QKeySequence(shortcut))
            act.triggered.connect(slot)
            file_menu.addAction(act)
        self.recent_menu = file_menu.addMenu("Re&cent")
        self._fill_recent()
        file_menu.addSeparator()
        act = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        act.triggered.connect(self.close)
        file_menu.addAction(act)
        help_menu = self.menuBar().addMenu("&Help")
        act = QAction("&About landgui", self)
        act.triggered.connect(self.about)
        help_menu.addAction(act)

    # -- opening things -----------------------------------------------------------------------------
    def open_paths(self, paths: list[str]) -> None:
        scenes = [p for p in paths if Path(p).suffix.lower() in SCENE_SUFFIXES and Path(p).is_file()]
        for p in paths:
            if Path(p).is_dir() and (Path(p) / "config.json").exists():
                self.open_run(p)
            elif Path(p).is_dir():
                self.dataset_tab.set_dataset(p)
                self.tabs.setCurrentWidget(self.dataset_tab)
            elif p.endswith(".json"):
                self.dataset_tab.open_split(p)
        if scenes:
            self.scene_tab.open_scenes(scenes)
            self.tabs.setCurrentWidget(self.scene_tab)

    def open_demo_if_empty(self) -> None:
        """First start with no data given: show the bundled demo scene."""
        from landgui.core.errors import LandguiError
        from landgui.core.scenes import demo_scene_path

        try:
            path = str(demo_scene_path())
        except LandguiError as exc:
            self.statusBar().showMessage(str(exc), 15000)
            return
        self.scene_tab.open_scenes([path])
        self.tabs.setCurrentWidget(self.scene_tab)

    def choose_run(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open a run folder", self.training_tab.runs_edit.text())
        if d:
            self.open_run(d)

    def open_run(self, run_dir: str) -> None:
        """Show a run folder: its parent becomes the runs folder. A folder that is not a complete run
        is refused with its reason, and nothing changes (runs folder, recent files)."""
        from landgui.core.errors import LandguiError
        from landgui.core.runs import read_run

        try:
            read_run(run_dir)
        except LandguiError as exc:
            show_error(self, "Open run", str(exc))
            return
        self.set_runs_dir(str(Path(run_dir).parent))
        self.evaluation_tab.refresh_runs(select=str(Path(run_dir)))
        self.scene_tab.refresh_runs(select=str(Path(run_dir)))
        self.tabs.setCurrentWidget(self.evaluation_tab)
        self._remember(run_dir)

    def set_runs_dir(self, runs_dir: str) -> None:
        self.settings.setValue("runs_dir", runs_dir)
        self.training_tab.runs_edit.setText(runs_dir)
        self.training_tab.refresh_runs()
        self.evaluation_tab.set_runs_dir(runs_dir)
        self.scene_tab.set_runs_dir(runs_dir)

    def _run_finished(self, run_dir: str) -> None:
        self.evaluation_tab.refresh_runs(select=run_dir)
        self.scene_tab.refresh_runs(select=run_dir)
        self._remember(run_dir)

    def _remember(self, path: str) -> None:
        recent = [p for p in (self.settings.value("recent", []) or []) if p != path]
        self.settings.setValue("recent", [path, *recent][:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.value("recent", []) or []:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def about(self) -> None:
        import importlib.metadata as md

        def v(*names: str) -> str:
            for n in names:
                try:
                    return md.version(n)
                except md.PackageNotFoundError:
                    continue
            return "not installed"

        from PySide6 import __version__ as pyside_version

        QMessageBox.about(
            self,
            "About landgui",
            f"<b>landgui {__version__}</b><br>Land-cover classification of satellite imagery.<br><br>"
            f"Python {platform.python_version()}<br>PySide6 {pyside_version}<br>"
            f"TensorFlow {v('tensorflow-cpu', 'tensorflow')}<br>Keras {v('keras')}<br>"
            f"OpenCV {v('opencv-python-headless')}<br>NumPy {v('numpy')}<br>rasterio {v('rasterio')}",
        )

    # -- closing --------------------------------------------------------------------------------------
    def running_workers(self) -> list:
        tabs = (self.dataset_tab, self.training_tab, self.evaluation_tab, self.scene_tab)
        return [t.worker for t in tabs if t.worker is not None and t.worker.isRunning()]

    def closeEvent(self, event) -> None:  # noqa: N802
        running = self.running_workers()
        if running:
            answer = QMessageBox.question(
                self,
                "Quit landgui",
                "A job (training, evaluation or classification) is still "
                "running. Stop it and quit? A stopped training run can be resumed later.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            for w in running:
                w.requestInterruption()
            for w in running:
                w.wait()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        event.accept()


def start_later(win: MainWindow, paths: list[str]) -> None:
    """After the window shows: open what was asked for, or the demo scene."""
    QTimer.singleShot(0, lambda: win.open_paths(paths) if paths else win.open_demo_if_empty())
