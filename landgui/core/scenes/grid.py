"""The patch grid, the per-cell averaging of overlapping patches, and coverage shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.types import ProgressFn

UNCERTAIN = "uncertain"  # the coverage key of cells below the confidence threshold

MAX_CELLS = 50_000_000
MAX_PATCH = 1024  # a patch larger than this must fit in the scene (a smaller scene is padded)


@dataclass
class Grid:
    """Where the patches of a scene lie: ``rows`` x ``cols`` patches of ``patch`` px, ``stride`` px
    apart, starting at the scene's top-left corner. With ``edge="pad"`` the last row and column
    reach past the scene (padded), with ``"skip"`` they end inside it. Made by :func:`make_grid`."""

    width: int
    height: int
    patch: int
    stride: int
    edge: str
    rows: int
    cols: int

    @property
    def n(self) -> int:
        """The number of patches."""
        return self.rows * self.cols

    @property
    def cell(self) -> int:
        """The side of the map's cells: gcd(patch, stride), the largest square every patch covers whole."""
        return math.gcd(self.patch, self.stride)


def make_grid(width: int, height: int, patch: int, stride: int, edge: str = "pad") -> Grid:
    """The patch grid over a ``width`` x ``height`` px scene, or a one-line error for settings that
    cannot work (a stride above the patch would leave gaps; a patch larger than the scene; too many
    cells)."""
    if patch < 1:
        raise LandguiError(f"patch size must be at least 1 px, got {patch}")
    if stride < 1:
        raise LandguiError(f"stride must be at least 1 px, got {stride}")
    if stride > patch:
        raise LandguiError(f"stride ({stride}) larger than the patch ({patch}) would leave gaps between patches")
    if edge not in ("pad", "skip"):
        raise LandguiError(f"edge must be 'pad' or 'skip', got {edge}")
    if patch > MAX_PATCH and patch > max(width, height):
        raise LandguiError(f"patch size {patch} px is larger than the scene ({width}x{height} px)")

    def count(size: int) -> int:
        if edge == "skip":
            if size < patch:
                raise LandguiError(
                    f"the scene ({width}x{height} px) is smaller than one {patch} px patch; use edge padding"
                )
            return (size - patch) // stride + 1
        return 1 if size <= patch else math.ceil((size - patch) / stride) + 1

    g = Grid(width, height, patch, stride, edge, count(height), count(width))
    cells = math.ceil(width / g.cell) * math.ceil(height / g.cell)
    if cells > MAX_CELLS:
        raise LandguiError(
            f"stride {stride} and patch {patch} share only a {g.cell} px cell; choose a stride that divides the patch"
        )
    return g


def average_cells(
    grid: Grid, probs: np.ndarray, valid: np.ndarray, progress: ProgressFn | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Average patch probabilities over each gcd(patch, stride) cell; returns (cell probs, counts).

    A patch spans ``k = patch / cell`` cells a side; the sums run along columns, then along rows
    (2k steps, not k * k: patch 999 / stride 64 has 1 px cells and k = 999). ``progress``:
    ``("averaging overlapping patches", step, 2k)`` when a patch spans more than one cell."""
    cell = grid.cell
    k, s = grid.patch // cell, grid.stride // cell
    n_cy, n_cx = math.ceil(grid.height / cell), math.ceil(grid.width / cell)
    full_y, full_x = s * (grid.rows - 1) + k, s * (grid.cols - 1) + k
    n_classes = probs.shape[-1]
    pv = np.concatenate([np.where(valid[..., None], probs, 0.0), valid[..., None]], axis=-1).astype(np.float32)
    rows = np.zeros((grid.rows, max(full_x, n_cx), n_classes + 1), np.float32)  # summed along x
    acc = np.zeros((max(full_y, n_cy), rows.shape[1], n_classes + 1), np.float32)  # then along y
    for step in range(2 * k):
        if step < k:
            rows[:, step : step + s * grid.cols : s] += pv
        else:
            acc[step - k : step - k + s * grid.rows : s] += rows
        if progress and k > 1:
            progress("averaging overlapping patches", step + 1, 2 * k)
    acc, cnt = acc[:n_cy, :n_cx, :n_classes], acc[:n_cy, :n_cx, n_classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(cnt[..., None] > 0, acc / np.maximum(cnt[..., None], 1e-9), 0.0)
    return avg.astype(np.float32), cnt


def coverage_shares(
    grid: Grid, cell_classes: np.ndarray, labels: list[str], uncertain: np.ndarray | None = None
) -> dict[str, float]:
    """Share of the classified scene area per class (cells weighted by their area inside the scene).

    With an ``uncertain`` cell mask, those cells count as ``"uncertain"`` instead of their class.
    """
    cell = grid.cell
    wy = np.minimum(cell, grid.height - np.arange(cell_classes.shape[0]) * cell)
    wx = np.minimum(cell, grid.width - np.arange(cell_classes.shape[1]) * cell)
    area = np.outer(wy, wx).astype(np.float64)
    ok = cell_classes >= 0
    unc = np.zeros_like(ok) if uncertain is None else (uncertain & ok)
    sure = ok & ~unc
    sums = np.bincount(cell_classes[sure].ravel(), weights=area[sure].ravel(), minlength=len(labels))
    unc_area = float(area[unc].sum())
    total = sums.sum() + unc_area
    out = {lab: float(sums[i] / total) if total else 0.0 for i, lab in enumerate(labels)}
    if uncertain is not None:
        out[UNCERTAIN] = unc_area / total if total else 0.0
    return out
