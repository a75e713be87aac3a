"""Input pipeline from split.json: decode, resize, cache, augment, batch (tf.data).

* Decoding uses :func:`landgui.core.data.imageio.read_image` (Pillow/OpenCV, handles CMYK JPEGs and
  16-bit TIFFs) in a thread pool; every image is resized to the model's input size (area
  interpolation when shrinking, cubic when enlarging), so resolution is not a class cue.
* When the decoded split fits in :data:`CACHE_BUDGET_BYTES` it is cached in memory as one uint8
  array; otherwise images are decoded on the fly inside ``tf.data`` with parallel calls.
* Augmentation (training split only): the sensor-cue-removing recipe of
  :mod:`landgui.core.data.augment` (geometry, ground-resolution change, blur, JPEG, colour response,
  noise), applied per batch in NumPy/OpenCV inside ``tf.data`` with a seed per batch drawn from a
  seeded stream, so the same seed gives the same training.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.data.augment import Recipe, augment_batch
from landgui.core.data.imageio import ImageReadError, read_image
from landgui.core.data.split import resolve_dataset_root, split_entry_path

CACHE_BUDGET_BYTES = 4 * 1024**3


def resize_to(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize an image to ``size`` x ``size``: area interpolation when shrinking, cubic when enlarging."""
    import cv2

    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_CUBIC
    return cv2.resize(rgb, (size, size), interpolation=interp)


def load_resized(path: str | Path, size: int) -> np.ndarray:
    """Read an image file as RGB uint8 and resize it to the model's input size."""
    return resize_to(read_image(path), size)


@dataclass
class SplitFiles:
    """The image files of a split (or any labelled list) in parallel lists: what training and
    evaluation iterate over."""

    paths: list[str]  # absolute
    labels: np.ndarray  # int indices
    rel_paths: list[str]
    #: the source of each file (see landgui.core.data.scan.scan_sources); empty when unknown
    sources: list[str] = field(default_factory=list)

    def select(self, keep: np.ndarray) -> SplitFiles:
        """The files where ``keep`` (a boolean array) is true."""
        idx = np.nonzero(keep)[0]
        return SplitFiles(
            [self.paths[i] for i in idx],
            self.labels[idx],
            [self.rel_paths[i] for i in idx],
            [self.sources[i] for i in idx] if self.sources else [],
        )


def split_files(
    manifest: dict,
    split: str | tuple[str, ...],
    classes: list[str],
    missing_ok: bool = False,
    *,
    exclude_source: str | None = None,
    only_source: str | None = None,
) -> tuple[SplitFiles, list[str]]:
    """The files of one split (or of several, as a tuple) with label indices; raises (or, with
    missing_ok, returns) missing ones. ``exclude_source`` / ``only_source`` keep the files of the
    other sources / of that source alone."""

    root = resolve_dataset_root(manifest)
    index = {c: i for i, c in enumerate(classes)}
    paths, labels, rels, missing, sources = [], [], [], [], []
    entries = [e for s in ((split,) if isinstance(split, str) else split) for e in manifest["splits"][s]]
    for e in entries:
        src = e.get("source", "")
        if (exclude_source is not None and src == exclude_source) or (only_source is not None and src != only_source):
            continue
        p = split_entry_path(root, e["path"])
        if not p.is_file():
            missing.append(e["path"])
            continue
        if e["label"] not in index:
            raise LandguiError(f"label '{e['label']}' of {e['path']} is not one of the model's classes {classes}")
        paths.append(str(p))
        labels.append(index[e["label"]])
        rels.append(e["path"])
        sources.append(src)
    if missing and not missing_ok:
        raise LandguiError(
            f"{len(missing)} file(s) of the {split} split are missing under {root}, e.g. {missing[0]}; "
            "re-run `landgui split` on the dataset as it is now"
        )
    return SplitFiles(paths, np.array(labels, np.int32), rels, sources), missing


