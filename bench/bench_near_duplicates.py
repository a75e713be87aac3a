"""Why the near-duplicate test is a thumbnail correlation and not a 64-bit dHash: measurements.

    python bench/bench_near_duplicates.py [DATASET_DIR]

On a real dataset: for 200 random detailed images, planted copies (JPEG q=70, resized 0.5x,
brightened 15%) are compared with their original by dHash distance and by signature correlation;
and the number of pairs of distinct real images that each criterion would call near-duplicates.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from landgui.core.data.imageio import perceptual_signature, read_image
from landgui.core.data.scan import MIN_DETAIL, NEAR_DUPLICATE_MIN_CORRELATION

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches" / "kaggle4"


def dhash64(rgb: np.ndarray) -> int:
    g = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (9, 8), interpolation=cv2.INTER_AREA)
    return int("".join("1" if b else "0" for b in (g[:, 1:] > g[:, :-1]).ravel()), 2)


def copies(rgb: np.ndarray) -> list[np.ndarray]:
    _, buf = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    return [
        cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1],
        cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
        np.clip(rgb.astype(np.float32) * 1.15, 0, 255).astype(np.uint8),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(DEFAULT))
    root = Path(ap.parse_args().dataset)
    files = sorted(f for c in root.iterdir() if c.is_dir() for f in c.iterdir())
    imgs = [read_image(f) for f in files]
    sigs = [perceptual_signature(x) for x in imgs]
    detail = np.array([d for _, d in sigs])
    hashes = np.array([dhash64(x) for x in imgs], dtype=np.uint64)
    iu = np.triu_indices(len(files), 1)
    dist = np.bitwise_count(hashes[:, None] ^ hashes[None, :])[iu]
    print(f"{len(files)} images; {np.mean(detail < MIN_DETAIL):.0%} have detail < {MIN_DETAIL} grey levels")
    print(f"distinct-image pairs within dHash distance 5: {(dist <= 5).sum()}, 10: {(dist <= 10).sum()}")
    det = np.nonzero(detail >= MIN_DETAIL)[0]
    t = np.stack([sigs[i][0] for i in det])
    corr = (t @ t.T)[np.triu_indices(len(det), 1)]
    print(
        f"detailed-image pairs with correlation >= {NEAR_DUPLICATE_MIN_CORRELATION}: "
        f"{(corr >= NEAR_DUPLICATE_MIN_CORRELATION).sum()} (includes exact duplicates)"
    )
    rng = np.random.default_rng(0)
    dh, cc = [], []
    for i in rng.choice(det, 200, replace=False):
        for c in copies(imgs[i]):
            dh.append(bin(dhash64(imgs[i]) ^ dhash64(c)).count("1"))
            cc.append(float(sigs[i][0] @ perceptual_signature(c)[0]))
    print(
        f"planted copies of detailed images: dHash distance median {np.median(dh):.0f}, max {max(dh)}; "
        f"correlation 1st pct {np.percentile(cc, 1):.3f}, 5th pct {np.percentile(cc, 5):.3f}"
    )


if __name__ == "__main__":
    main()
