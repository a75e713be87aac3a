"""The raster outputs for a GIS: the class map and the confidence as Cloud-Optimized GeoTIFFs, with
the sidecars that name the classes (GDAL's ``.aux.xml`` with a raster attribute table, a QGIS
``.qml`` style), so the map opens ready in QGIS or ArcGIS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import PARTIAL
from landgui.core.scenes.result import UNCERTAIN, UNCERTAIN_VALUE, SceneResult, pixel_class_map

COG_BLOCKSIZE = 512  # tile size of the COGs; overviews are made until the smallest fits one tile


def write_geotiff(result: SceneResult, path: Path, table: np.ndarray) -> Path:
    """The class codes as a Cloud-Optimized GeoTIFF: 512 px tiles, DEFLATE, nodata 255, the
    colour table of :func:`code_colours`, class names as band tags (``class_<code>``) and
    overviews made by nearest neighbour (a class is never averaged with its neighbour).

    GDAL's COG driver only copies a finished dataset, so the map is first streamed in row blocks
    into a tiled GeoTIFF beside ``path`` (bounded memory for any scene size), then copied."""
    from rasterio.windows import Window

    g = result.grid

    def fill(dst: Any) -> None:
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

    profile = {
        "width": g.width,
        "height": g.height,
        "count": 1,
        "dtype": "uint8",
        "crs": result.crs,
        "transform": result.transform,
        "nodata": 255,
        "zlevel": 1,  # a work file: fast; the COG copy compresses properly
    }
    return _write_cog(path, profile, fill, "NEAREST")


def _write_cog(path: Path, profile: dict[str, Any], fill: Callable[[Any], None], resampling: str) -> Path:
    """A Cloud-Optimized GeoTIFF at ``path``: ``fill(dataset)`` writes a tiled, DEFLATE GeoTIFF of
    ``profile`` in a hidden work file beside it (GDAL's COG driver only copies a finished dataset),
    which is then copied with overviews made by ``resampling`` and removed."""
    import rasterio

    src = _side_file(path, "gtiff")
    work = {
        "driver": "GTiff",
        "compress": "deflate",
        "tiled": True,
        "blockxsize": COG_BLOCKSIZE,
        "blockysize": COG_BLOCKSIZE,
        **profile,
    }
    try:
        with rasterio.open(src, "w", **work) as dst:
            fill(dst)
        _copy_cog(src, path, resampling, PREDICTOR="YES")
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

    names = code_names(labels)
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
    for code, name in code_names(labels).items():
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


def code_names(labels: list[str]) -> dict[int, str]:
    """{code: name} of the codes a class map can hold: the classes, then uncertain (254)."""
    return {**dict(enumerate(labels)), UNCERTAIN_VALUE: UNCERTAIN}


def write_confidence_geotiff(result: SceneResult, path: Path) -> Path:
    """Two float32 bands on the cell grid, as a Cloud-Optimized GeoTIFF: 1 = confidence (top
    probability), 2 = margin (top1 - top2); overviews (maps larger than one 512 px tile) average.

    Pixels are cells of gcd(patch, stride) scene px (a patch without overlap); not classified = -1.
    """
    from rasterio.transform import Affine

    ok = result.cell_classes >= 0
    conf = np.where(ok, result.cell_confidence, -1.0).astype(np.float32)
    margin = np.where(ok, result.cell_margin, -1.0).astype(np.float32)

    def fill(dst: Any) -> None:
        dst.write(conf, 1)
        dst.write(margin, 2)
        dst.set_band_description(1, "confidence")
        dst.set_band_description(2, "margin")

    profile = {
        "width": conf.shape[1],
        "height": conf.shape[0],
        "count": 2,
        "dtype": "float32",
        "crs": result.crs,
        "transform": result.transform @ Affine.scale(result.grid.cell),
        "nodata": -1.0,
    }
    return _write_cog(path, profile, fill, "AVERAGE")
