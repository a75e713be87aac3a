"""Classifying a scene: strips read in a thread, cut into patches, resized, batched, inferred.

Two steps that the in-process path and the cluster path (:mod:`landgui.core.scenes.blocks`)
share: :func:`classify_rows` classifies the patches of a range of grid rows (a worker's block, or
the whole scene) into probabilities and a valid mask, and :func:`assemble_result` turns a whole
scene's probabilities into a :class:`SceneResult`. :func:`classify_scene` is both, rows 0..rows.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.base.files import shown
from landgui.core.base.types import ProgressFn, StopFn
from landgui.core.data.images import resize_to
from landgui.core.inference.adaptation import MIN_ADAPT_IMAGES, adapt_to_images
from landgui.core.inference.engine import KerasPredictor, as_predictor
from landgui.core.inference.familiarity import Familiarity
from landgui.core.params import MapSettings
from landgui.core.scenes.context import DEFAULT_CONTEXT, check_context, smooth_probs
from landgui.core.scenes.grid import Grid, average_cells, make_grid
from landgui.core.scenes.io import NODATA_GUESS, NODATA_SURE, Scene
from landgui.core.scenes.result import UNCERTAIN_BELOW, SceneResult

FEATURES_MAX_BYTES = 256 * 1024**2  # features kept for re-mapping: 50,000 patches of 1,280 floats
BATCH_BYTES = 12 * 1024**2  # float32 model input per batch: 64 patches at 128 px (see below)


def batch_for(size: int, budget: int = BATCH_BYTES) -> int:
    """Patches per batch so that one float32 batch of ``size`` px stays within ``budget`` bytes.

    LiteRT runs as fast at batch 16 as at 256, but its activations at batch 256 take 600 MB
    (docs/benchmarks.md), so the budget is small."""
    return int(min(1024, max(8, budget // (size * size * 3 * 4))))


def strip_patches(strip: np.ndarray, grid: Grid) -> np.ndarray:
    """The (cols, patch, patch, 3) patches of one strip (``patch`` rows, padded to the grid's width),
    as a strided view: no copy, no per-patch loop."""
    p, s = grid.patch, grid.stride
    view = np.lib.stride_tricks.sliding_window_view(strip, (p, p), axis=(0, 1))  # (1, W-p+1, 3, p, p)
    return view[0, : (grid.cols - 1) * s + 1 : s].transpose(0, 2, 3, 1)


def rows_per_batch(grid: Grid, batch: int) -> int:
    """Grid rows whose patches make one batch: a batch holds whole rows (a row wider than a batch
    is split), in groups counted from row 0, so that a range of rows starting at a multiple of
    this is cut into the same batches as the whole scene (the cluster's blocks,
    :mod:`landgui.core.scenes.blocks`): a model whose answer for a patch depends, in the last
    bits, on the size of its batch (a matrix product's kernel) gives the same map either way."""
    return max(1, batch // grid.cols)


def _patch_batches(
    scene: Scene,
    grid: Grid,
    size: int,
    batch: int,
    ignore_nodata: bool,
    out_q: queue.Queue,
    stop: threading.Event,
    r0: int = 0,
    r1: int | None = None,
) -> None:
    """Producer: read the strips of grid rows r0..r1, cut and resize patches, put (indices,
    patches) batches (indices into the whole grid, row-major; a batch holds the patches of
    :func:`rows_per_batch` rows).

    Patches are resized to the model input by :func:`landgui.core.data.images.resize_to`, the rule
    training uses, into a preallocated batch buffer."""

    skip_from = NODATA_GUESS if ignore_nodata else NODATA_SURE
    p, s = grid.patch, grid.stride
    need_w = (grid.cols - 1) * s + p
    n = 0
    group = rows_per_batch(grid, batch)
    ignored: list[np.ndarray] = []
    try:  # everything, the buffers too: any failure of this thread reaches the consumer
        buf = np.empty((batch, size, size, 3), np.uint8)
        buf_idx = np.empty(batch, np.int64)
        for r in range(r0, grid.rows if r1 is None else r1):
            if stop.is_set():
                return
            strip, nod = scene.read(0, r * s, scene.width, p)
            ph, pw = p - strip.shape[0], need_w - strip.shape[1]
            if ph > 0 or pw > 0:
                strip = np.pad(strip, ((0, max(ph, 0)), (0, max(pw, 0)), (0, 0)), mode="symmetric")
                nod = np.pad(nod, ((0, max(ph, 0)), (0, max(pw, 0))), constant_values=0)
            patches = strip_patches(strip[:, :need_w], grid)
            idx = r * grid.cols + np.arange(grid.cols)
            if nod.max(initial=0) >= skip_from:
                frac = strip_patches((nod[:, :need_w, None] >= skip_from), grid).mean(axis=(1, 2, 3))
                keep = frac <= 0.5
                ignored.append(idx[~keep])
                patches, idx = patches[keep], idx[keep]
            for i in range(len(idx)):
                buf[n] = resize_to(patches[i], size)  # a patch already at the input size is used as is
                buf_idx[n] = idx[i]
                n += 1
                if n == batch:
                    out_q.put((buf_idx, buf))
                    buf, buf_idx, n = np.empty_like(buf), np.empty_like(buf_idx), 0
            if n and (r + 1) % group == 0:  # the end of a group of rows closes its batch
                out_q.put((buf_idx[:n], buf[:n]))
                buf, buf_idx, n = np.empty_like(buf), np.empty_like(buf_idx), 0
        if n:
            out_q.put((buf_idx[:n], buf[:n]))
        out_q.put(("ignored", np.concatenate(ignored) if ignored else np.zeros(0, np.int64)))
        out_q.put(None)
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer
        out_q.put(_as_user_error(exc, batch, size))


def _as_user_error(exc: BaseException, batch: int, size: int) -> BaseException:
    """A MemoryError said as what to change (a smaller batch); any other failure as it is."""
    if isinstance(exc, MemoryError):
        need = batch * size * size * 3 * 5  # a uint8 batch and its float32 copy
        return LandguiError(
            f"not enough memory for batches of {batch:,} patches at {size} px (about {need / 1024**3:.1f} GiB): "
            "use a smaller --batch"
        )
    return exc


def _next(q: queue.Queue, worker: threading.Thread) -> Any:
    """The producer's next item; an error if the producer thread ended without saying why (a
    failure of this thread is never lost, the consumer never waits on a dead thread)."""
    while True:
        try:
            return q.get(timeout=0.5)
        except queue.Empty:
            if not worker.is_alive() and q.empty():
                raise LandguiError(
                    "the scene reader stopped unexpectedly before the scene's end (a bug in landgui: please report it)"
                ) from None


def classify_rows(
    predict: Callable[[np.ndarray], np.ndarray],
    scene: Scene,
    grid: Grid,
    input_size: int,
    n_classes: int,
    r0: int = 0,
    r1: int | None = None,
    *,
    batch: int | None = None,
    ignore_nodata: bool = False,
    should_stop: StopFn | None = None,
    on_batch: Callable[[int], None] | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Classify the patches of grid rows ``r0..r1`` (default: all): returns ``(probs, valid)``,
    ``((r1 - r0) * cols, n_classes)`` float32 and ``((r1 - r0) * cols,)`` bool in row-major grid
    order (a patch left out as no-data stays invalid, probabilities 0).

    Strips are read and cut into batches in a background thread while the previous batch is
    inferred. ``out``: arrays of those shapes to fill instead (views into a whole scene's arrays,
    so that a viewer sees the map grow). ``on_batch(done)``: called after each batch with the
    number of this range's patches done (classified or left out). A range that starts at a
    multiple of :func:`rows_per_batch` is cut into the same batches as the whole scene."""
    r1 = grid.rows if r1 is None else r1
    if not 0 <= r0 <= r1 <= grid.rows:
        raise LandguiError(f"grid rows {r0}..{r1} are outside the scene's {grid.rows} rows")
    n = (r1 - r0) * grid.cols
    if out is None:
        probs, valid = np.zeros((n, n_classes), np.float32), np.zeros(n, bool)
    else:
        probs, valid = out
    offset = r0 * grid.cols
    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    worker = threading.Thread(
        target=_patch_batches,
        args=(scene, grid, input_size, batch or batch_for(input_size), ignore_nodata, q, stop, r0, r1),
        daemon=True,
    )
    worker.start()
    done = 0
    try:
        while True:
            item = _next(q, worker)
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            idx, imgs = item
            if isinstance(idx, str):  # the patches left out as no-data, at the end
                done += len(imgs)
                if on_batch and len(imgs):
                    on_batch(done)
                continue
            if should_stop and should_stop():
                raise Cancelled()
            try:
                probs[idx - offset] = predict(imgs)
            except MemoryError as exc:
                raise _as_user_error(exc, len(imgs), input_size) from None
            valid[idx - offset] = True
            done += len(idx)
            if on_batch:
                on_batch(done)
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)
    return probs, valid


def assemble_result(
    scene_path: str,
    labels: list[str],
    grid: Grid,
    probs: np.ndarray,
    valid: np.ndarray,
    seconds: float,
    *,
    crs: Any = None,
    transform: Any = None,
    uncertain_below: float = UNCERTAIN_BELOW,
    adapted: bool = False,
    engine: str = "",
    run: str = "",
    context: float = DEFAULT_CONTEXT,
    progress: ProgressFn | None = None,
) -> SceneResult:
    """A :class:`SceneResult` from a whole scene's patch probabilities and valid mask (as
    :func:`classify_rows` gives them, any shape with ``grid.n`` patches): classes, per-cell
    averages, coverage at ``uncertain_below``.

    ``context``: the strength of the smoothing over grid neighbours
    (:func:`landgui.core.scenes.context.smooth_probs`; 0 = off). With it on, the classes, cell
    probabilities, confidence, uncertainty and coverage all come from the smoothed probabilities,
    and the model's own are kept as ``raw_probs``. It runs on the whole scene's grid, so a scene
    mapped in blocks (:mod:`landgui.core.scenes.blocks`) is smoothed once its blocks are joined.
    ``progress``: the stage of averaging overlapping patches (:func:`~landgui.core.scenes.grid.average_cells`),
    which takes seconds when the cells are small (patch 999 / stride 64: 1 px cells)."""
    check_context(context)
    n_classes = len(labels)
    probs3 = np.asarray(probs, np.float32).reshape(grid.rows, grid.cols, n_classes)
    valid2 = np.asarray(valid, bool).reshape(grid.rows, grid.cols)
    if not valid2.any():  # an all-NaN scene: a map of nothing would look like a result
        raise LandguiError(
            f"{shown(Path(scene_path).name)}: every patch is no data (NaN or infinite pixels, the file's "
            "nodata value, or black with --ignore-nodata): nothing to classify"
        )
    raw = None
    if context > 0:
        raw, probs3 = probs3, smooth_probs(probs3, valid2, context)
    classes = np.where(valid2, probs3.argmax(axis=-1), -1).astype(np.int16)
    cell_probs, cnt = average_cells(grid, probs3, valid2, progress)  # overlapping patches: a stage of its own
    cell_classes = np.where(cnt > 0, cell_probs.argmax(axis=-1), -1).astype(np.int16)
    result = SceneResult(
        str(scene_path),
        labels,
        grid,
        classes,
        probs3,
        cell_probs,
        cell_classes,
        {},
        seconds,
        crs,
        transform,
        {"ignored": int((~valid2).sum())},
        adapted=adapted,
        engine=engine,
        run=run,
        raw_probs=raw,
        context=float(context),
    )
    if raw is not None:  # patches whose class the neighbours changed
        result.stats["context_changed"] = int((valid2 & (raw.argmax(axis=-1) != classes)).sum())
    result.set_threshold(uncertain_below)
    return result


def classify_scene(
    model: Any,
    labels: list[str],
    input_size: int,
    scene: Scene,
    *,
    patch: int = 64,
    stride: int | None = None,
    batch: int | None = None,
    edge: str = "pad",
    ignore_nodata: bool = False,
    uncertain_below: float = UNCERTAIN_BELOW,
    adapt: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    partial: Callable[[Any, np.ndarray], None] | None = None,
    partial_every: float = 0.5,
    keep_features: bool = False,
    context: float = DEFAULT_CONTEXT,
) -> SceneResult:
    """Classify every patch of a scene with a model (input 0..255 RGB of ``input_size``).

    ``model``: a :class:`landgui.core.inference.engine.Predictor` (LiteRT or Keras) or a Keras model.
    ``batch``: patches per inference call (default: from a byte budget, :func:`batch_for`).
    ``partial(grid, classes)``: called at most every ``partial_every`` s while strips finish, with
    the (rows, cols) patch classes so far (-1 = not yet), so a viewer can paint the map as it grows.
    ``adapt``: first re-estimate the model's batch-norm statistics on a sample of the scene's
    patches (AdaBN, :mod:`landgui.core.inference.adaptation`; the saved model is not touched).
    ``keep_features``: keep every patch's backbone features on the result (a LiteRT transfer
    model, up to :data:`FEATURES_MAX_BYTES`), for :func:`reclassify_with_head`.
    ``context``: the strength of the smoothing over grid neighbours (0 = off; :func:`assemble_result`).
    """

    if not 0.0 <= uncertain_below <= 1.0:
        raise LandguiError(f"the uncertain threshold must be between 0 and 1, got {uncertain_below}")
    check_context(context)
    grid = make_grid(scene.width, scene.height, patch, patch if stride is None else stride, edge)
    predict = as_predictor(model, labels, input_size)
    if adapt:
        adapted = adapt_to_images(
            predict.keras_model(), sample_patches(scene, grid, input_size), progress=progress, should_stop=should_stop
        )
        predict = KerasPredictor(adapted, predict.run_dir, labels, input_size)
    k = len(labels)
    run_model: Callable[[np.ndarray], np.ndarray] = predict
    lite: Any = predict if getattr(predict, "has_features", False) else None
    fam = None
    if lite is not None:
        fam = Familiarity.load(lite.run_dir)
    keep = keep_features and lite is not None and grid.n * (k + lite.head.n_features) * 4 <= FEATURES_MAX_BYTES
    n_fam = 1 if fam is not None else 0
    width = k + n_fam + (lite.head.n_features if keep else 0)
    if width > k:  # each batch's (probabilities | unfamiliar | features), split below

        def with_features(imgs: np.ndarray) -> np.ndarray:
            p, f = lite.predict_with_features(imgs)
            cols = [p, fam.score(f)[:, None]] if fam is not None else [p]
            return np.concatenate([*cols, f] if keep else cols, axis=1)

        run_model = with_features

    both = np.zeros((grid.n, width), np.float32)
    probs, valid = both[:, :k], np.zeros(grid.n, bool)
    last_partial = time.perf_counter()

    def on_batch(done: int) -> None:
        nonlocal last_partial
        if partial and time.perf_counter() - last_partial >= partial_every:
            last_partial = time.perf_counter()
            partial(grid, np.where(valid, probs.argmax(axis=1), -1).reshape(grid.rows, grid.cols).astype(np.int16))
        if progress:
            progress("classifying", done, grid.n)

    t0 = time.perf_counter()
    classify_rows(
        run_model,
        scene,
        grid,
        input_size,
        width,
        batch=batch,
        ignore_nodata=ignore_nodata,
        should_stop=should_stop,
        on_batch=on_batch,
        out=(both, valid),
    )
    result = assemble_result(
        scene.source or str(scene.path),
        labels,
        grid,
        probs,
        valid,
        time.perf_counter() - t0,
        crs=scene.crs,
        transform=scene.transform,
        uncertain_below=uncertain_below,
        adapted=adapt,
        engine=predict.engine,
        run=str(predict.run_dir),
        context=context,
        progress=progress,
    )
    if fam is not None:
        result.unfamiliar = unfamiliar_grid(grid, valid, both[:, k])
    if keep:
        result.features, result.features_from = both[:, k + n_fam :], lite.backbone_id
    return result


def classify_with(predictor: Any, scene: Scene, s: MapSettings, **kw: Any) -> SceneResult:
    """:func:`classify_scene` with the knobs of ``s``, the result carrying how the scene was read
    (its reading and notes): how the front doors (``services``) and a cluster's workers map."""
    result = classify_scene(
        predictor, predictor.labels, predictor.image_size, scene, patch=s.patch, stride=s.step, batch=s.batch,
        edge=s.edge, ignore_nodata=s.ignore_nodata, uncertain_below=s.uncertain_below, context=s.context, **kw,
    )  # fmt: skip
    result.reading, result.notes = scene.reading, list(scene.notes)
    return result


def with_unfamiliar(predictor: Any) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """``(predict, extra)``: the predictor itself and 0, or, for a transfer model with a familiarity
    file (:mod:`landgui.core.inference.familiarity`), a function whose rows are (probabilities | unfamiliar)
    and 1 (the blocks of a cluster map use it as :func:`classify_scene` does)."""
    if not getattr(predictor, "has_features", False):
        return predictor, 0

    fam = Familiarity.load(predictor.run_dir)
    if fam is None:
        return predictor, 0

    def both(imgs: np.ndarray) -> np.ndarray:
        p, f = predictor.predict_with_features(imgs)
        return np.concatenate([p, fam.score(f)[:, None]], axis=1)

    return both, 1


def unfamiliar_grid(grid: Grid, valid: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-patch scores as a (rows, cols) float32 grid, NaN where no patch was classified."""
    return np.where(np.asarray(valid, bool), scores, np.nan).reshape(grid.rows, grid.cols).astype(np.float32)


def reclassify_with_head(result: SceneResult, predictor: Any) -> SceneResult | None:
    """The scene re-mapped by ``predictor`` (a LiteRT backbone with another head, e.g. a run just
    fine-tuned on corrections) from the features kept on ``result``: no image is read and no
    network run, so it takes milliseconds; the context step of ``result`` (its strength) is applied
    again. None when the result kept no features of that backbone."""
    head = getattr(predictor, "head", None)
    if result.features is None or head is None or result.features_from != getattr(predictor, "backbone_id", None):
        return None
    t0 = time.perf_counter()
    valid = (result.classes >= 0).reshape(-1)
    probs = np.zeros((result.grid.n, len(predictor.labels)), np.float32)
    probs[valid] = head(result.features[valid])
    new = assemble_result(
        result.scene,
        list(predictor.labels),
        result.grid,
        probs,
        valid,
        time.perf_counter() - t0,
        crs=result.crs,
        transform=result.transform,
        uncertain_below=result.uncertain_below,
        engine=predictor.engine,
        run=str(predictor.run_dir),
        context=result.context,
    )
    new.features, new.features_from = result.features, result.features_from
    new.unfamiliar = result.unfamiliar  # same backbone, same features
    new.remapped = True
    new.reading, new.notes = result.reading, list(result.notes)  # the same grid of the same scene
    return new


def sample_patches(scene: Scene, grid: Grid, size: int, max_patches: int = 2048, seed: int = 0) -> np.ndarray:
    """A seeded random sample of the grid's patches at the model's input size (for adaptation)."""

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.permutation(grid.n)[:max_patches])
    out = []
    for idx in pick:
        r, c = divmod(int(idx), grid.cols)
        x, y = c * grid.stride, r * grid.stride
        w, h = min(grid.patch, scene.width - x), min(grid.patch, scene.height - y)
        img, _ = scene.read(x, y, w, h)
        if img.shape[:2] != (grid.patch, grid.patch):
            img = np.pad(
                img, ((0, grid.patch - img.shape[0]), (0, grid.patch - img.shape[1]), (0, 0)), mode="symmetric"
            )
        out.append(resize_to(img, size))
    if len(out) < MIN_ADAPT_IMAGES:
        raise LandguiError(
            f"the scene has only {len(out)} patches; adaptation needs at least {MIN_ADAPT_IMAGES} (use a smaller patch)"
        )
    return np.stack(out)
