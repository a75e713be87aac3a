"""What checking split.json's sha256 values costs before training or evaluating (issue 23, item 23).

Builds a split manifest over the real patches (kaggle4 + nwpu45, every file in "train"), then
times, in this one process:

* baseline: decoding every image at 128 px (what training's data loading does anyway);
* ``check_unchanged`` cold (every file hashed) and warm (size + mtime seen: no file read again).

    .venv/bin/python bench/bench_split_hashes.py [../shared/data/patches]
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from landgui.core.data import images as D
from landgui.core.data import integrity as S


def main() -> None:
    """Print the three times and the ratios against the baseline."""
    data = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/patches")
    files = sorted(
        p
        for src in ("kaggle4", "nwpu45")
        for p in (data / src).rglob("*")
        if p.suffix.lower() in (".jpg", ".png", ".tif")
    )
    entries = [
        {"path": str(p.relative_to(data)), "label": p.parent.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in files
    ]
    manifest = {"dataset_root": str(data), "_path": "bench", "splits": {"train": entries, "val": [], "test": []}}
    size_mb = sum(p.stat().st_size for p in files) / 2**20
    t0 = time.perf_counter()
    D.decode_all([str(p) for p in files], 128)
    decode = time.perf_counter() - t0
    S._HASHED.clear()
    t0 = time.perf_counter()
    S.check_unchanged(manifest, "train")
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    S.check_unchanged(manifest, "train")
    warm = time.perf_counter() - t0
    print(f"{len(files)} files, {size_mb:.1f} MB")
    print(f"decode all at 128 px (baseline): {decode:.2f} s")
    print(f"check_unchanged cold: {cold:.2f} s ({cold / decode:.3f} x the decode)")
    print(f"check_unchanged warm: {warm:.3f} s ({warm / decode:.4f} x the decode)")


if __name__ == "__main__":
    main()
