"""Reading a mapped scene back: its cells, their map classes and their areas.

A map is what ``landgui segment`` wrote (:mod:`landgui.core.scenes.writers`): ``NAME.summary.json``
(labels, scene size, patch, stride, georeferencing) beside ``NAME.classes.png`` (a palette PNG of
the class codes: the class index, 254 = uncertain, 255 = not classified) and, for georeferenced
scenes, ``NAME.classes.tif`` with the same codes, the CRS and the transform. MAP is one
``NAME.summary.json`` or the folder of a many-scene map (the scenes of its ``summary.csv`` that
did not fail, or else every ``*.summary.json`` in it).

The sampling unit is the map's *cell*: a square of ``gcd(patch, stride)`` scene pixels (a patch
when patches do not overlap), the finest unit the map gives one class to. Cells on the right and
bottom edges of a scene may be partial. The code of a cell is read at its top-left pixel (every
pixel of a cell has the same code). The class rasters are streamed row by row, never decoded whole.

Areas: in hectares when every scene is georeferenced, otherwise in cells (a partial edge cell
counts as its share of a whole one). Projected CRS: the pixel area from the transform in the CRS's
linear unit, converted to metres; Web Mercator (EPSG:3857) is corrected by ``cos^2`` of the
latitude (its planar areas are not ground areas). Geographic CRS: each cell's area on the WGS 84
ellipsoid from its latitudes (the exact area of a latitude-longitude quadrangle).
"""

from __future__ import annotations

import csv
import json
import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.scenes.grid import UNCERTAIN
from landgui.core.scenes.io import Reading
from landgui.core.scenes.result import UNCERTAIN_VALUE

NODATA_VALUE = 255  # cells that were not classified: never sampled
SUMMARY_SUFFIX = ".summary.json"
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
WEB_MERCATOR = (3857, 3785, 900913)
M2_PER_HA = 10_000.0


@dataclass
class MappedScene:
    """One mapped scene as the assessment sees it: a grid of cells with codes and areas."""

    name: str  # NAME of NAME.summary.json (unique within the map's folder)
    summary_path: Path
    scene: str  # the scene file that was mapped
    labels: list[str]
    codes: np.ndarray  # (cell rows, cell cols) uint8: class index, 254 uncertain, 255 not classified
    cell: int  # cell side in scene pixels
    width: int  # scene size in pixels
    height: int
    crs: Any = None  # rasterio CRS, None when the scene is not georeferenced
    transform: Any = None  # scene pixel -> CRS coordinates
    cell_m2: np.ndarray | None = None  # (cell rows, cell cols) ground area of each cell in m²
    reading: Reading = field(default_factory=Reading)  # how the scene was read for the map (its grid)

    @property
    def georeferenced(self) -> bool:
        """Whether the cells have coordinates and a ground area."""
        return self.crs is not None and self.transform is not None

    def cell_size_px(self) -> tuple[np.ndarray, np.ndarray]:
        """Heights (per cell row) and widths (per cell column) of the cells in scene pixels."""
        rows, cols = self.codes.shape
        hy = np.minimum(self.cell, self.height - np.arange(rows) * self.cell)
        wx = np.minimum(self.cell, self.width - np.arange(cols) * self.cell)
        return hy, wx

    def cell_cells(self) -> np.ndarray:
        """Each cell's area in cells: 1, less for partial cells on the right and bottom edges."""
        hy, wx = self.cell_size_px()
        return np.outer(hy, wx) / float(self.cell * self.cell)

    def centre(self, row: int, col: int) -> tuple[float, float]:
        """The centre of cell (row, col): CRS coordinates for a georeferenced scene, else scene
        pixel coordinates (x to the right, y down, from the top-left corner of the scene)."""
        hy, wx = self.cell_size_px()
        px, py = col * self.cell + wx[col] / 2, row * self.cell + hy[row] / 2
        if self.georeferenced:
            x, y = self.transform @ (px, py)
            return float(x), float(y)
        return float(px), float(py)


