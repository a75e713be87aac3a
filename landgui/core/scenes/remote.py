"""``segment --cluster``: the workers map the scenes and write the maps themselves; the client
plans, gathers small summaries and writes the many-scene files.

The client never opens a scene: each scene is first one task, :func:`map_scene_task`, on a worker.

Whole scenes
    A scene that fits one task (a JPEG/PNG, or a GeoTIFF of one block of
    :func:`~landgui.core.scenes.blocks.block_rows_for`) is mapped there: the worker classifies it with
    :func:`~landgui.core.scenes.pipeline.classify_scene` and writes its files with
    :func:`landgui.core.scenes.writers.export`, the calls the in-process path makes, so the files
    are the same to the byte (the same atomic names, the summary JSON last). The client gets back
    a small dict (:func:`scene_report`), never the map.

Scenes larger than one task
    The first task sends back the scene's grid and its blocks of grid rows instead of a map; each
    block is then a task, :func:`map_tile`. Each block is classified with a margin
    of rows around it (the patches that overlap its pixels, and the context step's reach, rounded
    to whole batches) so that its pixels come out as the whole scene's would; the worker writes
    them as a GeoTIFF tile ``NAME.tiles/NAME.NNNN.classes.tif`` (:func:`map_tile`). When the last
    tile is in, the client writes ``NAME.classes.vrt`` over the tiles (a few hundred bytes of XML
    per tile), ``NAME.classes.tif`` (one COG of the whole map) only when asked (``cog_mosaic``,
    written by a worker, streamed by GDAL), and ``NAME.summary.json`` last. No process ever holds
    the whole map. Other formats (PNG, CSV, polygons) need the whole map in memory and are not
    written for such a scene: it says so in its summary (``not_written``).

The output folder must be on storage that every worker and the client see at the same path (the
README says so). A worker that cannot read the scene or write there fails that scene with one line
naming the worker and the path; the other scenes go on.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import atomic_path, write_error, write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.base.outdir import check_replaceable, recorded_files
from landgui.core.base.paths import file_sha256
from landgui.core.base.types import ProgressFn
from landgui.core.inference.engine import cached_predictor, litert_file, resolve_engine
from landgui.core.params import MapSettings
from landgui.core.runs.folder import read_run
from landgui.core.scenes import blocks, pipeline
from landgui.core.scenes.context import CONTEXT_ITERATIONS
from landgui.core.scenes.grid import UNCERTAIN, Grid, make_grid
from landgui.core.scenes.io import open_scene, reading_for
from landgui.core.scenes.mosaic import CLASSES_TIF, scene_row, write_mosaic_vrt
from landgui.core.scenes.result import SceneResult, code_colours
from landgui.core.scenes.writers import WRITERS, export, geotiff
from landgui.core.scenes.writers.table import summary_dict, unfamiliar_summary

SceneFn = Callable[[int, str, "dict | None", str | None], None]
"""``on_scene(index, path, report, error)``: a scene done (its :func:`scene_report`) or failed (one line)."""


@dataclass(frozen=True)
class Job:
    """What every task of one ``segment`` job needs, sent with each task (a few hundred bytes)."""

    run_dir: str  # absolute: the workers' working folder may differ
    run_name: str  # as the client names it (the result's ``run``, as in-process)
    engine: str
    labels: tuple[str, ...]
    settings: MapSettings
    batch: int
    block_rows: int | None
    out: str  # absolute
    formats: tuple[str, ...]
    palette: dict[str, str]
    overwrite: bool = False  # replace files at the output names that landgui did not write

    def model(self) -> Any:
        """The run's model in this worker process (loaded once per process), its classes checked."""
        predictor = cached_predictor(self.run_dir, self.engine)
        if list(predictor.labels) != list(self.labels):
            raise LandguiError(
                f"the run {self.run_dir} has other classes here: {predictor.labels} instead of {self.labels}"
            )
        return predictor


def scene_report(result: SceneResult, path: str, name: str, files: dict[str, str]) -> dict[str, Any]:
    """What a worker sends back for a scene: its row of the many-scene summary (:func:`scene_row`),
    the files written and the figures the CLI prints; a few hundred bytes, whatever the scene's size."""
    unf = unfamiliar_summary(result)
    changed = result.stats.get("context_changed", 0)
    row = scene_row(path, name, result)
    return _report(row, files, result.context, changed, unf["warning"] if unf else None, list(result.notes))


