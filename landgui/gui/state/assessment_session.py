"""The state of the accuracy assessment screen (issue 24): which map, which sample, and the sample
being labelled, in typed objects the widgets follow.

:class:`AssessmentSetup`
    The map (a scene's ``NAME.summary.json``, as written by Export), the sample file and the
    sampling settings (:class:`~landgui.core.assessment.design.SampleSettings`, checked the way
    the CLI checks them) of the next sample.
:class:`AssessmentSession`
    One sample being labelled blind: its units (read from the sample CSV, the only copy of the
    labels), the unit on screen, whether its map class is shown. Every label is written to the
    CSV's ``reference`` column at once (atomically, :func:`~landgui.core.assessment.samplefile.set_reference`);
    opened again, the sample continues at its first unlabelled unit.

Assessment labels are never training data: they live in the sample CSV only, never in the scene's
corrections (:class:`~landgui.gui.state.scene_session.SceneSession`) nor in a corrections folder.
:func:`load_sample` and :func:`draw_sample` are the jobs' bodies (no Qt): they read the map, draw
or read the sample and open the map's scenes for the zoomed views.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from landgui.core.assessment import api
from landgui.core.assessment.design import Design, SampleSettings, SampleUnit
from landgui.core.assessment.mapfile import SUMMARY_SUFFIX, MapData, MappedScene, read_map
from landgui.core.assessment.provenance import taught_notes
from landgui.core.assessment.report import tally
from landgui.core.assessment.samplefile import (
    CANT_TELL,
    design_path,
    next_unlabelled,
    progress,
    read_design,
    read_sample,
    set_reference,
)
from landgui.core.base.errors import LandguiError
from landgui.core.scenes.io import Scene, open_scene

SAMPLE_NAME = "sample.csv"
BACKGROUND = 96  # grey around a unit near the scene's edge


def default_sample_path(summary: str | Path) -> Path:
    """Where a map's sample goes unless the user says otherwise: ``assess-NAME/sample.csv`` beside
    ``NAME.summary.json``, or ``assess/sample.csv`` in the folder of a many-scene map (the report
    is written into the same folder)."""
    p = Path(summary)
    if p.is_dir():  # the folder of a many-scene map: the sample goes inside it
        return p / "assess" / SAMPLE_NAME
    name = p.name[: -len(SUMMARY_SUFFIX)] if p.name.endswith(SUMMARY_SUFFIX) else p.stem
    return p.parent / f"assess-{name}" / SAMPLE_NAME


def map_of_sample(sample_path: str | Path, units: list[SampleUnit]) -> Path:
    """The map a sample was drawn from: the one its design file names, else the scene's summary
    one folder up (the default layout) or beside the sample, else a one-line error."""
    sample = Path(sample_path)
    tried = []
    d = design_path(sample)
    if d.is_file():
        try:
            named = json.loads(d.read_text(encoding="utf-8")).get("map")
        except (OSError, ValueError, AttributeError):
            named = None
        if named:  # as given to `landgui assess sample`: maybe relative to where that ran
            tried += [Path(named)] if Path(named).is_absolute() else [Path(named), sample.parent / named]
    if units:  # the default layout (assess-NAME/ beside the map), or the sample beside the map
        tried += [folder / f"{units[0].scene}{SUMMARY_SUFFIX}" for folder in (sample.parent.parent, sample.parent)]
    for p in tried:
        if p.exists():
            return p
    raise LandguiError(
        f"the map {sample.name} was drawn from is not found ({', '.join(str(p) for p in tried) or 'no design file'}): "
        f"choose its NAME{SUMMARY_SUFFIX}"
    )


@dataclass
class LoadedSample:
    """What a job read for the labelling screen: the sample, its map and the map's scenes, open."""

    sample_path: Path
    map_path: Path
    mapdata: MapData
    units: list[SampleUnit]
    design: Design | None
    taught: list[str]  # one line per scene whose run was fine-tuned on corrections from it
    scenes: dict[str, Scene] = field(default_factory=dict)  # scene NAME -> the scene file, open

    def close(self) -> None:
        """Close the scenes' files."""
        for s in self.scenes.values():
            s.close()
        self.scenes.clear()


