"""From a scene's stored values to the 8-bit RGB the model was trained on.

The models learn from 8-bit RGB pictures, so every scene is turned into 8 bit before its patches
are cut. How depends on what the file holds (``radiometry``; ``auto`` decides from the file):

``8bit``
    8-bit data as given (``auto`` for every 8-bit file: photos, orthophotos, PlanetScope visual).
``reflectance``
    A fixed mapping of surface reflectance, the same for every scene, so that one field has the
    same colours in two scenes (:func:`reflectance_to_8bit`). The reflectance is read with the
    file's own scale and offset where it states them (GDAL band scale/offset, e.g. a Landsat
    Collection 2 Level-2 file with its 0.0000275 / -0.2, or a Sentinel-2 ``BOA_ADD_OFFSET`` /
    ``BOA_QUANTIFICATION_VALUE`` tag, or a ``.SAFE`` product's MTD_MSIL2A.xml), else as
    reflectance x 10,000 with no offset, the Sentinel-2 convention before processing baseline
    04.00 (float data: as reflectance 0..1). ``auto`` picks it when the file states a scale or
    offset.
``landsat``
    Reflectance with Landsat Collection 2 Level-2's published scale and offset
    (:data:`LANDSAT_C2_SCALE`, :data:`LANDSAT_C2_OFFSET`) for a file that no longer says so.
``stretch``
    The 2nd to 98th percentile of the scene to 0..255, computed once on an overview of the
    whole scene: good for looking, but one field gets other colours in two scenes and a cloudy
    scene shifts every colour. ``auto`` keeps it, as before, for 16-bit and float files that
    state no scale, and says so in a note.

Why 0.275 reflectance is white: the EuroSAT RGB pictures (kaggle4's green_area and water) were
made from Sentinel-2 Level-1C bands B04, B03, B02 with ``gdal_translate -ot Byte -scale 0 2750
1 255 -a_nodata 0`` (their authors' answer, jensleitloff/CNN-Sentinel#1): reflectance 0 to
0.275 spread over 1 to 255, brighter clipped, 0 left for no data. The same mapping here gives a
scene the colours the model saw in training (EuroSAT is top-of-atmosphere Level-1C: a Level-2A
scene of the same field comes out a little darker and less hazy, but with the same scale).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.data.imageio import apply_stretch, stretch_limits
from landgui.core.params import RADIOMETRIES

REFLECTANCE_WHITE = 0.275  # reflectance written as 255 (EuroSAT: DN 0..2750 -> 1..255)
S2_QUANTIFICATION = 10_000.0  # Sentinel-2 stores reflectance x 10,000 ...
S2_BOA_ADD_OFFSET = -1000.0  # ... plus 1,000 since processing baseline 04.00 (25 January 2022)
LANDSAT_C2_SCALE, LANDSAT_C2_OFFSET = 0.0000275, -0.2  # Landsat Collection 2 Level-2 surface reflectance
# GDAL metadata items that carry Sentinel-2's offset and quantification (its SENTINEL2 driver's names)
S2_OFFSET_TAGS = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")
S2_QUANTIFICATION_TAGS = ("BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE")


def reflectance_to_8bit(reflectance: np.ndarray) -> np.ndarray:
    """The fixed reflectance mapping: ``1 + 254 * reflectance / 0.275``, rounded half up, clipped
    to 1..255 (0 is left for no data), as ``gdal_translate -scale 0 2750 1 255`` made EuroSAT."""
    v = np.floor(1.0 + reflectance.astype(np.float32) * np.float32(254.0 / REFLECTANCE_WHITE) + 0.5)
    return np.clip(np.nan_to_num(v, nan=1.0), 1, 255).astype(np.uint8)


@dataclass(frozen=True)
class Radiometry:
    """How one scene's chosen bands become 8 bit: ``kind`` (``8bit``, ``reflectance`` or
    ``stretch``), per band ``scale`` and ``offset`` (reflectance = value x scale + offset),
    the stretch's ``limits`` (set once per scene) and ``why``, said in the scene's notes."""

    kind: str
    scale: tuple[float, ...] = ()
    offset: tuple[float, ...] = ()
    limits: tuple[float, float] | None = None
    why: str = ""

    def to_8bit(self, raw: np.ndarray, nodata: np.ndarray | None = None) -> np.ndarray:
        """(bands, h, w) values of the chosen bands -> (h, w, 3) uint8 RGB; ``nodata``: an
        (h, w) mask of pixels written 0 in a reflectance mapping (as EuroSAT did)."""
        a = np.moveaxis(raw, 0, -1)
        if self.kind == "stretch":
            lo, hi = self.limits or (0.0, 1.0)
            return apply_stretch(a, lo, hi)
        if self.kind == "8bit":
            return np.ascontiguousarray(np.clip(a, 0, 255).astype(np.uint8, copy=False))
        scale = np.asarray(self.scale, np.float32)
        offset = np.asarray(self.offset, np.float32)
        rgb = reflectance_to_8bit(a.astype(np.float32) * scale + offset)
        if nodata is not None:
            rgb[nodata.astype(bool)] = 0
        return rgb

    def with_limits(self, overview: np.ndarray, nodata: float | None) -> Radiometry:
        """A stretch with its limits taken from ``overview`` (the raw values of a decimated read
        of the whole scene, the no-data value left out); any other kind unchanged."""
        if self.kind != "stretch":
            return self
        values = overview.astype(np.float32)
        if nodata is not None and not math.isnan(nodata):
            values = values[values != nodata]
        return Radiometry("stretch", limits=stretch_limits(values), why=self.why)


def stated_scaling(
    scales: Sequence[float], offsets: Sequence[float], tags: Sequence[dict[str, str]], dataset_tags: dict[str, str]
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """The reflectance scale and offset per band that the file states, or None.

    GDAL band scale/offset win (what ``gdalinfo`` shows as ``Offset: -0.2, Scale: 2.75e-05``);
    else Sentinel-2's tags, per band or for the dataset: reflectance = (value + ``BOA_ADD_OFFSET``)
    / ``BOA_QUANTIFICATION_VALUE`` (10,000 when only the offset is given)."""
    if any(s != 1.0 for s in scales) or any(o != 0.0 for o in offsets):
        return tuple(float(s) for s in scales), tuple(float(o) for o in offsets)
    found = False
    sc: list[float] = []
    of: list[float] = []
    for band in tags:
        merged = {**dataset_tags, **band}
        add = _number(merged, S2_OFFSET_TAGS)
        quant = _number(merged, S2_QUANTIFICATION_TAGS)
        found = found or add is not None or quant is not None
        q = quant or S2_QUANTIFICATION
        sc.append(1.0 / q)
        of.append((add or 0.0) / q)
    return (tuple(sc), tuple(of)) if found else None


def _number(tags: dict[str, str], names: tuple[str, ...]) -> float | None:
    for name in names:
        if name in tags:
            try:
                value = float(tags[name])
            except ValueError:
                continue
            if math.isfinite(value):
                return value
    return None


def choose_radiometry(
    requested: str, dtype: str, n_bands: int, stated: tuple[tuple[float, ...], tuple[float, ...]] | None, name: str
) -> Radiometry:
    """The mapping for a scene whose chosen ``n_bands`` bands are of ``dtype``, given what the file
    states (:func:`stated_scaling`) and what the user asked (one of :data:`RADIOMETRIES`)."""
    if requested not in RADIOMETRIES:
        raise LandguiError(f"--radiometry must be one of {', '.join(RADIOMETRIES)}, got {requested!r}")
    eight = np.dtype(dtype) == np.uint8
    if requested == "auto":
        if eight:
            return Radiometry("8bit", why="8-bit data as given")
        if stated is not None:
            requested = "reflectance"
        else:
            return Radiometry(
                "stretch",
                why=f"{name}: {dtype} data that states no reflectance scale: stretched per scene (2-98 %); "
                "if it is reflectance x 10,000 give --radiometry reflectance (or landsat), so that every scene "
                "gets the same colours",
            )
    if requested in ("stretch", "8bit"):
        return Radiometry(requested, why=f"--radiometry {requested}")
    if requested == "landsat":
        scale, offset = (LANDSAT_C2_SCALE,) * n_bands, (LANDSAT_C2_OFFSET,) * n_bands
        return Radiometry("reflectance", scale, offset, why="Landsat C2 L2 reflectance (0.0000275, -0.2)")
    if stated is not None:
        return Radiometry("reflectance", *stated, why="reflectance with the file's scale and offset")
    if eight:
        raise LandguiError(
            f"{name} is 8-bit: it holds no reflectance (8-bit scenes are read as given; "
            "--radiometry reflectance is for 16-bit and float products)"
        )
    if np.dtype(dtype).kind == "f":
        return Radiometry("reflectance", (1.0,) * n_bands, (0.0,) * n_bands, why="float data read as reflectance")
    return Radiometry(
        "reflectance",
        (1.0 / S2_QUANTIFICATION,) * n_bands,
        (0.0,) * n_bands,
        why="reflectance x 10,000 (no scale or offset stated in the file)",
    )
