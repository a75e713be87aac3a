"""The Scene tab's state in typed objects the widgets follow (glue's viewer state): nothing about
a scene is kept in a widget, so two widgets can never disagree.

:class:`SceneSession`
    One open scene: its overview, its map (:class:`~landgui.core.scenes.result.SceneResult`), the
    map's colours and hidden classes, the corrections made on it, the selected patches and the
    patch shown in detail. Everything on screen about the scene derives from these.
:class:`ScenesState`
    The open scenes in their order, the one on screen, the map settings of the next Classify
    (:class:`~landgui.core.params.MapSettings`, restored at the next start through the
    application state) and how maps are drawn (view, opacity, grid lines).

Qt-light: plain Python state with Qt signals only, so that widgets can follow it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from landgui.core.base.errors import LandguiError
from landgui.core.params import MapSettings
from landgui.core.scenes.facts import SceneFacts
from landgui.core.scenes.result import SceneResult
from landgui.core.training.corrections import Cell, Corrections

VIEWS = ("classes", "uncertainty")
_RELAYED = ("result_changed", "look_changed", "selection_changed", "corrections_changed", "bands_changed")


@dataclass(frozen=True)
class SceneImage:
    """What opening a scene read: its path, size in px, a small RGB overview to show and the
    file's own figures (ground resolution, bands, data type: :class:`SceneFacts`)."""

    path: str
    width: int
    height: int
    overview: np.ndarray
    facts: SceneFacts | None = None


def same_geometry(a: SceneResult | None, b: SceneResult | None) -> bool:
    """Whether two maps cut the scene into the same patches with the same classes (a map re-made
    by a fine-tuned head: the selection, the detail and the corrections still mean the same)."""
    if a is None or b is None:
        return False
    ga, gb = a.grid, b.grid
    return (ga.patch, ga.stride, ga.rows, ga.cols, list(a.labels)) == (
        gb.patch,
        gb.stride,
        gb.rows,
        gb.cols,
        list(b.labels),
    )