def _report(
    row: dict, files: dict[str, str], context: float, changed: int, warning: str | None, notes: list[str]
) -> dict[str, Any]:
    seconds = row["seconds"]
    return {
        "row": row,
        "files": files,
        "rows": row["rows"],
        "cols": row["cols"],
        "seconds": seconds,
        "patches_per_s": row["patches"] / seconds if seconds > 0 else 0.0,
        "engine": row["engine"],
        "coverage": row["coverage"],
        "context": context,
        "context_changed": changed,
        "warning": warning,
        "notes": notes,
    }


def map_scene_task(job: Job, scene_path: str, name: str) -> dict[str, Any]:
    """The worker's first task for a scene. One that fits one task is classified and its files
    written into ``job.out`` as ``segment`` does in-process: ``{"report": scene_report}``. A larger
    one is only planned: ``{"grid", "spans", "crs", "notes"}`` for :func:`map_tile` tasks."""
    message = ""
    try:
        s = job.settings
        scene = open_scene(scene_path, reading_for(s, job.run_dir))
        try:
            grid = make_grid(scene.width, scene.height, s.patch, s.step, s.edge)
            rows = job.block_rows or blocks.block_rows_for(grid)
            spans = blocks.plan_blocks(grid, rows, job.batch) if scene.windowed else [(0, grid.rows)]
            if len(spans) > 1:
                return {"grid": grid, "spans": spans, "crs": scene.crs, "notes": list(scene.notes)}
            predictor = job.model()
            result = pipeline.classify_with(predictor, scene, s)
            result.run = job.run_name  # as the client names it, as in-process
            files = export(
                result, scene, job.out, name, job.palette, job.formats, overwrite=job.overwrite, lock=False
            )  # the client locks
        finally:
            scene.close()
        return {"report": scene_report(result, scene_path, name, files)}
    except (LandguiError, OSError) as exc:
        message = str(exc) if isinstance(exc, LandguiError) else f"{scene_path}: {_said(exc)}"
    raise blocks.on_worker(message)


