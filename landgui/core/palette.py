"""A fixed, colour-blind-safe palette per class index (Okabe-Ito, then Paul Tol's muted set)."""

from __future__ import annotations

import json
from pathlib import Path

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


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def rgb(index: int) -> tuple[int, int, int]:
    return hex_to_rgb(colour(index))


def run_palette(run_dir: str | Path, labels: list[str]) -> dict[str, str]:
    """The run's palette (``palette.json``), created from the fixed palette if missing."""
    p = Path(run_dir) / "palette.json"
    try:
        pal = json.loads(p.read_text())
        if list(pal) == labels:
            return pal
    except (OSError, ValueError):
        pass
    pal = {lab: colour(i) for i, lab in enumerate(labels)}
    try:
        from landgui.core.split import write_json_atomic

        write_json_atomic(p, pal)
    except OSError:
        pass  # a read-only run still gets its colours, just not saved
    return pal


def hex_to_rgb(h: str) -> tuple[int, int, int]:
    h = h.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
