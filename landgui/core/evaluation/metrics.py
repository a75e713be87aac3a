"""The figures of an evaluation, computed from arrays with NumPy alone (no model, no files).

:func:`metrics` turns true class indices and probability rows into accuracy, balanced accuracy,
top-2 accuracy, per-class precision / recall / F1, their macro and weighted averages and the
confusion matrix (raw and row-normalised); :func:`per_source_metrics` breaks accuracy and recall
down by the source (sensor) each image came from. The keys are those of the evaluation JSON
(schema in :mod:`landgui.core.evaluation.evaluate`); the tests check the numbers against
scikit-learn.
"""

from __future__ import annotations

import numpy as np

AVERAGED = ("precision", "recall", "f1")


def metrics(y_true: np.ndarray, probs: np.ndarray, labels: list[str], rows: list[int] | None = None) -> dict:
    """All the numbers of the report from true indices and probability rows.

    ``rows``: the class indices that have a row in the report (default: all). Classes of the model
    that the evaluated data does not contain are left out of the per-class table, the confusion
    matrix rows and the macro averages; predictions of them still count as errors.
    """
    full = _all_classes(y_true, probs, labels)
    if rows is None:
        return full
    names = [labels[i] for i in rows]
    pc = full["per_class"]
    full["per_class"] = {n: pc[n] for n in names}
    full["row_labels"] = names
    full["confusion_matrix"] = [full["confusion_matrix"][i] for i in rows]
    full["confusion_matrix_normalized"] = [full["confusion_matrix_normalized"][i] for i in rows]
    full["macro_avg"] = {m: float(np.mean([pc[n][m] for n in names])) for m in AVERAGED}
    return full


def _all_classes(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
    """:func:`metrics` with a row for every class of the model."""
    k = len(labels)
    y_pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        cm_norm = np.where(support[:, None] > 0, cm / support[:, None], 0.0)
    n = len(y_true)
    weights = support / n if n else np.zeros(k)
    present = support > 0
    top2 = None
    if k > 2 and n:
        top = np.argsort(-probs, axis=1)[:, :2]
        top2 = float(np.mean((top == y_true[:, None]).any(axis=1)))
    return {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "top2_accuracy": top2,
        "labels": labels,
        "per_class": {
            lab: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, lab in enumerate(labels)
        },
        "macro_avg": {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())},
        "weighted_avg": {
            "precision": float((precision * weights).sum()),
            "recall": float((recall * weights).sum()),
            "f1": float((f1 * weights).sum()),
        },
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": cm_norm.round(6).tolist(),
    }


def per_source_metrics(y_true: np.ndarray, y_pred: np.ndarray, sources: list[str], labels: list[str]) -> dict:
    """Accuracy per source and recall per class x source (the cells a user can compare).

    ``sources`` names the source of each image; the result maps each source, in order of first
    appearance, to its accuracy, balanced accuracy, image count and ``{label: {recall, support}}``
    for the classes it has images of.
    """
    out: dict[str, dict] = {}
    src = np.array(sources)
    for name in dict.fromkeys(sources):
        m = src == name
        yt, yp = y_true[m], y_pred[m]
        per_class = {}
        for i, lab in enumerate(labels):
            n = int((yt == i).sum())
            if n:
                per_class[lab] = {"recall": float((yp[yt == i] == i).mean()), "support": n}
        out[name] = {
            "accuracy": float((yt == yp).mean()),
            "balanced_accuracy": float(np.mean([c["recall"] for c in per_class.values()])),
            "n_images": int(m.sum()),
            "per_class": per_class,
        }
    return out
