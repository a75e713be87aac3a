"""Scene tab: open or drop scenes, zoom and pan, classify every patch in a worker (optionally
adapted to the scene), see the class grid as a translucent overlay with uncertain patches hatched
grey (or the confidence itself in the uncertainty view), hover and click patches, export the map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap, QTransform
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from landgui.core.base.errors import LandguiError
from landgui.core.inference.familiarity import UNFAMILIAR_ABOVE
from landgui.core.runs.folder import read_run
from landgui.core.runs.palette import run_palette, save_palette
from landgui.core.scenes import (
    UNCERTAIN_BELOW,
    demo_scene_path,
    export,
    open_scene,
    output_name,
    reclassify_with_head,
    segment_file,
)
from landgui.core.scenes.context import DEFAULT_CONTEXT
from landgui.core.scenes.outputs import unfamiliar_summary
from landgui.core.scenes.result import UNCERTAIN, UNCERTAIN_VALUE, cell_class_codes, code_colours
from landgui.core.training.finetune import fit_head, plan_finetune, save_finetuned
from landgui.gui.jobs import JobRegistry, JobWorker, TabJobs
from landgui.gui.state.app_state import AppState
from landgui.gui.widgets.common import (
    EtaProgressBar,
    FormScroll,
    accept_copy,
    fill_run_combo,
    last_dir,
    remember_dir,
    show_error,
    show_placeholder,
)
from landgui.gui.widgets.labelling import LabelPanel

SCENE_JOB = "scene"  # the Scene tab's jobs (open, classify, fine-tune, export) run one at a time
SCENE_FILTER = "Scenes (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp);;All files (*)"
OVERVIEW_MAX_SIDE = 4096


def confidence_colours(conf: np.ndarray) -> np.ndarray:
    """RGBA of the uncertainty view: green where the model is sure (1.0), through olive, to red."""
    level = (np.clip(conf, 0.0, 1.0) * 255).astype(np.uint8)
    return np.stack([255 - level, level, np.full_like(level, 60), np.full_like(level, 255)], -1).astype(np.uint8)


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    fmt = QImage.Format.Format_RGBA8888 if rgb.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], fmt).copy()


class SceneView(QGraphicsView):
    """Zoom with the wheel, pan by dragging, drop files; reports hover and clicks in scene pixels."""

    files_dropped = Signal(list)
    hovered = Signal(float, float)
    clicked = Signal(float, float)
    area_selected = Signal(QRectF)  # Shift+drag: a rubber band in scene pixels
    context_requested = Signal(float, float, object)  # right click: scene x, y and the global QPoint

    def __init__(self) -> None:
        super().__init__()
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)  # hover reports without a button pressed
        self.setAcceptDrops(True)
        self.setBackgroundBrush(QColor("#202020"))
        self._press = None
        self._band = QRectF()
        self.last_modifiers = Qt.KeyboardModifier.NoModifier
        self.rubberBandChanged.connect(lambda _r, a, b: self._track_band(a, b))

    def _track_band(self, a, b) -> None:
        if not (a.isNull() and b.isNull()):
            self._band = QRectF(a, b).normalized()

    def wheelEvent(self, event) -> None:  # noqa: N802
        factor = 1.25 ** (event.angleDelta().y() / 120)
        self.scale(factor, factor)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        """Keyboard zoom: + / - (and Ctrl++ / Ctrl+-), F fits the scene; the arrow keys pan."""
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.scale(1.25, 1.25)
        elif key in (Qt.Key.Key_Minus, Qt.Key.Key_Underscore):
            self.scale(0.8, 0.8)
        elif key == Qt.Key.Key_F:
            self.fit()
        else:
            super().keyPressEvent(event)  # arrows scroll the view

    def fit(self) -> None:
        if not self.scene().sceneRect().isEmpty():
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._press = event.position()
        self.last_modifiers = event.modifiers()
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._band = QRectF()
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        super().mouseReleaseEvent(event)
        banding = self.dragMode() == QGraphicsView.DragMode.RubberBandDrag
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        if self._press is not None and (event.position() - self._press).manhattanLength() < 4:
            p = self.mapToScene(event.position().toPoint())
            self.clicked.emit(p.x(), p.y())
        elif banding and self._press is not None:
            a = self.mapToScene(self._press.toPoint())
            b = self.mapToScene(event.position().toPoint())
            self.area_selected.emit(self._band if not self._band.isEmpty() else QRectF(a, b).normalized())
        self._press = None

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        super().mouseMoveEvent(event)
        p = self.mapToScene(event.position().toPoint())
        self.hovered.emit(p.x(), p.y())

    def contextMenuEvent(self, event) -> None:  # noqa: N802
        p = self.mapToScene(event.pos())
        self.context_requested.emit(p.x(), p.y(), event.globalPos())

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            accept_copy(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            accept_copy(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            accept_copy(event)
            self.files_dropped.emit(files)


class SceneTab(TabJobs, QWidget):
    status = Signal(str)
    scene_loaded = Signal(str)
    classified = Signal(object)
    finetuned = Signal(str)  # the new run folder of "Fine-tune on corrections"

    def __init__(
        self, state: AppState | None = None, jobs: JobRegistry | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state or AppState(str(Path.home() / "landgui-runs"), parent=self)
        self.jobs = jobs or JobRegistry(self)
        self.scenes: dict[str, dict] = {}  # path -> {"overview", "size", "result", "palette"}
        self.current: str | None = None
        self.hidden: set[int] = set()

        self.view = SceneView()
        self.view.files_dropped.connect(self.open_scenes)
        self.view.hovered.connect(self._hover)
        self.view.clicked.connect(
            lambda x, y: self.select_at(
                x,
                y,
                add=bool(
                    self.view.last_modifiers & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier)
                ),
            )
        )
        self.image_item = QGraphicsPixmapItem()
        self.overlay_item = QGraphicsPixmapItem()
        self.grid_item = QGraphicsPathItem()
        self.highlight = QGraphicsRectItem()
        # overlay and grid are clipped to the scene: edge patches padded past it are not drawn outside
        self.clip = QGraphicsRectItem()
        self.clip.setPen(QPen(Qt.PenStyle.NoPen))
        self.clip.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self.image_item.setZValue(0)
        self.clip.setZValue(1)
        self.highlight.setZValue(2)
        for it in (self.image_item, self.clip, self.highlight):
            self.view.scene().addItem(it)
        self.empty_hint = QGraphicsSimpleTextItem(
            "Open a scene (Open scene…, Open demo scene)\nor drop JPEG/PNG/TIFF/GeoTIFF files here."
        )
        self.empty_hint.setBrush(QBrush(QColor("#BBBBBB")))
        self.view.scene().addItem(self.empty_hint)
        self.overlay_item.setParentItem(self.clip)
        self.grid_item.setParentItem(self.clip)
        self.grid_item.setZValue(1)
        self.uncertain_item = QGraphicsPathItem()  # grey hatch over uncertain patches
        self.uncertain_item.setParentItem(self.clip)
        self.uncertain_item.setZValue(0.5)
        self.uncertain_item.setPen(QPen(Qt.PenStyle.NoPen))
        self.uncertain_item.setBrush(QBrush(QColor(30, 30, 30), Qt.BrushStyle.BDiagPattern))
        pen = QPen(QColor(255, 255, 255, 110))
        pen.setCosmetic(True)
        self.grid_item.setPen(pen)
        hp = QPen(QColor("#ff2020"))
        hp.setCosmetic(True)
        hp.setWidth(3)
        self.highlight.setPen(hp)
        self.highlight.setVisible(False)

        self.open_button = open_btn = QPushButton("Open scene…")
        open_btn.clicked.connect(self.choose_scenes)
        self.demo_button = demo_btn = QPushButton("Open demo scene")
        demo_btn.clicked.connect(self.open_demo)
        fit_btn = QPushButton("Fit to window")
        fit_btn.clicked.connect(self.view.fit)
        self.scene_list = QListWidget()
        self.scene_list.setMaximumHeight(90)
        self.scene_list.currentItemChanged.connect(
            lambda item, _prev: self.show_scene(item.data(Qt.ItemDataRole.UserRole)) if item else None
        )

        self.run_combo = QComboBox()
        self.patch_spin = QSpinBox(minimum=8, maximum=1024, value=64)
        self.stride_spin = QSpinBox(minimum=1, maximum=1024, value=64)
        self.edge_combo = QComboBox()  # the CLI's --edge
        self.edge_combo.addItem("mirror-pad partial patches", "pad")
        self.edge_combo.addItem("skip partial patches", "skip")
        self.edge_combo.setToolTip(
            "patches that run over the scene's right or bottom edge: completed by mirroring (the whole "
            "scene is mapped) or left out (only whole patches)"
        )
        self.nodata_check = QCheckBox("leave no-data patches unclassified")  # the CLI's --ignore-nodata
        self.nodata_check.setToolTip(
            "a patch more than half black (or the file's nodata value) is not classified, so scene borders "
            "stay empty; the file's declared nodata and NaN pixels are always left out"
        )
        self.adapt_check = QCheckBox("adapt to this scene")
        self.adapt_check.setToolTip(
            "re-estimate the model's batch-norm statistics on this scene's patches before classifying "
            "(helps on imagery from another satellite; the run itself is not changed)"
        )
        self.context_check = QCheckBox("Use neighbouring patches (context)")  # the CLI's --no-context
        self.context_check.setChecked(True)
        self.context_check.setToolTip(
            "smooth each patch's class probabilities with those of its 4 grid neighbours, so a lone "
            "misclassified patch inside a region takes the region's class; confident patches and real "
            "boundaries are kept (measured in docs/benchmarks.md). Off: each patch is classified alone"
        )

        self.uncertain_spin = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, decimals=2)
        self.uncertain_spin.setValue(UNCERTAIN_BELOW)
        self.uncertain_spin.setToolTip(
            "patches whose top probability is below this are shown as uncertain (grey hatch) and counted "
            "as 'uncertain' in the shares; 0 = off"
        )
        self.uncertain_spin.valueChanged.connect(self._threshold_changed)
        self.view_combo = QComboBox()
        self.view_combo.addItems(["classes", "uncertainty"])
        self.view_combo.setToolTip("classes: the class map; uncertainty: the confidence of each patch (dark = unsure)")
        self.view_combo.currentIndexChanged.connect(lambda _: self._draw_result())
        self.classify_button = QPushButton("Classify")
        self.classify_button.clicked.connect(lambda: self.classify())  # clicked(bool) is not an engine
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.jobs.cancel(SCENE_JOB))
        self.progress = EtaProgressBar()
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=45)
        self.opacity.valueChanged.connect(lambda v: self.overlay_item.setOpacity(v / 100))
        self.grid_check = QCheckBox("grid lines")
        self.grid_check.setChecked(True)
        self.grid_check.toggled.connect(self.grid_item.setVisible)
        self.legend = QListWidget()
        self.legend.setMinimumHeight(118)  # every class and "uncertain" visible without scrolling
        self.legend.itemChanged.connect(self._legend_toggled)
        self.legend.itemDoubleClicked.connect(self.edit_colour)
        self.legend.setToolTip("untick to hide a class; double-click to change its colour")
        self.hover_label = QLabel("hover a patch")
        self.hover_label.setWordWrap(True)  # a long patch description must not widen the panel
        self.map_label = QLabel("")  # which run, patch size and stride made the map on screen
        self.map_label.setWordWrap(True)
        self.prob_figure = Figure(figsize=(3, 2), tight_layout=True)
        self.prob_canvas = FigureCanvasQTAgg(self.prob_figure)
        self.prob_canvas.setMinimumHeight(160)
        show_placeholder(self.prob_figure, "Classify, then click a patch: its class probabilities appear here.")
        self.export_button = QToolButton()
        self.export_button.setText("Export…")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for label, fmts in (
            ("All formats", ("png", "csv", "geotiff", "geojson", "gpkg")),
            ("PNG class map + overlay", ("png",)),
            ("Per-patch CSV", ("csv",)),
            ("GeoTIFF class map", ("geotiff",)),
            ("GeoJSON polygons", ("geojson",)),
            ("GeoPackage polygons", ("gpkg",)),
        ):
            menu.addAction(label).triggered.connect(lambda _=False, f=fmts: self.export(f))
        self.export_button.setMenu(menu)
        self.export_button.setEnabled(False)

        form = QFormLayout()
        form.addRow(_hb(open_btn, demo_btn, fit_btn))
        form.addRow(self.scene_list)
        form.addRow("Run", self.run_combo)
        form.addRow("Patch size (px)", self.patch_spin)
        form.addRow("Stride (px)", self.stride_spin)
        form.addRow("Edges", self.edge_combo)
        form.addRow(self.nodata_check)
        form.addRow(self.adapt_check)
        form.addRow(self.context_check)
        form.addRow(_hb(self.classify_button, self.cancel_button, self.export_button))
        form.addRow(self.progress)
        form.addRow(self.map_label)
        form.addRow("Uncertain below", self.uncertain_spin)
        form.addRow("View", self.view_combo)
        form.addRow("Opacity", self.opacity)
        form.addRow(self.grid_check)

        self.labelling = LabelPanel(self)
        self.labelling.status.connect(self.status)
        self.labelling.finetune_requested.connect(self.finetune)
        self.view.area_selected.connect(lambda rect: self.labelling.select_rect(rect, add=True))
        self.view.context_requested.connect(self._label_menu)
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addLayout(form)
        sv.addWidget(QLabel("Legend (share of area; untick to hide):"))
        sv.addWidget(self.legend, 1)
        sv.addWidget(self.hover_label)
        sv.addWidget(self.prob_canvas)
        sv.addWidget(self.labelling)
        # the side panel stays usable on a small screen: it scrolls, and is never narrower than its form
        self.side_scroll = scroll = FormScroll(side)
        scroll.setMaximumWidth(max(420, scroll.minimumSizeHint().width()))
        split = QSplitter()
        split.addWidget(self.view)
        split.addWidget(scroll)
        split.setSizes([880, 400])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.follow_state()

    def _sync_buttons(self) -> None:
        """One job at a time: while one runs, nothing else that starts a job can be pressed."""
        busy = self.jobs.busy(SCENE_JOB)
        for b in (self.classify_button, self.open_button, self.demo_button):
            b.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.export_button.setEnabled(not busy and self.result is not None)
        self.labelling.finetune_button.setEnabled(not busy and self.result is not None)

    # -- runs ---------------------------------------------------------------------------------------
    def refresh_runs(self, select: str | None = None) -> None:
        """Refill the Run box from the state's runs; ``select`` (else the state's run) is chosen."""
        fill_run_combo(self.run_combo, self.state.runs, select or self.state.run)
        self.state.set_run(self.run_combo.currentData())

    def _follow_run(self, run: str) -> None:
        i = self.run_combo.findData(run)
        if i >= 0 and i != self.run_combo.currentIndex():
            self.run_combo.setCurrentIndex(i)

    # -- opening scenes ---------------------------------------------------------------------------
    def choose_scenes(self) -> None:
        if self.jobs.busy(SCENE_JOB):
            self.status.emit("wait for the running job to end (or cancel it) before opening scenes")
            return
        files, _ = QFileDialog.getOpenFileNames(self, "Open scenes", last_dir("scene"), SCENE_FILTER)
        if files:
            remember_dir("scene", files[0])
            self.open_scenes(files)

    def open_demo(self) -> None:
        try:
            self.open_scenes([str(demo_scene_path())])
        except LandguiError as exc:
            show_error(self, "Demo scene", str(exc))

    def open_scenes(self, paths: list[str], quiet: bool = False, show: str | None = None) -> None:
        """Load overviews in a worker; ``show`` (else the first one) is shown. ``quiet``: scenes
        that cannot be opened are named in the status bar, not in a dialog (restoring a session)."""

        def job(progress, should_stop):
            out, errors = [], []
            for i, p in enumerate(paths):
                try:
                    sc = open_scene(p)
                    try:
                        out.append((p, sc.width, sc.height, sc.overview(OVERVIEW_MAX_SIDE)))
                    finally:
                        sc.close()
                except Exception as exc:  # noqa: BLE001 - reported per file
                    errors.append(f"{Path(p).name}: {exc}")
                progress("opening", i + 1, len(paths))
            return out, errors

        self._run(
            job,
            lambda payload: self._scenes_opened(payload, quiet, show),
            "scene ready: choose a run and press Classify",
            label="open scenes",
        )

    def _scenes_opened(self, payload, quiet: bool = False, show: str | None = None) -> None:
        loaded, errors = payload
        for p, w, h, ov in loaded:
            self.scenes[p] = {"overview": ov, "size": (w, h), "result": None}
            if not any(
                self.scene_list.item(i).data(Qt.ItemDataRole.UserRole) == p for i in range(self.scene_list.count())
            ):
                item = QListWidgetItem(f"{Path(p).name}  ({w} x {h} px)")
                item.setData(Qt.ItemDataRole.UserRole, p)
                item.setToolTip(p)
                self.scene_list.addItem(item)
        if loaded:
            first = show if show in {p for p, *_ in loaded} else loaded[0][0]
            self.scene_list.blockSignals(True)
            for i in range(self.scene_list.count()):
                if self.scene_list.item(i).data(Qt.ItemDataRole.UserRole) == first:
                    self.scene_list.setCurrentRow(i)
            self.scene_list.blockSignals(False)
            self.show_scene(first)
        if errors and quiet:
            self.status.emit(f"{len(errors)} scene(s) could not be opened: {'; '.join(errors)}")
        elif errors:
            show_error(self, "Open scene", f"{len(errors)} scene(s) could not be opened", "\n".join(errors))

    def show_scene(self, path: str) -> None:
        if path not in self.scenes:
            return
        self.current = path
        self.empty_hint.setVisible(False)
        info = self.scenes[path]
        w, h = info["size"]
        ov = info["overview"]
        self.image_item.setPixmap(QPixmap.fromImage(_qimage(ov)))
        self.image_item.setTransform(QTransform.fromScale(w / ov.shape[1], h / ov.shape[0]))
        self.view.scene().setSceneRect(QRectF(0, 0, w, h))
        self.clip.setRect(QRectF(0, 0, w, h))
        self.view.fit()
        self.highlight.setVisible(False)
        self.selected = None
        self.hover_label.setText("hover a patch")
        show_placeholder(self.prob_figure, "Classify, then click a patch: its class probabilities appear here.")
        self._draw_result()
        self.labelling.scene_changed()
        self._sync_buttons()
        self.state.set_scenes(list(self.scenes), path)
        self.scene_loaded.emit(path)
        self.status.emit(f"{Path(path).name}: {w} x {h} px")

    # -- classification ---------------------------------------------------------------------------
    def classify(self, engine: str = "auto") -> None:
        if self.current is None:
            show_error(self, "Classify", "open a scene first (or the demo scene)")
            return
        run_dir = self.run_combo.currentData()
        if not run_dir:
            show_error(self, "Classify", "no trained run in the runs folder; train a model in the Training tab")
            return
        path, patch, stride = self.current, self.patch_spin.value(), self.stride_spin.value()
        adapt, threshold = self.adapt_check.isChecked(), self.uncertain_spin.value()

        context = DEFAULT_CONTEXT if self.context_check.isChecked() else 0.0
        edge, ignore_nodata = self.edge_combo.currentData(), self.nodata_check.isChecked()

        try:
            labels = read_run(run_dir).labels
        except LandguiError as exc:
            show_error(self, "Classify", str(exc))
            return
        self._partial = None
        self._partial_colours = code_colours(labels, run_palette(run_dir, labels))
        self._partial_path = path

        def on_partial(grid, classes) -> None:  # worker thread: hand over a reference only
            self._partial = (grid, classes)

        def job(progress, should_stop):
            res = segment_file(
                run_dir,
                path,
                patch=patch,
                stride=stride,
                edge=edge,
                ignore_nodata=ignore_nodata,
                adapt=adapt,
                uncertain_below=threshold,
                context=context,
                progress=progress,
                should_stop=should_stop,
                partial=on_partial,
                engine=engine,
                keep_features=True,  # a retrained head re-maps the scene from them at once
            )
            return path, res, run_palette(run_dir, res.labels)

        self._run(job, self._classified, label="classify", progress=self._paint_partial)

    def _paint_partial(self, *_args) -> None:
        """Paint the patches classified so far while the job runs (the map grows strip by strip)."""
        part = getattr(self, "_partial", None)
        if part is None or self.current != getattr(self, "_partial_path", None):
            return
        self._partial = None
        grid, classes = part
        codes = np.where(classes >= 0, classes, 255).astype(np.uint8)
        self.overlay_item.setPixmap(QPixmap.fromImage(_qimage(self._partial_colours[codes])))
        self.overlay_item.setTransform(QTransform.fromScale(grid.stride, grid.stride))
        self.overlay_item.setOpacity(self.opacity.value() / 100)
        self.uncertain_item.setPath(QPainterPath())

    @property
    def palette(self) -> dict[str, str]:
        """The class colours of the map on screen: each scene's result keeps its run's colours
        (two scenes mapped by runs with other classes each show their own legend)."""
        return dict((self.scenes.get(self.current) or {}).get("palette") or {})

    @palette.setter
    def palette(self, value: dict[str, str]) -> None:
        """New colours for the map on screen, and for every other scene mapped by the same run."""
        res = self.result
        for path, entry in self.scenes.items():
            other = entry.get("result")
            if path == self.current or (res is not None and other is not None and other.run == res.run):
                entry["palette"] = dict(value)

    def _classified(self, payload) -> None:
        path, res, palette = payload
        self.scenes[path]["result"] = res
        self.scenes[path]["palette"] = dict(palette)
        self.hidden = set()
        if path == self.current:
            self._draw_result()
            self.labelling.scene_changed()
        self._sync_buttons()
        self.status.emit(
            f"classified {res.grid.n} patches in {res.seconds:.1f} s ({res.patches_per_s:,.0f} patches/s, {res.engine})"
        )
        self.classified.emit(res)

    def _run(self, job, on_done, done_text: str = "done", label: str = "", progress=None) -> JobWorker | None:
        """Start one of the tab's jobs through the registry (refused while another one runs)."""

        def step(*args) -> None:
            self.progress.update_progress(*args)
            if progress is not None:
                progress(*args)

        def done(result) -> None:
            self.progress.finish(done_text)
            on_done(result)

        return self.jobs.start(
            self,
            SCENE_JOB,
            job,
            label=label or done_text,
            on_done=done,
            on_failed=self._failed,
            on_cancelled=lambda: self.progress.finish("cancelled"),
            progress=step,
        )

    def _failed(self, message: str, details: str) -> None:
        self.progress.finish("failed")
        show_error(self, "Scene", message, details)

    # -- drawing the result -----------------------------------------------------------------------
    @property
    def result(self):
        return self.scenes[self.current]["result"] if self.current in self.scenes else None

    def _draw_result(self) -> None:
        res = self.result
        self.legend.blockSignals(True)
        self.legend.clear()
        self.map_label.setText(
            ""
            if res is None
            else f"map on screen: {Path(res.run).name or 'run'}, {res.grid.patch} px patches, stride "
            f"{res.grid.stride}{', partial edge patches skipped' if res.grid.edge == 'skip' else ''}"
            f"{', adapted' if res.adapted else ''}{', with context' if res.context > 0 else ''} ({res.engine})"
            + _unfamiliar_line(res)
        )
        if res is None:
            self.overlay_item.setPixmap(QPixmap())
            self.grid_item.setPath(QPainterPath())
            self.uncertain_item.setPath(QPainterPath())
            self.legend.blockSignals(False)
            return

        k_unc = len(res.labels)
        cell = res.grid.cell
        unsure = res.cell_uncertain
        uncertainty_view = self.view_combo.currentText() == "uncertainty"
        if uncertainty_view:
            rgba = confidence_colours(res.cell_confidence)
            rgba[res.cell_classes < 0, 3] = 0
            self.overlay_item.setPixmap(QPixmap.fromImage(_qimage(rgba)))
        else:
            cols = code_colours(res.labels, self.palette)
            for k in self.hidden:  # k_unc stands for "uncertain" in the legend
                cols[UNCERTAIN_VALUE if k == k_unc else k, 3] = 0
            # uncertain patches are grey (and hatched), not their best guess
            self.overlay_item.setPixmap(QPixmap.fromImage(_qimage(cols[cell_class_codes(res)])))
        hatch = QPainterPath()
        if k_unc not in self.hidden and not uncertainty_view:
            for r in np.nonzero(unsure.any(axis=1))[0]:  # one rectangle per horizontal run of cells
                row = np.concatenate([[0], unsure[r].astype(np.int8), [0]])
                edges = np.flatnonzero(np.diff(row))
                for c0, c1 in zip(edges[::2], edges[1::2], strict=True):
                    hatch.addRect(QRectF(int(c0) * cell, int(r) * cell, int(c1 - c0) * cell, cell))
        self.uncertain_item.setPath(hatch)
        self.overlay_item.setTransform(QTransform.fromScale(cell, cell))
        self.overlay_item.setOpacity(self.opacity.value() / 100)
        g = res.grid
        path = QPainterPath()
        x_end, y_end = min(g.width, (g.cols - 1) * g.stride + g.patch), min(g.height, (g.rows - 1) * g.stride + g.patch)
        for c in range(g.cols + 1):
            x = min(c * g.stride, x_end) if c < g.cols else x_end
            path.moveTo(x, 0)
            path.lineTo(x, y_end)
        for r in range(g.rows + 1):
            y = min(r * g.stride, y_end) if r < g.rows else y_end
            path.moveTo(0, y)
            path.lineTo(x_end, y)
        self.grid_item.setPath(path)
        self.grid_item.setVisible(self.grid_check.isChecked())
        if uncertainty_view:
            for level in (1.0, 0.9, 0.7, 0.5, 0.3):
                r, g, b, _ = confidence_colours(np.array([level], np.float32))[0]
                sw = QPixmap(14, 14)
                sw.fill(QColor(int(r), int(g), int(b)))
                self.legend.addItem(QListWidgetItem(QIcon(sw), f"confidence {level:.1f}"))
            self.legend.blockSignals(False)
            return
        for k, lab in enumerate(res.labels):
            sw = QPixmap(14, 14)
            sw.fill(QColor(self.palette[lab]))
            item = QListWidgetItem(QIcon(sw), f"{lab}  {res.coverage.get(lab, 0):.1%}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if k in self.hidden else Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, k)
            self.legend.addItem(item)
        if res.uncertain_below > 0:
            sw = QPixmap(14, 14)
            sw.fill(QColor(128, 128, 128))
            item = QListWidgetItem(
                QIcon(sw), f"{UNCERTAIN} (below {res.uncertain_below:.2f})  {res.coverage.get(UNCERTAIN, 0):.1%}"
            )
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked if k_unc in self.hidden else Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, k_unc)
            self.legend.addItem(item)
        self.legend.blockSignals(False)

    def _threshold_changed(self, value: float) -> None:
        res = self.result
        if res is not None:
            res.set_threshold(value)
            self._draw_result()

    def edit_colour(self, item: QListWidgetItem) -> None:
        """Double-click on a class in the legend: choose its colour, saved in the run's palette."""
        from PySide6.QtWidgets import QColorDialog

        res = self.result
        k = item.data(Qt.ItemDataRole.UserRole)
        if res is None or not isinstance(k, int) or k >= len(res.labels):
            return  # the uncertainty view or the "uncertain" row: fixed colours
        lab = res.labels[k]
        colour = QColorDialog.getColor(QColor(self.palette[lab]), self, f"Colour of {lab}")
        if not colour.isValid():
            return
        self.palette = {**self.palette, lab: colour.name().upper()}
        try:
            saved = save_palette(res.run, self.palette) if res.run else False
        except LandguiError as exc:
            show_error(self, "Colours", str(exc))
            saved = False
        self._draw_result()
        where = "saved in the run" if saved else "for this session (the shipped model is read-only)"
        self.status.emit(f"{lab} is now {colour.name().upper()}, {where}")

    def _legend_toggled(self, item: QListWidgetItem) -> None:
        k = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self.hidden.discard(k)
        else:
            self.hidden.add(k)
        self._draw_result()

    def patch_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The patch whose origin cell holds (x, y): row, col (the last patch covering it)."""
        res = self.result
        if res is None or not (0 <= x < res.grid.width and 0 <= y < res.grid.height):
            return None
        g = res.grid
        r = min(int(y // g.stride), g.rows - 1)
        c = min(int(x // g.stride), g.cols - 1)
        return r, c

    def _hover(self, x: float, y: float) -> None:
        rc = self.patch_at(x, y)
        if rc is None:
            return
        res = self.result
        k = int(res.classes[rc])
        text = "not classified" if k < 0 else f"{res.labels[k]} {res.probs[rc][k]:.2f}"
        if k >= 0 and res.probs[rc][k] < res.uncertain_below:
            text += " (uncertain)"
        where = f"({int(x)}, {int(y)})"
        if res.crs is not None and res.transform is not None:  # georeferenced: map coordinates too
            mx, my = res.transform * (x, y)
            where += f", {mx:.1f} {my:.1f} {res.crs.to_string()}"
        self.hover_label.setText(f"patch row {rc[0]}, col {rc[1]} at {where}: {text}")

    def select_at(self, x: float, y: float, add: bool = False) -> None:
        rc = self.patch_at(x, y)
        if rc is None:
            return
        self.labelling.select({rc}, add)
        res = self.result
        g = res.grid
        r, c = rc
        self.highlight.setRect(QRectF(c * g.stride, r * g.stride, g.patch, g.patch))
        self.highlight.setVisible(True)
        self.selected = rc
        probs = res.probs[r, c]
        fig = self.prob_figure
        fig.clear()
        ax = fig.add_subplot(111)
        colours = [self.palette.get(lab, "#888888") for lab in res.labels]
        ax.barh(res.labels, probs, color=colours)
        raw = None if res.raw_probs is None else res.raw_probs[r, c]
        if raw is not None:  # the model's own answer, before the neighbours had their say
            ax.scatter(raw, range(len(res.labels)), marker="|", s=200, color="black", label="patch alone")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(f"patch ({r}, {c})", fontsize=9)
        ax.tick_params(labelsize=8)
        self.prob_canvas.draw_idle()
        text = f"patch row {r}, col {c}: " + ", ".join(
            f"{lab} {p:.2f}" for lab, p in zip(res.labels, probs, strict=True)
        )
        if raw is not None and int(np.argmax(raw)) != int(np.argmax(probs)):
            text += f" (alone: {res.labels[int(np.argmax(raw))]} {float(raw.max()):.2f}; its neighbours changed it)"
        if res.unfamiliar is not None and np.isfinite(res.unfamiliar[r, c]):
            u = float(res.unfamiliar[r, c])
            text += f"; unfamiliar {u:.2f}" + (" (unlike the training data)" if u > UNFAMILIAR_ABOVE else "")
        self.hover_label.setText(text)

    # -- teach it this scene -----------------------------------------------------------------------
    def label_menu(self, x: float, y: float) -> QMenu | None:
        """The right-click menu on the map: label the selection (or the patch under the mouse)."""
        rc, res = self.patch_at(x, y), self.result
        if rc is None or res is None:
            return None
        if rc not in self.labelling.selection:
            self.select_at(x, y)
        menu = QMenu(self)
        for k, lab in enumerate(res.labels):
            act = menu.addAction(f"Label as {lab}" + (f"\t{k + 1}" if k < 9 else ""))
            act.triggered.connect(lambda _=False, k=k: self.labelling.assign(k))
        menu.addSeparator()
        menu.addAction("Take the label back\t0").triggered.connect(lambda: self.labelling.assign(None))
        return menu

    def _label_menu(self, x: float, y: float, global_pos) -> None:
        menu = self.label_menu(x, y)
        if menu is not None:
            menu.popup(global_pos)

    def finetune(self, parent: str, corrections: str) -> None:
        """A new run from ``parent`` fine-tuned on the corrections folder, and this scene re-mapped.

        Two jobs: the head is retrained (a second or two, no TensorFlow, when the parent runs as
        LiteRT) and the scene re-mapped at once from the features kept by its last map; then the
        new run is saved (model.keras needs Keras: a few seconds more, the map is already shown).
        Without kept features the scene is classified again once the run is saved."""
        import time

        base = Path(self.runs_dir) / f"{Path(parent).name}-taught"
        n = 1
        while Path(f"{base}-{n}").exists():
            n += 1
        out, path, t0 = f"{base}-{n}", self.current, time.monotonic()

        def fit_job(progress, should_stop):
            plan = plan_finetune(parent, [corrections], out)
            return plan, fit_head(plan, progress=progress, should_stop=should_stop)

        def fitted(payload) -> None:
            plan, head = payload
            res = self.scenes.get(path, {}).get("result")
            new = None if res is None or head.predictor is None else reclassify_with_head(res, head.predictor)
            if new is not None:
                self._classified((path, new, self.palette))
                self.status.emit(
                    f"taught in {time.monotonic() - t0:.1f} s: the map shows {Path(out).name}; saving the run"
                )

            def save_job(progress, should_stop):
                # no LiteRT conversion (about 20 s): the run shares its parent's LiteRT backbone, or,
                # without one, the scene is re-mapped with the Keras model still in memory
                return save_finetuned(plan, head, export_litert=False, progress=progress)

            def saved(result) -> None:
                self.state.refresh_runs()  # the new run joins every list, and is chosen here
                self.refresh_runs(select=result.run_dir)
                self.status.emit(
                    f"taught {Path(result.run_dir).name} in {time.monotonic() - t0:.1f} s"
                    + ("" if new is not None else "; re-mapping")
                )
                self.finetuned.emit(result.run_dir)
                if new is None:
                    self.classify(engine="keras" if head.predictor is None else "auto")

            self._run(save_job, saved, "fine-tuned", label="save the taught run")

        self._run(fit_job, fitted, "head trained", label="fine-tune")

    # -- export -------------------------------------------------------------------------------------
    def export(self, formats: tuple[str, ...], out_dir: str | None = None) -> None:
        res, path = self.result, self.current
        if res is None:
            return
        out = out_dir or QFileDialog.getExistingDirectory(self, "Export class map to folder", last_dir("export"))
        if not out:
            return
        remember_dir("export", out)
        palette, opacity, hidden = self.palette, self.opacity.value() / 100, set(self.hidden)

        def job(progress, should_stop):
            sc = open_scene(path)
            try:
                progress("exporting", 0, 1)
                name = output_name(path, out)
                files = export(res, sc, out, name, palette, formats, opacity=opacity, hidden=hidden)
                progress("exporting", 1, 1)
                return files
            finally:
                sc.close()

        skipped = [f for f in ("geotiff", "geojson", "gpkg") if f in formats and res.crs is None]

        def done(files) -> None:
            msg = f"exported {len(files)} files to {out}"
            if skipped:
                names = {"geotiff": "GeoTIFF", "geojson": "GeoJSON", "gpkg": "GeoPackage"}
                msg += f"; {', '.join(names[f] for f in skipped)} skipped: the scene has no georeference (CRS)"
            self.status.emit(msg)
            self.last_export_message = msg

        self._run(job, done, "exported", label="export")


def _hb(*widgets) -> QHBoxLayout:
    lay = QHBoxLayout()
    for w in widgets:
        lay.addWidget(w)
    return lay


def _unfamiliar_line(res) -> str:
    """The map's one-line warning when many patches are unlike the model's training data."""

    unf = unfamiliar_summary(res)
    return f"\n⚠ {unf['warning']}" if unf and unf["warning"] else ""
