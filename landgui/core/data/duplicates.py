"""Finding copies among a dataset's images, so that the split keeps each group in one split.

Four kinds of copy, each a "duplicate of" pair:

* exact: same SHA-256 of the file bytes;
* same pixels: same SHA-256 of the decoded RGB pixels (and size), for every image: a PNG saved
  from a decoded JPEG has other bytes but is the same training input;
* near, resized or re-decoded copy: 32x32 RGB thumbnails (area averaging) that differ by at most
  :data:`SAME_THUMBNAIL_MAX_DIFF` grey level in every pixel and channel, for every image;
* near, perceptual: correlation of the images' perceptual signatures
  (:func:`landgui.core.data.imageio.perceptual_signature`, a 16x16 zero-mean grey thumbnail) of at
  least :data:`NEAR_DUPLICATE_MIN_CORRELATION`, for images with enough detail, whose mean
  chromaticity (colour with brightness divided out) also differs by at most
  :data:`NEAR_DUPLICATE_MAX_CHROMA` (L1): the grey thumbnail alone matched a grey cloud patch
  with a blue water patch of the same structure.

Why not a 64-bit dHash: measured on the real 5,631 Kaggle patches (``bench/bench_near_duplicates.py``,
docs/benchmarks.md), dHash bits of these low-texture patches flip under JPEG noise: planted copies
(re-encoded q=70, resized 0.5x, brightened 15%) were up to 36 bits from their original while 554
pairs of distinct patches were within 5 bits, so no Hamming threshold separates them. The
thumbnail correlation does: 99% of planted copies of detailed patches score >= 0.982, while 116
pairs of real detailed patches (exact duplicates included) reach 0.95; the chromaticity check
then leaves 44 groups, 39 of them exact.

Limitation, stated plainly: an image with almost no texture (thumbnail standard deviation below
:data:`MIN_DETAIL` grey levels: flat water, cloud, sand; 61% of the Kaggle patches) cannot be
told apart from other flat patches of the same colour by its structure, so for those images only
byte-, pixel- and thumbnail-level copies are detected; a lossy re-encoded copy (JPEG q=95) of a
flat patch usually is not. Measured on the Kaggle patches (``bench/bench_pixel_duplicates.py``):
no two distinct patches have thumbnails closer than 3 grey levels (432 pairs at 3), while copies
resized with OpenCV (area, cubic) or decoded by OpenCV instead of Pillow are within 1 in 97-100%
of cases. A hash of the thumbnail quantised in steps of 4 grey levels caught only about a
quarter of the cubic-resized copies, and in steps of 8 it grouped distinct flat patches; running
the correlation test on images with detail down to 1.99 paired two distinct water patches that
share a brightness gradient.

Groups are the connected components of the "duplicate of" relation (union-find), so a chain of
near-copies forms one group. A group whose members sit in two class folders is a labelling
conflict.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from landgui.core.params import NEAR_DUPLICATE_MIN_CORRELATION  # the split knob: defined with SplitParams

if TYPE_CHECKING:
    from landgui.core.data.scan import ImageRecord

#: Thumbnail standard deviation (grey levels) below which an image is too flat for the perceptual test.
MIN_DETAIL = 3.0
#: Largest L1 difference of mean chromaticity between two perceptual near-copies.
NEAR_DUPLICATE_MAX_CHROMA = 0.06
#: Side of the RGB thumbnail compared to find resized or re-decoded copies of any image.
THUMBNAIL_SIDE = 32
#: Largest difference (grey levels, any pixel and channel) between thumbnails of two copies.
SAME_THUMBNAIL_MAX_DIFF = 1


@dataclass
class DuplicateGroup:
    """Images that are copies of each other (see the module doc), kept together by the split."""

    kind: str  # "exact" (all same bytes), "same pixels" (all same decoded pixels) or "near"
    members: list[str]
    labels: list[str]

    @property
    def conflict(self) -> bool:
        """True when the copies sit in different class folders (a labelling conflict)."""
        return len(set(self.labels)) > 1


def pixels_sha256(rgb: np.ndarray) -> str:
    """SHA-256 of a decoded image's size and RGB bytes: equal for pixel-identical files."""
    h = hashlib.sha256(f"{rgb.shape[0]}x{rgb.shape[1]}x{rgb.shape[2]}:".encode())
    h.update(np.ascontiguousarray(rgb).data)
    return h.hexdigest()


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """The image as a THUMBNAIL_SIDE-square RGB uint8 thumbnail (area averaging)."""
    import cv2

    return cv2.resize(rgb, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)


