"""Classifying a scene: strips read in a thread, cut into patches, resized, batched, inferred."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.errors import Cancelled, LandguiError
from landgui.core.scenes.grid import Grid, average_cells, make_grid
from landgui.core.scenes.io import Scene, open_scene
from landgui.core.scenes.result import UNCERTAIN_BELOW, SceneResult

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


def _patch_batches(
    scene: Scene, grid: Grid, size: int, batch: int, ignore_nodata: bool, out_q: queue.Queue, stop: threading.Event
) -> None:
    """Producer: read strips, cut and resize patches, put (indices, patches) batches.

    Patches are resized to the model input by :func:`landgui.core.data.resize_to`, the rule
    training uses, into a preallocated batch buffer."""
    from landgui.core.data import resize_to
    from landgui.core.scenes.io import NODATA_GUESS, NODATA_SURE

    skip_from = NODATA_GUESS if ignore_nodata else NODATA_SURE
    p, s = grid.patch, grid.stride
    need_w = (grid.cols - 1) * s + p
    buf = np.empty((batch, size, size, 3), np.uint8)
    buf_idx = np.empty(batch, np.int64)
    n = 0
    ignored: list[np.ndarray] = []
    try:
        for r in range(grid.rows):
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
        if n:
            out_q.put((buf_idx[:n], buf[:n]))
        out_q.put(("ignored", np.concatenate(ignored) if ignored else np.zeros(0, np.int64)))
        out_q.put(None)
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer
        out_q.put(exc)


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
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    partial: Callable[[Any, np.ndarray], None] | None = None,
    partial_every: float = 0.5,
) -> SceneResult:
    """Classify every patch of a scene with a model (input 0..255 RGB of ``input_size``).

    ``model``: a :class:`landgui.core.engine.Predictor` (LiteRT or Keras) or a Keras model.
    ``batch``: patches per inference call (default: from a byte budget, :func:`batch_for`).
    ``partial(grid, classes)``: called at most every ``partial_every`` s while strips finish, with
    the (rows, cols) patch classes so far (-1 = not yet), so a viewer can paint the map as it grows.
    ``adapt``: first re-estimate the model's batch-norm statistics on a sample of the scene's
    patches (AdaBN, :mod:`landgui.core.adaptation`; the saved model is not touched).
    """
    from landgui.core.engine import KerasPredictor, as_predictor

    if not 0.0 <= uncertain_below <= 1.0:
        raise LandguiError(f"the uncertain threshold must be between 0 and 1, got {uncertain_below}")
    grid = make_grid(scene.width, scene.height, patch, patch if stride is None else stride, edge)
    predict = as_predictor(model, labels, input_size)
    if adapt:
        from landgui.core.adaptation import adapt_to_images

        adapted = adapt_to_images(
            predict.keras_model(), sample_patches(scene, grid, input_size), progress=progress, should_stop=should_stop
        )
        predict = KerasPredictor(adapted, predict.run_dir, labels, input_size)
    batch = batch or batch_for(input_size)
    n_classes = len(labels)
    probs = np.zeros((grid.n, n_classes), np.float32)
    valid = np.zeros(grid.n, bool)
    q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    t0 = time.perf_counter()
    worker = threading.Thread(
        target=_patch_batches, args=(scene, grid, input_size, batch, ignore_nodata, q, stop), daemon=True
    )
    worker.start()
    done = 0
    last_partial = time.perf_counter()
    try:
        while True:
            item = q.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            idx, imgs = item
            if isinstance(idx, str):
                done += len(imgs)
                continue
            if should_stop and should_stop():
                raise Cancelled()
            probs[idx] = predict(imgs)
            valid[idx] = True
            done += len(idx)
            if partial and time.perf_counter() - last_partial >= partial_every:
                last_partial = time.perf_counter()
                partial(grid, np.where(valid, probs.argmax(axis=1), -1).reshape(grid.rows, grid.cols).astype(np.int16))
            if progress:
                progress("classifying", done, grid.n)
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)
    seconds = time.perf_counter() - t0
    probs3 = probs.reshape(grid.rows, grid.cols, n_classes)
    valid2 = valid.reshape(grid.rows, grid.cols)
    classes = np.where(valid2, probs3.argmax(axis=-1), -1).astype(np.int16)
    cell_probs, cnt = average_cells(grid, probs3, valid2)
    cell_classes = np.where(cnt > 0, cell_probs.argmax(axis=-1), -1).astype(np.int16)
    result = SceneResult(
        str(scene.path),
        labels,
        grid,
        classes,
        probs3,
        cell_probs,
        cell_classes,
        {},
        seconds,
        scene.crs,
        scene.transform,
        {"ignored": int((~valid2).sum())},
        adapted=adapt,
        engine=predict.engine,
        run=str(predict.run_dir),
    )
    result.set_threshold(uncertain_below)
    return result


def sample_patches(scene: Scene, grid: Grid, size: int, max_patches: int = 2048, seed: int = 0) -> np.ndarray:
    """A seeded random sample of the grid's patches at the model's input size (for adaptation)."""
    from landgui.core.adaptation import MIN_ADAPT_IMAGES
    from landgui.core.data import resize_to

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


def segment_file(
    run_dir: str | Path,
    scene_path: str | Path,
    engine: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
    **kw: Any,
) -> SceneResult:
    """Classify a scene file with a run; the run's model stays loaded for the next call."""
    from landgui.core.engine import cached_predictor

    predictor = cached_predictor(run_dir, engine, progress=progress)
    scene = open_scene(scene_path)
    try:
        return classify_scene(predictor, predictor.labels, predictor.image_size, scene, progress=progress, **kw)
    finally:
        scene.close()