@dataclass
class MapData:
    """The scenes of a map, their strata (the classes, then ``uncertain``) and the area unit."""

    path: Path  # what was given: a summary JSON or a folder
    scenes: list[MappedScene]
    labels: list[str]
    area_unit: str  # "ha" when every scene is georeferenced, else "cells"
    notes: list[str]

    @property
    def strata(self) -> list[str]:
        """The sampling strata: every map class, then ``uncertain``."""
        return [*self.labels, UNCERTAIN]

    def scene(self, name: str) -> MappedScene:
        """The scene called ``name`` (a one-line error if the map has none)."""
        for s in self.scenes:
            if s.name == name:
                return s
        raise LandguiError(
            f"scene {name!r} is not part of the map {self.path} ({', '.join(s.name for s in self.scenes)})"
        )

    def strata_of(self, codes: np.ndarray) -> np.ndarray:
        """Stratum index of cell codes: the class index, ``len(labels)`` for uncertain, -1 for no data."""
        codes = np.asarray(codes)
        out = np.where(codes < len(self.labels), codes.astype(np.int64), -1)
        return np.where(codes == UNCERTAIN_VALUE, len(self.labels), out)

    def cell_area(self, scene: MappedScene) -> np.ndarray:
        """Each cell's area of ``scene`` in the map's area unit."""
        if self.area_unit == "ha":
            assert scene.cell_m2 is not None
            return scene.cell_m2 / M2_PER_HA
        return scene.cell_cells()

    def stratum_areas(self) -> np.ndarray:
        """The map's area of every stratum (pixel counting), in the area unit."""
        k = len(self.strata)
        total = np.zeros(k)
        for s in self.scenes:
            idx = self.strata_of(s.codes)
            ok = idx >= 0
            total += np.bincount(idx[ok], weights=self.cell_area(s)[ok], minlength=k)
        return total

    def stratum_cells(self) -> np.ndarray:
        """The number of cells of every stratum (what can be sampled)."""
        k = len(self.strata)
        total = np.zeros(k, np.int64)
        for s in self.scenes:
            idx = self.strata_of(s.codes)
            total += np.bincount(idx[idx >= 0], minlength=k)
        return total

    def stratum_of_cell(self, scene: str, row: int, col: int) -> int:
        """Stratum index of one cell (-1 = not classified); a one-line error outside the scene."""
        s = self.scene(scene)
        if not (0 <= row < s.codes.shape[0] and 0 <= col < s.codes.shape[1]):
            raise LandguiError(
                f"cell row {row}, col {col} is outside scene {scene} ({s.codes.shape[0]} x {s.codes.shape[1]} cells)"
            )
        return int(self.strata_of(s.codes[row, col]))


def read_map(path: str | Path) -> MapData:
    """Read a map: one ``NAME.summary.json`` or the folder of a many-scene map."""
    p = Path(path)
    if p.is_dir():
        names = _folder_scene_names(p)
        summaries = [p / f"{n}{SUMMARY_SUFFIX}" for n in names]
    elif p.is_file() and p.name.endswith(SUMMARY_SUFFIX):
        summaries = [p]
    elif p.is_file():
        raise LandguiError(f"{p.name} is not a map: give a scene's NAME{SUMMARY_SUFFIX} or the folder of a map")
    else:
        raise LandguiError(f"map not found: {p}")
    scenes = [read_scene(s) for s in summaries]
    labels = scenes[0].labels
    for s in scenes[1:]:
        if s.labels != labels:
            raise LandguiError(
                f"the scenes of {p} were mapped with different classes ({s.name}: {', '.join(s.labels)}; "
                f"{scenes[0].name}: {', '.join(labels)}): assess them separately"
            )
    notes: list[str] = []
    geo = [s.georeferenced for s in scenes]
    if all(geo):
        unit = "ha"
    else:
        unit = "cells"
        if any(geo):
            notes.append(
                f"{sum(geo)} of {len(scenes)} scenes are georeferenced: areas are in cells, since the others have no ground area"
            )
    if unit == "cells" and len({s.cell for s in scenes}) > 1:
        notes.append("the scenes have cells of different sizes: an area in cells adds unlike units")
    if unit == "ha":
        spread = _cell_area_spread(scenes)
        if spread > 0.01:
            notes.append(
                f"cells differ in ground area by up to {spread:.1%} within the map; the estimator treats the cells "
                "of a stratum as equal units, so the areas are approximate to that order"
            )
    return MapData(p, scenes, labels, unit, notes)


