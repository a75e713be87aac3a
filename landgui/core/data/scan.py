"""Scanning a class-folder dataset: usable images, bad files and duplicate groups.

A dataset is a folder with one sub-folder per class holding images. :func:`scan_dataset`
never writes under the dataset folder; every file it cannot use is reported with a reason.

Each usable image is read once (:func:`_examine`): its file SHA-256, size, and what
:mod:`landgui.core.data.duplicates` groups copies by (decoded-pixel hash, thumbnail, perceptual
signature). Groups whose members sit in two class folders are labelling conflicts.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.base.files import FileProblem, read_capped
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.data.duplicates import (
    MIN_DETAIL,
    DuplicateGroup,
    find_duplicate_groups,
    pixels_sha256,
    thumbnail,
)
from landgui.core.data.imageio import (
    MAX_PATCH_BYTES,
    MAX_PATCH_PIXELS,
    ImageReadError,
    chromaticity,
    decode_patch,
    perceptual_signature,
)
from landgui.core.params import NEAR_DUPLICATE_MIN_CORRELATION  # the split knob: defined with SplitParams


@dataclass
class ImageRecord:
    """One usable image of a dataset: where it is, its class, and what identifies its bytes."""

    path: str  # relative to the dataset root, POSIX separators
    label: str
    sha256: str
    width: int
    height: int
    size_bytes: int
    source: str = ""  # the source (dataset folder) it came from; see scan_sources


IGNORED = "(ignored)"  # ends the reason of a file left out by design, never an unreadable one


def is_ignored(reason: str) -> bool:
    """True when a file was left out by design (hidden, or beside the class folders, like a
    README.txt), not because it could not be used: it is *ignored*, not skipped as unusable."""
    return reason.endswith(IGNORED)


# A map codes each cell's class by its index in one byte; 254 is "uncertain" and 255 "not
# classified" (landgui.core.scenes.result), so a model has at most 254 classes, and no class may
# be called "uncertain" (the maps' and the coverage table's name for the cells below the threshold).
MAX_CLASSES = 254
RESERVED_CLASS_NAMES = ("uncertain",)


def check_class_names(classes: list[str]) -> None:
    """One line for class folder names a map cannot carry (issue 23, item 22): a reserved name,
    a line break or other control character (the patch CSV and reports are one line per row), or
    more classes than a map's byte of codes holds."""
    for c in classes:
        if c.lower() in RESERVED_CLASS_NAMES:
            raise LandguiError(
                f"a class folder is named {c!r}, the maps' name for cells below the threshold; rename it"
            )
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in c):
            raise LandguiError(f"the class folder name {c!r} holds a line break or control character; rename it")
    if len(classes) > MAX_CLASSES:
        raise LandguiError(
            f"{len(classes)} class folders; a map holds at most {MAX_CLASSES} classes (codes 254 and 255 "
            "are the uncertain and not-classified cells)"
        )


@dataclass
class BadFile:
    """A file or folder the scan could not use, with the reason shown to the user."""

    path: str
    reason: str

    @property
    def ignored(self) -> bool:
        """True for a file left out by design (see :func:`is_ignored`)."""
        return is_ignored(self.reason)


@dataclass
class ScanResult:
    """Everything :func:`scan_dataset` found: classes, usable images, bad files, duplicate groups."""

    root: str
    classes: list[str]
    images: list[ImageRecord]
    bad_files: list[BadFile] = field(default_factory=list)
    duplicate_groups: list[DuplicateGroup] = field(default_factory=list)
    #: source name -> absolute folder; one entry for a single dataset folder
    sources: dict[str, str] = field(default_factory=dict)

    def files_per_class(self) -> dict[str, int]:
        """The number of usable images in each class folder (0 for an empty class)."""
        counts = {c: 0 for c in self.classes}
        for rec in self.images:
            counts[rec.label] += 1
        return counts

    def to_dict(self) -> dict:
        """The scan as JSON-ready dicts and lists (each duplicate group with its ``conflict`` flag)."""
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
        reason = _entry_problem(entry, root, f"hidden file or folder {IGNORED}")
        if not reason and not entry.is_dir():
            reason = f"file outside a class folder {IGNORED}"
        if reason:
            bad.append(BadFile(_rel(base, p), reason))
            continue
        try:
            inner = sorted(os.scandir(p), key=lambda e: e.name)
        except OSError as exc:
            bad.append(BadFile(_rel(base, p), f"unreadable class folder: {exc.strerror or exc}"))
            continue
        classes.append(entry.name)
        for f in inner:
            fp = Path(f.path)
            reason = _entry_problem(f, root, f"hidden file {IGNORED}")
            if not reason and f.is_dir():
                reason = "nested sub-folder (not scanned; classes are one level deep)"
            elif not reason and not f.is_file():
                reason = "not a regular file"
            if reason:
                bad.append(BadFile(_rel(base, fp), reason))
                continue
            candidates.append((fp, entry.name))
    return classes, candidates


def _entry_problem(entry: os.DirEntry, root: Path, hidden: str) -> str | None:
    """Why a folder entry is not used (``hidden``, or a symlink that is broken or leaves
    ``root``), or None."""
    if _is_hidden(entry.name):
        return hidden
    return _symlink_problem(Path(entry.path), root)


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


def _examine(path: Path, max_pixels: int) -> _Examined | str:
    """Return the hashes, size, signature and thumbnail of a usable image, or a reason."""
    try:  # a FIFO or a device is refused without blocking, a huge file from its size (issue 23)
        data = read_capped(path, MAX_PATCH_BYTES)
    except FileProblem as exc:
        return exc.reason
    if not data:
        return "zero bytes"
    try:
        rgb = decode_patch(data, max_pixels)  # a 1 x 1 px or 100,000 x 1 px image is no patch
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
    check_class_names(classes)
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
        raise LandguiError(f"no usable images in {where} ({sum(not b.ignored for b in bad)} files skipped)")
    groups = find_duplicate_groups(
        images, signatures, min_correlation, pixel_hashes=pixel_hashes, thumbnails=thumbnails
    )
    bad.sort(key=lambda b: b.path)
    return ScanResult(str(common), classes, images, bad, groups, {n: str(r) for n, r in roots.items()})
