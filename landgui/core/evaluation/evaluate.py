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
The figures are computed by :mod:`.metrics` with NumPy (the tests check them against
scikit-learn); the files and the printed report are made by :mod:`.report`.

``evaluate_source(RUN_DIR, NAME)`` evaluates a run trained with ``hold_out_source=NAME`` on every
image of that source (all three splits: the run saw none of them), as ``evaluation-holdout-NAME``;
``evaluate_folder(RUN_DIR, FOLDER)`` on any class-folder dataset, as ``evaluation-data-<folder>``.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.data import images as D
from landgui.core.data.integrity import check_unchanged
from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import SPLITS, load_split, source_names, split_hash
from landgui.core.evaluation.metrics import metrics, per_source_metrics
from landgui.core.evaluation.report import write_results
from landgui.core.inference.adaptation import adapt_model
from landgui.core.inference.engine import KerasPredictor, load_predictor
from landgui.core.inference.predictors import predict_batches
from landgui.core.runs.folder import RunFolder, RunMeta, output_dir_for, read_run

SCHEMA = "landgui.evaluation"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class _Predict:
    """How the images are predicted: the public functions' shared keyword arguments, passed on as one."""

    batch_size: int = 64
    progress: ProgressFn | None = None
    should_stop: StopFn | None = None
    adapt: bool = False
    engine: str = "auto"


def evaluate_run(
    run_dir: str | Path,
    split: str = "test",
    *,
    split_path: str | Path | None = None,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    write: bool = True,
    adapt: bool = False,
    engine: str = "auto",
    out_dir: str | Path | None = None,
    allow_other_split: bool = False,
) -> dict:
    """Evaluate a run on one split of its split.json and write the report files (see the module doc).

    The split must be the one the run was trained on (same split hash); another split is refused
    unless ``allow_other_split``, and the result then says ``other_split: true``. ``adapt`` first
    re-estimates the model's batch-norm statistics on the split's images (``<split>-adapted``);
    ``out_dir`` writes the files there instead of next to the run. Returns the evaluation record.
    """
    if split not in SPLITS:
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
    result = _evaluate_manifest(
        run,
        manifest,
        split,
        f"{split}-adapted" if adapt else split,
        f"the {split} split",
        _Predict(batch_size, progress, should_stop, adapt, engine),
    )
    result["other_split"] = bool(other)
    return _written(run, result, out_dir, write)


def evaluate_source(
    run_dir: str | Path,
    source: str,
    *,
    batch_size: int = 64,
    engine: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    write: bool = True,
) -> dict:
    """Evaluate a run on every image (train, val and test) of one source of its split.

    The run must have held that source out (``hold_out_source``), so it saw none of its images:
    the honest figure for a sensor it never saw. Classes the source has no images of get no row
    (``missing_classes``). Written as ``evaluation-holdout-<source>``; returns the record.
    """
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
    result = _evaluate_manifest(
        run,
        manifest,
        tuple(SPLITS),
        f"holdout-{source}",
        f"source {source!r}",
        _Predict(batch_size, progress, should_stop, engine=engine),
        only_source=source,
        first={"held_out_source": source},
    )
    return _written(run, result, None, write)


def data_name(folder: str | Path) -> str:
    """The name an evaluation on a folder is stored under: ``data-<folder name>-<hash>``, the hash
    of its absolute path, so ``data/aid`` and ``data2/aid`` never replace each other's evaluation
    (the record's ``data_folder`` says which folder it was)."""
    path = Path(folder).resolve()
    tag = hashlib.sha256(os.fsencode(path)).hexdigest()[:8]
    return f"data-{re.sub(r'[^A-Za-z0-9._-]+', '_', path.name or 'folder')}-{tag}"


