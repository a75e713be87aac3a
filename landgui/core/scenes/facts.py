"""A scene file's own figures, read from its header: size, bands, data type, coordinate reference
system and ground sample distance, and the bands landgui would read as red, green and blue.

The Scene tab shows them beside the model's sensor contract (:class:`SceneFacts` against
:class:`landgui.core.runs.sensor.SensorContract`), so a user sees at a glance when a 0.5 m
orthophoto meets a 10 m model, or a 16-bit four-band file whose band order must be chosen.
Nothing but the header is read; rasterio is imported here only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from landgui.core.base.errors import LandguiError
from landgui.core.base.files import FileProblem, check_regular
from landgui.core.runs.sensor import SensorContract
from landgui.core.scenes.bands import band_roles, pick_bands
from landgui.core.scenes.resample import GSD_TOLERANCE, describe_m, pixel_size_m
from landgui.core.scenes.safe import is_safe, safe_vrt


@dataclass(frozen=True)
class SceneFacts:
    """What a scene file says about itself.

    ``band_names``: what each band holds, from its description or colour interpretation
    (``red``, ``nir``, ... or ``band N`` when the file does not say); ``gsd_m``: the mean pixel
    size in metres (None without a coordinate reference system); ``auto_bands``: the 1-based bands
    read as red, green and blue without ``--bands`` (None when the file cannot tell, and
    ``bands_note`` says why).
    """

    width: int
    height: int
    count: int
    dtype: str
    band_names: tuple[str, ...]
    gsd_m: float | None = None
    crs: str | None = None
    auto_bands: tuple[int, int, int] | None = (1, 2, 3)
    bands_note: str = ""

    def describe(self) -> str:
        """One line for people: ``0.5 m/px, 4 bands (red, green, blue, nir), uint16, EPSG:32633``
        (``no CRS`` for the ground resolution of a scene without one)."""
        gsd = f"{describe_m(self.gsd_m)}/px" if self.gsd_m is not None else "no CRS"
        names = ", ".join(self.band_names)
        crs = f", {self.crs}" if self.crs else ""
        return f"{gsd}, {self.count} band{'s' if self.count != 1 else ''} ({names}), {self.dtype}{crs}"

    def against(self, model: SensorContract, native: bool = False) -> str:
        """A few words on how the scene meets the model's ground resolution: ``resampled 2.5 m to
        10 m``, or why it is mapped at its own pixels; "" when they agree."""
        if model.gsd_m is None or self.gsd_m is None:
            if model.gsd_m is None and self.gsd_m is None:
                return "its own pixels (no resolution known)"
            return "its own pixels (no CRS)" if self.gsd_m is None else "its own pixels (model's resolution unknown)"
        ratio = max(self.gsd_m / model.gsd_m, model.gsd_m / self.gsd_m)
        if ratio - 1 <= GSD_TOLERANCE:
            return ""
        if not native:
            return f"resampled {describe_m(self.gsd_m)} to {describe_m(model.gsd_m)}"
        finer = "finer" if self.gsd_m < model.gsd_m else "coarser"
        return f"its own {describe_m(self.gsd_m)} pixels, {ratio:.3g}x {finer} than the model's"


def plain_facts(width: int, height: int) -> SceneFacts:
    """The figures of a plain RGB picture (8-bit, no coordinate reference system)."""
    return SceneFacts(width, height, 3, "uint8", ("red", "green", "blue"))


def scene_facts(path: str | Path) -> SceneFacts | None:
    """A scene file's figures from its header (GDAL through rasterio), or None for what GDAL does
    not read as a raster (a WebP decoded whole, a damaged file, a FIFO: never opened here)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    p = Path(path)
    if is_safe(p):
        source = safe_vrt(p)  # a Sentinel-2 .SAFE: its B04, B03, B02
    elif str(path).startswith("/vsi"):
        source = str(path)
    else:
        try:
            if check_regular(p) == 0:
                return None
        except FileProblem:
            return None
        source = str(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(source) as ds:
                interps = [ci.name for ci in ds.colorinterp]
                descriptions = list(ds.descriptions)
                crs, transform = ds.crs, ds.transform
                w, h, count, dtype = ds.width, ds.height, ds.count, ds.dtypes[0]
    except RasterioIOError:
        return None
    roles = band_roles(interps, descriptions)
    names = tuple(
        role or (desc if desc else f"band {i + 1}")
        for i, (role, desc) in enumerate(zip(roles, descriptions, strict=True))
    )
    size = pixel_size_m(crs, transform, w, h)
    gsd = None if size is None else (size[0] + size[1]) / 2
    try:
        auto, note = pick_bands(count, interps, descriptions, Path(path).name)
    except LandguiError as exc:
        auto, note = None, str(exc)
    crs_name = None if crs is None else (crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}")
    return SceneFacts(w, h, count, str(dtype), names, gsd, crs_name, auto, note)
