"""Benchmark: do the assessment's 95 % intervals cover the truth 95 % of the time (issue 24)?

    python bench/bench_assessment.py [--seeds 100] [--n 300] [--copies 8] [--out bench/out/assessment]

Mosaic scenes are tiled from REAL held-out patches whose class is known, so the true class of
every map cell is known: the test parts of the split the shipped ``landcover4`` was trained on
(kaggle4 + nwpu45 as two sources, seed 0; ``bench/out/build-default/split/split.json``, rebuilt with
the same call as tools/build_default_model.py when absent, checked against the model's
``split_hash``) and all of aid_cross (another sensor, never used for training or selection: used
here to evaluate only). Two mosaics:

``hard``
    nwpu45's test part and aid_cross, mapped with each patch alone (``--no-context``): the map keeps
    the model's own errors on patches from sensors it saw little or never.
``all``
    those and kaggle4's test part, mapped with the default settings (context on, which corrects
    most lone errors inside the mosaic's blocks): a map with rare errors.

Each patch is resized to 64 px; patches of one class make 3 x 3 blocks laid out at random (seed
0), and the layout is repeated ``--copies`` times, each copy turned by 90 degrees more and, from
the fifth on, mirrored, so that the map has thousands of cells and a sample of a few hundred is a
small share of every stratum (the paper's variances have no finite-population correction). The
mosaic is written as a GeoTIFF (EPSG:32633, 10 m pixels: a cell is 40.96 ha), mapped by the
shipped model with the core function behind ``landgui.api.segment`` (64 px patches, the uncertain
threshold at its default) and exported as ``landgui segment`` does.

Then, for each allocation and each of ``--seeds`` seeds, a stratified sample is drawn from the map
files (``landgui.core.assessment``), a simulated labeller gives every unit its true class, and the
estimates are compared with the truth over the map's cells: how often the 95 % interval of each
class's area, of each user's and producer's accuracy and of the overall accuracy covers the true
value (target 90-98 %), the mean estimate and half-width against the truth, and the map's own
pixel-count area; for both intervals of :mod:`landgui.core.assessment.estimate` (the report's
default ``agresti-coull`` and the paper's ``normal``) on the same samples. The truth is used only to
measure coverage: nothing (not the interval rule, not its pseudo-counts) is fitted to it. Seed 0 of the first allocation also goes through the command (``landgui assess
sample`` / ``estimate`` via :mod:`landgui.cli.commands.assess`) and leaves its report in
``--out``/MOSAIC/cli/report. Writes ``--out``/assessment-bench.json and prints the tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from landgui.cli.commands import assess as cli_assess  # noqa: E402
from landgui.core import services  # noqa: E402
from landgui.core.assessment.design import SampleSettings, draw, plan  # noqa: E402
from landgui.core.assessment.estimate import INTERVALS, REPORT_INTERVAL  # noqa: E402
from landgui.core.assessment.mapfile import read_map  # noqa: E402
from landgui.core.assessment.report import assessment  # noqa: E402
from landgui.core.data.scan import scan_sources  # noqa: E402
from landgui.core.data.split import SplitParams, load_split, split_hash, write_split  # noqa: E402
from landgui.core.params import MapSettings  # noqa: E402
from landgui.core.runs.folder import shipped_run_dir  # noqa: E402
from landgui.core.runs.palette import run_palette  # noqa: E402
from landgui.core.scenes.result import cell_class_codes  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "patches"
SPLIT = ROOT / "bench" / "out" / "build-default" / "split" / "split.json"
PATCH = 64
SIDE = 3  # block side in patches
M2_PER_CELL = (PATCH * 10.0) ** 2


def cpu_model() -> str:
    """The CPU's model name, as ``lscpu`` prints it."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def the_split(expected_hash: str) -> dict:
    """The shipped model's split: the saved one if it is that split, else rebuilt the same way."""
    if SPLIT.is_file():
        m = load_split(SPLIT)
        if split_hash(m) == expected_hash:
            return m
    tmp = Path(tempfile.mkdtemp(prefix="split-"))
    sources = {name: str(SHARED / name) for name in ("kaggle4", "nwpu45")}
    write_split(scan_sources(sources), tmp, SplitParams(val=0.15, test=0.15, seed=0))
    m = load_split(tmp / "split.json")
    if split_hash(m) != expected_hash:
        raise SystemExit("the rebuilt split is not the shipped model's (split_hash differs)")
    return m


