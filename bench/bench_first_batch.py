"""Benchmark: time from a cold process start to the first classified batch, per engine.

    python bench/bench_first_batch.py RUN_DIR [--repeat 3]

Each measurement is a fresh Python process that imports landgui, loads the run with the engine
(LiteRT file already converted) and classifies one batch of 64 patches; the wall time from the
process start is reported (median of --repeat), with whether TensorFlow was imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CHILD = """
import sys, time, numpy as np
from landgui.core.inference.engine import load_predictor
p = load_predictor(sys.argv[1], sys.argv[2])
p(np.zeros((64, p.image_size, p.image_size, 3), np.float32))
print("TF" if "tensorflow" in sys.modules else "noTF")
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    out = {}
    for engine in ("litert", "keras"):
        times, tf = [], ""
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            r = subprocess.run(
                [sys.executable, "-c", CHILD, args.run, engine], capture_output=True, text=True, check=True
            )
            times.append(time.perf_counter() - t0)
            tf = r.stdout.strip().splitlines()[-1]
        out[engine] = {"first_batch_s_median": round(statistics.median(times), 2), "tensorflow_imported": tf == "TF"}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
