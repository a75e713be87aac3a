"""Augmentation that removes sensor cues: resolution, blur, compression, colour response, noise.

Every function takes and returns ``uint8`` RGB images of shape (H, W, 3) and draws its randomness
from a ``numpy.random.Generator``, so a seeded generator gives the same result (reproducible
training). :func:`augment` composes them into the training recipe (:class:`Recipe`).

Why: in kaggle4 two classes are sharp 256 px tiles and two are blurry 64 px EuroSAT tiles, each
class from one sensor with its own colour response. A model trained on it as it is learns the
sensor (sharpness, JPEG blockiness, white balance), not the land cover, and fails on another
satellite's scenes. Randomising those cues on *every* class leaves land cover as the only signal
that separates the classes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Recipe:
    """Which ingredients are on, with their strength (0 or False = off)."""

    geometry: bool = True  # flips, 90-degree rotations, crop 80-100 % of the side
    resolution: float = 0.8  # probability of a ground-resolution change
    min_scale: float = 0.25  # smallest down-scale factor of that change
    blur: float = 0.3  # probability of a Gaussian blur (sigma 0.3-1.5 px)
    jpeg: float = 0.5  # probability of JPEG re-compression (quality 30-95)
    colour: bool = True  # per-channel gain, gamma, saturation, contrast, brightness
    noise: float = 0.3  # probability of Gaussian noise (sigma up to 3 % of the range)

    def to_dict(self) -> dict:
        """The recipe as JSON-ready settings (stored in the run's config)."""
        return asdict(self)


NO_AUGMENTATION = Recipe(False, 0.0, 1.0, 0.0, 0.0, False, 0.0)


def geometry(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flips, 90-degree rotation and a square crop of 80-100 % of the side (size kept)."""
    import cv2

    h, w = img.shape[:2]
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if rng.random() < 0.5:
        img = img[::-1]
    img = np.rot90(img, int(rng.integers(4)))
    side = max(2, int(round(min(h, w) * rng.uniform(0.8, 1.0))))
    y = int(rng.integers(0, img.shape[0] - side + 1))
    x = int(rng.integers(0, img.shape[1] - side + 1))
    crop = np.ascontiguousarray(img[y : y + side, x : x + side])
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR) if (side, side) != (h, w) else crop


def resolution(img: np.ndarray, rng: np.random.Generator, min_scale: float = 0.25) -> np.ndarray:
    """Simulate a coarser ground resolution: shrink by a log-uniform factor in [min_scale, 1], enlarge back."""
    import cv2

    h, w = img.shape[:2]
    f = float(np.exp(rng.uniform(np.log(min_scale), 0.0)))
    sh, sw = max(4, int(round(h * f))), max(4, int(round(w * f)))
    if (sh, sw) == (h, w):
        return img
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    up = (cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
    return cv2.resize(small, (w, h), interpolation=up)


def blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur with sigma 0.3-1.5 px (optics, atmosphere)."""
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(rng.uniform(0.3, 1.5)))


def jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-encode as JPEG with a random quality 30-95 (compression artefacts of another archive)."""
    import cv2

    q = int(rng.integers(30, 96))
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    if not ok:
        return img
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img if out is None else np.ascontiguousarray(out[:, :, ::-1])


def colour(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another sensor's colour response: per-channel gain (white balance +-15 %), gamma 0.7-1.4,
    saturation 0.6-1.4, contrast 0.7-1.3 around the mean, brightness +-0.08.

    A milder version (gain +-7 %, gamma 0.85-1.18, saturation 0.8-1.2) kept kaggle4 accuracy
    higher but left the model brittle to another sensor (docs/benchmarks.md: the ablation)."""
    x = img.astype(np.float32) / 255.0
    x = x * rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    x = np.clip(x, 0.0, 1.0) ** np.float32(np.exp(rng.uniform(np.log(0.7), np.log(1.4))))
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * np.float32(rng.uniform(0.6, 1.4))
    m = x.mean()
    x = m + (x - m) * np.float32(rng.uniform(0.7, 1.3)) + np.float32(rng.uniform(-0.08, 0.08))
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise, sigma up to 3 % of the value range (sensor noise)."""
    sigma = rng.uniform(0.0, 0.03) * 255.0
    x = img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def augment(img: np.ndarray, rng: np.random.Generator, recipe: Recipe) -> np.ndarray:
    """One augmented view of a uint8 image under the recipe (same shape and dtype)."""
    if recipe.geometry:
        img = geometry(img, rng)
    if recipe.resolution and rng.random() < recipe.resolution:
        img = resolution(img, rng, recipe.min_scale)
    if recipe.blur and rng.random() < recipe.blur:
        img = blur(img, rng)
    if recipe.colour:
        img = colour(img, rng)
    if recipe.noise and rng.random() < recipe.noise:
        img = noise(img, rng)
    if recipe.jpeg and rng.random() < recipe.jpeg:
        img = jpeg(img, rng)
    return np.ascontiguousarray(img, dtype=np.uint8)


def augment_batch(images: np.ndarray, seed: int | np.random.SeedSequence, recipe: Recipe) -> np.ndarray:
    """Augment a (N, S, S, 3) uint8 batch; image i uses its own child of the seed (order-independent)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    out = np.empty_like(images)
    for i, child in enumerate(ss.spawn(len(images))):
        out[i] = augment(images[i], np.random.default_rng(child), recipe)
    return out
