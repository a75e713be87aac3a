"""Benchmark: many scenes in-process vs on a local Dask cluster, the cost of a task, and an
estimate for a 1,000-scene job on 10 and 100 workers.

    python bench/bench_cluster.py [--run bench/out/build-default/run] [--scenes 8] [--size 4000]
        [--workers 2] [--patch 64] [--out bench/out/cluster.json]

The scenes are SYNTHETIC: SIZE x SIZE px GeoTIFFs (tiled, deflate, UTM) of random land-cover
colours with texture, written to a temporary folder, so the timings say nothing about accuracy.
Each scene is mapped and exported with the CLI's default formats, as ``landgui segment`` does:

1. in-process: one scene after the other, the model loaded once (LiteRT on all cores);
2. ``local:N``: the same scenes on a LocalCluster of N worker processes (1 LiteRT thread each
   on 2 cores), the maps exported by the client while the workers go on; cluster start timed apart;
3. the cost of a task: round trips of empty tasks, and one scene cut into one-row blocks against
   the same scene as one block;

then prints an estimate, from the measured per-worker rate and per-scene export time, of the wall
time of 1,000 such scenes on 10 and 100 workers, and writes everything to ``--out`` as JSON.

What 2 cores can and cannot show: in-process already uses both cores (LiteRT threads), and two
workers of one thread use the same two cores, so ``local:2`` cannot be faster here; the
comparison shows what the cluster costs (start, task round trips, shipping probabilities back,
client-side export), that the work splits evenly, and the per-worker rate that the estimate
scales. It does not show network or shared-storage costs of a real cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_RUN = Path(__file__).resolve().parent / "out" / "build-default" / "run"


def make_scene(path: Path, size: int, seed: int) -> None:
    """A synthetic SIZE x SIZE RGB GeoTIFF: 64 px blocks of random class colours plus texture."""
    import cv2
    import rasterio
    from rasterio.transform import from_origin

    colours = np.array([(225, 225, 230), (200, 160, 100), (40, 110, 50), (30, 60, 120)], np.float32)
    rng = np.random.default_rng(seed)
    cells = -(-size // 64)
    classes = rng.integers(0, len(colours), (cells, cells))
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:32633",
        "transform": from_origin(500000 + seed * size * 10, 4000000, 10, 10),
        "tiled": True,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for y in range(0, size, 512):
            h = min(512, size - y)
            base = colours[classes[y // 64 : -(-(y + h) // 64)]]  # (rows of cells, cells, 3)
            block = np.repeat(np.repeat(base, 64, axis=0), 64, axis=1)[(y % 64) : (y % 64) + h, :size]
            tex = cv2.resize(rng.normal(0, 1, (max(1, h // 8), max(1, size // 8))).astype(np.float32), (size, h))
            img = np.clip(block + 25 * tex[..., None] + rng.normal(0, 6, block.shape), 0, 255).astype(np.uint8)
            dst.write(np.moveaxis(img, -1, 0), window=rasterio.windows.Window(0, y, size, h))


def default_formats() -> tuple[str, ...]:
    """The formats ``landgui segment`` writes when none are given."""
    from landgui.cli import build_parser

    spec = build_parser().parse_args(["segment", "r", "s", "--out", "o"]).formats
    return tuple(f.strip() for f in spec.split(",") if f.strip())


def in_process(run: str, scenes: list[Path], out: Path, patch: int, formats: tuple[str, ...]) -> dict:
    from landgui.core.inference.engine import load_predictor
    from landgui.core.runs.palette import run_palette
    from landgui.core.scenes import classify_scene, export, open_scene

    pred = load_predictor(run, "litert")
    palette = run_palette(run, pred.labels)
    per_scene = []
    t0 = time.perf_counter()
    for p in scenes:
        t1 = time.perf_counter()
        sc = open_scene(p)
        res = classify_scene(pred, pred.labels, pred.image_size, sc, patch=patch)
        t2 = time.perf_counter()
        export(res, sc, out, p.stem, palette, formats)
        sc.close()
        per_scene.append(
            {"scene": p.name, "patches": res.grid.n, "classify_s": t2 - t1, "export_s": time.perf_counter() - t2}
        )
    wall = time.perf_counter() - t0
    patches = sum(s["patches"] for s in per_scene)
    return {
        "wall_s": round(wall, 2),
        "patches": patches,
        "patches_per_s": round(patches / wall, 1),
        "litert_threads": pred.n_threads,
        "classify_s": round(sum(s["classify_s"] for s in per_scene), 2),
        "export_s_per_scene": round(float(np.mean([s["export_s"] for s in per_scene])), 3),
    }


def on_cluster(
    client, run: str, scenes: list[Path], out: Path, patch: int, formats: tuple[str, ...], block_rows=None
) -> dict:
    from landgui.core.runs.folder import read_run
    from landgui.core.runs.palette import run_palette
    from landgui.core.scenes import export, open_scene
    from landgui.core.scenes.blocks import MapSettings, map_on_cluster

    palette = run_palette(run, read_run(run).labels)
    stats = {"patches": 0, "worker_s": 0.0, "export_s": 0.0, "errors": []}

    def on_scene(i, path, res, error):
        if error:
            stats["errors"].append(f"{path}: {error}")
            return
        t = time.perf_counter()
        sc = open_scene(path)
        export(res, sc, out, Path(path).stem, palette, formats)
        sc.close()
        stats["export_s"] += time.perf_counter() - t
        stats["patches"] += res.grid.n
        stats["worker_s"] += res.seconds

    t0 = time.perf_counter()
    map_on_cluster(
        client,
        run,
        [str(p) for p in scenes],
        on_scene,
        engine="litert",
        settings=MapSettings(patch=patch),
        block_rows=block_rows,
    )
    wall = time.perf_counter() - t0
    n = len(scenes) - len(stats["errors"])
    return {
        "wall_s": round(wall, 2),
        "patches": stats["patches"],
        "patches_per_s": round(stats["patches"] / wall, 1) if wall else 0.0,
        "worker_s": round(stats["worker_s"], 2),
        "patches_per_worker_s": round(stats["patches"] / stats["worker_s"], 1) if stats["worker_s"] else 0.0,
        "client_export_s_per_scene": round(stats["export_s"] / max(1, n), 3),
        "errors": stats["errors"],
    }


def empty_task_round_trip(client, n: int = 200) -> float:
    """Seconds per empty task submitted and gathered (scheduler + messages, no work)."""
    client.gather(client.map(time.sleep, [0] * 20, pure=False))  # warm up
    t0 = time.perf_counter()
    client.gather(client.map(time.sleep, [0] * n, pure=False))
    return (time.perf_counter() - t0) / n


def block_overhead(client, run: str, scene: Path, patch: int, workers: int, tmp: Path) -> dict:
    """One scene as one task, then as one task per grid row: the extra worker time per block."""
    from landgui.core.runs.folder import read_run
    from landgui.core.scenes import batch_for, make_grid, open_scene
    from landgui.core.scenes.blocks import plan_blocks

    sc = open_scene(scene)
    grid = make_grid(sc.width, sc.height, patch, patch)
    sc.close()
    n_blocks = len(plan_blocks(grid, 1, batch_for(read_run(run).image_size)))  # one row, or one batch of rows
    whole = on_cluster(client, run, [scene], tmp / "whole", patch, ("csv",), block_rows=grid.rows)
    rows = on_cluster(client, run, [scene], tmp / "rows", patch, ("csv",), block_rows=1)
    extra = (rows["worker_s"] - whole["worker_s"]) / max(1, n_blocks - 1)
    return {
        "blocks": n_blocks,
        "whole_scene_one_task": whole,
        "small_blocks": rows,
        "extra_worker_s_per_block": round(extra, 4),
    }


def estimate(
    per_worker_rate: float,
    patches_per_scene: int,
    export_s: float,
    scheduler_s: float,
    worker_s_per_task: float,
    tasks_per_scene: int,
    start_s: float,
) -> dict:
    """Wall time of 1,000 scenes on W workers. Three things go on at once, and the slowest sets
    the pace: the workers' compute (patches / (W x rate), plus each task's own cost spread over
    W), the client's export of every map (serial), and the scheduler's handling of the tasks
    (serial, the empty-task round trip each); plus the start of the workers."""
    out = {}
    n = 1000
    tasks = n * tasks_per_scene
    for w in (10, 100):
        compute = n * patches_per_scene / (w * per_worker_rate) + tasks * worker_s_per_task / w
        client = n * export_s
        scheduler = tasks * scheduler_s
        out[w] = {
            "compute_s": round(compute, 1),
            "client_export_s": round(client, 1),
            "scheduler_s": round(scheduler, 1),
            "wall_s": round(max(compute, client, scheduler) + start_s, 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=str(DEFAULT_RUN) if DEFAULT_RUN.is_dir() else "default")
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "cluster.json"))
    args = ap.parse_args()

    from distributed import Client

    from landgui.core.base import threads
    from landgui.core.inference.engine import litert_file
    from landgui.core.scenes.blocks import BLOCK_PIXELS
    from landgui.core.scenes.cluster import start_local_cluster, worker_threads

    litert_file(args.run)  # converted before timing, if it must be
    formats = default_formats()
    with tempfile.TemporaryDirectory(prefix="landgui-bench-cluster-") as d:
        tmp = Path(d)
        t = time.perf_counter()
        scenes = [tmp / f"synthetic_{i:02d}.tif" for i in range(args.scenes)]
        for i, p in enumerate(scenes):
            make_scene(p, args.size, i)
        print(f"made {args.scenes} synthetic {args.size}x{args.size} px GeoTIFFs in {time.perf_counter() - t:.1f} s")

        ip = in_process(args.run, scenes, tmp / "in-process", args.patch, formats)
        print(f"in-process: {ip['wall_s']} s, {ip['patches_per_s']} patches/s ({ip['litert_threads']} LiteRT threads)")

        t = time.perf_counter()
        cluster = start_local_cluster(args.workers)
        client = Client(cluster)
        start_s = time.perf_counter() - t
        try:
            client.run(lambda: None)
            cl = on_cluster(client, args.run, scenes, tmp / "cluster", args.patch, formats)
            print(
                f"local:{args.workers}: {cl['wall_s']} s, {cl['patches_per_s']} patches/s "
                f"(+ {start_s:.1f} s to start the workers); {cl['patches_per_worker_s']} patches per worker-second"
            )
            task_s = empty_task_round_trip(client)
            print(f"empty task round trip: {task_s * 1000:.2f} ms")
            blocks = block_overhead(client, args.run, scenes[0], args.patch, args.workers, tmp)
            print(
                f"small blocks: {blocks['extra_worker_s_per_block'] * 1000:.1f} ms of extra worker time per block "
                f"({blocks['blocks']} blocks vs 1)"
            )
        finally:
            client.close()
            cluster.close()

    patches_per_scene = ip["patches"] // args.scenes
    tasks_per_scene = -(-args.size * args.size // BLOCK_PIXELS)
    worker_s_per_task = max(0.0, blocks["extra_worker_s_per_block"])
    rate, export_s = cl["patches_per_worker_s"], cl["client_export_s_per_scene"]
    est = estimate(rate, patches_per_scene, export_s, task_s, worker_s_per_task, tasks_per_scene, start_s)
    crossover = patches_per_scene / max(1e-9, rate) / max(1e-9, export_s)
    lines = [
        f"Estimate for 1,000 scenes of {args.size}x{args.size} px ({patches_per_scene} patches of {args.patch} px "
        f"each, {tasks_per_scene} task(s) per scene at the default block size), from this machine's rates: "
        f"{rate} patches per worker-second (one core, one LiteRT thread per worker), "
        f"{worker_s_per_task * 1000:.1f} ms of worker time and {task_s * 1000:.1f} ms of scheduler time per task, "
        f"{export_s} s of client-side export per scene (formats {','.join(formats)}).",
    ]
    for w, e in est.items():
        lines.append(
            f"  {w} workers: compute {e['compute_s']:.0f} s, client export {e['client_export_s']:.0f} s, "
            f"scheduler {e['scheduler_s']:.0f} s, all at once -> about {e['wall_s'] / 60:.1f} min"
        )
    lines.append(
        "  Assumes workers of one core like these, scenes on storage that every worker reads at local-disk speed, "
        f"and one client. Beyond about {crossover:.0f} workers the client's export of the maps, not the workers, "
        "sets the pace: export fewer formats (--formats geotiff) or split the scenes over several clients."
    )
    text = "\n".join(lines)
    print(text)
    result = {
        "data": f"SYNTHETIC: {args.scenes} random land-cover GeoTIFFs of {args.size}x{args.size} px",
        "run": str(args.run),
        "patch": args.patch,
        "formats": list(formats),
        "machine": {
            "cpu_count": os.cpu_count(),
            "available_cores": threads.available_cores(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "workers": args.workers,
        "litert_threads_per_worker": worker_threads(args.workers),
        "in_process": ip,
        "cluster": {**cl, "start_s": round(start_s, 2)},
        "empty_task_round_trip_ms": round(task_s * 1000, 3),
        "blocks": blocks,
        "estimate_1000_scenes": est,
        "estimate_text": text,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":  # guarded: Dask's worker processes start by spawn and import this module
    main()
