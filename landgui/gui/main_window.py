"""The main window: wires tabs, menus, settings and workers together (and nothing more)."""

from __future__ import annotations

import platform
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget

from landgui import __version__
from landgui.gui.dataset_tab import DatasetTab

MAX_RECENT = 8


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("landgui", "landgui")
        self.setWindowTitle(f"landgui {__version__}")
        self.tabs = QTabWidget()
        self.dataset_tab = DatasetTab()
        self.tabs.addTab(self.dataset_tab, "Dataset")
        self.setCentralWidget(self.tabs)
        self.dataset_tab.status.connect(lambda m: self.statusBar().showMessage(m, 10000))
        self.dataset_tab.split_written.connect(self._remember)
        self._build_menus()
        geom = self.settings.value("window/geometry")
        if geom is not None:
            self.restoreGeometry(geom)
        else:
            self.resize(1280, 800)
        self.statusBar().showMessage("Ready: choose a dataset folder (File > Open dataset) or drop it on the window")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        act = QAction("Open &dataset…", self, shortcut=QKeySequence("Ctrl+D"))
        act.triggered.connect(self.dataset_tab.choose_dataset)
        file_menu.addAction(act)
        act = QAction("Open &split.json…", self, shortcut=QKeySequence.StandardKey.Open)
        act.triggered.connect(self.dataset_tab.choose_split_file)
        file_menu.addAction(act)
        self.recent_menu = file_menu.addMenu("&Recent")
        self._fill_recent()
        file_menu.addSeparator()
        act = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        act.triggered.connect(self.close)
        file_menu.addAction(act)
        help_menu = self.menuBar().addMenu("&Help")
        act = QAction("&About landgui", self)
        act.triggered.connect(self.about)
        help_menu.addAction(act)

    def open_paths(self, paths: list[str]) -> None:
        for p in paths:
            if Path(p).is_dir():
                self.dataset_tab.set_dataset(p)
            elif p.endswith(".json"):
                self.dataset_tab.open_split(p)

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

        def v(name: str) -> str:
            try:
                return md.version(name)
            except md.PackageNotFoundError:
                return "not installed"

        from PySide6 import __version__ as pyside_version

        QMessageBox.about(
            self,
            "About landgui",
            f"<b>landgui {__version__}</b><br>Land-cover classification of satellite imagery.<br><br>"
            f"Python {platform.python_version()}<br>PySide6 {pyside_version}<br>"
            f"TensorFlow {v('tensorflow-cpu') if v('tensorflow-cpu') != 'not installed' else v('tensorflow')}<br>"
            f"Keras {v('keras')}<br>OpenCV {v('opencv-python-headless')}<br>NumPy {v('numpy')}",
        )

    def running_workers(self) -> list:
        w = self.dataset_tab.worker
        return [w] if w is not None and w.isRunning() else []

    def closeEvent(self, event) -> None:  # noqa: N802
        running = self.running_workers()
        if running:
            answer = QMessageBox.question(self, "Quit landgui", "A job is still running. Stop it and quit?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            for w in running:
                w.requestInterruption()
            for w in running:
                w.wait()
        self.settings.setValue("window/geometry", self.saveGeometry())
        event.accept()
