"""A georeferenced scene read at the model's ground resolution.

A model sees patches of a fixed number of pixels, so it only recognises a field at the ground
resolution it was trained on: 64 px are 640 m of Sentinel-2 but 32 m of a 0.5 m orthophoto. When
the run records its ground sample distance (:class:`landgui.core.runs.sensor.SensorContract`),
a scene with a coordinate reference system is read resampled to it while it is read (a GDAL
warped VRT on the scene's own CRS: averaging when the scene is finer, bilinear when coarser), so
the patches cover the ground the model's did, and the class maps are written on that grid with
its transform. The grid keeps the scene's footprint exactly: ``width x height`` px become
``round(width x scene size / model size)`` px, and the transform is scaled to match.

The scene's pixel size in metres: in a projected CRS its pixel size in the CRS's linear unit
(feet converted); in a geographic CRS its pixel size in degrees at the latitude of the scene's
centre (WGS 84 metres per degree of latitude and longitude there). A scene within
:data:`GSD_TOLERANCE` of the model's is read as it is; ``native`` keeps the scene's pixels.
When nothing can be resampled (the model's resolution unknown, the scene without a CRS, or
``native``) and the two may differ by more than :data:`NOTE_RATIO`, a one-line note says so.
"""

from __future__ import annotations

import math
from typing import Any

GSD_TOLERANCE = 0.02  # a scene this close to the model's ground resolution is read as it is
NOTE_RATIO = 2.0  # a note when the scene's resolution is more than this many times off the model's


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    """WGS 84 metres per degree of longitude and of latitude at latitude ``lat_deg``."""
    p = math.radians(lat_deg)
    lat = 111_132.954 - 559.822 * math.cos(2 * p) + 1.175 * math.cos(4 * p)
    lon = 111_412.84 * math.cos(p) - 93.5 * math.cos(3 * p)
    return lon, lat


def pixel_size_m(crs: Any, transform: Any, width: int, height: int) -> tuple[float, float] | None:
    """The scene's (x, y) pixel size in metres, or None without a CRS (or in one of unknown units)."""
    if crs is None or transform is None:
        return None
    sx, sy = math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e)
    if crs.is_geographic:
        lat = (transform @ (width / 2, height / 2))[1]
        mx, my = metres_per_degree(max(-89.9, min(89.9, lat)))
        return sx * mx, sy * my
    if crs.is_projected:
        try:
            factor = float(crs.linear_units_factor[1])
        except Exception:  # noqa: BLE001 - a CRS whose unit GDAL cannot say
            return None
        return sx * factor, sy * factor
    return None


def resampled_grid(transform: Any, width: int, height: int, size_m: tuple[float, float], gsd_m: float) -> Any:
    """``(transform, width, height)`` of the scene's footprint in pixels of ``gsd_m`` metres, or
    None when the scene's pixels are within :data:`GSD_TOLERANCE` of that already."""
    fx, fy = size_m[0] / gsd_m, size_m[1] / gsd_m
    if abs(fx - 1) <= GSD_TOLERANCE and abs(fy - 1) <= GSD_TOLERANCE:
        return None
    from rasterio.transform import Affine

    w, h = max(1, round(width * fx)), max(1, round(height * fy))
    return transform @ Affine.scale(width / w, height / h), w, h


def describe_m(metres: float) -> str:
    """A ground distance as people say it: ``0.5 m``, ``10 m``, ``1.2 km``."""
    if metres >= 1000:
        return f"{metres / 1000:.3g} km"
    return f"{metres:.3g} m"


def resolution_note(name: str, size_m: tuple[float, float] | None, gsd_m: float | None, native: bool) -> str:
    """The one-line note for a scene read at its own pixels (nothing to resample to, or ``native``),
    or "" when the scene's resolution is known to be within :data:`NOTE_RATIO` of the model's."""
    scene = None if size_m is None else (size_m[0] + size_m[1]) / 2
    if gsd_m is None:
        if scene is None:
            return ""
        return (
            f"{name}: {describe_m(scene)} pixels; the model's ground resolution is unknown (its run records "
            "none), so the scene is mapped at its own pixels: check that its patches cover what the "
            "training images did"
        )
    if scene is None:
        return (
            f"{name} has no coordinate reference system, so its ground resolution is unknown and it is mapped "
            f"at its own pixels; the model was trained at {describe_m(gsd_m)} per pixel"
        )
    ratio = max(scene / gsd_m, gsd_m / scene)
    if native and ratio > NOTE_RATIO:
        finer = "finer" if scene < gsd_m else "coarser"
        return (
            f"{name}: mapped at its own {describe_m(scene)} pixels (--native), {ratio:.3g}x {finer} than "
            f"the model's {describe_m(gsd_m)}"
        )
    return ""
