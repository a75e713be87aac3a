"""The two recipes a run trains with, on the data :func:`load_data` prepares.

``scratch`` (:func:`train_scratch`) trains one stage. ``transfer`` (:func:`train_transfer`) stage
1 trains the head on the frozen backbone using the fast path (backbone features computed once by
:func:`landgui.core.inference.features.extract_features`, the head trained on them: seconds per
epoch; with ``feature_views`` augmented views of every training image and, optionally, synthetic
clouds), stage 2 fine-tunes the top backbone layers on augmented images at lr/10. Early stopping
on val_loss (patience) restores the best weights at the end of each stage. A fast-path run keeps
its training features' footprint in familiarity.npz (the unfamiliarity score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from landgui.core.data import images as D
from landgui.core.data.augment import NO_AUGMENTATION, Recipe
from landgui.core.data.clouds import synthetic_cloud_sets
from landgui.core.data.split import load_split
from landgui.core.inference.adaptation import MAX_ADAPT_IMAGES, recalibrate_bn
from landgui.core.inference.familiarity import FAMILIARITY_FILE, Familiarity
from landgui.core.inference.features import Extract, compiled, extract_features
from landgui.core.models.build import build_scratch, build_transfer, set_fine_tune
from landgui.core.params import TrainParams
from landgui.core.training.callbacks import fit_stage
from landgui.core.training.session import TrainingSession

LOSS = "sparse_categorical_crossentropy"


def augment_recipe(params: TrainParams) -> Recipe:
    """The augmentation recipe in force (NO_AUGMENTATION when augmentation is off)."""
    if not params.augment:
        return NO_AUGMENTATION
    return Recipe(**params.recipe) if params.recipe else Recipe()


@dataclass
class TrainingData:
    """A run's training and validation images as one process trains on them."""

    train: D.SplitFiles
    val: D.SplitFiles  # the training images when the split has no validation part
    cached_train: np.ndarray | None  # decoded images, when they fit in memory
    cached_val: np.ndarray | None
    train_aug: Any  # tf.data.Dataset of (augmented) training batches
    val_ds: Any  # tf.data.Dataset of validation batches
    w_train: np.ndarray | None  # per-image source-balance weights (several sources)
    w_val: np.ndarray | None

    @property
    def train_images(self) -> np.ndarray | list[str]:
        """The training images in memory, else their files (decoded where they are used)."""
        return self.cached_train if self.cached_train is not None else self.train.paths

    @property
    def val_images(self) -> np.ndarray | list[str]:
        """The validation images in memory, else their files."""
        return self.cached_val if self.cached_val is not None else self.val.paths


def load_data(s: TrainingSession) -> TrainingData:
    """The run's split, without its held-out source, decoded into memory when it fits, as datasets."""
    p, classes, size = s.params, s.spec.classes, s.spec.image_size
    manifest = load_split(s.config["split"])
    train, _ = D.split_files(manifest, "train", classes, exclude_source=p.hold_out_source)
    val, _ = D.split_files(manifest, "val", classes, exclude_source=p.hold_out_source)
    if len(val.paths) == 0:
        val = train  # no validation split: monitor the training loss instead
    w_train = w_val = None
    if p.balance_sources and len(set(train.sources)) > 1:
        w_train = D.source_balance_weights(train, len(classes))
        w_val = D.source_balance_weights(val, len(classes))
    s.status.set("running", stage="loading")
    cached_train = cached_val = None
    if D.fits_in_cache(len(train.paths) + len(val.paths), size):
        cached_train = D.decode_all(train.paths, size, s.stage_progress, s.should_stop, "loading train")
        cached_val = D.decode_all(val.paths, size, s.stage_progress, s.should_stop, "loading val")
    train_aug = D.make_dataset(
        train,
        size,
        p.batch_size,
        training=True,
        augment=p.augment,
        seed=p.seed,
        cached=cached_train,
        recipe=augment_recipe(p),
        weights=w_train,
    )
    val_ds = D.make_dataset(
        val, size, p.batch_size, training=False, augment=False, seed=p.seed, cached=cached_val, weights=w_val
    )
    return TrainingData(train, val, cached_train, cached_val, train_aug, val_ds, w_train, w_val)


