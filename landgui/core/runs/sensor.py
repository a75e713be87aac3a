"""The model's sensor contract: what a run's training images were, so that a scene can be read to
match them (issue 25).

A model learns patches of a given ground size, bands and colours. :class:`SensorContract` records
them in the run's config.json (key ``sensor``), written at training from the split
(``landgui split --gsd SOURCE=METRES``): the ground sample distance of every training source
where it is known, the model's ground sample distance taken from them, the training patch in px
at that distance (so the patch footprint in metres), the bands and the radiometric mapping to
8 bit. The reading side (:mod:`landgui.core.scenes`) resamples a georeferenced scene to
:attr:`SensorContract.gsd_m`; the Scene tab shows the contract beside the scene's own figures.

A run written before contracts existed reads as :meth:`SensorContract.unknown`: its images were
8-bit RGB (landgui never trained on anything else), but their ground resolution is not known.
No TensorFlow, no landgui import above :mod:`landgui.core.base`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SENSOR_KEY = "sensor"  # config.json's key for the contract
RGB_BANDS = ("red", "green", "blue")
RADIOMETRY_8BIT = "8bit"  # 8-bit RGB images used as given (JPEG/PNG patches): no mapping
CONTRACT_VERSION = 1


def _gsd(value: object) -> float | None:
    """A recorded ground sample distance: a positive finite number of metres, else None (unknown)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) and v > 0 else None


def model_gsd(sources: Mapping[str, float | None]) -> float | None:
    """The model's ground sample distance from its sources': the median of the known ones (one
    value when they agree), None when none is known. Sources of unknown resolution are left out:
    the contract says what is known, and :attr:`SensorContract.sources` says what is not."""
    known = [g for g in (_gsd(v) for v in sources.values()) if g is not None]
    return float(statistics.median(known)) if known else None


@dataclass(frozen=True)
class SensorContract:
    """What a run's model was trained on, as a scene must be read to match it.

    ``gsd_m``: the model's ground sample distance in metres (None when unknown), see
    :func:`model_gsd`; ``bands``: the image bands in the model's input order; ``radiometry``: the
    mapping to 8 bit the training images had (:data:`RADIOMETRY_8BIT`: 8-bit RGB as given);
    ``patch_px``: the side of a training patch in px at ``gsd_m`` (the scene patch that covers the
    same ground), or the model's input size when the training images' size is not recorded;
    ``sources``: ground sample distance per training source (``SOURCE`` or ``SOURCE/CLASS``), None
    where unknown; ``note``: what a reader should know that the figures do not say.
    """

    gsd_m: float | None = None
    bands: tuple[str, ...] = RGB_BANDS
    radiometry: str = RADIOMETRY_8BIT
    patch_px: int = 0
    sources: dict[str, float | None] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def unknown(cls, patch_px: int = 0) -> SensorContract:
        """The contract of a run that recorded none: 8-bit RGB, ground resolution unknown."""
        return cls(patch_px=patch_px)

    @property
    def known(self) -> bool:
        """True when the model's ground sample distance is known (a scene can be resampled to it)."""
        return self.gsd_m is not None

    @property
    def footprint_m(self) -> float | None:
        """The ground a training patch covers, in metres (``patch_px * gsd_m``), or None."""
        return self.patch_px * self.gsd_m if self.gsd_m is not None and self.patch_px > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """The contract as config.json's ``sensor`` record (JSON-ready)."""
        return {
            "version": CONTRACT_VERSION,
            "gsd_m": self.gsd_m,
            "bands": list(self.bands),
            "radiometry": self.radiometry,
            "patch_px": self.patch_px,
            "sources": dict(self.sources),
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: object, patch_px: int = 0) -> SensorContract:
        """The contract from :meth:`to_dict`'s record; a missing or damaged record (or field) reads
        as unknown, so an old or hand-edited run still opens. ``patch_px``: the default patch."""
        if not isinstance(data, Mapping):
            return cls.unknown(patch_px)
        bands = data.get("bands")
        ok_bands = isinstance(bands, list | tuple) and bands and all(isinstance(b, str) for b in bands)
        sources = data.get("sources")
        px = data.get("patch_px")
        return cls(
            gsd_m=_gsd(data.get("gsd_m")),
            bands=tuple(bands) if ok_bands else RGB_BANDS,  # type: ignore[arg-type]
            radiometry=str(data.get("radiometry") or RADIOMETRY_8BIT),
            patch_px=px if isinstance(px, int) and not isinstance(px, bool) and px > 0 else patch_px,
            sources={str(k): _gsd(v) for k, v in sources.items()} if isinstance(sources, Mapping) else {},
            note=str(data.get("note") or ""),
        )

    def describe(self) -> str:
        """One line for people: ``10 m/px, 64 px patch = 640 m, RGB, 8bit``."""
        gsd = f"{self.gsd_m:g} m/px" if self.gsd_m is not None else "ground resolution unknown"
        foot = self.footprint_m
        patch = f"{self.patch_px} px patch" + (f" = {foot:g} m" if foot is not None else "")
        bands = "RGB" if self.bands == RGB_BANDS else f"bands {','.join(self.bands)}"
        return f"{gsd}, {patch}, {bands}, {self.radiometry}"


