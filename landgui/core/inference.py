"""Batched prediction with a loaded run's model: a compiled tf.function, not model.predict per image."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from landgui.core.errors import Cancelled


def compiled_predict(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A callable (N, S, S, 3) uint8/float -> (N, classes) float32 probabilities."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def call(batch: np.ndarray) -> np.ndarray:
        return np.asarray(fn(tf.convert_to_tensor(batch, tf.float32)))

    return call


def predict_batches(
    model: Any,
    batches: Iterable[np.ndarray],
    total: int,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stage: str = "predicting",
) -> np.ndarray:
    predict = compiled_predict(model)
    out, done = [], 0
    for batch in batches:
        if should_stop and should_stop():
            raise Cancelled()
        out.append(predict(batch))
        done += len(batch)
        if progress:
            progress(stage, done, total)
    n_classes = model.output_shape[-1]
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)


def predict_images(model: Any, images: np.ndarray, batch_size: int = 64, **kw: Any) -> np.ndarray:
    """Probabilities for an (N, S, S, 3) array of images already at the model's input size."""
    batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    return predict_batches(model, batches, len(images), **kw)


def predict_files(
    run_dir: str, paths: list[str], progress: Any = None, should_stop: Any = None, adapt: bool = False
) -> dict:
    """Class probabilities of image files with a run's model: {"labels", "predictions", "errors"}.

    ``adapt``: first adapt a copy of the model to these images (AdaBN; the run is not changed)."""
    from landgui.core import data as D
    from landgui.core.errors import LandguiError
    from landgui.core.imageio import ImageReadError
    from landgui.core.models import load_run

    run = load_run(run_dir)
    images, names, bad = [], [], []
    for path in paths:
        try:
            images.append(D.load_resized(path, run.image_size))
            names.append(path)
        except ImageReadError as exc:
            bad.append({"path": path, "error": exc.reason})
    if not images:
        raise LandguiError("none of the images could be read: " + "; ".join(f"{b['path']}: {b['error']}" for b in bad))
    stack = np.stack(images)
    model = run.model
    if adapt:
        from landgui.core.adaptation import adapt_to_images

        model = adapt_to_images(model, stack, progress=progress, should_stop=should_stop)
    probs = predict_images(model, stack, progress=progress, should_stop=should_stop)
    rows = [
        {
            "path": n,
            "pred": run.labels[int(p.argmax())],
            "confidence": float(p.max()),
            "probs": {lab: float(v) for lab, v in zip(run.labels, p, strict=True)},
        }
        for n, p in zip(names, probs, strict=True)
    ]
    return {"labels": run.labels, "predictions": rows, "errors": bad}
