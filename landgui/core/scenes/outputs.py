"""Writing a classified scene: class PNG with a colour table, GeoTIFFs, CSV, GeoJSON, summary, overlay.

The geo outputs open ready in a GIS: the class map is a Cloud-Optimized GeoTIFF with a colour
table, GDAL category names and a raster attribute table (``.tif.aux.xml``) and a QGIS style
(``.qml``, loaded by QGIS with the raster); the polygons are written as GeoJSON and GeoPackage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import PARTIAL, atomic_path, ensure_writable_dir, write_error, write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.inference.familiarity import UNFAMILIAR_ABOVE, unfamiliar_share, warning_line
from landgui.core.scenes.context import CONTEXT_ITERATIONS, CONTEXT_NEIGHBOURS
from landgui.core.scenes.io import Scene
from landgui.core.scenes.result import (
    UNCERTAIN,
    UNCERTAIN_VALUE,
    SceneResult,
    cell_class_codes,
    code_colours,
    pixel_class_map,
)

OVERLAY_MAX_SIDE = 8192  # longest side of the exported overlay (a 20,000 px scene: 8,192 px)
FORMATS = ("png", "csv", "geotiff", "geojson", "gpkg")  # what :func:`export` can write
COG_BLOCKSIZE = 512  # tile size of the COGs; overviews are made until the smallest fits one tile


def export(
    result: SceneResult,
    scene: Scene,
    out_dir: str | Path,
    name: str,
    palette: dict[str, str],
    formats: tuple[str, ...] = FORMATS,
    *,
    opacity: float = 0.45,
    hidden: tuple[int, ...] | set[int] = (),
    overlay_max_side: int = OVERLAY_MAX_SIDE,
) -> dict[str, str]:
    """Write the class map files; returns {kind: path}. Geo files only for georeferenced scenes.

    ``NAME.overlay.png`` is the scene at full resolution (longest side at most
    ``overlay_max_side``) with the class colours blended in at ``opacity``; classes in ``hidden``
    (indices; ``len(labels)`` = uncertain) are left unpainted, as on screen. ``NAME.overview.png``
    is a small figure of the same with a legend of the area shares.

    Georeferenced scenes only: ``geotiff`` writes ``NAME.classes.tif`` (a Cloud-Optimized
    GeoTIFF of the class codes with colour table and overviews), ``NAME.classes.tif.aux.xml``
    (category names and a raster attribute table for GDAL/QGIS/ArcGIS), ``NAME.classes.qml`` (a
    QGIS paletted style with the class names) and ``NAME.confidence.tif``; ``geojson`` and
    ``gpkg`` write the same polygons (one per 4-connected region of one class, with its mean
    confidence) as ``NAME.classes.geojson`` and ``NAME.classes.gpkg``."""

    out = ensure_writable_dir(out_dir)
    summary_path = out / f"{name}.summary.json"
    try:
        summary_path.unlink(missing_ok=True)  # the scene counts as done again only when all is written
    except OSError as exc:
        raise write_error(summary_path, exc) from None
    written: dict[str, str] = {}
    table = code_colours(result.labels, palette)

    def write(kind: str, suffix: str, writer: Any) -> None:  # writer(tmp path): the file, whole or not at all
        p = out / f"{name}.{suffix}"
        with atomic_path(p) as tmp:
            writer(tmp)
        written[kind] = str(p)

    if "png" in formats:
        write("classes_png", "classes.png", lambda t: _write_class_png(result, t, table))
        write(
            "overlay_png",
            "overlay.png",
            lambda t: _write_overlay_png(result, scene, palette, t, opacity, hidden, overlay_max_side),
        )
        write(
            "overview_png",
            "overview.png",
            lambda t: overlay_figure(result, scene.overview(2048), palette, opacity, hidden).savefig(
                t, dpi=100, format="png"
            ),
        )
    if "csv" in formats:
        write("patches_csv", "patches.csv", lambda t: _write_patches_csv(result, t))
    if result.crs is not None and "geotiff" in formats:
        write("geotiff", "classes.tif", lambda t: _write_geotiff(result, t, table))
        write("geotiff_aux", "classes.tif.aux.xml", lambda t: t.write_text(pam_xml(result.labels, table), "utf-8"))
        write("qgis_style", "classes.qml", lambda t: t.write_text(qgis_style(result.labels, table), "utf-8"))
        write("confidence_geotiff", "confidence.tif", lambda t: _write_confidence_geotiff(result, t))
    if result.crs is not None and ("geojson" in formats or "gpkg" in formats):
        polygons = class_polygons(result)  # once for both files
        if "geojson" in formats:
            write("geojson", "classes.geojson", lambda t: _write_geojson(result, polygons, t))
        if "gpkg" in formats:
            write("gpkg", "classes.gpkg", lambda t: _write_gpkg(result, polygons, t))
    summary = summary_dict(result)
    summary["files"] = written
    write_json_atomic(summary_path, summary)  # last: the marker that the scene's outputs are complete
    written["summary"] = str(summary_path)
    return written


def output_name(scene_path: str | Path, out_dir: str | Path, taken: set[str] | None = None) -> str:
    """The file name stem for a scene's outputs in ``out_dir``: the scene's stem, or
    ``stem_ext`` when that stem is already used by another scene (``a.jpg`` and ``a.png`` in one
    batch, or an earlier run's summary in the folder for a different scene), so that two scenes
    never overwrite each other's maps. Re-mapping the same scene reuses its name."""
    import json

    sp = Path(scene_path)
    taken = set() if taken is None else taken
    for name in (sp.stem, f"{sp.stem}_{sp.suffix.lstrip('.').lower()}"):
        if name in taken:
            continue
        summary = Path(out_dir) / f"{name}.summary.json"
        try:
            other = json.loads(summary.read_text()).get("scene")
        except (OSError, ValueError, AttributeError):
            other = None
        if other is None or Path(other).resolve() == sp.resolve():
            taken.add(name)
            return name
    raise LandguiError(f"{out_dir} already holds the maps of other scenes named {sp.stem}; choose another --out")


def _write_patches_csv(result: SceneResult, path: Path) -> None:
    g = result.grid
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            "row,col,x,y,class,confidence,margin,uncertain,"
            + ",".join(f"p_{lab}" for lab in result.labels)
            + (",unfamiliar" if result.unfamiliar is not None else "")
            + "\n"
        )
        unf = result.unfamiliar
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
                if unf is not None:
                    pr += f",{unf[r, c]:.4f}" if k >= 0 else ","
                fh.write(f"{r},{c},{c * g.stride},{r * g.stride},{cls},{pr}\n")


