"""Where landgui keeps things: the user's cache and state folders, the package's resources
(also inside a PyInstaller bundle), and the SHA-256 that names a model file's contents."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path


def cache_dir() -> Path:
    """The user's cache folder for landgui (``$LANDGUI_CACHE_DIR``, else XDG / ~/.cache)."""
    env = os.environ.get("LANDGUI_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "landgui"


def state_dir() -> Path:
    """The user's landgui state folder (logs, app state)."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "landgui"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "landgui"


def resources_dir() -> Path:
    """landgui's package data folder (in a PyInstaller bundle it sits under ``_MEIPASS``)."""
    bundle = getattr(sys, "_MEIPASS", None)
    base = Path(bundle) / "landgui" if bundle else Path(__file__).resolve().parents[2]
    return base / "resources"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
