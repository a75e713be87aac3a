"""Benchmark: does context over the patch grid (landgui.core.scenes.context) make maps more right?

    python bench/bench_context.py RUN_DIR [--split bench/out/sources/split-kaggle4+nwpu45/split.json]
                                          [--patch 64] [--seeds 0 1 2]

Mosaic "scenes" are tiled from REAL held-out patches whose class is known: each patch is resized
to ``--patch`` px, patches of one class make a block, blocks are laid out at random (fixed seed)
on a grid, and the empty places of the last block row are left black (no-data, so they are left
out with ``ignore_nodata`` and test that the context step never uses them). Two layouts:

``blocks``
    3 x 3 blocks: most patches sit on a block edge, so this measures what context costs at real
    boundaries as much as what it fixes inside regions.
``islands``
    4 x 4 blocks in which a quarter of the blocks trade one inner patch with a block of another
    class: true lone patches (a pond in a forest), which context must not wash out.

Each mosaic is written as a PNG and mapped by the real pipeline (``classify_scene``, patch =
stride = ``--patch``, context off, backbone features kept); the context settings are then applied
to those raw probabilities with :func:`smooth_probs` (what ``assemble_result`` does), and the
chosen default through ``assemble_result`` itself.

Tuning uses only validation patches (kaggle4 val and nwpu45 val of the split): the setting with
the best mean accuracy over both layouts and all seeds, the smallest strength among equals.
Reported, never tuned on: nwpu45's test part and aid_cross (cross-sensor, evaluation only).
Writes bench/out/context-<run name>.json and prints the tables.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from landgui.core.inference.engine import load_predictor
from landgui.core.scenes import assemble_result, classify_scene, open_scene
from landgui.core.scenes.context import CONTEXT_ITERATIONS, CONTEXT_NEIGHBOURS, DEFAULT_CONTEXT, smooth_probs

SHARED = Path("/work/shared/data/patches")
STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0, 10.0)
ITERATIONS = (1, 3, 5, 10)
NEIGHBOURS = (4, 8)
AFFINITIES = ("grid", "features")
KEEP_LONE = 0.9  # the chosen setting keeps at least this share of the lone patches mapped right without it
# block side, share of blocks trading inner patches with a block of another class, what they trade
LAYOUTS = {"blocks": (3, 0.0, "patch"), "islands": (4, 0.25, "patch"), "lines": (4, 0.25, "row")}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def load_patches(paths: list[Path], size: int) -> np.ndarray:
    """RGB uint8 patches resized to ``size`` px (area averaging, as a scene seen at a coarser GSD)."""
    out = np.empty((len(paths), size, size, 3), np.uint8)
    for i, p in enumerate(paths):
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"cannot read {p}")
        out[i] = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    return out


def split_set(split: dict, part: str, source: str, labels: list[str]) -> tuple[list[Path], np.ndarray]:
    root = Path(split["dataset_root"])
    rows = [e for e in split["splits"][part] if e["source"] == source and e["label"] in labels]
    return [root / e["path"] for e in rows], np.array([labels.index(e["label"]) for e in rows])


def folder_set(folder: Path, labels: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, ys = [], []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif"):
                paths.append(f)
                ys.append(labels.index(d.name))
    return paths, np.array(ys)


def layout(
    y: np.ndarray, side: int, island_share: float, seed: int, trade: str = "patch"
) -> tuple[np.ndarray, np.ndarray]:
    """(index grid into the patches, -1 = empty; mask of the traded patches): blocks of ``side`` x
    ``side`` patches of one class in random order, about square; leftover patches of a class (under
    one block) unused. ``island_share`` of the blocks trade one inner patch (``trade="patch"``: a
    lone patch in a region of another class) or one inner row (``"row"``: a line one patch wide,
    a river or a road) with a block of another class."""
    rng = np.random.default_rng(seed)
    blocks: list[np.ndarray] = []
    classes: list[int] = []
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        for b in range(len(idx) // (side * side)):
            blocks.append(idx[b * side * side : (b + 1) * side * side].reshape(side, side))
            classes.append(int(k))
    order = rng.permutation(len(blocks))
    blocks = [blocks[i].copy() for i in order]
    classes = [classes[i] for i in order]
    islands = [np.zeros((side, side), bool) for _ in blocks]
    if island_share > 0:
        todo = list(rng.permutation(len(blocks))[: int(round(island_share * len(blocks)))])
        while len(todo) >= 1:
            a = todo.pop()
            others = [b for b in range(len(blocks)) if classes[b] != classes[a] and not islands[b].any()]
            if not others:
                break
            b = int(rng.choice(others))
            if b in todo:
                todo.remove(b)
            ra, ca = rng.integers(1, side - 1, 2)
            rb, cb = rng.integers(1, side - 1, 2)
            if trade == "row":
                blocks[a][ra], blocks[b][rb] = blocks[b][rb].copy(), blocks[a][ra].copy()
                islands[a][ra] = islands[b][rb] = True
            else:
                blocks[a][ra, ca], blocks[b][rb, cb] = blocks[b][rb, cb], blocks[a][ra, ca]
                islands[a][ra, ca] = islands[b][rb, cb] = True
    nb_cols = int(np.ceil(np.sqrt(len(blocks))))
    nb_rows = int(np.ceil(len(blocks) / nb_cols))
    grid = np.full((nb_rows * side, nb_cols * side), -1, np.int64)
    isl = np.zeros(grid.shape, bool)
    for i, (blk, il) in enumerate(zip(blocks, islands, strict=True)):
        r, c = divmod(i, nb_cols)
        grid[r * side : (r + 1) * side, c * side : (c + 1) * side] = blk
        isl[r * side : (r + 1) * side, c * side : (c + 1) * side] = il
    return grid, isl


def mosaic_image(patches: np.ndarray, grid: np.ndarray) -> np.ndarray:
    p = patches.shape[1]
    img = np.zeros((grid.shape[0] * p, grid.shape[1] * p, 3), np.uint8)  # black: no-data
    for (r, c), i in np.ndenumerate(grid):
        if i >= 0:
            img[r * p : (r + 1) * p, c * p : (c + 1) * p] = patches[i]
    return img


def boundary_mask(truth: np.ndarray) -> np.ndarray:
    """Patches with an 8-neighbour of another class (empty places do not count)."""
    pad = np.pad(truth, 1, constant_values=-1)
    out = np.zeros(truth.shape, bool)
    h, w = truth.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            nb = pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            out |= (nb >= 0) & (nb != truth)
    return out & (truth >= 0)


def feature_affinity(features: np.ndarray, valid: np.ndarray, neighbours: int) -> np.ndarray:
    """exp(-d²/median d²) between L2-normalised backbone features of grid neighbours."""
    from landgui.core.scenes.context import _shifted, grid_offsets

    f = features / np.maximum(np.linalg.norm(features, axis=-1, keepdims=True), 1e-9)
    d2 = [((f - _shifted(f, dy, dx)) ** 2).sum(-1) for dy, dx, _ in grid_offsets(neighbours)]
    both = [valid & _shifted(valid.astype(np.float32), dy, dx).astype(bool) for dy, dx, _ in grid_offsets(neighbours)]
    med = float(np.median(np.concatenate([d[m] for d, m in zip(d2, both, strict=True)]))) or 1.0
    return np.stack([np.exp(-d / med) for d in d2], -1).astype(np.float32)


def scores(pred: np.ndarray, truth: np.ndarray, islands: np.ndarray, n_classes: int) -> dict:
    ok = truth >= 0
    right = (pred == truth) & ok
    edge = boundary_mask(truth) & ~islands
    inner = ok & ~edge & ~islands
    return {
        "n": int(ok.sum()),
        "right": int(right.sum()),
        "per_class": {k: [int(right[truth == k].sum()), int((truth == k).sum())] for k in range(n_classes)},
        "islands": [int(right[islands].sum()), int(islands.sum())],
        "edge": [int(right[edge].sum()), int(edge.sum())],
        "inner": [int(right[inner].sum()), int(inner.sum())],
    }


def add(a: dict | None, b: dict) -> dict:
    if a is None:
        return copy.deepcopy(b)
    out = {"n": a["n"] + b["n"], "right": a["right"] + b["right"]}
    out["per_class"] = {
        k: [a["per_class"][k][0] + v[0], a["per_class"][k][1] + v[1]] for k, v in b["per_class"].items()
    }
    for key in ("islands", "edge", "inner"):
        out[key] = [a[key][0] + b[key][0], a[key][1] + b[key][1]]
    return out


def pct(x: list[int]) -> str:
    return f"{100 * x[0] / x[1]:.1f}% ({x[0]}/{x[1]})" if x[1] else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--split", default="bench/out/sources/split-kaggle4+nwpu45/split.json")
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", help="JSON to write (default bench/out/context-<run name>.json)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    pred = load_predictor(args.run, "auto")
    labels = list(pred.labels)
    split = json.loads(Path(args.split).read_text())
    sets = {
        "kaggle4-val": split_set(split, "val", "kaggle4", labels),
        "nwpu45-val": split_set(split, "val", "nwpu45", labels),
        "nwpu45-test": split_set(split, "test", "nwpu45", labels),
        "kaggle4-test": split_set(split, "test", "kaggle4", labels),
        "aid_cross": folder_set(SHARED / "aid_cross", labels),
    }
    tune_sets = ("kaggle4-val", "nwpu45-val")
    # raw maps: (set, layout, seed) -> (raw probs, valid, features, truth, islands, result)
    maps: dict[tuple[str, str, int], tuple] = {}
    mapped_patches, map_seconds = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (paths, y) in sets.items():
            patches = load_patches(paths, args.patch)
            for lay, (side, share, trade) in LAYOUTS.items():
                for seed in args.seeds:
                    idx, isl = layout(y, side, share, seed, trade)
                    truth = np.where(idx >= 0, y[np.maximum(idx, 0)], -1)
                    png = Path(tmp) / f"{name}-{lay}-{seed}.png"
                    cv2.imwrite(str(png), mosaic_image(patches, idx)[:, :, ::-1])
                    scene = open_scene(png)
                    try:
                        res = classify_scene(
                            pred,
                            labels,
                            pred.image_size,
                            scene,
                            patch=args.patch,
                            ignore_nodata=True,
                            keep_features=True,
                            context=0.0,
                        )
                    finally:
                        scene.close()
                    valid = res.classes >= 0
                    if not np.array_equal(valid, truth >= 0):
                        raise SystemExit(f"{png.name}: the mapped patches are not the mosaic's patches")
                    feats = None if res.features is None else res.features.reshape(*valid.shape, -1)
                    maps[name, lay, seed] = (res.probs, valid, feats, truth, isl, res)
                    mapped_patches += res.grid.n
                    map_seconds += res.seconds
                    print(
                        f"mapped {png.name}: {res.grid.rows}x{res.grid.cols} patches in {res.seconds:.1f} s", flush=True
                    )

    def evaluate(strength: float, iters: int, nb: int, aff: str, names: tuple[str, ...]) -> dict:
        out: dict = {}
        for (name, lay, _seed), (probs, valid, feats, truth, isl, _) in maps.items():
            if name not in names:
                continue
            a = feature_affinity(feats, valid, nb) if aff == "features" and feats is not None else None
            sm = smooth_probs(probs, valid, strength, iters, neighbours=nb, affinity=a) if strength > 0 else probs
            cls = np.where(valid, sm.argmax(-1), -1)
            key = f"{name}/{lay}"
            out[key] = add(out.get(key), scores(cls, truth, isl, len(labels)))
        return out

    def mean_acc(table: dict) -> float:
        return float(np.mean([v["right"] / v["n"] for v in table.values()]))

    def fine(table: dict, lay: str) -> list[int]:
        """[right, n] over the traded patches (lone patches or lines) of one layout."""
        rows = [v["islands"] for k, v in table.items() if k.endswith("/" + lay)]
        return [sum(r[0] for r in rows), sum(r[1] for r in rows)]

    sweep = []
    for aff in AFFINITIES:
        for nb in NEIGHBOURS:
            for iters in ITERATIONS:
                for s in STRENGTHS:
                    if s == 0 and (aff, nb, iters) != (AFFINITIES[0], NEIGHBOURS[0], ITERATIONS[0]):
                        continue
                    t = evaluate(s, iters, nb, aff, tune_sets)
                    sweep.append(
                        {
                            "affinity": aff,
                            "neighbours": nb,
                            "iterations": iters,
                            "strength": s,
                            "val_accuracy": round(mean_acc(t), 5),
                            "val_lone": fine(t, "islands"),
                            "val_lines": fine(t, "lines"),
                            "val": t,
                        }
                    )
    # the rule: among the settings that keep at least 90 % of the lone patches the model alone maps
    # right (a pond in a forest must survive), those within 0.05 points (1 patch in 2,000) of the best
    # mean validation accuracy (over sets and layouts) are equal: the smallest strength, then the
    # fewest iterations, of those
    lone_off = sweep[0]["val_lone"][0]
    allowed = [r for r in sweep if r["val_lone"][0] >= KEEP_LONE * lone_off]

    def pick(rows: list[dict]) -> dict:
        best_acc = max(r["val_accuracy"] for r in rows)
        near = [r for r in rows if r["val_accuracy"] >= best_acc - 0.0005]
        return min(near, key=lambda r: (r["strength"], r["iterations"], r["neighbours"]))

    best, top = pick(allowed), pick(sweep)
    print("\nvalidation sweep (mean accuracy over kaggle4-val and nwpu45-val mosaics, all layouts):")
    for r in sweep:
        print(
            f"  {r['affinity']:>8} {r['neighbours']}-nb it {r['iterations']:>2} strength {r['strength']:>4}: "
            f"{100 * r['val_accuracy']:.2f}%, lone patches {pct(r['val_lone'])}, lines {pct(r['val_lines'])}"
        )
    print(
        f"chosen on validation: {best['affinity']}, {best['neighbours']} neighbours, {best['iterations']} "
        f"iterations, strength {best['strength']} ({100 * best['val_accuracy']:.2f}%); without the lone-patch "
        f"rule: {top['affinity']}, {top['neighbours']} neighbours, {top['iterations']} iterations, strength "
        f"{top['strength']} ({100 * top['val_accuracy']:.2f}%, lone patches {pct(top['val_lone'])})"
    )

    # the shipped default, through assemble_result (the pipeline's own step), on every set
    report: dict = {}
    for setting, strength in (("off", 0.0), ("default", DEFAULT_CONTEXT)):
        for (name, lay, _seed), (_, valid, _, truth, isl, res) in maps.items():
            r2 = assemble_result(res.scene, labels, res.grid, res.probs, valid, 0.0, context=strength)
            key = f"{name}/{lay}"
            bucket = report.setdefault(setting, {})
            s = scores(r2.classes, truth, isl, len(labels))
            unc = (r2.classes >= 0) & (r2.probs.max(-1) < 0.7)
            s["uncertain"] = [int(unc.sum()), int((r2.classes >= 0).sum())]
            sure = (r2.classes >= 0) & ~unc
            s["sure_right"] = [int(((r2.classes == truth) & sure).sum()), int(sure.sum())]
            prev = bucket.get(key)
            merged = add(prev, s)
            for k2 in ("uncertain", "sure_right"):
                merged[k2] = [(prev or {k2: [0, 0]})[k2][0] + s[k2][0], (prev or {k2: [0, 0]})[k2][1] + s[k2][1]]
            merged["per_seed"] = [*(prev or {}).get("per_seed", []), round(s["right"] / s["n"], 4)]
            bucket[key] = merged
    print(
        f"\ndefault context (strength {DEFAULT_CONTEXT}, {CONTEXT_NEIGHBOURS} neighbours, "
        f"{CONTEXT_ITERATIONS} iterations) vs off, seeds {args.seeds}, {args.patch} px patches:"
    )
    print(
        "| mosaics | layout | off | context (seeds min-max) | "
        + " | ".join(f"{lab} off / on" for lab in labels)
        + " | lone patches or lines off / on |"
    )
    for key in report["off"]:
        off, on = report["off"][key], report["default"][key]
        name, lay = key.split("/")
        cells = [
            f"{pct(off['per_class'][k])} / {pct(on['per_class'][k])}" if off["per_class"][k][1] else "-"
            for k in range(len(labels))
        ]
        print(
            f"| {name} | {lay} | {pct([off['right'], off['n']])} | {pct([on['right'], on['n']])} "
            f"({100 * min(on['per_seed']):.1f}-{100 * max(on['per_seed']):.1f}) | "
            + " | ".join(cells)
            + f" | {pct(off['islands'])} / {pct(on['islands'])} |"
        )
    print("\nedge / inner patches and the uncertain share (top probability < 0.7), off -> on:")
    for key in report["off"]:
        off, on = report["off"][key], report["default"][key]
        print(
            f"  {key}: edge {pct(off['edge'])} -> {pct(on['edge'])}; inner {pct(off['inner'])} -> {pct(on['inner'])}; "
            f"uncertain {pct(off['uncertain'])} -> {pct(on['uncertain'])}; sure right {pct(off['sure_right'])} -> "
            f"{pct(on['sure_right'])}"
        )
    timing = {}
    for name in ("aid_cross",):
        probs, valid = maps[name, "blocks", args.seeds[0]][:2]
        t0 = time.perf_counter()
        for _ in range(20):
            smooth_probs(probs, valid, DEFAULT_CONTEXT)
        timing[name] = {"patches": int(valid.size), "ms_per_call": round(1000 * (time.perf_counter() - t0) / 20, 3)}
    big = np.random.default_rng(0).dirichlet(np.ones(len(labels)), (1000, 1000)).astype(np.float32)
    t0 = time.perf_counter()
    smooth_probs(big, np.ones(big.shape[:2], bool), DEFAULT_CONTEXT)
    timing["1000x1000 grid"] = {"patches": 10**6, "ms_per_call": round(1000 * (time.perf_counter() - t0), 1)}
    print(f"\ncontext step time: {timing}; mapping {mapped_patches} patches took {map_seconds:.0f} s")
    out = Path(args.out or f"bench/out/context-{Path(args.run).name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "run": str(args.run),
                "labels": labels,
                "patch": args.patch,
                "seeds": args.seeds,
                "cpu": cpu_model(),
                "command": "python bench/bench_context.py "
                + " ".join(
                    [args.run, "--split", args.split, "--patch", str(args.patch), "--seeds", *map(str, args.seeds)]
                ),
                "chosen_on_validation": {
                    k: best[k] for k in ("affinity", "neighbours", "iterations", "strength", "val_accuracy", "val_lone")
                },
                "best_without_lone_rule": {
                    k: top[k] for k in ("affinity", "neighbours", "iterations", "strength", "val_accuracy", "val_lone")
                },
                "default": {
                    "strength": DEFAULT_CONTEXT,
                    "neighbours": CONTEXT_NEIGHBOURS,
                    "iterations": CONTEXT_ITERATIONS,
                },
                "report": report,
                "sweep": sweep,
                "timing": timing,
                "seconds": round(time.perf_counter() - t_start, 1),
            },
            indent=1,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