def _write_class_png(
    result: SceneResult, path: Path, table: np.ndarray | None = None, rows_per_block: int = 1024
) -> None:
    """8-bit PNG of the class indices, streamed in row blocks. With ``table`` (:func:`code_colours`)
    it is a palette PNG: the values stay the class indices (254 uncertain, 255 not classified) and
    every viewer shows the class colours (uncertain grey, not classified transparent) instead of
    a near-black greyscale image.

    A 20,000 x 20,000 px map is 400 MB as one array (and OpenCV's encoder copies it), so the
    PNG is written here chunk by chunk (IHDR, zlib-compressed IDAT rows, IEND) with bounded memory.
    """
    import struct
    import zlib

    def chunk(fh: Any, kind: bytes, data: bytes) -> None:
        fh.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    g = result.grid
    comp = zlib.compressobj(6)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        chunk(fh, b"IHDR", struct.pack(">IIBBBBB", g.width, g.height, 8, 0 if table is None else 3, 0, 0, 0))
        if table is not None:
            chunk(fh, b"PLTE", np.ascontiguousarray(table[:, :3]).tobytes())
            chunk(fh, b"tRNS", np.ascontiguousarray(table[:, 3]).tobytes())
        for y in range(0, g.height, rows_per_block):
            block = pixel_class_map(result, y, min(g.height, y + rows_per_block))
            raw = np.zeros((block.shape[0], g.width + 1), np.uint8)  # filter byte 0 per row
            raw[:, 1:] = block
            data = comp.compress(raw.tobytes())
            if data:
                chunk(fh, b"IDAT", data)
        chunk(fh, b"IDAT", comp.flush())
        chunk(fh, b"IEND", b"")


