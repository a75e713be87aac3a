"""Synthetic clouds in every sensor's style: fractal cloud layers over clear training patches.

There are few real cloud patches from sensors other than kaggle4's (15 in cloud38), so a model
learns "cloudy" as kaggle4's flat grey tiles. Rendering cloud layers over *clear* patches of every
source gives cloudy examples with each source's ground, colour response and sharpness underneath,
and light haze over other classes teaches that a thin veil does not change the land cover.

A cloud layer is an opacity field ``a`` (0..1) from fractal (multi-octave value) noise, blended as
``img * (1 - a) + cloud_colour * a``, with an optional shadow (the same field shifted, darkening
the ground by up to 35 %). Two uses, with the rule stated in their names:

* :func:`render_cloudy`: thick cloud covering at least :data:`CLOUDY_MIN_COVER` of the patch with
  opacity >= 0.5 (mean opacity 0.75-1); labelled cloudy.
* :func:`render_haze`: thin haze of mean opacity at most :data:`HAZE_MAX_MEAN` (and no pixel
  above 0.5); the patch keeps its label.

Every function takes and returns ``uint8`` RGB (H, W, 3) and draws from a ``numpy`` Generator.
"""

from __future__ import annotations

import numpy as np

#: a synthetic cloudy patch has at least this share of pixels at opacity >= 0.5
CLOUDY_MIN_COVER = 0.7
#: a hazed patch keeps its label: mean opacity at most this, no pixel above 0.5
HAZE_MAX_MEAN = 0.25


def fractal_noise(size: int, rng: np.random.Generator, octaves: int = 5, persistence: float = 0.55) -> np.ndarray:
    """A (size, size) field in 0..1: value noise summed over octaves (coarse blobs, fine wisps)."""
    import cv2

    out = np.zeros((size, size), np.float32)
    amp, total = 1.0, 0.0
    cells = int(rng.integers(2, 5))
    for _ in range(octaves):
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        out += amp * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
        cells *= 2
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _cloud_colour(rng: np.random.Generator) -> np.ndarray:
    """Near-white with a small random tint and brightness (sensors render clouds differently)."""
    base = rng.uniform(200, 255)
    return np.clip(base + rng.normal(0, 4, 3), 0, 255).astype(np.float32)


def _blend(
    img: np.ndarray, alpha: np.ndarray, colour: np.ndarray, shadow: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """The cloud's own texture: brightness varies by a second fractal field (billows, grey bases)."""
    x = img.astype(np.float32)
    if shadow is not None:
        x *= 1.0 - 0.35 * shadow[..., None]
    size = max(img.shape[:2])
    shade = 1.0 - rng.uniform(0.1, 0.45) * fractal_noise(size, rng, octaves=6)[: img.shape[0], : img.shape[1]]
    a = alpha[..., None]
    cloud = colour[None, None, :] * shade[..., None]
    return np.clip(x * (1.0 - a) + cloud * a, 0, 255).astype(np.uint8)


def render_cloudy(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thick fractal cloud over ``img`` (at least :data:`CLOUDY_MIN_COVER` of it at opacity >= 0.5),
    with a cloud shadow in half of the cases."""
    size = max(img.shape[:2])
    n = fractal_noise(size, rng)[: img.shape[0], : img.shape[1]]
    # keep the densest part of the field thick: the lowest 25 % of values get thinner gaps
    cut = float(np.quantile(n, rng.uniform(0.0, 1.0 - CLOUDY_MIN_COVER)))
    alpha = np.clip(0.5 + (n - cut) * rng.uniform(1.5, 4.0), 0.15, rng.uniform(0.85, 1.0))
    alpha[n >= cut] = np.maximum(alpha[n >= cut], 0.5)
    shadow = None
    if rng.random() < 0.5:
        dy, dx = (int(v) for v in rng.integers(-size // 6, size // 6 + 1, 2))
        shadow = np.roll(1.0 - alpha, (dy, dx), axis=(0, 1)) * (alpha < 0.6)
    return _blend(img, alpha.astype(np.float32), _cloud_colour(rng), shadow, rng)


def render_haze(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thin haze over ``img``: mean opacity at most :data:`HAZE_MAX_MEAN`, none above 0.5."""
    size = max(img.shape[:2])
    n = fractal_noise(size, rng)[: img.shape[0], : img.shape[1]]
    alpha = np.clip(n * rng.uniform(0.1, 0.5), 0.0, 0.5)
    m = float(alpha.mean())
    if m > HAZE_MAX_MEAN:
        alpha *= HAZE_MAX_MEAN / m
    return _blend(img, alpha.astype(np.float32), _cloud_colour(rng), None, rng)


def cloud_cover(before: np.ndarray, after: np.ndarray, colour_hint: float = 200.0) -> float:
    """Share of pixels that a rendering moved at least half way towards a bright cloud (a check
    for tests and benchmarks, independent of the renderer's own opacity field)."""
    b = before.astype(np.float32).mean(axis=-1)
    a = after.astype(np.float32).mean(axis=-1)
    target = np.maximum(colour_hint, b)
    moved = np.where(target - b > 20, (a - b) / np.maximum(target - b, 1e-6), 1.0)
    return float((moved >= 0.45).mean())


def synthetic_cloud_sets(
    images: np.ndarray, labels: np.ndarray, cloud_class: int, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` cloudy examples rendered over clear images (labelled ``cloud_class``) and ``n`` hazed
    clear images keeping their labels, drawn with a seeded generator from the images that are not
    of the cloud class. Returns (cloudy images, their labels, hazed images, their labels)."""
    rng = np.random.default_rng([seed, 7717])
    clear = np.nonzero(labels != cloud_class)[0]
    if len(clear) == 0 or n <= 0:
        empty = np.zeros((0, *images.shape[1:]), np.uint8)
        return empty, np.zeros(0, labels.dtype), empty, np.zeros(0, labels.dtype)
    a = rng.choice(clear, n, replace=n > len(clear))
    b = rng.choice(clear, n, replace=n > len(clear))
    kids = np.random.SeedSequence([seed, 7718]).spawn(2 * n)
    cloudy = np.stack([render_cloudy(images[i], np.random.default_rng(k)) for i, k in zip(a, kids[:n], strict=True)])
    hazed = np.stack([render_haze(images[i], np.random.default_rng(k)) for i, k in zip(b, kids[n:], strict=True)])
    return cloudy, np.full(n, cloud_class, labels.dtype), hazed, labels[b]
