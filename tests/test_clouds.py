"""Synthetic clouds: thick cloud covers the patch, haze stays thin, both reproducible, drawn only
from clear images (checked on plain images made here, by measuring the pixels)."""

import numpy as np

from landgui.core.data.clouds import CLOUDY_MIN_COVER, HAZE_MAX_MEAN, render_cloudy, render_haze, synthetic_cloud_sets


def test_cloudy_covers_the_patch_and_haze_stays_thin():
    black = np.zeros((64, 64, 3), np.uint8)  # on black ground a pixel's value is the cloud's opacity x colour
    for seed in range(20):
        c = render_cloudy(black, np.random.default_rng(seed)).astype(np.float32).mean(axis=-1)
        # opacity >= 0.5 of a cloud at least 200 x 0.55 bright (its darkest billow) is >= 55
        assert (c >= 55).mean() >= CLOUDY_MIN_COVER - 0.02, seed
        h = render_haze(black, np.random.default_rng(seed)).astype(np.float32).mean(axis=-1)
        assert h.mean() <= HAZE_MAX_MEAN * 255 + 1 and h.max() <= 0.5 * 255 + 1, seed
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    a, b = render_cloudy(img, np.random.default_rng(4)), render_cloudy(img, np.random.default_rng(4))
    assert a.dtype == np.uint8 and a.shape == img.shape and (a == b).all()


def test_synthetic_sets_come_from_clear_images_only():
    labels = np.array([0] * 5 + [1] * 5 + [2] * 5)
    images = np.stack([np.full((16, 16, 3), 10 * i, np.uint8) for i in range(15)])
    cloudy, yc, hazed, yh = synthetic_cloud_sets(images, labels, 0, 12, seed=1)
    assert cloudy.shape == (12, 16, 16, 3) and hazed.shape == (12, 16, 16, 3)
    assert (yc == 0).all() and set(yh.tolist()) <= {1, 2}
    # each hazed image keeps the label of the clear image under it (its flat grey level tells which)
    for img, y in zip(hazed, yh, strict=True):
        src = int(np.argmin(np.abs(images[:, 0, 0, 0].astype(int) - int(img.min()))))
        assert labels[src] == y
    again = synthetic_cloud_sets(images, labels, 0, 12, seed=1)
    assert (again[0] == cloudy).all()
