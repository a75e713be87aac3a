"""The picture outputs: the class map as a palette PNG, the scene with the classes blended in
(full resolution and a small figure with a legend), and the blending the app's view shares."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.files import shown
from landgui.core.scenes.io import Scene
from landgui.core.scenes.result import (
    UNCERTAIN,
    UNCERTAIN_VALUE,
    SceneResult,
    cell_class_codes,
    code_colours,
    pixel_class_map,
)

OVERLAY_MAX_SIDE = 8192  # longest side of the exported overlay (a 20,000 px scene: 8,192 px)


def write_class_png(
    result: SceneResult, path: Path, table: np.ndarray | None = None, rows_per_block: int = 1024
) -> None:
    """8-bit PNG of the class indices, streamed in row blocks. With ``table`` (:func:`code_colours`)
    it is a palette PNG: the values stay the class indices (254 uncertain, 255 not classified) and
    every viewer shows the class colours (uncertain grey, not classified transparent) instead of
    a near-black greyscale image.

    A 20,000 x 20,000 px map is 400 MB as one array (and OpenCV's encoder copies it), so the
    PNG is written here chunk by chunk (IHDR, zlib-compressed IDAT rows, IEND) with bounded memory.
    """
    import struct
    import zlib

    def chunk(fh: Any, kind: bytes, data: bytes) -> None:
        fh.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    g = result.grid
    comp = zlib.compressobj(6)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        chunk(fh, b"IHDR", struct.pack(">IIBBBBB", g.width, g.height, 8, 0 if table is None else 3, 0, 0, 0))
        if table is not None:
            chunk(fh, b"PLTE", np.ascontiguousarray(table[:, :3]).tobytes())
            chunk(fh, b"tRNS", np.ascontiguousarray(table[:, 3]).tobytes())
        for y in range(0, g.height, rows_per_block):
            block = pixel_class_map(result, y, min(g.height, y + rows_per_block))
            raw = np.zeros((block.shape[0], g.width + 1), np.uint8)  # filter byte 0 per row
            raw[:, 1:] = block
            data = comp.compress(raw.tobytes())
            if data:
                chunk(fh, b"IDAT", data)
        chunk(fh, b"IDAT", comp.flush())
        chunk(fh, b"IEND", b"")


def blend_classes(
    result: SceneResult,
    image: np.ndarray,
    palette: dict[str, str],
    alpha: float = 0.45,
    hidden: tuple[int, ...] | set[int] = (),
    rows: int = 1024,
) -> np.ndarray:
    """``image`` (the whole scene at any scale) with the class colours blended in at ``alpha``;
    uncertain cells grey, unclassified and ``hidden`` classes left as they are. Row blocks keep
    the float work small for large images."""
    import cv2

    h, w = image.shape[:2]
    k = len(result.labels)
    table = code_colours(result.labels, palette)
    colours = table[:, :3].astype(np.float32)
    show = table[:, 3] > 0
    for i in hidden:  # class indices; len(labels) stands for "uncertain", as in the app's legend
        if 0 <= i <= k:
            show[UNCERTAIN_VALUE if i == k else i] = False
    cmap = cell_class_codes(result)
    g = result.grid
    # class map at this scale: cells -> scene pixels -> image pixels
    scale_x = (math.ceil(g.width / g.cell) * g.cell) / g.width
    scale_y = (math.ceil(g.height / g.cell) * g.cell) / g.height
    big = cv2.resize(cmap, (round(w * scale_x), round(h * scale_y)), interpolation=cv2.INTER_NEAREST)[:h, :w]
    out = np.empty_like(image)
    for y in range(0, h, rows):
        b = big[y : y + rows]
        a = np.where(show[b], np.float32(alpha), np.float32(0))[..., None]
        out[y : y + rows] = (image[y : y + rows].astype(np.float32) * (1 - a) + colours[b] * a + 0.5).astype(np.uint8)
    return out


def write_overlay_png(
    result: SceneResult,
    scene: Scene,
    palette: dict[str, str],
    path: Path,
    alpha: float,
    hidden: tuple[int, ...] | set[int],
    max_side: int,
) -> None:
    """The scene (longest side at most ``max_side``) with the class colours blended in, as a PNG."""
    import cv2

    img = blend_classes(result, scene.overview(max_side), palette, alpha, hidden)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise LandguiError(f"cannot encode {path.name}")
    with open(path, "wb") as fh:
        fh.write(buf.tobytes())


def overlay_figure(
    result: SceneResult,
    overview: np.ndarray,
    palette: dict[str, str],
    alpha: float = 0.45,
    hidden: tuple[int, ...] | set[int] = (),
) -> Any:
    """The scene (downscaled) with translucent class colours and a legend with area shares."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    blended = blend_classes(result, overview, palette, alpha, hidden)
    h, w = overview.shape[:2]
    g = result.grid
    fig = Figure(figsize=(10, 10 * h / w + 1.0), tight_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    ax.imshow(blended)
    ax.set_axis_off()
    handles = [Patch(color=palette[lab], label=f"{lab} {result.coverage.get(lab, 0):.1%}") for lab in result.labels]
    if result.uncertain_below > 0:
        handles.append(Patch(color="#808080", label=f"{UNCERTAIN} {result.coverage.get(UNCERTAIN, 0):.1%}"))
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=min(4, len(handles)), frameon=False
    )
    ax.set_title(f"{shown(Path(result.scene).name)}: {g.rows}x{g.cols} patches of {g.patch} px")
    return fig
