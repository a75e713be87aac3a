"""Benchmark: a real multispectral scene shipped inside a package, mapped by the shipped model with
the sensor contract (issue 25).

    apt-get download r-cran-stars && dpkg -x r-cran-stars_*.deb /tmp/stars
    python bench/bench_real_multispectral.py --scene /tmp/stars/usr/lib/R/site-library/stars/tif/L7_ETMs.tif

The scene: ``L7_ETMs.tif`` of the R package *stars* (Debian ``r-cran-stars`` 0.6-0-4, Apache-2.0):
a real Landsat 7 ETM+ subset of Olinda, Brazil (UTM 25S, EPSG:31985), 349 x 352 px of 28.5 m, six
8-bit bands 1, 2, 3, 4, 5, 7 (blue, green, red, NIR, SWIR 1, SWIR 2) that carry no band names
(colour interpretation gray, undefined...). The Atlantic, forest, city. Nothing is downloaded at
run time; ``--scene`` names the file (default: where an installed r-cran-stars keeps it).

What it runs, each with the core function behind ``landgui segment`` (``services.map_scene``) and
the shipped model (10 m, 64 px = 640 m; its config.json's sensor contract):

``no --bands``
    must be refused in one line asking for ``--bands`` (six bands, nothing names red, green, blue).
``3,2,1 at 10 m``
    red, green, blue as they are, read resampled to the model's 10 m (the contract's way).
``3,2,1 native 64 px``
    the scene's own 28.5 m pixels with 64 px patches (1.8 km: landgui's old behaviour in pixels).
``3,2,1 native 22 px``
    the scene's own pixels with 22 px patches (627 m, the model's footprint by hand).
``1,2,3 at 10 m``
    blue read as red: what a silent guess at the band order gives.

The truth, computed here and never by landgui, from the bands the model does not see: after a
dark-object subtraction (each band minus its 0.1 % percentile), water where NDWI
((green - NIR) / (green + NIR)) > 0.2, vegetation where NDVI ((NIR - red) / (NIR + red)) > 0.5.
A patch is *water* (or *vegetation*) when more than half of its ground is. For each mapping:
recall and precision of the map's water and green_area patches against those, the share of
uncertain patches, the class shares, and its time as a ratio against the native 64 px mapping of
the same run (the baseline). Writes ``--out``/real-multispectral.json and the maps of the 10 m and
the guessed mapping (overview PNGs) beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from landgui.core import services  # noqa: E402
from landgui.core.base.errors import LandguiError  # noqa: E402
from landgui.core.params import MapSettings  # noqa: E402
from landgui.core.runs.folder import RunFolder  # noqa: E402
from landgui.core.runs.palette import run_palette  # noqa: E402
from landgui.core.scenes.facts import scene_facts  # noqa: E402

DEFAULT_SCENE = Path("/usr/lib/R/site-library/stars/tif/L7_ETMs.tif")
WATER_NDWI, VEG_NDVI = 0.2, 0.5


def truth_masks(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Water and vegetation masks on the scene's own pixels (see the module doc)."""
    import rasterio

    with rasterio.open(path) as ds:
        a = ds.read().astype(np.float32)
    d = a - np.percentile(a.reshape(a.shape[0], -1), 0.1, axis=1)[:, None, None]
    green, red, nir = d[1], d[2], d[3]
    ndwi = (green - nir) / np.maximum(green + nir, 1e-6)
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    return ndwi > WATER_NDWI, ndvi > VEG_NDVI


def patch_shares(mask: np.ndarray, grid) -> np.ndarray:
    """The share of each patch's ground in ``mask`` (on the scene's pixels), on the map's grid."""
    import cv2

    m = cv2.resize(mask.astype(np.float32), (grid.width, grid.height), interpolation=cv2.INTER_AREA)
    out = np.zeros((grid.rows, grid.cols), np.float32)
    for r in range(grid.rows):
        for c in range(grid.cols):
            win = m[r * grid.stride : r * grid.stride + grid.patch, c * grid.stride : c * grid.stride + grid.patch]
            out[r, c] = win.mean() if win.size else 0.0
    return out


