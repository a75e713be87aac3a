"""Run the reduced-precision guard for the shipped model and write its record into the resources.

The shipped model's split is not shipped, so the guard that a user's run gets on first use
(landgui.core.inference.guard) is run here, once, on the validation part of the split the model
was trained on (kaggle4 + nwpu45, seed 0, 70/15/15: the recipe of tools/build_default_model.py),
and its ``model.fast.json`` is shipped beside ``model.tflite``. aid_cross is not used.

    .venv/bin/python tools/guard_default_model.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from landgui.core.base import threads  # noqa: E402
from landgui.core.data.scan import scan_sources  # noqa: E402
from landgui.core.data.split import write_split  # noqa: E402
from landgui.core.inference import engine, guard  # noqa: E402
from landgui.core.params import SplitParams  # noqa: E402
from landgui.core.runs.folder import read_run, shipped_run_dir  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "patches"


def main() -> None:
    work = ROOT / "bench" / "out" / "guard-default"
    split_dir = work / "split"
    if not (split_dir / "split.json").is_file():
        sources = {name: str(DATA / name) for name in ("kaggle4", "nwpu45")}
        write_split(scan_sources(sources), split_dir, SplitParams(val=0.15, test=0.15, seed=0))
    info = read_run(shipped_run_dir())
    threads.configure()
    lite = engine.load_predictor(info.run_dir, "litert")
    val = guard.validation_set({"split": str(split_dir)}, info.labels, info.image_size)
    record = guard.make_fast_model(lite, val, lambda text, i, n: print(f"{text} {i}/{n}", flush=True))
    print(json.dumps({k: record[k] for k in ("images", "chosen", "skipped") if k in record}, indent=1))
    for t in record["tried"]:
        print(t["cut"], t["agreement"], t["accuracy"], t["passed"], t["reason"])


if __name__ == "__main__":
    main()
