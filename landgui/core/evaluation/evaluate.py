"""Honest test-set evaluation of a run, written next to it.

``evaluate_run(RUN_DIR, split="test")`` predicts every image of one split of the run's
``split.json`` in batches and writes:

``RUN_DIR/evaluation-<split>.json`` (schema ``landgui.evaluation`` v1)::

    accuracy            fraction correct (0..1)
    balanced_accuracy   mean per-class recall
    top2_accuracy       fraction whose true class is in the top 2 (more than 2 classes only, else null)
    labels              class names in index order
    per_class           {label: {precision, recall, f1, support}}
    macro_avg, weighted_avg   {precision, recall, f1}
    confusion_matrix    counts, rows = true class, columns = predicted class
    confusion_matrix_normalized   rows divided by their sum (recall on the diagonal)
    n_images, missing   images evaluated; files of the split that were missing (not evaluated)
    predictions         [{path, true, pred, confidence, probs}] for every image
    per_source          with several sources: {source: {accuracy, balanced_accuracy, n_images,
                        per_class: {label: {recall, support}}}}; predictions then carry "source"
    misclassified       paths of wrong predictions, most confidently wrong first
    low_confidence_correct   correct predictions with the lowest confidence first (max 50)

``predictions-<split>.csv`` (path, true, pred, confidence, one column per class probability),
``confusion-<split>.png`` and ``per-class-<split>.png`` (matplotlib object API, no pyplot).
Metrics are computed here with NumPy; the tests check them against scikit-learn.

``evaluate_source(RUN_DIR, NAME)`` evaluates a run trained with ``hold_out_source=NAME`` on every
image of that source (all three splits: the run saw none of them), as ``evaluation-holdout-NAME``.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import atomic_path, ensure_writable_dir, write_error, write_text_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.data import images as D
from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import SPLITS, load_split, source_names, split_hash
from landgui.core.inference.adaptation import adapt_model
from landgui.core.inference.engine import KerasPredictor, load_predictor
from landgui.core.inference.predictors import predict_batches
from landgui.core.runs.folder import RunFolder, output_dir_for, read_run

SCHEMA = "landgui.evaluation"
SCHEMA_VERSION = 1


def metrics(y_true: np.ndarray, probs: np.ndarray, labels: list[str], rows: list[int] | None = None) -> dict:
    """All the numbers of the report from true indices and probability rows.

    ``rows``: the class indices that have a row in the report (default: all). Classes of the model
    that the evaluated data does not contain are left out of the per-class table, the confusion
    matrix rows and the macro averages; predictions of them still count as errors.
    """
    full = _metrics(y_true, probs, labels)
    if rows is None:
        return full
    names = [labels[i] for i in rows]
    pc = full["per_class"]
    full["per_class"] = {n: pc[n] for n in names}
    full["row_labels"] = names
    full["confusion_matrix"] = [full["confusion_matrix"][i] for i in rows]
    full["confusion_matrix_normalized"] = [full["confusion_matrix_normalized"][i] for i in rows]
    full["macro_avg"] = {m: float(np.mean([pc[n][m] for n in names])) for m in ("precision", "recall", "f1")}
    return full


def _metrics(y_true: np.ndarray, probs: np.ndarray, labels: list[str]) -> dict:
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
    """Accuracy per source and recall per class x source (the cells a user can compare)."""
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


def _batches(paths: list[str], size: int, batch: int, pool: ThreadPoolExecutor, unreadable: dict[str, str]):
    """Decode the next batch in the background while the current one is predicted. A file that
    cannot be decoded is fed as black and recorded in ``unreadable`` (path -> reason)."""
    chunks = [paths[i : i + batch] for i in range(0, len(paths), batch)]

    def one(p: str) -> np.ndarray:
        try:
            return D.load_resized(p, size)
        except (LandguiError, OSError, ValueError) as exc:
            unreadable[p] = getattr(exc, "reason", None) or str(exc)
            return np.zeros((size, size, 3), np.uint8)

    def load(chunk: list[str]) -> np.ndarray:
        return np.stack(list(pool.map(one, chunk)))

    if not chunks:
        return
    with ThreadPoolExecutor(max_workers=1) as ahead:
        nxt = ahead.submit(load, chunks[0])
        for i in range(len(chunks)):
            cur = nxt.result()
            if i + 1 < len(chunks):
                nxt = ahead.submit(load, chunks[i + 1])
            yield cur


def evaluate_run(
    run_dir: str | Path,
    split: str = "test",
    *,
    split_path: str | Path | None = None,
    batch_size: int = 64,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    write: bool = True,
    adapt: bool = False,
    engine: str = "auto",
    out_dir: str | Path | None = None,
    allow_other_split: bool = False,
) -> dict:
    """Evaluate a run on one split of its split.json and write the report files (see the module doc).

    The split must be the one the run was trained on (same split hash); another split is refused
    unless ``allow_other_split``, and the result then says ``other_split: true``."""

    if split not in ("train", "val", "test"):
        raise LandguiError(f"unknown split '{split}' (train, val or test)")
    run = read_run(run_dir)
    manifest = load_split(split_path or run.config["split"])

    other = split_hash(manifest) != run.config.get("split_hash")
    if other and not allow_other_split:
        raise LandguiError(
            f"{manifest['_path']} is not the split the model was trained on (split hash "
            f"{split_hash(manifest)[:12]}, the run's {str(run.config.get('split_hash'))[:12]}): its test images may "
            "have been training images. Evaluate on the run's own split, or pass the split explicitly and "
            "accept the mismatch (--split-file F --allow-other-split)"
        )
    if list(manifest["classes"]) != list(run.labels):
        raise LandguiError(
            f"the model's classes {run.labels} do not match the split's classes {manifest['classes']}; "
            "evaluate it on the split it was trained for"
        )
    files, missing = D.split_files(manifest, split, run.labels, missing_ok=True)
    if not files.paths:
        raise LandguiError(f"the {split} split has no images to evaluate ({len(missing)} missing)")
    result = _evaluate_files(
        run,
        files,
        f"{split}-adapted" if adapt else split,
        batch_size=batch_size,
        progress=progress,
        should_stop=should_stop,
        adapt=adapt,
        engine=engine,
    )
    result["missing"] = missing
    result["dataset_root"] = manifest["dataset_root"]
    result["split_file"] = manifest["_path"]
    result["other_split"] = bool(other)
    if write:
        write_results(Path(out_dir) if out_dir else output_dir_for(run.run_dir), result)
    return result


def _evaluate_files(
    run: Any,
    files: D.SplitFiles,
    name: str,
    *,
    rows: list[int] | None = None,
    batch_size: int = 64,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    adapt: bool = False,
    engine: str = "auto",
) -> dict:
    """Predict the files with the run's model and build the evaluation record (nothing written)."""

    t0 = time.perf_counter()
    model = load_predictor(run.run_dir, "keras" if adapt else engine, progress=progress)
    if adapt:
        adapted = adapt_model(
            model.keras_model(), run.image_size, files.paths, progress=progress, should_stop=should_stop
        )
        model = KerasPredictor(adapted, run.run_dir, run.labels, run.image_size)
    unreadable: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        probs = predict_batches(
            model,
            _batches(files.paths, run.image_size, batch_size, pool, unreadable),
            len(files.paths),
            progress=progress,
            should_stop=should_stop,
            stage=f"evaluating {name}",
        )
    skipped = []
    if unreadable:  # left out of every figure, and named
        keep = np.array([p not in unreadable for p in files.paths])
        if not keep.any():
            raise LandguiError(f"none of the {len(files.paths)} images could be read, e.g. {files.rel_paths[0]}")
        skipped = [
            {"path": r, "reason": unreadable[p]}
            for p, r in zip(files.paths, files.rel_paths, strict=True)
            if p in unreadable
        ]
        files = files.select(keep)
        probs = probs[keep]
    seconds = time.perf_counter() - t0
    y = files.labels
    result = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run": str(Path(run.run_dir).resolve()),
        "split": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "adapted": bool(adapt),
        "engine": model.engine,
        **metrics(y, probs, run.labels, rows),
        "n_images": len(files.paths),
        "missing": [],
        "unreadable": skipped,
        "seconds": round(seconds, 3),
    }
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    several = len(set(files.sources)) > 1
    if several:
        result["per_source"] = per_source_metrics(y, pred, files.sources, run.labels)
    result["predictions"] = [
        {
            "path": files.rel_paths[i],
            "true": run.labels[y[i]],
            "pred": run.labels[pred[i]],
            "confidence": float(conf[i]),
            "probs": [round(float(v), 6) for v in probs[i]],
            **({"source": files.sources[i]} if several else {}),
        }
        for i in range(len(y))
    ]
    wrong = np.nonzero(pred != y)[0]
    right = np.nonzero(pred == y)[0]
    result["misclassified"] = [files.rel_paths[i] for i in wrong[np.argsort(-conf[wrong], kind="stable")]]
    result["low_confidence_correct"] = [files.rel_paths[i] for i in right[np.argsort(conf[right], kind="stable")][:50]]
    return result