def _adam(lr: float) -> Any:
    import keras

    return keras.optimizers.Adam(lr)


def train_scratch(s: TrainingSession, data: TrainingData) -> Any:
    """The scratch CNN trained in one stage ("train"); returns the model with its best weights."""
    model = build_scratch(s.spec)
    model.compile(optimizer=_adam(s.params.lr), loss=LOSS, metrics=["accuracy"])
    s.record.resume_into(model, s.params.lr)
    s.record.dir.mkdir(exist_ok=True)
    fit_stage(s, model, data.train_aug, data.val_ds, 1, "train", s.params.epochs, model)
    if not s.stopped:
        s.record.restore_best(model)
    return model


def train_transfer(s: TrainingSession, data: TrainingData) -> Any:
    """Head stage then, with ``fine_tune_epochs``, the fine-tune stage (module doc); returns the
    whole model with the best weights (the head stage's if fine-tuning never beat them)."""
    p, book = s.params, s.record
    model, backbone, head = build_transfer(s.spec)
    opt1 = _adam(p.lr)
    book.dir.mkdir(exist_ok=True)
    stage = book.state.get("stage", 1)
    extract = compiled(backbone)
    if p.source_bn:
        _source_statistics(s, backbone, data)
    if stage == 1:
        if p.fast_path:
            _fast_path_head(s, data, extract, head, opt1, model)
        else:
            model.compile(optimizer=opt1, loss=LOSS, metrics=["accuracy"])
            book.resume_into(model, p.lr)
            fit_stage(s, model, data.train_aug, data.val_ds, 1, "head", p.epochs, model)
        if s.stopped:
            return model
        book.restore_best(head if p.fast_path else model)
    if p.fine_tune_epochs > 0 and s.spec.fine_tune_layers > 0:
        book.start_fine_tune(model, first_time=stage == 1 or book.state.get("stage") != 2)
        set_fine_tune(backbone, s.spec.fine_tune_layers, head)
        model.compile(optimizer=_adam(p.lr / 10), loss=LOSS, metrics=["accuracy"])
        book.resume_into(model, p.lr)
        fit_stage(s, model, data.train_aug, data.val_ds, 2, "fine-tune", p.fine_tune_epochs, model)
        if not s.stopped:
            if book.state.get("best_stage") == 2:
                book.restore_best(model)
                # the backbone changed: the training data's footprint is measured again
                _save_familiarity(
                    s,
                    _features(s, extract, data.train_images, "features train"),
                    _features(s, extract, data.val_images, "features val"),
                )
            else:  # fine-tuning never beat the head alone
                book.load_stage1(model)
    return model


