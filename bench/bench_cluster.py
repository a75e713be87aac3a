"""Benchmark: many scenes in-process vs ``segment --cluster local:N``, the workers writing the maps,
the client's own time per scene, and an estimate for a 1,000-scene job on 10 and 100 workers.

    python bench/bench_cluster.py [--run default] [--scenes 16] [--size 1024] [--workers 2]
        [--patch 64] [--out bench/out/cluster.json]

The scenes are SYNTHETIC: SIZE x SIZE px GeoTIFFs (tiled, deflate, UTM) of random land-cover
colours with texture, written to a temporary folder, so the timings say nothing about accuracy.
Both runs are ``landgui segment`` in this process (the CLI's ``main``), all default formats, LiteRT:

1. in-process: one scene after the other, the model loaded once (LiteRT on all cores);
2. ``--cluster ADDRESS`` of a LocalCluster of N worker processes (1 LiteRT thread each on 2 cores),
   started beforehand and timed apart: each worker maps its scene and writes its files into
   ``--out`` itself; the client gathers small summaries and writes the many-scene files.

Measured for the cluster run: its wall time; the workers' busy time per scene (Dask's task stream:
reading, classifying and writing, per task), hence patches per worker-second; and the client's own
time per scene: the CPU time of the thread that runs ``segment`` (submitting, gathering, printing,
the CSVs and the VRT mosaic); for comparison, the CPU time of the whole client process
(which here also runs the scheduler and Dask's communication), and that process's CPU per second
with the cluster up and idle (Dask's heartbeats and monitors: they grow with the wall time, not with
the scenes; measured for 10 s after the run). Then the round trip of an empty task, and the
estimate: 1,000 scenes on W workers take the longest of the workers' compute (1,000 x
worker-seconds per scene / W), the client's serial work (1,000 x its seconds per scene) and the
scheduler's (tasks x round trip), plus the start. The crossovers, where the client or the scheduler
becomes the limit: worker-seconds per scene x (1 - the idle share of a core) / client seconds per
scene, and worker-seconds per scene / scheduler seconds per task.

What 2 cores can and cannot show: in-process already uses both cores (LiteRT threads), and two
workers of one thread use the same two cores, so ``local:2`` cannot be faster here; the ratio shows
what the cluster costs. It does not show network or shared-storage costs of a real cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


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


def segment(run: str, scenes: list[Path], out: Path, patch: int, *extra: str) -> dict:
    """``landgui segment RUN SCENES --out OUT`` in this process: wall and this thread's CPU seconds."""
    from landgui.cli import main

    args = ["segment", run, *map(str, scenes), "--out", str(out), "--patch", str(patch), "--engine", "litert"]
    t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main([*args, "--quiet", *extra])
    wall, cpu, proc = time.perf_counter() - t0, time.thread_time() - c0, time.process_time() - p0
    if rc != 0:
        raise SystemExit(f"segment {' '.join(extra)} failed with exit status {rc}")
    return {"wall_s": wall, "thread_cpu_s": cpu, "process_cpu_s": proc}


def empty_task_round_trip(client, n: int = 200) -> float:
    """Seconds per empty task submitted and gathered (scheduler + messages, no work)."""
    client.gather(client.map(time.sleep, [0] * 20, pure=False))  # warm up
    t0 = time.perf_counter()
    client.gather(client.map(time.sleep, [0] * n, pure=False))
    return (time.perf_counter() - t0) / n


def busy_seconds(stream: list[dict]) -> list[float]:
    """Each landgui task's compute time on its worker, from Dask's task stream."""
    return [
        sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
        for t in stream
        if str(t["key"]).startswith("landgui-")
    ]