def evaluate_source(
    run_dir: str | Path,
    source: str,
    *,
    batch_size: int = 64,
    engine: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    write: bool = True,
) -> dict:
    """Evaluate a run on every image (train, val and test) of one source of its split, which the
    run must have held out (``hold_out_source``): the honest figure for a sensor it never saw."""

    run = read_run(run_dir)
    held = (run.config.get("params") or {}).get("hold_out_source")
    if held != source:
        raise LandguiError(
            f"{run.run_dir} was not trained with source {source!r} held out"
            + (f" (it held out {held!r})" if held else "")
            + ": its images of that source may be training images"
        )
    manifest = load_split(run.config["split"])
    if source not in source_names(manifest):
        raise LandguiError(f"source {source!r} is not in the run's split {manifest['_path']}")
    files, missing = D.split_files(manifest, tuple(SPLITS), run.labels, missing_ok=True, only_source=source)
    if not files.paths:
        raise LandguiError(f"source {source!r} has no images to evaluate ({len(missing)} missing)")
    present = sorted({int(i) for i in files.labels})
    result = _evaluate_files(
        run,
        files,
        f"holdout-{source}",
        rows=present,
        batch_size=batch_size,
        progress=progress,
        should_stop=should_stop,
        engine=engine,
    )
    result["held_out_source"] = source
    result["missing"] = missing
    result["dataset_root"] = manifest["dataset_root"]
    result["split_file"] = manifest["_path"]
    result["missing_classes"] = [c for i, c in enumerate(run.labels) if i not in present]
    if write:
        write_results(output_dir_for(run.run_dir), result)
    return result


