"""Sample files: the CSV for scripts and the labelling screen, a GeoPackage of points for QGIS, the
design beside them, and labels saved as they are given.

``SAMPLE.csv``
    Columns exactly ``id,scene,row,col,x,y,map_class,reference``: ``scene`` is the NAME of the
    scene's ``NAME.summary.json``, ``row``/``col`` the cell in that scene's grid of cells, ``x``/``y``
    the cell's centre (CRS coordinates for a georeferenced scene, else scene pixels from the
    top-left corner), ``reference`` empty until labelled, a class name, or ``can't tell``.
    Units are in a random order (the file order never shows the stratum).
``SAMPLE.gpkg``
    For georeferenced scenes: the same units as points in layer ``sample`` (one layer per scene,
    ``sample_NAME``, when the scenes are in different CRSs), with ``id``, ``scene``, ``row``,
    ``col`` and an empty ``reference`` to fill in QGIS. The map class is left out so that labelling
    there is blind; the estimate reads it from the map. Written with pyogrio (GDAL's OGR), as
    :mod:`landgui.core.scenes.writers` writes its GeoPackage.
``SAMPLE.design.json``
    The design (:class:`~landgui.core.assessment.design.Design`) that the report states and that
    tells a changed map from the one sampled.

Every write goes through :mod:`landgui.core.base.atomic` (a partial file renamed over the old one),
so a label saved as it is given survives a crash or a power cut, and labelling resumes at the first
unit without a reference.
"""

from __future__ import annotations

import csv
import io
import json
import struct
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from landgui.core.assessment.design import Design, SampleUnit
from landgui.core.assessment.mapfile import MapData
from landgui.core.base.atomic import atomic_path, write_error, write_json_atomic, write_text_atomic
from landgui.core.base.errors import LandguiError

COLUMNS = ("id", "scene", "row", "col", "x", "y", "map_class", "reference")
CANT_TELL = "can't tell"
CANT_TELL_SPELLINGS = {"can't tell", "cant tell", "can't_tell", "cant_tell", "cannot tell", "?"}
GPKG_LAYER = "sample"


def design_path(sample_path: str | Path) -> Path:
    """The design file beside a sample file: ``SAMPLE.design.json``."""
    p = Path(sample_path)
    return p.with_name(f"{p.stem}.design.json")


def gpkg_path(sample_path: str | Path) -> Path:
    """The GeoPackage beside a sample CSV: ``SAMPLE.gpkg``."""
    p = Path(sample_path)
    return p.with_name(f"{p.stem}.gpkg")


def normalise_reference(text: str, labels: Sequence[str]) -> str:
    """A reference label as stored: ``""`` (not labelled), one of ``labels`` (case and spaces
    forgiven) or :data:`CANT_TELL`; a one-line error for anything else."""
    t = (text or "").strip()
    if not t:
        return ""
    if t.lower().replace("’", "'") in CANT_TELL_SPELLINGS:
        return CANT_TELL
    for lab in labels:
        if t == lab or t.lower() == lab.lower():
            return lab
    raise LandguiError(f"reference {t!r} is not a class of the map ({', '.join(labels)}) nor {CANT_TELL!r}")


def _num(v: float) -> str:
    """A coordinate as written: short, and exact for whole numbers."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def units_csv(units: Sequence[SampleUnit]) -> str:
    """The sample as CSV text with the columns of :data:`COLUMNS`."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for u in units:
        w.writerow([u.id, u.scene, u.row, u.col, _num(u.x), _num(u.y), u.map_class, u.reference])
    return buf.getvalue()


