"""Benchmark: the transfer head trained on cached backbone features (fast path) vs plain fit on
the frozen model, same data, same epochs, measured in one run.

    python bench/bench_fast_path.py [DATASET_DIR] [--image-size 128] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import write_split
from landgui.core.params import ModelSpec, SplitParams, TrainParams
from landgui.core.training import trainer as T

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches" / "kaggle4"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(DEFAULT))
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args()
    out = Path(args.out)
    print(f"machine: {platform.machine()} {os.cpu_count()} cores")
    split = out / "split"
    if not (split / "split.json").exists():
        write_split(scan_dataset(args.dataset), split, SplitParams(seed=0))
    res = {}
    for fast in (True, False):
        tag = f"fastpath-{'on' if fast else 'off'}"
        params = TrainParams(epochs=args.epochs, fine_tune_epochs=0, augment=False, fast_path=fast, patience=100)
        t0 = time.perf_counter()
        r = T.train(split, out / tag, ModelSpec(model="transfer", image_size=args.image_size), params, overwrite=True)
        res[tag] = {
            "wall_s": round(time.perf_counter() - t0, 1),
            "epoch_s": [h["seconds"] for h in r.history],
            "best_val_accuracy": r.best_val_accuracy,
        }
    res["speedup_wall"] = round(res["fastpath-off"]["wall_s"] / res["fastpath-on"]["wall_s"], 1)
    res["speedup_per_epoch"] = round(sum(res["fastpath-off"]["epoch_s"]) / sum(res["fastpath-on"]["epoch_s"]), 1)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
