"""Teach a run your scene: retrain its head on a few labelled patches (corrections), in seconds.

A transfer run is a frozen backbone and a small head. Fine-tuning keeps the backbone, computes
its features for the corrections (with a few augmented views each) and for a seeded sample of
the parent's own training images (so the classes the corrections do not mention are not
forgotten), and trains a copy of the head on both, each correction weighted ``weight`` times.
The result is a new run folder whose ``config.json`` names the parent and the corrections; the
parent is never changed.

Where the parent's training images are not on this machine (the shipped model), the bundled
sample dataset stands in for them. Features of the parent's images are cached (user cache,
keyed by the model's hash and the files), so a second fine-tune of the same parent starts at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base import logs
from landgui.core.base.atomic import atomic_path
from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.base.outdir import folder_lock
from landgui.core.base.paths import cache_dir, file_sha256
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.data import images as D
from landgui.core.data.sample import sample_dataset_dir
from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import load_split
from landgui.core.inference import engine
from landgui.core.inference.familiarity import FAMILIARITY_FILE
from landgui.core.inference.features import Extract, compiled, extract_features, features_with_views
from landgui.core.models.build import load_run, split_model
from landgui.core.models.head import LinearHead, train_head
from landgui.core.params import CORRECTION_WEIGHT, FINETUNE_EPOCHS, REPLAY_PER_CLASS, FinetuneParams, TrainParams
from landgui.core.runs.folder import RunFolder, is_shipped, read_run
from landgui.core.training.recipes import augment_recipe
from landgui.core.training.rundir import prepare_run_dir

CORRECTION_VIEWS = 4  # augmented views per correction besides the image itself


@dataclass
class FinetuneResult:
    """What a fine-tune wrote: the new run, its corrections per class, the replayed images, epochs."""

    run_dir: str
    seconds: float
    corrections: dict[str, int]
    replay: int
    replay_source: str
    epochs: int
    history: list[dict] = field(default_factory=list)


def labelled_files(folder: str | Path, labels: list[str]) -> tuple[list[str], np.ndarray]:
    """The usable images of a class-folder dataset with label indices of ``labels`` (by name)."""

    scan = scan_dataset(folder)
    unknown = sorted({r.label for r in scan.images} - set(labels))
    if unknown:
        raise LandguiError(f"{folder}: class(es) {unknown} are not classes of the model {labels}")
    if not scan.images:
        raise LandguiError(f"{folder} holds no usable labelled images (one sub-folder per class)")
    root = Path(scan.root)
    return [str(root / r.path) for r in scan.images], np.array([labels.index(r.label) for r in scan.images], np.int32)


def replay_files(meta: Any, per_class: int = REPLAY_PER_CLASS, seed: int = 0) -> tuple[list[str], np.ndarray, str]:
    """A seeded sample of the parent's training images: its split's train part, else (the
    shipped model) the bundled sample dataset; nothing if neither is here."""

    try:
        manifest = load_split(meta.config["split"])
        files, _ = D.split_files(manifest, "train", meta.labels, missing_ok=True)
        paths, y, source = files.paths, files.labels, f"the parent's training split {manifest['_path']}"
    except (LandguiError, KeyError, OSError):
        if not is_shipped(meta.run_dir):
            return [], np.zeros(0, np.int32), "none (the parent's training split is not on this machine)"
        paths, y = labelled_files(sample_dataset_dir(), meta.labels)
        source = "the bundled sample dataset (the shipped model's training images are not installed)"
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.nonzero(y == k)[0])[:per_class] for k in range(len(meta.labels))])
    keep.sort()
    return [paths[i] for i in keep], y[keep], source


def _cache_dir() -> Path:
    return cache_dir() / "features"


def _cached_features(key: str, extract: Extract, paths: list[str], size: int, **kw: Any) -> np.ndarray:
    """:func:`~landgui.core.inference.features.extract_features` of image files, kept in the user
    cache under ``key`` (the model) and the files' names, sizes and times."""
    h = hashlib.sha256(f"{key}\n{size}\n".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    path = _cache_dir() / f"{h.hexdigest()[:32]}.npy"
    try:
        return np.load(path)
    except (OSError, ValueError):
        pass
    feats = extract_features(extract, paths, size=size, **kw)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.save(tmp, feats)
    except (OSError, LandguiError):
        pass  # a cache that cannot be written only costs time
    return feats


@dataclass
class FinetunePlan:
    """What a fine-tune will do, checked before anything is computed or written."""

    meta: Any  # the parent's RunMeta
    out: Path
    add: list[str]  # the corrections folders, this round's and the earlier rounds'
    paths: list[str]  # the corrections' images
    labels: np.ndarray  # their class indices
    params: FinetuneParams = field(default_factory=FinetuneParams)
    overwrite: bool = False


@dataclass
class FittedHead:
    """The retrained head, and how it was trained."""

    head: Any  # landgui.core.models.head.LinearHead
    history: list[dict]
    replay: int
    replay_source: str
    views: int
    features: str  # "litert" (the parent's LiteRT backbone, no TensorFlow) or "keras"
    predictor: Any = None  # fast path: the parent's LiteRT backbone with the new head, maps at once


def plan_finetune(
    parent: str | Path,
    add: list[str | Path],
    out: str | Path,
    params: FinetuneParams | None = None,
    *,
    overwrite: bool = False,
) -> FinetunePlan:
    """Check a fine-tune's inputs (one clear error, nothing written)."""
    params = params or FinetuneParams()
    params.check()
    if not add:
        raise LandguiError("give at least one folder of corrections (--add FOLDER)")
    meta = read_run(parent)
    out = Path(out)
    if out.resolve() == meta.run_dir.resolve():
        raise LandguiError("the fine-tuned run needs its own folder: --out must differ from the parent run")
    if RunFolder(out).is_run and not overwrite:
        raise LandguiError(f"{out} already holds a run; use --overwrite to replace it")
    if (meta.config.get("model") or {}).get("model", "transfer") != "transfer":
        raise LandguiError("fine-tuning on corrections needs a transfer run (a backbone and a head); this is not one")
    # a run fine-tuned before keeps learning from its earlier corrections (a second round adds to them)
    earlier = [f for f in (meta.config.get("finetune") or {}).get("corrections", []) if Path(f).is_dir()]
    # each folder once, however often it is given (``--add A --add A`` would count A twice)
    folders = list({Path(f).resolve(): str(f) for f in [*add, *earlier]}.values())
    for folder in folders:
        root = Path(folder).resolve()
        if out.resolve() == root or out.resolve().is_relative_to(root):
            raise LandguiError(
                f"refusing to write the fine-tuned run inside the corrections folder {folder}; choose an --out "
                "outside it (a new folder there would be read as a class)"
            )
    paths: list[str] = []
    ys: list[np.ndarray] = []
    for folder in folders:
        p, y = labelled_files(folder, meta.labels)
        paths += p
        ys.append(y)
    return FinetunePlan(meta, out, folders, paths, np.concatenate(ys), params, overwrite)


def _litert_backbone(meta: Any) -> Any:
    """The parent's LiteRT predictor if it is a backbone with a NumPy head (features without
    TensorFlow), else None. Uses the model already loaded for mapping when there is one."""

    if not engine.litert_available() or engine.current_litert_file(meta.run_dir) is None:
        return None  # no conversion here (20 s): the Keras backbone is quicker for a few images
    try:
        pred = engine.cached_predictor(meta.run_dir, "litert")
    except LandguiError:
        return None
    return pred if getattr(pred, "has_features", False) else None


def fit_head(
    plan: FinetunePlan, *, progress: ProgressFn | None = None, should_stop: StopFn | None = None
) -> FittedHead:
    """Retrain the parent's head on the corrections (with augmented views, weighted) and a sample
    of the parent's training images. With the parent's LiteRT backbone (the usual case) no
    TensorFlow is needed: a second or two; else the Keras backbone computes the features."""

    meta, params = plan.meta, plan.params
    base = _litert_backbone(meta)
    if base is not None:
        extract, parent_head, kind = base.features, base.head, "litert"
    else:
        backbone, head = split_model(load_run(meta.run_dir).model)
        extract, parent_head, kind = compiled(backbone), LinearHead.from_keras(head), "keras"
    size = meta.image_size
    recipe = augment_recipe(TrainParams.from_dict(meta.config["params"])) if "params" in meta.config else None
    rpaths, ry, source = replay_files(meta, params.replay_per_class, params.seed)
    fr = _cached_features(
        f"{file_sha256(meta.run_dir / 'model.keras')}:{kind}",
        extract,
        rpaths,
        size,
        progress=progress,
        should_stop=should_stop,
        stage="features of the parent's images",
    )
    views = CORRECTION_VIEWS if recipe is not None else 0
    fc = features_with_views(
        extract,
        plan.paths,
        size=size,
        views=views,
        recipe=recipe,
        seed=params.seed,
        progress=progress,
        should_stop=should_stop,
        stage="features of the corrections",
    )
    x = np.concatenate([fr, fc]) if len(fr) else fc
    y = np.concatenate([ry, np.tile(plan.labels, 1 + views)])
    w = np.concatenate([np.ones(len(fr), np.float32), np.full(len(fc), params.weight / (1 + views), np.float32)])
    new, history = train_head(
        parent_head, x, y, w, epochs=params.epochs, seed=params.seed, progress=progress, should_stop=should_stop
    )
    predictor = base.with_head(new, plan.out.resolve(), meta.labels) if base is not None else None
    return FittedHead(new, history, len(rpaths), source, views, kind, predictor)


def save_finetuned(
    plan: FinetunePlan,
    fitted: FittedHead,
    *,
    export_litert: bool = True,
    seconds: float = 0.0,
    progress: ProgressFn | None = None,
) -> FinetuneResult:
    """Write the new run: model.keras (the parent's backbone and the new head), config naming
    the parent and the corrections, labels, palette, history, status; its LiteRT model is the
    parent's file plus the new head (no conversion) where the parent has one, else converted
    when ``export_litert``."""
    import keras

    t0 = time.monotonic()
    meta, out = plan.meta, plan.out
    if progress:
        progress("saving the new run", 0, 1)
    loaded = load_run(meta.run_dir)
    backbone, head = split_model(loaded.model)
    with folder_lock(out):  # one writer of the new run at a time
        prepare_run_dir(out, plan.overwrite)  # only once everything is known to work: a refused job writes nothing
        size = meta.image_size
        inp = keras.Input((size, size, 3), name="image")
        model = keras.Model(inp, fitted.head.to_keras(head)(backbone(inp, training=False)), name=loaded.model.name)
        with atomic_path(out / "model.keras") as tmp:  # a full disk leaves no truncated model.keras
            model.save(tmp)
        counts = {lab: int((plan.labels == k).sum()) for k, lab in enumerate(meta.labels) if (plan.labels == k).any()}
        config = {
            **meta.config,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "parent": str(meta.run_dir.resolve()),
            "finetune": {
                "corrections": [str(Path(f).resolve()) for f in plan.add],
                "counts": counts,
                "weight": plan.params.weight,
                "epochs": plan.params.epochs,
                "views": fitted.views,
                "replay": fitted.replay,
                "replay_source": fitted.replay_source,
                "seed": plan.params.seed,
                "features": fitted.features,
            },
        }
        for key in ("shipped", "devices", "strategy", "earlier_devices"):  # the parent's, not this run's
            config.pop(key, None)
        folder = RunFolder(out)
        folder.write_config(config)
        folder.write_labels(meta.labels)
        folder.copy_palette_from(RunFolder(meta.run_dir))

        if (meta.run_dir / FAMILIARITY_FILE).is_file():  # same backbone, same training data behind it
            with atomic_path(out / FAMILIARITY_FILE) as tmp:
                shutil.copyfile(meta.run_dir / FAMILIARITY_FILE, tmp)
        folder.write_history([{"stage": "fine-tune on corrections", **h, "seconds": 0.0} for h in fitted.history])
        litert_error = None
        if fitted.predictor is not None:  # same backbone: the parent's LiteRT file serves, with the new head
            engine.share_litert(fitted.predictor.path, out, fitted.head)
            engine.remember_predictor(fitted.predictor)
        else:
            engine.remember_predictor(engine.KerasPredictor(model, out.resolve(), meta.labels, size))
            if export_litert and engine.litert_available():
                if progress:
                    progress("exporting the model for fast mapping (LiteRT)", 0, 1)
                try:
                    engine.litert_file(out, model=model)
                except LandguiError as exc:
                    litert_error = str(exc)
        seconds += time.monotonic() - t0
        folder.write_status(
            {
                "status": "completed",
                "stage": "done",
                "epochs_done": len(fitted.history),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **({"litert_error": litert_error} if litert_error else {}),
            },
        )
        result = FinetuneResult(
            str(out), seconds, counts, fitted.replay, fitted.replay_source, len(fitted.history), fitted.history
        )
        logs.log.info("fine-tuned %s on %s into %s in %.1f s", meta.run_dir, counts, out, seconds)
        folder.write_finetune(asdict(result))
        return result


def finetune(
    parent: str | Path,
    add: list[str | Path],
    out: str | Path,
    *,
    epochs: int = FINETUNE_EPOCHS,
    weight: float = CORRECTION_WEIGHT,
    replay_per_class: int = REPLAY_PER_CLASS,
    seed: int = 0,
    overwrite: bool = False,
    export_litert: bool = True,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> FinetuneResult:
    """A new run: ``parent``'s head retrained on the images of the ``add`` class folders (each
    counting ``weight`` times) plus a sample of the parent's training images. The keywords are
    :class:`~landgui.core.params.FinetuneParams`' fields, as the CLI's flags name them."""
    t0 = time.monotonic()
    params = FinetuneParams(epochs=epochs, weight=weight, replay_per_class=replay_per_class, seed=seed)
    plan = plan_finetune(parent, add, out, params, overwrite=overwrite)
    fitted = fit_head(plan, progress=progress, should_stop=should_stop)
    if should_stop and should_stop():
        raise Cancelled()
    return save_finetuned(plan, fitted, export_litert=export_litert, seconds=time.monotonic() - t0, progress=progress)