def _said(exc: BaseException) -> str:
    """An OSError no landgui code named (a reader's or a writer's), in one line."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def tile_margin(grid: Grid, batch: int, context: float) -> int:
    """Grid rows classified on each side of a block so that its pixels are the whole scene's: the
    patches that overlap its first pixel row, plus the context step's reach (one row per
    iteration), rounded up to whole batches (:func:`~landgui.core.scenes.pipeline.rows_per_batch`)."""
    reach = math.ceil(grid.patch / grid.stride) - 1 + (CONTEXT_ITERATIONS if context > 0 else 0)
    group = pipeline.rows_per_batch(grid, batch)
    return -(-reach // group) * group


def tile_name(name: str, k: int) -> str:
    """``NAME.tiles/NAME.0003.classes.tif``: tile ``k`` of scene ``name``, relative to the output folder."""
    return f"{name}.tiles/{name}.{k:04d}.{CLASSES_TIF}"


def map_tile(job: Job, scene_path: str, grid: Grid, rows: tuple[int, int], tile: str) -> dict[str, Any]:
    """The worker's task for block ``rows`` = (r0, r1) of a large scene: classify rows r0 - margin
    .. r1 + margin (:func:`tile_margin`), make the block's own pixels (scene rows r0*stride ..
    r1*stride, the last block to the scene's end) and write them as a GeoTIFF tile at ``tile``
    (relative to ``job.out``). Returns the block's classified pixels per class (as
    :func:`scene_row`), seconds, patches, ignored patches and patches the context step changed."""
    message = ""
    path = Path(job.out) / tile
    r0, r1 = rows
    try:
        predictor = job.model()
        scene = open_scene(scene_path, reading_for(job.settings, job.run_dir))
        try:
            if (scene.width, scene.height) != (grid.width, grid.height):
                raise LandguiError(
                    f"{scene_path} is {scene.width}x{scene.height} px now, {grid.width}x{grid.height} px when planned"
                )
            margin = tile_margin(grid, job.batch, job.settings.context)
            a, b = max(0, r0 - margin), min(grid.rows, r1 + margin)
            t0 = time.perf_counter()
            probs, valid = pipeline.classify_rows(
                predictor,
                scene,
                grid,
                predictor.image_size,
                len(job.labels),
                a,
                b,
                batch=job.batch,
                ignore_nodata=job.settings.ignore_nodata,
            )
            seconds = time.perf_counter() - t0
            own = _own_pixels(job, grid, probs, valid, (a, b), rows, scene.crs, scene.transform)
            try:
                path.parent.mkdir(exist_ok=True)
            except OSError as exc:
                raise write_error(path.parent, exc) from None
            with atomic_path(path) as tmp:
                geotiff.write_geotiff(own, tmp, code_colours(list(job.labels), job.palette))
        finally:
            scene.close()
        mask = valid[(r0 - a) * grid.cols : (r1 - a) * grid.cols]
        part = scene_row(scene_path, "", own)
        return {**part, "seconds": seconds, "ignored": int((~mask).sum()), "changed": own.stats["context_changed"]}
    except (LandguiError, OSError) as exc:
        message = str(exc) if isinstance(exc, LandguiError) else f"{scene_path} -> {path}: {_said(exc)}"
    raise blocks.on_worker(message)


def _own_pixels(
    job: Job,
    grid: Grid,
    probs: np.ndarray,
    valid: np.ndarray,
    span: tuple[int, int],
    rows: tuple[int, int],
    crs: Any,
    transform: Any,
) -> SceneResult:
    """Grid rows ``span`` = (a, b) assembled (context, cell averages) as a grid of their own, cut
    to the pixels of block ``rows``: a :class:`SceneResult` of those pixels alone, its transform
    moved down to their first row."""
    (a, b), s, labels = span, job.settings, list(job.labels)
    y_a = a * grid.stride
    sub_h = (grid.height if b == grid.rows else min(grid.height, (b - 1) * grid.stride + grid.patch)) - y_a
    sub = Grid(grid.width, sub_h, grid.patch, grid.stride, grid.edge, b - a, grid.cols)
    res = pipeline.assemble_result(
        "", labels, sub, probs, valid, 0.0, uncertain_below=s.uncertain_below, context=s.context
    )
    y0 = rows[0] * grid.stride
    y1 = grid.height if rows[1] == grid.rows else rows[1] * grid.stride
    c0, c1 = (y0 - y_a) // grid.cell, -(-(y1 - y_a) // grid.cell)
    k0, k1 = rows[0] - a, rows[1] - a
    changed = 0
    if res.raw_probs is not None:
        ok = res.classes[k0:k1] >= 0
        changed = int((ok & (res.raw_probs[k0:k1].argmax(axis=-1) != res.classes[k0:k1])).sum())
    own = Grid(grid.width, y1 - y0, grid.patch, grid.stride, grid.edge, k1 - k0, grid.cols)
    moved = None if transform is None else transform * transform.translation(0, y0)
    cells = (res.cell_probs[c0:c1], res.cell_classes[c0:c1])
    part = SceneResult("", labels, own, res.classes[k0:k1], res.probs[k0:k1], *cells, {}, 0.0, crs, moved)
    part.stats["context_changed"] = changed
    part.set_threshold(s.uncertain_below)
    return part


def cog_from_vrt(vrt: str, tif: str) -> str:
    """``NAME.classes.tif``, one Cloud-Optimized GeoTIFF of a tiled map, copied by GDAL from its VRT
    in blocks (run on a worker; no process holds the whole map)."""
    import rasterio.shutil

    try:
        with atomic_path(tif) as tmp:
            rasterio.shutil.copy(
                vrt,
                str(tmp),
                driver="COG",
                compress="DEFLATE",
                blocksize=geotiff.COG_BLOCKSIZE,
                overview_resampling="NEAREST",
            )
    except LandguiError as exc:
        raise blocks.on_worker(str(exc)) from None
    return tif


@dataclass
class _Scene:
    """A scene on the cluster: where it is, its name, and (mapped in tiles) its blocks so far."""

    index: int
    path: str
    name: str
    plan: dict = field(default_factory=dict)  # grid, spans, crs, notes of a scene mapped in tiles
    tiles: set = field(default_factory=set)  # its tiles' futures still running
    parts: list[dict] = field(default_factory=list)
    failed: bool = False


def segment_on_cluster(
    client: Any,
    run_dir: str | Path,
    scenes: list[str],
    names: list[str],
    out_dir: str | Path,
    on_scene: SceneFn,
    *,
    palette: dict[str, str],
    engine: str = "auto",
    settings: MapSettings | None = None,
    formats: tuple[str, ...] = tuple(WRITERS),
    block_rows: int | None = None,
    cog_mosaic: bool = False,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> int:
    """Map ``scenes`` on the cluster of ``client``, the workers writing ``NAME.*`` (``names``, one
    per scene) into ``out_dir``; returns the number that failed. ``on_scene(index, path, report,
    error)`` runs in this thread as each scene completes. ``block_rows``: grid rows per block of a
    large scene (default :func:`~landgui.core.scenes.blocks.block_rows_for`); ``cog_mosaic``: also
    one ``NAME.classes.tif`` of a scene mapped in tiles; ``overwrite``: as :func:`~landgui.core.scenes.writers.export`.
    ``progress("mapping", scenes done, scenes)``."""
    from distributed import as_completed

    s = (settings or MapSettings()).check()
    if block_rows is not None and block_rows < 1:
        raise LandguiError(f"--block-rows must be at least 1, got {block_rows}")
    info = read_run(run_dir)
    engine = resolve_engine(engine)
    if engine == "litert":
        litert_file(info.run_dir, progress=progress)  # converted here once, not by every worker
    batch = s.batch or pipeline.batch_for(info.image_size)
    out = Path(out_dir).resolve()
    job = Job(
        str(info.run_dir.resolve()),
        str(info.run_dir),
        engine,
        tuple(info.labels),
        s,
        batch,
        block_rows,
        str(out),
        tuple(formats),
        dict(palette),
        overwrite,
    )
    futures: dict[Any, _Scene] = {}
    ac = as_completed()
    failures, done = 0, 0

    def submit(scene: _Scene, fn: Callable, *args: Any, tag: str) -> Any:
        key = f"landgui-{tag}-{scene.index}-{uuid.uuid4().hex[:8]}"
        fut = client.submit(fn, job, *args, key=key, priority=-scene.index, pure=False)  # earlier scenes first
        futures[fut] = scene
        ac.add(fut)
        return fut

    def finish(scene: _Scene, report: dict | None, error: str | None) -> None:
        nonlocal failures, done
        done, failures = done + 1, failures + (error is not None)
        if error is not None:
            scene.failed = True
            client.cancel(list(scene.tiles))
        on_scene(scene.index, scene.path, report, error)
        if progress:
            progress("mapping", done, len(scenes))

    def step(scene: _Scene, fut: Any) -> None:
        """What a finished task of ``scene`` leads to: its report, its tiles, its VRT, its COG."""
        result = fut.result()
        if "report" in result:
            result["report"]["row"]["scene"] = scene.path
            return finish(scene, result["report"], None)
        if "spans" in result:
            scene.plan = result
            _check_tiled_names(out, scene.name, cog_mosaic, overwrite)
            _clear_summary(out, scene.name)
            wpath = blocks.worker_path(scene.path)
            for k, rows in enumerate(result["spans"]):
                scene.tiles.add(
                    submit(scene, map_tile, wpath, result["grid"], rows, tile_name(scene.name, k), tag="tile")
                )
            return None
        if fut.key.startswith("landgui-tile"):
            scene.tiles.discard(fut)
            scene.parts.append(result)
            if scene.tiles:
                return None
            if cog_mosaic:
                vrt = str(_write_tiles_vrt(out, scene, job))
                submit(scene, _cog_task, vrt, str(out / f"{scene.name}.{CLASSES_TIF}"), tag="cog")
                return None
        if "sha256" in result:  # the COG of a tiled scene
            scene.plan["cog_sha256"] = result["sha256"]
        return finish(scene, _finish_tiled(out, scene, job, cog_mosaic), None)

    try:
        for i, (path, name) in enumerate(zip(scenes, names, strict=True)):
            submit(_Scene(i, path, name), map_scene_task, blocks.worker_path(path), name, tag="scene")
        for fut in ac:
            scene = futures.pop(fut)
            if scene.failed or fut.status == "cancelled":
                continue
            if fut.status != "finished":
                finish(scene, None, blocks.error_line(fut))
                continue
            try:
                step(scene, fut)
            except LandguiError as exc:
                finish(scene, None, str(exc))
    except BaseException:
        blocks.cancel_pending(client, futures)
        raise
    return failures


def _cog_task(job: Job, vrt: str, tif: str) -> dict[str, str]:
    return {"cog": cog_from_vrt(vrt, tif), "sha256": file_sha256(Path(tif))}  # hashed here, not by the client


def _check_tiled_names(out: Path, name: str, cog: bool, overwrite: bool) -> None:
    """Refuse (one line) to replace a ``NAME.classes.vrt`` / ``.tif`` that landgui did not write."""
    summary = out / f"{name}.summary.json"
    try:
        previous = json.loads(summary.read_text("utf-8"))
    except (OSError, ValueError):
        previous = None
    names = [f"{name}.classes.vrt", *([f"{name}.{CLASSES_TIF}"] if cog else [])]
    check_replaceable(out, names, recorded_files(previous if isinstance(previous, dict) else None), summary, overwrite)


def _clear_summary(out: Path, name: str) -> None:
    """The scene counts as done again only once its tiles, VRT and summary are all written."""
    path = out / f"{name}.summary.json"
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None


def _write_tiles_vrt(out: Path, scene: _Scene, job: Job) -> Path:
    files = [out / tile_name(scene.name, k) for k in range(len(scene.plan["spans"]))]
    vrt, why_not = write_mosaic_vrt(
        out, [], list(job.labels), job.palette, files=files, filename=f"{scene.name}.classes.vrt"
    )
    if vrt is None:
        raise LandguiError(f"no {scene.name}.classes.vrt: {why_not or 'no tile written'}")
    return vrt


def _finish_tiled(out: Path, scene: _Scene, job: Job, cog: bool) -> dict[str, Any]:
    """A tiled scene's VRT (written before its COG, with ``cog``) and its summary JSON, last; returns its report."""
    vrt = out / f"{scene.name}.classes.vrt" if cog else _write_tiles_vrt(out, scene, job)  # the COG's is newer
    parts, g, s, crs = scene.parts, scene.plan["grid"], job.settings, scene.plan["crs"]
    keys = [*job.labels, UNCERTAIN]
    pixels = {k: sum(p["pixels"].get(k, 0.0) for p in parts) for k in keys}
    total = sum(pixels.values())
    coverage = {k: pixels[k] / total if total else 0.0 for k in keys}
    seconds = sum(p["seconds"] for p in parts)
    changed = sum(p["changed"] for p in parts)
    files = {"classes_vrt": str(vrt), "tiles": str(out / f"{scene.name}.tiles")}
    hashes = {vrt.name: file_sha256(vrt)}  # what a later export checks before it replaces them
    if cog:
        files["geotiff"] = str(out / f"{scene.name}.{CLASSES_TIF}")
        hashes[f"{scene.name}.{CLASSES_TIF}"] = scene.plan["cog_sha256"]
    # the map's figures without its arrays: the summary JSON as in-process (table.summary_dict) writes it
    stats = {"ignored": sum(p["ignored"] for p in parts), "context_changed": changed}
    none = np.zeros((0, 0), np.int16)  # classes, probabilities, cells: in the tiles, not here
    whole = SceneResult(scene.path, list(job.labels), g, none, none, none, none, coverage, seconds, crs, None, stats)
    whole.uncertain_below, whole.context = s.uncertain_below, s.context
    whole.engine, whole.run = job.engine, job.run_name
    summary = {**summary_dict(whole), "tiles": len(parts), "not_written": [f for f in job.formats if f != "geotiff"]}
    summary["files"], summary["file_sha256"] = files, hashes
    write_json_atomic(out / f"{scene.name}.summary.json", summary)  # last: the scene is complete
    files["summary"] = str(out / f"{scene.name}.summary.json")
    area = next((p["pixel_area_m2"] for p in parts), None)
    row = {"scene": scene.path, "name": scene.name, "error": "", "rows": g.rows, "cols": g.cols, "patches": g.n}
    row |= {"seconds": round(seconds, 3), "engine": job.engine, "coverage": coverage, "pixels": pixels}
    row["pixel_area_m2"] = area
    return _report(row, files, s.context, changed, None, scene.plan["notes"])