def data_name(folder: str | Path) -> str:
    """The name an evaluation on a folder is stored under: ``data-<folder name>``."""
    import re

    base = Path(folder).resolve().name or "folder"
    return "data-" + re.sub(r"[^A-Za-z0-9._-]+", "_", base)


def evaluate_folder(
    run_dir: str | Path,
    folder: str | Path,
    *,
    ignore_unknown: bool = False,
    adapt: bool = False,
    engine: str = "auto",
    batch_size: int = 64,
    out_dir: str | Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    write: bool = True,
) -> dict:
    """Evaluate a run on any class-folder dataset (the user's own test of the domain gap).

    The folder is scanned like ``split`` does (bad files reported, not fatal). Its classes are
    matched to the model's by name; a folder class the model does not know is an error unless
    ``ignore_unknown`` (its images are then left out and listed). Model classes absent from the
    folder are reported under ``missing_classes`` and have no row. Written as
    ``evaluation-data-<folder name>.json`` etc. (``...-adapted`` with ``adapt``), never over a
    split's evaluation.
    """

    run = read_run(run_dir)
    scan = scan_dataset(folder, progress=progress, should_stop=should_stop)
    index = {c: i for i, c in enumerate(run.labels)}
    unknown = [c for c in scan.classes if c not in index]
    if unknown and not ignore_unknown:
        raise LandguiError(
            f"the folder's class(es) {unknown} are not among the model's classes {run.labels}; "
            "rename the folders to match, or ignore them (--ignore-unknown)"
        )
    records = [r for r in scan.images if r.label in index]
    if not records:
        raise LandguiError(f"no images of the model's classes {run.labels} in {folder}")
    root = Path(scan.root)
    files = D.SplitFiles(
        [str(root / r.path) for r in records],
        np.array([index[r.label] for r in records], np.int32),
        [r.path for r in records],
    )
    present = sorted({index[r.label] for r in records})
    name = data_name(folder) + ("-adapted" if adapt else "")
    result = _evaluate_files(
        run,
        files,
        name,
        rows=present,
        batch_size=batch_size,
        progress=progress,
        should_stop=should_stop,
        adapt=adapt,
        engine=engine,
    )
    result["data_folder"] = str(root)
    result["dataset_root"] = str(root)
    result["missing_classes"] = [c for c in run.labels if index[c] not in present]
    result["ignored_classes"] = {c: sum(1 for r in scan.images if r.label == c) for c in unknown}
    result["skipped"] = [{"path": b.path, "reason": b.reason} for b in scan.bad_files]
    if write:
        write_results(Path(out_dir) if out_dir else output_dir_for(run.run_dir), result)
    return result