def held_out(labels: list[str], expected_hash: str) -> tuple[list[Path], np.ndarray, np.ndarray, dict[str, int]]:
    """Paths, true classes and sources of the test parts of the model's split and of aid_cross."""
    split = the_split(expected_hash)
    root = Path(split["dataset_root"])
    paths, ys, src = [], [], []
    for e in split["splits"]["test"]:
        if e["label"] in labels:
            paths.append(root / e["path"])
            ys.append(labels.index(e["label"]))
            src.append(f"{e['source']} test")
    for d in sorted(p for p in (SHARED / "aid_cross").iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif"):
                paths.append(f)
                ys.append(labels.index(d.name))
                src.append("aid_cross")
    counts = {s: src.count(s) for s in dict.fromkeys(src)}
    return paths, np.array(ys), np.array(src), counts


def load_patches(paths: list[Path]) -> np.ndarray:
    """RGB uint8 patches resized to PATCH px (area averaging)."""
    out = np.empty((len(paths), PATCH, PATCH, 3), np.uint8)
    for i, p in enumerate(paths):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"cannot read {p}")
        out[i] = cv2.resize(img, (PATCH, PATCH), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    return out


def mosaic(patches: np.ndarray, y: np.ndarray, copies: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """(RGB mosaic, true class per cell, patches left out): 3 x 3 blocks of one class in random
    order; the layout repeated ``copies`` times (up to 8), each copy with every block turned by 90
    degrees more and, from the fifth copy on, mirrored; the blocks fill a rectangle (the last few
    are left out so that no place is empty)."""
    rng = np.random.default_rng(seed)
    blocks, classes = [], []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        for b in range(len(idx) // (SIDE * SIDE)):
            blocks.append(idx[b * SIDE * SIDE : (b + 1) * SIDE * SIDE].reshape(SIDE, SIDE))
            classes.append(int(k))
    order = rng.permutation(len(blocks))
    placed = [(blocks[i], classes[i], r) for r in range(copies) for i in order]
    cols = int(np.ceil(np.sqrt(len(placed))))
    rows = len(placed) // cols
    placed = placed[: rows * cols]
    unused = len(y) - len({int(i) for blk, _, _ in placed for i in blk.ravel()})
    img = np.zeros((rows * SIDE * PATCH, cols * SIDE * PATCH, 3), np.uint8)
    truth = np.zeros((rows * SIDE, cols * SIDE), np.int64)

    def turn(a: np.ndarray, r: int) -> np.ndarray:
        a = np.rot90(a, r % 4)
        return np.fliplr(a) if r >= 4 else a

    for n, (blk, k, r) in enumerate(placed):
        br, bc = divmod(n, cols)
        for (i, j), p in np.ndenumerate(turn(blk, r)):
            y0, x0 = (br * SIDE + i) * PATCH, (bc * SIDE + j) * PATCH
            img[y0 : y0 + PATCH, x0 : x0 + PATCH] = turn(patches[p], r)
        truth[br * SIDE : (br + 1) * SIDE, bc * SIDE : (bc + 1) * SIDE] = k
    return img, truth, unused


def write_geotiff(path: Path, img: np.ndarray) -> None:
    """The mosaic as a GeoTIFF in EPSG:32633 with 10 m pixels."""
    import rasterio
    from rasterio.transform import Affine

    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=img.shape[1],
        height=img.shape[0],
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4500000.0),
        tiled=True,
        compress="deflate",
    ) as dst:
        dst.write(np.moveaxis(img, -1, 0))


def covered(ci: list[float] | None, true: float) -> bool | None:
    """Whether the interval holds the true value (None when the interval is undefined)."""
    if ci is None:
        return None
    return ci[0] - 1e-9 <= true <= ci[1] + 1e-9


def run_cli_once(summary: Path, truth: np.ndarray, labels: list[str], out: Path, n: int, allocation: str) -> dict:
    """Seed 0 through the command: sample, label by the truth in the CSV, estimate with a report."""
    p = argparse.ArgumentParser(prog="landgui")
    cli_assess.add_parser(p.add_subparsers(dest="command"))
    sample = out / "sample.csv"
    args = p.parse_args(
        ["assess", "sample", str(summary), "--n", str(n), "--allocation", allocation, "--seed", "0",
         "--out", str(sample), "--overwrite"]
    )  # fmt: skip
    assert args.func(args) == 0
    rows = list(csv.DictReader(open(sample, newline="")))
    for r in rows:
        r["reference"] = labels[truth[int(r["row"]), int(r["col"])]]
    with open(sample, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    args = p.parse_args(["assess", "estimate", str(summary), str(sample), "--out", str(out / "report")])
    assert args.func(args) == 0
    return json.loads((out / "report" / "assessment.json").read_text())


def bench_mosaic(name: str, patches: np.ndarray, y: np.ndarray, labels: list[str], args: argparse.Namespace) -> dict:
    """Build, map and assess one mosaic over ``args.seeds`` samples per allocation; returns its figures."""
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    img, truth, unused = mosaic(patches, y, args.copies)
    tif = out / "mosaic.tif"
    write_geotiff(tif, img)
    t_map = time.perf_counter()
    context = {} if name == "all" else {"context": 0.0}  # "hard": each patch alone (--no-context)
    result = services.map_scene("default", tif, MapSettings(patch=PATCH, **context))  # what landgui.api.segment runs
    map_s = time.perf_counter() - t_map
    palette = run_palette("default", result.labels)  # what landgui.api.export and `landgui segment` write
    files = services.export_map(result, out / "map", palette=palette, formats=("png", "csv", "geotiff"), name="mosaic")
    summary = Path(files["summary"])
    codes = cell_class_codes(result)
    m = read_map(summary)
    assert np.array_equal(m.scenes[0].codes, codes), "the map read back differs from the mapped result"
    assert codes.shape == truth.shape
    ok = codes != 255
    k = len(labels)
    true_area = np.array([((truth == j) & ok).sum() for j in range(k)]) * M2_PER_CELL / 1e4
    map_area = np.array([(codes == j).sum() for j in range(k)]) * M2_PER_CELL / 1e4
    true_overall = float((codes[ok] == truth[ok]).mean())
    true_users = [float((truth[codes == j] == j).mean()) if (codes == j).any() else None for j in range(k)]
    true_producers = [
        float((codes[(truth == j) & ok] == j).mean()) if ((truth == j) & ok).any() else None for j in range(k)
    ]
    strata_cells = {s: int(c) for s, c in zip(m.strata, m.stratum_cells(), strict=True)}
    print(
        f"{name}: mosaic {img.shape[1]}x{img.shape[0]} px, {codes.size} cells (x{args.copies} copies, "
        f"{unused} patches left out), mapped in {map_s:.1f} s; strata cells {strata_cells}; "
        f"true overall accuracy {true_overall:.4f}",
        flush=True,
    )
    cli = run_cli_once(summary, truth, labels, out / "cli", args.n, args.allocations[0])
    report: dict = {
        "mosaic": {
            "size_px": [img.shape[1], img.shape[0]],
            "cells": int(codes.size),
            "classified_cells": int(ok.sum()),
            "copies": args.copies,
            "patches_left_out": unused,
            "map_seconds": round(map_s, 1),
            "strata_cells": strata_cells,
        },
        "truth": {
            "area_ha": dict(zip(labels, true_area.tolist(), strict=True)),
            "map_area_ha": dict(zip(labels, map_area.tolist(), strict=True)),
            "overall": true_overall,
            "users": dict(zip(labels, true_users, strict=True)),
            "producers": dict(zip(labels, true_producers, strict=True)),
        },
        "cli_seed0_overall_ci95": cli["overall_ci95"],
        "runs": {},
    }
    kinds = [REPORT_INTERVAL, *(k for k in INTERVALS if k != REPORT_INTERVAL)]
    for alloc in args.allocations:
        cov: dict[str, dict[str, list]] = {}
        for kind in kinds:
            cov[kind] = {f"area {c}": [] for c in labels}
            cov[kind] |= {f"users {c}": [] for c in labels} | {f"producers {c}": [] for c in labels} | {"overall": []}
        est_area: dict[str, list] = {c: [] for c in labels}
        half: dict[str, dict[str, list]] = {kind: {c: [] for c in labels} for kind in kinds}
        est_oa, zero_width = [], 0
        half_oa: dict[str, list] = {kind: [] for kind in kinds}
        per_stratum = None
        for seed in range(args.seeds):
            design = plan(m, SampleSettings(n=args.n, allocation=alloc, min_per_class=args.min_per_class, seed=seed))
            per_stratum = dict(zip(design.strata, design.per_stratum, strict=True))
            units = draw(m, design)
            for u in units:  # the simulated labeller: the true class of the cell
                u.reference = labels[truth[u.row, u.col]]
            for kind in kinds:
                res = assessment(m, units, design, interval=kind)
                if seed == 0 and alloc == args.allocations[0] and kind == REPORT_INTERVAL:
                    assert res["overall_ci95"] == cli["overall_ci95"], "the command and the core disagree"
                cv = cov[kind]
                for j, c in enumerate(labels):
                    r = res["classes"][c]
                    cv[f"area {c}"].append(covered(r["area_ci95"], true_area[j]))
                    cv[f"users {c}"].append(
                        covered(r["users_ci95"], true_users[j]) if true_users[j] is not None else None
                    )
                    cv[f"producers {c}"].append(
                        covered(r["producers_ci95"], true_producers[j]) if true_producers[j] is not None else None
                    )
                    half[kind][c].append((r["area_ci95"][1] - r["area_ci95"][0]) / 2)
                    if kind == REPORT_INTERVAL:
                        est_area[c].append(r["area"])
                cv["overall"].append(covered(res["overall_ci95"], true_overall))
                half_oa[kind].append((res["overall_ci95"][1] - res["overall_ci95"][0]) / 2)
                if kind == REPORT_INTERVAL:
                    est_oa.append(res["overall"])
                    zero_width += any("is an error" in n for n in res["notes"])

        def rate(v: list) -> dict:
            d = [x for x in v if x is not None]
            return {"covered": int(sum(d)), "of": len(d), "share": sum(d) / len(d) if d else None}

        report["runs"][alloc] = {
            "n": args.n,
            "per_stratum": per_stratum,
            "coverage": {kind: {key: rate(v) for key, v in cov[kind].items()} for kind in kinds},
            "mean_area_ha": {c: float(np.mean(v)) for c, v in est_area.items()},
            "mean_area_half_width_ha": {kind: {c: float(np.mean(v)) for c, v in half[kind].items()} for kind in kinds},
            "mean_overall": float(np.mean(est_oa)),
            "mean_overall_half_width": {kind: float(np.mean(v)) for kind, v in half_oa.items()},
            "samples_with_an_error_free_stratum": zero_width,
        }
    print_tables(name, report, labels, args, kinds)
    return report


def print_tables(name: str, report: dict, labels: list[str], args: argparse.Namespace, kinds: list[str]) -> None:
    """The mosaic's figures as Markdown tables (half-widths and coverage for every interval kind)."""
    t, runs = report["truth"], report["runs"]
    print(f"\n{name}: true overall accuracy {100 * t['overall']:.2f} %")
    print("| class | true area (ha) | map area (ha) | true user's / producer's | " + " | ".join(
        f"mean estimate \u00b1 half-width ({' / '.join(kinds)}), {a} (ha)" for a in args.allocations) + " |")  # fmt: skip
    print("|---|---|---|---|" + "---|" * len(args.allocations))
    for c in labels:
        u, p = t["users"][c], t["producers"][c]
        acc = f"{'-' if u is None else f'{100 * u:.1f}'} / {'-' if p is None else f'{100 * p:.1f}'} %"
        means = " | ".join(
            f"{runs[a]['mean_area_ha'][c]:,.0f} \u00b1 "
            + " / ".join(f"{runs[a]['mean_area_half_width_ha'][k][c]:,.0f}" for k in kinds)
            for a in args.allocations
        )
        print(f"| {c} | {t['area_ha'][c]:,.0f} | {t['map_area_ha'][c]:,.0f} | {acc} | {means} |")
    print(
        "overall accuracy half-width: "
        + "; ".join(
            f"{a}: " + " / ".join(f"{100 * runs[a]['mean_overall_half_width'][k]:.2f}" for k in kinds)
            for a in args.allocations
        )
        + f" points ({' / '.join(kinds)})"
    )
    cols = [(a, k) for k in kinds for a in args.allocations]
    print("\n| 95 % interval covers the truth | " + " | ".join(f"{k}: {a}" for a, k in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for key in runs[args.allocations[0]]["coverage"][kinds[0]]:
        cells = []
        for a, k in cols:
            r = runs[a]["coverage"][k][key]
            cells.append("-" if r["share"] is None else f"{r['covered']} / {r['of']}")
        print(f"| {key} | " + " | ".join(cells) + " |")
    print("| samples with an error-free class stratum | " + " | ".join(
        str(runs[a]["samples_with_an_error_free_stratum"]) for a in args.allocations) + " |")  # fmt: skip
    print("units per stratum: " + "; ".join(f"{a}: {runs[a]['per_stratum']}" for a in args.allocations))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--min-per-class", type=int, default=50)
    ap.add_argument("--copies", type=int, default=8, help="copies of the layout, turned and mirrored (1-8)")
    ap.add_argument("--allocations", nargs="+", default=["recommended", "proportional", "equal"])
    ap.add_argument("--mosaics", nargs="+", default=["hard", "all"], choices=["hard", "all"])
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "assessment"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    run = shipped_run_dir()
    cfg = json.loads((run / "config.json").read_text())
    labels = list(cfg["model"]["classes"])
    paths, y, src, sources = held_out(labels, cfg["split_hash"])
    patches = load_patches(paths)
    report: dict = {"cpu": cpu_model(), "cores": os.cpu_count(), "patches": sources, "seeds": args.seeds, "mosaics": {}}
    for name in args.mosaics:
        keep = np.ones(len(y), bool) if name == "all" else np.isin(src, ["nwpu45 test", "aid_cross"])
        report["mosaics"][name] = bench_mosaic(name, patches[keep], y[keep], labels, args)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "assessment-bench.json").write_text(json.dumps(report, indent=2))
    print(
        f"\nCPU: {report['cpu']} ({report['cores']} cores); {args.seeds} seeds per allocation; {report['seconds']} s in all"
    )


if __name__ == "__main__":
    main()
