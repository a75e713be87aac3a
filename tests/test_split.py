"""Splitting: stratified, deterministic, leakage-safe, never touching the dataset, atomic."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synth import make_dataset, tree_snapshot
from test_dataset import _plant_copies, _plant_flat_copies

from landgui.cli import main
from landgui.core.base.errors import LandguiError
from landgui.core.data import split as sp
from landgui.core.data.scan import scan_dataset


def _split_of(manifest: dict) -> dict[str, str]:
    return {e["path"]: s for s, entries in manifest["splits"].items() for e in entries}


def _splits_keeping_copies_together(root: Path, planted: dict, out: Path) -> list[dict]:
    """Split with 5 seeds; each original and its copies must land in one split every time."""
    scan = scan_dataset(root)
    manifests = []
    for seed in range(5):
        m = sp.write_split(scan, out / f"out{seed}", sp.SplitParams(seed=seed))
        where = _split_of(m)
        for orig, copies in planted.items():
            assert len({where[p] for p in [orig, *copies]}) == 1, f"seed {seed}: {orig} leaks across splits"
        manifests.append(m)
    return manifests


def test_no_duplicate_group_crosses_splits(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=20)
    planted = _plant_copies(root, np.random.default_rng(0))
    for m in _splits_keeping_copies_together(root, planted, tmp_path):
        for g in m["duplicate_groups"]:
            assert g["split"] in sp.SPLITS


def test_copies_of_low_texture_image_stay_in_one_split(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=20)
    _splits_keeping_copies_together(root, _plant_flat_copies(root), tmp_path)


def test_stratified_counts_and_every_class_everywhere(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=40, classes=("desert", "water", "cloudy"))
    scan = scan_dataset(root)
    m = sp.write_split(scan, tmp_path / "out", sp.SplitParams(val=0.2, test=0.1))
    for c in ("desert", "water", "cloudy"):
        assert m["counts"][c] == {"train": 28, "val": 8, "test": 4}
    assert sum(len(v) for v in m["splits"].values()) == 120
    # minimal classes (3 images) appear in each split
    root2 = make_dataset(tmp_path / "ds2", per_class=3, classes=("desert", "water"))
    m2 = sp.write_split(scan_dataset(root2), tmp_path / "out2", sp.SplitParams())
    assert all(m2["counts"][c] == {"train": 1, "val": 1, "test": 1} for c in ("desert", "water"))


def test_deterministic_for_a_seed(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=30)
    scan = scan_dataset(root)
    a = sp.build_manifest(scan, sp.SplitParams(seed=3))["splits"]
    b = sp.build_manifest(scan_dataset(root), sp.SplitParams(seed=3))["splits"]
    c = sp.build_manifest(scan, sp.SplitParams(seed=4))["splits"]
    assert a == b
    assert a != c


def test_small_class_is_a_clear_message(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=5, classes=("desert", "water"))
    for f in sorted((root / "water").iterdir())[2:]:
        f.unlink()
    with pytest.raises(LandguiError, match=r"fewer than 3 usable images.*'water' \(2\)"):
        sp.build_manifest(scan_dataset(root), sp.SplitParams())


def test_refuses_output_inside_dataset_and_never_touches_it(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=6)
    before = tree_snapshot(root)
    scan = scan_dataset(root)
    for bad in (root / "water" / "split", root / "splits", root):
        with pytest.raises(LandguiError, match="inside the dataset folder"):
            sp.write_split(scan, bad, sp.SplitParams())
    for mode in ("copy", "link"):
        sp.write_split(scan, tmp_path / f"out-{mode}", sp.SplitParams(materialize=mode))
    assert tree_snapshot(root) == before


def test_materialize_copy_and_link_layout(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=10)
    scan = scan_dataset(root)
    for mode in ("copy", "link"):
        out = tmp_path / f"out-{mode}"
        m = sp.write_split(scan, out, sp.SplitParams(materialize=mode))
        for s in sp.SPLITS:
            for e in m["splits"][s]:
                dst = out / s / e["label"] / Path(e["path"]).name
                assert dst.read_bytes() == (root / e["path"]).read_bytes()
        assert (root / m["splits"]["train"][0]["path"]).exists(), "never move"
        with pytest.raises(LandguiError, match="already holds files"):
            sp.write_split(scan, out, sp.SplitParams(materialize=mode), overwrite=True)


def test_split_json_schema_and_atomic_write(tmp_path: Path, monkeypatch):
    root = make_dataset(tmp_path / "ds", per_class=8)
    (root / "water" / "junk.txt").write_text("x")
    scan = scan_dataset(root)
    out = tmp_path / "out"
    sp.write_split(scan, out, sp.SplitParams(seed=1))
    m = sp.load_split(out)
    assert m["schema"] == "landgui.split" and m["schema_version"] == 2
    assert m["dataset_root"] == str(root.resolve())
    assert m["classes"] == ["cloudy", "desert", "green_area", "water"]
    assert m["params"]["seed"] == 1 and m["params"]["val"] == 0.15
    e = m["splits"]["train"][0]
    assert set(e) == {"path", "label", "sha256", "source"} and len(e["sha256"]) == 64
    assert {"path": "water/junk.txt", "reason": "not an image (unrecognised format)"} in m["skipped"]
    old = (out / "split.json").read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt("interrupted mid-write")

    import landgui.core.base.atomic as atomic

    monkeypatch.setattr(atomic.os, "fsync", boom)  # the new file is written, not yet renamed
    with pytest.raises(KeyboardInterrupt):
        sp.write_split(scan, out, sp.SplitParams(seed=2), overwrite=True)
    assert (out / "split.json").read_bytes() == old, "an interrupted write must leave the old file"
    assert [p.name for p in out.iterdir()] == ["split.json"], "no temp file left behind"


def test_cli_split_summary_and_errors(tmp_path: Path, capsys):
    root = make_dataset(tmp_path / "ds", per_class=10)
    (root / "water" / "water_000_copy.png").write_bytes((root / "water" / "water_000.png").read_bytes())
    rc = main(["split", str(root), "--out", str(tmp_path / "out"), "--seed", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "class" in out and "train" in out and "water" in out and "total" in out
    assert "duplicate groups: 1 (1 exact, 0 same pixels, 0 near; 2 files)" in out
    assert json.loads((tmp_path / "out" / "split.json").read_text())["params"]["seed"] == 2
    for argv, msg in (
        (["split", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], "dataset folder not found"),
        (["split", str(root), "--out", str(root / "x")], "inside the dataset folder"),
        (["split", str(root), "--out", str(tmp_path / "o"), "--val", "0.6", "--test", "0.5"], "must be below 1"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("landgui: error:") and msg in err and "\n" not in err


def test_python_dash_m_entry_point(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=4, classes=("desert", "water"))
    r = subprocess.run(
        [sys.executable, "-m", "landgui", "split", str(root), "--out", str(tmp_path / "o"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "split.json").exists()
    r = subprocess.run(
        [sys.executable, "-m", "landgui", "split", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.realdata
def test_real_data_split_no_leakage(kaggle4: Path, tmp_path: Path):
    scan = scan_dataset(kaggle4)
    m = sp.write_split(scan, tmp_path / "out", sp.SplitParams(seed=0))
    where = _split_of(m)
    for g in m["duplicate_groups"]:
        if not g["conflict"]:
            assert len({where[x["path"]] for x in g["members"]}) == 1
    # independently of the groups the code found: the files' bytes, hashed here; no two
    # byte-identical files in different splits (and the data set does hold such copies)
    splits_of: dict[str, set[str]] = {}
    copies = 0
    for path, s in where.items():
        digest = hashlib.sha256((kaggle4 / path).read_bytes()).hexdigest()
        copies += digest in splits_of
        splits_of.setdefault(digest, set()).add(s)
    assert copies >= 30, copies
    leaked = {d: sorted(s) for d, s in splits_of.items() if len(s) > 1}
    assert not leaked, f"{len(leaked)} images in more than one split"
    for c in m["classes"]:
        assert min(m["counts"][c].values()) > 100
    assert os.path.getsize(tmp_path / "out" / "split.json") > 100_000


def test_cli_split_calls_an_ignored_readme_ignored_not_skipped(tmp_path: Path, capsys):
    """Issue 23, item 15: "1 unreadable files skipped" for a README.txt that was only ignored."""
    root = make_dataset(tmp_path / "ds", per_class=6, classes=("desert", "water"))
    (root / "README.txt").write_text("about this dataset")
    (root / "water" / "junk.txt").write_text("not an image")
    assert main(["split", str(root), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    [line] = [ln for ln in out.splitlines() if ln.startswith("skipped files")]
    assert line == "skipped files: 1 (ignored: README.txt)", line
    assert "water/junk.txt: not an image" in out and "README.txt: " not in out
