"""Class colours: by name where the name says what it is (water blue, desert sand, forest green,
cloud white-grey, snow pale cyan, urban red-grey), else a fixed colour-blind-safe palette by class
index (Okabe-Ito, then Paul Tol's muted set)."""

from __future__ import annotations

from pathlib import Path

from landgui.core.base.errors import LandguiError
from landgui.core.runs.folder import RunFolder

# Okabe & Ito (2008) minus black (invisible on dark scenes), then Tol's muted scheme.
PALETTE = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#F0E442",
    "#56B4E9",
    "#D55E00",
    "#CC79A7",
    "#999999",
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
]


# keyword in the (lower-case) class name -> colour; the first matching rule wins
NAMED = [
    (("water", "sea", "lake", "river", "ocean", "pond", "reservoir"), "#1F78B4"),
    (("cloud",), "#F0F0F0"),
    (("snow", "ice", "glacier"), "#B3E5F0"),
    (("desert", "barren", "sand", "bare", "dune"), "#E6C88C"),
    (("green", "forest", "vegetation", "tree", "grass", "wood", "crop", "meadow"), "#2CA02C"),
    (("urban", "built", "city", "building", "residential", "industrial", "road"), "#B2545B"),
]


def colour(index: int) -> str:
    """The colour-blind-safe palette colour of a class index."""
    return PALETTE[index % len(PALETTE)]


def name_colour(label: str) -> str | None:
    """The colour a class name implies (``water`` -> blue, ...), or None."""
    low = label.lower()
    for words, hexcol in NAMED:
        if any(w in low for w in words):
            return hexcol
    return None


def default_palette(labels: list[str]) -> dict[str, str]:
    """Name-aware colours, the others from the index palette without repeating a colour in use."""
    pal: dict[str, str] = {}
    for lab in labels:
        named = name_colour(lab)
        if named and named not in pal.values():
            pal[lab] = named
    spare = (c for c in PALETTE if c not in pal.values())
    for lab in labels:
        if lab not in pal:
            pal[lab] = next(spare, colour(len(pal)))
    return {lab: pal[lab] for lab in labels}


def rgb(index: int) -> tuple[int, int, int]:
    """The index palette's colour of class ``index`` as an (r, g, b) tuple of 0..255."""
    return hex_to_rgb(colour(index))


def run_palette(run_dir: str | Path, labels: list[str]) -> dict[str, str]:
    """The run's class colours: ``palette.json``'s for every class it gives a valid ``#RRGGBB``
    (in any key order), the fixed palette's for the others. palette.json is written only when
    the run has none; an existing one may hold the user's colours and is never replaced here
    (issue 23, item 6: a file with its keys in another order was overwritten with defaults)."""
    run = RunFolder.resolve(run_dir)
    default = default_palette(labels)
    pal = run.palette()
    if pal is not None:
        return {lab: pal[lab] if is_hex_colour(pal.get(lab)) else default[lab] for lab in labels}
    if run.is_shipped or run.palette_file.exists():
        return default  # read-only, or a damaged file of the user's: not replaced
    try:
        run.write_palette(default)
    except (OSError, LandguiError):  # write_json_atomic says why in a LandguiError
        pass  # a read-only run still gets its colours, just not saved
    return default


def is_hex_colour(value: object) -> bool:
    """True for a ``#RRGGBB`` string."""
    if not (isinstance(value, str) and len(value) == 7 and value.startswith("#")):
        return False
    try:
        hex_to_rgb(value)
    except ValueError:
        return False
    return True


def save_palette(run_dir: str | Path, palette: dict[str, str]) -> bool:
    """Save a run's class colours (``palette.json``); False for the read-only shipped run, whose
    colours can then be changed for the session only."""

    run = RunFolder.resolve(run_dir)
    if run.is_shipped:
        return False
    for lab, hexcol in palette.items():
        if not (isinstance(hexcol, str) and len(hexcol) == 7 and hexcol.startswith("#")):
            raise LandguiError(f"colour of {lab} must be #RRGGBB, got {hexcol!r}")
        hex_to_rgb(hexcol)
    try:
        run.write_palette(palette)
    except OSError as exc:
        raise LandguiError(f"cannot save the colours in {run.path}: {exc.strerror or exc}") from None
    except LandguiError as exc:
        raise LandguiError(f"cannot save the colours in {run.path}: {exc}") from None
    return True


def hex_to_rgb(h: str) -> tuple[int, int, int]:
    """``#RRGGBB`` (the ``#`` optional) as an (r, g, b) tuple of 0..255; a ValueError for bad digits."""
    h = h.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
