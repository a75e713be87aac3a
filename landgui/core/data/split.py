"""Leakage-safe, stratified train / val / test split of a scanned dataset, written to split.json.

Units of assignment are duplicate groups (see :mod:`landgui.core.data.scan`): all members of a group
land in the same split, so no image nor a near-copy of it is on both sides. Groups whose members
carry different labels (labelling conflicts) are excluded and listed under ``excluded``.

Per stratum, groups are shuffled with a seeded generator and each is given to the split whose
remaining quota (target count minus current count) is largest, test and val before train on ties.
Targets are ``round(n * ratio)`` but at least 1 for every non-empty split, so every stratum with at
least as many usable groups as there are non-empty splits (3 with the defaults) appears in each.

Several sources (dataset folders from different sensors, see
:func:`landgui.core.data.scan.scan_sources`): the strata are class x source, every entry records its
``source``, ``sources`` maps each name to its folder and ``counts_by_source`` holds the counts per
source, class and split. A duplicate group spanning two sources is one unit, placed in the
stratum of its first member. Paths are relative to ``dataset_root``, the sources' common parent.
A schema-1 file (one source, no ``source`` fields) is upgraded when read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from landgui import __version__
from landgui.core.base.atomic import ensure_writable_dir, remove_stale_partials, write_error, write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.base.outdir import create_exclusive, folder_lock
from landgui.core.data.scan import ScanResult
from landgui.core.params import SplitParams

SCHEMA = "landgui.split"
SCHEMA_VERSION = 2
SPLITS = ("train", "val", "test")


def _targets(n: int, ratios: dict[str, float]) -> dict[str, int]:
    active = [s for s in SPLITS if ratios[s] > 0]
    t = {s: (max(1, int(round(n * ratios[s]))) if s in active else 0) for s in ("val", "test")}
    t["train"] = n - t["val"] - t["test"]
    return t


def assign_splits(scan: ScanResult, params: SplitParams) -> tuple[dict[str, list[dict]], list[dict]]:
    """Place every usable image in train, val or test; returns ``({split: [entries]}, excluded)``.

    Stratified by class and source, seeded by ``params.seed``; a duplicate group goes whole into
    one split (no leakage) and a group that spans classes (a label conflict) is excluded. Raises
    LandguiError for classes too small to appear in every split.
    """
    params.check()
    ratios = {"train": 1.0 - params.val - params.test, "val": params.val, "test": params.test}
    need = sum(1 for s in SPLITS if ratios[s] > 0)
    by_path = {r.path: r for r in scan.images}
    group_of: dict[str, int] = {}
    for gidx, grp in enumerate(scan.duplicate_groups):
        for m in grp.members:
            group_of[m] = gidx
    excluded: list[dict] = []
    source_of = {r.path: r.source for r in scan.images}
    units: dict[tuple[str, str], list[list[str]]] = {}
    seen_groups: set[int] = set()
    for rec in scan.images:
        gi = group_of.get(rec.path)
        if gi is None:
            units.setdefault((rec.label, rec.source), []).append([rec.path])
            continue
        if gi in seen_groups:
            continue
        seen_groups.add(gi)
        dg = scan.duplicate_groups[gi]
        if dg.conflict:
            for m, lab in zip(dg.members, dg.labels, strict=True):
                excluded.append(
                    {
                        "path": m,
                        "label": lab,
                        "source": source_of.get(m, ""),
                        "reason": f"label conflict: same or near-same image in classes {sorted(set(dg.labels))}",
                    }
                )
            continue
        units.setdefault((rec.label, rec.source), []).append(sorted(dg.members))

    per_class = {c: [u for (lab, _), us in units.items() if lab == c for u in us] for c in scan.classes}
    too_small = {c: sum(len(u) for u in us) for c, us in per_class.items() if sum(len(u) for u in us) < need}
    if too_small:
        desc = ", ".join(f"'{c}' ({n})" for c, n in too_small.items())
        raise LandguiError(
            f"class(es) with fewer than {need} usable images cannot appear in every split: {desc}; "
            "add images, remove the class folder, or lower the number of splits with --val 0"
        )
    small_groups = {c for c, us in per_class.items() if len(us) < need}
    if small_groups:
        raise LandguiError(
            f"class(es) {sorted(small_groups)} have fewer than {need} distinct (non-duplicate) images; "
            "they cannot be split without leakage"
        )

    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    source_names = list(scan.sources) or [""]
    for ci, cls in enumerate(scan.classes):
        for si, src in enumerate(source_names):
            groups = units.get((cls, src), [])
            if not groups:
                continue
            n = sum(len(g) for g in groups)
            # a stratum too small for every split is placed by quota alone (its class is checked above)
            targets = _targets(n, ratios) if len(groups) >= need else _plain_targets(n, ratios)
            # the first source keeps the single-source seeds, so a one-folder split is unchanged
            rng = np.random.default_rng([params.seed, ci] if si == 0 else [params.seed, ci, si])
            order = rng.permutation(len(groups))
            # Larger groups first so they fit the quotas; the seeded order breaks ties.
            ordered = sorted((groups[i] for i in order), key=len, reverse=True)
            counts = dict.fromkeys(SPLITS, 0)
            plan: list[tuple[str, list[str]]] = []
            # Guarantee every active split one of the smallest groups, then fill by largest quota left.
            if len(groups) >= need:
                for s in ("test", "val", "train"):
                    if targets[s] > 0:
                        g = ordered.pop()
                        counts[s] += len(g)
                        plan.append((s, g))
            for g in ordered:
                s = max(
                    ("train", "test", "val") if len(groups) < need else ("test", "val", "train"),
                    key=lambda k: targets[k] - counts[k],
                )
                counts[s] += len(g)
                plan.append((s, g))
            for s, g in plan:
                for path in g:
                    rec = by_path[path]
                    out[s].append({"path": rec.path, "label": rec.label, "sha256": rec.sha256, "source": rec.source})
    for s in SPLITS:
        out[s].sort(key=lambda e: e["path"])
    return out, excluded


def _plain_targets(n: int, ratios: dict[str, float]) -> dict[str, int]:
    t = {s: int(round(n * ratios[s])) for s in ("val", "test")}
    t["train"] = n - t["val"] - t["test"]
    return t


def check_out_dir(dataset_root: Path | list[Path], out_dir: Path) -> None:
    """The split is never written inside a dataset (source) folder, where it would be read as a class."""
    roots = dataset_root if isinstance(dataset_root, list) else [dataset_root]
    out = out_dir.resolve()
    for root in roots:
        ds = root.resolve()
        if out == ds or out.is_relative_to(ds):
            raise LandguiError(
                f"refusing to write the split inside the dataset folder ({out}); choose an --out outside {ds} "
                "(a new folder there would be read as a class)"
            )


def build_manifest(scan: ScanResult, params: SplitParams) -> dict:
    """The ``split.json`` content for a scan: which image goes to train, val or test (duplicate
    groups kept together, see :func:`assign_splits`), with counts per class and per source, the
    duplicate groups, the excluded and skipped files, and the parameters. Nothing is written."""
    splits, excluded = assign_splits(scan, params)
    counts = {c: dict.fromkeys(SPLITS, 0) for c in scan.classes}
    for s, entries in splits.items():
        for e in entries:
            counts[e["label"]][s] += 1
    sources = scan.sources or {Path(scan.root).name or "dataset": scan.root}
    by_source: dict[str, dict[str, dict[str, int]]] = {n: {} for n in sources}
    for s, entries in splits.items():
        for e in entries:
            row = by_source.setdefault(e["source"], {}).setdefault(e["label"], dict.fromkeys(SPLITS, 0))
            row[s] += 1
    split_of = {e["path"]: s for s, entries in splits.items() for e in entries}
    groups = []
    for g in scan.duplicate_groups:
        where = sorted({split_of[m] for m in g.members if m in split_of})
        groups.append(
            {
                "kind": g.kind,
                "members": [{"path": m, "label": lab} for m, lab in zip(g.members, g.labels, strict=True)],
                "conflict": g.conflict,
                "split": where[0] if len(where) == 1 else None,
            }
        )
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "landgui_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dataset_root": scan.root,
        "sources": sources,
        "classes": scan.classes,
        "params": {
            "val": params.val,
            "test": params.test,
            "seed": params.seed,
            "materialize": params.materialize,
            "near_duplicate_signature": (
                "16x16 grey thumbnail correlation (detailed images); decoded-pixel SHA-256 and 32x32 RGB "
                "thumbnails within 1 grey level (all images)"
            ),
            "near_duplicate_min_correlation": params.near_duplicate_min_correlation,
            "gsd": dict(params.gsd),  # metres per source or source/class (landgui.core.runs.sensor)
        },
        "image_px": image_px_by_part(scan),
        "splits": splits,
        "counts": counts,
        "counts_by_source": by_source,
        "duplicate_groups": groups,
        "excluded": excluded,
        "skipped": [{"path": b.path, "reason": b.reason} for b in scan.bad_files],
    }


def image_px_by_part(scan: ScanResult) -> dict[str, int]:
    """The median side in px (the larger of width and height) of each ``source/class``'s images:
    with ``params.gsd`` it gives a run's training patch footprint (landgui.core.runs.sensor)."""
    sides: dict[str, list[int]] = {}
    for rec in scan.images:
        sides.setdefault(f"{rec.source}/{rec.label}", []).append(max(rec.width, rec.height))
    return {k: int(statistics.median(v)) for k, v in sorted(sides.items())}


