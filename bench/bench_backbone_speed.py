"""Benchmark: mapping speed of trained runs on different backbones, in one process (issue 27, item 3).

    python bench/bench_backbone_speed.py RUN_DIR [RUN_DIR ...] [--seconds 5] [--rounds 3] [--no-scene]

For each run (its own ``model.tflite``, the LiteRT engine that maps scenes):

1. the network alone: patches/s on a batch of 64 real validation patches at the run's input size,
   at 1 and 2 threads;
2. end to end on the Blue Marble demo scene (5400 x 2700 px, 64 px patches: read + tile + infer,
   no export), patches/s, with the predictor loaded beforehand as the GUI keeps it.

The runs are measured in turns (round 1: every run, round 2: every run, ...) and the median of
the rounds is reported, so a slow spell of the machine hits every backbone alike. Prints JSON
and writes bench/out/backbone-speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from landgui.core.data import images as D
from landgui.core.data.split import load_split
from landgui.core.inference import engine as E
from landgui.core.runs.folder import read_run


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def rate(fn, batch: np.ndarray, seconds: float) -> float:
    """Patches/s of ``fn`` on ``batch`` over about ``seconds`` (after one warm-up call)."""
    fn(batch)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(batch)
        n += len(batch)
    return n / (time.perf_counter() - t0)


def scene_rate(pred, scene_path: Path) -> float:
    """Patches/s of read + tile + infer over the demo scene (64 px patches, no export)."""
    from landgui.core.scenes import classify_scene, open_scene

    t0 = time.perf_counter()
    sc = open_scene(scene_path)
    try:
        res = classify_scene(pred, pred.labels, pred.image_size, sc, patch=64)
    finally:
        sc.close()
    return res.grid.n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-scene", action="store_true", help="skip the end-to-end demo scene")
    args = ap.parse_args()
    runs = [Path(r) for r in args.runs]
    setups = {}
    for run in runs:
        meta = read_run(run)
        val, _ = D.split_files(load_split(meta.config["split"]), "val", meta.labels)
        batch = D.decode_all(val.paths[:64], meta.image_size).astype(np.float32)
        preds = {t: E.load_predictor(run, "litert", n_threads=t) for t in (1, 2)}
        setups[run] = (meta, batch, preds)
    scene = None
    if not args.no_scene:
        from landgui.core.scenes import demo_scene_path

        scene = demo_scene_path()
    samples: dict[str, dict[str, list[float]]] = {str(r): {} for r in runs}
    for _ in range(args.rounds):
        for run, (_, batch, preds) in setups.items():
            s = samples[str(run)]
            for t, p in preds.items():
                s.setdefault(f"network_{t}t_b64", []).append(rate(p, batch, args.seconds))
            if scene is not None:
                s.setdefault("scene_2t", []).append(scene_rate(preds[2], scene))
    res: dict = {"machine": f"{cpu_model()}, {os.cpu_count()} cores", "rounds": args.rounds, "runs": {}}
    for run, (meta, _, _) in setups.items():
        res["runs"][str(run)] = {
            "backbone": (meta.config.get("model") or {}).get("backbone"),
            "image_size": meta.image_size,
            "litert_file_mb": round((run / E.LITERT_FILE).stat().st_size / 1e6, 1),
            **{k: round(float(np.median(v)), 1) for k, v in samples[str(run)].items()},
            "samples": {k: [round(x, 1) for x in v] for k, v in samples[str(run)].items()},
        }
    print(json.dumps(res, indent=1))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "backbone-speed.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
