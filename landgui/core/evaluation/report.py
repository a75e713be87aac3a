"""What an evaluation record becomes for people: the text report, the figures and the files.

An evaluation record is the dict :mod:`landgui.core.evaluation.evaluate` returns (its schema is
described there). :func:`report_text` is the plain-text report that ``landgui evaluate`` prints;
:func:`confusion_figure` and :func:`per_class_figure` draw with matplotlib's object API (no
pyplot state, so the app's Evaluation tab can redraw its own figure with them);
:func:`write_results` writes the report files next to a run: ``predictions-<name>.csv``,
``confusion-<name>.png``, ``per-class-<name>.png`` and, last, ``evaluation-<name>.json``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import atomic_path, ensure_writable_dir, write_error, write_text_atomic
from landgui.core.evaluation.metrics import AVERAGED
from landgui.core.runs.folder import RunFolder

BAR_COLOURS = ("#0072B2", "#E69F00", "#009E73")  # precision, recall, F1 (colour-blind safe)


def write_results(run_dir: Path, result: dict) -> None:
    """Write the report files of ``result`` into ``run_dir`` (a run, or the folder given with --out).

    Each file is written whole (see :mod:`landgui.core.base.atomic`); the JSON is written last, as
    the marker that this evaluation is complete, and an older JSON of the same name is removed
    first. Adds ``written_to`` to ``result``.
    """
    split = result["split"]
    ensure_writable_dir(run_dir, "the evaluation folder")
    result["written_to"] = str(run_dir)
    folder = RunFolder(run_dir)
    marker = folder.evaluation_file(split)
    try:
        marker.unlink(missing_ok=True)
    except OSError as exc:
        raise write_error(marker, exc) from None
    write_text_atomic(run_dir / f"predictions-{split}.csv", _predictions_csv(result))
    with atomic_path(run_dir / f"confusion-{split}.png") as tmp:
        confusion_figure(result).savefig(tmp, dpi=110, format="png")
    with atomic_path(run_dir / f"per-class-{split}.png") as tmp:
        per_class_figure(result).savefig(tmp, dpi=110, format="png")
    folder.write_evaluation(split, result)


def _predictions_csv(result: dict) -> str:
    """The ``predictions-<name>.csv`` text: path, true, pred, confidence and ``p_<class>`` per class
    (the evaluation's own columns; a prediction export has others:
    :func:`landgui.core.inference.predictors.predictions_csv`)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "true", "pred", "confidence", *[f"p_{lab}" for lab in result["labels"]]])
    for p in result["predictions"]:
        w.writerow([p["path"], p["true"], p["pred"], f"{p['confidence']:.6f}", *[f"{v:.6f}" for v in p["probs"]]])
    return buf.getvalue()


