"""``landgui segment RUN SCENE... --out DIR``: map large scenes patch by patch and export the maps.

Each scene goes through :func:`landgui.core.services.map_and_export` (in this process) or is
mapped and written by a Dask worker (:mod:`landgui.core.scenes.remote`: this process gathers
small summaries only); several scenes also get a batch summary and, when they share a CRS, a
mosaic VRT.
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
from landgui.core.base.outdir import folder_lock
from landgui.core.base.progress import TerminalProgress
from landgui.core.params import DEFAULT_CONTEXT, RADIOMETRIES, UNCERTAIN_BELOW, MapSettings
from landgui.core.runs.folder import read_run
from landgui.core.runs.palette import run_palette
from landgui.core.scenes import remote
from landgui.core.scenes.bands import parse_bands
from landgui.core.scenes.cluster import connect, describe, load_security, parse_spec, require_dask
from landgui.core.scenes.io import demo_scene_path
from landgui.core.scenes.mosaic import check_batch_outputs, scene_row, write_batch_outputs
from landgui.core.scenes.writers import all_formats, output_name, parse_formats


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
    sg.add_argument(
        "--bands",
        metavar="R,G,B",
        help="the scene's bands read as red, green, blue (1-based, e.g. 3,2,1 for blue-green-red-NIR; "
        "default: as the file's colour interpretation and band names say)",
    )
    sg.add_argument(
        "--radiometry",
        choices=RADIOMETRIES,
        default="auto",
        help="how 16-bit and float values become 8 bit: reflectance (fixed, the same colours in every scene; "
        "the file's scale/offset, else x 10,000), landsat (Collection 2 Level-2 scale/offset), stretch (2-98 %% "
        "of each scene), 8bit (as given); default auto: 8-bit as given, reflectance where the file states a "
        "scale or offset, else stretch",
    )
    sg.add_argument(
        "--native",
        action="store_true",
        help="map georeferenced scenes at their own pixels (default: resampled to the model's ground resolution "
        "when its run records one)",
    )
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
        metavar="local:N|tls://HOST:8786",
        help="map on a Dask cluster: N worker processes here, or the scheduler of workers started with "
        "'dask scheduler' and 'dask worker' (they must read the run and the scenes and write --out at the "
        "same paths; tcp:// only on a trusted network); "
        'needs pip install "landgui[cluster]" (default: in this process)',
    )
    sg.add_argument(
        "--cluster-security",
        metavar="FILE",
        help="with a tls:// --cluster: YAML with tls_ca_file, tls_client_cert, tls_client_key "
        "(default: Dask's distributed.comm.tls configuration)",
    )
    sg.add_argument(
        "--cog-mosaic",
        action="store_true",
        help="with --cluster: also write one NAME.classes.tif of a scene mapped in tiles (default: the tiles and a VRT)",
    )
    sg.add_argument(
        "--block-rows",
        type=int,
        metavar="N",
        help="with --cluster: patch rows per task of a GeoTIFF (default: about 16 megapixels of scene per task)",
    )
    sg.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files at the output names even where landgui did not write them (default: refuse)",
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
        bands=None if args.bands is None else parse_bands(args.bands),
        radiometry=args.radiometry,
        native=args.native,
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
    else:
        for given, option in ((args.block_rows, "--block-rows"), (args.cluster_security, "--cluster-security")):
            if given is not None:
                raise LandguiError(f"{option} applies to --cluster only")
        if args.cog_mosaic:
            raise LandguiError("--cog-mosaic applies to --cluster only")
    ensure_writable_dir(args.out, create=False)  # before loading the model: a bad --out fails at once
    scenes = [str(demo_scene_path()) if s == "demo" else s for s in args.scenes]
    with folder_lock(args.out):  # one landgui writer of --out at a time; another is refused at once
        if len(scenes) > 1:  # the user's summary.csv is refused before the scenes are mapped
            check_batch_outputs(args.out, "geotiff" in formats, args.overwrite)
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
                overwrite=args.overwrite,
            )
        except LandguiError as exc:
            if len(scenes) == 1:
                raise
            print(f"landgui: error: {path}: {exc}", file=sys.stderr)
            rows.append(scene_row(path, name, None, str(exc)))
            continue
        report = remote.scene_report(res, path, name, files)
        _print_scene(args, path, report)
        rows.append(report["row"])
    return model.labels, palette, rows


def _segment_on_cluster(
    args: argparse.Namespace, scenes: list[str], formats: tuple[str, ...], settings: MapSettings
) -> tuple:
    """Map the scenes on a Dask cluster whose workers write the maps into --out
    (landgui.core.scenes.remote); returns (labels, palette, summary rows)."""

    info = read_run(args.run)  # a bad run fails before any worker starts
    palette = run_palette(args.run, info.labels)
    named = _output_names(scenes, args.out)  # in the order given, whatever finishes first
    rows = [scene_row(p, n, None, reason or "not mapped") for p, (n, reason) in zip(scenes, named, strict=True)]
    todo = [i for i, (_, reason) in enumerate(named) if not reason]
    for i, (_, reason) in enumerate(named):
        if reason and len(scenes) > 1:
            print(f"landgui: error: {scenes[i]}: {reason}", file=sys.stderr)
    bar = TerminalProgress(enabled=not args.quiet, unit="scenes")

    def on_scene(j: int, path: str, report: dict | None, error: str | None) -> None:
        i = todo[j]
        if bar.enabled and bar._tty:
            bar.stream.write("\r\x1b[K")  # the scene's line replaces the bar's; the bar redraws below
        if report is None:
            rows[i] = scene_row(path, named[i][0], None, error)
            if len(scenes) > 1:
                print(f"landgui: error: {path}: {error}", file=sys.stderr, flush=True)
            return
        _print_scene(args, path, report)
        rows[i] = report["row"]

    if args.cluster_security is not None or args.cluster.startswith("tls://"):
        load_security(args.cluster_security, args.cluster)  # a bad certificate file fails before connecting
    with connect(args.cluster, args.cluster_security) as client:
        if not args.quiet:
            print(f"cluster {args.cluster}: {describe(client)}", file=sys.stderr)
        remote.segment_on_cluster(
            client,
            args.run,
            [scenes[i] for i in todo],
            [named[i][0] for i in todo],
            args.out,
            on_scene,
            engine=args.engine,
            settings=settings,
            formats=formats,
            palette=palette,
            block_rows=args.block_rows,
            cog_mosaic=args.cog_mosaic,
            overwrite=args.overwrite,
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


def _print_scene(args: argparse.Namespace, path: str, report: dict) -> None:
    """The scene's line, notes, warning and (--json) files, from its report (:func:`remote.scene_report`)."""
    cov = ", ".join(f"{k} {v:.1%}" for k, v in report["coverage"].items())
    print(
        f"{path}: {report['rows']}x{report['cols']} patches in {report['seconds']:.1f} s "
        f"({report['patches_per_s']:,.0f} patches/s, {report['engine']}); {cov}"
        + (f"; context changed {report['context_changed']} patches" if report["context"] > 0 else ""),
        flush=True,
    )
    for note in report["notes"]:
        print(f"landgui: note: {note}", file=sys.stderr)
    if report["warning"]:
        print(f"landgui: warning: {path}: {report['warning']}", file=sys.stderr)
    if args.json:
        print(json.dumps(report["files"], indent=2))


def _write_batch_outputs(
    args: argparse.Namespace, rows: list[dict], labels: list[str], palette: dict, formats: tuple[str, ...]
) -> None:
    """summary.csv, coverage.csv and (georeferenced scenes in one CRS) mosaic.classes.vrt in --out."""

    out = ensure_writable_dir(args.out)
    maps = [_class_map(out, r["name"]) for r in rows if not r["error"]] if "geotiff" in formats else None
    written, why_not = write_batch_outputs(out, rows, labels, palette, maps, overwrite=args.overwrite)
    if why_not:
        print(f"landgui: note: {why_not}", file=sys.stderr)
    if not args.quiet:
        print(f"wrote {', '.join(written.values())}")


def _class_map(out: Path, name: str) -> Path:
    """``NAME.classes.tif``, or ``NAME.classes.vrt`` where a scene mapped in tiles (--cluster
    without --cog-mosaic) wrote that last."""
    tif, vrt = out / f"{name}.classes.tif", out / f"{name}.classes.vrt"
    if vrt.is_file() and (not tif.is_file() or vrt.stat().st_mtime_ns > tif.stat().st_mtime_ns):
        return vrt
    return tif
