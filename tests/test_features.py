"""The one feature loop (landgui.core.inference.features) against features computed here, batch by batch."""

import numpy as np
import pytest
from synth import textured_image, write_image

from landgui.core.base.errors import Cancelled
from landgui.core.data.augment import Recipe, augment_batch
from landgui.core.inference.features import FEATURE_BATCH, extract_features, features_with_views


def _means(batch: np.ndarray) -> np.ndarray:
    """A features function without a network: each image's mean colour and its spread."""
    assert batch.dtype == np.float32 and batch.ndim == 4
    return np.concatenate([batch.mean(axis=(1, 2)), batch.std(axis=(1, 2))], axis=1)


def _images(n: int, size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.stack([textured_image(rng, tuple(int(c) for c in rng.integers(0, 256, 3)), size) for _ in range(n)])


def test_images_in_memory_and_files_give_the_same_features(tmp_path):
    n = FEATURE_BATCH + 5  # two batches, the second short
    images = _images(n)
    paths = []
    for i, img in enumerate(images):
        write_image(tmp_path / f"{i:03d}.png", img)
        paths.append(str(tmp_path / f"{i:03d}.png"))
    steps = []
    from_memory = extract_features(_means, images, progress=lambda *a: steps.append(a), stage="s")
    from_files = extract_features(_means, paths, size=16)
    expected = _means(images.astype(np.float32))
    np.testing.assert_allclose(from_memory, expected, rtol=1e-6)
    np.testing.assert_allclose(from_files, expected, rtol=1e-6)
    assert steps == [("s", FEATURE_BATCH, n), ("s", n, n)]
    assert extract_features(_means, images[:0]).shape == (0, 0)


def test_an_augmented_pass_takes_one_child_seed_per_batch():
    images, recipe = _images(FEATURE_BATCH + 3), Recipe()
    got = extract_features(_means, images, augment=np.random.SeedSequence(11), recipe=recipe)
    seeds = np.random.SeedSequence(11)
    first = augment_batch(images[:FEATURE_BATCH], seeds.spawn(1)[0], recipe)
    second = augment_batch(images[FEATURE_BATCH:], seeds.spawn(1)[0], recipe)
    np.testing.assert_allclose(got, _means(np.concatenate([first, second]).astype(np.float32)), rtol=1e-6)
    assert not np.allclose(got, _means(images.astype(np.float32)))


def test_views_follow_the_images_and_continue_one_seed_sequence():
    images, recipe = _images(10), Recipe()
    steps = []
    got = features_with_views(
        _means, images, views=2, recipe=recipe, seed=5, progress=lambda *a: steps.append(a), stage="c"
    )
    seeds = np.random.SeedSequence(5)
    views = [images] + [augment_batch(images, seeds.spawn(1)[0], recipe) for _ in range(2)]
    np.testing.assert_allclose(got, _means(np.concatenate(views).astype(np.float32)), rtol=1e-6)
    assert steps == [("c", 10, 30), ("c", 20, 30), ("c", 30, 30)]


def test_stop_raises_cancelled_before_the_next_batch():
    calls = []

    def counting(batch):
        calls.append(len(batch))
        return _means(batch)

    with pytest.raises(Cancelled):
        extract_features(counting, _images(FEATURE_BATCH + 1), should_stop=lambda: bool(calls))
    assert calls == [FEATURE_BATCH]