def _near_pairs(sigs: np.ndarray, min_corr: float, chunk: int = 2048) -> list[tuple[int, int]]:
    """Index pairs (i < j) with thumbnail correlation >= min_corr and close chromaticity.

    ``sigs`` rows are the 256 thumbnail values followed by the 3 chromaticity values.
    O(N^2) as a chunked matrix product: about a second for 5,000 images.
    """
    pairs: list[tuple[int, int]] = []
    n = len(sigs)
    thumbs, chroma = sigs[:, :-3], sigs[:, -3:]
    for start in range(0, n, chunk):
        corr = thumbs[start : start + chunk] @ thumbs.T
        ii, jj = np.nonzero(corr >= min_corr)
        close = np.abs(chroma[ii + start] - chroma[jj]).sum(axis=1) <= NEAR_DUPLICATE_MAX_CHROMA
        ii, jj = ii[close] + start, jj[close]
        keep = ii < jj
        pairs.extend(zip(ii[keep].tolist(), jj[keep].tolist(), strict=True))
    return pairs


def _same_thumbnail_pairs(thumbs: np.ndarray, max_diff: int, block: int = 1 << 16) -> list[tuple[int, int]]:
    """Index pairs (i < j) whose thumbnails differ by at most ``max_diff`` in every value.

    Two such thumbnails have per-channel means within ``max_diff`` too, so only pairs within a
    window of the order sorted by mean red, whose green and blue means are as close, are compared
    value by value; about ``block`` window pairs are held at a time. 0.2 s for 5,631 images.
    """
    import cv2

    n = len(thumbs)
    if n < 2:
        return []
    flat = thumbs.reshape(n, -1)
    means = np.array([cv2.mean(t)[:3] for t in thumbs]).reshape(n, 3)  # numpy's mean is 10x slower
    order = np.argsort(means[:, 0], kind="stable")
    tol = max_diff + 1e-6
    red = means[order, 0]
    width = np.searchsorted(red, red + tol, side="right") - np.arange(n) - 1  # window after each image
    ends = np.cumsum(width)
    pairs: list[tuple[int, int]] = []
    first = 0
    while first < n:
        done = int(ends[first - 1]) if first else 0
        last = max(first + 1, int(np.searchsorted(ends, done + block, side="right")))
        w = width[first:last]
        a = np.repeat(np.arange(first, last), w)
        b = a + 1 + np.arange(len(a)) - np.repeat(np.cumsum(w) - w, w)
        i, j = order[a], order[b]
        keep = (np.abs(means[i, 1:] - means[j, 1:]) <= tol).all(axis=1)
        i, j = i[keep], j[keep]
        for c in range(0, len(i), 2048):
            ii, jj = i[c : c + 2048], j[c : c + 2048]
            close = cv2.absdiff(flat[ii], flat[jj]).max(axis=1) <= max_diff
            pairs.extend(zip(np.minimum(ii, jj)[close].tolist(), np.maximum(ii, jj)[close].tolist(), strict=True))
        first = last
    return pairs


def find_duplicate_groups(
    images: list[ImageRecord],
    signatures: list[np.ndarray | None],
    min_corr: float = NEAR_DUPLICATE_MIN_CORRELATION,
    *,
    pixel_hashes: list[str] | None = None,
    thumbnails: list[np.ndarray] | None = None,
) -> list[DuplicateGroup]:
    """Group duplicates: same file bytes, same decoded pixels, close thumbnails or correlated signatures.

    ``signatures[i]`` is None for low-detail images; ``pixel_hashes`` (:func:`pixels_sha256`) and
    ``thumbnails`` (:func:`thumbnail`) cover every image and are optional, as for callers that
    predate them.
    """
    n = len(images)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    def union_equal(keys: list[str]) -> list[int]:
        """Union equal keys; return the index of each key's first holder."""
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            if key in first:
                union(first[key], i)
            else:
                first[key] = i
        return list(first.values())

    union_equal([rec.sha256 for rec in images])
    # pixel-identical images have equal thumbnails: compare one of each
    distinct = union_equal(pixel_hashes) if pixel_hashes is not None else list(range(n))
    if thumbnails is not None and len(distinct) > 1:
        thumbs = np.stack([thumbnails[i] for i in distinct])
        for a, b in _same_thumbnail_pairs(thumbs, SAME_THUMBNAIL_MAX_DIFF):
            union(distinct[a], distinct[b])
    detailed = [i for i, sg in enumerate(signatures) if sg is not None]
    if len(detailed) > 1:
        sigs = np.stack([signatures[i] for i in detailed])  # type: ignore[misc]
        for a, b in _near_pairs(sigs, min_corr):
            union(detailed[a], detailed[b])
    comps: dict[int, list[int]] = {}
    for i in range(n):
        comps.setdefault(find(i), []).append(i)
    groups = []
    for members in comps.values():
        if len(members) < 2:
            continue
        recs = [images[i] for i in members]
        if len({r.sha256 for r in recs}) == 1:
            kind = "exact"
        elif pixel_hashes is not None and len({pixel_hashes[i] for i in members}) == 1:
            kind = "same pixels"
        else:
            kind = "near"
        groups.append(DuplicateGroup(kind, [r.path for r in recs], [r.label for r in recs]))
    groups.sort(key=lambda g: g.members[0])
    return groups
