"""Which split belongs to a dataset, and where a new one goes (no Qt).

The Dataset tab shows a dataset's folders beside *their* split only: the split of another dataset
is never shown beside a newly chosen folder, and a dataset whose split.json exists (in the folder
it would be written to) shows it instead of "No split yet".
"""

from __future__ import annotations

import os
from pathlib import Path

from landgui.core.base.errors import LandguiError
from landgui.core.data.split import load_split


def default_split_folder(dataset: Path | list[Path]) -> Path:
    """Where a dataset's split goes unless the user says otherwise: a sibling ``<name>-split``
    next to the dataset, never inside it (a new folder there would be read as a class); under
    ~/landgui-data when the dataset's parent folder cannot be written. Several source folders:
    ``<a>+<b>-split`` in their common parent folder."""
    folders = [
        Path(os.path.abspath(Path(d).expanduser())) for d in (dataset if isinstance(dataset, list) else [dataset])
    ]
    name = "+".join(d.name or "dataset" for d in folders)[:80] + "-split"
    parent = folders[0].parent
    if len(folders) > 1:
        try:
            parent = Path(os.path.commonpath(folders))
        except ValueError:  # on different drives
            pass
    if parent not in folders and os.access(parent, os.W_OK):
        return parent / name
    return Path.home() / "landgui-data" / name


def inside_any(out: str | Path, folders: list[str]) -> bool:
    """True when ``out`` is one of the dataset folders or lies inside one (a split written there
    would be read as a class)."""
    if not out:
        return False
    o = Path(out).expanduser().resolve()
    return any(o == (d := Path(f).expanduser().resolve()) or o.is_relative_to(d) for f in folders)


def _same_folders(a: list[str], b: list[str]) -> bool:
    try:
        return {Path(f).resolve() for f in a} == {Path(f).resolve() for f in b}
    except OSError:
        return False


def split_folders(manifest: dict) -> list[str]:
    """The dataset folders a split was made of (its sources, or its one dataset folder)."""
    return list((manifest.get("sources") or {}).values()) or [manifest["dataset_root"]]


def split_of(folders: list[str], candidates: list[str | Path | None]) -> dict | None:
    """The first of the candidate split.json files (or folders holding one) that was made of
    exactly these dataset folders, loaded; None when none was (missing, damaged, or another
    dataset's)."""
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate)
        if not (path / "split.json" if path.is_dir() else path).is_file():
            continue
        try:
            manifest = load_split(path)
        except LandguiError:
            continue
        if _same_folders(split_folders(manifest), folders):
            return manifest
    return None
