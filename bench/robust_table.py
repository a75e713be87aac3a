"""Print the robust-training ablation as a Markdown table from bench/out/robust-*.json.

python bench/robust_table.py TAG [TAG ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def main() -> None:
    print(
        "| run | kaggle4 test | kaggle4 val | val shifted | selection score | aid_cross | desert | green_area | water "
        "| aid_cross --adapt | training wall time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for tag in sys.argv[1:]:
        r = json.loads(Path(f"bench/out/robust-{tag}.json").read_text())
        pc = r["aid_cross_per_class"]
        wall = f"{r['train_wall_s']:.0f} s" if r.get("train_wall_s") else "-"
        print(
            f"| {tag} | {pct(r['kaggle4_test'])} | {pct(r['kaggle4_val'])} | {pct(r['kaggle4_val_shifted'])} "
            f"| {pct(r['selection_score'])} | **{pct(r['aid_cross'])}** | {pct(pc['desert'])} | {pct(pc['green_area'])} "
            f"| {pct(pc['water'])} | {pct(r['aid_cross_adapted'])} | {wall} |"
        )


if __name__ == "__main__":
    main()
