"""Benchmark: the LiteRT engine against Keras on a trained run, and a full-integer trial.

    python bench/bench_engine.py RUN_DIR [--seconds 8] [--int8] [--aid]

1. Agreement on the run's kaggle4 test split: argmax identical (share) and max |p_keras - p_litert|.
2. The network alone on a batch of real test patches at the model's input size: Keras
   ``tf.function`` at batch 64 (the naive baseline) against the LiteRT interpreter (XNNPACK) at
   1 and 2 threads and batch 16 / 64 / 256, patches/s, all in this one process.
3. ``--int8``: full-integer quantization (float input/output, int8 inside) calibrated on 256
   training patches; accuracy on kaggle4 test (and aid_cross with ``--aid``: evaluation only,
   never used to choose) and speed, against the float LiteRT file.
Prints JSON and writes bench/out/engine-<run name>.json.
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

from landgui.core.data import images as D
from landgui.core.data.split import load_split
from landgui.core.inference import engine as E
from landgui.core.runs.folder import read_run

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches"


def rate(fn, batch: np.ndarray, seconds: float) -> float:
    fn(batch)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(batch)
        n += len(batch)
    return round(n / (time.perf_counter() - t0), 1)


def predict_all(fn, images: np.ndarray, batch: int = 64) -> np.ndarray:
    return np.concatenate([fn(images[i : i + batch].astype(np.float32)) for i in range(0, len(images), batch)])


def aid_images(labels: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    from landgui.core.data.scan import scan_dataset

    scan = scan_dataset(SHARED / "aid_cross")
    recs = [r for r in scan.images if r.label in labels]
    imgs = D.decode_all([str(Path(scan.root) / r.path) for r in recs], size)
    return imgs, np.array([labels.index(r.label) for r in recs])


def int8_file(run_dir: Path, calib: np.ndarray, out: Path) -> None:
    import tensorflow as tf

    from landgui.core.models.build import load_run

    model = load_run(run_dir).model
    sm = Path(tempfile.mkdtemp(prefix="landgui-sm-"))
    model.export(str(sm), format="tf_saved_model", verbose=False)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(sm))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calib[i : i + 1].astype(np.float32)] for i in range(len(calib)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    out.write_bytes(conv.convert())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--int8", action="store_true")
    ap.add_argument("--aid", action="store_true", help="also report aid_cross accuracy (evaluation only)")
    args = ap.parse_args()
    run_dir = Path(args.run)
    meta = read_run(run_dir)
    labels, size = meta.labels, meta.image_size
    manifest = load_split(meta.config["split"])
    test, _ = D.split_files(manifest, "test", labels)
    x_test = D.decode_all(test.paths, size)
    res: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cores", "run": str(run_dir), "input": size}

    keras_p = E.load_predictor(run_dir, "keras")
    t0 = time.perf_counter()
    E.litert_file(run_dir)
    res["litert_file_s"] = round(time.perf_counter() - t0, 1)
    res["litert_file_mb"] = round((run_dir / E.LITERT_FILE).stat().st_size / 1e6, 1)
    lite = E.load_predictor(run_dir, "litert", n_threads=2)
    pk, pl = predict_all(keras_p, x_test), predict_all(lite, x_test)
    res["agreement"] = {
        "test_images": len(x_test),
        "argmax_identical": round(float((pk.argmax(1) == pl.argmax(1)).mean()), 5),
        "max_abs_prob_diff": float(np.abs(pk - pl).max()),
        "test_accuracy_keras": round(float((pk.argmax(1) == test.labels).mean()), 4),
        "test_accuracy_litert": round(float((pl.argmax(1) == test.labels).mean()), 4),
    }

    speed = {}
    b64 = x_test[:64].astype(np.float32)
    speed["keras_tf_function_b64"] = rate(keras_p, b64, args.seconds)
    for threads in (1, 2):
        p = E.load_predictor(run_dir, "litert", n_threads=threads)
        for b in (16, 64, 256):
            batch = np.resize(x_test, (b, size, size, 3)).astype(np.float32)
            speed[f"litert_{threads}t_b{b}"] = rate(p, batch, args.seconds)
    speed["litert_vs_keras"] = round(speed["litert_2t_b64"] / speed["keras_tf_function_b64"], 2)
    res["network_patches_per_s"] = speed

    if args.int8:
        train, _ = D.split_files(manifest, "train", labels)
        rng = np.random.default_rng(0)
        calib = D.decode_all([train.paths[i] for i in rng.permutation(len(train.paths))[:256]], size)
        q = Path(tempfile.mkdtemp(prefix="landgui-int8-")) / "model-int8.tflite"
        int8_file(run_dir, calib, q)
        qp = E.LiteRTPredictor(q, run_dir, labels, size, 2)
        pq = predict_all(qp, x_test)
        res["int8"] = {
            "file_mb": round(q.stat().st_size / 1e6, 1),
            "test_accuracy": round(float((pq.argmax(1) == test.labels).mean()), 4),
            "patches_per_s_2t_b64": rate(qp, b64, args.seconds),
        }
        if args.aid:
            xa, ya = aid_images(labels, size)
            res["int8"]["aid_cross_accuracy"] = round(float((predict_all(qp, xa).argmax(1) == ya).mean()), 4)
            res["aid_cross_accuracy_float_litert"] = round(float((predict_all(lite, xa).argmax(1) == ya).mean()), 4)
    print(json.dumps(res, indent=2))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / f"engine-{run_dir.name}.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