def write_sample_csv(path: str | Path, units: Sequence[SampleUnit]) -> Path:
    """Write (or replace, atomically) the sample CSV."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(p.parent, exc) from exc
    write_text_atomic(p, units_csv(units))
    return p


def write_design(sample_path: str | Path, design: Design, mapdata: MapData) -> Path:
    """Write ``SAMPLE.design.json``: the design and the map it was drawn from."""
    p = design_path(sample_path)
    d = design.to_dict()
    d["map"] = str(mapdata.path)
    d["scenes"] = [s.name for s in mapdata.scenes]
    write_json_atomic(p, d)
    return p


def read_design(sample_path: str | Path) -> Design | None:
    """The design beside a sample file, or None when there is none (a sample made elsewhere)."""
    p = design_path(sample_path)
    if not p.is_file():
        return None
    try:
        return Design.from_dict(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LandguiError(f"cannot read {p.name}: {exc}") from None


def read_sample(path: str | Path) -> list[SampleUnit]:
    """The units of a sample file (CSV, or the GeoPackage of :func:`write_sample_gpkg`)."""
    p = Path(path)
    if not p.is_file():
        raise LandguiError(f"sample file not found: {p}")
    if p.suffix.lower() == ".gpkg":
        return _read_gpkg(p)
    try:
        text = p.read_text(encoding="utf-8-sig")  # a spreadsheet may add a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise LandguiError(f"cannot read {p.name}: {exc}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise LandguiError(f"{p.name} is empty")
    head = [h.strip() for h in rows[0]]
    missing = [c for c in COLUMNS if c not in head]
    if missing:
        raise LandguiError(
            f"{p.name} is not a sample file: no column(s) {', '.join(missing)} (need {','.join(COLUMNS)})"
        )
    at = {c: head.index(c) for c in COLUMNS}
    units, seen = [], set()
    for line, r in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in r):
            continue
        try:
            cells = {c: r[at[c]].strip() if at[c] < len(r) else "" for c in COLUMNS}
            u = SampleUnit(
                int(cells["id"]),
                cells["scene"],
                int(cells["row"]),
                int(cells["col"]),
                float(cells["x"]),
                float(cells["y"]),
                cells["map_class"],
                cells["reference"],
            )
        except ValueError:
            raise LandguiError(f"{p.name} line {line}: id, row, col, x and y must be numbers") from None
        if u.id in seen:
            raise LandguiError(f"{p.name} line {line}: id {u.id} appears twice")
        seen.add(u.id)
        units.append(u)
    if not units:
        raise LandguiError(f"{p.name} has no sample units")
    return units


def point_wkb(x: float, y: float) -> bytes:
    """A point as OGC WKB (little-endian), what GDAL/OGR writers take as geometry."""
    return struct.pack("<BIdd", 1, 1, x, y)


def write_sample_gpkg(path: str | Path, units: Sequence[SampleUnit], mapdata: MapData) -> Path | None:
    """The units of georeferenced scenes as points in a GeoPackage (see the module doc); None when
    no scene is georeferenced."""
    try:
        from pyogrio.raw import write
    except ImportError as exc:
        raise LandguiError(f"the GeoPackage of sample points needs pyogrio ({exc}); use the CSV") from exc

    geo = [s for s in mapdata.scenes if s.georeferenced]
    if not geo:
        return None
    groups: dict[str, list[str]] = {}
    for s in geo:
        groups.setdefault(s.crs.to_wkt(), []).append(s.name)
    layers = (
        [(GPKG_LAYER, [s.name for s in geo], geo[0].crs.to_wkt())]
        if len(groups) == 1
        else [(f"{GPKG_LAYER}_{s.name}", [s.name], s.crs.to_wkt()) for s in geo]
    )
    p = Path(path)
    with atomic_path(p) as tmp:
        first = True
        for layer, names, wkt in layers:
            us = [u for u in units if u.scene in names]
            if not us:
                continue
            write(
                str(tmp),
                np.array([point_wkb(u.x, u.y) for u in us], dtype=object),
                [
                    np.array([u.id for u in us], dtype=np.int64),
                    np.array([u.scene for u in us], dtype=object),
                    np.array([u.row for u in us], dtype=np.int64),
                    np.array([u.col for u in us], dtype=np.int64),
                    np.array([u.reference for u in us], dtype=object),
                ],
                ["id", "scene", "row", "col", "reference"],
                layer=layer,
                driver="GPKG",
                geometry_type="Point",
                crs=wkt,
                append=not first,
                dataset_options={"VERSION": "1.2"} if first else None,
            )
            first = False
    return p


def _read_gpkg(path: Path) -> list[SampleUnit]:
    """Units from the GeoPackage of :func:`write_sample_gpkg` (every ``sample*`` layer); the map
    class is left empty (the estimate reads it from the map)."""
    try:
        from pyogrio import list_layers
        from pyogrio.raw import read
    except ImportError as exc:
        raise LandguiError(f"reading a GeoPackage sample needs pyogrio ({exc}); use the CSV") from exc
    try:
        layers = [str(row[0]) for row in list_layers(str(path)) if str(row[0]).startswith(GPKG_LAYER)]
    except Exception as exc:  # noqa: BLE001 - GDAL's errors come in several kinds
        raise LandguiError(f"cannot read {path.name}: {str(exc)[:200]}") from None
    if not layers:
        raise LandguiError(f"{path.name} has no layer named {GPKG_LAYER}*: not a landgui sample")
    units: list[SampleUnit] = []
    for layer in layers:
        meta, _, geometry, fields = read(str(path), layer=layer)
        names = list(meta["fields"])
        missing = [c for c in ("id", "scene", "row", "col", "reference") if c not in names]
        if missing:
            raise LandguiError(f"{path.name} layer {layer}: no field(s) {', '.join(missing)}")
        col = {n: fields[names.index(n)] for n in names}
        for k in range(len(col["id"])):
            _, _, x, y = struct.unpack("<BIdd", bytes(geometry[k])[:21])
            ref = col["reference"][k]
            units.append(
                SampleUnit(
                    int(col["id"][k]),
                    str(col["scene"][k]),
                    int(col["row"][k]),
                    int(col["col"][k]),
                    float(x),
                    float(y),
                    "",
                    "" if ref is None else str(ref),
                )
            )
    units.sort(key=lambda u: u.id)
    return units


def set_reference(path: str | Path, unit_id: int, reference: str, labels: Sequence[str]) -> list[SampleUnit]:
    """Save one label in the sample CSV now (the whole file is rewritten atomically); returns the
    units. ``reference`` ``""`` clears the label."""
    units = read_sample(path)
    ref = normalise_reference(reference, labels)
    for i, u in enumerate(units):
        if u.id == unit_id:
            units[i] = replace(u, reference=ref)
            break
    else:
        raise LandguiError(f"{Path(path).name} has no sample unit {unit_id}")
    write_sample_csv(path, units)
    return units


def next_unlabelled(units: Sequence[SampleUnit]) -> int | None:
    """Index of the first unit (in file order) without a reference: where labelling resumes."""
    for i, u in enumerate(units):
        if not u.reference.strip():
            return i
    return None


def progress(units: Sequence[SampleUnit]) -> tuple[int, int]:
    """(units labelled, including "can't tell"; all units): the "73 / 300" of the labelling screen."""
    return sum(1 for u in units if u.reference.strip()), len(units)
