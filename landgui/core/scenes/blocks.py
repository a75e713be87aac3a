"""Mapping many scenes on a Dask cluster: one task per block of grid rows, assembled on the client.

``landgui segment --cluster`` does not assemble here: its workers write the maps themselves
(:mod:`landgui.core.scenes.remote`, which plans with :func:`plan_blocks` and names failures with
:func:`on_worker`). :func:`map_on_cluster` is for a caller that wants each scene's
:class:`SceneResult` in memory (the probabilities come back to the client).

Work units
    A scene read in windows (TIFF/GeoTIFF, GDAL virtual paths such as ``/vsicurl/``) is cut into
    blocks of whole grid rows, about :data:`BLOCK_PIXELS` scene pixels each (``block_rows`` sets
    the rows per block, rounded up to whole batches so that a block is batched exactly as the
    in-process path batches it: :func:`~landgui.core.scenes.pipeline.rows_per_batch`, and the
    maps come out the same to the byte); a block is one task, which opens the scene itself with
    :func:`landgui.core.scenes.io.open_scene` and reads only its strips. A JPEG/PNG (decoded
    whole) is one task. The workers must see the run folder and the scenes at the same paths as
    the client (the same shared file system, or URLs).

Workers
    Each worker process loads the run's model once (:func:`landgui.core.inference.engine.cached_predictor`,
    kept per process) and classifies its rows with :func:`landgui.core.scenes.pipeline.classify_rows`,
    the function the in-process path uses. The client converts the model to LiteRT once before
    submitting, so workers never import TensorFlow.

Client
    Tasks of earlier scenes run first; as a scene's last block arrives its probabilities are
    assembled (:func:`~landgui.core.scenes.pipeline.assemble_result`) and handed to ``on_scene``.
    A failed block fails its scene only (the scene's other blocks are cancelled); a worker that
    dies has its tasks run again elsewhere by Dask (up to ``distributed.scheduler.allowed-failures``
    deaths per task); Ctrl+C (or any exception in the client) cancels every task still pending.

Context
    The smoothing over grid neighbours (:mod:`landgui.core.scenes.context`) runs on the client,
    in :func:`~landgui.core.scenes.pipeline.assemble_result`, once all of a scene's blocks are
    joined: a patch on a block's edge hears the neighbours of the next block, as in-process.

``--adapt`` is refused with a cluster: adaptation changes the model per scene and needs the
Keras model (TensorFlow) on every worker; map those scenes without ``--cluster``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.types import ProgressFn
from landgui.core.inference.engine import cached_predictor, litert_file, resolve_engine
from landgui.core.params import MapSettings
from landgui.core.runs.folder import read_run
from landgui.core.scenes import pipeline
from landgui.core.scenes.grid import Grid, make_grid
from landgui.core.scenes.io import Reading, open_scene, reading_for
from landgui.core.scenes.pipeline import assemble_result, batch_for, rows_per_batch, unfamiliar_grid
from landgui.core.scenes.result import SceneResult

# Scene pixels per task: a 4,096 x 4,096 px block, 4,096 patches of 64 px, some 10-40 s of one core
# (bench/bench_cluster.py). Long enough that a task's own cost (ms) does not count, short enough
# that the work spreads over many workers and a worker lost costs little to redo.
BLOCK_PIXELS = 4096 * 4096


def block_rows_for(grid: Grid, budget: int = BLOCK_PIXELS) -> int:
    """Grid rows per task so that a block covers about ``budget`` scene pixels (at least one row)."""
    return max(1, budget // max(1, grid.stride * grid.width))


def plan_blocks(grid: Grid, rows_per_block: int, batch: int) -> list[tuple[int, int]]:
    """``[(r0, r1), ...]`` covering the grid's rows in blocks of ``rows_per_block``, rounded up to
    a multiple of the rows of a batch (:func:`~landgui.core.scenes.pipeline.rows_per_batch`), so
    that every block is cut into the batches the whole scene would be cut into in-process."""

    if rows_per_block < 1:
        raise LandguiError(f"rows per block must be at least 1, got {rows_per_block}")
    group = rows_per_batch(grid, batch)
    rows = -(-rows_per_block // group) * group
    return [(r, min(grid.rows, r + rows)) for r in range(0, grid.rows, rows)]


def classify_block(
    run_dir: str,
    engine: str,
    scene_path: str,
    grid: Grid,
    labels: list[str],
    r0: int,
    r1: int,
    batch: int | None,
    ignore_nodata: bool,
    reading: Reading | None = None,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
    """The worker's task: ``(probs, valid, seconds, unfamiliar)`` of grid rows ``r0..r1`` of a scene
    (see :func:`~landgui.core.scenes.pipeline.classify_rows`; ``unfamiliar`` as in
    :func:`~landgui.core.scenes.pipeline.classify_scene`, None without a familiarity file); the model
    is loaded once per process."""

    message = ""
    try:
        predictor = cached_predictor(run_dir, engine)
        if list(predictor.labels) != list(labels):
            raise LandguiError(f"the run {run_dir} has other classes here: {predictor.labels} instead of {labels}")
        scene = open_scene(scene_path, reading)  # the client's grid: the same reading
        try:
            if (scene.width, scene.height) != (grid.width, grid.height):
                raise LandguiError(
                    f"{scene_path} is {scene.width}x{scene.height} px here, {grid.width}x{grid.height} px on the client"
                )
            t0 = time.perf_counter()
            run_model, extra = pipeline.with_unfamiliar(predictor)
            both, valid = pipeline.classify_rows(
                run_model,
                scene,
                grid,
                predictor.image_size,
                len(labels) + extra,
                r0,
                r1,
                batch=batch,
                ignore_nodata=ignore_nodata,
            )
            k = len(labels)
            return both[:, :k], valid, time.perf_counter() - t0, (both[:, k] if extra else None)
        finally:
            scene.close()
    except LandguiError as exc:
        message = str(exc)
    # raised out here, a fresh error without the chain behind it (a rasterio error in its
    # __context__ may not unpickle on the client, and Dask would send a bare Exception instead)
    raise on_worker(message)


def on_worker(message: str) -> LandguiError:
    """The task's one-line error naming the worker: a fresh error, without a chain that might not unpickle."""
    where = worker_address()
    return LandguiError(f"{message} (on worker {where})" if where else message)


