"""What the map view shows, drawn from the Scene tab's state (:class:`ScenesState`): the scene's
overview, the class map as a translucent overlay with uncertain patches hatched grey (or each
patch's confidence in the uncertainty view), the patch grid, the patch in detail (red), the
selection (dashed white) and the corrected patches (outlined in their new class's colour).

Every item follows the state's signals; nothing here is read back by anyone."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainterPath, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsSimpleTextItem

from landgui.core.scenes.result import UNCERTAIN_VALUE, cell_class_codes, code_colours
from landgui.gui.state.scene_session import ScenesState
from landgui.gui.tabs.scene.view import SceneView

EMPTY_HINT = "Open a scene (Open scene…, Open demo scene)\nor drop JPEG/PNG/TIFF/GeoTIFF files here."


def confidence_colours(conf: np.ndarray) -> np.ndarray:
    """RGBA of the uncertainty view: green where the model is sure (1.0), through olive, to red."""
    level = (np.clip(conf, 0.0, 1.0) * 255).astype(np.uint8)
    return np.stack([255 - level, level, np.full_like(level, 60), np.full_like(level, 255)], -1).astype(np.uint8)


def qimage(rgb: np.ndarray) -> QImage:
    """A QImage (its own copy) of an RGB or RGBA uint8 array."""
    rgb = np.ascontiguousarray(rgb)
    fmt = QImage.Format.Format_RGBA8888 if rgb.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], fmt).copy()


def _pen(colour: QColor, width: int = 1, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)
    return pen


def mask_rects(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The True cells of a 2-D mask as rectangles ``(row, col, rows, cols)``: one per horizontal
    run of cells, runs of identical consecutive rows merged (a map of 1 px cells has thousands of
    rows but only a few distinct ones between patch edges)."""
    rects: list[tuple[int, int, int, int]] = []
    rows = np.flatnonzero(np.concatenate([[True], np.any(mask[1:] != mask[:-1], axis=1), [True]]))
    for r0, r1 in zip(rows[:-1], rows[1:], strict=True):  # rows r0..r1-1 are identical
        edges = np.flatnonzero(np.diff(np.concatenate([[0], mask[r0].astype(np.int8), [0]])))
        rects += [
            (int(r0), int(c0), int(r1 - r0), int(c1 - c0)) for c0, c1 in zip(edges[::2], edges[1::2], strict=True)
        ]
    return rects


def _cells_path(cells, stride: int, size: int, inset: int = 0) -> QPainterPath:
    path = QPainterPath()
    for r, c in cells:
        path.addRect(QRectF(c * stride + inset, r * stride + inset, size - 2 * inset, size - 2 * inset))
    return path


