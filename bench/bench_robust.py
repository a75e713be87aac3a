"""Benchmark: the robust-training ablation. Train one recipe on kaggle4 (split seed 0, 70/15/15),
then evaluate it on kaggle4's test split, on kaggle4's validation split as it is and under a fixed
sensor shift (the model-selection criterion: validation data only), and on aid_cross (real AID
scenes from another sensor; evaluation only: never used to train, tune or select), plain and with
``--adapt`` (AdaBN).

    python bench/bench_robust.py --tag NAME [--model transfer|scratch] [--no-INGREDIENT ...]
        [--feature-views N] [--fine-tune-epochs N] [--epochs N] [--eval-only]

Ingredients: geometry, resolution, blur, jpeg, colour, noise (see landgui/core/data/augment.py).
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

from landgui.core.data import images as D
from landgui.core.data.augment import Recipe
from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import load_split, write_split
from landgui.core.evaluation.evaluate import evaluate_folder, evaluate_run
from landgui.core.inference.predictors import predict_images
from landgui.core.models.build import load_run
from landgui.core.params import (
    DEFAULT_EPOCHS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_RESOLUTION,
    ModelSpec,
    SplitParams,
    TrainParams,
)
from landgui.core.training import trainer as T

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches"
SHIFT_SEED = 12345


def sensor_shift(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The fixed "another sensor" of the validation criterion, independent of the training recipe:
    coarser ground resolution (factor 3/8-1), per-channel gain 0.85-1.15, gamma 0.75-1.33,
    saturation 0.7-1.3, JPEG quality 30-95."""
    from landgui.core.data.augment import jpeg, resolution

    img = resolution(img, rng, min_scale=0.375)
    x = img.astype(np.float32) / 255.0 * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    x = np.clip(x, 0, 1) ** np.float32(np.exp(rng.uniform(np.log(0.75), np.log(1.33))))
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * np.float32(rng.uniform(0.7, 1.3))
    return jpeg((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8), rng)


def shift_batch(images: np.ndarray) -> np.ndarray:
    kids = np.random.SeedSequence(SHIFT_SEED).spawn(len(images))
    return np.stack([sensor_shift(im, np.random.default_rng(k)) for im, k in zip(images, kids, strict=True)])


def shifted_val_accuracy(run_dir: Path, split_dir: Path) -> float:
    run = load_run(run_dir)
    files, _ = D.split_files(load_split(split_dir), "val", run.labels)
    imgs = shift_batch(D.decode_all(files.paths, run.image_size))
    return float((predict_images(run.model, imgs).argmax(1) == files.labels).mean())


def _previous(out: Path, tag: str, key: str):
    try:
        return json.loads((out / f"robust-{tag}.json").read_text()).get(key)
    except (OSError, ValueError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tag", required=True)
    ap.add_argument("--model", default="transfer", choices=["transfer", "scratch"])
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--fine-tune-epochs", type=int, default=TrainParams.fine_tune_epochs)
    ap.add_argument("--patience", type=int, default=TrainParams.patience)
    ap.add_argument("--feature-views", type=int, default=TrainParams.feature_views)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--resolution", type=int, help="canonical resolution px (default: landgui's; 0 = off)")
    ap.add_argument("--feature-norm", action="store_true", help="standardise the features in the head")
    ap.add_argument(
        "--source-bn", action="store_true", help="re-estimate the backbone's batch-norm statistics on kaggle4"
    )
    for ing in ("geometry", "resolution", "blur", "jpeg", "colour", "noise"):
        ap.add_argument(f"--no-{ing}", action="store_true")
    ap.add_argument("--recipe", default="{}", help="recipe settings as JSON, e.g. '{\"blur\": 0.0}'")
    ap.add_argument("--eval-only", action="store_true", help="evaluate an existing bench/out/TAG run (keeps its time)")
    ap.add_argument("--shift-only", action="store_true", help="only recompute the shifted-val criterion of TAG")
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
    if args.shift_only:
        path = out / f"robust-{args.tag}.json"
        r = json.loads(path.read_text())
        r["kaggle4_val_shifted"] = round(shifted_val_accuracy(run_dir, split_dir), 4)
        r["selection_score"] = round((r["kaggle4_val"] + r["kaggle4_val_shifted"]) / 2, 4)
        path.write_text(json.dumps(r, indent=2))
        print(args.tag, r["kaggle4_val_shifted"], r["selection_score"])
        return
    train_s = None
    if not args.eval_only:
        spec = ModelSpec(
            model=args.model,
            image_size=args.image_size or DEFAULT_IMAGE_SIZE[args.model],
            resolution=DEFAULT_RESOLUTION[args.model] if args.resolution is None else args.resolution,
            feature_norm=args.feature_norm,
        )
        params = TrainParams(
            epochs=args.epochs or DEFAULT_EPOCHS[args.model],
            fine_tune_epochs=args.fine_tune_epochs,
            patience=args.patience,
            augment=not args.no_augment,
            recipe=asdict(recipe),
            feature_views=args.feature_views,
            source_bn=args.source_bn,
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
        "train_wall_s": round(train_s, 1) if train_s else _previous(out, args.tag, "train_wall_s"),
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
