"""Batched prediction with a run's model (any engine of landgui.core.inference.engine), not model.predict per image."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.data import images as D
from landgui.core.data.imageio import ImageReadError
from landgui.core.inference.adaptation import adapt_to_images
from landgui.core.inference.engine import KerasPredictor, as_predictor, load_predictor
from landgui.core.inference.familiarity import Familiarity


def predict_batches(
    model: Any,
    batches: Iterable[np.ndarray],
    total: int,
    *,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    stage: str = "predicting",
) -> np.ndarray:
    """Probabilities (``total`` rows) for a stream of image batches, in order.

    ``model`` is a :class:`~landgui.core.inference.engine.Predictor` or a Keras model. Reports
    ``progress(stage, images done, total)`` after each batch and raises ``Cancelled`` between
    batches when ``should_stop()`` says so.
    """
    predict = as_predictor(model)  # a Predictor as is; a Keras model in a compiled tf.function
    out, done = [], 0
    for batch in batches:
        if should_stop and should_stop():
            raise Cancelled()
        out.append(predict(batch))
        done += len(batch)
        if progress:
            progress(stage, done, total)
    return np.concatenate(out) if out else np.zeros((0, predict.n_classes), np.float32)


def predict_images(model: Any, images: np.ndarray, batch_size: int = 64, **kw: Any) -> np.ndarray:
    """Probabilities for an (N, S, S, 3) array of images already at the model's input size."""
    batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    return predict_batches(model, batches, len(images), **kw)


def predict_files(
    run_dir: str,
    paths: list[str],
    progress: Any = None,
    should_stop: Any = None,
    adapt: bool = False,
    engine: str = "auto",
) -> dict:
    """Class probabilities of image files with a run's model: {"labels", "predictions", "errors", "engine"}.

    ``adapt``: first adapt a copy of the model to these images (AdaBN; the run is not changed)."""

    predictor = load_predictor(run_dir, "keras" if adapt else engine, progress=progress)
    images, names, bad = [], [], []
    for path in paths:
        try:
            images.append(D.load_resized(path, predictor.image_size))
            names.append(path)
        except ImageReadError as exc:
            bad.append({"path": path, "error": exc.reason})
    if not images:
        raise LandguiError("none of the images could be read: " + "; ".join(f"{b['path']}: {b['error']}" for b in bad))
    stack = np.stack(images)
    if adapt:
        adapted = adapt_to_images(predictor.keras_model(), stack, progress=progress, should_stop=should_stop)
        predictor = KerasPredictor(adapted, predictor.run_dir, predictor.labels, predictor.image_size)
    probs = predict_images(predictor, stack, progress=progress, should_stop=should_stop)
    labels = predictor.labels
    unfamiliar = _unfamiliar(predictor, stack)
    rows = [
        {
            "path": n,
            "pred": labels[int(p.argmax())],
            "confidence": float(p.max()),
            "probs": {lab: float(v) for lab, v in zip(labels, p, strict=True)},
            **({"unfamiliar": round(float(unfamiliar[i]), 4)} if unfamiliar is not None else {}),
        }
        for i, (n, p) in enumerate(zip(names, probs, strict=True))
    ]
    return {"labels": labels, "predictions": rows, "errors": bad, "engine": predictor.engine}


def _unfamiliar(predictor: Any, images: np.ndarray, batch_size: int = 64) -> np.ndarray | None:
    """The unfamiliarity score of each image (landgui.core.inference.familiarity), or None where the model
    has no backbone features or no familiarity file."""
    if not getattr(predictor, "has_features", False):
        return None

    fam = Familiarity.load(predictor.run_dir)
    if fam is None:
        return None
    feats = [predictor.features(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return fam.score(np.concatenate(feats))


def predictions_csv(predictions: list[dict], labels: list[str]) -> str:
    """CSV text of predictions: file, true class (when known), predicted class, confidence and one
    probability column per class. Rows are :func:`predict_files` rows (``probs`` by class) or
    evaluation rows (``probs`` in ``labels`` order, with ``true``)."""
    import csv
    import io

    with_true = any("true" in p for p in predictions)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", *(["true"] if with_true else []), "predicted", "confidence", *[f"p_{lab}" for lab in labels]])
    for p in predictions:
        probs = p["probs"]
        values = [probs[lab] for lab in labels] if isinstance(probs, dict) else list(probs)
        w.writerow(
            [
                p["path"],
                *([p.get("true", "")] if with_true else []),
                p["pred"],
                f"{p['confidence']:.6f}",
                *[f"{float(v):.6f}" for v in values],
            ]
        )
    return buf.getvalue()
