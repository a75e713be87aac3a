"""A network over images in batches, the one way: the compiled Keras call and the feature loop.

:func:`compiled` turns a Keras model into a NumPy function of a batch, traced once by
``tf.function`` (``reduce_retracing``: batches of every size share one trace). The Keras engine
predicts with it, training and fine-tuning extract backbone features with it, adaptation steps
batch-norm statistics with it (``training=True``).

:func:`extract_features` is the one loop that runs a features function (a compiled backbone, or
a LiteRT backbone's ``features``) over images in batches of :data:`FEATURE_BATCH`: images in
memory, or image files decoded batch by batch, optionally each batch augmented with the next
seed of a :class:`numpy.random.SeedSequence`, reporting ``progress(stage, done, total)`` and
raising :class:`~landgui.core.base.errors.Cancelled` when ``should_stop()``.
:func:`features_with_views` adds augmented views of every image after the images themselves
(teach-your-scene's corrections). The fast path of transfer training
(:mod:`landgui.core.training.recipes`) calls :func:`extract_features` once per view, each with
its own seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from landgui.core.base.errors import Cancelled
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.data import images as D
from landgui.core.data.augment import Recipe, augment_batch

FEATURE_BATCH = 64  # images per call of the features function

Extract = Callable[[np.ndarray], np.ndarray]
"""(N, S, S, 3) float32 images 0..255 -> (N, D) float32 features (or any per-image output)."""


def compiled(model: Any, *, training: bool = False) -> Extract:
    """``model`` as a NumPy function of a batch, compiled once with ``tf.function`` (imports
    TensorFlow). ``training=True`` runs batch-norm layers in training mode (adaptation)."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=training), reduce_retracing=True)
    return lambda batch: np.asarray(fn(tf.convert_to_tensor(batch, tf.float32)))


def extract_features(
    extract: Extract,
    images: np.ndarray | Sequence[str],
    *,
    size: int = 0,
    augment: np.random.SeedSequence | None = None,
    recipe: Recipe | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    stage: str = "features",
) -> np.ndarray:
    """``extract`` of every image, in batches: an (N, D) float32 array in the images' order.

    ``images`` is an (N, S, S, 3) array, or image files decoded at ``size`` px a batch at a time
    (so they need not all fit in memory). With ``augment`` every batch is first augmented by
    ``recipe`` with the sequence's next child seed (one augmented view; passing the same sequence
    on continues it). No images at all give a (0, 0) array."""
    n = len(images)
    out = []
    for start in range(0, n, FEATURE_BATCH):
        if should_stop and should_stop():
            raise Cancelled()
        if isinstance(images, np.ndarray):
            batch = images[start : start + FEATURE_BATCH]
        else:
            batch = np.stack([D.load_resized(p, size) for p in images[start : start + FEATURE_BATCH]])
        if augment is not None:
            batch = augment_batch(batch, augment.spawn(1)[0], recipe or Recipe())
        out.append(np.asarray(extract(batch.astype(np.float32)), np.float32))
        if progress:
            progress(stage, min(start + FEATURE_BATCH, n), n)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def features_with_views(
    extract: Extract,
    images: np.ndarray | Sequence[str],
    *,
    size: int = 0,
    views: int = 0,
    recipe: Recipe | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    stage: str = "features",
) -> np.ndarray:
    """Features of each image, then of ``views`` augmented views of each: rows are all images of
    view 0 (as they are), then all of view 1, ...; the views draw their seeds one after another
    from ``SeedSequence(seed)``. Image files are decoded at ``size`` px once, for all views.
    Progress counts the images of every view together."""
    if not isinstance(images, np.ndarray):
        images = D.decode_all(list(images), size, should_stop=should_stop)
    n, seeds = len(images), np.random.SeedSequence(seed)  # one sequence: each view continues it
    total = n * (1 + views)
    out = [
        extract_features(
            extract,
            images,
            augment=seeds if v > 0 else None,
            recipe=recipe,
            progress=_counted_on(progress, v * n, total),
            should_stop=should_stop,
            stage=stage,
        )
        for v in range(1 + views)
    ]
    return np.concatenate(out)


def _counted_on(progress: ProgressFn | None, before: int, total: int) -> ProgressFn | None:
    """``progress`` of one pass reported as part of several: ``before`` done already, ``total`` in all."""
    if progress is None:
        return None
    return lambda stage, done, _: progress(stage, before + done, total)