def load_sample(sample_path: str | Path, map_path: str | Path | None = None, progress_fn=None) -> LoadedSample:
    """Read a sample and its map (``map_path``, else :func:`map_of_sample`), check that the map is
    the one it was drawn from, and open the map's scenes. Runs in a job."""
    sample = Path(sample_path)
    units = read_sample(sample)
    mpath = Path(map_path) if map_path else map_of_sample(sample, units)
    if progress_fn:
        progress_fn("reading the map", 0, 2)
    mapdata = read_map(mpath)
    design = read_design(sample)
    tally(mapdata, units, design)  # a one-line error when the map was changed since the sample was drawn
    loaded = LoadedSample(sample, mpath, mapdata, units, design, taught_notes(mapdata))
    if progress_fn:
        progress_fn("opening the scene", 1, 2)
    try:
        for s in mapdata.scenes:
            if s.name in {u.scene for u in units}:
                loaded.scenes[s.name] = open_scene(s.scene, s.reading)  # on the map's grid
    except LandguiError as exc:
        loaded.close()
        raise LandguiError(f"the scene of the map cannot be opened for labelling: {exc}") from None
    return loaded


def draw_sample(
    map_path: str | Path, sample_path: str | Path, settings: SampleSettings, progress_fn=None
) -> LoadedSample:
    """Draw a new sample of the map into ``sample_path`` (never over an existing file), then
    :func:`load_sample` it. Runs in a job."""
    if progress_fn:
        progress_fn("drawing the sample", 0, 2)
    api.sample(
        map_path,
        sample_path,
        n=settings.n,
        target_se=settings.target_se,
        allocation=settings.allocation,
        min_per_class=settings.min_per_class,
        seed=settings.seed,
    )
    return load_sample(sample_path, map_path, progress_fn)


def unit_window(scene: Scene, mscene: MappedScene, row: int, col: int, around: int) -> tuple[np.ndarray, tuple]:
    """The scene around cell (row, col): ``around`` cells on every side, the cell in the middle
    (grey beyond the scene's edges). Returns (RGB, (x, y, w, h) of the cell in it)."""
    cell = mscene.cell
    hy, wx = mscene.cell_size_px()
    side = (2 * around + 1) * cell
    x0, y0 = col * cell - around * cell, row * cell - around * cell
    out = np.full((side, side, 3), BACKGROUND, np.uint8)
    rx0, ry0 = max(0, x0), max(0, y0)
    rx1, ry1 = min(scene.width, x0 + side), min(scene.height, y0 + side)
    if rx1 > rx0 and ry1 > ry0:
        rgb, _ = scene.read(rx0, ry0, rx1 - rx0, ry1 - ry0)
        out[ry0 - y0 : ry0 - y0 + rgb.shape[0], rx0 - x0 : rx0 - x0 + rgb.shape[1]] = rgb
    return out, (around * cell, around * cell, int(wx[col]), int(hy[row]))


class AssessmentSetup(QObject):
    """The map, the sample file and the settings of the next sample. ``changed`` on any change."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._map, self._sample = "", ""
        self._settings = SampleSettings(n=300, seed=1)

    @property
    def map_path(self) -> str:
        """The map to assess: a scene's ``NAME.summary.json`` ("" until chosen or exported)."""
        return self._map

    @property
    def sample_path(self) -> str:
        """The sample CSV to draw into, or to continue when it exists."""
        return self._sample

    @property
    def settings(self) -> SampleSettings:
        """Size (``n`` or ``target_se``), allocation, minimum per class and seed of the next sample."""
        return self._settings

    @property
    def sample_exists(self) -> bool:
        """Whether the sample file is there already (labelling continues it; nothing is drawn)."""
        return bool(self._sample) and Path(self._sample).is_file()

    def set_map(self, path: str) -> None:
        """Assess another map; its sample file defaults to ``assess-NAME/sample.csv`` beside it."""
        if path != self._map:
            old_default = str(default_sample_path(self._map)) if self._map else ""
            self._map = path
            if path and (not self._sample or self._sample == old_default):
                self._sample = str(default_sample_path(path))
            self.changed.emit()

    def set_sample(self, path: str) -> None:
        """Another sample file."""
        if path != self._sample:
            self._sample = path
            self.changed.emit()

    def set_settings(self, **changes: Any) -> None:
        """Change some sampling settings (the names of :class:`SampleSettings`)."""
        new = replace(self._settings, **changes)
        if new != self._settings:
            self._settings = new
            self.changed.emit()

    def problem(self) -> str:
        """Why a sample cannot be drawn (or continued) now, in one line; "" when it can."""
        if not self._map:
            return f"choose the map (its NAME{SUMMARY_SUFFIX}) or export the map on screen first"
        if not Path(self._map).exists():
            return f"the map {self._map} does not exist"
        if not self._sample:
            return "choose the sample file"
        if self.sample_exists:
            return ""
        try:
            self._settings.check()
        except LandguiError as exc:
            return str(exc)
        return ""


