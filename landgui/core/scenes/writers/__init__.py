"""Writing a classified scene: one registry of output formats, and :func:`export`, which runs them.

Each format is a :class:`Writer` in :data:`WRITERS`: its name (what ``landgui segment --formats``
takes and the app's Export menu offers), its title and menu entry, whether it needs a
georeferenced scene, and the files it writes (a kind, a suffix and a write function each). The
CLI's choices, the app's menu and the note for a scene without a CRS all read this registry, so a
new format is one :func:`register` call (see docs/architecture.md).

The geo outputs open ready in a GIS: the class map is a Cloud-Optimized GeoTIFF with a colour
table, GDAL category names and a raster attribute table (``.tif.aux.xml``) and a QGIS style
(``.qml``, loaded by QGIS with the raster); the polygons are written as GeoJSON and GeoPackage.
Every file is written whole or not at all (:func:`~landgui.core.base.atomic.atomic_path`), and the
scene's summary JSON last, as the mark that its outputs are complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from landgui.core.base.atomic import atomic_path, ensure_writable_dir, write_error, write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.base.types import ProgressFn
from landgui.core.scenes.io import Scene
from landgui.core.scenes.result import SceneResult, code_colours
from landgui.core.scenes.writers import geotiff, png, table, vector
from landgui.core.scenes.writers.png import OVERLAY_MAX_SIDE


@dataclass
class ExportJob:
    """What every file writer gets: the result, its scene, and how the overlay is drawn. Things
    two writers need (the colour table, the polygons) are computed once, on first use."""

    result: SceneResult
    scene: Scene
    palette: dict[str, str]
    opacity: float = 0.45
    hidden: tuple[int, ...] | set[int] = ()
    overlay_max_side: int = OVERLAY_MAX_SIDE

    @cached_property
    def table(self) -> np.ndarray:
        """The (256, 4) RGBA colour of every class code (:func:`~landgui.core.scenes.result.code_colours`)."""
        return code_colours(self.result.labels, self.palette)

    @cached_property
    def polygons(self) -> list[vector.ClassPolygon]:
        """The class map's polygons, made once for both the GeoJSON and the GeoPackage."""
        return vector.class_polygons(self.result)


@dataclass(frozen=True)
class OutputFile:
    """One file of a format: ``{kind: path}`` key, ``NAME.<suffix>``, and ``write(job, tmp_path)``."""

    kind: str
    suffix: str
    write: Callable[[ExportJob, Path], object]


@dataclass(frozen=True)
class Writer:
    """An output format: ``name`` (``--formats``), ``title`` (in messages), ``menu`` (the app's
    Export menu), ``needs_crs`` (written for georeferenced scenes only) and its files."""

    name: str
    title: str
    menu: str
    needs_crs: bool
    files: tuple[OutputFile, ...] = field(default_factory=tuple)

    @property
    def suffixes(self) -> tuple[str, ...]:
        """The file name endings this format writes (``classes.tif``, ``classes.qml``, ...)."""
        return tuple(f.suffix for f in self.files)


WRITERS: dict[str, Writer] = {}
"""name -> :class:`Writer`, in the order :func:`export` writes them."""


def register(writer: Writer) -> Writer:
    """Add ``writer`` to :data:`WRITERS` (a name already there is replaced); returns it."""
    WRITERS[writer.name] = writer
    return writer


register(
    Writer(
        "png",
        "PNG",
        "PNG class map + overlay",
        False,
        (
            OutputFile("classes_png", "classes.png", lambda j, t: png.write_class_png(j.result, t, j.table)),
            OutputFile(
                "overlay_png",
                "overlay.png",
                lambda j, t: png.write_overlay_png(
                    j.result, j.scene, j.palette, t, j.opacity, j.hidden, j.overlay_max_side
                ),
            ),
            OutputFile(
                "overview_png",
                "overview.png",
                lambda j, t: png.overlay_figure(
                    j.result, j.scene.overview(2048), j.palette, j.opacity, j.hidden
                ).savefig(t, dpi=100, format="png"),
            ),
        ),
    )
)
register(
    Writer(
        "csv",
        "CSV",
        "Per-patch CSV",
        False,
        (OutputFile("patches_csv", "patches.csv", lambda j, t: table.write_patches_csv(j.result, t)),),
    )
)
register(
    Writer(
        "geotiff",
        "GeoTIFF",
        "GeoTIFF class map",
        True,
        (
            OutputFile("geotiff", "classes.tif", lambda j, t: geotiff.write_geotiff(j.result, t, j.table)),
            OutputFile(
                "geotiff_aux",
                "classes.tif.aux.xml",
                lambda j, t: t.write_text(geotiff.pam_xml(j.result.labels, j.table), "utf-8"),
            ),
            OutputFile(
                "qgis_style",
                "classes.qml",
                lambda j, t: t.write_text(geotiff.qgis_style(j.result.labels, j.table), "utf-8"),
            ),
            OutputFile(
                "confidence_geotiff", "confidence.tif", lambda j, t: geotiff.write_confidence_geotiff(j.result, t)
            ),
        ),
    )
)
register(
    Writer(
        "geojson",
        "GeoJSON",
        "GeoJSON polygons",
        True,
        (OutputFile("geojson", "classes.geojson", lambda j, t: vector.write_geojson(j.result, j.polygons, t)),),
    )
)
register(
    Writer(
        "gpkg",
        "GeoPackage",
        "GeoPackage polygons",
        True,
        (OutputFile("gpkg", "classes.gpkg", lambda j, t: vector.write_gpkg(j.result, j.polygons, t)),),
    )
)

