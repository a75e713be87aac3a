"""The main window: wires tabs, menus, settings, the application state and the job registry
together (and nothing more)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QTabWidget

from landgui import __version__
from landgui.core.base.errors import LandguiError
from landgui.core.runs.folder import RunFolder, read_run
from landgui.core.scenes import demo_scene_path
from landgui.gui.jobs import JobRegistry
from landgui.gui.state.app_state import AppState, load_session, session_path
from landgui.gui.tabs.dataset import DatasetTab
from landgui.gui.tabs.evaluation import EvaluationTab
from landgui.gui.tabs.scene import SceneTab
from landgui.gui.tabs.training import TrainingTab
from landgui.gui.widgets.common import show_error
from landgui.gui.widgets.help import guide_dialog, readme_dialog, show_about

MAX_RECENT = 8
CLOSE_TIMEOUT_S = 20.0  # how long closing waits for stopped jobs before the window hides and waits on
SCENE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


class MainWindow(QMainWindow):
    closed = Signal()  # the window has closed and its jobs have ended: the app may quit

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("landgui", "landgui")
        self.setWindowTitle(f"landgui {__version__}")
        runs_dir = str(self.settings.value("runs_dir", str(Path.home() / "landgui-runs")))
        self.jobs = JobRegistry(self)
        self.state = AppState(runs_dir, load_session(), self)  # the last session's paths that still exist
        self.state.runs_dir_changed.connect(lambda d: self.settings.setValue("runs_dir", d))
        self.dataset_tab = DatasetTab(self.state, self.jobs)
        self.training_tab = TrainingTab(self.state, self.jobs)
        self.evaluation_tab = EvaluationTab(self.state, self.jobs)
        self.scene_tab = SceneTab(self.state, self.jobs)
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
        self.jobs.refused.connect(lambda m: self.statusBar().showMessage(m, 15000))
        self.dataset_tab.split_written.connect(self._remember)
        self.training_tab.run_finished.connect(self._run_finished)
        self.scene_tab.scene_loaded.connect(self._remember)
        self.state.save_to(session_path())  # from now on every change of the session is kept
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
        for text, shortcut, slot in (
            ("&Guide", "F1", self.show_guide),
            ("&README", "", self.show_readme),
            ("&About landgui", "", self.about),
        ):
            act = QAction(text, self, shortcut=QKeySequence(shortcut))
            act.triggered.connect(slot)
            help_menu.addAction(act)

    # -- opening things -----------------------------------------------------------------------------
    def open_paths(self, paths: list[str]) -> None:
        scenes = [p for p in paths if Path(p).suffix.lower() in SCENE_SUFFIXES and Path(p).is_file()]
        for p in paths:
            if Path(p).is_dir() and RunFolder(p).is_run:
                self.open_run(p)
            elif Path(p).is_dir():
                self.dataset_tab.set_dataset(p)
                self.tabs.setCurrentWidget(self.dataset_tab)
            elif p.endswith(".json"):
                self.dataset_tab.open_split(p)
        if scenes:
            self.scene_tab.open_scenes(scenes)
            self.tabs.setCurrentWidget(self.scene_tab)

    def restore_session(self) -> bool:
        """Reopen the last session's split, dataset folders and scenes (its run is selected already);
        quietly: what cannot be reopened is only named in the status bar. False if there was none."""
        s = self.state
        datasets, split, scenes, scene = s.datasets, s.split, s.scenes, s.scene
        if split:
            self.dataset_tab.open_split(split, quiet=True)
        if datasets and datasets != self.dataset_tab.shown_folders and all(Path(d).is_dir() for d in datasets):
            self.dataset_tab.set_sources(datasets)  # one folder, or several sources
        if scenes:
            self.scene_tab.open_scenes(scenes, quiet=True, show=scene)
        return bool(datasets or split or scenes)

    def open_demo_if_empty(self) -> None:
        """First start with no data given: show the bundled demo scene."""

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

        try:
            read_run(run_dir)
        except LandguiError as exc:
            show_error(self, "Open run", str(exc))
            return
        self.state.set_runs_dir(str(Path(run_dir).parent))  # every tab follows
        self.state.set_run(str(Path(run_dir)))
        self.tabs.setCurrentWidget(self.evaluation_tab)
        self._remember(run_dir)

    def set_runs_dir(self, runs_dir: str) -> None:
        self.state.set_runs_dir(runs_dir)

    def _run_finished(self, run_dir: str) -> None:
        self.state.refresh_runs()
        self.state.set_run(run_dir)
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

    # -- help ---------------------------------------------------------------------------------------
    def show_guide(self) -> None:
        self.guide = guide_dialog(self)
        self.guide.show()

    def show_readme(self) -> None:
        self.readme = readme_dialog(self)
        self.readme.show()

    def about(self) -> None:
        show_about(self)

    # -- closing --------------------------------------------------------------------------------------
    def running_workers(self) -> list:
        """Every job whose thread is still running (from the job registry)."""
        return self.jobs.alive()

    def closeEvent(self, event) -> None:  # noqa: N802
        running = self.jobs.running()
        if running and not getattr(self, "_closing", False):
            names = ", ".join(dict.fromkeys(w.label for w in running))
            answer = QMessageBox.question(
                self,
                "Quit landgui",
                f"Still running: {names}. Stop and quit? A stopped training run can be resumed later.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.jobs.cancel()
        left = self.jobs.wait_all(CLOSE_TIMEOUT_S)
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        if left:  # a job that does not stop in time: the window goes, and closes when the job ends
            if not getattr(self, "_closing", False):
                self._closing = True
                self.jobs.changed.connect(lambda: not self.jobs.alive() and self.close())
            self.hide()
            event.ignore()
            return
        event.accept()
        self.closed.emit()


def start_later(win: MainWindow, paths: list[str]) -> None:
    """After the window shows: open what was asked for, else the last session, else the demo scene."""

    def start() -> None:
        if paths:
            win.open_paths(paths)
        elif not win.restore_session():
            win.open_demo_if_empty()

    QTimer.singleShot(0, start)
