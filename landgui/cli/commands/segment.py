"""``landgui segment RUN SCENE... --out DIR``: map large scenes patch by patch and export the maps.

Each scene goes through :func:`landgui.core.services.map_and_export` (in this process) or is
classified on a Dask cluster (:mod:`landgui.core.scenes.blocks`) and exported here with
:func:`landgui.core.services.export_map`; several scenes also get a batch summary and, when they
share a CRS, a mosaic VRT.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from landgui.cli.common import add_engine, note_stage
from landgui.core import services
from landgui.core.base.atomic import ensure_writable_dir
from landgui.core.base.errors import LandguiError
from landgui.core.base.progress import TerminalProgress
from landgui.core.params import DEFAULT_CONTEXT, UNCERTAIN_BELOW, MapSettings
from landgui.core.runs.folder import read_run
from landgui.core.runs.palette import run_palette
from landgui.core.scenes import blocks
from landgui.core.scenes.cluster import connect, describe, parse_spec, require_dask
from landgui.core.scenes.io import demo_scene_path
from landgui.core.scenes.mosaic import scene_row, write_batch_summary, write_mosaic_vrt
from landgui.core.scenes.writers import all_formats, output_name, parse_formats
from landgui.core.scenes.writers.table import unfamiliar_summary


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``segment`` to the CLI's subparsers (its ``--formats`` choices from the writers' registry)."""
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
    names = ",".join(all_formats())
    sg.add_argument("--formats", default=names, help=f"comma list of {names}")
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
    add_engine(sg)
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
    sg.set_defaults(func=run)
    return sg


def map_settings(args: argparse.Namespace) -> MapSettings:
    """The checked :class:`MapSettings` of the command's options (defaults where none is given)."""
    return MapSettings(
        patch=args.patch,
        stride=args.stride,
        batch=args.batch,
        edge=args.edge,
        ignore_nodata=args.ignore_nodata,
        uncertain_below=UNCERTAIN_BELOW if args.uncertain_below is None else args.uncertain_below,
        context=0.0 if args.no_context else (DEFAULT_CONTEXT if args.context is None else args.context),
    ).check()


def run(args: argparse.Namespace) -> int:
    """Check everything that can be checked before the model loads, map, and write the batch files;
    exit status 1 when a scene of several failed."""
    formats = parse_formats(args.formats)
    settings = map_settings(args)
    if args.block_rows is not None and args.block_rows < 1:
        raise LandguiError(f"--block-rows must be at least 1, got {args.block_rows}")
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
            labels, palette, rows = _segment_on_cluster(args, scenes, formats, settings)
        except KeyboardInterrupt:
            print(
                f"\nlandgui: interrupted: the cluster's remaining tasks were cancelled; finished scenes are in {args.out}",
                file=sys.stderr,
            )
            return 130
    else:
        labels, palette, rows = _segment_in_process(args, scenes, formats, settings)
    if len(scenes) > 1:
        _write_batch_outputs(args, rows, labels, palette, formats)
    return 0 if not any(r["error"] for r in rows) else 1


def _segment_in_process(
    args: argparse.Namespace, scenes: list[str], formats: tuple[str, ...], settings: MapSettings
) -> tuple:
    """Map the scenes one after the other in this process; returns (labels, palette, summary rows)."""

    model = services.load_model(args.run, args.engine, adapt=args.adapt, progress=note_stage(args.quiet))
    palette = run_palette(args.run, model.labels)
    rows: list[dict] = []
    for path, (name, name_error) in zip(scenes, _output_names(scenes, args.out), strict=True):
        try:
            if name_error:
                raise LandguiError(name_error)
            res, files = services.map_and_export(
                args.run,
                path,
                args.out,
                settings,
                formats=formats,
                palette=palette,
                progress=TerminalProgress(enabled=not args.quiet, unit="patches"),
                adapt=args.adapt,
                name=name,
                model=model,
            )
        except LandguiError as exc:
            if len(scenes) == 1:
                raise
            print(f"landgui: error: {path}: {exc}", file=sys.stderr)
            rows.append(scene_row(path, name, None, str(exc)))
            continue
        _print_scene(args, path, res, files)
        rows.append(scene_row(path, name, res))
    return model.labels, palette, rows


def _segment_on_cluster(
    args: argparse.Namespace, scenes: list[str], formats: tuple[str, ...], settings: MapSettings
) -> tuple:
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

    def on_scene(j: int, path: str, res: Any, error: str | None) -> None:
        i = todo[j]
        files: dict[str, str] = {}
        if res is not None:
            try:
                files = services.export_map(res, args.out, palette=palette, formats=formats, name=names[i])
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
        blocks.map_on_cluster(
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