class AssessmentSession(QObject):
    """One sample being labelled. ``moved`` when another unit is on screen; ``changed`` when a
    label is saved or the map class is shown or hidden."""

    moved = Signal()
    changed = Signal()

    def __init__(self, loaded: LoadedSample, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loaded = loaded
        self._units = list(loaded.units)
        self._index = next_unlabelled(self._units) or 0
        self._show_map_class = False  # blind by default: the map's answer would sway the labeller

    # -- reading -----------------------------------------------------------------------------------
    @property
    def sample_path(self) -> Path:
        """The sample CSV: where every label is saved."""
        return self.loaded.sample_path

    @property
    def map_path(self) -> Path:
        """The map the sample was drawn from."""
        return self.loaded.map_path

    @property
    def labels(self) -> list[str]:
        """The reference classes, in the run's order: key ``k`` is ``labels[k - 1]``."""
        return list(self.loaded.mapdata.labels)

    @property
    def units(self) -> list[SampleUnit]:
        """The units as saved in the sample CSV."""
        return list(self._units)

    @property
    def index(self) -> int:
        """The position of the unit on screen in the sample."""
        return self._index

    @property
    def current(self) -> SampleUnit:
        """The unit on screen."""
        return self._units[self._index]

    @property
    def progress(self) -> tuple[int, int]:
        """(units labelled, "can't tell" included; all units)."""
        return progress(self._units)

    @property
    def progress_text(self) -> str:
        """``"73 / 300"``."""
        done, total = self.progress
        return f"{done} / {total}"

    @property
    def complete(self) -> bool:
        """Whether every unit has a label."""
        done, total = self.progress
        return done == total

    @property
    def show_map_class(self) -> bool:
        """Whether the unit's map class is shown (off: labelling is blind)."""
        return self._show_map_class

    @property
    def taught(self) -> list[str]:
        """Why the map's run is not independent of this scene (it was taught on it), if it is not."""
        return list(self.loaded.taught)

    def window(self, around: int) -> tuple[np.ndarray, tuple]:
        """The scene around the unit on screen (:func:`unit_window`)."""
        u = self.current
        return unit_window(self.loaded.scenes[u.scene], self.loaded.mapdata.scene(u.scene), u.row, u.col, around)

    # -- changing ----------------------------------------------------------------------------------
    def label(self, k: int | None) -> str:
        """Give the unit on screen reference class ``k`` (an index of :attr:`labels`; None:
        "can't tell"), save it in the sample CSV now, and go to the next unit without a label.
        Returns a line for the status bar."""
        if k is not None and not 0 <= k < len(self.labels):
            return f"there is no class {k + 1}: the map has {len(self.labels)}"
        u = self.current
        ref = CANT_TELL if k is None else self.labels[k]
        self._units = set_reference(self.sample_path, u.id, ref, self.labels)
        self.changed.emit()
        self._advance()
        return f"unit {u.id}: {ref} (saved)"

    def _advance(self) -> None:
        n = len(self._units)
        later = [i % n for i in range(self._index + 1, self._index + n) if not self._units[i % n].reference.strip()]
        if later:
            self.go(later[0])

    def go(self, i: int) -> None:
        """Show unit ``i`` of the sample (clipped to the sample)."""
        i = max(0, min(len(self._units) - 1, i))
        if i != self._index:
            self._index = i
            self.moved.emit()

    def back(self) -> None:
        """Show the unit before (its label can be changed)."""
        self.go(self._index - 1)

    def forward(self) -> None:
        """Show the next unit (without labelling this one)."""
        self.go(self._index + 1)

    def set_show_map_class(self, on: bool) -> None:
        """Show or hide the map class of the unit on screen."""
        if bool(on) != self._show_map_class:
            self._show_map_class = bool(on)
            self.changed.emit()

    def close(self) -> None:
        """Close the map's scenes (the labels are saved already)."""
        self.loaded.close()
