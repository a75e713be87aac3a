"""A classified scene: per-patch and per-cell probabilities, confidence, uncertainty, class codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.params import UNCERTAIN_BELOW  # noqa: F401 - the default threshold, re-exported
from landgui.core.runs.palette import hex_to_rgb
from landgui.core.scenes.grid import UNCERTAIN, Grid, coverage_shares  # noqa: F401 - UNCERTAIN re-exported

UNCERTAIN_VALUE = 254  # value of uncertain pixels in the class PNG/GeoTIFF (255 = not classified)


@dataclass
class SceneResult:
    """What mapping one scene produced, in memory: every patch's class and probabilities on the
    grid, the same averaged onto the finer cell map the outputs are drawn from, the coverage shares,
    and how the map was made (engine, run, threshold, timing). The writers in
    :mod:`landgui.core.scenes.writers` turn it into files; the app keeps it per scene."""

    scene: str
    labels: list[str]
    grid: Grid
    classes: np.ndarray  # (rows, cols) int16, -1 = not classified
    probs: np.ndarray  # (rows, cols, K) float32, after the context step when it is on
    cell_probs: np.ndarray  # (cell rows, cell cols, K) averaged over covering patches
    cell_classes: np.ndarray  # (cell rows, cell cols) int16, -1 = not classified
    coverage: dict[str, float]
    seconds: float
    crs: Any = None
    transform: Any = None
    stats: dict = field(default_factory=dict)
    uncertain_below: float = 0.0
    adapted: bool = False
    engine: str = ""
    run: str = ""
    # the backbone features of every patch (grid.n, D) float32, kept where asked and affordable, so
    # that a head retrained on corrections re-maps the scene at once (reclassify_with_head)
    features: Any = None
    features_from: str = ""  # the id (SHA-256) of the LiteRT backbone file that made them
    # how unlike the training data each patch is, (rows, cols) float32 0..1, NaN where not
    # classified (landgui.core.inference.familiarity); None for a model without a familiarity file
    unfamiliar: Any = None
    # the model's own per-patch probabilities (rows, cols, K) before the context step (None when
    # context is off: then they are ``probs``), and the strength of that step (0 = off)
    raw_probs: Any = None
    context: float = 0.0
    # re-mapped from kept features by another head (reclassify_with_head): ``seconds`` is then the
    # time of that head pass alone, not of reading the scene and running the network
    remapped: bool = False
    # how the scene was read (landgui.core.scenes.io.Reading: bands, radiometry, ground resolution),
    # so that the overlay and the workers reopen it on the same grid; and what the user should know
    # about that reading (one line each: resampled, a resolution that may not match, a stretch)
    reading: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def patches_per_s(self) -> float:
        """Mapping speed: patches classified per second of ``seconds`` (0 when no time was measured)."""
        return self.grid.n / self.seconds if self.seconds > 0 else 0.0

    @property
    def cell_confidence(self) -> np.ndarray:
        """Highest averaged probability per cell (0 where not classified)."""
        top = self.cell_probs[..., 0].copy()  # class by class: 6x faster than max(axis=-1) over a few classes
        for k in range(1, self.cell_probs.shape[-1]):
            np.maximum(top, self.cell_probs[..., k], out=top)
        return np.where(self.cell_classes >= 0, top, 0.0).astype(np.float32)

    @property
    def cell_margin(self) -> np.ndarray:
        """Gap between the two highest averaged probabilities per cell (0 where not classified)."""
        top2 = np.sort(self.cell_probs, axis=-1)[..., -2:] if self.cell_probs.shape[-1] > 1 else None
        if top2 is None:
            return self.cell_confidence
        return np.where(self.cell_classes >= 0, top2[..., 1] - top2[..., 0], 0.0).astype(np.float32)

    @property
    def cell_uncertain(self) -> np.ndarray:
        """Classified cells whose confidence is below the threshold."""
        return (self.cell_classes >= 0) & (self.cell_confidence < self.uncertain_below)

    def set_threshold(self, uncertain_below: float) -> None:
        """Change the uncertain threshold and recompute the coverage."""
        if not 0.0 <= uncertain_below <= 1.0:
            raise LandguiError(f"the uncertain threshold must be between 0 and 1, got {uncertain_below}")
        self.uncertain_below = float(uncertain_below)
        self.coverage = coverage_shares(self.grid, self.cell_classes, self.labels, self.cell_uncertain)


def cell_class_codes(result: SceneResult) -> np.ndarray:
    """Cell classes as written to the maps: index, UNCERTAIN_VALUE (254) or 255 (not classified)."""
    codes = np.where(result.cell_classes >= 0, result.cell_classes, 255).astype(np.uint8)
    codes[result.cell_uncertain] = UNCERTAIN_VALUE
    return codes


UNCERTAIN_RGB = (128, 128, 128)


def code_colours(labels: list[str], palette: dict[str, str]) -> np.ndarray:
    """RGBA colour of every class code (:func:`cell_class_codes`): the class colours, grey for
    uncertain (254), transparent for not classified (255). One table for the class PNG, the
    overlays and the app."""

    table = np.zeros((256, 4), np.uint8)
    table[:, 3] = 255
    for i, lab in enumerate(labels):
        table[i, :3] = hex_to_rgb(palette[lab])
    table[UNCERTAIN_VALUE, :3] = UNCERTAIN_RGB
    table[255, 3] = 0
    return table


def pixel_class_map(result: SceneResult, y0: int = 0, y1: int | None = None) -> np.ndarray:
    """Full-resolution class codes (uint8: class index, 254 = uncertain, 255 = not classified)
    for scene rows y0..y1."""
    g = result.grid
    y1 = g.height if y1 is None else y1
    cell = g.cell
    cy0, cy1 = y0 // cell, (y1 - 1) // cell + 1
    block = cell_class_codes(result)[cy0:cy1]
    block = np.repeat(np.repeat(block, cell, axis=0), cell, axis=1)
    off = y0 - cy0 * cell
    return block[off : off + (y1 - y0), : g.width]