def worker_address() -> str:
    """The address of the Dask worker this runs on ("" outside a worker), for error lines."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return ""


@dataclass
class _Plan:
    """A scene being mapped: its grid, its blocks' futures, and the arrays they fill."""

    index: int
    path: str  # as given (what on_scene gets)
    source: str  # as the scene names itself (the result's name for it, as in-process)
    grid: Grid
    crs: Any
    transform: Any
    blocks: dict[Any, tuple[int, int]]  # future -> (r0, r1)
    probs: np.ndarray | None = None
    valid: np.ndarray | None = None
    unfamiliar: np.ndarray | None = None
    seconds: float = 0.0  # worker time, summed over the blocks
    done: int = 0  # patches of the blocks received
    failed: bool = False


def worker_path(path: str) -> str:
    """An absolute path for the workers (their working folder may differ); GDAL virtual paths as given."""
    return path if path.startswith("/vsi") else str(Path(path).resolve())


def map_on_cluster(
    client: Any,
    run_dir: str | Path,
    scenes: list[str],
    on_scene: Callable[[int, str, SceneResult | None, str | None], None],
    *,
    engine: str = "auto",
    settings: MapSettings | None = None,
    block_rows: int | None = None,
    progress: ProgressFn | None = None,
) -> int:
    """Classify ``scenes`` on the Dask cluster of ``client``; returns the number that failed.

    ``on_scene(index, path, result, error)`` is called in this thread as each scene completes,
    with its :class:`SceneResult` (and error None) or a one-line error (and result None), so the
    caller can export and drop the result before the next one. ``block_rows``: grid rows per
    task (default :func:`block_rows_for`). ``progress("mapping", patches done, patches planned)``
    follows the completed tasks."""
    from distributed import as_completed

    s = (settings or MapSettings()).check()
    if block_rows is not None and block_rows < 1:
        raise LandguiError(f"--block-rows must be at least 1, got {block_rows}")

    info = read_run(run_dir)
    engine = resolve_engine(engine)
    batch = s.batch or batch_for(info.image_size)
    if engine == "litert":
        litert_file(info.run_dir, progress=progress)  # converted here once, not by every worker
    run = str(info.run_dir)  # as the in-process path names it (the result's "run")
    worker_run = str(info.run_dir.resolve())
    labels = list(info.labels)
    reading = reading_for(s, run_dir)  # bands, radiometry and the run's ground resolution
    stage = "mapping"
    plans: dict[Any, _Plan] = {}  # future -> its scene
    ac = as_completed()
    failures, done, total = 0, 0, 0

    def fail(i: int, path: str, message: str) -> None:
        nonlocal failures
        failures += 1
        on_scene(i, path, None, message)

    try:
        for i, path in enumerate(scenes):
            try:
                scene = open_scene(path, reading)  # the header only, for a windowed scene
                try:
                    grid = make_grid(scene.width, scene.height, s.patch, s.step, s.edge)
                    plan = _Plan(i, path, scene.source or str(scene.path), grid, scene.crs, scene.transform, {})
                    windowed = scene.windowed
                finally:
                    scene.close()
            except LandguiError as exc:
                fail(i, path, str(exc))
                continue
            rows = (block_rows or block_rows_for(grid)) if windowed else grid.rows
            for r0, r1 in plan_blocks(grid, rows, batch):
                fut = client.submit(
                    classify_block,
                    worker_run,
                    engine,
                    worker_path(path),
                    grid,
                    labels,
                    r0,
                    r1,
                    batch,
                    s.ignore_nodata,
                    key=f"landgui-block-{i}-{r0}-{uuid.uuid4().hex[:8]}",
                    priority=len(scenes) - i,  # earlier scenes first: they finish, export and free memory in order
                    pure=False,
                    reading=reading,
                )
                plan.blocks[fut] = (r0, r1)
                plans[fut] = plan
                ac.add(fut)
            total += grid.n
            if progress:
                progress(stage, done, total)
        for fut in ac:
            plan = plans.pop(fut)
            if plan.failed or fut.status == "cancelled":
                continue
            r0, r1 = plan.blocks.pop(fut)
            if fut.status != "finished":  # an error in the task, or lost
                plan.failed = True
                client.cancel(list(plan.blocks))
                plan.blocks.clear()
                total -= plan.grid.n  # the failed scene leaves the count
                done -= plan.done
                fail(plan.index, plan.path, error_line(fut))
                continue
            probs, valid, seconds, unfamiliar = fut.result()
            if plan.probs is None:
                plan.probs = np.zeros((plan.grid.n, len(labels)), np.float32)
                plan.valid = np.zeros(plan.grid.n, bool)
            assert plan.valid is not None
            a, b = r0 * plan.grid.cols, r1 * plan.grid.cols
            plan.probs[a:b], plan.valid[a:b] = probs, valid
            if unfamiliar is not None:
                if plan.unfamiliar is None:
                    plan.unfamiliar = np.zeros(plan.grid.n, np.float32)
                plan.unfamiliar[a:b] = unfamiliar
            plan.seconds += seconds
            plan.done += b - a
            done += b - a
            if progress:
                progress(stage, done, total)
            if not plan.blocks:
                result = _assemble(plan, labels, s, engine, run)
                result.reading = reading
                plan.probs = plan.valid = plan.unfamiliar = None
                on_scene(plan.index, plan.path, result, None)
    except BaseException:
        cancel_pending(client, plans)
        raise
    return failures