def source_balance_weights(files: SplitFiles, n_classes: int) -> np.ndarray:
    """Per-image weights under which every source of a class weighs the same.

    For an image of class c from source s: ``n_c / (S_c * n_cs)``, with n_c the class's images,
    S_c the number of sources that have the class and n_cs that source's images of it. Each source
    then carries n_c / S_c of the class's weight and the class's total weight stays n_c, so the
    balance between classes is as without weights; with one source every weight is 1."""
    w = np.ones(len(files.paths), np.float32)
    if not files.sources:
        return w
    src = np.array(files.sources)
    for c in range(n_classes):
        in_c = files.labels == c
        names, counts = np.unique(src[in_c], return_counts=True)
        n_c = int(in_c.sum())
        for name, n_cs in zip(names, counts, strict=True):
            w[in_c & (src == name)] = n_c / (len(names) * n_cs)
    return w


def decode_all(
    paths: list[str],
    size: int,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    stage: str = "loading",
) -> np.ndarray:
    """Decode and resize images into one (N, size, size, 3) uint8 array, in parallel."""
    out = np.empty((len(paths), size, size, 3), np.uint8)

    def one(i: int) -> None:
        try:
            out[i] = load_resized(paths[i], size)
        except ImageReadError as exc:
            raise LandguiError(f"cannot read {paths[i]}: {exc.reason}") from None

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        for k, _ in enumerate(pool.map(one, range(len(paths))), 1):
            if should_stop and should_stop():
                pool.shutdown(cancel_futures=True)
                raise Cancelled()
            if progress and (k % 100 == 0 or k == len(paths)):
                progress(stage, k, len(paths))
    return out


def fits_in_cache(n: int, size: int) -> bool:
    """Whether ``n`` decoded images of ``size`` x ``size`` fit in the in-memory cache budget."""
    return n * size * size * 3 <= CACHE_BUDGET_BYTES


def make_dataset(
    files: SplitFiles,
    size: int,
    batch_size: int,
    *,
    training: bool,
    augment: bool,
    seed: int,
    cached: np.ndarray | None = None,
    recipe: Any = None,
    weights: np.ndarray | None = None,
) -> Any:
    """A batched, prefetched tf.data.Dataset of (float32 0..255 images, int labels), with a third
    element, each image's weight (:func:`source_balance_weights`), when ``weights`` is given."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    w = np.ones(len(files.paths), np.float32) if weights is None else np.asarray(weights, np.float32)
    if cached is not None:
        ds = tf.data.Dataset.from_tensor_slices((cached, files.labels, w))
    else:
        paths = np.array(files.paths)

        def load(i: Any) -> Any:
            return load_resized(str(paths[int(i)]), size)

        ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), files.labels, w))
        ds = ds.map(
            lambda i, y, wt: (tf.ensure_shape(tf.numpy_function(load, [i], tf.uint8), (size, size, 3)), y, wt),
            num_parallel_calls=autotune,
        )
    if training:
        ds = ds.shuffle(min(len(files.paths), 10_000), seed=seed, reshuffle_each_iteration=True)
    if training and augment:
        rec = recipe or Recipe()
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

        def aug(imgs: np.ndarray, s: np.ndarray) -> np.ndarray:
            return augment_batch(imgs, int(s) & 0x7FFFFFFFFFFFFFFF, rec).astype(np.float32)

        ds = ds.batch(batch_size)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda xyw, sd: (
                tf.ensure_shape(tf.numpy_function(aug, [xyw[0], sd], tf.float32), (None, size, size, 3)),
                *xyw[1:],
            ),
            num_parallel_calls=autotune,
        )
    else:
        ds = ds.map(lambda x, y, wt: (tf.cast(x, tf.float32), y, wt), num_parallel_calls=autotune)
        ds = ds.batch(batch_size)
    if weights is None:
        ds = ds.map(lambda x, y, wt: (x, y), num_parallel_calls=autotune)
    return ds.prefetch(autotune)
