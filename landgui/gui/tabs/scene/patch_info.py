"""What the map says about one patch and about itself, derived from the Scene tab's state.

:class:`PatchPanel`: the patch under the mouse (one line) and the patch in detail (the last one
clicked): its class probabilities as text and as a bar chart, with the model's own answer beside
them when the neighbours changed it. The detail is always that of the map on screen: a map
re-made (a fine-tuned head, another Classify of the same grid) redraws it from the new map.
:func:`map_text`: which run, patch size and stride made the map on screen."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from landgui.core.inference.familiarity import UNFAMILIAR_ABOVE
from landgui.core.scenes.result import SceneResult
from landgui.core.scenes.writers.table import unfamiliar_summary
from landgui.gui.state.scene_session import ScenesState
from landgui.gui.widgets.common import show_placeholder

HOVER_HINT = "hover a patch"
CHART_HINT = "Classify, then click a patch: its class probabilities appear here."


def map_text(res: SceneResult | None) -> str:
    """``"map on screen: RUN, 64 px patches, stride 64, with context (litert)"`` and, when many
    patches are unlike the model's training data, a warning line."""
    if res is None:
        return ""
    g = res.grid
    text = (
        f"map on screen: {Path(res.run).name or 'run'}, {g.patch} px patches, stride {g.stride}"
        f"{', partial edge patches skipped' if g.edge == 'skip' else ''}"
        f"{', adapted' if res.adapted else ''}{', with context' if res.context > 0 else ''} ({res.engine})"
    )
    unf = unfamiliar_summary(res)
    return text + (f"\n⚠ {unf['warning']}" if unf and unf["warning"] else "")


def hover_text(res: SceneResult, rc: tuple[int, int], x: float, y: float) -> str:
    """One line on the patch ``rc`` under scene pixel (x, y): its class and probability, and the
    map coordinates of a georeferenced scene."""
    k = int(res.classes[rc])
    text = "not classified" if k < 0 else f"{res.labels[k]} {res.probs[rc][k]:.2f}"
    if k >= 0 and res.probs[rc][k] < res.uncertain_below:
        text += " (uncertain)"
    where = f"({int(x)}, {int(y)})"
    if res.crs is not None and res.transform is not None:  # georeferenced: map coordinates too
        mx, my = res.transform @ (x, y)
        where += f", {mx:.1f} {my:.1f} {res.crs.to_string()}"
    return f"patch row {rc[0]}, col {rc[1]} at {where}: {text}"


def detail_text(res: SceneResult, r: int, c: int) -> str:
    """Every class probability of patch (r, c); the model's own answer when its neighbours
    changed it; how unfamiliar the patch looks."""
    probs = res.probs[r, c]
    text = f"patch row {r}, col {c}: " + ", ".join(f"{lab} {p:.2f}" for lab, p in zip(res.labels, probs, strict=True))
    raw = None if res.raw_probs is None else res.raw_probs[r, c]
    if raw is not None and int(np.argmax(raw)) != int(np.argmax(probs)):
        text += f" (alone: {res.labels[int(np.argmax(raw))]} {float(raw.max()):.2f}; its neighbours changed it)"
    if res.unfamiliar is not None and np.isfinite(res.unfamiliar[r, c]):
        u = float(res.unfamiliar[r, c])
        text += f"; unfamiliar {u:.2f}" + (" (unlike the training data)" if u > UNFAMILIAR_ABOVE else "")
    return text


class PatchPanel(QWidget):
    """Below the map: which map is on screen and the hovered patch's line (``column``, left), the
    patch in detail as a bar chart (right)."""

    def __init__(self, state: ScenesState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.map_label = QLabel("")
        self.text = QLabel(HOVER_HINT)
        for label in (self.map_label, self.text):
            label.setWordWrap(True)  # a long description must not widen the panel
            label.setMinimumWidth(80)
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.figure = Figure(figsize=(3, 1.6), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumSize(100, 120)
        show_placeholder(self.figure, CHART_HINT)
        self.column = QVBoxLayout()
        self.column.addWidget(self.map_label)
        self.column.addWidget(self.text)
        self.column.addStretch(1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self.column, 1)
        lay.addWidget(self.canvas, 1)
        self._shown: tuple | None = None  # (result, patch, colours) on the chart: redrawn only on change
        for signal in (state.current_changed, state.result_changed, state.selection_changed, state.look_changed):
            signal.connect(self.show_detail)
        state.current_changed.connect(self.show_map)
        state.result_changed.connect(self.show_map)

    def show_map(self) -> None:
        """Which run, patch size and stride made the map on screen."""
        s = self.state.current
        self.map_label.setText(map_text(None if s is None else s.result))

    def hover(self, x: float, y: float) -> None:
        """The patch under scene pixel (x, y), in one line (nothing changes off the map)."""
        s = self.state.current
        rc = None if s is None else s.patch_at(x, y)
        if rc is not None:
            self.text.setText(hover_text(s.result, rc, x, y))

    def show_detail(self) -> None:
        """The patch in detail of the map on screen: its probabilities as text and bars."""
        s = self.state.current
        res = None if s is None else s.result
        key = None if res is None or s.focus is None else (id(res), s.focus, tuple(s.palette.items()))
        if key == self._shown:
            return
        self._shown = key
        if key is None:
            self.text.setText(HOVER_HINT)
            show_placeholder(self.figure, CHART_HINT)
            return
        r, c = s.focus
        colours = [s.palette.get(lab, "#888888") for lab in res.labels]
        fig = self.figure
        fig.clear()
        ax = fig.add_subplot(111)
        ax.barh(res.labels, res.probs[r, c], color=colours)
        if res.raw_probs is not None:  # the model's own answer, before the neighbours had their say
            ax.scatter(
                res.raw_probs[r, c], range(len(res.labels)), marker="|", s=200, color="black", label="patch alone"
            )
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(f"patch ({r}, {c})", fontsize=9)
        ax.tick_params(labelsize=8)
        self.canvas.draw_idle()
        self.text.setText(detail_text(res, r, c))
