"""Benchmark: the robust-training ablation. Train one recipe on kaggle4 (split seed 0, 70/15/15),
then evaluate it on kaggle4's test split, on kaggle4's validation split as it is and under a fixed
sensor shift (the model-selection criterion: validation data only), and on aid_cross (real AID
scenes from another sensor; evaluation only: never used to train, tune or select), plain and with
``--adapt`` (AdaBN).

    python bench/bench_robust.py --tag NAME [--model transfer|scratch] [--no-INGREDIENT ...]
        [--feature-views N] [--fine-tune-epochs N] [--epochs N] [--eval-only]

Ingredients: geometry, resolution, blur, jpeg, colour, noise (see landgui/core/augment.py).
Writes bench/out/robust-NAME.json and prints one table row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from landgui.core import data as D
from landgui.core import training as T
from landgui.core.augment import Recipe, augment_batch
from landgui.core.dataset import scan_dataset
from landgui.core.evaluation import evaluate_folder, evaluate_run
from landgui.core.inference import predict_images
from landgui.core.models import ModelSpec, load_run
from landgui.core.split import SplitParams, load_split, write_split

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches"
# the fixed sensor shift of the validation criterion: coarser ground resolution (down to 3/8),
# another colour response and JPEG re-compression, seeded (no geometry, no blur, no noise)
SHIFT = Recipe(geometry=False, resolution=1.0, min_scale=0.375, blur=0.0, jpeg=1.0, colour=True, noise=0.0)


def shifted_val_accuracy(run_dir: Path, split_dir: Path) -> float:
    run = load_run(run_dir)
    files, _ = D.split_files(load_split(split_dir), "val", run.labels)
    imgs = augment_batch(D.decode_all(files.paths, run.image_size), 12345, SHIFT)
    return float((predict_images(run.model, imgs).argmax(1) == files.labels).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tag", required=True)
    ap.add_argument("--model", default="transfer", choices=["transfer", "scratch"])
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--fine-tune-epochs", type=int, default=T.TrainParams.fine_tune_epochs)
    ap.add_argument("--feature-views", type=int, default=T.TrainParams.feature_views)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--resolution", type=int, help="canonical resolution px (default: landgui's; 0 = off)")
    ap.add_argument("--feature-norm", action="store_true", help="standardise the features in the head")
    ap.add_argument("--no-source-bn", action="store_true", help="keep ImageNet batch-norm statistics")
    for ing in ("geometry", "resolution", "blur", "jpeg", "colour", "noise"):
        ap.add_argument(f"--no-{ing}", action="store_true")
    ap.add_argument("--recipe", default="{}", help="recipe settings as JSON, e.g. '{\"blur\": 0.0}'")
    ap.add_argument("--eval-only", action="store_true", help="evaluate an existing bench/out/TAG run")
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args()
    out = Path(args.out)
    run_dir = out / args.tag
    split_dir = out / "split"
    if not (split_dir / "split.json").exists():
        write_split(scan_dataset(SHARED / "kaggle4"), split_dir, SplitParams(val=0.15, test=0.15, seed=0))
    recipe = Recipe()
    off = {"geometry": False, "resolution": 0.0, "blur": 0.0, "jpeg": 0.0, "colour": False, "noise": 0.0}
    for ing, val in off.items():
        if getattr(args, f"no_{ing}"):
            setattr(recipe, ing, val)
    for key, val in json.loads(args.recipe).items():
        setattr(recipe, key, val)
    train_s = None
    if not args.eval_only:
        spec = ModelSpec(
            model=args.model,
            image_size=args.image_size or T.DEFAULT_IMAGE_SIZE[args.model],
            resolution=T.DEFAULT_RESOLUTION[args.model] if args.resolution is None else args.resolution,
            feature_norm=args.feature_norm,
        )
        params = T.TrainParams(
            epochs=args.epochs or T.DEFAULT_EPOCHS[args.model],
            fine_tune_epochs=args.fine_tune_epochs,
            augment=not args.no_augment,
            recipe=asdict(recipe),
            feature_views=args.feature_views,
            source_bn=not args.no_source_bn,
        )
        t0 = time.perf_counter()
        T.train(split_dir, run_dir, spec, params, overwrite=True)
        train_s = time.perf_counter() - t0
    cfg = json.loads((run_dir / "config.json").read_text())
    test = evaluate_run(run_dir, "test")
    val = evaluate_run(run_dir, "val")
    shifted = shifted_val_accuracy(run_dir, split_dir)
    aid = evaluate_folder(run_dir, SHARED / "aid_cross")
    aid_ad = evaluate_folder(run_dir, SHARED / "aid_cross", adapt=True)

    def per_class(ev: dict) -> dict:
        return {k: round(v["recall"], 4) for k, v in ev["per_class"].items()}

    result = {
        "tag": args.tag,
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "model": cfg["model"]["model"],
        "image_size": cfg["model"]["image_size"],
        "resolution": cfg["model"].get("resolution", 0),
        "feature_norm": cfg["model"].get("feature_norm", False),
        "params": cfg["params"],
        "train_wall_s": round(train_s, 1) if train_s else None,
        "epochs": len(json.loads((run_dir / "history.json").read_text())),
        "kaggle4_test": round(test["accuracy"], 4),
        "kaggle4_val": round(val["accuracy"], 4),
        "kaggle4_val_shifted": round(shifted, 4),
        "selection_score": round((val["accuracy"] + shifted) / 2, 4),
        "aid_cross": round(aid["accuracy"], 4),
        "aid_cross_per_class": per_class(aid),
        "aid_cross_adapted": round(aid_ad["accuracy"], 4),
        "aid_cross_adapted_per_class": per_class(aid_ad),
    }
    print(json.dumps(result, indent=2))
    (out / f"robust-{args.tag}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