def write_results(run_dir: Path, result: dict) -> None:
    """The report files, each written whole (see :mod:`landgui.core.base.atomic`); the JSON last, as
    the marker that this evaluation is complete (an older one is removed first)."""

    split = result["split"]
    ensure_writable_dir(run_dir, "the evaluation folder")
    result["written_to"] = str(run_dir)
    folder = RunFolder(run_dir)
    marker = folder.evaluation_file(split)
    try:
        marker.unlink(missing_ok=True)
    except OSError as exc:
        raise write_error(marker, exc) from None
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "true", "pred", "confidence", *[f"p_{lab}" for lab in result["labels"]]])
    for p in result["predictions"]:
        w.writerow([p["path"], p["true"], p["pred"], f"{p['confidence']:.6f}", *[f"{v:.6f}" for v in p["probs"]]])
    write_text_atomic(run_dir / f"predictions-{split}.csv", buf.getvalue())
    with atomic_path(run_dir / f"confusion-{split}.png") as tmp:
        confusion_figure(result).savefig(tmp, dpi=110, format="png")
    with atomic_path(run_dir / f"per-class-{split}.png") as tmp:
        per_class_figure(result).savefig(tmp, dpi=110, format="png")
    folder.write_evaluation(split, result)


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
    """Heatmap of the row-normalised confusion matrix with counts (matplotlib object API)."""
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
    fig, ax = _figure_axes(figure, (6, 3.5))
    labels = result.get("row_labels") or result["labels"]
    x = np.arange(len(labels))
    for k, (m, colour) in enumerate((("precision", "#0072B2"), ("recall", "#E69F00"), ("f1", "#009E73"))):
        ax.bar(x + (k - 1) * 0.27, [result["per_class"][lab][m] for lab in labels], 0.27, label=m, color=colour)
    ax.set_xticks(x, labels, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower right")
    ax.set_title("per-class precision / recall / F1")
    return fig


def report_text(result: dict) -> str:
    labels = result["labels"]
    rows = result.get("row_labels") or labels
    w = max([len(lab) for lab in labels] + [12])
    if result.get("held_out_source"):
        what = (
            f"held-out source {result['held_out_source']} (every image of it; the model was trained and "
            "selected on the other sources only, so this is how the recipe does on a sensor it never saw)"
        )
    else:
        what = f"folder {result['data_folder']}" if result.get("data_folder") else f"{result['split']} split"
    what += " (adapted to it)" if result.get("adapted") else ""
    lines = [
        f"{what}: {result['n_images']} images"
        + (f" ({len(result['missing'])} missing files not evaluated)" if result["missing"] else "")
        + (
            f" ({len(result['unreadable'])} unreadable files left out: "
            + ", ".join(f"{u['path']} ({u['reason']})" for u in result["unreadable"][:5])
            + (", ..." if len(result["unreadable"]) > 5 else "")
            + ")"
            if result.get("unreadable")
            else ""
        ),
        f"accuracy {result['accuracy']:.4f}   balanced accuracy {result['balanced_accuracy']:.4f}"
        + (f"   top-2 accuracy {result['top2_accuracy']:.4f}" if result["top2_accuracy"] is not None else ""),
        "",
        f"{'class':<{w}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}",
    ]
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
    if result.get("per_source"):
        names = list(result["per_source"])
        sw = max(max(len(n) for n in names), 8)
        lines += ["", "per source: accuracy, then recall per class (images)"]
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
    if result["misclassified"]:
        lines += ["", f"misclassified: {len(result['misclassified'])} (most confidently wrong first)"]
        by_path = {p["path"]: p for p in result["predictions"]}
        for path in result["misclassified"][:10]:
            p = by_path[path]
            lines.append(f"  {path}: {p['true']} -> {p['pred']} ({p['confidence']:.2f})")
    return "\n".join(lines)


def load_evaluation(run_dir: str | Path, split: str = "test") -> dict | None:
    """A written evaluation (``evaluation-<split>.json``), or None when it is missing or damaged."""

    return RunFolder(run_dir).evaluation(split)