def context_dict(result: SceneResult) -> dict:
    """Whether the map used context over grid neighbours, with what settings, and how many
    patches it changed (the ``context`` entry of the summary JSON)."""
    on = result.context > 0
    return {
        "on": on,
        "strength": result.context,
        "neighbours": CONTEXT_NEIGHBOURS if on else None,
        "iterations": CONTEXT_ITERATIONS if on else None,
        "changed_patches": result.stats.get("context_changed", 0),
    }


def summary_dict(result: SceneResult) -> dict:
    """The scene's summary JSON: grid, settings, coverage, timing and georeference."""
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
        "context": context_dict(result),
        "adapted": result.adapted,
        "run": result.run,
        "engine": result.engine,
        "seconds": round(result.seconds, 3),
        "patches_per_s": round(result.patches_per_s, 1),
        "georeferenced": result.crs is not None,
        "crs": str(result.crs) if result.crs is not None else None,
        "unfamiliar": unfamiliar_summary(result),
    }


def unfamiliar_summary(result: SceneResult) -> dict | None:
    """How much of the scene is unlike the model's training data (landgui.core.inference.familiarity):
    the share of patches above the threshold, the mean score and the warning, if any."""
    if result.unfamiliar is None:
        return None

    u = result.unfamiliar[np.isfinite(result.unfamiliar)]
    share = unfamiliar_share(u)
    return {
        "share": round(share, 4),
        "mean": round(float(u.mean()), 4) if len(u) else None,
        "above": UNFAMILIAR_ABOVE,
        "warning": warning_line(share),
    }


