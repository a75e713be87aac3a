"""Unsupervised adaptation to the target images before predicting (AdaBN).

A network's batch-normalisation layers hold the mean and variance of their inputs on the
*training* imagery. Another satellite's scenes shift those statistics (brightness, colour,
sharpness), and every later layer sees inputs it was not trained on. AdaBN (Li et al., 2016,
"Revisiting Batch Normalization For Practical Domain Adaptation") re-estimates them on the target
images, without labels: the target patches are passed through the network in batches with batch
norm in training mode, and each layer's mean/variance becomes the average of the batch statistics.

The adapted model is a copy in memory: the run folder is never written (a test checks that it
stays byte-identical).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.data import images as D
from landgui.core.inference.features import compiled
from landgui.core.models.build import FEATURE_NORM, _flat_layers

MIN_ADAPT_IMAGES = 16  # fewer images give batch statistics too noisy to trust
MAX_ADAPT_IMAGES = 4096  # a random sample of this many is plenty for the statistics
ADAPT_BATCH = 64


ADAPT_METHODS = ("features", "all")


def _bn_layers(model: Any, method: str = "all") -> list[Any]:
    """The batch-norm layers that adaptation re-estimates: all, or the feature layer of the head."""
    import keras

    bns = [lyr for lyr in _flat_layers(model) if isinstance(lyr, keras.layers.BatchNormalization)]
    if method == "features":
        return [lyr for lyr in bns if lyr.name == FEATURE_NORM]
    return bns


def default_method(model: Any) -> str:
    """``features`` for models with a feature-norm head (the transfer default), else ``all``."""
    return "features" if _bn_layers(model, "features") else "all"


def copy_model(model: Any) -> Any:
    """An independent copy of a Keras model (same architecture and weights)."""
    import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def adapt_to_images(
    model: Any,
    images: np.ndarray,
    *,
    seed: int = 0,
    batch_size: int = ADAPT_BATCH,
    method: str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Any:
    """A copy of ``model`` whose batch-norm statistics are re-estimated on ``images`` (N, S, S, 3).

    Images are shuffled (seeded) so each batch mixes the scene's land covers; a model without
    batch norm is returned as an unchanged copy. ``method``: ``"all"`` batch-norm layers (AdaBN
    as published) or only the head's ``"features"`` layer (default where the model has one:
    the measurements in docs/benchmarks.md favour it for the ImageNet backbone).
    """
    if method is not None and method not in ADAPT_METHODS:
        raise LandguiError(f"unknown adaptation method '{method}' (choose {' or '.join(ADAPT_METHODS)})")
    if len(images) < MIN_ADAPT_IMAGES:
        raise LandguiError(
            f"adaptation needs at least {MIN_ADAPT_IMAGES} target images to estimate statistics, got {len(images)}"
        )
    adapted = copy_model(model)
    recalibrate_bn(
        adapted,
        images,
        seed=seed,
        batch_size=batch_size,
        method=method or default_method(model),
        progress=progress,
        should_stop=should_stop,
    )
    return adapted


def recalibrate_bn(
    adapted: Any,
    images: np.ndarray,
    *,
    seed: int = 0,
    batch_size: int = ADAPT_BATCH,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    stage: str = "adapting to the target",
    method: str = "all",
) -> None:
    """Re-estimate, in place, every batch-norm layer's statistics of ``adapted`` on ``images``.

    Training can use it too (``TrainParams.source_bn``, off by default: measured worse): the
    ImageNet backbone's statistics re-estimated on the training images before the head is trained
    (source statistics), as AdaBN assumes. Trainable flags are restored afterwards.
    """
    bns = _bn_layers(adapted, method)
    if not bns:
        return
    flags = [(lyr, lyr.trainable) for lyr in [adapted, *_all_layers(adapted)]]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))[:MAX_ADAPT_IMAGES]
    adapted.trainable = True  # parents must be trainable for their BN children to update
    for lyr in _all_layers(adapted):
        lyr.trainable = _is_container(lyr)
    for bn in bns:
        bn.trainable = True
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = 0.0  # after each batch the moving statistics are that batch's
    sums = [[np.zeros(bn.moving_mean.shape, np.float64), np.zeros(bn.moving_variance.shape, np.float64)] for bn in bns]
    step = compiled(adapted, training=True)
    n_batches = max(1, len(order) // batch_size)  # the last batch takes the remainder: no tiny, noisy batch
    for k in range(n_batches):
        if should_stop and should_stop():
            raise Cancelled()
        idx = order[k * batch_size : (k + 1) * batch_size] if k < n_batches - 1 else order[k * batch_size :]
        step(images[idx])
        for acc, bn in zip(sums, bns, strict=True):
            acc[0] += np.asarray(bn.moving_mean)
            acc[1] += np.asarray(bn.moving_variance)
        if progress:
            progress(stage, min((k + 1) * batch_size, len(order)), len(order))
    for acc, bn, mom in zip(sums, bns, momenta, strict=True):
        bn.moving_mean.assign((acc[0] / n_batches).astype(np.float32))
        bn.moving_variance.assign((acc[1] / n_batches).astype(np.float32))
        bn.momentum = mom
    for lyr, flag in flags:
        lyr.trainable = flag


def _is_container(lyr: Any) -> bool:
    return bool(getattr(lyr, "layers", None))


def _nested_models(model: Any) -> list[Any]:
    out = []
    for lyr in model.layers:
        if _is_container(lyr):
            out.append(lyr)
            out.extend(_nested_models(lyr))
    return out


def _all_layers(model: Any) -> list[Any]:
    out = []
    for lyr in model.layers:
        out.append(lyr)
        if _is_container(lyr):
            out.extend(_all_layers(lyr))
    return out


def adapt_model(
    model: Any,
    image_size: int,
    paths: list[str],
    *,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Any:
    """A copy of a Keras model adapted to image files (decoded at the model's input size)."""

    rng = np.random.default_rng(0)
    chosen = [paths[i] for i in sorted(rng.permutation(len(paths))[:MAX_ADAPT_IMAGES])]
    images = D.decode_all(chosen, image_size, progress, should_stop, "reading target images")
    return adapt_to_images(model, images, progress=progress, should_stop=should_stop)
