"""How unlike the training data a patch is: a nearest-neighbour score on backbone features.

A transfer run keeps, at the end of training, ``familiarity.npz`` in its folder:

* a PCA of its training images' backbone features (L2-normalised) to :data:`DIMS` dimensions;
* a seeded sample of at most :data:`MAX_REFERENCES` training features in that space (the
  references);
* the calibration: the distance of every validation image (all training sources) to its nearest
  reference, as :data:`QUANTILES` quantiles.

``unfamiliar`` of a patch = the fraction of validation images that lie closer to the training data
than it does (the empirical distribution function of the calibration distances): 0.5 is a typical
validation image, 1.0 is farther than all of them. A patch is *unlike the training data* above
:data:`UNFAMILIAR_ABOVE` (farther than 99 % of the validation images), so about 1 % of patches
like the training data are flagged by construction. The score needs the backbone's features, so
it exists for transfer runs trained on the fast path (the default); a scratch run has none.

Cost: one (N, 1280) x (1280, 128) projection and one (N, 128) x (128, 6000) product per patch
batch, about 10 ms per thousand patches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landgui.core.base.atomic import atomic_path

FAMILIARITY_FILE = "familiarity.npz"
DIMS = 128
MAX_REFERENCES = 6000
QUANTILES = 201
UNFAMILIAR_ABOVE = 0.99
#: a scene with at least this share of unfamiliar patches gets a warning
WARN_SHARE = 0.2
_CHUNK = 4096


def _normalise(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, np.float32)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


@dataclass
class Familiarity:
    """The training data's footprint in feature space, and the calibration of distances to it."""

    mean: np.ndarray  # (D,) of the normalised training features
    components: np.ndarray  # (D, DIMS) PCA projection
    references: np.ndarray  # (R, DIMS) projected training features
    calibration: np.ndarray  # (QUANTILES,) nearest-reference distances of the validation images

    @classmethod
    def build(cls, train_features: np.ndarray, val_features: np.ndarray, seed: int = 0) -> Familiarity:
        """Fit on the training images' features; calibrate on the validation images' features."""
        x = _normalise(train_features)
        mean = x.mean(axis=0)
        xc = x - mean
        dims = min(DIMS, xc.shape[0], xc.shape[1])
        _, _, vt = np.linalg.svd(xc[np.random.default_rng(seed).permutation(len(xc))[:8000]], full_matrices=False)
        components = np.ascontiguousarray(vt[:dims].T, np.float32)
        proj = xc @ components
        pick = np.sort(np.random.default_rng(seed).permutation(len(proj))[:MAX_REFERENCES])
        fam = cls(mean.astype(np.float32), components, np.ascontiguousarray(proj[pick], np.float32), np.zeros(0))
        d = fam.distances(val_features if len(val_features) else train_features)
        fam.calibration = np.quantile(d, np.linspace(0, 1, QUANTILES)).astype(np.float32)
        return fam

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Distance of each feature row to its nearest reference (in the PCA space)."""
        out = np.empty(len(features), np.float32)
        r2 = (self.references**2).sum(axis=1)
        for s in range(0, len(features), _CHUNK):
            p = (_normalise(features[s : s + _CHUNK]) - self.mean) @ self.components
            d2 = (p**2).sum(axis=1, keepdims=True) + r2[None, :] - 2.0 * (p @ self.references.T)
            out[s : s + len(p)] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
        return out

    def score(self, features: np.ndarray) -> np.ndarray:
        """``unfamiliar`` (0..1) of each feature row: the share of validation images closer to the
        training data (see the module doc)."""
        if len(features) == 0:
            return np.zeros(0, np.float32)
        d = self.distances(features)
        levels = np.linspace(0, 1, len(self.calibration))
        return np.interp(d, self.calibration, levels).astype(np.float32)

    def save(self, path: str | Path) -> None:
        """Write the file whole (a hidden partial name renamed when complete)."""

        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                mean=self.mean,
                components=self.components,
                references=self.references.astype(np.float16),
                calibration=self.calibration,
            )

    @classmethod
    def load(cls, run_dir: str | Path) -> Familiarity | None:
        """The run's familiarity file, or None where it has none (or it is damaged)."""
        p = Path(run_dir) / FAMILIARITY_FILE
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return cls(
                    z["mean"].astype(np.float32),
                    z["components"].astype(np.float32),
                    z["references"].astype(np.float32),
                    z["calibration"].astype(np.float32),
                )
        except (OSError, ValueError, KeyError):
            return None


def unfamiliar_share(scores: np.ndarray) -> float:
    """The share of scored patches that are unlike the training data."""
    s = np.asarray(scores, np.float32)
    s = s[np.isfinite(s)]
    return float((s > UNFAMILIAR_ABOVE).mean()) if len(s) else 0.0


def warning_line(share: float, what: str = "this scene's patches") -> str | None:
    """The one-line warning for a share of unfamiliar patches, or None below :data:`WARN_SHARE`."""
    if share < WARN_SHARE:
        return None
    return f"{100 * share:.0f} % of {what} are unlike the training data: expect lower accuracy; teach it"
