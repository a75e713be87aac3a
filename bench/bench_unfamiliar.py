"""Benchmark: how well the unfamiliarity score flags wrong answers (issue 27, item 6).

For a transfer run (default: the multi-source run of bench_sources.py, seed 0), the LiteRT
backbone (the engine mapping uses) gives every image's features and probabilities; the score is
``landgui.core.inference.familiarity`` with the run's own familiarity.npz (built here from the run's
train/val parts with the same backbone if the run predates the file). Reported: AUROC of
"the answer is wrong" against ``unfamiliar`` and, for comparison, against 1 - confidence, and the
share of images flagged (unfamiliar > 0.99) among right and wrong answers, on:

* ``aid_cross`` (evaluation only; never used to choose anything),
* nwpu45's held-out test part and kaggle4's test part (the run's split),
* all 15 cloud38 patches.

    python bench/bench_unfamiliar.py [--run bench/out/sources/ms-balanced-s0]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from landgui.core.data import images as D
from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import load_split
from landgui.core.inference.engine import load_predictor
from landgui.core.inference.familiarity import UNFAMILIAR_ABOVE, Familiarity
from landgui.core.runs.folder import read_run

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[0].parent / "shared" / "data" / "patches"


def _predict(pred, paths: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    probs, feats = [], []
    for s in range(0, len(paths), 64):
        batch = D.decode_all(paths[s : s + 64], size).astype(np.float32)
        p, f = pred.predict_with_features(batch)
        probs.append(p)
        feats.append(f)
    return np.concatenate(probs), np.concatenate(feats)


def _folder(root: Path, labels: list[str]) -> tuple[list[str], np.ndarray]:
    scan = scan_dataset(root)
    recs = [r for r in scan.images if r.label in labels]
    return [str(Path(scan.root) / r.path) for r in recs], np.array([labels.index(r.label) for r in recs])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=str(HERE / "out" / "sources" / "ms-balanced-s0"))
    args = ap.parse_args()
    run = read_run(args.run)
    pred = load_predictor(args.run, "litert")
    manifest = load_split(run.config["split"])
    fam = Familiarity.load(args.run)
    built_here = fam is None
    if fam is None:
        tr, _ = D.split_files(manifest, "train", run.labels)
        va, _ = D.split_files(manifest, "val", run.labels)
        fam = Familiarity.build(
            _predict(pred, tr.paths, run.image_size)[1], _predict(pred, va.paths, run.image_size)[1], seed=0
        )
    sets = {}
    for src in ("kaggle4", "nwpu45"):
        f, _ = D.split_files(manifest, "test", run.labels, only_source=src)
        sets[f"{src} test"] = (f.paths, f.labels)
    sets["aid_cross"] = _folder(SHARED / "aid_cross", run.labels)
    sets["cloud38"] = _folder(SHARED / "cloud38", run.labels)
    out = {"run": args.run, "familiarity_built_by_bench": built_here, "sets": {}}
    print(
        f"{'data':<14} {'n':>5} {'wrong':>6} {'AUROC unfam':>12} {'AUROC 1-conf':>13} {'flagged right':>14} {'flagged wrong':>14} {'mean unfam':>11}"
    )
    for name, (paths, y) in sets.items():
        probs, feats = _predict(pred, paths, run.image_size)
        u = fam.score(feats)
        wrong = probs.argmax(1) != y
        flagged = u > UNFAMILIAR_ABOVE
        both = 0 < wrong.sum() < len(wrong)
        rec = {
            "n": len(y),
            "wrong": int(wrong.sum()),
            "auroc_unfamiliar": float(roc_auc_score(wrong, u)) if both else None,
            "auroc_one_minus_confidence": float(roc_auc_score(wrong, 1 - probs.max(1))) if both else None,
            "flagged_share_right": float(flagged[~wrong].mean()) if (~wrong).any() else None,
            "flagged_share_wrong": float(flagged[wrong].mean()) if wrong.any() else None,
            "mean_unfamiliar": float(u.mean()),
            "flagged_share": float(flagged.mean()),
        }
        out["sets"][name] = rec

        def f(v, pct=False):
            return "-" if v is None else (f"{100 * v:.1f} %" if pct else f"{v:.3f}")

        print(
            f"{name:<14} {rec['n']:>5} {rec['wrong']:>6} {f(rec['auroc_unfamiliar']):>12} "
            f"{f(rec['auroc_one_minus_confidence']):>13} {f(rec['flagged_share_right'], True):>14} "
            f"{f(rec['flagged_share_wrong'], True):>14} {rec['mean_unfamiliar']:>11.3f}"
        )
    (HERE / "out" / "sources").mkdir(parents=True, exist_ok=True)
    (HERE / "out" / "sources" / f"unfamiliar-{Path(args.run).name}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