def contract_from_config(config: Mapping[str, Any] | None) -> SensorContract:
    """A run's contract from its config.json (:data:`SENSOR_KEY`), unknown for a run without one;
    the patch defaults to the model's input size."""
    config = config or {}
    model = config.get("model")
    size = model.get("image_size") if isinstance(model, Mapping) else None
    default_px = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0
    return SensorContract.from_dict(config.get(SENSOR_KEY), patch_px=default_px)


def contract_from_split(manifest: Mapping[str, Any], image_size: int) -> SensorContract:
    """The contract of a run trained on a split (``split.json``): its ``params.gsd`` (``landgui
    split --gsd``) per source, or per ``source/class``, and the training images' median side in px
    (``image_px``, per ``source/class``) of the parts whose resolution is known (all parts when none
    is). Every source (and ``source/class`` given its own value) is listed, None where unknown."""
    params = manifest.get("params")
    given = params.get("gsd") if isinstance(params, Mapping) else None
    given = given if isinstance(given, Mapping) else {}
    by_source = manifest.get("counts_by_source")
    by_source = by_source if isinstance(by_source, Mapping) else {}
    sources: dict[str, float | None] = {}
    for name in manifest.get("sources") or {}:
        classes = by_source.get(name)
        parts = [f"{name}/{c}" for c in (classes if isinstance(classes, Mapping) else {})]
        if name in given or not any(p in given for p in parts):
            sources[str(name)] = _gsd(given.get(name))
            sources.update({p: _gsd(given[p]) for p in parts if p in given})  # a class of its own
        else:  # only classes of the source given: every class listed, None where unknown
            sources.update({p: _gsd(given.get(p)) for p in parts})
    gsd = model_gsd(sources)
    image_px = manifest.get("image_px")
    image_px = image_px if isinstance(image_px, Mapping) else {}

    def gsd_of(part: str) -> float | None:  # "source/class" -> its own value, else its source's
        return sources[part] if part in sources else sources.get(part.split("/", 1)[0])

    chosen = [v for k, v in image_px.items() if gsd is None or gsd_of(str(k)) is not None]
    sides = [int(v) for v in chosen if isinstance(v, int | float) and not isinstance(v, bool) and v > 0]
    patch_px = int(round(statistics.median(sides))) if sides else image_size
    unknown = [n for n, g in sources.items() if g is None]
    note = f"ground resolution unknown for {', '.join(unknown)}" if unknown and gsd is not None else ""
    return SensorContract(gsd_m=gsd, patch_px=patch_px, sources=sources, note=note)