def materialize(manifest: dict, out_dir: Path, mode: str) -> None:
    """Lay out out_dir/{train,val,test}/<class>/ as copies or links. Never moves; never overwrites.

    The layout is built in a hidden staging folder and renamed into place when complete, so a
    failure (disk full) or a kill never leaves a layout that looks complete; a failed attempt's
    staging folder is removed (on the next run if the process was killed)."""
    if mode == "none":
        return
    root = resolve_dataset_root(manifest)
    clear_unfinished_layout(out_dir)
    check_materialize_target(out_dir)
    staging = out_dir / ".landgui-layout.partial"
    if staging.exists():
        shutil.rmtree(staging)  # left by a killed run: landgui's own folder
    try:
        for s in SPLITS:
            for e in manifest["splits"][s]:
                src = split_entry_path(root, e["path"])
                dst = staging / s / e["label"] / Path(e["path"]).name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if mode == "copy":
                    shutil.copy2(src, dst)
                else:
                    try:
                        os.link(src, dst)
                    except OSError:
                        os.symlink(src, dst)
        # From here until split.json is written the marker says that train/, val/ and test/ are
        # landgui's own unfinished layout, so a rerun after a kill may clear them (and only then).
        (out_dir / LAYOUT_PENDING).write_bytes(b"")
        for s in SPLITS:
            if (staging / s).exists():
                if (out_dir / s).exists():
                    (out_dir / s).rmdir()  # empty (checked above)
                os.replace(staging / s, out_dir / s)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise write_error(out_dir, exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)


