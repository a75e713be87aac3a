"""The text outputs: one CSV row per patch, and the scene's summary JSON (grid, settings,
coverage, context, familiarity, timing, georeference)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from landgui.core.inference.familiarity import UNFAMILIAR_ABOVE, unfamiliar_share, warning_line
from landgui.core.scenes.context import CONTEXT_ITERATIONS, CONTEXT_NEIGHBOURS
from landgui.core.scenes.result import SceneResult


def write_patches_csv(result: SceneResult, path: Path) -> None:
    """``row,col,x,y,class,confidence,margin,uncertain,p_<class>...[,unfamiliar]``: one row per
    patch of the grid (x, y its top-left corner in scene px); a patch not classified has its class
    and numbers empty."""
    g = result.grid
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            "row,col,x,y,class,confidence,margin,uncertain,"
            + ",".join(f"p_{lab}" for lab in result.labels)
            + (",unfamiliar" if result.unfamiliar is not None else "")
            + "\n"
        )
        unf = result.unfamiliar
        top2 = np.sort(result.probs, axis=-1)[..., -2:]
        for r in range(g.rows):
            for c in range(g.cols):
                k = int(result.classes[r, c])
                if k >= 0:
                    conf = float(top2[r, c, -1])
                    margin = conf - float(top2[r, c, 0]) if top2.shape[-1] > 1 else conf
                    unc = int(conf < result.uncertain_below)
                    pr = f"{conf:.5f},{margin:.5f},{unc}," + ",".join(f"{v:.5f}" for v in result.probs[r, c])
                    cls = result.labels[k]
                else:
                    cls, pr = "", ",,," + ",".join("" for _ in result.labels)
                if unf is not None:
                    pr += f",{unf[r, c]:.4f}" if k >= 0 else ","
                fh.write(f"{r},{c},{c * g.stride},{r * g.stride},{cls},{pr}\n")


def context_dict(result: SceneResult) -> dict:
    """Whether the map used context over grid neighbours, with what settings, and how many
    patches it changed (the ``context`` entry of the summary JSON)."""
    on = result.context > 0
    return {
        "on": on,
        "strength": result.context,
        "neighbours": CONTEXT_NEIGHBOURS if on else None,
        "iterations": CONTEXT_ITERATIONS if on else None,
        "changed_patches": result.stats.get("context_changed", 0),
    }


def summary_dict(result: SceneResult) -> dict:
    """The scene's summary JSON: grid, settings, coverage, timing and georeference."""
    g = result.grid
    seconds = float(f"{result.seconds:.6g}")
    return {
        # absolute, so that a later run from another working folder knows which scene made these
        # maps (output_name: a relative path would name whatever file of that name is there then)
        "scene": os.path.abspath(result.scene),
        "labels": result.labels,
        "size": [g.width, g.height],
        "patch": g.patch,
        "stride": g.stride,
        "edge": g.edge,
        "grid": [g.rows, g.cols],
        "patches": g.n,
        "ignored_patches": result.stats.get("ignored", 0),
        "coverage": result.coverage,
        "uncertain_below": result.uncertain_below,
        "context": context_dict(result),
        "adapted": result.adapted,
        "run": result.run,
        "engine": result.engine,
        # the time of this map's own pass (a re-map from kept features times only the head), to 6
        # significant digits (6 decimals made a 44 microsecond pass 1 % off), and the speed computed
        # from the time as written, so that one always follows from the other
        "seconds": seconds,
        "patches_per_s": round(g.n / seconds, 1) if seconds > 0 else 0.0,
        "remapped_from_features": result.remapped,
        "georeferenced": result.crs is not None,
        "crs": str(result.crs) if result.crs is not None else None,
        # how the scene was read (bands, radiometry, the grid's resolution): reopened so later
        "reading": result.reading.to_dict() if result.reading is not None else None,
        "unfamiliar": unfamiliar_summary(result),
    }


def unfamiliar_summary(result: SceneResult) -> dict | None:
    """How much of the scene is unlike the model's training data (landgui.core.inference.familiarity):
    the share of patches above the threshold, the mean score and the warning, if any."""
    if result.unfamiliar is None:
        return None

    u = result.unfamiliar[np.isfinite(result.unfamiliar)]
    share = unfamiliar_share(u)
    return {
        "share": round(share, 4),
        "mean": round(float(u.mean()), 4) if len(u) else None,
        "above": UNFAMILIAR_ABOVE,
        "warning": warning_line(share),
    }