def read_scene(summary_path: Path) -> MappedScene:
    """One mapped scene from its ``NAME.summary.json`` and the class raster beside it."""
    try:
        s = json.loads(summary_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LandguiError(f"map summary not found: {summary_path}") from None
    except (OSError, ValueError) as exc:
        raise LandguiError(f"cannot read {summary_path.name}: {exc}") from None
    need = ("labels", "size", "patch", "stride")
    if not isinstance(s, dict) or any(k not in s for k in need):
        raise LandguiError(f"{summary_path.name} is not a landgui map summary (no {', '.join(need)})")
    name = summary_path.name[: -len(SUMMARY_SUFFIX)]
    width, height = (int(v) for v in s["size"])
    cell = math.gcd(int(s["patch"]), int(s["stride"]))
    folder = summary_path.parent
    codes = _read_codes(folder, name, width, height, cell)
    scene = MappedScene(name, summary_path, str(s.get("scene", "")), list(s["labels"]), codes, cell, width, height)
    scene.reading = Reading.from_dict(s.get("reading"))
    if s.get("georeferenced"):
        scene.crs, scene.transform = _georeference(folder / f"{name}.classes.tif", Path(scene.scene), name)
        scene.cell_m2 = cell_areas_m2(scene)
    return scene


def _folder_scene_names(folder: Path) -> list[str]:
    """The scenes of a many-scene map folder: those of its summary.csv that did not fail, else
    every NAME.summary.json."""
    table = folder / "summary.csv"
    names: list[str] = []
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if not row.get("error") and row.get("name"):
                    names.append(row["name"])
        names = [n for n in names if (folder / f"{n}{SUMMARY_SUFFIX}").is_file()]
    if not names:
        names = sorted(p.name[: -len(SUMMARY_SUFFIX)] for p in folder.glob(f"*{SUMMARY_SUFFIX}"))
    if not names:
        raise LandguiError(f"no mapped scene in {folder} (no NAME{SUMMARY_SUFFIX}): map it with landgui segment first")
    return names


def _read_codes(folder: Path, name: str, width: int, height: int, cell: int) -> np.ndarray:
    """The cell codes of a scene from NAME.classes.png, else NAME.classes.tif."""
    png, tif = folder / f"{name}.classes.png", folder / f"{name}.classes.tif"
    rows: Iterator[tuple[int, np.ndarray]]
    if png.is_file():
        size, rows = _png_rows(png, cell)
    elif tif.is_file():
        size, rows = _tif_rows(tif, cell)
    else:
        raise LandguiError(
            f"{name}: neither {png.name} nor {tif.name} is beside its summary; map it again with the png or geotiff format"
        )
    if size != (width, height):
        raise LandguiError(f"{name}: the class map is {size[0]} x {size[1]} px, the summary says {width} x {height}")
    n_rows, n_cols = math.ceil(height / cell), math.ceil(width / cell)
    codes = np.full((n_rows, n_cols), NODATA_VALUE, np.uint8)
    for r, line in rows:
        codes[r] = line[::cell][:n_cols]
    return codes


def _png_rows(path: Path, cell: int) -> tuple[tuple[int, int], Iterator[tuple[int, np.ndarray]]]:
    """((width, height), the pixel rows at multiples of ``cell`` as (cell row, values)) of an 8-bit
    one-channel PNG, decoded as a stream. landgui writes every row unfiltered; rows filtered by
    another writer are undone for the None, Sub and Up filters, and any other PNG is read whole."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise LandguiError(f"{path.name} is not a PNG")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if depth != 8 or colour not in (0, 3) or interlace:
        return (width, height), _pil_rows(path, cell)

    def rows() -> Iterator[tuple[int, np.ndarray]]:
        dec = zlib.decompressobj()
        buf = b""
        prev = np.zeros(width, np.uint8)
        y = 0
        stride = width + 1
        with open(path, "rb") as fh:
            fh.seek(8)
            while y < height:
                hdr = fh.read(8)
                if len(hdr) < 8:
                    raise LandguiError(f"{path.name} is truncated (damaged or still being written?)")
                length, kind = struct.unpack(">I4s", hdr)
                data = fh.read(length)
                fh.read(4)  # CRC
                if kind == b"IEND":
                    break
                if kind != b"IDAT":
                    continue
                buf += dec.decompress(data)
                pos = 0
                while len(buf) - pos >= stride and y < height:
                    kind_byte = buf[pos]
                    line = np.frombuffer(buf, np.uint8, count=width, offset=pos + 1)
                    pos += stride
                    if kind_byte == 1:  # Sub: running sum along the row, modulo 256
                        line = np.cumsum(line, dtype=np.uint8)
                    elif kind_byte == 2:  # Up: add the row above
                        line = line + prev
                    elif kind_byte != 0:
                        yield from _pil_rows(path, cell, start=y)
                        return
                    if y % cell == 0:
                        yield y // cell, line.copy()
                    prev = line
                    y += 1
                buf = buf[pos:]
        if y < height:
            raise LandguiError(f"{path.name} is truncated ({y} of {height} rows)")

    return (width, height), rows()


def _pil_rows(path: Path, cell: int, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """The rows at multiples of ``cell`` of any image Pillow reads as one band of indices."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("P", "L"):
            raise LandguiError(f"{path.name} is not a class map (mode {im.mode}, not indices)")
        arr = np.asarray(im)
    for y in range(start + (-start) % cell, arr.shape[0], cell):
        yield y // cell, arr[y]


def _tif_rows(path: Path, cell: int) -> tuple[tuple[int, int], Iterator[tuple[int, np.ndarray]]]:
    """((width, height), the rows at multiples of ``cell``) of the class GeoTIFF, read in windows."""
    import rasterio
    from rasterio.windows import Window

    try:
        ds = rasterio.open(path)
    except Exception as exc:  # noqa: BLE001 - rasterio raises several kinds
        raise LandguiError(f"cannot read {path.name}: {str(exc)[:200]}") from None
    size = (ds.width, ds.height)

    def rows() -> Iterator[tuple[int, np.ndarray]]:
        try:
            for y in range(0, ds.height, cell):
                yield y // cell, ds.read(1, window=Window(0, y, ds.width, 1))[0]
        finally:
            ds.close()

    return size, rows()


def _georeference(tif: Path, scene: Path, name: str) -> tuple[Any, Any]:
    """(CRS, transform) of a georeferenced scene: from its class GeoTIFF, else from the scene."""
    import rasterio

    for p in (tif, scene):
        if not p.is_file():
            continue
        try:
            with rasterio.open(p) as ds:
                if ds.crs is not None:
                    return ds.crs, ds.transform
        except Exception:  # noqa: BLE001, S112 - try the next file
            continue
    raise LandguiError(
        f"{name} is georeferenced but neither {tif.name} nor the scene {scene} can be read for its CRS and transform"
    )


def cell_areas_m2(scene: MappedScene) -> np.ndarray:
    """The ground area of every cell of a georeferenced scene in m² (see the module doc)."""
    crs, t = scene.crs, scene.transform
    hy, wx = scene.cell_size_px()
    px = np.outer(hy, wx).astype(np.float64)  # scene pixels per cell
    if crs.is_geographic:
        if t.b == 0 and t.d == 0:  # north-up: the exact area of each cell's quadrangle
            edges = np.concatenate([[0], np.cumsum(hy)])
            lat = t.f + t.e * edges
            band = np.abs(np.diff(_zone(np.radians(np.clip(lat, -90, 90)))))  # per radian of longitude
            dlon = np.radians(np.abs(t.a) * wx)
            return np.outer(band, dlon)
        # rotated: the local scale at each cell's centre
        rows, cols = scene.codes.shape
        cy = np.arange(rows) * scene.cell + hy / 2
        cx = np.arange(cols) * scene.cell + wx / 2
        lat = np.radians(t.d * cx[None, :] + t.e * cy[:, None] + t.f)
        e2 = WGS84_F * (2 - WGS84_F)
        s2 = np.sin(lat) ** 2
        m = WGS84_A * (1 - e2) / (1 - e2 * s2) ** 1.5
        nn = WGS84_A / np.sqrt(1 - e2 * s2)
        return px * abs(t.a * t.e - t.b * t.d) * np.radians(1) ** 2 * m * nn * np.cos(lat)
    factor = 1.0
    try:
        factor = float(crs.linear_units_factor[1])
    except Exception:  # noqa: BLE001 - a CRS without linear units: take them as metres
        factor = 1.0
    area = px * abs(t.a * t.e - t.b * t.d) * factor**2
    if crs.to_epsg() in WEB_MERCATOR:
        rows = scene.codes.shape[0]
        cy = np.arange(rows) * scene.cell + hy / 2
        y = (t.f + t.e * cy) * factor
        lat = 2 * np.arctan(np.exp(y / WGS84_A)) - np.pi / 2
        area = area * (np.cos(lat) ** 2)[:, None]
    return area


def _zone(lat: np.ndarray) -> np.ndarray:
    """Area of the WGS 84 ellipsoid between the equator and latitude ``lat`` (radians), per radian
    of longitude, in m² (the authalic-latitude formula)."""
    e2 = WGS84_F * (2 - WGS84_F)
    e = math.sqrt(e2)
    b2 = (WGS84_A * (1 - WGS84_F)) ** 2
    s = np.sin(lat)
    return b2 / 2 * (s / (1 - e2 * s**2) + np.log((1 + e * s) / (1 - e * s)) / (2 * e))


def _cell_area_spread(scenes: list[MappedScene]) -> float:
    """The largest relative difference between the ground areas of whole cells of the map."""
    whole = []
    for s in scenes:
        if s.cell_m2 is None:
            continue
        full = s.cell_cells() >= 1.0
        if full.any():
            whole.append(s.cell_m2[full])
    if not whole:
        return 0.0
    a = np.concatenate([w.ravel() for w in whole])
    return float(a.max() / a.min() - 1) if a.min() > 0 else 0.0
