"""Input pipeline from split.json: decode, resize, cache, augment, batch (tf.data).

* Decoding uses :func:`landgui.core.imageio.read_image` (Pillow/OpenCV, handles CMYK JPEGs and
  16-bit TIFFs) in a thread pool; every image is resized to the model's input size (area
  interpolation when shrinking, cubic when enlarging), so resolution is not a class cue.
* When the decoded split fits in :data:`CACHE_BUDGET_BYTES` it is cached in memory as one uint8
  array; otherwise images are decoded on the fly inside ``tf.data`` with parallel calls.
* Augmentation (training split only, all in TF ops): horizontal/vertical flips, 90-degree
  rotations, small zoom (random crop of 85-100% of the side, resized back), resolution jitter
  (half of the images shrunk by up to 2x and enlarged back, so that a sharper or blurrier sensor
  is not a surprise), and colour jitter: brightness +-0.1, contrast 0.8-1.2, saturation 0.8-1.2,
  hue +-0.03.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.errors import Cancelled, LandguiError
from landgui.core.imageio import ImageReadError, read_image

CACHE_BUDGET_BYTES = 4 * 1024**3


def resize_to(rgb: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    if (h, w) == (size, size):
        return rgb
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_CUBIC
    return cv2.resize(rgb, (size, size), interpolation=interp)


def load_resized(path: str | Path, size: int) -> np.ndarray:
    return resize_to(read_image(path), size)


@dataclass
class SplitFiles:
    paths: list[str]  # absolute
    labels: np.ndarray  # int indices
    rel_paths: list[str]


def split_files(
    manifest: dict, split: str, classes: list[str], missing_ok: bool = False
) -> tuple[SplitFiles, list[str]]:
    """The files of one split with label indices; raises (or, with missing_ok, returns) missing ones."""
    from landgui.core.split import resolve_dataset_root

    root = resolve_dataset_root(manifest)
    index = {c: i for i, c in enumerate(classes)}
    paths, labels, rels, missing = [], [], [], []
    for e in manifest["splits"][split]:
        p = root / e["path"]
        if not p.is_file():
            missing.append(e["path"])
            continue
        if e["label"] not in index:
            raise LandguiError(f"label '{e['label']}' of {e['path']} is not one of the model's classes {classes}")
        paths.append(str(p))
        labels.append(index[e["label"]])
        rels.append(e["path"])
    if missing and not missing_ok:
        raise LandguiError(
            f"{len(missing)} file(s) of the {split} split are missing under {root}, e.g. {missing[0]}; "
            "re-run `landgui split` on the dataset as it is now"
        )
    return SplitFiles(paths, np.array(labels, np.int32), rels), missing


def decode_all(
    paths: list[str],
    size: int,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
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
    return n * size * size * 3 <= CACHE_BUDGET_BYTES


def augment_fn(size: int) -> Callable[[Any, Any, Any], tuple[Any, Any]]:
    """A tf.data map function (image 0..255, label, seed[2]) -> augmented float32 0..255.

    Only stateless random ops, each with its own sub-seed of the element's seed, so that a
    parallel map gives the same result for the same seed (reproducible training).
    """
    import tensorflow as tf

    def aug(img: Any, label: Any, seed: Any) -> tuple[Any, Any]:
        s = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=11)
        x = tf.cast(img, tf.float32) / 255.0
        x = tf.image.stateless_random_flip_left_right(x, s[0])
        x = tf.image.stateless_random_flip_up_down(x, s[1])
        x = tf.image.rot90(x, k=tf.random.stateless_uniform([], s[2], 0, 4, dtype=tf.int32))
        # small zoom: crop 85-100% of the side and resize back
        side = tf.cast(tf.round(tf.random.stateless_uniform([], s[3], 0.85, 1.0) * size), tf.int32)
        x = tf.image.stateless_random_crop(x, tf.stack([side, side, 3]), s[4])
        x = tf.image.resize(x, (size, size), method="bilinear")
        # resolution jitter: half the images shrunk by up to 2x and enlarged back
        if size >= 16:
            small = tf.cast(tf.round(size / tf.random.stateless_uniform([], s[5], 1.0, 2.0)), tf.int32)
            blurred = tf.image.resize(tf.image.resize(x, tf.stack([small, small]), method="area"), (size, size))
            x = tf.cond(tf.random.stateless_uniform([], s[6]) < 0.5, lambda: blurred, lambda: x)
        x = tf.image.stateless_random_brightness(x, 0.1, s[7])
        x = tf.image.stateless_random_contrast(x, 0.8, 1.2, s[8])
        x = tf.image.stateless_random_saturation(x, 0.8, 1.2, s[9])
        x = tf.image.stateless_random_hue(x, 0.03, s[10])
        x = tf.clip_by_value(x, 0.0, 1.0) * 255.0
        return x, label

    return aug


def make_dataset(
    files: SplitFiles,
    size: int,
    batch_size: int,
    *,
    training: bool,
    augment: bool,
    seed: int,
    cached: np.ndarray | None = None,
) -> Any:
    """A batched, prefetched tf.data.Dataset of (float32 0..255 images, int labels)."""
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    if cached is not None:
        ds = tf.data.Dataset.from_tensor_slices((cached, files.labels))
    else:
        paths = np.array(files.paths)

        def load(i: Any) -> Any:
            return load_resized(str(paths[int(i)]), size)

        ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), files.labels))
        ds = ds.map(
            lambda i, y: (tf.ensure_shape(tf.numpy_function(load, [i], tf.uint8), (size, size, 3)), y),
            num_parallel_calls=autotune,
        )
    if training:
        ds = ds.shuffle(min(len(files.paths), 10_000), seed=seed, reshuffle_each_iteration=True)
    if training and augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        aug = augment_fn(size)
        ds = tf.data.Dataset.zip((ds, seeds)).map(lambda xy, sd: aug(xy[0], xy[1], sd), num_parallel_calls=autotune)
    else:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=autotune)
    return ds.batch(batch_size).prefetch(autotune)
