"""The Scene tab: a view over the scenes' state (:class:`ScenesState`).

Open or drop scenes, zoom and pan, classify every patch in a job (optionally adapted to the
scene), see the class grid as a translucent overlay with uncertain patches hatched grey (or the
confidence itself in the uncertainty view), hover and click patches, teach the model the scene,
export the map. The widgets only show the state and change it; the jobs (open, classify,
fine-tune, export: :mod:`landgui.gui.tabs.scene.jobs`) go through the shared services.

Layout: the map with the patch in detail below it (a splitter) on the left; on the right a
side panel that scrolls on a small screen: scenes, run and map settings, Classify, the display
options, the legend and the teach panel.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from landgui.core.scenes.writers import WRITERS
from landgui.gui.jobs import JobRegistry, JobTab
from landgui.gui.state.app_state import AppState
from landgui.gui.state.scene_session import SceneSession, ScenesState
from landgui.gui.tabs.scene.controls import DisplayControls, MapSettingsControls
from landgui.gui.tabs.scene.jobs import SCENE_JOB, SceneJobs
from landgui.gui.tabs.scene.layers import MapLayers
from landgui.gui.tabs.scene.legend import Legend
from landgui.gui.tabs.scene.patch_info import PatchPanel
from landgui.gui.tabs.scene.sensor import SensorPanel
from landgui.gui.tabs.scene.view import SceneView
from landgui.gui.widgets.assessment import AssessDialog
from landgui.gui.widgets.common import EtaProgressBar, FormScroll, fill_run_combo
from landgui.gui.widgets.labelling import LabelPanel


def _row(*widgets, stretch: bool = False) -> QHBoxLayout:
    lay = QHBoxLayout()
    for w in widgets:
        lay.addWidget(w) if isinstance(w, QWidget) else lay.addLayout(w)
    if stretch:
        lay.addStretch(1)
    return lay


class SceneTab(SceneJobs, JobTab):
    """The Scene tab. ``status(line)`` for the status bar; ``scene_loaded(path)`` when a scene is
    shown; ``classified(result)`` when a map is made; ``finetuned(run_dir)`` when a taught run
    is saved."""

    status = Signal(str)
    scene_loaded = Signal(str)
    classified = Signal(object)
    finetuned = Signal(str)

    def __init__(
        self, state: AppState | None = None, jobs: JobRegistry | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(state, jobs, parent)
        self.scenes_state = st = ScenesState(self.state, self)

        self.view = SceneView()
        self.layers = MapLayers(self.view, st)
        self.view.files_dropped.connect(self.open_scenes)
        self.view.clicked.connect(self.select_at)
        self.view.area_selected.connect(self.select_rect)
        self.view.context_requested.connect(self._label_menu)
        self.patch_panel = PatchPanel(st)
        self.view.hovered.connect(self.patch_panel.hover)

        self._make_buttons()
        self.scene_list = QListWidget()
        self.scene_list.setMaximumHeight(52)
        self.scene_list.currentItemChanged.connect(
            lambda item, _prev: item is not None and st.set_current(item.data(Qt.ItemDataRole.UserRole))
        )
        self.run_combo = QComboBox()  # TabJobs.follow_state fills it and keeps it on the state's run
        self.settings_controls = knobs = MapSettingsControls(st, self)
        self.sensor_panel = SensorPanel(st, self.state, self)  # the model's contract beside the scene's figures
        self.display_controls = display = DisplayControls(st, self)
        self.patch_spin, self.stride_spin, self.edge_combo = knobs.patch_spin, knobs.stride_spin, knobs.edge_combo
        self.nodata_check, self.adapt_check, self.context_check = (
            knobs.nodata_check,
            knobs.adapt_check,
            knobs.context_check,
        )
        self.uncertain_spin, self.view_combo = display.uncertain_spin, display.view_combo
        self.opacity, self.grid_check = display.opacity, display.grid_check
        layers = self.layers  # the map's graphics items, by their old names
        self.overlay_item, self.uncertain_item = layers.overlay_item, layers.uncertain_item
        self.highlight, self.empty_hint = layers.highlight, layers.empty_hint
        self.progress = EtaProgressBar()
        self.map_label = self.patch_panel.map_label  # which run, patch size and stride made the map on screen
        self.legend = Legend(st)
        self.legend.status.connect(self.status)
        self.labelling = LabelPanel(st, self)
        self.labelling.status.connect(self.status)
        self.labelling.finetune_requested.connect(self.finetune)
        self.labelling.reveal.connect(self._reveal)
        self._lay_out()

        st.scenes_changed.connect(self._fill_scene_list)
        st.current_changed.connect(self._scene_shown)
        st.result_changed.connect(self._sync_buttons)
        self.follow_state()

    def _make_buttons(self) -> None:
        self.open_button = QPushButton("Open scene…")
        self.open_button.clicked.connect(self.choose_scenes)
        self.demo_button = QPushButton("Open demo scene")
        self.demo_button.clicked.connect(self.open_demo)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("close the selected scene (its map and unsaved corrections are dropped)")
        self.remove_button.clicked.connect(lambda: self.remove_scene())
        self.fit_button = QPushButton("Fit to window")
        self.fit_button.setToolTip("show the whole scene (key F in the map; + and - zoom)")
        self.fit_button.clicked.connect(self.view.fit)
        self.classify_button = QPushButton("Classify")
        self.classify_button.clicked.connect(lambda: self.classify())  # clicked(bool) is not an engine
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.jobs.cancel(SCENE_JOB))
        self.export_button = QPushButton("Export…")  # a push button: its menu arrow never covers the text
        menu = QMenu(self.export_button)
        menu.addAction("All formats").triggered.connect(lambda: self.export(tuple(WRITERS)))
        for name, writer in WRITERS.items():  # the output formats' registry
            menu.addAction(writer.menu).triggered.connect(lambda _=False, f=(name,): self.export(f))
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)
        self.assess_button = QPushButton("Assess accuracy…")
        self.assess_button.setToolTip("the map's accuracy and class areas with 95 % intervals from a sample you label")
        self.assess_button.clicked.connect(self.assess)
        self.assess_dialog: AssessDialog | None = None

    def _lay_out(self) -> None:
        """The map over the patch in detail on the left; the side panel (it scrolls) on the right."""
        form = QFormLayout()
        form.addRow(_row(self.open_button, self.demo_button, self.remove_button))
        form.addRow(self.scene_list)
        form.addRow("Run", self.run_combo)
        form.addRow(self.sensor_panel)
        form.addRow("Patch size", _row(self.patch_spin, QLabel("Stride"), self.stride_spin))
        form.addRow("Edges", self.edge_combo)
        for check in (self.nodata_check, self.adapt_check, self.context_check):
            form.addRow(check)
        form.addRow(_row(self.classify_button, self.cancel_button, self.export_button))
        form.addRow(_row(self.assess_button, stretch=True))
        form.addRow(self.progress)
        form.addRow("Uncertain below", _row(self.uncertain_spin, QLabel("View"), self.view_combo))
        form.addRow("Opacity", _row(self.opacity, self.grid_check))
        form.addRow(QLabel("Legend (share of area; untick to hide):"))
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addLayout(form)
        sv.addWidget(self.legend)
        sv.addWidget(self.labelling)
        self.labelling.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # scrolls, never squeezed
        sv.addStretch(1)
        # the side panel stays usable on a small screen: it scrolls, and is never narrower than its form
        self.side_scroll = scroll = FormScroll(side)
        scroll.setMaximumWidth(max(430, scroll.minimumSizeHint().width()))
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.view)
        self.patch_panel.column.addWidget(self.fit_button, 0, Qt.AlignmentFlag.AlignLeft)
        left.addWidget(self.patch_panel)
        left.setStretchFactor(0, 1)
        left.setSizes([560, 150])
        left.setChildrenCollapsible(False)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(scroll)
        split.setStretchFactor(0, 1)
        split.setSizes([850, 430])
        QVBoxLayout(self).addWidget(split)

    # -- what the rest of the app (and the tests) read -------------------------------------------
    @property
    def scenes(self) -> dict[str, SceneSession]:
        """Path -> the open scene's session, in the order they were opened."""
        return self.scenes_state.sessions

    @property
    def session(self) -> SceneSession | None:
        """The scene on screen."""
        return self.scenes_state.current

    @property
    def current(self) -> str | None:
        """The path of the scene on screen."""
        return None if self.session is None else self.session.path

    @property
    def result(self):
        """The map on screen (None before a Classify)."""
        return None if self.session is None else self.session.result

    @property
    def palette(self) -> dict[str, str]:
        """The class colours of the map on screen."""
        return {} if self.session is None else self.session.palette

    @property
    def selected(self) -> tuple[int, int] | None:
        """The patch in detail."""
        return None if self.session is None else self.session.focus

    @property
    def hover_label(self) -> QLabel:
        return self.patch_panel.text

    @property
    def prob_figure(self):
        return self.patch_panel.figure

    # -- following the state ---------------------------------------------------------------------
    def _sync_buttons(self) -> None:
        """One job at a time: while one runs, nothing else that starts a job can be pressed. The
        keyboard focus never falls into a form field as a button it was on is disabled."""
        busy = self.jobs.busy(SCENE_JOB)
        has_map = self.result is not None
        states = {
            self.classify_button: not busy,
            self.open_button: not busy,
            self.demo_button: not busy,
            self.remove_button: not busy and self.session is not None,
            self.cancel_button: busy,
            self.export_button: not busy and has_map,
            self.labelling.finetune_button: not busy and has_map,
        }
        if QApplication.focusWidget() in [b for b, on in states.items() if not on]:
            self.view.setFocus(Qt.FocusReason.OtherFocusReason)  # the map: its keys (zoom, labels) work
        for button, on in states.items():
            button.setEnabled(on)

    def _fill_scene_list(self) -> None:
        blocked = self.scene_list.blockSignals(True)
        self.scene_list.clear()
        for path, s in self.scenes_state.sessions.items():
            item = QListWidgetItem(f"{Path(path).name}  ({s.image.width} x {s.image.height} px)")
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.scene_list.addItem(item)
            if path == self.current:
                self.scene_list.setCurrentItem(item)
        self.scene_list.blockSignals(blocked)
        self._sync_buttons()

    def _scene_shown(self) -> None:
        self._fill_scene_list()
        s = self.session
        if s is not None:
            self.scene_loaded.emit(s.path)
            self.status.emit(f"{Path(s.path).name}: {s.image.width} x {s.image.height} px")

    # -- runs ---------------------------------------------------------------------------------------
    def refresh_runs(self, select: str | None = None) -> None:
        """Refill the Run box from the state's runs; ``select`` (else the state's run) is chosen."""
        fill_run_combo(self.run_combo, self.state.runs, select or self.state.run)
        self.state.set_run(self.run_combo.currentData())

    def _follow_run(self, run: str) -> None:
        i = self.run_combo.findData(run)
        if i >= 0 and i != self.run_combo.currentIndex():
            self.run_combo.setCurrentIndex(i)

    # -- scenes -----------------------------------------------------------------------------------
    def show_scene(self, path: str) -> None:
        """Put an open scene on screen."""
        self.scenes_state.set_current(path)

    def remove_scene(self, path: str | None = None) -> None:
        """Close a scene (default: the one on screen); the next one in the list is shown."""
        path = path or self.current
        if path is None or self.jobs.busy(SCENE_JOB):
            return
        c = self.scenes[path].corrections
        if c is not None and c.unsaved():
            answer = QMessageBox.question(
                self,
                "Remove scene",
                f"{c.unsaved()} correction(s) on {Path(path).name} are not saved. Remove it anyway?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.scenes_state.remove(path)
        self._fill_scene_list()
        self.status.emit(f"{Path(path).name} removed from the list")

    # -- patches ----------------------------------------------------------------------------------
    def select_at(self, x: float, y: float, add: bool = False) -> None:
        """Select the patch at scene pixel (x, y) (``add``: to the selection) and show it in detail."""
        s = self.session
        rc = None if s is None else s.patch_at(x, y)
        if rc is not None:
            s.select({rc}, add, focus=rc)

    def select_rect(self, rect: QRectF, add: bool = True) -> None:
        """Select every patch whose origin lies in ``rect`` (scene pixels): a Shift+drag."""
        s = self.session
        if s is None or s.result is None:
            return
        g, (sx, sy) = s.result.grid, s.map_scale()
        rect = QRectF(rect.left() * sx, rect.top() * sy, rect.width() * sx, rect.height() * sy)  # in map px
        r0, r1 = max(0, int(rect.top() // g.stride)), min(g.rows - 1, int(rect.bottom() // g.stride))
        c0, c1 = max(0, int(rect.left() // g.stride)), min(g.cols - 1, int(rect.right() // g.stride))
        s.select({(r, c) for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)}, add)

    def _reveal(self, r: int, c: int) -> None:
        g, (sx, sy) = self.result.grid, self.session.map_scale()
        self.view.centerOn((c * g.stride + g.patch / 2) / sx, (r * g.stride + g.patch / 2) / sy)

    def label_menu(self, x: float, y: float) -> QMenu | None:
        """The right-click menu on the map: label the selection (or the patch under the mouse)."""
        s = self.session
        rc = None if s is None else s.patch_at(x, y)
        if rc is None:
            return None
        if rc not in s.selection:
            self.select_at(x, y)
        menu = QMenu(self)
        for k, lab in enumerate(s.result.labels):
            act = menu.addAction(f"Label as {lab}" + (f"\t{k + 1}" if k < 9 else ""))
            act.triggered.connect(lambda _=False, k=k: self.labelling.assign(k))
        menu.addSeparator()
        menu.addAction("Take the label back\t0").triggered.connect(lambda: self.labelling.assign(None))
        return menu

    def _label_menu(self, x: float, y: float, global_pos) -> None:
        menu = self.label_menu(x, y)
        if menu is not None:
            menu.popup(global_pos)

    # -- accuracy assessment ----------------------------------------------------------------------
    def assess(self) -> AssessDialog:
        """Open Assess accuracy… for the map on screen (or a sample to continue)."""
        d = self.assess_dialog
        if d is None:
            d = self.assess_dialog = AssessDialog(self.jobs, self)
            d.export_requested.connect(lambda folder: self.export(tuple(WRITERS), folder, on_done=d.map_exported))
            d.status.connect(self.status)
        s = self.session
        d.offer_map(
            None if s is None else Path(s.path).name, self.result is not None, None if s is None else s.exported
        )
        d.show()
        d.raise_()
        d.activateWindow()
        return d
