"""Build the sample dataset that ships with landgui: 60 kaggle4 patches per class, chosen with a
fixed seed, copied byte for byte into landgui/resources/sample/landcover4-sample/.

    python tools/build_sample_dataset.py [--per-class 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from landgui.core.data.sample import sample_dataset_dir  # noqa: E402

KAGGLE4 = ROOT.parent / "shared" / "data" / "patches" / "kaggle4"

README = """landcover4 sample: {n} images per class ({total} in all), chosen at random (seed {seed}) by
tools/build_sample_dataset.py from kaggle4, copied byte for byte.

Source: Kaggle "Satellite Image Classification" by Mahmoud Reda
(mahmoudreda55/satellite-image-classification), via github.com/ionutoprisiu/satellite-image-classification
(commit e9946c0). cloudy and desert are 256 px JPEGs (cloudy ones are CMYK), green_area and water
are 64 px EuroSAT tiles ("Forest", "SeaLake"; Sentinel-2). No licence is stated by the source
repository; check the Kaggle page before redistributing. For learning landgui only: the shipped
model was trained on the full kaggle4, and a model trained on this sample is a toy.
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    dest = sample_dataset_dir()
    if dest.exists():
        shutil.rmtree(dest)  # the package's own build output, rebuilt from scratch
    rng = random.Random(args.seed)
    total = 0
    for cls in sorted(p.name for p in KAGGLE4.iterdir() if p.is_dir()):
        files = sorted(p for p in (KAGGLE4 / cls).iterdir() if p.suffix.lower() == ".jpg")
        (dest / cls).mkdir(parents=True)
        for f in rng.sample(files, args.per_class):
            shutil.copy2(f, dest / cls / f.name)
            total += 1
    (dest / "README.txt").write_text(README.format(n=args.per_class, total=total, seed=args.seed))
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    print(f"{total} images, {size / 1e6:.1f} MB in {dest}")


if __name__ == "__main__":
    main()