FORMATS = tuple(WRITERS)  # the built-in formats, in the order they are written


def all_formats() -> tuple[str, ...]:
    """The name of every registered format, in the order :func:`export` writes them (the CLI's
    ``--formats`` choices and default, the app's Export menu)."""
    return tuple(WRITERS)


NO_CRS = "the scene has no georeference (CRS)"


def _unknown(formats: tuple[str, ...] | list[str]) -> list[str]:
    return sorted(set(formats) - set(WRITERS))


def parse_formats(text: str) -> tuple[str, ...]:
    """``"png, csv"`` -> ``("png", "csv")``; a one-line error for an unknown name or none at all."""
    formats = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = _unknown(formats)
    if unknown or not formats:
        raise LandguiError(f"unknown or no format(s) {unknown or repr(text)}; choose from {', '.join(WRITERS)}")
    return formats


def skipped_without_crs(formats: tuple[str, ...] | list[str], crs: object) -> str | None:
    """Why some of ``formats`` are not written for a scene whose CRS is ``crs`` (``"GeoTIFF,
    GeoJSON skipped: the scene has no georeference (CRS)"``), or None when nothing is skipped."""
    if crs is not None:
        return None
    titles = [w.title for w in WRITERS.values() if w.needs_crs and w.name in formats]
    return f"{', '.join(titles)} skipped: {NO_CRS}" if titles else None


def export(
    result: SceneResult,
    scene: Scene,
    out_dir: str | Path,
    name: str,
    palette: dict[str, str],
    formats: tuple[str, ...] | None = None,
    *,
    opacity: float = 0.45,
    hidden: tuple[int, ...] | set[int] = (),
    overlay_max_side: int = OVERLAY_MAX_SIDE,
    progress: ProgressFn | None = None,
) -> dict[str, str]:
    """Write the files of ``formats`` (names of :data:`WRITERS`; None: all) as ``out_dir/NAME.<suffix>``;
    returns ``{kind: path}``, ``summary`` last. Formats that need a CRS are left out for a scene
    without one (:func:`skipped_without_crs` says so in words); an unknown name is an error.

    ``NAME.overlay.png`` is the scene at full resolution (longest side at most
    ``overlay_max_side``) with the class colours blended in at ``opacity``; classes in ``hidden``
    (indices; ``len(labels)`` = uncertain) are left unpainted, as on screen. ``NAME.overview.png``
    is a small figure of the same with a legend of the area shares.

    Georeferenced scenes only: ``geotiff`` writes ``NAME.classes.tif`` (a Cloud-Optimized
    GeoTIFF of the class codes with colour table and overviews), ``NAME.classes.tif.aux.xml``
    (category names and a raster attribute table for GDAL/QGIS/ArcGIS), ``NAME.classes.qml`` (a
    QGIS paletted style with the class names) and ``NAME.confidence.tif``; ``geojson`` and
    ``gpkg`` write the same polygons (one per 4-connected region of one class, with its mean
    confidence) as ``NAME.classes.geojson`` and ``NAME.classes.gpkg``.

    ``progress("exporting", files written, files to write)``."""
    formats = all_formats() if formats is None else formats
    unknown = _unknown(formats)
    if unknown:
        raise LandguiError(f"unknown format(s) {unknown}; choose from {', '.join(WRITERS)}")
    out = ensure_writable_dir(out_dir)
    summary_path = out / f"{name}.summary.json"
    try:
        summary_path.unlink(missing_ok=True)  # the scene counts as done again only when all is written
    except OSError as exc:
        raise write_error(summary_path, exc) from None
    job = ExportJob(result, scene, palette, opacity, hidden, overlay_max_side)
    files = [
        f
        for w in WRITERS.values()
        if w.name in formats and (result.crs is not None or not w.needs_crs)
        for f in w.files
    ]
    written: dict[str, str] = {}
    for i, f in enumerate(files):
        if progress:
            progress("exporting", i, len(files) + 1)
        p = out / f"{name}.{f.suffix}"
        with atomic_path(p) as tmp:
            f.write(job, tmp)
        written[f.kind] = str(p)
    summary = table.summary_dict(result)
    summary["files"] = written
    write_json_atomic(summary_path, summary)  # last: the marker that the scene's outputs are complete
    written["summary"] = str(summary_path)
    if progress:
        progress("exporting", len(files) + 1, len(files) + 1)
    return written


def output_name(scene_path: str | Path, out_dir: str | Path, taken: set[str] | None = None) -> str:
    """The file name stem for a scene's outputs in ``out_dir``: the scene's stem, or
    ``stem_ext`` when that stem is already used by another scene (``a.jpg`` and ``a.png`` in one
    batch, or an earlier run's summary in the folder for a different scene), so that two scenes
    never overwrite each other's maps. Re-mapping the same scene reuses its name."""
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
        # a summary written before scene paths were stored absolute holds the path as typed: it
        # cannot say which scene it was from another folder, so that name is not reused
        if other is None or (Path(other).is_absolute() and Path(other).resolve() == sp.resolve()):
            taken.add(name)
            return name
    raise LandguiError(f"{out_dir} already holds the maps of other scenes named {sp.stem}; choose another --out")
