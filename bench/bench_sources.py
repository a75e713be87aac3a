"""Benchmark: training on several sources (issue 27).

One split of kaggle4 + nwpu45 (split seed 0, 70/15/15, stratified by class x source; cloud38 and
aid_cross are not in it): kaggle4's and nwpu45's train parts train, their val parts select (early
stopping on the validation loss), their test parts report. Then the run is evaluated on
``aid_cross`` (real AID scenes, another sensor: **evaluation only**, never used to train, tune or
select) and on all 15 ``cloud38`` patches (Landsat 8 clouds, never trained on).

    python bench/bench_sources.py --tag NAME --seed S [--no-balance] [--hold-out-source kaggle4|nwpu45]
        [--model scratch] [--sources kaggle4 nwpu45] [--backbone NAME] [--image-size PX]
    python bench/bench_sources.py --table TAG [TAG ...]      # mean and spread over the seeds run

Writes bench/out/sources/NAME-sS.json (every figure, per class and per source) and prints a row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from landgui.core.data.scan import scan_sources
from landgui.core.data.split import write_split
from landgui.core.evaluation.evaluate import evaluate_folder, evaluate_run, evaluate_source
from landgui.core.params import (
    DEFAULT_EPOCHS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_RESOLUTION,
    ModelSpec,
    SplitParams,
    TrainParams,
)
from landgui.core.training import trainer as T

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "patches"
OUT = Path(__file__).resolve().parent / "out" / "sources"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def the_split(sources: list[str]) -> Path:
    out = OUT / ("split-" + "+".join(sources))
    if not (out / "split.json").exists():
        write_split(scan_sources({s: str(SHARED / s) for s in sources}), out, SplitParams(seed=0))
    return out


def _brief(ev: dict) -> dict:
    keep = ("accuracy", "balanced_accuracy", "n_images", "per_source", "confusion_matrix", "row_labels", "labels")
    return {
        **{k: ev[k] for k in keep if k in ev},
        "recall": {c: v["recall"] for c, v in ev["per_class"].items()},
        "support": {c: v["support"] for c, v in ev["per_class"].items()},
    }


def run_one(args: argparse.Namespace) -> dict:
    split = the_split(args.sources)
    run = OUT / f"{args.tag}-s{args.seed}"
    spec = ModelSpec(
        model=args.model,
        image_size=args.image_size or DEFAULT_IMAGE_SIZE[args.model],
        resolution=DEFAULT_RESOLUTION[args.model],
    )
    if args.backbone:
        spec.backbone = args.backbone
    params = TrainParams(
        epochs=DEFAULT_EPOCHS[args.model],
        seed=args.seed,
        balance_sources=not args.no_balance,
        hold_out_source=args.hold_out_source,
        synthetic_clouds=args.synthetic_clouds,
    )
    if args.eval_only:
        old = json.loads((OUT / f"{args.tag}-s{args.seed}.json").read_text())
        seconds, epochs = old["train_seconds"], old["epochs_done"]
    else:
        t0 = time.perf_counter()
        res = T.train(split, run, spec, params, overwrite=True)
        seconds, epochs = time.perf_counter() - t0, res.epochs_done
    rec: dict = {
        "tag": args.tag,
        "seed": args.seed,
        "sources": args.sources,
        "model": args.model,
        "backbone": spec.backbone if args.model == "transfer" else None,
        "image_size": spec.image_size,
        "balance_sources": not args.no_balance,
        "hold_out_source": args.hold_out_source,
        "synthetic_clouds": args.synthetic_clouds,
        "train_seconds": round(seconds, 1),
        "epochs_done": epochs,
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "spec": asdict(spec),
        "val": _brief(evaluate_run(run, "val")),  # the selection data
        "test": _brief(evaluate_run(run, "test")),
        "aid_cross": _brief(evaluate_folder(run, SHARED / "aid_cross")),
        "cloud38": _brief(evaluate_folder(run, SHARED / "cloud38")),
    }
    if args.hold_out_source:
        rec["held_out"] = _brief(evaluate_source(run, args.hold_out_source))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.tag}-s{args.seed}.json").write_text(json.dumps(rec, indent=1))
    return rec


def _row(rec: dict) -> dict[str, float]:
    t = rec["test"]
    row = {
        "train s": rec["train_seconds"],
        "aid_cross": 100 * rec["aid_cross"]["accuracy"],
        **{f"aid {c}": 100 * v for c, v in rec["aid_cross"]["recall"].items()},
        "cloud38 /15": round(rec["cloud38"]["accuracy"] * rec["cloud38"]["n_images"]),
    }
    for name, ps in (t.get("per_source") or {}).items():
        row[f"{name} test"] = 100 * ps["accuracy"]
    if "val" in rec:  # the selection score: mean over sources of the validation accuracy
        per = rec["val"].get("per_source") or {"all": {"accuracy": rec["val"]["accuracy"]}}
        row["selection (val)"] = 100 * float(np.mean([ps["accuracy"] for ps in per.values()]))
    if "held_out" in rec:
        row[f"held-out {rec['hold_out_source']}"] = 100 * rec["held_out"]["accuracy"]
        for c, v in rec["held_out"]["recall"].items():
            row[f"held-out {c}"] = 100 * v
    return row


def table(tags: list[str]) -> None:
    for tag in tags:
        recs = [json.loads(p.read_text()) for p in sorted(OUT.glob(f"{tag}-s*.json"))]
        if not recs:
            print(f"{tag}: no runs")
            continue
        rows = [_row(r) for r in recs]
        what = f"{recs[0]['spec']['backbone']}, " if recs[0]["model"] == "transfer" else ""
        what += f"{recs[0]['spec']['image_size']} px, "
        print(f"\n{tag}: {what}seeds {[r['seed'] for r in recs]} ({recs[0]['machine']})")
        for k in rows[0]:
            vals = np.array([r.get(k, np.nan) for r in rows], float)
            each = ", ".join(f"{v:.1f}" for v in vals)
            print(
                f"  {k:<22} mean {np.nanmean(vals):7.2f}  spread (max-min) {np.nanmax(vals) - np.nanmin(vals):6.2f}  [{each}]"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tag")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="transfer", choices=["transfer", "scratch"])
    ap.add_argument("--sources", nargs="+", default=["kaggle4", "nwpu45"])
    ap.add_argument("--no-balance", action="store_true")
    ap.add_argument("--hold-out-source")
    ap.add_argument("--backbone", help="transfer backbone (default: landgui's, models.DEFAULT_BACKBONE)")
    ap.add_argument("--image-size", type=int, metavar="PX", help="input size (default: training's for the model)")
    ap.add_argument("--synthetic-clouds", type=float, default=0.0, help="TrainParams.synthetic_clouds")
    ap.add_argument("--table", nargs="+", metavar="TAG")
    ap.add_argument("--eval-only", action="store_true", help="re-evaluate an existing run")
    args = ap.parse_args()
    if args.table:
        table(args.table)
        return
    rec = run_one(args)
    print(json.dumps({k: round(v, 2) for k, v in _row(rec).items()}))


if __name__ == "__main__":
    main()