def _write_geotiff(result: SceneResult, path: Path, table: np.ndarray) -> Path:
    """The class codes as a Cloud-Optimized GeoTIFF: 512 px tiles, DEFLATE, nodata 255, the
    colour table of :func:`code_colours`, class names as band tags (``class_<code>``) and
    overviews made by nearest neighbour (a class is never averaged with its neighbour).

    GDAL's COG driver only copies a finished dataset, so the map is first streamed in row blocks
    into a tiled GeoTIFF beside ``path`` (bounded memory for any scene size), then copied."""
    import rasterio
    from rasterio.windows import Window

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
        "zlevel": 1,  # a work file: fast; the COG copy compresses properly
        "tiled": True,
        "blockxsize": COG_BLOCKSIZE,
        "blockysize": COG_BLOCKSIZE,
    }
    src = _side_file(path, "gtiff")
    try:
        with rasterio.open(src, "w", **profile) as dst:
            rows = max(g.cell, COG_BLOCKSIZE // g.cell * g.cell)
            for y in range(0, g.height, rows):
                block = pixel_class_map(result, y, min(g.height, y + rows))
                dst.write(block[None], window=Window(0, y, g.width, block.shape[0]))
            codes = [*range(len(result.labels)), UNCERTAIN_VALUE, 255]
            dst.write_colormap(1, {i: tuple(int(v) for v in table[i]) for i in codes})
            dst.set_band_description(1, "class")
            dst.update_tags(
                1,
                **{f"class_{i}": lab for i, lab in enumerate(result.labels)},
                **{f"class_{UNCERTAIN_VALUE}": UNCERTAIN, "uncertain_below": str(result.uncertain_below)},
            )
        _copy_cog(src, path, "NEAREST", PREDICTOR="YES")
    finally:
        _remove(src)
    return path


def _side_file(path: Path, tag: str) -> Path:
    """A hidden work file beside the partial file ``path`` (``.NAME.<pid>-TAG.partial.EXT``), so
    that a killed write leaves only files that :func:`~landgui.core.base.atomic.atomic_path` clears."""

    return path.with_name(path.name.replace(f"{PARTIAL}{path.suffix}", f"-{tag}{PARTIAL}{path.suffix}"))


def _remove(path: Path) -> None:
    import contextlib

    with contextlib.suppress(OSError):
        path.unlink()


def _copy_cog(src: Path, dst: Path, resampling: str, **options: str) -> None:
    """Copy the GeoTIFF ``src`` to the Cloud-Optimized GeoTIFF ``dst`` (GDAL's COG driver: tiles,
    DEFLATE, overviews made with ``resampling`` down to one tile; tags and colour table kept)."""
    import rasterio
    import rasterio.shutil

    with rasterio.Env(GDAL_PAM_ENABLED="NO"):  # no stray .aux.xml beside the partial files
        rasterio.shutil.copy(
            src,
            dst,
            driver="COG",
            BLOCKSIZE=str(COG_BLOCKSIZE),
            COMPRESS="DEFLATE",
            OVERVIEWS="IGNORE_EXISTING",
            OVERVIEW_RESAMPLING=resampling,
            **options,
        )


def pam_xml(labels: list[str], table: np.ndarray) -> str:
    """GDAL's sidecar (``.aux.xml``, PAM) for the class GeoTIFF: ``<CategoryNames>`` (one entry per
    code from 0 to 254: the class names, ``uncertain`` at 254, empty in between) and a thematic
    raster attribute table (value, class, red, green, blue, alpha), so that GDAL, QGIS and ArcGIS
    name the classes."""
    from xml.sax.saxutils import escape

    names = _code_names(labels)
    cats = "".join(f"      <Category>{escape(names.get(i, ''))}</Category>\n" for i in range(UNCERTAIN_VALUE + 1))
    fields = [("Value", 0, 5), ("Class", 2, 2), ("Red", 0, 6), ("Green", 0, 7), ("Blue", 0, 8), ("Alpha", 0, 9)]
    # field types: 0 integer, 2 string; usages: 5 min-max (the value), 2 name, 6-9 red..alpha
    defs = "".join(
        f'      <FieldDefn index="{i}">\n        <Name>{n}</Name>\n        <Type>{t}</Type>\n'
        f"        <Usage>{u}</Usage>\n      </FieldDefn>\n"
        for i, (n, t, u) in enumerate(fields)
    )
    rows = "".join(
        f'      <Row index="{r}">\n'
        + "".join(f"        <F>{v}</F>\n" for v in (code, escape(name), *(int(c) for c in table[code])))
        + "      </Row>\n"
        for r, (code, name) in enumerate(names.items())
    )
    return (
        "<PAMDataset>\n"
        '  <PAMRasterBand band="1">\n'
        "    <CategoryNames>\n"
        f"{cats}"
        "    </CategoryNames>\n"
        '    <GDALRasterAttributeTable tableType="thematic">\n'
        f"{defs}{rows}"
        "    </GDALRasterAttributeTable>\n"
        "  </PAMRasterBand>\n"
        "</PAMDataset>\n"
    )


def qgis_style(labels: list[str], table: np.ndarray) -> str:
    """A QGIS 3 layer style (``.qml``) for the class GeoTIFF: a paletted renderer on band 1 with one
    entry per class (the colours of :func:`code_colours`, the class names as labels) and grey
    ``uncertain``; 255 is the band's nodata and stays transparent. QGIS applies a ``.qml`` of the
    raster's name when the raster is added, so the map opens with its legend."""
    from xml.sax.saxutils import quoteattr

    entries = ""
    for code, name in _code_names(labels).items():
        r, g, b, a = (int(v) for v in table[code])
        entries += f'        <paletteEntry value="{code}" color="#{r:02x}{g:02x}{b:02x}" alpha="{a}" label={quoteattr(name)}/>\n'
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        '<qgis version="3.22.0" styleCategories="AllStyleCategories" hasScaleBasedVisibilityFlag="0"'
        ' minScale="1e+08" maxScale="0">\n'
        "  <pipe>\n"
        "    <provider>\n"
        '      <resampling enabled="false" zoomedInResamplingMethod="nearestNeighbour"'
        ' zoomedOutResamplingMethod="nearestNeighbour" maxOversampling="2"/>\n'
        "    </provider>\n"
        '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
        "      <rasterTransparency/>\n"
        "      <minMaxOrigin>\n"
        "        <limits>None</limits>\n"
        "        <extent>WholeRaster</extent>\n"
        "        <statAccuracy>Estimated</statAccuracy>\n"
        "        <cumulativeCutLower>0.02</cumulativeCutLower>\n"
        "        <cumulativeCutUpper>0.98</cumulativeCutUpper>\n"
        "        <stdDevFactor>2</stdDevFactor>\n"
        "      </minMaxOrigin>\n"
        "      <colorPalette>\n"
        f"{entries}"
        "      </colorPalette>\n"
        "    </rasterrenderer>\n"
        '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
        '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255"'
        ' colorizeGreen="128" colorizeBlue="128" colorizeStrength="100"/>\n'
        '    <rasterresampler maxOversampling="2"/>\n'
        "    <resamplingStage>resamplingFilter</resamplingStage>\n"
        "  </pipe>\n"
        "  <blendMode>0</blendMode>\n"
        "</qgis>\n"
    )