LAYOUT_PENDING = ".landgui-layout.pending"


def clear_unfinished_layout(out_dir: Path) -> None:
    """Remove the train/, val/ and test/ folders of a layout whose run was killed before its
    split.json was written (the pending marker proves landgui put them there: it is written only
    after the folders were found empty or absent)."""
    marker = out_dir / LAYOUT_PENDING
    if not marker.exists():
        return
    for s in SPLITS:
        if (out_dir / s).is_dir():
            shutil.rmtree(out_dir / s)
    marker.unlink()


def check_materialize_target(out_dir: Path) -> None:
    """A materialized layout never goes over files: OUT/{train,val,test} must be empty or absent
    (or landgui's own unfinished layout, which materialize clears)."""
    if (out_dir / LAYOUT_PENDING).exists():
        return
    for s in SPLITS:
        d = out_dir / s
        if d.is_dir() and any(d.iterdir()):
            raise LandguiError(f"{d} already holds files; choose an empty --out folder to materialize a split")


def split_entry_path(root: Path, rel: str) -> Path:
    """``root / rel`` for a split entry, refused if it leaves the dataset folder (an absolute
    path, ``..``, or a symlink that resolves outside): a split file cannot make landgui read
    files elsewhere."""
    r = Path(rel)
    if r.is_absolute() or ".." in r.parts or not rel:
        raise LandguiError(f"split entry {rel!r} points outside the dataset folder {root}; the split file is damaged")
    p = root / r
    if p.exists() and not p.resolve().is_relative_to(root.resolve()):
        raise LandguiError(f"split entry {rel!r} resolves outside the dataset folder {root} (a symlink); refused")
    return p


def check_split_target(
    sources: list[Path], out_dir: str | Path, params: SplitParams, *, overwrite: bool = False
) -> None:
    """Everything a split into ``out_dir`` refuses, checked before the (long) scan and again by
    :func:`write_split`, so the CLI, the API and the app keep the same guards: bad parameters, a
    split.json already there (runs may point to it) unless ``overwrite``, ``out_dir`` inside a
    dataset folder, a folder that cannot be written, a layout over files."""
    params.check()
    out = Path(out_dir)
    if (out / "split.json").exists() and not overwrite:
        raise LandguiError(
            f"{out / 'split.json'} already exists and runs may point to it; "
            "choose another --out or replace it with --overwrite"
        )
    check_out_dir(sources, out)
    ensure_writable_dir(out, create=False)
    if params.materialize != "none":
        check_materialize_target(out)


def write_split(scan: ScanResult, out_dir: str | Path, params: SplitParams, *, overwrite: bool = False) -> dict:
    """Split a scanned dataset into ``out_dir``: the optional train/val/test folder layout
    (``params.materialize``), then ``split.json`` last, as the mark of a complete split.

    Refuses what :func:`check_split_target` refuses (an existing split.json unless ``overwrite``,
    ``out_dir`` inside a dataset folder...). Returns the manifest written.
    """
    out = Path(out_dir)
    roots = [Path(r) for r in (scan.sources or {"": scan.root}).values()]
    check_split_target(roots, out, params, overwrite=overwrite)
    params.check_gsd_names(list(scan.sources) or [Path(scan.root).name or "dataset"], scan.classes)
    manifest = build_manifest(scan, params)
    with folder_lock(out):  # one landgui writer of out at a time (issue 23, item 3): checked again under it
        check_split_target(roots, out, params, overwrite=overwrite)
        materialize(manifest, out, params.materialize)
        if overwrite:
            write_json_atomic(out / "split.json", manifest)
        else:  # created exclusively: never over a split.json that appeared meanwhile
            remove_stale_partials(out / "split.json")  # a killed split's
            text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
            if not create_exclusive(out / "split.json", text):
                raise LandguiError(f"{out / 'split.json'} appeared while the split was written; nothing was replaced")
        (out / LAYOUT_PENDING).unlink(missing_ok=True)  # the layout and its split.json are complete
    return manifest


