"""Scanning a class-folder dataset: usable images, bad files and duplicate groups.

A dataset is a folder with one sub-folder per class holding images. :func:`scan_dataset`
never writes under the dataset folder; every file it cannot use is reported with a reason.

Duplicates
----------
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
import os
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.data.imageio import MAX_PATCH_PIXELS, ImageReadError, chromaticity, decode_image, perceptual_signature

NEAR_DUPLICATE_MIN_CORRELATION = 0.95
MIN_DETAIL = 3.0
NEAR_DUPLICATE_MAX_CHROMA = 0.06
#: Side of the RGB thumbnail compared to find resized or re-decoded copies of any image.
THUMBNAIL_SIDE = 32
#: Largest difference (grey levels, any pixel and channel) between thumbnails of two copies.
SAME_THUMBNAIL_MAX_DIFF = 1

ProgressFn = Callable[[str, int, int], None]
StopFn = Callable[[], bool]


@dataclass
class ImageRecord:
    path: str  # relative to the dataset root, POSIX separators
    label: str
    sha256: str
    width: int
    height: int
    size_bytes: int
    source: str = ""  # the source (dataset folder) it came from; see scan_sources


@dataclass
class BadFile:
    path: str
    reason: str


@dataclass
class DuplicateGroup:
    kind: str  # "exact" (all same bytes), "same pixels" (all same decoded pixels) or "near"
    members: list[str]
    labels: list[str]

    @property
    def conflict(self) -> bool:
        return len(set(self.labels)) > 1


@dataclass
class ScanResult:
    root: str
    classes: list[str]
    images: list[ImageRecord]
    bad_files: list[BadFile] = field(default_factory=list)
    duplicate_groups: list[DuplicateGroup] = field(default_factory=list)
    #: source name -> absolute folder; one entry for a single dataset folder
    sources: dict[str, str] = field(default_factory=dict)

    def files_per_class(self) -> dict[str, int]:
        counts = {c: 0 for c in self.classes}
        for rec in self.images:
            counts[rec.label] += 1
        return counts

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "sources": self.sources,
            "classes": self.classes,
            "images": [asdict(r) for r in self.images],
            "bad_files": [asdict(b) for b in self.bad_files],
            "duplicate_groups": [{**asdict(g), "conflict": g.conflict} for g in self.duplicate_groups],
        }


def _rel(root: Path, p: Path) -> str:
    return p.relative_to(root).as_posix()


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _list_candidates(
    root: Path, bad: list[BadFile], rel_to: Path | None = None
) -> tuple[list[str], list[tuple[Path, str]]]:
    """Walk the two levels of the dataset; return class names and (file, class) candidates.
    Bad files are named relative to ``rel_to`` (default: ``root``)."""
    base = rel_to or root
    classes: list[str] = []
    candidates: list[tuple[Path, str]] = []
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise LandguiError(f"cannot read dataset folder {root}: {exc.strerror or exc}") from None
    for entry in top:
        p = Path(entry.path)
        if _is_hidden(entry.name):
            bad.append(BadFile(_rel(base, p), "hidden file or folder (ignored)"))
            continue
        reason = _symlink_problem(p, root)
        if reason:
            bad.append(BadFile(_rel(base, p), reason))
            continue
        if not entry.is_dir():
            bad.append(BadFile(_rel(base, p), "file outside a class folder (ignored)"))
            continue
        try:
            inner = sorted(os.scandir(p), key=lambda e: e.name)
        except OSError as exc:
            bad.append(BadFile(_rel(base, p), f"unreadable class folder: {exc.strerror or exc}"))
            continue
        classes.append(entry.name)
        for f in inner:
            fp = Path(f.path)
            if _is_hidden(f.name):
                bad.append(BadFile(_rel(base, fp), "hidden file (ignored)"))
                continue
            reason = _symlink_problem(fp, root)
            if reason:
                bad.append(BadFile(_rel(base, fp), reason))
                continue
            if f.is_dir():
                bad.append(BadFile(_rel(base, fp), "nested sub-folder (not scanned; classes are one level deep)"))
                continue
            if not f.is_file():
                bad.append(BadFile(_rel(base, fp), "not a regular file"))
                continue
            candidates.append((fp, entry.name))
    return classes, candidates


def _symlink_problem(p: Path, root: Path) -> str | None:
    if not p.is_symlink():
        return None
    try:
        target = p.resolve(strict=True)
    except RuntimeError:
        return "symlink loop"
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            return "symlink loop"
        return "broken symlink"
    if target.is_dir():
        root_r = root.resolve()
        parent_r = p.parent.resolve()
        if parent_r == target or parent_r.is_relative_to(target) or target == root_r:
            return "symlink loop (points to a folder that contains it)"
    return None


class _Examined(NamedTuple):
    sha256: str
    width: int
    height: int
    size: int
    signature: np.ndarray | None  # None for low-detail images
    pixels_sha256: str
    thumbnail: np.ndarray


def pixels_sha256(rgb: np.ndarray) -> str:
    """SHA-256 of a decoded image's size and RGB bytes: equal for pixel-identical files."""
    h = hashlib.sha256(f"{rgb.shape[0]}x{rgb.shape[1]}x{rgb.shape[2]}:".encode())
    h.update(np.ascontiguousarray(rgb).data)
    return h.hexdigest()


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """The image as a THUMBNAIL_SIDE-square RGB uint8 thumbnail (area averaging)."""
    import cv2

    return cv2.resize(rgb, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)


