"""A transfer model's head in NumPy: run and retrain it on backbone features without TensorFlow.

A transfer run's head (``landgui.core.models.build.build_head``) is a feature standardisation (batch
norm without scale or offset, its statistics frozen after the first training stage), dropout and
one softmax layer. On the backbone's pooled features that is a few lines of NumPy, so "teach it
your scene" can retrain the head and re-map a scene whose features are kept from the last map in
a second, with no TensorFlow import (7 s) and no LiteRT conversion (20 s).

The training loop reproduces what Keras' ``fit`` does for that head: Adam (Keras defaults),
mini-batches of 32 shuffled each epoch, sparse cross-entropy with sample weights averaged over the
batch, dropout on the standardised features; the standardisation keeps the parent's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import atomic_path
from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.models.build import FEATURE_NORM

HEAD_FILE = "head.npz"


@dataclass
class LinearHead:
    """The weights of a transfer head, applied to backbone features in NumPy.

    Computes softmax(((f - mean) / sqrt(var + eps)) @ kernel + bias); no standardisation when
    mean is None. ``dropout`` is used only while training (:func:`train_head`). Stored as
    ``head.npz`` beside a run's LiteRT file.
    """

    kernel: np.ndarray  # (features, classes)
    bias: np.ndarray  # (classes,)
    mean: np.ndarray | None = None
    var: np.ndarray | None = None
    eps: float = 1e-3
    dropout: float = 0.0

    @property
    def n_features(self) -> int:
        """The length of the feature vector the head takes (the backbone's output width)."""
        return int(self.kernel.shape[0])

    def standardise(self, f: np.ndarray) -> np.ndarray:
        """Features scaled with the frozen training statistics (as float32; unchanged without them)."""
        f = np.asarray(f, np.float32)
        if self.mean is None or self.var is None:
            return f
        return (f - self.mean) / np.sqrt(self.var + np.float32(self.eps))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(N, features) -> (N, classes) float32 probabilities."""
        return _softmax(self.standardise(features) @ self.kernel + self.bias)

    # -- Keras ----------------------------------------------------------------------------------
    @classmethod
    def from_keras(cls, head: Any) -> LinearHead:
        """The weights of a Keras head made by ``build_head`` (a clear error for anything else)."""

        mean = var = None
        eps, dropout, kernel, bias = 1e-3, 0.0, None, None
        for lyr in head.layers:
            kind = type(lyr).__name__
            if kind == "InputLayer":
                continue
            if kind == "BatchNormalization" and lyr.name == FEATURE_NORM and not lyr.center and not lyr.scale:
                mean, var = (np.asarray(w, np.float32) for w in (lyr.moving_mean, lyr.moving_variance))
                eps = float(lyr.epsilon)
            elif kind == "Dropout":
                dropout = float(lyr.rate)
            elif kind == "Dense" and kernel is None and getattr(lyr.activation, "__name__", "") == "softmax":
                kernel, bias = (np.asarray(w, np.float32) for w in (lyr.kernel, lyr.bias))
            else:
                raise LandguiError(f"this model's head has a {kind} layer; only a softmax head can be retrained here")
        if kernel is None or bias is None:
            raise LandguiError("this model's head has no softmax layer")
        return cls(kernel, bias, mean, var, eps, dropout)

    def to_keras(self, head: Any) -> Any:
        """A copy of the Keras ``head`` carrying these weights (the original is untouched)."""
        import keras

        new = keras.models.clone_model(head)
        new.set_weights(head.get_weights())
        for lyr in new.layers:
            kind = type(lyr).__name__
            if kind == "Dense":
                lyr.set_weights([self.kernel, self.bias])
            elif kind == "BatchNormalization" and self.mean is not None:
                lyr.set_weights([self.mean, self.var])
        return new

    # -- files ----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the weights to an ``.npz`` file, whole (through a partial file, then renamed)."""
        arrays: dict[str, Any] = {
            "kernel": self.kernel,
            "bias": self.bias,
            "eps": np.float64(self.eps),
            "dropout": np.float64(self.dropout),
        }
        if self.mean is not None:
            arrays |= {"mean": self.mean, "var": self.var}
        with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> LinearHead:
        """Read a head written by :meth:`save`; a one-line error for a missing or damaged file."""
        try:
            with np.load(path) as z:
                return cls(
                    z["kernel"].astype(np.float32),
                    z["bias"].astype(np.float32),
                    z["mean"].astype(np.float32) if "mean" in z else None,
                    z["var"].astype(np.float32) if "var" in z else None,
                    float(z["eps"]),
                    float(z["dropout"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise LandguiError(f"cannot read the head weights {path}: {exc}") from None


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def train_head(
    head: LinearHead,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[LinearHead, list[dict]]:
    """A copy of ``head`` whose softmax layer is trained on (features, labels, sample weights).

    Returns the new head and one ``{"epoch", "loss"}`` record per epoch (the weighted loss
    averaged over the epoch's batches, as Keras reports it)."""
    if len(x) == 0:
        raise LandguiError("no training features")
    rng = np.random.default_rng(seed)
    z_all = head.standardise(x).astype(np.float32)
    y = np.asarray(y, np.int64)
    w = np.asarray(w, np.float32)
    kernel, bias = head.kernel.astype(np.float32).copy(), head.bias.astype(np.float32).copy()
    params = [kernel, bias]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-7
    keep = 1.0 - head.dropout
    step = 0
    history: list[dict] = []
    n = len(x)
    for epoch in range(epochs):
        if should_stop and should_stop():
            raise Cancelled()
        order = rng.permutation(n)
        losses = []
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            z, yb, wb = z_all[idx], y[idx], w[idx]
            if head.dropout > 0:
                z = z * (rng.random(z.shape, dtype=np.float32) < keep) / np.float32(keep)
            p = _softmax(z @ kernel + bias)
            nb = len(idx)
            losses.append(float(np.sum(wb * -np.log(np.clip(p[np.arange(nb), yb], 1e-7, 1.0))) / nb))
            g = p
            g[np.arange(nb), yb] -= 1.0
            g *= (wb / nb)[:, None]
            grads = [z.T @ g, g.sum(axis=0)]
            step += 1
            alpha = lr * np.sqrt(1 - b2**step) / (1 - b1**step)
            for i, (prm, gr) in enumerate(zip(params, grads, strict=True)):
                m[i] = b1 * m[i] + (1 - b1) * gr
                v[i] = b2 * v[i] + (1 - b2) * gr * gr
                prm -= (alpha * m[i] / (np.sqrt(v[i]) + eps)).astype(np.float32)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses))})
        if progress:
            progress("fine-tuning the head", epoch + 1, epochs)
    return replace(head, kernel=kernel, bias=bias), history