def scores(res, water: np.ndarray, veg: np.ndarray) -> dict:
    """Recall and precision of the map's water and green_area patches against the masks."""
    g = res.grid
    top = res.probs.max(-1)
    mapped = np.where((res.classes >= 0) & (top >= res.uncertain_below), res.classes, -1)
    out = {"patches": int(g.rows * g.cols), "uncertain": round(float((mapped < 0).mean()), 3)}
    for name, mask in (("water", water), ("green_area", veg)):
        truth = patch_shares(mask, g) > 0.5
        k = res.labels.index(name)
        hit = mapped == k
        out[name] = {
            "truth_patches": int(truth.sum()),
            "recall": round(float((hit & truth).sum() / max(1, truth.sum())), 3),
            "precision": round(float((hit & truth).sum() / max(1, hit.sum())), 3),
        }
    out["shares"] = {lab: round(float((mapped == k).mean()), 3) for k, lab in enumerate(res.labels)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scene", default=str(DEFAULT_SCENE))
    ap.add_argument("--run", default="default")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "real-multispectral"))
    args = ap.parse_args()
    scene, out = Path(args.scene), Path(args.out)
    if not scene.is_file():
        sys.exit(f"{scene} not found: apt-get download r-cran-stars && dpkg -x r-cran-stars_*.deb DIR, then --scene")
    out.mkdir(parents=True, exist_ok=True)
    run = RunFolder.resolve(args.run)
    facts = scene_facts(scene)
    record: dict = {
        "scene": str(scene),
        "scene_facts": facts.describe() if facts else None,
        "model": run.sensor.describe(),
        "machine": "Intel(R) Xeon(R) Processor, 2 cores (shared with other work: times are upper bounds)",
    }
    model = services.load_model(run.path)
    base = MapSettings()
    try:
        services.map_scene(run.path, scene, base, model=model)
        record["no_bands"] = "mapped (expected a refusal)"
    except LandguiError as exc:
        record["no_bands"] = f"landgui: error: {exc}"
    print("no --bands:", record["no_bands"], flush=True)
    water, veg = truth_masks(scene)
    record["truth"] = {"water_share": round(float(water.mean()), 3), "vegetation_share": round(float(veg.mean()), 3)}
    runs = {
        "3,2,1 native 64 px": replace(base, bands=(3, 2, 1), native=True),  # the baseline for time
        "3,2,1 at 10 m": replace(base, bands=(3, 2, 1)),
        "3,2,1 native 22 px": replace(base, bands=(3, 2, 1), native=True, patch=22),
        "1,2,3 at 10 m": replace(base, bands=(1, 2, 3)),
    }
    palette = run_palette(run.path, list(run.labels() or []))
    results = {}
    for name, settings in runs.items():
        t0 = time.perf_counter()
        res = services.map_scene(run.path, scene, settings, model=model)
        seconds = time.perf_counter() - t0
        g = res.grid
        results[name] = {
            "grid": f"{g.width} x {g.height} px, {g.rows} x {g.cols} patches of {g.patch} px",
            "seconds": round(seconds, 2),
            "notes": list(res.notes),
            **scores(res, water, veg),
        }
        if name.endswith("at 10 m"):
            stem = "l7-" + name.split()[0].replace(",", "")
            services.export_map(res, out, palette=palette, formats=("png",), name=stem, overwrite=True)
        print(name, json.dumps(results[name]), flush=True)
    baseline = results["3,2,1 native 64 px"]["seconds"]
    for r in results.values():
        r["time_vs_native_64px"] = round(r["seconds"] / baseline, 2)
    record["mappings"] = results
    (out / "real-multispectral.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {out / 'real-multispectral.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
