"""Writing a classified scene: class PNG with a colour table, GeoTIFFs, CSV, GeoJSON, summary, overlay."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.errors import LandguiError
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


def export(
    result: SceneResult,
    scene: Scene,
    out_dir: str | Path,
    name: str,
    palette: dict[str, str],
    formats: tuple[str, ...] = ("png", "csv", "geotiff", "geojson"),
    *,
    opacity: float = 0.45,
    hidden: tuple[int, ...] | set[int] = (),
    overlay_max_side: int = OVERLAY_MAX_SIDE,
) -> dict[str, str]:
    """Write the class map files; returns {kind: path}. Geo files only for georeferenced scenes.

    ``NAME.overlay.png`` is the scene at full resolution (longest side at most
    ``overlay_max_side``) with the class colours blended in at ``opacity``; classes in ``hidden``
    (indices; ``len(labels)`` = uncertain) are left unpainted, as on screen. ``NAME.overview.png``
    is a small figure of the same with a legend of the area shares."""

    from landgui.core.atomic import atomic_path, ensure_writable_dir, write_error, write_json_atomic

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
        write("confidence_geotiff", "confidence.tif", lambda t: _write_confidence_geotiff(result, t))
    if result.crs is not None and "geojson" in formats:
        write("geojson", "classes.geojson", lambda t: _write_geojson(result, t))
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
        "run": result.run,
        "engine": result.engine,
        "seconds": round(result.seconds, 3),
        "patches_per_s": round(result.patches_per_s, 1),
        "georeferenced": result.crs is not None,
        "crs": str(result.crs) if result.crs is not None else None,
    }


def _write_geotiff(result: SceneResult, path: Path, table: np.ndarray) -> Path:
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
    with rasterio.open(path, "w", **profile) as dst:
        from rasterio.windows import Window

        rows = max(g.cell, 512 // g.cell * g.cell)
        for y in range(0, g.height, rows):
            block = pixel_class_map(result, y, min(g.height, y + rows))
            dst.write(block[None], window=Window(0, y, g.width, block.shape[0]))
        codes = [*range(len(result.labels)), UNCERTAIN_VALUE]
        dst.write_colormap(1, {i: tuple(int(v) for v in table[i]) for i in codes})
        dst.update_tags(
            1,
            **{f"class_{i}": lab for i, lab in enumerate(result.labels)},
            **{f"class_{UNCERTAIN_VALUE}": UNCERTAIN, "uncertain_below": str(result.uncertain_below)},
        )
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
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(conf, 1)
        dst.write(margin, 2)
        dst.set_band_description(1, "confidence")
        dst.set_band_description(2, "margin")
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
    path.write_text(json.dumps(fc))
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
