"""Copies of low-texture patches with other bytes (issue 12 item 9): what each criterion finds.

    .venv/bin/python bench/bench_pixel_duplicates.py [DATASET_DIR] [--spot DIR]

On a real dataset (default: the 5,631 Kaggle patches):

1. ``scan_dataset`` time and its duplicate groups by kind, and how many groups and images the
   decoded-pixel hash and the thumbnail match add to today's grouping (file bytes + correlation);
2. how close distinct patches come: pairs by the largest thumbnail difference (L-inf, grey levels),
   with the grey-level and fine-detail correlation of the closest ones;
3. the alternative asked for first, a hash of the 32x32 thumbnail quantised in steps of 1, 4 or 8
   grey levels (256, 64 or 32 levels): the groups it would add;
4. planted copies of 300 random low-texture patches (PNG of other decoders' pixels, resized,
   re-encoded): the share each criterion groups with its original;
5. lowering :data:`MIN_DETAIL` so that the correlation test also runs on flatter patches: the pairs
   it would add on the real data, and the share of planted copies of flat patches it would find.

``--spot DIR`` writes side-by-side PNGs (top: the images, bottom: grey detail amplified 12x) of
the groups and pairs that sections 2, 3 and 5 add, to check by eye whether they are copies.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from landgui.core.data import duplicates as dd
from landgui.core.data import scan as ds
from landgui.core.data.imageio import chromaticity, decode_image, perceptual_signature, read_image

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches" / "kaggle4"


def features(path: Path) -> tuple[str, str, np.ndarray, float, np.ndarray]:
    """(file sha256, pixels sha256, signature + chromaticity, detail, thumbnail), as the scan computes them."""
    data = path.read_bytes()
    rgb = decode_image(data)
    sig, detail = perceptual_signature(rgb)
    return (
        hashlib.sha256(data).hexdigest(),
        ds.pixels_sha256(rgb),
        np.concatenate([sig, chromaticity(rgb)]),
        detail,
        ds.thumbnail(rgb),
    )


def grouped_images(groups: list[ds.DuplicateGroup]) -> set[str]:
    return {m for g in groups for m in g.members}


def added(before: list[ds.DuplicateGroup], after: list[ds.DuplicateGroup]) -> list[ds.DuplicateGroup]:
    """Groups of ``after`` that are not groups of ``before`` (new or grown)."""
    old = {frozenset(g.members) for g in before}
    return [g for g in after if frozenset(g.members) not in old]


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))


def detail_correlation(root: Path, a: str, b: str) -> str:
    """Correlation of two images' grey levels at full resolution, and of their fine detail alone.

    Fine detail is what a Gaussian blur (sigma 2) removes. For scale, the fine-detail correlation
    of ``a`` with its own JPEG q=90 re-encoding is given too: distinct patches score about 0 there.
    """
    x, y = (cv2.cvtColor(read_image(root / p), cv2.COLOR_RGB2GRAY).astype(np.float32) for p in (a, b))
    if x.shape != y.shape:
        x, y = (cv2.resize(v, (32, 32), interpolation=cv2.INTER_AREA) for v in (x, y))

    def fine(v: np.ndarray) -> np.ndarray:
        return v - cv2.GaussianBlur(v, (0, 0), 2)

    rgb = read_image(root / a)
    q90 = cv2.cvtColor(COPIES["JPEG q=90"](rgb, b""), cv2.COLOR_RGB2GRAY).astype(np.float32)
    x_full = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return (
        f"grey correlation {_corr(x, y):.2f}, fine detail {_corr(fine(x), fine(y)):.2f} "
        f"(a q=90 copy: {_corr(fine(x_full), fine(q90)):.2f})"
    )


def spot_panel(root: Path, paths: list[str], out: Path) -> None:
    ims = [cv2.resize(read_image(root / p), (160, 160), interpolation=cv2.INTER_NEAREST) for p in paths[:5]]

    def amplified(x: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.repeat(np.clip((g - g.mean()) * 12 + 128, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)

    def row(tiles: list[np.ndarray]) -> np.ndarray:
        return np.hstack([np.pad(t, ((0, 6), (0, 6), (0, 0)), constant_values=255) for t in tiles])

    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack([row(ims), row([amplified(x) for x in ims])])[:, :, ::-1])


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    return decode_image(cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())


def resized(rgb: np.ndarray, f: float, interpolation: int) -> np.ndarray:
    return cv2.resize(rgb, (round(rgb.shape[1] * f), round(rgb.shape[0] * f)), interpolation=interpolation)


def pil_resized(rgb: np.ndarray, f: float, resample: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((round(rgb.shape[1] * f), round(rgb.shape[0] * f)), resample))


#: Copies of an image (decoded pixels, file bytes) whose file bytes differ from the original's.
COPIES = {
    "PNG of the pixels Pillow decodes": lambda rgb, data: rgb,
    "PNG of the pixels OpenCV decodes": lambda rgb, data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[
        :, :, ::-1
    ],
    "0.5x OpenCV area": lambda rgb, data: resized(rgb, 0.5, cv2.INTER_AREA),
    "2x OpenCV cubic": lambda rgb, data: resized(rgb, 2, cv2.INTER_CUBIC),
    "2x Pillow bicubic": lambda rgb, data: pil_resized(rgb, 2, Image.Resampling.BICUBIC),
    "0.5x Pillow Lanczos": lambda rgb, data: pil_resized(rgb, 0.5, Image.Resampling.LANCZOS),
    "JPEG q=95": lambda rgb, data: jpeg(rgb, 95),
    "JPEG q=90": lambda rgb, data: jpeg(rgb, 90),
    "JPEG q=70": lambda rgb, data: jpeg(rgb, 70),
    "brightened 15%": lambda rgb, data: np.clip(rgb.astype(np.float32) * 1.15, 0, 255).astype(np.uint8),
}


def quantised_key(thumb: np.ndarray, step: int) -> bytes:
    return (thumb // step).astype(np.uint8).tobytes()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(DEFAULT))
    ap.add_argument("--spot", help="folder for side-by-side PNGs of the added groups and pairs")
    args = ap.parse_args()
    root = Path(args.dataset)
    spot = Path(args.spot) if args.spot else None

    # 1. the scan as shipped, and the grouping before this change
    t0 = time.perf_counter()
    scan = ds.scan_dataset(root)
    t_scan = time.perf_counter() - t0
    kinds: dict[str, int] = defaultdict(int)
    for g in scan.duplicate_groups:
        kinds[g.kind] += 1
    print(
        f"scan_dataset: {len(scan.images)} images in {t_scan:.2f} s; {len(scan.duplicate_groups)} duplicate groups "
        f"({dict(kinds)}; {len(grouped_images(scan.duplicate_groups))} files; "
        f"{sum(g.conflict for g in scan.duplicate_groups)} label conflicts)"
    )
    images = scan.images
    feats = [features(root / r.path) for r in images]
    pix = [f[1] for f in feats]
    sigs = np.stack([f[2] for f in feats])
    detail = np.array([f[3] for f in feats])
    thumbs = np.stack([f[4] for f in feats])
    low = detail < dd.MIN_DETAIL
    path_index = {r.path: i for i, r in enumerate(images)}
    labels = [r.label for r in images]
    signatures = [sigs[i] if not low[i] else None for i in range(len(images))]
    print(f"low-texture images (detail < {dd.MIN_DETAIL}): {int(low.sum())} of {len(images)}")

    today = ds.find_duplicate_groups(images, signatures)
    with_pixels = ds.find_duplicate_groups(images, signatures, pixel_hashes=pix)
    now = ds.find_duplicate_groups(images, signatures, pixel_hashes=pix, thumbnails=list(thumbs))
    assert [g.members for g in now] == [g.members for g in scan.duplicate_groups]
    print(f"today (file bytes + correlation): {len(today)} groups, {len(grouped_images(today))} files")
    for name, groups in (("+ decoded-pixel hash", with_pixels), ("+ pixel hash + thumbnail match", now)):
        new = added(today, groups)
        new_files = grouped_images(groups) - grouped_images(today)
        n_low = sum(bool(low[path_index[p]]) for p in new_files)
        print(
            f"{name}: {len(groups)} groups; adds/changes {len(new)} groups, {len(new_files)} more files "
            f"({n_low} low-texture), {sum(g.conflict for g in new)} label conflicts"
        )

    # 2. how close distinct images come (one image per pixel hash)
    first: dict[str, int] = {}
    for i, h in enumerate(pix):
        first.setdefault(h, i)
    reps = list(first.values())
    pairs = dd._same_thumbnail_pairs(thumbs[reps], 4)
    dist = [int(np.abs(thumbs[reps[a]].astype(int) - thumbs[reps[b]].astype(int)).max()) for a, b in pairs]
    hist = np.bincount(dist, minlength=5)
    print(
        "pairs of pixel-distinct images by largest 32x32 thumbnail difference: "
        + ", ".join(f"{d}: {hist[d]}" for d in range(5))
        + f" (criterion: <= {dd.SAME_THUMBNAIL_MAX_DIFF})"
    )
    closest = [p for p, d in zip(pairs, dist, strict=True) if d == min(dist)] if dist else []
    for a, b in closest[:3]:
        pa, pb = images[reps[a]].path, images[reps[b]].path
        print(f"  e.g. {pa} + {pb}: {detail_correlation(root, pa, pb)}")
    if spot:
        for k, (a, b) in enumerate([p for p, d in zip(pairs, dist, strict=True) if d == 3][:4]):
            spot_panel(root, [images[reps[a]].path, images[reps[b]].path], spot / f"thumb_diff3_{k}.png")

    # 3. quantised thumbnail hashes instead of the tolerance
    for step in (1, 4, 8):
        keys = [quantised_key(t, step) for t in thumbs]
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for i, k in enumerate(keys):
            buckets[k].append(i)
        hits = [m for m in buckets.values() if len({pix[i] for i in m}) > 1]
        files = {i for m in hits for i in m}
        print(
            f"32x32 thumbnail hash, {256 // step} levels: {len(hits)} groups of pixel-distinct images "
            f"({len(files)} files, {int(low[list(files)].sum()) if files else 0} low-texture, "
            f"{sum(len({labels[i] for i in m}) > 1 for m in hits)} across classes)"
        )
        for m in hits[:3]:
            pa, pb = images[m[0]].path, images[m[1]].path
            print(f"  e.g. {pa} + {pb}: {detail_correlation(root, pa, pb)}")
        if spot:
            for k, m in enumerate(hits[:4]):
                spot_panel(root, [images[i].path for i in m], spot / f"hash{256 // step}_{k}.png")

    # 4. planted copies of low-texture images
    rng = np.random.default_rng(0)
    picks = rng.choice(np.nonzero(low)[0], 300, replace=False)
    found: dict[str, list[tuple[bool, bool, bool, bool]]] = defaultdict(list)
    for i in picks:
        data = (root / images[i].path).read_bytes()
        rgb = decode_image(data)
        for name, make in COPIES.items():
            copy = np.ascontiguousarray(make(rgb, data))
            t = ds.thumbnail(copy)
            diff = int(np.abs(t.astype(int) - thumbs[i].astype(int)).max())
            found[name].append(
                (
                    ds.pixels_sha256(copy) == pix[i],
                    quantised_key(t, 4) == quantised_key(thumbs[i], 4),
                    quantised_key(t, 8) == quantised_key(thumbs[i], 8),
                    diff <= dd.SAME_THUMBNAIL_MAX_DIFF,
                )
            )
    print(
        "planted copies of 300 low-texture images, share grouped: pixel hash / hash 64 levels / 32 levels / thumbnail match"
    )
    for name, rows in found.items():
        a = np.array(rows).mean(axis=0)
        print(f"  {name:34s} " + " / ".join(f"{v:4.0%}" for v in a))

    # 5. the correlation test on flatter images
    for thr in (2.0, 1.5, 1.0, 0.5, 0.0):
        idx = np.nonzero(detail >= thr)[0]
        new = [(idx[a], idx[b]) for a, b in dd._near_pairs(sigs[idx], dd.NEAR_DUPLICATE_MIN_CORRELATION)]
        new = [(a, b) for a, b in new if min(detail[a], detail[b]) < dd.MIN_DETAIL]
        distinct = [(a, b) for a, b in new if pix[a] != pix[b]]
        print(
            f"correlation test down to detail {thr}: +{len(new)} pairs, {len(new) - len(distinct)} of them "
            f"already pixel-identical; others: "
            + ", ".join(
                f"{images[a].path} + {images[b].path} ({detail_correlation(root, images[a].path, images[b].path)})"
                for a, b in distinct[:4]
            )
        )
        if spot:
            for k, (a, b) in enumerate(distinct[:4]):
                spot_panel(root, [images[a].path, images[b].path], spot / f"detail{thr}_{k}.png")
    bands = [(0.0, 1.0), (1.0, 2.0), (2.0, dd.MIN_DETAIL)]
    kinds_planted = ("JPEG q=95", "JPEG q=70", "0.5x OpenCV area", "brightened 15%")
    share: dict[tuple[tuple[float, float], str], list[bool]] = defaultdict(list)
    for i in picks:
        band = next(b for b in bands if b[0] <= detail[i] < b[1])
        rgb = read_image(root / images[i].path)
        for name in kinds_planted:
            copy = np.ascontiguousarray(COPIES[name](rgb, b""))
            sig, _ = perceptual_signature(copy)
            pair = np.stack([sigs[i], np.concatenate([sig, chromaticity(copy)])])
            share[band, name].append(bool(dd._near_pairs(pair, dd.NEAR_DUPLICATE_MIN_CORRELATION)))
    print("planted copies of the 300 low-texture images that the correlation test would find, by detail:")
    for a, b in bands:
        n_band = len(share[(a, b), kinds_planted[0]])
        print(
            f"  detail {a:g}-{b:g} ({n_band} images): "
            + ", ".join(f"{name} {np.mean(share[(a, b), name]):.0%}" for name in kinds_planted)
        )


if __name__ == "__main__":
    main()
