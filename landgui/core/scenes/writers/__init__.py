"""Writing a classified scene: one registry of output formats, and :func:`export`, which runs them.

Each format is a :class:`Writer` in :data:`WRITERS`: its name (what ``landgui segment --formats``
takes and the app's Export menu offers), its title and menu entry, whether it needs a
georeferenced scene, and the files it writes (a kind, a suffix and a write function each). The
CLI's choices, the app's menu and the note for a scene without a CRS all read this registry, so a
new format is one :func:`register` call (see docs/architecture.md).

The geo outputs open ready in a GIS: the class map is a Cloud-Optimized GeoTIFF with a colour
table, GDAL category names and a raster attribute table (``.tif.aux.xml``) and a QGIS style
(``.qml``, loaded by QGIS with the raster); the polygons are written as GeoJSON and GeoPackage.
Every file is written whole into a hidden staging folder and the set is moved in together
(:mod:`landgui.core.base.outdir`), the scene's summary JSON last, as the mark that its outputs are
complete; a file landgui did not write is never replaced without ``overwrite``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from landgui.core.base.atomic import atomic_path, ensure_writable_dir, remove_stale_partials, write_error
from landgui.core.base.errors import LandguiError
from landgui.core.base.outdir import (
    Staging,
    check_replaceable,
    clear_stale_staging,
    earlier_files,
    file_record,
    folder_lock,
    recorded_files,
)
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

SUMMARY_SUFFIX = "summary.json"  # NAME.summary.json: the scene's summary, the mark of a complete set
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
    overwrite: bool = False,
    lock: bool = True,
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

    The files are written into a hidden staging folder and moved in together, ``NAME.summary.json``
    (which lists each file with its SHA-256) last (:class:`~landgui.core.base.outdir.Staging`): a
    failed or killed export leaves the previous complete set. A file at one of these names that
    landgui did not write (no earlier summary lists it with these bytes), or the maps of another
    scene, are not replaced unless ``overwrite``. ``lock``: hold ``out_dir``'s lock while writing
    (:func:`~landgui.core.base.outdir.folder_lock`; False: the caller holds it, or a cluster worker
    writes its own scene). ``progress("exporting", files written, files to write)``."""
    formats = all_formats() if formats is None else formats
    unknown = _unknown(formats)
    if unknown:
        raise LandguiError(f"unknown format(s) {unknown}; choose from {', '.join(WRITERS)}")
    out = ensure_writable_dir(out_dir)
    with folder_lock(out) if lock else contextlib.nullcontext(out):
        job = ExportJob(result, scene, palette, opacity, hidden, overlay_max_side)
        return _write_staged(job, formats, out, name, overwrite, progress)


def _planned(formats: tuple[str, ...] | list[str], crs: object) -> list[OutputFile]:
    """The files ``formats`` write for a scene whose CRS is ``crs`` (geo formats need one)."""
    return [f for w in WRITERS.values() if w.name in formats and (crs is not None or not w.needs_crs) for f in w.files]


def check_export(
    out_dir: str | Path,
    name: str,
    formats: tuple[str, ...] | list[str] | None,
    crs: object,
    scene_path: str | Path,
    overwrite: bool = False,
) -> dict[str, str | None]:
    """What :func:`export` of the scene ``scene_path`` (CRS ``crs``) as ``NAME`` into ``out_dir``
    would refuse, checked without writing (before a long mapping, too): files at its names that
    landgui did not write, the maps of another scene. Returns the files the folder's summary of
    ``NAME`` says landgui wrote (``{file name: sha256}``)."""
    out = Path(out_dir)
    summary_path = out / f"{name}.{SUMMARY_SUFFIX}"
    clear_stale_staging(out)  # first: a killed export's committed set is moved in, with its summary
    previous = _landgui_summary(summary_path)
    _check_same_scene(previous, scene_path, summary_path, overwrite)
    names = [f"{name}.{f.suffix}" for f in _planned(all_formats() if formats is None else formats, crs)]
    recorded = _recorded(previous)
    check_replaceable(out, [*names, *([] if previous else [summary_path.name])], recorded, summary_path, overwrite)
    return recorded


def _write_staged(
    job: ExportJob, formats: tuple[str, ...], out: Path, name: str, overwrite: bool, progress: ProgressFn | None
) -> dict[str, str]:
    """The body of :func:`export`: check what would be replaced, write aside, publish."""
    recorded = check_export(out, name, formats, job.result.crs, job.result.scene, overwrite)
    summary_path = out / f"{name}.{SUMMARY_SUFFIX}"
    files = _planned(formats, job.result.crs)
    names = [f"{name}.{f.suffix}" for f in files]
    for n in names:
        remove_stale_partials(out / n)  # written beside the maps by landgui before it staged them
    written: dict[str, str] = {}
    with Staging(out, name) as st:
        for i, f in enumerate(files):
            if progress:
                progress("exporting", i, len(files) + 1)
            final = out / names[i]
            with atomic_path(st.path(names[i])) as tmp:
                try:
                    f.write(job, tmp)
                except OSError as exc:
                    raise write_error(final, exc) from None
            written[f.kind] = str(final)
        summary = table.summary_dict(job.result)
        summary["files"] = written
        summary["file_sha256"] = file_record([st.path(n) for n in names])
        earlier = earlier_files(out, recorded, summary["file_sha256"], summary_path)
        if earlier:  # files of an earlier export in other formats: still landgui's
            summary["earlier_files"] = earlier
        st.publish(names, (summary_path.name, summary))  # the summary last: the mark of a complete set
    written["summary"] = str(summary_path)
    if progress:
        progress("exporting", len(files) + 1, len(files) + 1)
    return written


def _landgui_summary(path: Path) -> dict | None:
    """The scene summary at ``path`` if landgui wrote it (a JSON object naming its scene and
    files), else None (absent, or a file of the user's)."""
    try:
        s = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) and "scene" in s and isinstance(s.get("files"), dict) else None


def _recorded(summary: dict | None) -> dict[str, str | None]:
    """``{file name: sha256}`` of the files a scene summary says landgui wrote (None: a summary
    from before hashes were kept lists them by path alone)."""
    if not summary:
        return {}
    return {Path(str(p)).name: None for p in summary["files"].values()} | recorded_files(summary)


def _check_same_scene(previous: dict | None, scene_path: str | Path, summary_path: Path, overwrite: bool) -> None:
    other = (previous or {}).get("scene")
    if overwrite or not isinstance(other, str) or not Path(other).is_absolute():
        return
    if Path(other).resolve() != Path(scene_path).resolve():
        raise LandguiError(
            f"{summary_path} holds the maps of another scene ({other}), written meanwhile; landgui does "
            "not replace them: map again (the scene gets another name), or replace them with --overwrite"
        )


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
        summary = Path(out_dir) / f"{name}.{SUMMARY_SUFFIX}"
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