class SceneSession(QObject):
    """One open scene and its map. Change it through its methods; follow it through its signals."""

    result_changed = Signal()  # a new map: everything derived from it follows
    look_changed = Signal()  # colours, hidden classes or the uncertain threshold
    selection_changed = Signal()  # the selected patches, or the patch shown in detail
    corrections_changed = Signal()  # a label given, taken back, undone, redone or saved
    bands_changed = Signal()  # the bands read as red, green, blue

    def __init__(self, image: SceneImage, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.image = image
        self._result: SceneResult | None = None
        self._palette: dict[str, str] = {}
        self._hidden: frozenset[int] = frozenset()
        self._corrections: Corrections | None = None
        self._selection: frozenset[Cell] = frozenset()
        self._focus: Cell | None = None
        self._exported: str | None = None
        self._bands: tuple[int, ...] | None = None

    # -- reading -----------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.image.path

    @property
    def result(self) -> SceneResult | None:
        """The map on screen (None before the first Classify)."""
        return self._result

    @property
    def palette(self) -> dict[str, str]:
        """Class -> colour of the map on screen (its run's colours, or the user's)."""
        return dict(self._palette)

    @property
    def hidden(self) -> frozenset[int]:
        """Legend rows switched off: class indices, and ``len(labels)`` for "uncertain"."""
        return self._hidden

    @property
    def corrections(self) -> Corrections | None:
        """The labels the user gave on this map's patches (None before a map)."""
        return self._corrections

    @property
    def selection(self) -> frozenset[Cell]:
        """The selected patches (row, col): what a number key labels."""
        return self._selection

    @property
    def focus(self) -> Cell | None:
        """The patch whose class probabilities are shown (the last one clicked)."""
        return self._focus

    @property
    def exported(self) -> str | None:
        """The ``NAME.summary.json`` the map on screen was last exported to (None: not since it was made)."""
        return self._exported

    def set_exported(self, summary: str | None) -> None:
        """The map on screen was written (its summary JSON): Assess accuracy works on that file."""
        self._exported = summary

    @property
    def bands(self) -> tuple[int, ...] | None:
        """The scene's bands read as red, green, blue (1-based; MapSettings.bands), None: as the file says."""
        return self._bands

    def set_bands(self, bands: tuple[int, ...] | None) -> None:
        """Choose the bands of this scene's next map (None: as the file says)."""
        if bands != self._bands:
            self._bands = bands
            self.bands_changed.emit()

    def map_scale(self, grid: Any = None) -> tuple[float, float]:
        """Map px per scene px (x, y): 1 unless the map was made on a resampled grid (issue 25)."""
        g = grid if grid is not None else None if self._result is None else self._result.grid
        return (1.0, 1.0) if g is None else (g.width / self.image.width, g.height / self.image.height)

    def patch_at(self, x: float, y: float) -> Cell | None:
        """The patch whose origin cell holds scene pixel (x, y): row, col (the last one covering it)."""
        res = self._result
        sx, sy = self.map_scale()
        x, y = x * sx, y * sy
        if res is None or not (0 <= x < res.grid.width and 0 <= y < res.grid.height):
            return None
        g = res.grid
        return min(int(y // g.stride), g.rows - 1), min(int(x // g.stride), g.cols - 1)

    # -- changing ----------------------------------------------------------------------------------
    def set_result(self, result: SceneResult, palette: dict[str, str]) -> None:
        """A new map with its colours. A map of the same patches and classes (re-made by a
        fine-tuned head) keeps the selection, the patch in detail and the corrections; another
        starts them anew. Hidden classes are shown again."""
        keep = same_geometry(self._result, result)
        self._result, self._palette, self._hidden = result, dict(palette), frozenset()
        self._exported = None  # the written map is not this one
        if not keep:
            self._corrections = Corrections.for_result(result)
            self._selection, self._focus = frozenset(), None
        self.result_changed.emit()

    def set_palette(self, palette: dict[str, str]) -> None:
        """New class colours for this map."""
        if palette != self._palette:
            self._palette = dict(palette)
            self.look_changed.emit()

    def set_hidden(self, k: int, hidden: bool) -> None:
        """Hide (or show) legend row ``k`` on the map and in the exported overlay."""
        new = self._hidden | {k} if hidden else self._hidden - {k}
        if new != self._hidden:
            self._hidden = frozenset(new)
            self.look_changed.emit()

    def set_threshold(self, value: float) -> None:
        """The confidence below which the map's patches count as uncertain."""
        if self._result is not None and self._result.uncertain_below != value:
            self._result.set_threshold(value)
            self.look_changed.emit()

    def select(self, cells: set[Cell] | frozenset[Cell], add: bool = False, focus: Cell | None = None) -> None:
        """Select ``cells`` (``add``: to the selection); ``focus``: the patch to show in detail."""
        self._selection = frozenset(self._selection | set(cells)) if add else frozenset(cells)
        if focus is not None:
            self._focus = focus
        self.selection_changed.emit()

    def assign(self, k: int | None) -> str:
        """Label the selected patches as class ``k`` (None: take their labels back); returns
        what happened, in a line for the status bar."""
        c = self._corrections
        if c is None or not self._selection:
            return ""
        if k is not None and k >= len(c.labels):
            return f"there is no class {k + 1}: the model has {len(c.labels)}"
        c.assign(self._selection, k)
        self.corrections_changed.emit()
        what = "label taken back" if k is None else f"labelled {c.labels[k]}"
        return f"{len(self._selection)} patch(es) {what}"

    def undo(self) -> str:
        """Undo the last labelling step; returns the line for the status bar ("" if none)."""
        return self._step("undone", lambda c: c.undo())

    def redo(self) -> str:
        """Redo the last undone labelling step; returns the line for the status bar ("" if none)."""
        return self._step("redone", lambda c: c.redo())

    def _step(self, what: str, step: Any) -> str:
        c = self._corrections
        if c is None or not step(c):
            return ""
        self.corrections_changed.emit()
        return f"{what}: {corrections_text(c)}"

    def corrections_saved(self) -> None:
        """Tell the followers that the corrections were written (their unsaved count changed)."""
        self.corrections_changed.emit()


def corrections_text(c: Corrections) -> str:
    """``"corrections on this map: water 2 (1 not saved)"``, or ``"... none"``."""
    text = ", ".join(f"{lab} {n}" for lab, n in c.counts().items()) or "none"
    unsaved = c.unsaved()
    return f"corrections on this map: {text}" + (f" ({unsaved} not saved)" if unsaved else "")


class ScenesState(QObject):
    """The open scenes, the one on screen, the next map's settings and how maps are drawn.

    ``app_state`` (optional): the application state that keeps the scene list and the map
    settings across restarts (``scenes``, ``scene`` and ``map_settings`` of its session)."""

    scenes_changed = Signal()  # a scene opened or removed
    current_changed = Signal()  # another scene on screen (or none)
    settings_changed = Signal()  # the map settings of the next Classify
    display_changed = Signal()  # view, opacity or grid lines
    # the scene on screen's own signals (SceneSession), relayed: widgets follow only this object
    result_changed = Signal()
    look_changed = Signal()
    selection_changed = Signal()
    corrections_changed = Signal()
    bands_changed = Signal()

    def __init__(self, app_state: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.app_state = app_state
        self._sessions: dict[str, SceneSession] = {}
        self._current: str | None = None
        self._settings, self._adapt = MapSettings(), False
        saved = getattr(app_state, "map_settings", None) or {}
        try:  # a damaged or newer entry leaves the defaults, quietly (as the session file does)
            self._settings = MapSettings.from_dict(saved.get("map", {}))
            self._adapt = bool(saved.get("adapt", False))
        except (LandguiError, TypeError, AttributeError):
            pass
        if self._settings.stride is None:  # the app shows the stride: patches side by side
            self._settings = replace(self._settings, stride=self._settings.patch)
        self._view, self._opacity, self._grid_lines = "classes", 0.45, True

    # -- scenes ------------------------------------------------------------------------------------
    @property
    def sessions(self) -> dict[str, SceneSession]:
        """Path -> session, in the order the scenes were opened."""
        return dict(self._sessions)

    @property
    def current(self) -> SceneSession | None:
        """The scene on screen."""
        return self._sessions.get(self._current) if self._current else None

    def add(self, image: SceneImage) -> SceneSession:
        """Open a scene (a scene opened again keeps its session and map)."""
        session = self._sessions.get(image.path)
        if session is None:
            session = self._sessions[image.path] = SceneSession(image, self)
            session.look_changed.connect(lambda: self._share_palette(session))
            for name in _RELAYED:
                mine = getattr(self, name)
                getattr(session, name).connect(lambda mine=mine, s=session: s is self.current and mine.emit())
            self.scenes_changed.emit()
        return session

    def remove(self, path: str) -> None:
        """Close a scene: its map and corrections not saved are dropped; the next one is shown."""
        if path not in self._sessions:
            return
        paths = list(self._sessions)
        i = paths.index(path)
        session = self._sessions.pop(path)
        for name in _RELAYED:  # no connection keeps it (and its map) alive
            getattr(session, name).disconnect()
        session.setParent(None)  # freed with its last reference
        self.scenes_changed.emit()
        if path == self._current:
            rest = list(self._sessions)
            self._show(rest[min(i, len(rest) - 1)] if rest else None)
        else:
            self._save_scenes()

    def set_current(self, path: str | None) -> None:
        """Show another scene (None: none). Its map follows the current uncertain threshold."""
        if path is not None and path not in self._sessions:
            return
        self._show(path, changed=path != self._current)

    def _show(self, path: str | None, changed: bool = True) -> None:
        self._current = path
        res = None if self.current is None else self.current.result
        if res is not None and res.uncertain_below != self._settings.uncertain_below:
            res.set_threshold(self._settings.uncertain_below)  # redrawn below, with everything else
        if changed:
            self.current_changed.emit()
        self._save_scenes()

    def _save_scenes(self) -> None:
        if self.app_state is not None:
            self.app_state.set_scenes(list(self._sessions), self._current)

    # -- the next map's settings -------------------------------------------------------------------
    @property
    def settings(self) -> MapSettings:
        """Patch, stride, edges, no-data, uncertain threshold and context of the next Classify."""
        return self._settings

    @property
    def adapt(self) -> bool:
        """Whether the next Classify adapts the model to the scene first."""
        return self._adapt

    def set_settings(self, adapt: bool | None = None, **changes: Any) -> None:
        """Change some map settings (the names of :class:`MapSettings`, and ``adapt``); a new
        uncertain threshold applies to the map on screen at once."""
        new = replace(self._settings, **changes)
        new_adapt = self._adapt if adapt is None else bool(adapt)
        if (new, new_adapt) == (self._settings, self._adapt):
            return
        self._settings, self._adapt = new, new_adapt
        if self.current is not None:
            self.current.set_threshold(new.uncertain_below)
        if self.app_state is not None and hasattr(self.app_state, "set_map_settings"):
            self.app_state.set_map_settings({"map": new.to_dict(), "adapt": new_adapt})
        self.settings_changed.emit()

    # -- how maps are drawn ------------------------------------------------------------------------
    @property
    def view(self) -> str:
        """``"classes"`` (the class map) or ``"uncertainty"`` (each patch's confidence)."""
        return self._view

    @property
    def opacity(self) -> float:
        """The overlay's opacity, 0..1 (on screen and in the exported overlay)."""
        return self._opacity

    @property
    def grid_lines(self) -> bool:
        """Whether the patch grid is drawn over the map."""
        return self._grid_lines

    def set_display(
        self, view: str | None = None, opacity: float | None = None, grid_lines: bool | None = None
    ) -> None:
        """Change how maps are drawn."""
        if view is not None and view not in VIEWS:
            raise LandguiError(f"view must be one of {', '.join(VIEWS)}, got {view}")
        new = (
            self._view if view is None else view,
            self._opacity if opacity is None else float(opacity),
            self._grid_lines if grid_lines is None else bool(grid_lines),
        )
        if new != (self._view, self._opacity, self._grid_lines):
            self._view, self._opacity, self._grid_lines = new
            self.display_changed.emit()

    def _share_palette(self, source: SceneSession) -> None:
        """New colours of one map apply to every other scene mapped by the same run."""
        res = source.result
        if res is None:
            return
        for other in self._sessions.values():
            if other is not source and other.result is not None and other.result.run == res.run:
                other.set_palette(source.palette)