def _examine(path: Path, max_pixels: int) -> _Examined | str:
    """Return the hashes, size, signature and thumbnail of a usable image, or a reason."""
    try:
        st = path.stat()
        if st.st_size == 0:
            return "zero bytes"
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        with open(path, "rb") as fh:
            data = fh.read()
    except PermissionError:
        return "unreadable: permission denied"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    try:
        rgb = decode_image(data, max_pixels)
    except ImageReadError as exc:
        return exc.reason
    h, w = rgb.shape[:2]
    sig, detail = perceptual_signature(rgb)
    signature = np.concatenate([sig, chromaticity(rgb)]) if detail >= MIN_DETAIL else None
    return _Examined(hashlib.sha256(data).hexdigest(), w, h, len(data), signature, pixels_sha256(rgb), thumbnail(rgb))


def source_name(folder: str | Path) -> str:
    """The name a dataset folder goes by as a source: its folder name."""
    return Path(folder).resolve().name or "dataset"


def parse_sources(specs: list[str] | dict[str, str | Path]) -> dict[str, Path]:
    """``["PATH", "NAME=PATH", ...]`` (or a name -> path mapping) as an ordered name -> folder map.

    A source is named after its folder unless ``NAME=`` says otherwise. Two sources with one name,
    one folder given twice, or a source folder inside another are refused with one line."""
    items: list[tuple[str, Path]] = []
    if isinstance(specs, dict):
        items = [(str(k), Path(v)) for k, v in specs.items()]
    else:
        for spec in specs:
            name, sep, rest = str(spec).partition("=")
            if sep and name and "/" not in name and not Path(spec).exists():
                items.append((name, Path(rest)))
            else:
                items.append((source_name(spec), Path(spec)))
    if not items:
        raise LandguiError("no dataset folder given")
    out: dict[str, Path] = {}
    for name, folder in items:
        if not folder.exists():
            raise LandguiError(f"dataset folder not found: {folder}")
        if not folder.is_dir():
            raise LandguiError(f"not a folder: {folder}")
        if name in out:
            raise LandguiError(f"two sources are named {name!r}; name them apart with NAME=PATH")
        out[name] = folder.resolve()
    roots = list(out.items())
    for i, (na, a) in enumerate(roots):
        for nb, b in roots[i + 1 :]:
            if a == b or a.is_relative_to(b) or b.is_relative_to(a):
                raise LandguiError(f"sources {na!r} ({a}) and {nb!r} ({b}) overlap; give folders that do not nest")
    return out


def scan_dataset(
    root: str | Path,
    *,
    min_correlation: float = NEAR_DUPLICATE_MIN_CORRELATION,
    max_pixels: int = MAX_PATCH_PIXELS,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    workers: int | None = None,
) -> ScanResult:
    """Scan a class-folder dataset. Raises :class:`LandguiError` if the folder is unusable."""
    return scan_sources(
        [str(root)],
        min_correlation=min_correlation,
        max_pixels=max_pixels,
        progress=progress,
        should_stop=should_stop,
        workers=workers,
    )


def scan_sources(
    sources: list[str] | dict[str, str | Path],
    *,
    min_correlation: float = NEAR_DUPLICATE_MIN_CORRELATION,
    max_pixels: int = MAX_PATCH_PIXELS,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    workers: int | None = None,
) -> ScanResult:
    """Scan one or several class-folder datasets (*sources*) as one dataset.

    Paths are relative to the sources' common parent folder (for one source: the folder itself),
    every record names its source, classes are the union of the sources' class folders, and
    duplicate groups are found across sources too, so a copy in two sources stays in one split."""
    roots = parse_sources(sources)
    common = (
        Path(os.path.commonpath([str(r) for r in roots.values()])) if len(roots) > 1 else next(iter(roots.values()))
    )
    bad: list[BadFile] = []
    classes_set: set[str] = set()
    candidates: list[tuple[Path, str, str]] = []
    for name, root in roots.items():
        cls, cands = _list_candidates(root, bad, common)
        if not cls:
            raise LandguiError(f"no class folders in {root} (expected one sub-folder per class)")
        classes_set.update(cls)
        candidates += [(p, label, name) for p, label in cands]
    classes = sorted(classes_set)
    if not candidates:
        where = ", ".join(str(r) for r in roots.values())
        raise LandguiError(f"no files in the class folders of {where}")

    images: list[ImageRecord] = []
    signatures: list[np.ndarray | None] = []
    pixel_hashes: list[str] = []
    thumbnails: list[np.ndarray] = []
    total = len(candidates)
    if progress:
        progress("scanning", 0, total)
    n_workers = workers or min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        results = pool.map(lambda c: _examine(c[0], max_pixels), candidates)
        for i, ((p, label, src), res) in enumerate(zip(candidates, results, strict=True), 1):
            if should_stop and should_stop():
                pool.shutdown(cancel_futures=True)
                raise Cancelled()
            if isinstance(res, str):
                bad.append(BadFile(_rel(common, p), res))
            else:
                images.append(ImageRecord(_rel(common, p), label, res.sha256, res.width, res.height, res.size, src))
                signatures.append(res.signature)
                pixel_hashes.append(res.pixels_sha256)
                thumbnails.append(res.thumbnail)
            if progress and (i % 50 == 0 or i == total):
                progress("scanning", i, total)
    if not images:
        where = ", ".join(str(r) for r in roots.values())
        raise LandguiError(f"no usable images in {where} ({len(bad)} files skipped)")
    groups = find_duplicate_groups(
        images, signatures, min_correlation, pixel_hashes=pixel_hashes, thumbnails=thumbnails
    )
    bad.sort(key=lambda b: b.path)
    return ScanResult(str(common), classes, images, bad, groups, {n: str(r) for n, r in roots.items()})


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