class MapLayers:
    """The graphics items of ``view``'s scene, kept in step with ``state``."""

    def __init__(self, view: SceneView, state: ScenesState) -> None:
        self.view, self.state = view, state
        scene = view.scene()
        self.image_item = QGraphicsPixmapItem()
        # overlay, hatch and grid are clipped to the scene: edge patches padded past it are not drawn outside
        self.clip = QGraphicsRectItem()
        self.clip.setPen(QPen(Qt.PenStyle.NoPen))
        self.clip.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self.overlay_item = QGraphicsPixmapItem(self.clip)
        self.uncertain_item = QGraphicsPathItem(self.clip)  # grey hatch over uncertain patches
        self.uncertain_item.setZValue(0.5)
        self.uncertain_item.setPen(QPen(Qt.PenStyle.NoPen))
        self.uncertain_item.setBrush(QBrush(QColor(30, 30, 30), Qt.BrushStyle.BDiagPattern))
        self.grid_item = QGraphicsPathItem(self.clip)
        self.grid_item.setZValue(1)
        self.grid_item.setPen(_pen(QColor(255, 255, 255, 110)))
        self.corrected_items: list[QGraphicsPathItem] = []
        self.highlight = QGraphicsRectItem()  # the patch whose probabilities are shown
        self.highlight.setPen(_pen(QColor("#ff2020"), 3))
        self.highlight.setVisible(False)
        self.select_item = QGraphicsPathItem()  # the selected patches
        self.select_item.setPen(_pen(QColor("#ffffff"), 2, Qt.PenStyle.DashLine))
        self.empty_hint = QGraphicsSimpleTextItem(EMPTY_HINT)
        self.empty_hint.setBrush(QBrush(QColor("#BBBBBB")))
        for z, item in (
            (0, self.image_item),
            (1, self.clip),
            (2, self.highlight),
            (3, self.select_item),
            (4, self.empty_hint),
        ):
            item.setZValue(z)  # the corrected patches' outlines go at 2.5
            scene.addItem(item)
        state.current_changed.connect(self.show_scene)
        state.result_changed.connect(self.redraw)
        state.look_changed.connect(self.redraw)
        state.display_changed.connect(self.draw_map)
        state.selection_changed.connect(self.draw_selection)
        state.corrections_changed.connect(self.draw_corrections)

    def show_scene(self) -> None:
        """The scene on screen (or the hint when none is open), fitted to the view, and its map."""
        s = self.state.current
        self.empty_hint.setVisible(s is None)
        if s is None:
            self.image_item.setPixmap(QPixmap())
            self.view.scene().setSceneRect(self.empty_hint.boundingRect())
        else:
            img = s.image
            ov = img.overview
            self.image_item.setPixmap(QPixmap.fromImage(qimage(ov)))
            self.image_item.setTransform(QTransform.fromScale(img.width / ov.shape[1], img.height / ov.shape[0]))
            self.view.scene().setSceneRect(QRectF(0, 0, img.width, img.height))
        self.view.fit()
        self.redraw()

    def place_map(self, grid=None) -> QTransform:
        """Put the map's items over the scene: the map's px scaled to the scene's (a map made on a
        resampled grid covers the same ground in fewer px). Returns that transform."""
        s = self.state.current
        if s is None:
            return QTransform()
        g = grid if grid is not None else None if s.result is None else s.result.grid
        sx, sy = s.map_scale(g)
        to_scene = QTransform.fromScale(1 / sx, 1 / sy)
        self.clip.setRect(QRectF(0, 0, s.image.width * sx, s.image.height * sy))
        for item in (self.clip, self.highlight, self.select_item, *self.corrected_items):
            item.setTransform(to_scene)
        return to_scene

    def redraw(self) -> None:
        """Everything that derives from the map on screen."""
        self.place_map()
        self.draw_map()
        self.draw_selection()
        self.draw_corrections()

    def draw_map(self) -> None:
        """The overlay (classes or confidence), the uncertain hatch and the patch grid."""
        s = self.state.current
        res = None if s is None else s.result
        self.overlay_item.setOpacity(self.state.opacity)
        self.grid_item.setVisible(self.state.grid_lines)
        if res is None:
            self.overlay_item.setPixmap(QPixmap())
            self.grid_item.setPath(QPainterPath())
            self.uncertain_item.setPath(QPainterPath())
            return
        k_unc = len(res.labels)  # the "uncertain" row of the legend
        uncertainty_view = self.state.view == "uncertainty"
        if uncertainty_view:
            rgba = confidence_colours(res.cell_confidence)
            rgba[res.cell_classes < 0, 3] = 0
        else:
            cols = code_colours(res.labels, s.palette)
            for k in s.hidden:
                cols[UNCERTAIN_VALUE if k == k_unc else k, 3] = 0
            codes = cell_class_codes(res)
            rgba = cols[codes]  # uncertain patches are grey (and hatched), not their best guess
        self.overlay_item.setPixmap(QPixmap.fromImage(qimage(rgba)))
        self.overlay_item.setTransform(QTransform.fromScale(res.grid.cell, res.grid.cell))
        hatch, cell = QPainterPath(), res.grid.cell
        if k_unc not in s.hidden and not uncertainty_view:
            for r, c, h, w in mask_rects(codes == UNCERTAIN_VALUE):
                hatch.addRect(QRectF(c * cell, r * cell, w * cell, h * cell))
        self.uncertain_item.setPath(hatch)
        self.grid_item.setPath(self._grid_path())

    def _grid_path(self) -> QPainterPath:
        g = self.state.current.result.grid
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
        return path

    def draw_selection(self) -> None:
        """The patch in detail (red) and the selected patches (dashed white)."""
        s = self.state.current
        res = None if s is None else s.result
        if res is None:
            self.highlight.setVisible(False)
            self.select_item.setPath(QPainterPath())
            return
        g = res.grid
        if s.focus is not None:
            r, c = s.focus
            self.highlight.setRect(QRectF(c * g.stride, r * g.stride, g.patch, g.patch))
        self.highlight.setVisible(s.focus is not None)
        self.select_item.setPath(_cells_path(sorted(s.selection), g.stride, g.patch))

    def draw_corrections(self) -> None:
        """Each corrected patch outlined in the colour of the class it was given."""
        for item in self.corrected_items:
            self.view.scene().removeItem(item)
        self.corrected_items = []
        s = self.state.current
        c = None if s is None else s.corrections
        if c is None or s.result is None:
            return
        g, palette = s.result.grid, s.palette
        for k, lab in enumerate(c.labels):
            cells = [cell for cell, v in c.assigned.items() if v == k]
            if cells:
                item = QGraphicsPathItem(_cells_path(cells, g.stride, g.patch, inset=2))
                item.setPen(_pen(QColor(palette.get(lab, "#ffff00")), 3))
                item.setZValue(2.5)
                item.setTransform(self.clip.transform())  # in map px, as the overlay
                self.view.scene().addItem(item)
                self.corrected_items.append(item)

    def paint_partial(self, grid, classes: np.ndarray, colours: np.ndarray) -> None:
        """The patches classified so far, while the job runs (the map grows strip by strip)."""
        codes = np.where(classes >= 0, classes, 255).astype(np.uint8)
        self.place_map(grid)
        self.overlay_item.setPixmap(QPixmap.fromImage(qimage(colours[codes])))
        self.overlay_item.setTransform(QTransform.fromScale(grid.stride, grid.stride))
        self.overlay_item.setOpacity(self.state.opacity)
        self.uncertain_item.setPath(QPainterPath())
