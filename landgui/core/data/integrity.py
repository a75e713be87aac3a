"""A split's files as split.json recorded them: :func:`check_unchanged` refuses, with one line, an
image whose bytes changed since the split was made (issue 23, item 23), before training or
evaluating on it. Each file is hashed once per version (size and modification time) per process;
on the real patches (6531 files, 32 MB) that costs about a tenth of decoding them
(``bench/bench_split_hashes.py``, docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

from landgui.core.base.errors import LandguiError
from landgui.core.base.paths import file_sha256
from landgui.core.data.split import resolve_dataset_root, split_entry_path

_HASHED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> SHA-256, this process's


def _sha256_of(p: Path) -> str | None:
    """The SHA-256 of a file's bytes, hashed once per version of the file (its size and
    modification time) in this process; None when it cannot be read (missing: reported elsewhere)."""
    try:
        st = p.stat()
        key = (str(p), st.st_size, st.st_mtime_ns)
        if key not in _HASHED:
            _HASHED[key] = file_sha256(p)
    except OSError:
        return None
    return _HASHED[key]


def check_unchanged(manifest: dict, splits: str | tuple[str, ...]) -> None:
    """Every file of ``splits`` still holds the bytes split.json recorded (its ``sha256``): an image
    replaced by another (say, a test image by another class's) is refused with one line before
    training or evaluating, not trained and measured silently. Missing files are left to
    :func:`landgui.core.data.images.split_files`. Costs one read of each file per process."""
    root = resolve_dataset_root(manifest)
    changed = []
    for s in (splits,) if isinstance(splits, str) else splits:
        for e in manifest["splits"][s]:
            sha = _sha256_of(split_entry_path(root, e["path"]))
            if sha is not None and sha != e["sha256"]:
                changed.append(e["path"])
    if changed:
        raise LandguiError(
            f"{len(changed)} file(s) of {manifest['_path']} changed since the split was made (their bytes differ "
            f"from its sha256), e.g. {changed[0]}; re-run `landgui split` on the dataset as it is now"
        )