def evaluate_folder(
    run_dir: str | Path,
    folder: str | Path,
    *,
    ignore_unknown: bool = False,
    adapt: bool = False,
    engine: str = "auto",
    batch_size: int = 64,
    out_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    write: bool = True,
) -> dict:
    """Evaluate a run on any class-folder dataset (the user's own test of the domain gap).

    The folder is scanned like ``split`` does (bad files reported, not fatal). Its classes are
    matched to the model's by name; a folder class the model does not know is an error unless
    ``ignore_unknown`` (its images are then left out and listed). Model classes absent from the
    folder are reported under ``missing_classes`` and have no row. Written as
    ``evaluation-data-<folder name>-<hash>.json`` etc. (``...-adapted`` with ``adapt``), never over a
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
    present = _present(files)
    result = _evaluate_files(
        run,
        files,
        data_name(folder) + ("-adapted" if adapt else ""),
        _Predict(batch_size, progress, should_stop, adapt, engine),
        rows=present,
    )
    result["data_folder"] = str(root)
    result["dataset_root"] = str(root)
    result["missing_classes"] = _absent(run.labels, present)
    result["ignored_classes"] = {c: sum(1 for r in scan.images if r.label == c) for c in unknown}
    # a README.txt beside the class folders was only ignored: not an unusable file
    result["skipped"] = [{"path": b.path, "reason": b.reason} for b in scan.bad_files if not b.ignored]
    return _written(run, result, out_dir, write)


def load_evaluation(run_dir: str | Path, split: str = "test") -> dict | None:
    """A written evaluation (``evaluation-<split>.json``), or None when it is missing or damaged."""
    return RunFolder(run_dir).evaluation(split)


def _present(files: D.SplitFiles) -> list[int]:
    """The class indices that have at least one file (the report's rows)."""
    return sorted({int(i) for i in files.labels})


def _absent(labels: list[str], present: list[int]) -> list[str]:
    """The class names without a file (``missing_classes``)."""
    return [c for i, c in enumerate(labels) if i not in present]


def _written(run: RunMeta, result: dict, out_dir: str | Path | None, write: bool) -> dict:
    """``result``, after writing its files to ``out_dir`` (default: the run's output folder) if ``write``."""
    # which model was measured: an evaluation of a model since replaced (resume, overwrite, a run
    # still training) is then known as stale (RunFolder.evaluation)
    result["model_sha256"] = RunFolder(run.run_dir).model_sha256()
    if write:
        write_results(Path(out_dir) if out_dir else output_dir_for(run.run_dir), result)
    return result


def _evaluate_manifest(
    run: RunMeta,
    manifest: dict,
    splits: str | tuple[str, ...],
    name: str,
    what: str,
    predict: _Predict,
    *,
    only_source: str | None = None,
    first: dict | None = None,
) -> dict:
    """Evaluate the files of ``splits`` of a split manifest (nothing written).

    ``what`` names them in the error when none is left. With ``only_source`` only that source's
    files count and only the classes it has get a row (``missing_classes`` lists the others).
    ``first``: keys that precede the manifest's in the record.
    """
    check_unchanged(manifest, splits)  # an image replaced since the split was made is refused
    files, missing = D.split_files(manifest, splits, run.labels, missing_ok=True, only_source=only_source)
    if not files.paths:
        raise LandguiError(f"{what} has no images to evaluate ({len(missing)} missing)")
    present = _present(files) if only_source else None
    result = _evaluate_files(run, files, name, predict, rows=present)
    result.update(first or {})
    result["missing"] = missing
    result["dataset_root"] = manifest["dataset_root"]
    result["split_file"] = manifest["_path"]
    if present is not None:
        result["missing_classes"] = _absent(run.labels, present)
    return result


def _batches(
    paths: list[str], size: int, batch: int, pool: ThreadPoolExecutor, unreadable: dict[str, str]
) -> Iterator[np.ndarray]:
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


def _evaluate_files(
    run: RunMeta,
    files: D.SplitFiles,
    name: str,
    predict: _Predict,
    *,
    rows: list[int] | None = None,
) -> dict:
    """Predict the files with the run's model and build the evaluation record (nothing written).

    Files that cannot be decoded are left out of every figure and listed under ``unreadable``.
    """
    adapt, progress, should_stop = predict.adapt, predict.progress, predict.should_stop
    t0 = time.perf_counter()
    model = load_predictor(run.run_dir, "keras" if adapt else predict.engine, progress=progress)
    if adapt:
        adapted = adapt_model(
            model.keras_model(), run.image_size, files.paths, progress=progress, should_stop=should_stop
        )
        model = KerasPredictor(adapted, run.run_dir, run.labels, run.image_size)
    unreadable: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        probs = predict_batches(
            model,
            _batches(files.paths, run.image_size, predict.batch_size, pool, unreadable),
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
    result.update(_predictions(files, probs, run.labels))
    return result


def _predictions(files: D.SplitFiles, probs: np.ndarray, labels: list[str]) -> dict:
    """The record's per-image part: ``per_source`` (several sources only), ``predictions``,
    ``misclassified`` (most confidently wrong first) and ``low_confidence_correct`` (at most 50)."""
    y = files.labels
    pred = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    several = len(set(files.sources)) > 1
    out: dict = {}
    if several:
        out["per_source"] = per_source_metrics(y, pred, files.sources, labels)
    out["predictions"] = [
        {
            "path": files.rel_paths[i],
            "true": labels[y[i]],
            "pred": labels[pred[i]],
            "confidence": float(conf[i]),
            "probs": [round(float(v), 6) for v in probs[i]],
            **({"source": files.sources[i]} if several else {}),
        }
        for i in range(len(y))
    ]
    wrong = np.nonzero(pred != y)[0]
    right = np.nonzero(pred == y)[0]
    out["misclassified"] = [files.rel_paths[i] for i in wrong[np.argsort(-conf[wrong], kind="stable")]]
    out["low_confidence_correct"] = [files.rel_paths[i] for i in right[np.argsort(conf[right], kind="stable")][:50]]
    return out
