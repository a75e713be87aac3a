"""The small sample dataset that ships with landgui (60 kaggle4 patches per class, see its README),
so a new user can split, train, evaluate and map without finding data first."""

from __future__ import annotations

import shutil
from pathlib import Path

from landgui.core.base.errors import LandguiError
from landgui.core.base.paths import resources_dir

SAMPLE_NAME = "landcover4-sample"


def sample_dataset_dir() -> Path:
    """Where the installed sample dataset lives (inside the package's resources, read-only)."""
    return resources_dir() / "sample" / SAMPLE_NAME


def copy_sample_dataset(dest: str | Path) -> Path:
    """Copy the sample dataset into ``dest`` (a new or empty folder). Never overwrites: a folder
    that already holds files is refused. Returns ``dest``."""
    src = sample_dataset_dir()
    if not src.is_dir():
        raise LandguiError(f"the sample dataset is missing from this installation ({src}); reinstall landgui")
    d = Path(dest)
    if d.exists() and not d.is_dir():
        raise LandguiError(f"{d} is a file, not a folder")
    if d.is_dir() and any(d.iterdir()):
        raise LandguiError(f"{d} is not empty; choose a new or empty folder (nothing was copied)")
    try:
        shutil.copytree(src, d, dirs_exist_ok=True)
    except OSError as exc:
        raise LandguiError(f"cannot copy the sample dataset to {d}: {exc.strerror or exc}") from None
    return d
