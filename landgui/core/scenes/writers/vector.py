"""The vector outputs: the class map as polygons (one per 4-connected region of one class, with its
mean confidence), written as GeoJSON and as a GeoPackage layer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.scenes.result import SceneResult, cell_class_codes
from landgui.core.scenes.writers.geotiff import code_names


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
    names = code_names(result.labels)
    transform = result.transform @ Affine.scale(result.grid.cell)
    polygons = []
    for geom, value in features.shapes(regions, mask=regions > 0, connectivity=4, transform=transform):
        r = int(value)
        code = region_code[r]
        polygons.append(ClassPolygon(geom, code, names[code], float(sums[r] / counts[r])))
    return polygons


def write_geojson(result: SceneResult, polygons: list[ClassPolygon], path: Path) -> Path:
    """The polygons as a GeoJSON FeatureCollection (properties ``class``, ``class_index`` and
    ``mean_confidence``), with the scene's CRS named in the legacy ``crs`` member."""
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


def write_gpkg(result: SceneResult, polygons: list[ClassPolygon], path: Path) -> Path:
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