def _figure_axes(figure: Any, size: tuple[float, float]) -> tuple[Any, Any]:
    """Clear and reuse a GUI figure, or make a new Agg figure (no pyplot state either way)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = figure
    if fig is None:
        fig = Figure(figsize=size, tight_layout=True)
        FigureCanvasAgg(fig)
    fig.clear()
    return fig, fig.add_subplot(111)


def confusion_figure(result: dict, figure: Any = None) -> Any:
    """Heatmap of the row-normalised confusion matrix with counts (matplotlib object API).

    Draws into ``figure`` (cleared first) when one is given, else into a new off-screen figure;
    returns the figure.
    """
    fig, ax = _figure_axes(figure, (5.5, 4.5))
    labels = result["labels"]
    rows = result.get("row_labels") or labels
    cm = np.array(result["confusion_matrix"])
    norm = np.array(result["confusion_matrix_normalized"])
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(rows)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{norm[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_title(f"{result['split']}: accuracy {result['accuracy']:.2%}")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def per_class_figure(result: dict, figure: Any = None) -> Any:
    """Grouped bars of precision, recall and F1 for each class that has a row (0 to 1).

    Draws into ``figure`` (cleared first) when one is given, else into a new off-screen figure;
    returns the figure.
    """
    fig, ax = _figure_axes(figure, (6, 3.5))
    labels = result.get("row_labels") or result["labels"]
    x = np.arange(len(labels))
    for k, (m, colour) in enumerate(zip(AVERAGED, BAR_COLOURS, strict=True)):
        ax.bar(x + (k - 1) * 0.27, [result["per_class"][lab][m] for lab in labels], 0.27, label=m, color=colour)
    ax.set_xticks(x, labels, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    ax.set_title("per-class precision / recall / F1")
    return fig


def report_text(result: dict) -> str:
    """The plain-text report ``landgui evaluate`` prints for an evaluation record.

    What was evaluated and how many images, the overall accuracies, a per-class table with the
    averages, the confusion matrix, the per-source table (several sources only), notes on classes
    and files left out, and the ten most confidently wrong predictions.
    """
    labels = result["labels"]
    rows = result.get("row_labels") or labels
    w = max([len(lab) for lab in labels] + [12])
    lines = _summary(result)
    lines += ["", f"{'class':<{w}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for lab in rows:
        m = result["per_class"][lab]
        lines.append(f"{lab:<{w}} {m['precision']:>9.4f} {m['recall']:>9.4f} {m['f1']:>9.4f} {m['support']:>8}")
    for name in ("macro_avg", "weighted_avg"):
        m = result[name]
        lines.append(
            f"{name.replace('_', ' '):<{w}} {m['precision']:>9.4f} {m['recall']:>9.4f} {m['f1']:>9.4f} {result['n_images']:>8}"
        )
    cw = max(w, max(len(lab) for lab in labels))
    lines += [
        "",
        "confusion matrix (rows: true, columns: predicted)",
        " " * (cw + 1) + " ".join(f"{lab[:10]:>10}" for lab in labels),
    ]
    for lab, row in zip(rows, result["confusion_matrix"], strict=True):
        lines.append(f"{lab:<{cw}} " + " ".join(f"{v:>10}" for v in row))
    lines += _per_source(result, rows) + _left_out(result) + _misclassified(result)
    return "\n".join(lines)


def _summary(result: dict) -> list[str]:
    """The report's first two lines: what was evaluated on how many images, and the accuracies."""
    if result.get("held_out_source"):
        what = (
            f"held-out source {result['held_out_source']} (every image of it; the model was trained and "
            "selected on the other sources only, so this is how the recipe does on a sensor it never saw)"
        )
    else:
        what = f"folder {result['data_folder']}" if result.get("data_folder") else f"{result['split']} split"
    what += " (adapted to it)" if result.get("adapted") else ""
    unreadable = result.get("unreadable")
    return [
        f"{what}: {result['n_images']} images"
        + (f" ({len(result['missing'])} missing files not evaluated)" if result["missing"] else "")
        + (
            f" ({len(unreadable)} unreadable files left out: "
            + ", ".join(f"{u['path']} ({u['reason']})" for u in unreadable[:5])
            + (", ..." if len(unreadable) > 5 else "")
            + ")"
            if unreadable
            else ""
        ),
        f"accuracy {result['accuracy']:.4f}   balanced accuracy {result['balanced_accuracy']:.4f}"
        + (f"   top-2 accuracy {result['top2_accuracy']:.4f}" if result["top2_accuracy"] is not None else ""),
    ]


def _per_source(result: dict, rows: list[str]) -> list[str]:
    """The per-source table: accuracy, then recall (and image count) per class; empty for one source."""
    if not result.get("per_source"):
        return []
    names = list(result["per_source"])
    sw = max(max(len(n) for n in names), 8)
    lines = ["", "per source: accuracy, then recall per class (images)"]
    lines.append(f"{'source':<{sw}} {'accuracy':>9} " + " ".join(f"{lab[:12]:>16}" for lab in rows))
    for n in names:
        ps = result["per_source"][n]
        cells = [
            f"{ps['per_class'][lab]['recall']:>9.4f} ({ps['per_class'][lab]['support']:>4})"
            if lab in ps["per_class"]
            else f"{'-':>16}"
            for lab in rows
        ]
        lines.append(f"{n:<{sw}} {ps['accuracy']:>9.4f} " + " ".join(cells))
    return lines


def _left_out(result: dict) -> list[str]:
    """Notes on the model classes without images, the folder classes ignored and the files skipped."""
    lines = []
    if result.get("missing_classes"):
        lines.append(f"(no images of {', '.join(result['missing_classes'])} in the folder: no row)")
    if result.get("ignored_classes"):
        lines.append(
            "ignored folder classes unknown to the model: "
            + ", ".join(f"{c} ({n} images)" for c, n in result["ignored_classes"].items())
        )
    if result.get("skipped"):
        lines.append(
            f"skipped {len(result['skipped'])} unusable file(s), e.g. {result['skipped'][0]['path']}: "
            f"{result['skipped'][0]['reason']}"
        )
    return lines


def _misclassified(result: dict) -> list[str]:
    """The count of wrong predictions and the ten most confidently wrong (true -> predicted)."""
    if not result["misclassified"]:
        return []
    lines = ["", f"misclassified: {len(result['misclassified'])} (most confidently wrong first)"]
    by_path = {p["path"]: p for p in result["predictions"]}
    for path in result["misclassified"][:10]:
        p = by_path[path]
        lines.append(f"  {path}: {p['true']} -> {p['pred']} ({p['confidence']:.2f})")
    return lines
