"""Which bands of a scene are red, green and blue.

``--bands R,G,B`` (1-based, as GDAL numbers bands) decides when given. Otherwise the file does:
each band is named by its description (``red``, ``green``, ``blue``, ``nir``, ``alpha``, or
Sentinel-2's ``B04``, ``B03``, ``B02``, ``B08``) or else by its GDAL colour interpretation, and a
file naming one red, one green and one blue band is read in that order whatever else it holds:
RGBN (NAIP: red, green, blue, undefined), BGRN (PlanetScope's blue, green, red, NIR when its
descriptions or colour interpretation say so), a Sentinel-2 stack. A file that names no colours
is read as before: 1 band grey, 2 bands grey and alpha, 3 bands red, green, blue, 4 bands RGB and
alpha when the 4th says alpha. Any other multi-band file (4 bands with an undefined 4th, more
than 4) is refused with a one-line error asking for ``--bands``: a silent guess at the order
would map blue as red.
"""

from __future__ import annotations

from collections.abc import Sequence

from landgui.core.base.errors import LandguiError
from landgui.core.params import check_bands

# a band's description (lower case, spaces and underscores dropped) -> what it holds
DESCRIPTIONS = {
    "red": "red",
    "green": "green",
    "blue": "blue",
    "nir": "nir",
    "nearinfrared": "nir",
    "alpha": "alpha",
    "b04": "red",
    "b03": "green",
    "b02": "blue",
    "b08": "nir",
}
# GDAL colour interpretations (rasterio's ColorInterp names) that name a colour
COLOUR_INTERPS = {"red": "red", "green": "green", "blue": "blue", "alpha": "alpha"}
RGB = ("red", "green", "blue")


def parse_bands(text: str) -> tuple[int, ...]:
    """``"4,3,2"`` -> ``(4, 3, 2)``: three band numbers (1-based), or one for a grey scene."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        bands = tuple(int(p) for p in parts)
    except ValueError:
        raise LandguiError(f"--bands takes band numbers R,G,B (1-based, e.g. 4,3,2), got {text!r}") from None
    check_bands(bands)
    return bands


def band_roles(colorinterp: Sequence[str], descriptions: Sequence[str | None]) -> list[str | None]:
    """What each band holds (``red``, ``green``, ``blue``, ``nir``, ``alpha`` or None), from its
    description where that is known, else from its colour interpretation."""
    roles: list[str | None] = []
    for ci, desc in zip(colorinterp, descriptions, strict=True):
        key = (desc or "").lower().replace(" ", "").replace("_", "")
        roles.append(DESCRIPTIONS.get(key) or COLOUR_INTERPS.get(str(ci).lower()))
    return roles


def pick_bands(
    count: int,
    colorinterp: Sequence[str],
    descriptions: Sequence[str | None],
    name: str,
    explicit: Sequence[int] | None = None,
) -> tuple[tuple[int, int, int], str]:
    """The 1-based bands read as red, green, blue, and how they were chosen (for the notes)."""
    if explicit:
        check_bands(tuple(explicit))
        bad = [b for b in explicit if b > count]
        if bad:
            raise LandguiError(f"--bands {','.join(map(str, explicit))}: {name} has {count} band(s), no band {bad[0]}")
        picked = tuple(explicit) * 3 if len(explicit) == 1 else tuple(explicit)
        return (picked[0], picked[1], picked[2]), f"bands {','.join(map(str, explicit))} (--bands)"
    roles = band_roles(colorinterp, descriptions)
    if all(roles.count(c) == 1 for c in RGB):
        r, g, b = (roles.index(c) + 1 for c in RGB)
        order = ",".join(f"{i + 1}={role or 'undefined'}" for i, role in enumerate(roles))
        return (r, g, b), f"bands {r},{g},{b} as red, green, blue ({order})"
    if count <= 2:
        return (1, 1, 1), "grey"
    if count == 3:
        return (1, 2, 3), "3 bands read as red, green, blue"
    if count == 4 and roles[3] == "alpha":
        return (1, 2, 3), "RGB and alpha"
    said = ", ".join(str(c).lower() for c in colorinterp)
    raise LandguiError(
        f"{name}: {count} bands ({said}) and nothing in the file says which are red, green and blue: "
        "give --bands R,G,B (1-based, e.g. --bands 1,2,3 for red-green-blue-NIR, 3,2,1 for blue-green-red-NIR)"
    )
