"""Benchmark: the same measurements on two source trees of landgui, alternated in one run, so that
a restructuring (issue 22, "the house") can show that speed and answers did not change.

    python bench/bench_before_after.py OLD_TREE NEW_TREE [--rounds 2] [--size 4000] [--naive 1024]

Each tree is a checkout of landgui (e.g. ``git worktree add /tmp/old f0d7a26``); its own
``bench/bench_segment.py`` runs with ``PYTHONPATH=TREE``, so each measures its own code with the
same Python environment. Per round and tree: the end-to-end ``segment`` throughput of the shipped
model on the Blue Marble demo resampled to SIZE x SIZE (real imagery, resampled) with the LiteRT and
Keras engines and the naive Keras loop of the same run, then the shipped model's evaluation on the
aid_cross and nwpu45 folders (../shared/data/patches; aid_cross is evaluated on, never trained
or tuned on), whose accuracy must be identical. Speed is reported as each tree's ratio to the
naive loop measured in the same process, and the new/old ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "patches"

EVALUATE = """
import json, sys
try:
    from landgui.core.evaluation.evaluate import evaluate_folder
except ImportError:
    from landgui.core.evaluation import evaluate_folder
r = evaluate_folder("default", sys.argv[1], write=False, ignore_unknown=True)
print(json.dumps({"accuracy": r["accuracy"], "balanced_accuracy": r["balanced_accuracy"],
                  "per_class_recall": {k: round(v["recall"], 4) for k, v in r["per_class"].items()}}))
"""


def run(tree: Path, args: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, check=False)
    if r.returncode:
        raise SystemExit(f"{tree}: {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return r.stdout


def segment(tree: Path, size: int, naive: int) -> dict:
    out = run(tree, ["bench/bench_segment.py", "default", "--size", str(size), "--naive", str(naive)])
    return json.loads(out[out.index("{") :])


def evaluate(tree: Path, folder: Path) -> dict:
    return json.loads(run(tree, ["-c", EVALUATE, str(folder)]).strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--naive", type=int, default=1024)
    args = ap.parse_args()
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"machine: {cpu}, {os.cpu_count()} cores, {platform.python_version()}")
    rows: dict[str, list[dict]] = {"old": [], "new": []}
    coverage: dict[str, dict] = {}  # the map's class shares: must be the same from both trees
    for k in range(args.rounds):
        for name, tree in (
            (("old", args.old), ("new", args.new)) if k % 2 == 0 else (("new", args.new), ("old", args.old))
        ):
            r = segment(tree, args.size, args.naive)
            row = {"naive": r["naive_patches_per_s"]}
            for e in ("litert", "keras"):
                row[f"{e}_end_to_end"] = r[e]["patches_per_s_end_to_end"]
                row[f"{e}_classify"] = r[e]["patches_per_s_classify"]
                coverage.setdefault(f"{name} {e}", r[e]["coverage"])
            rows[name].append(row)
            print(f"round {k + 1} {name}: {row}", flush=True)
    result: dict = {"machine": cpu, "size": args.size, "rounds": rows}
    for name in ("old", "new"):
        med = {key: statistics.median(r[key] for r in rows[name]) for key in rows[name][0]}
        result[f"{name}_median"] = med
        result[f"{name}_vs_naive"] = {key: round(med[key] / med["naive"], 2) for key in med if key != "naive"}
    result["new_over_old"] = {
        key: round(result["new_median"][key] / result["old_median"][key], 3) for key in result["new_median"]
    }
    result["coverage"] = coverage
    result["same_maps"] = len({json.dumps(c, sort_keys=True) for c in coverage.values()}) == 1
    for folder in ("aid_cross", "nwpu45"):
        if (DATA / folder).is_dir():
            result[folder] = {
                name: evaluate(tree, DATA / folder) for name, tree in (("old", args.old), ("new", args.new))
            }
            print(folder, result[folder], flush=True)
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "before-after.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
