"""The outputs of a many-scene job: ``summary.csv``, ``coverage.csv`` and ``mosaic.classes.vrt``.

``summary.csv``
    One row per scene in the order given: scene, name, rows, cols, patches, seconds, engine,
    the coverage share of each class (and ``uncertain``), and the error of a scene that failed.
``coverage.csv``
    The classes over all scenes together: classified pixels, share, and km² when every scene
    is georeferenced in a CRS in metres.
``mosaic.classes.vrt``
    A GDAL virtual mosaic of the scenes' class GeoTIFFs (what ``gdalbuildvrt`` would write): the
    union of their extents at the finest resolution, nodata 255, the class colour table and
    names. Only for georeferenced, north-up scenes in one CRS; it references ``NAME.classes.tif``
    beside it, so it opens in QGIS or GDAL as one layer without copying a pixel.

All three are written into a hidden staging folder and moved in together, a hidden manifest
(``.landgui-batch.json``, the files with their SHA-256) last (:func:`write_batch_outputs`); a file
at these names that landgui did not write is not replaced without ``overwrite``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import write_text_atomic
from landgui.core.base.outdir import (
    Staging,
    check_replaceable,
    clear_stale_staging,
    earlier_files,
    file_record,
    folder_lock,
    recorded_files,
)
from landgui.core.scenes.grid import UNCERTAIN
from landgui.core.scenes.result import UNCERTAIN_VALUE, SceneResult, code_colours

SUMMARY_CSV = "summary.csv"
COVERAGE_CSV = "coverage.csv"
MOSAIC_VRT = "mosaic.classes.vrt"
BATCH_MANIFEST = ".landgui-batch.json"  # hidden: the many-scene files landgui wrote, with their SHA-256
CLASSES_TIF = "classes.tif"


def scene_row(path: str, name: str, result: SceneResult | None, error: str | None = None) -> dict[str, Any]:
    """The summary of one scene (small: kept for every scene of a job once its result is dropped)."""
    row: dict[str, Any] = {"scene": str(path), "name": name, "error": error or ""}
    if result is None:
        return row
    g = result.grid
    classified = _classified_area(result)
    row.update(
        rows=g.rows,
        cols=g.cols,
        patches=g.n,
        seconds=round(result.seconds, 3),
        engine=result.engine,
        coverage=dict(result.coverage),
        pixels={k: v * classified for k, v in result.coverage.items()},
        pixel_area_m2=_pixel_area_m2(result),
    )
    return row


def _classified_area(result: SceneResult) -> float:
    """Scene pixels in classified cells (the area the coverage shares are shares of)."""
    g, cell = result.grid, result.grid.cell
    wy = np.minimum(cell, g.height - np.arange(result.cell_classes.shape[0]) * cell)
    wx = np.minimum(cell, g.width - np.arange(result.cell_classes.shape[1]) * cell)
    return float(np.outer(wy, wx)[result.cell_classes >= 0].sum())


def _pixel_area_m2(result: SceneResult) -> float | None:
    crs, t = result.crs, result.transform
    if crs is None or t is None:
        return None
    try:
        units = (crs.linear_units or "").lower()
    except AttributeError:
        return None
    if not crs.is_projected or units not in ("metre", "meter", "m"):
        return None
    return abs(t.a * t.e - t.b * t.d)


def write_batch_summary(
    out_dir: str | Path, rows: list[dict[str, Any]], labels: list[str], *, into: str | Path | None = None
) -> dict[str, str]:
    """Write ``summary.csv`` and ``coverage.csv`` for the scenes' rows (:func:`scene_row`); returns
    {kind: path in ``out_dir``}. ``into``: write them there instead (a staging folder moved into
    ``out_dir`` later, see :func:`write_batch_outputs`)."""

    out = Path(out_dir)
    dest = out if into is None else Path(into)
    keys = [*labels, UNCERTAIN]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scene", "name", "rows", "cols", "patches", "seconds", "engine", *keys, "error"])
    for r in rows:
        if r.get("coverage") is None:
            w.writerow([r["scene"], r["name"], "", "", "", "", "", *("" for _ in keys), r["error"]])
            continue
        cov = [f"{r['coverage'].get(k, 0.0):.6f}" for k in keys]
        w.writerow([r["scene"], r["name"], r["rows"], r["cols"], r["patches"], r["seconds"], r["engine"], *cov, ""])
    write_text_atomic(dest / SUMMARY_CSV, buf.getvalue())

    done = [r for r in rows if r.get("coverage") is not None]
    pixels = {k: sum(r["pixels"].get(k, 0.0) for r in done) for k in keys}
    total = sum(pixels.values())
    metric = bool(done) and all(r["pixel_area_m2"] is not None for r in done)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["class", "pixels", "share", *(["area_km2"] if metric else [])])
    for k in keys:
        area = [f"{sum(r['pixels'].get(k, 0.0) * r['pixel_area_m2'] for r in done) / 1e6:.6f}"] if metric else []
        w.writerow([k, round(pixels[k]), f"{pixels[k] / total:.6f}" if total else "0.000000", *area])
    write_text_atomic(dest / COVERAGE_CSV, buf.getvalue())
    return {"summary_csv": str(out / SUMMARY_CSV), "coverage_csv": str(out / COVERAGE_CSV)}


def write_mosaic_vrt(
    out_dir: str | Path,
    names: list[str],
    labels: list[str],
    palette: dict[str, str],
    *,
    files: list[Path] | None = None,
    filename: str = MOSAIC_VRT,
    into: str | Path | None = None,
) -> tuple[Path | None, str | None]:
    """Write ``mosaic.classes.vrt`` over the ``NAME.classes.tif`` files of ``names`` in ``out_dir``
    (those that exist; ``files``: these class rasters under ``out_dir`` instead, ``filename``: the
    VRT's name; ``into``: write it there, a staging folder moved into ``out_dir`` later). Returns
    (its path in ``out_dir``, None), or (None, why there is no mosaic)."""
    import xml.etree.ElementTree as ET

    import rasterio

    out = Path(out_dir)
    sources = []
    for p in files if files is not None else [out / f"{name}.{CLASSES_TIF}" for name in names]:
        if not p.is_file():
            continue
        with rasterio.open(p) as ds:
            t = ds.transform
            if ds.crs is None:
                continue
            if t.b != 0 or t.d != 0 or t.e >= 0:
                return None, f"{p.name} is rotated or not north-up: no {MOSAIC_VRT} (warp it first)"
            sources.append(
                {
                    "file": p.relative_to(out).as_posix(),
                    "crs": ds.crs,
                    "t": t,
                    "w": ds.width,
                    "h": ds.height,
                    "block": ds.block_shapes[0],
                }
            )
    if not sources:
        return None, None
    crss = {s["crs"].to_wkt() for s in sources}
    if len(crss) > 1:
        return None, f"the scenes are in {len(crss)} CRSs: no {MOSAIC_VRT} (reproject them to one CRS first)"
    res_x = min(s["t"].a for s in sources)
    res_y = min(-s["t"].e for s in sources)
    left = min(s["t"].c for s in sources)
    top = max(s["t"].f for s in sources)
    right = max(s["t"].c + s["w"] * s["t"].a for s in sources)
    bottom = min(s["t"].f + s["h"] * s["t"].e for s in sources)
    width, height = int((right - left) / res_x + 0.5), int((top - bottom) / res_y + 0.5)

    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS").text = sources[0]["crs"].to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(_num(v) for v in (left, res_x, 0.0, top, 0.0, -res_y))
    band = ET.SubElement(root, "VRTRasterBand", dataType="Byte", band="1")
    ET.SubElement(band, "NoDataValue").text = "255"
    ET.SubElement(band, "ColorInterp").text = "Palette"
    cats = ET.SubElement(band, "CategoryNames")
    names_by_code = {i: lab for i, lab in enumerate(labels)} | {UNCERTAIN_VALUE: UNCERTAIN}
    for code in range(max(names_by_code) + 1):
        ET.SubElement(cats, "Category").text = names_by_code.get(code, "")
    table = ET.SubElement(band, "ColorTable")
    for r, g, b, a in code_colours(labels, palette).tolist():
        ET.SubElement(table, "Entry", c1=str(r), c2=str(g), c3=str(b), c4=str(a))
    for s in sources:
        t = s["t"]
        src = ET.SubElement(band, "ComplexSource")
        ET.SubElement(src, "SourceFilename", relativeToVRT="1").text = s["file"]
        ET.SubElement(src, "SourceBand").text = "1"
        by, bx = s["block"]
        ET.SubElement(
            src,
            "SourceProperties",
            RasterXSize=str(s["w"]),
            RasterYSize=str(s["h"]),
            DataType="Byte",
            BlockXSize=str(bx),
            BlockYSize=str(by),
        )
        ET.SubElement(src, "SrcRect", xOff="0", yOff="0", xSize=str(s["w"]), ySize=str(s["h"]))
        ET.SubElement(
            src,
            "DstRect",
            xOff=_num((t.c - left) / res_x),
            yOff=_num((top - t.f) / res_y),
            xSize=_num(s["w"] * t.a / res_x),
            ySize=_num(s["h"] * -t.e / res_y),
        )
        ET.SubElement(src, "NODATA").text = "255"
    ET.indent(root)
    write_text_atomic((out if into is None else Path(into)) / filename, ET.tostring(root, encoding="unicode") + "\n")
    return out / filename, None


def check_batch_outputs(out_dir: str | Path, mosaic: bool, overwrite: bool = False) -> dict[str, str | None]:
    """What :func:`write_batch_outputs` would refuse, checked without writing (before a long job,
    too): a ``summary.csv``, ``coverage.csv`` or (``mosaic``) VRT that landgui did not write.
    Returns the many-scene files the folder's manifest says landgui wrote (``{name: sha256}``)."""
    out = Path(out_dir)
    clear_stale_staging(out)  # first: a killed job's committed set is moved in, with its manifest
    try:
        previous = json.loads((out / BATCH_MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        previous = None
    recorded = recorded_files(previous if isinstance(previous, dict) else None)
    candidates = [SUMMARY_CSV, COVERAGE_CSV, *([MOSAIC_VRT] if mosaic else [])]
    check_replaceable(out, candidates, recorded, out / BATCH_MANIFEST, overwrite)
    return recorded


def write_batch_outputs(
    out_dir: str | Path,
    rows: list[dict[str, Any]],
    labels: list[str],
    palette: dict[str, str],
    class_maps: list[Path] | None = None,
    *,
    overwrite: bool = False,
    lock: bool = True,
) -> tuple[dict[str, str], str | None]:
    """The many-scene files together: ``summary.csv``, ``coverage.csv`` and, given the scenes'
    ``class_maps``, ``mosaic.classes.vrt`` are written into a hidden staging folder and moved in
    at once, then :data:`BATCH_MANIFEST` (hidden, listing them with their SHA-256) last, so a
    killed job leaves the previous set or nothing new. Files at these names that no earlier
    manifest lists with these bytes (the user's) are refused unless ``overwrite``. Returns
    ({kind: path}, why there is no mosaic or None)."""
    out = Path(out_dir)
    manifest_path = out / BATCH_MANIFEST
    with folder_lock(out) if lock else contextlib.nullcontext(out):
        recorded = check_batch_outputs(out, class_maps is not None, overwrite)
        why_not = None
        with Staging(out, "batch") as st:
            written = write_batch_summary(out, rows, labels, into=st.dir)
            if class_maps is not None:
                vrt, why_not = write_mosaic_vrt(out, [], labels, palette, files=class_maps, into=st.dir)
                if vrt is not None:
                    written["mosaic_vrt"] = str(vrt)
            names = [Path(p).name for p in written.values()]
            manifest: dict[str, Any] = {"file_sha256": file_record([st.path(n) for n in names])}
            earlier = earlier_files(out, recorded, manifest["file_sha256"], manifest_path)
            if earlier:
                manifest["earlier_files"] = earlier
            st.publish(names, (BATCH_MANIFEST, manifest))
    return written, why_not


def _num(v: float) -> str:
    """A coordinate or offset as GDAL reads it back exactly: an integer when it is one."""
    r = round(v)
    return str(int(r)) if abs(v - r) < 1e-9 * max(1.0, abs(v)) else repr(float(v))
