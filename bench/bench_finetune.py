"""Learning curve of "teach it your scene": k labelled patches per class from another sensor.

    .venv/bin/python bench/bench_finetune.py [--parent RUN] [--draws 5] [--out bench/out/finetune-curve.json]

The parent is the default recipe trained on kaggle4 (``bench/out/build-default/run``, made by
``tools/build_default_model.py``: the shipped model, with its training split on this machine).
aid_cross (another sensor) is split in two halves, stratified, with a fixed seed: k = 0, 5, 10,
20 patches per class are drawn from half A (``--draws`` seeded draws per k) and given to the same
code as ``landgui finetune`` (landgui.core.training.finetune: corrections with 4 augmented views, weight
10, plus 250 of the parent's training images per class, 40 head epochs); accuracy is measured on
half B (never drawn from) per class, and on kaggle4's test split, which the fine-tune must not
forget. k = 0 is the parent unchanged. Features come from the frozen backbone, so the fine-tuned
model's probabilities are the head's on them (one draw is re-checked end to end with the CLI:
``landgui finetune`` + ``landgui evaluate --data``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "patches"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parent", default=str(ROOT / "bench" / "out" / "build-default" / "run"))
    ap.add_argument("--aid", default=str(DATA / "aid_cross"))
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--ks", default="0,5,10,20")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "finetune-curve.json"))
    ap.add_argument("--no-cli-check", action="store_true")
    args = ap.parse_args()

    from landgui.core.data import images as D
    from landgui.core.data.split import load_split
    from landgui.core.inference import engine as E
    from landgui.core.inference.features import extract_features, features_with_views
    from landgui.core.models.head import train_head
    from landgui.core.params import CORRECTION_WEIGHT, FINETUNE_EPOCHS, REPLAY_PER_CLASS, TrainParams
    from landgui.core.runs.folder import read_run
    from landgui.core.training import finetune as F
    from landgui.core.training.recipes import augment_recipe

    meta = read_run(args.parent)
    labels, size = meta.labels, meta.image_size
    # the product's path: features from the parent's LiteRT backbone, the head trained in NumPy
    pred = E.load_predictor(args.parent, "litert")
    assert pred.has_features, "the parent's LiteRT file has no features output"
    extract, head = pred.features, pred.head
    recipe = augment_recipe(TrainParams.from_dict(meta.config["params"]))
    t = time.perf_counter()
    aid_paths, aid_y = F.labelled_files(args.aid, labels)
    test, _ = D.split_files(load_split(meta.config["split"]), "test", labels)
    rpaths, ry, source = F.replay_files(meta, REPLAY_PER_CLASS, 0)
    f_aid = extract_features(extract, aid_paths, size=size)
    f_test = extract_features(extract, test.paths, size=size)
    f_rep = extract_features(extract, rpaths, size=size)
    print(f"features of {len(aid_paths)} + {len(test.paths)} + {len(rpaths)} images: {time.perf_counter() - t:.1f} s")

    # halves of aid_cross: stratified, fixed seed
    rng = np.random.default_rng(12345)
    half_a, half_b = [], []
    for k in np.unique(aid_y):
        idx = rng.permutation(np.nonzero(aid_y == k)[0])
        half_a += idx[: len(idx) // 2].tolist()
        half_b += idx[len(idx) // 2 :].tolist()
    half_a, half_b = np.array(sorted(half_a)), np.array(sorted(half_b))
    present = sorted(set(aid_y.tolist()))

    def scores(h) -> dict:
        pb = h(f_aid[half_b]).argmax(1)
        yb = aid_y[half_b]
        pt = h(f_test).argmax(1)
        return {
            "aid_half_b": float((pb == yb).mean()),
            "aid_per_class": {labels[c]: float((pb[yb == c] == c).mean()) for c in present},
            "kaggle4_test": float((pt == test.labels).mean()),
        }

    rows = []
    base = scores(head)
    rows.append({"k": 0, "draw": 0, **base, "seconds": 0.0})
    print(
        f"k=0 (parent): aid half B {base['aid_half_b']:.4f} {base['aid_per_class']} kaggle4 {base['kaggle4_test']:.4f}"
    )
    views = F.CORRECTION_VIEWS
    for k in [int(v) for v in args.ks.split(",") if int(v) > 0]:
        for d in range(args.draws):
            r = np.random.default_rng(1000 * k + d)
            pick = np.concatenate([r.choice(half_a[aid_y[half_a] == c], k, replace=False) for c in present])
            t = time.perf_counter()
            picked = [aid_paths[i] for i in pick]
            fc = features_with_views(extract, picked, size=size, views=views, recipe=recipe, seed=d)
            x = np.concatenate([f_rep, fc])
            y = np.concatenate([ry, np.tile(aid_y[pick], 1 + views)])
            w = np.concatenate(
                [np.ones(len(f_rep), np.float32), np.full(len(fc), CORRECTION_WEIGHT / (1 + views), np.float32)]
            )
            new, _ = train_head(head, x, y, w, epochs=FINETUNE_EPOCHS, seed=d)
            secs = time.perf_counter() - t
            s = scores(new)
            rows.append({"k": k, "draw": d, **s, "seconds": round(secs, 2), "picked": [aid_paths[i] for i in pick]})
            print(
                f"k={k} draw {d}: aid half B {s['aid_half_b']:.4f} {s['aid_per_class']} kaggle4 {s['kaggle4_test']:.4f} ({secs:.1f} s)"
            )

    summary = []
    for k in sorted({r["k"] for r in rows}):
        rs = [r for r in rows if r["k"] == k]
        acc = np.array([r["aid_half_b"] for r in rs])
        kt = np.array([r["kaggle4_test"] for r in rs])
        summary.append(
            {
                "k": k,
                "draws": len(rs),
                "aid_half_b_mean": float(acc.mean()),
                "aid_half_b_min": float(acc.min()),
                "aid_half_b_max": float(acc.max()),
                "per_class_mean": {
                    labels[c]: float(np.mean([r["aid_per_class"][labels[c]] for r in rs])) for c in present
                },
                "kaggle4_test_mean": float(kt.mean()),
                "kaggle4_test_min": float(kt.min()),
                "seconds_mean": float(np.mean([r["seconds"] for r in rs])),
            }
        )
    print(
        "\nk  draws  aid half B mean [min, max]  "
        + "  ".join(labels[c] for c in present)
        + "  kaggle4 test mean [min]  s"
    )
    for s in summary:
        pc = "  ".join(f"{s['per_class_mean'][labels[c]]:.3f}" for c in present)
        print(
            f"{s['k']:<2} {s['draws']:>5}  {s['aid_half_b_mean']:.4f} [{s['aid_half_b_min']:.4f}, {s['aid_half_b_max']:.4f}]"
            f"  {pc}  {s['kaggle4_test_mean']:.4f} [{s['kaggle4_test_min']:.4f}]  {s['seconds_mean']:.1f}"
        )

    cli = None
    if not args.no_cli_check:  # one draw end to end through the CLI, timed as a user would see it
        draw = next(r for r in rows if r["k"] == 10 and r["draw"] == 0)
        with tempfile.TemporaryDirectory() as tmp:
            tmp_p = Path(tmp)
            for p in draw["picked"]:
                dst = tmp_p / "corrections" / Path(p).parent.name / Path(p).name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(p, dst)
            for i in half_b:
                dst = tmp_p / "half_b" / Path(aid_paths[i]).parent.name / Path(aid_paths[i]).name
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(aid_paths[i], dst)
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            lg = [sys.executable, "-m", "landgui"]
            t = time.perf_counter()
            subprocess.run(
                [
                    *lg,
                    "finetune",
                    args.parent,
                    "--add",
                    str(tmp_p / "corrections"),
                    "--out",
                    str(tmp_p / "new"),
                    "--quiet",
                ],
                check=True,
                env=env,
            )
            ft_s = time.perf_counter() - t
            ev = subprocess.run(
                [*lg, "evaluate", str(tmp_p / "new"), "--data", str(tmp_p / "half_b"), "--ignore-unknown", "--json"],
                check=True,
                env=env,
                capture_output=True,
                text=True,
            )
            acc = json.loads(ev.stdout)["accuracy"]
            cli = {
                "finetune_cli_seconds": round(ft_s, 1),
                "evaluate_half_b_accuracy": acc,
                "bench_same_draw": draw["aid_half_b"],
            }
            print(
                f"\nCLI check (k=10, draw 0): landgui finetune {ft_s:.1f} s; evaluate --data half B {acc:.4f} "
                f"(features path {draw['aid_half_b']:.4f})"
            )

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "parent": args.parent,
                "replay_source": source,
                "half_a": len(half_a),
                "half_b": len(half_b),
                "summary": summary,
                "rows": rows,
                "cli_check": cli,
                "cpus": len(os.sched_getaffinity(0)),
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