def _fast_path_head(s: TrainingSession, data: TrainingData, extract: Extract, head: Any, opt: Any, model: Any) -> None:
    """Stage 1 on backbone features: the training images' (and ``feature_views`` augmented views'
    and synthetic clouds') features, the head fitted on them; familiarity.npz from the un-augmented ones."""
    import tensorflow as tf

    p = s.params
    ftr = _features(s, extract, data.train_images, "features train")
    ytr = data.train.labels
    if p.augment and p.feature_views > 0:
        views = [ftr]
        for v in range(p.feature_views):
            stage = f"features view {v + 1}"
            views.append(_features(s, extract, data.train_images, stage, augment_seed=p.seed * 1000 + v))
        ftr = np.concatenate(views)
        ytr = np.tile(data.train.labels, len(views))
    fval = _features(s, extract, data.val_images, "features val")
    wtr = None if data.w_train is None else np.tile(data.w_train, len(ftr) // len(data.w_train))
    ftr, ytr, wtr = _synthetic_cloud_features(s, extract, data, ftr, ytr, wtr)
    tr_t: tuple = (ftr, ytr)
    va_t: tuple = (fval, data.val.labels)
    if wtr is not None:
        tr_t = (ftr, ytr, wtr)
        va_t = (fval, data.val.labels, data.w_val)
    tr = tf.data.Dataset.from_tensor_slices(tr_t).shuffle(len(ftr), seed=p.seed).batch(p.batch_size)
    va = tf.data.Dataset.from_tensor_slices(va_t).batch(p.batch_size)
    head.compile(optimizer=opt, loss=LOSS, metrics=["accuracy"])
    s.record.resume_into(head, p.lr)
    fit_stage(s, head, tr, va, 1, "head", p.epochs, model)
    if not s.stopped:
        n = len(data.train.paths)  # the un-augmented view comes first
        _save_familiarity(s, ftr[:n], fval)


def _synthetic_cloud_features(
    s: TrainingSession, extract: Extract, data: TrainingData, ftr: np.ndarray, ytr: np.ndarray, wtr: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The training features with those of synthetic cloudy and hazed images appended (see
    ``TrainParams.synthetic_clouds``); augmented like the other views. Each synthetic image
    weighs as much as an average real image of its class."""
    p, classes, files = s.params, s.spec.classes, data.train
    if p.synthetic_clouds <= 0 or p.cloud_class not in classes:
        return ftr, ytr, wtr
    if data.cached_train is None:
        s.note("synthetic clouds skipped: the training images do not fit in memory")
        return ftr, ytr, wtr
    k = classes.index(p.cloud_class)
    n = int(round(p.synthetic_clouds * int((files.labels == k).sum())))
    cloudy, yc, hazed, yh = synthetic_cloud_sets(data.cached_train, files.labels, k, n, p.seed)
    if n == 0:
        return ftr, ytr, wtr
    images = np.concatenate([cloudy, hazed])
    seed = p.seed * 1000 + 999 if p.augment else None
    fs = _features(s, extract, images, "features synthetic clouds", augment_seed=seed)
    ys = np.concatenate([yc, yh]).astype(ytr.dtype)
    ws = None
    if wtr is not None:
        mean_w = {c: float(wtr[: len(files.labels)][files.labels == c].mean()) for c in np.unique(ys)}
        ws = np.concatenate([wtr, np.array([mean_w[int(c)] for c in ys], np.float32)])
    return np.concatenate([ftr, fs]), np.concatenate([ytr, ys]), ws


def _features(
    s: TrainingSession, extract: Extract, images: np.ndarray | list[str], stage: str, augment_seed: int | None = None
) -> np.ndarray:
    """Backbone features of every image, in memory or decoded per batch (optionally of one seeded
    augmented view)."""
    return extract_features(
        extract,
        images,
        size=s.spec.image_size,
        augment=None if augment_seed is None else np.random.SeedSequence(augment_seed),
        recipe=augment_recipe(s.params),
        progress=s.stage_progress,
        should_stop=s.should_stop,
        stage=stage,
    )


def _save_familiarity(s: TrainingSession, train_features: np.ndarray, val_features: np.ndarray) -> None:
    """familiarity.npz: the unfamiliarity score's references and calibration
    (:mod:`landgui.core.inference.familiarity`)."""
    Familiarity.build(train_features, val_features, seed=s.params.seed).save(s.run / FAMILIARITY_FILE)


def _source_statistics(s: TrainingSession, backbone: Any, data: TrainingData) -> None:
    """Batch-norm statistics of the backbone re-estimated on (a seeded sample of) the training images."""
    files, n = data.train, len(data.train.paths)
    pick = np.sort(np.random.default_rng(s.params.seed).permutation(n)[: min(n, MAX_ADAPT_IMAGES // 2)])
    if data.cached_train is not None:
        images = data.cached_train[pick]
    else:
        images = D.decode_all([files.paths[i] for i in pick], s.spec.image_size, None, s.should_stop)
    if len(images) >= 16:
        recalibrate_bn(
            backbone,
            images,
            seed=s.params.seed,
            progress=s.stage_progress,
            should_stop=s.should_stop,
            stage="source statistics",
        )
