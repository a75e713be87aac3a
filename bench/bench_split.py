"""Benchmark: scan + hash + duplicate search + split of a class-folder dataset.

    python bench/bench_split.py [DATASET_DIR] [--repeat 3]

Prints seconds, files/s and the duplicate statistics; default dataset: ../shared/data/patches/kaggle4.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import write_split
from landgui.core.params import SplitParams

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches" / "kaggle4"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(DEFAULT))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        scan = scan_dataset(args.dataset)
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            m = write_split(scan, out, SplitParams(seed=0))
        t2 = time.perf_counter()
        times.append((t1 - t0, t2 - t1))
    n = len(scan.images) + len(scan.bad_files)
    best_scan = min(t for t, _ in times)
    best_split = min(s for _, s in times)
    groups = scan.duplicate_groups
    print(f"files: {n} ({len(scan.images)} usable, {len(scan.bad_files)} skipped)")
    print(
        f"scan+hash+duplicates: {best_scan:.2f} s ({n / best_scan:,.0f} files/s), split+write: {best_split:.2f} s (best of {args.repeat})"
    )
    print(
        f"duplicate groups: {len(groups)} ({sum(g.kind == 'exact' for g in groups)} exact), "
        f"{sum(len(g.members) for g in groups)} files, {sum(g.conflict for g in groups)} label conflicts"
    )
    print("counts:", {c: m["counts"][c] for c in m["classes"]})


if __name__ == "__main__":
    main()