def _code_names(labels: list[str]) -> dict[int, str]:
    """{code: name} of the codes a class map can hold: the classes, then uncertain (254)."""
    return {**dict(enumerate(labels)), UNCERTAIN_VALUE: UNCERTAIN}


def _write_confidence_geotiff(result: SceneResult, path: Path) -> Path:
    """Two float32 bands on the cell grid, as a Cloud-Optimized GeoTIFF: 1 = confidence (top
    probability), 2 = margin (top1 - top2); overviews (maps larger than one 512 px tile) average.

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
        "tiled": True,
        "blockxsize": COG_BLOCKSIZE,
        "blockysize": COG_BLOCKSIZE,
    }
    src = _side_file(path, "gtiff")
    try:
        with rasterio.open(src, "w", **profile) as dst:
            dst.write(conf, 1)
            dst.write(margin, 2)
            dst.set_band_description(1, "confidence")
            dst.set_band_description(2, "margin")
        _copy_cog(src, path, "AVERAGE", PREDICTOR="YES")
    finally:
        _remove(src)
    return path


@dataclass
class ClassPolygon:
    """One connected region (4-connectivity) of one class code in the class map."""

    geometry: dict  # GeoJSON Polygon in the scene's CRS (exterior ring, then holes)
    class_index: int  # class index, or UNCERTAIN_VALUE (254)
    name: str  # class name, or "uncertain"
    mean_confidence: float  # mean cell confidence over the region's cells


def class_polygons(result: SceneResult) -> list[ClassPolygon]:
    """The class map as polygons: one per 4-connected region of one code (as
    ``rasterio.features.shapes`` draws them), with the mean confidence of its cells.

    Regions are labelled first (OpenCV connected components, per code), then GDAL polygonizes
    the region labels, so every polygon is known with the cells it covers."""
    import cv2
    from rasterio import features
    from rasterio.transform import Affine

    codes = cell_class_codes(result)
    regions = np.zeros(codes.shape, np.int32)  # 0 = not classified, then one id per region
    region_code = [255]
    for code in np.unique(codes):
        if code == 255:
            continue
        n, lab = cv2.connectedComponents((codes == code).astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)
        inside = lab > 0
        regions[inside] = lab[inside] + (len(region_code) - 1)
        region_code += [int(code)] * (n - 1)
    n_regions = len(region_code)
    sums = np.bincount(regions.ravel(), weights=result.cell_confidence.ravel(), minlength=n_regions)
    counts = np.bincount(regions.ravel(), minlength=n_regions)
    names = _code_names(result.labels)
    transform = result.transform @ Affine.scale(result.grid.cell)
    polygons = []
    for geom, value in features.shapes(regions, mask=regions > 0, connectivity=4, transform=transform):
        r = int(value)
        code = region_code[r]
        polygons.append(ClassPolygon(geom, code, names[code], float(sums[r] / counts[r])))
    return polygons


def _write_geojson(result: SceneResult, polygons: list[ClassPolygon], path: Path) -> Path:
    import json

    feats = [
        {
            "type": "Feature",
            "geometry": p.geometry,
            "properties": {
                "class": p.name,
                "class_index": p.class_index,
                "mean_confidence": round(p.mean_confidence, 6),
            },
        }
        for p in polygons
    ]
    fc: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if result.crs is not None:
        fc["crs"] = {"type": "name", "properties": {"name": result.crs.to_string()}}
    path.write_text(json.dumps(fc))
    return path


def polygon_wkb(geometry: dict) -> bytes:
    """A GeoJSON Polygon as OGC WKB (little-endian): what GDAL/OGR writers take as geometry."""
    import struct

    rings = geometry["coordinates"]
    parts = [struct.pack("<BII", 1, 3, len(rings))]  # byte order 1 = little-endian, type 3 = Polygon
    for ring in rings:
        xy = np.asarray(ring, dtype="<f8").reshape(-1, 2)
        parts.append(struct.pack("<I", len(xy)))
        parts.append(xy.tobytes())
    return b"".join(parts)


def _write_gpkg(result: SceneResult, polygons: list[ClassPolygon], path: Path) -> Path:
    """The polygons as one GeoPackage layer ``classes`` (through pyogrio / GDAL's OGR): fields
    ``class`` (name), ``class_index`` and ``mean_confidence``, in the scene's CRS."""
    try:
        from pyogrio.raw import write
    except ImportError as exc:
        raise LandguiError(f"GeoPackage export needs pyogrio ({exc}); install it or leave out the gpkg format") from exc

    geometry = np.array([polygon_wkb(p.geometry) for p in polygons], dtype=object)
    write(
        str(path),
        geometry,
        [
            np.array([p.name for p in polygons], dtype=object),
            np.array([p.class_index for p in polygons], dtype=np.int32),
            np.array([p.mean_confidence for p in polygons], dtype=np.float64),
        ],
        ["class", "class_index", "mean_confidence"],
        layer="classes",
        driver="GPKG",
        geometry_type="Polygon",
        crs=result.crs.to_wkt(),
        promote_to_multi=False,
        dataset_options={"VERSION": "1.2"},  # GeoPackage 1.2: read without warnings by older GDAL/QGIS
    )
    return path


def blend_classes(
    result: SceneResult,
    image: np.ndarray,
    palette: dict[str, str],
    alpha: float = 0.45,
    hidden: tuple[int, ...] | set[int] = (),
    rows: int = 1024,
) -> np.ndarray:
    """``image`` (the whole scene at any scale) with the class colours blended in at ``alpha``;
    uncertain cells grey, unclassified and ``hidden`` classes left as they are. Row blocks keep
    the float work small for large images."""
    import cv2

    h, w = image.shape[:2]
    k = len(result.labels)
    table = code_colours(result.labels, palette)
    colours = table[:, :3].astype(np.float32)
    show = table[:, 3] > 0
    for i in hidden:  # class indices; len(labels) stands for "uncertain", as in the app's legend
        if 0 <= i <= k:
            show[UNCERTAIN_VALUE if i == k else i] = False
    cmap = cell_class_codes(result)
    g = result.grid
    # class map at this scale: cells -> scene pixels -> image pixels
    scale_x = (math.ceil(g.width / g.cell) * g.cell) / g.width
    scale_y = (math.ceil(g.height / g.cell) * g.cell) / g.height
    big = cv2.resize(cmap, (round(w * scale_x), round(h * scale_y)), interpolation=cv2.INTER_NEAREST)[:h, :w]
    out = np.empty_like(image)
    for y in range(0, h, rows):
        b = big[y : y + rows]
        a = np.where(show[b], np.float32(alpha), np.float32(0))[..., None]
        out[y : y + rows] = (image[y : y + rows].astype(np.float32) * (1 - a) + colours[b] * a + 0.5).astype(np.uint8)
    return out


def _write_overlay_png(
    result: SceneResult,
    scene: Scene,
    palette: dict[str, str],
    path: Path,
    alpha: float,
    hidden: tuple[int, ...] | set[int],
    max_side: int,
) -> None:
    import cv2

    img = blend_classes(result, scene.overview(max_side), palette, alpha, hidden)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise LandguiError(f"cannot encode {path.name}")
    with open(path, "wb") as fh:
        fh.write(buf.tobytes())


def overlay_figure(
    result: SceneResult,
    overview: np.ndarray,
    palette: dict[str, str],
    alpha: float = 0.45,
    hidden: tuple[int, ...] | set[int] = (),
) -> Any:
    """The scene (downscaled) with translucent class colours and a legend with area shares."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    blended = blend_classes(result, overview, palette, alpha, hidden)
    h, w = overview.shape[:2]
    g = result.grid
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
