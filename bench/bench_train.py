"""Benchmark: split (seed 0, 70/15/15) -> train -> test accuracy, on any class-folder dataset.

    python bench/bench_train.py [DATASET_DIR] --model transfer|scratch [--image-size S]
        [--epochs N] [--fine-tune-epochs N] [--no-fast-path] [--out bench/out]

Prints the wall time of each step and the test accuracy (default dataset: ../shared/data/patches/kaggle4).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from landgui.core.data import images as D
from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import load_split, write_split
from landgui.core.inference.predictors import predict_images
from landgui.core.models.build import load_run
from landgui.core.params import DEFAULT_EPOCHS, DEFAULT_IMAGE_SIZE, ModelSpec, SplitParams, TrainParams
from landgui.core.training import trainer as T

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches" / "kaggle4"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", nargs="?", default=str(DEFAULT))
    ap.add_argument("--model", default="transfer", choices=["transfer", "scratch"])
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--fine-tune-epochs", type=int, default=3)
    ap.add_argument("--no-fast-path", action="store_true")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--out", default="bench/out")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    out = Path(args.out)
    size = args.image_size or DEFAULT_IMAGE_SIZE[args.model]
    tag = args.tag or f"{args.model}-{size}{'-plainfit' if args.no_fast_path else ''}"
    print(f"machine: {platform.machine()} {os.cpu_count()} cores; {tag}")
    split_dir = out / "split"
    if not (split_dir / "split.json").exists():
        write_split(scan_dataset(args.dataset), split_dir, SplitParams(val=0.15, test=0.15, seed=0))
    spec = ModelSpec(model=args.model, backbone=args.backbone, image_size=size)
    params = TrainParams(
        epochs=args.epochs or DEFAULT_EPOCHS[args.model],
        fine_tune_epochs=args.fine_tune_epochs,
        augment=not args.no_augment,
        fast_path=not args.no_fast_path,
    )
    t0 = time.perf_counter()
    res = T.train(split_dir, out / tag, spec, params, overwrite=True)
    train_s = time.perf_counter() - t0
    stages = {}
    for h in res.history:
        stages[h["stage"]] = stages.get(h["stage"], 0.0) + h["seconds"]
    run = load_run(out / tag)
    manifest = load_split(split_dir)
    files, _ = D.split_files(manifest, "test", run.labels)
    t1 = time.perf_counter()
    imgs = D.decode_all(files.paths, run.image_size)
    probs = predict_images(run.model, imgs)
    acc = float((probs.argmax(1) == files.labels).mean())
    eval_s = time.perf_counter() - t1
    result = {
        "tag": tag,
        "status": res.status,
        "epochs": res.epochs_done,
        "train_wall_s": round(train_s, 1),
        "epoch_seconds_by_stage": {k: round(v, 1) for k, v in stages.items()},
        "best_val_accuracy": res.best_val_accuracy,
        "test_accuracy": acc,
        "test_images": len(files.paths),
        "eval_s": round(eval_s, 1),
    }
    print(json.dumps(result, indent=2))
    (out / f"{tag}.result.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