def estimate(worker_s: float, client_s: float, scheduler_s: float, start_s: float, tasks_per_scene: int = 1) -> dict:
    """Wall time of 1,000 scenes on 10 and 100 workers: the longest of the workers' compute, the
    client's serial work and the scheduler's, plus the start."""
    n, out = 1000, {}
    for w in (10, 100):
        compute, client, scheduler = n * worker_s / w, n * client_s, n * tasks_per_scene * scheduler_s
        out[w] = {
            "compute_s": round(compute, 1),
            "client_s": round(client, 1),
            "scheduler_s": round(scheduler, 1),
            "wall_s": round(max(compute, client, scheduler) + start_s, 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="default")
    ap.add_argument("--scenes", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "cluster.json"))
    args = ap.parse_args()

    from distributed import Client, get_task_stream

    from landgui.core.base import threads
    from landgui.core.inference.engine import litert_file
    from landgui.core.runs.folder import resolve_run
    from landgui.core.scenes.cluster import start_local_cluster, worker_threads

    run = str(resolve_run(args.run))
    litert_file(run)  # converted before timing, if it must be
    formats = default_formats()
    patches = args.scenes * (-(-args.size // args.patch)) ** 2
    with tempfile.TemporaryDirectory(prefix="landgui-bench-cluster-") as d:
        tmp = Path(d)
        scenes = [tmp / f"synthetic_{i:02d}.tif" for i in range(args.scenes)]
        for i, p in enumerate(scenes):
            make_scene(p, args.size, i)
        print(
            f"made {args.scenes} synthetic {args.size}x{args.size} px GeoTIFFs ({patches} patches of {args.patch} px)"
        )

        ip = segment(run, scenes, tmp / "in-process", args.patch)
        print(f"in-process: {ip['wall_s']:.1f} s, {patches / ip['wall_s']:.1f} patches/s")

        t = time.perf_counter()
        cluster = start_local_cluster(args.workers)
        client = Client(cluster)
        start_s = time.perf_counter() - t
        try:
            client.run(lambda: None)
            with get_task_stream(client) as ts:
                cl = segment(run, scenes, tmp / "cluster", args.patch, "--cluster", cluster.scheduler_address)
            busy = busy_seconds(ts.data)
            task_s = empty_task_round_trip(client)
            p0, t0 = time.process_time(), time.perf_counter()
            time.sleep(10)  # the client process idle, the cluster up: Dask's background CPU per second
            idle_rate = (time.process_time() - p0) / (time.perf_counter() - t0)
        finally:
            client.close()
            cluster.close()
        written = sorted(p.name for p in (tmp / "cluster").iterdir())
        assert written == sorted(p.name for p in (tmp / "in-process").iterdir()), "the two runs wrote other files"

    worker_s = sum(busy) / args.scenes
    client_s, client_raw_s = cl["thread_cpu_s"] / args.scenes, cl["process_cpu_s"] / args.scenes
    rate = patches / sum(busy)
    print(
        f"local:{args.workers}: {cl['wall_s']:.1f} s ({ip['wall_s'] / cl['wall_s']:.2f}x in-process; "
        f"+ {start_s:.1f} s to start the workers); {worker_s:.2f} worker-seconds per scene "
        f"({rate:.1f} patches per worker-second, reading, classifying and writing); client "
        f"{client_s * 1000:.1f} ms per scene (its thread; the whole client process, scheduler and Dask's "
        f"threads included, {client_raw_s * 1000:.1f} ms per scene in this run, {idle_rate * 1000:.0f} ms per "
        f"second when idle); empty task round trip {task_s * 1000:.2f} ms"
    )
    est = estimate(worker_s, client_s, task_s, start_s)
    crossover = worker_s * (1 - idle_rate) / max(1e-9, client_s)
    scheduler_limit = worker_s / max(1e-9, task_s)
    lines = [
        f"Estimate for 1,000 scenes of {args.size}x{args.size} px ({patches // args.scenes} patches of "
        f"{args.patch} px each, formats {','.join(formats)}), from this machine's rates: {worker_s:.2f} "
        f"worker-seconds per scene (one core, one LiteRT thread per worker), {client_s * 1000:.1f} ms "
        f"of the client per scene, {task_s * 1000:.1f} ms of scheduler per task."
    ]
    for w, e in est.items():
        lines.append(
            f"  {w} workers: compute {e['compute_s']:.0f} s, client {e['client_s']:.0f} s, "
            f"scheduler {e['scheduler_s']:.0f} s, all at once -> about {e['wall_s'] / 60:.1f} min"
        )
    lines.append(
        f"  The client becomes the limit beyond about {crossover:.0f} workers of this speed, the scheduler "
        f"beyond about {scheduler_limit:.0f}; larger scenes move both up in proportion."
    )
    text = "\n".join(lines)
    print(text)
    result = {
        "data": f"SYNTHETIC: {args.scenes} random land-cover GeoTIFFs of {args.size}x{args.size} px",
        "run": run,
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
        "patches": patches,
        "in_process": {k: round(v, 3) for k, v in ip.items()},
        "cluster": {**{k: round(v, 3) for k, v in cl.items()}, "start_s": round(start_s, 2)},
        "cluster_vs_in_process": round(ip["wall_s"] / cl["wall_s"], 3),
        "worker_s_per_scene": round(worker_s, 3),
        "patches_per_worker_s": round(rate, 1),
        "client_thread_s_per_scene": round(client_s, 4),
        "client_process_s_per_scene_this_run": round(client_raw_s, 4),
        "client_process_idle_cpu_s_per_s": round(idle_rate, 4),
        "empty_task_round_trip_ms": round(task_s * 1000, 3),
        "estimate_1000_scenes": est,
        "crossover_workers_client": round(crossover),
        "crossover_workers_scheduler": round(scheduler_limit),
        "estimate_text": text,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":  # guarded: Dask's worker processes start by spawn and import this module
    main()
