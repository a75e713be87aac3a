"""Benchmark the PyInstaller bundle: size (and what takes it), launch-to-window time, and a
headless run that splits a small dataset, trains 1 epoch of the offline transfer model and
classifies the demo scene and a GeoTIFF.

    .venv/bin/pyinstaller --noconfirm build.spec      # time this for the build time
    DISPLAY=:99 python bench/bench_bundle.py dist/landgui
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def size_mib(p: Path) -> float:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def timed(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return round(time.perf_counter() - t0, 2)


def main() -> None:
    import rasterio
    from synth import make_dataset, write_geotiff

    bundle = Path(sys.argv[1] if len(sys.argv) > 1 else "dist/landgui")
    exe = str(bundle / "landgui")
    internal = bundle / "_internal"
    parts = sorted(
        ((size_mib(p) if p.is_dir() else p.stat().st_size / 2**20, p.name) for p in internal.iterdir()), reverse=True
    )
    res: dict = {"bundle_mib": round(size_mib(bundle)), "largest": {n: round(s) for s, n in parts[:6]}}
    res["launch_to_window_s"] = [timed([exe], {"LANDGUI_EXIT_AFTER_SHOW": "1"}) for _ in range(3)]
    tmp = Path(tempfile.mkdtemp())
    root = make_dataset(tmp / "ds", per_class=20, classes=("desert", "green_area", "water"))  # synthetic
    env = {"QT_QPA_PLATFORM": "offscreen", "LANDGUI_CACHE_DIR": str(tmp / "cache")}
    res["split_s"] = timed([exe, "split", str(root), "--out", str(tmp / "split"), "--quiet"], env)
    res["train_1_epoch_transfer_s"] = timed(
        [
            exe,
            "train",
            str(tmp / "split"),
            "--out",
            str(tmp / "run"),
            "--epochs",
            "1",
            "--fine-tune-epochs",
            "0",
            "--quiet",
        ],
        env,
    )
    img = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    write_geotiff(tmp / "geo.tif", img)  # EPSG:32633
    res["segment_demo_and_geotiff_s"] = timed(
        [exe, "segment", str(tmp / "run"), "demo", str(tmp / "geo.tif"), "--out", str(tmp / "out"), "--quiet"], env
    )
    with rasterio.open(tmp / "out" / "geo.classes.tif") as out:
        res["geotiff_crs"] = out.crs.to_string()
    res["demo_summary"] = json.loads((tmp / "out" / "bmng.summary.json").read_text())["grid"]
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
