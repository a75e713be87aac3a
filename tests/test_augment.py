"""The sensor-cue-removing augmentation: shapes, dtypes, value ranges, determinism, and that each
ingredient does what it says (small synthetic images)."""

import numpy as np
import pytest
from synth import textured_image

from landgui.core.data import augment as A


@pytest.fixture
def img():
    return textured_image(np.random.default_rng(0), (120, 140, 90), size=48)


@pytest.mark.parametrize("fn", [A.geometry, A.resolution, A.blur, A.jpeg, A.colour, A.noise])
def test_each_ingredient_keeps_shape_dtype_and_range(img, fn):
    """Near the ends of the range values saturate instead of wrapping around (a uint8 overflow
    turns 250 + 10 into 4): a uniform near-white image stays bright, a near-black one dark."""
    bright, dark = np.full((48, 48, 3), 250, np.uint8), np.full((48, 48, 3), 5, np.uint8)
    for seed in range(5):
        out = fn(img, np.random.default_rng(seed))
        assert out.shape == img.shape and out.dtype == np.uint8
        assert fn(bright, np.random.default_rng(seed)).min() >= 128, "a bright pixel wrapped around to dark"
        assert fn(dark, np.random.default_rng(seed)).max() < 128, "a dark pixel wrapped around to bright"


def test_non_square_and_tiny_images(img):
    rect = img[:, :30]
    for seed in range(5):
        out = A.augment(rect, np.random.default_rng(seed), A.Recipe(resolution=1.0, blur=1.0, jpeg=1.0, noise=1.0))
        assert out.shape == rect.shape and out.dtype == np.uint8
    tiny = img[:6, :6]
    assert A.augment(tiny, np.random.default_rng(0), A.Recipe(resolution=1.0)).shape == tiny.shape


def test_resolution_and_blur_remove_fine_detail(img):
    def detail(x):  # energy of the Laplacian: high for sharp images
        import cv2

        return float(cv2.Laplacian(x.mean(axis=2).astype(np.float32), cv2.CV_32F).var())

    sharp = detail(img)
    coarse = A.resolution(img, np.random.default_rng(1), min_scale=0.25)
    assert detail(coarse) < sharp
    assert detail(A.blur(img, np.random.default_rng(1))) < sharp


def test_colour_changes_colour_but_not_layout(img):
    out = A.colour(img, np.random.default_rng(4))
    assert not np.array_equal(out, img)
    corr = np.corrcoef(out.mean(axis=2).ravel(), img.mean(axis=2).ravel())[0, 1]
    assert corr > 0.9  # same scene, another colour response


def test_no_augmentation_is_identity(img):
    out = A.augment(img, np.random.default_rng(0), A.NO_AUGMENTATION)
    np.testing.assert_array_equal(out, img)


def test_batch_is_seeded_and_order_independent(img):
    batch = np.stack([img, img[::-1], img[:, ::-1]])
    a = A.augment_batch(batch, 7, A.Recipe())
    b = A.augment_batch(batch, 7, A.Recipe())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, A.augment_batch(batch, 8, A.Recipe()))
    assert a.shape == batch.shape and a.dtype == np.uint8
    # image i gets the i-th child seed whatever the batch: the first image alone gives the same view
    np.testing.assert_array_equal(A.augment_batch(batch[:1], 7, A.Recipe())[0], a[0])


def test_recipe_round_trips_through_json():
    import json

    r = A.Recipe(blur=0.0, colour=False)
    assert A.Recipe(**json.loads(json.dumps(r.to_dict()))) == r
