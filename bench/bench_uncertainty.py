"""Benchmark: choosing the default "uncertain" threshold from kaggle4's validation split only.

    python bench/bench_uncertainty.py RUN_DIR [--split-dir bench/out/split]

For thresholds t, on the validation split as it is and under the fixed sensor shift of
bench_robust.py: the share of patches flagged uncertain (top probability < t), the accuracy of the
kept patches, and the accuracy of the flagged ones. aid_cross is printed for information only
(it never picks the threshold). Writes bench/out/uncertainty-<run name>.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from bench_robust import SHARED, shift_batch

from landgui.core.data import images as D
from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import load_split
from landgui.core.inference.predictors import predict_images
from landgui.core.models.build import load_run

THRESHOLDS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def table(probs: np.ndarray, y: np.ndarray) -> list[dict]:
    conf, pred = probs.max(1), probs.argmax(1)
    rows = []
    for t in THRESHOLDS:
        unsure = conf < t
        kept = ~unsure
        rows.append(
            {
                "threshold": t,
                "flagged": round(float(unsure.mean()), 4),
                "kept_accuracy": round(float((pred[kept] == y[kept]).mean()), 4) if kept.any() else None,
                "flagged_accuracy": round(float((pred[unsure] == y[unsure]).mean()), 4) if unsure.any() else None,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--split-dir", default="bench/out/split")
    args = ap.parse_args()
    run = load_run(args.run)
    files, _ = D.split_files(load_split(args.split_dir), "val", run.labels)
    val = D.decode_all(files.paths, run.image_size)
    out = {
        "val": table(predict_images(run.model, val), files.labels),
        "val_shifted": table(predict_images(run.model, shift_batch(val)), files.labels),
    }
    scan = scan_dataset(SHARED / "aid_cross")
    aid = D.decode_all([str(Path(scan.root) / r.path) for r in scan.images], run.image_size)
    y = np.array([run.labels.index(r.label) for r in scan.images])
    out["aid_cross_information_only"] = table(predict_images(run.model, aid), y)
    for k, rows in out.items():
        print(k)
        for r in rows:
            print(
                f"  t={r['threshold']:.2f} flagged {r['flagged']:.2%} kept acc {r['kept_accuracy']} flagged acc {r['flagged_accuracy']}"
            )
    Path(f"bench/out/uncertainty-{Path(args.run).name}.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
