"""Benchmark: every engine and precision on one run, network alone and whole ``segment`` (issue 28).

    python bench/bench_engines.py [--seconds 6] [--split DIR]

For the shipped model (or ``--run``), in one process on this machine:
1. The guard's figures for each engine against float32 LiteRT on the validation part of the
   model's split (kaggle4 + nwpu45, seed 0: rebuilt as tools/guard_default_model.py does):
   argmax agreement and accuracy per source; aid_cross accuracy is reported, never used to choose.
2. The network alone on a batch of 64 validation patches: Keras ``tf.function`` (the naive
   baseline), LiteRT, OpenVINO float32, OpenVINO bfloat16 with the guarded float32 stem, and the
   whole network in bfloat16 (what the guard refuses), patches/s.
3. The whole ``segment`` of the demo scene (services.map_scene, default settings) per engine.
Prints JSON and writes bench/out/engines.json. Say in the docs whether the machine was idle.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from bench_engine import predict_all, rate  # the same timing loop as the LiteRT bench

from landgui.core import services
from landgui.core.base import threads
from landgui.core.data.images import load_resized
from landgui.core.data.scan import scan_dataset, scan_sources
from landgui.core.data.split import write_split
from landgui.core.inference import engine as E
from landgui.core.inference import guard
from landgui.core.inference import openvino_engine as OV
from landgui.core.params import MapSettings, SplitParams
from landgui.core.runs.folder import read_run, shipped_run_dir
from landgui.core.scenes.io import demo_scene_path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "patches"


class WholeBF16(OV.OpenVINOPredictor):
    """The whole network in bfloat16 (no float32 stem): what the guard refuses, for the table."""

    def __init__(self, lite):
        super().__init__(lite.path, lite.run_dir, lite.labels, lite.image_size, lite.n_threads, lite.head)
        compiled = OV._compile(OV._core().read_model(str(lite.path)), "bf16", lite.n_threads)
        self._requests = [(compiled, compiled.create_infer_request())]
        self.engine = "openvino bf16 (whole network)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=str(shipped_run_dir()))
    ap.add_argument("--split", default=str(ROOT / "bench" / "out" / "guard-default" / "split"))
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    threads.configure()
    split = Path(args.split)
    if not (split / "split.json").is_file():
        write_split(scan_sources({n: str(DATA / n) for n in ("kaggle4", "nwpu45")}), split, SplitParams(seed=0))
    info = read_run(args.run)
    val = guard.validation_set({"split": str(split)}, info.labels, info.image_size)
    aid = scan_dataset(DATA / "aid_cross")
    root = Path(aid.root)
    aid_x = np.stack([load_resized(root / r.path, info.image_size) for r in aid.images]).astype(np.float32)
    aid_y = np.array([info.labels.index(r.label) for r in aid.images])
    lite = E.load_predictor(info.run_dir, "litert")
    keras = E.load_predictor(info.run_dir, "keras")
    cut = guard.chosen_cut(lite.path)
    engines = {"keras": keras, "litert": lite, "openvino": E.load_predictor(info.run_dir, "openvino")}
    if cut is not None:
        engines["openvino-bf16"] = E.load_predictor(info.run_dir, "openvino-bf16")
    if OV.native_bf16():
        engines["openvino bf16 whole"] = WholeBF16(lite)
    ref = predict_all(lite, val.images)
    batch = val.images[:64]
    rows = {}
    for name, p in engines.items():
        probs = predict_all(p, val.images)
        g = guard.check(ref, probs, val, name, getattr(p, "cut", None))
        aid_acc = float(np.mean(predict_all(p, aid_x).argmax(1) == aid_y) * 100)
        rows[name] = {
            "network_patches_per_s": rate(p, batch, args.seconds),
            "agreement_vs_litert_f32": g.agreement,
            "val_accuracy_by_source": g.accuracy,
            "guard_passed": g.passed,
            "aid_cross_accuracy": round(aid_acc, 2),
        }
        print(name, rows[name], flush=True)
    scene = demo_scene_path()
    for name, p in engines.items():
        services.map_scene(info.run_dir, scene, MapSettings(), model=p)  # warm-up
        t = time.perf_counter()
        res = services.map_scene(info.run_dir, scene, MapSettings(), model=p)
        rows[name]["segment_s"] = round(time.perf_counter() - t, 2)
        rows[name]["segment_patches_per_s"] = round(res.grid.n / (time.perf_counter() - t), 1)
        print(name, "segment", rows[name]["segment_s"], flush=True)
    base = rows["keras"]
    for r in rows.values():
        r["network_vs_keras"] = round(r["network_patches_per_s"] / base["network_patches_per_s"], 2)
        r["segment_vs_keras"] = round(base["segment_s"] / r["segment_s"], 2)
    out = {
        "machine": OV.cpu_name(),
        "platform": platform.platform(),
        "cores": threads.available_cores(),
        "guard_cut": cut,
        "validation_images": len(val.truth),
        "aid_cross_images": len(aid_y),
        "rows": rows,
    }
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "engines.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
