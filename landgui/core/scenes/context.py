"""Context over the patch grid: neighbouring patches of a scene are correlated, so a patch's class
probabilities are smoothed with those of its grid neighbours before the map is drawn.

Method
    A Laplacian-regularised maximum-likelihood step (LAME, Boudiaf et al., CVPR 2022) with the
    patch grid as its affinity graph, which is also mean-field inference in a Potts CRF whose
    unary terms are the model's log-probabilities. Each classified patch *i* gets an assignment
    ``z_i`` (a probability vector), started at the model's ``p_i`` and updated ``iterations`` times,
    all patches at once::

        z_i  ∝  p_i · exp(strength · Σ_j w_ij z_j / Σ_j w_ij)

    over the 4 edge neighbours *j* (or 8 with the diagonals, weighing ``1/√2``). The normaliser
    ``Σ_j w_ij`` counts every neighbour position (inside the grid or not, classified or not), so a
    patch at the scene's edge or beside no-data hears less context, never a louder one.
    ``strength`` is how many nats of evidence a neighbourhood in full agreement adds to a class:
    a lone patch is overruled only when its own log-odds are below that, so a confident patch
    keeps its class. Along a straight boundary between two regions a patch has 3 of its 4
    neighbours on its own side, so no patch there flips; a line one patch wide (a river) has 2 of
    4, a draw, so it is left to the model.

Invalid patches (no-data, not classified) are never changed and never used: their weight is 0.
The output is a probability vector per patch (sums to 1), and ``strength=0`` gives the input back
unchanged. The default (strength 3, 4 neighbours, 3 iterations) was chosen on mosaics of real
validation patches (``bench/bench_context.py``, docs/benchmarks.md "Context"): the most accurate
setting that keeps at least 90 % of the lone patches the model alone maps right; 8 neighbours and
weights from backbone-feature affinity were both less accurate there.
"""

from __future__ import annotations

import math

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.params import CONTEXT_STRENGTH, DEFAULT_CONTEXT, MAX_CONTEXT_STRENGTH, check_context_strength  # noqa: F401

CONTEXT_ITERATIONS = 3
CONTEXT_NEIGHBOURS = 4
MAX_STRENGTH = MAX_CONTEXT_STRENGTH

_EPS = 1e-6  # probabilities are floored here before the log: a 0 from the model stays beatable


def check_context(strength: float, iterations: int = CONTEXT_ITERATIONS, neighbours: int = CONTEXT_NEIGHBOURS) -> None:
    """Raise a one-line :class:`LandguiError` for settings :func:`smooth_probs` does not take."""
    check_context_strength(strength)
    if iterations < 0:
        raise LandguiError(f"context iterations must be 0 or more, got {iterations}")
    if neighbours not in (4, 8):
        raise LandguiError(f"context neighbours must be 4 or 8, got {neighbours}")


def grid_offsets(neighbours: int = CONTEXT_NEIGHBOURS) -> list[tuple[int, int, float]]:
    """``(dy, dx, weight)`` of each neighbour position: the 4 edge neighbours weigh 1, the 4
    diagonal ones (with ``neighbours=8``) ``1/√2``."""
    out = [(-1, 0, 1.0), (1, 0, 1.0), (0, -1, 1.0), (0, 1, 1.0)]
    if neighbours == 8:
        d = 1.0 / math.sqrt(2.0)
        out += [(-1, -1, d), (-1, 1, d), (1, -1, d), (1, 1, d)]
    return out


def _shifted(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``a`` moved so that ``out[r, c] = a[r + dy, c + dx]``, zeros where that is off the grid."""
    out = np.zeros_like(a)
    rows, cols = a.shape[:2]
    ys, yd = (slice(dy, rows), slice(0, rows - dy)) if dy >= 0 else (slice(0, rows + dy), slice(-dy, rows))
    xs, xd = (slice(dx, cols), slice(0, cols - dx)) if dx >= 0 else (slice(0, cols + dx), slice(-dx, cols))
    out[yd, xd] = a[ys, xs]
    return out


def smooth_probs(
    probs: np.ndarray,
    valid: np.ndarray,
    strength: float = CONTEXT_STRENGTH,
    iterations: int = CONTEXT_ITERATIONS,
    *,
    neighbours: int = CONTEXT_NEIGHBOURS,
    affinity: np.ndarray | None = None,
) -> np.ndarray:
    """Class probabilities of a patch grid smoothed with their grid neighbours (see the module).

    ``probs``: (rows, cols, K) the model's probabilities; ``valid``: (rows, cols) bool, False for
    patches not classified (their rows are returned as given and weigh nothing). ``strength``:
    nats a fully agreeing neighbourhood adds to a class (0 = off: ``probs`` back, as float32).
    ``affinity``: optional (rows, cols, n) weights in 0..1 per neighbour position of
    :func:`grid_offsets` (e.g. from backbone features), multiplied into the grid weights.
    Returns a new (rows, cols, K) float32 array; each valid row sums to 1."""
    check_context(strength, iterations, neighbours)
    p = np.asarray(probs, np.float32)
    ok = np.asarray(valid, bool)
    if p.ndim != 3 or ok.shape != p.shape[:2]:
        raise LandguiError(f"probabilities {p.shape} and valid mask {ok.shape} do not make a patch grid")
    out = p.copy()
    if strength == 0 or iterations == 0 or not ok.any() or p.shape[2] < 2:
        return out
    offsets = grid_offsets(neighbours)
    if affinity is not None and affinity.shape != (*ok.shape, len(offsets)):
        raise LandguiError(f"affinity {affinity.shape} does not match the grid {ok.shape} x {len(offsets)} neighbours")
    norm = sum(w for _, _, w in offsets)
    okf = ok.astype(np.float32)
    # w_ij / Σ w: 0 where the neighbour is off the grid or not classified (and for invalid i, unused)
    weights = []
    for n, (dy, dx, w) in enumerate(offsets):
        wij = _shifted(okf, dy, dx) * (w / norm)
        if affinity is not None:
            wij = wij * np.clip(affinity[..., n], 0.0, 1.0)
        weights.append(wij[..., None].astype(np.float32))
    unary = np.log(np.clip(p, _EPS, 1.0))
    unary -= unary.max(axis=-1, keepdims=True)
    z = np.where(ok[..., None], p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-12), 0.0).astype(np.float32)
    for _ in range(iterations):
        msg = np.zeros_like(z)
        for (dy, dx, _), w_n in zip(offsets, weights, strict=True):
            msg += w_n * _shifted(z, dy, dx)
        logits = unary + float(strength) * msg
        logits -= logits.max(axis=-1, keepdims=True)
        e = np.exp(logits)
        z = np.where(ok[..., None], e / e.sum(axis=-1, keepdims=True), 0.0).astype(np.float32)
    out[ok] = z[ok]
    return out