def load_split(path: str | Path) -> dict:
    """Read a split.json (or the split.json inside a folder) and check its schema."""
    p = Path(path)
    if p.is_dir():
        p = p / "split.json"
    if not p.exists():
        raise LandguiError(f"no split.json at {p}")
    try:
        manifest = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LandguiError(f"cannot read {p}: {exc}") from None
    if manifest.get("schema") != SCHEMA or manifest.get("schema_version") not in (1, SCHEMA_VERSION):
        raise LandguiError(f"{p} is not a landgui split file (schema version {SCHEMA_VERSION})")
    _check_manifest(manifest, p)
    if manifest["schema_version"] == 1:
        manifest = upgrade_v1(manifest)
    manifest["_path"] = str(p.resolve())
    return manifest


def _check_manifest(m: dict, p: Path) -> None:
    """The fields landgui reads, with their types: a damaged file gives one clear error, not a
    KeyError deep in training."""
    try:
        ok = (
            isinstance(m["dataset_root"], str)
            and isinstance(m["classes"], list)
            and all(isinstance(c, str) for c in m["classes"])
            and all(
                isinstance(e, dict)
                and isinstance(e["path"], str)
                and e["label"] in m["classes"]
                and isinstance(e["sha256"], str)
                for s in SPLITS
                for e in m["splits"][s]
            )
            and all(isinstance(m["counts"][c][s], int) for c in m["classes"] for s in SPLITS)
            and (
                m["schema_version"] == 1
                or (
                    isinstance(m["sources"], dict)
                    and all(e["source"] in m["sources"] for s in SPLITS for e in m["splits"][s])
                )
            )
        )
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise LandguiError(f"{p} is damaged (missing or malformed entries); re-run `landgui split`")
    for s in SPLITS:
        for e in m["splits"][s]:
            r = Path(e["path"])
            if r.is_absolute() or ".." in r.parts:
                raise LandguiError(f"{p}: entry {e['path']!r} points outside the dataset folder; refused")


def upgrade_v1(m: dict) -> dict:
    """A schema-1 split (one dataset folder) in schema 2's terms: one source named after the folder."""
    name = Path(m["dataset_root"]).name or "dataset"
    m = {**m, "schema_version": SCHEMA_VERSION, "sources": {name: m["dataset_root"]}}
    m["splits"] = {s: [{**e, "source": name} for e in m["splits"][s]] for s in SPLITS}
    by_source: dict[str, dict[str, dict[str, int]]] = {name: {}}
    for c in m["classes"]:
        if sum(m["counts"][c].values()):
            by_source[name][c] = dict(m["counts"][c])
    m["counts_by_source"] = by_source
    return m


def source_names(manifest: dict) -> list[str]:
    """The split's sources in the order they were given."""
    return list(manifest.get("sources") or {})


def split_hash(manifest: dict) -> str:
    """A stable hash of what a split contains (files, labels, contents), for run configs."""
    h = hashlib.sha256()
    for s in SPLITS:
        for e in manifest["splits"][s]:
            h.update(f"{s}\t{e['label']}\t{e['path']}\t{e['sha256']}\n".encode())
    return h.hexdigest()


def resolve_dataset_root(manifest: dict) -> Path:
    """The dataset root written in the split; a clear error if it has gone."""
    root = Path(manifest["dataset_root"])
    if root.exists():
        return root
    raise LandguiError(f"the split's dataset folder is missing: {root}")


def split_warnings(manifest: dict) -> list[str]:
    """What makes this split unfit for training, said when it is made (not at training time)."""
    out = []
    counts = manifest["counts"]
    present = [c for c in manifest["classes"] if counts[c]["train"] > 0]
    if len(present) < 2:
        out.append(
            f"the training split holds {len(present)} class(es) {present}: a classifier needs at least 2 "
            "(one sub-folder of images per class)"
        )
    for s in ("val", "test"):
        empty = [c for c in manifest["classes"] if counts[c][s] == 0 and counts[c]["train"] > 0]
        if empty and any(counts[c][s] for c in manifest["classes"]) and sum(counts[c]["train"] for c in empty):
            out.append(f"no {s} images for {', '.join(empty)} (too few images in that class)")
    return out