def cancel_pending(client: Any, futures: Any) -> None:
    """Cancel those of ``futures`` not finished yet (Ctrl+C, or an error in the client)."""
    pending = [f for f in futures if not f.done()]
    if pending:
        client.cancel(pending)


def error_line(fut: Any) -> str:
    """One line for a task that failed: its LandguiError as raised, a worker lost, or the exception's name and words."""
    if fut.status != "error":
        return f"task {fut.key} was {fut.status} (the scheduler lost it)"
    exc = fut.exception()
    if isinstance(exc, LandguiError):
        return str(exc)
    name = type(exc).__name__
    if name == "KilledWorker":
        return f"a worker died on every try at this scene (out of memory?): {str(exc)[:200]}"
    return f"{name}: {' '.join(str(exc).split())[:200]}"


def _assemble(plan: _Plan, labels: list[str], s: MapSettings, engine: str, run: str) -> SceneResult:
    assert plan.probs is not None and plan.valid is not None
    result = assemble_result(
        plan.source,
        labels,
        plan.grid,
        plan.probs,
        plan.valid,
        plan.seconds,
        crs=plan.crs,
        transform=plan.transform,
        uncertain_below=s.uncertain_below,
        engine=engine,
        run=run,
        context=s.context,
    )
    if plan.unfamiliar is not None:
        result.unfamiliar = unfamiliar_grid(plan.grid, plan.valid, plan.unfamiliar)
    return result
