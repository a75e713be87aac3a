"""Several sources (one dataset folder per sensor) split, weighted, trained and evaluated as one.

Synthetic images only: two "sensors" draw the same class colours with different brightness.
Numbers are checked against counts made here from the folders and against scikit-learn.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from synth import make_dataset

from landgui.cli import main
from landgui.core.base.errors import LandguiError
from landgui.core.data import images as D
from landgui.core.data import split as sp
from landgui.core.data.scan import scan_sources
from landgui.core.data.split_report import summary_table

CLASSES = ("desert", "green_area", "water")


@pytest.fixture
def two_sources(tmp_path: Path) -> tuple[Path, Path]:
    """Source "a": 20 images per class; source "b": 10 per class and no desert folder, other seed."""
    a = make_dataset(tmp_path / "data" / "a", per_class=20, classes=CLASSES, seed=1)
    b = make_dataset(tmp_path / "data" / "b", per_class=10, classes=CLASSES[1:], seed=2, ext=".jpg")
    return a, b


def _files_by_source(a: Path, b: Path) -> dict[str, set[str]]:
    """Relative paths (to the common parent) of every image, per source, from the folders themselves."""
    parent = a.parent
    return {
        name: {p.relative_to(parent).as_posix() for p in root.rglob("*") if p.is_file()}
        for name, root in (("a", a), ("b", b))
    }


def test_split_records_sources_and_stratifies_class_by_source(two_sources, tmp_path):
    a, b = two_sources
    m = sp.write_split(scan_sources([str(a), str(b)]), tmp_path / "split", sp.SplitParams(seed=3))
    assert m["sources"] == {"a": str(a.resolve()), "b": str(b.resolve())}
    truth = _files_by_source(a, b)
    entries = [e for s in sp.SPLITS for e in m["splits"][s]]
    assert len(entries) == 60 + 20
    for e in entries:
        assert e["path"] in truth[e["source"]], e  # each entry names the folder it came from
        assert Path(e["path"]).parts[1] == e["label"]
    # stratified by class x source: each stratum has 15 % +- 1 image in val and in test
    for src, per_class in (("a", 20), ("b", 10)):
        for c in CLASSES if src == "a" else CLASSES[1:]:
            n = {s: sum(1 for e in m["splits"][s] if e["source"] == src and e["label"] == c) for s in sp.SPLITS}
            assert sum(n.values()) == per_class
            for s in ("val", "test"):
                assert abs(n[s] - 0.15 * per_class) <= 1, (src, c, n)
            assert m["counts_by_source"][src][c] == n
    assert "desert" not in m["counts_by_source"]["b"]
    loaded = sp.load_split(tmp_path / "split")
    assert sp.source_names(loaded) == ["a", "b"]
    assert "source" in summary_table(loaded) and "\nb " in summary_table(loaded)


def test_copies_across_sources_stay_in_one_split_and_conflicts_are_excluded(two_sources, tmp_path):
    a, b = two_sources
    # the same image in both sources, same class: one group; and a copy filed under another class
    shutil.copy(a / "green_area" / "green_area_000.png", b / "green_area" / "copy_of_a.png")
    shutil.copy(a / "water" / "water_003.png", b / "green_area" / "mislabelled.png")
    for seed in range(4):
        m = sp.write_split(scan_sources([str(a), str(b)]), tmp_path / f"s{seed}", sp.SplitParams(seed=seed))
        where = {e["path"]: s for s in sp.SPLITS for e in m["splits"][s]}
        assert where["a/green_area/green_area_000.png"] == where["b/green_area/copy_of_a.png"]
        excluded = {e["path"] for e in m["excluded"]}
        assert excluded == {"a/water/water_003.png", "b/green_area/mislabelled.png"}
        assert not excluded & set(where)


def test_single_folder_split_is_unchanged_and_old_files_are_upgraded(tmp_path):
    root = make_dataset(tmp_path / "ds", per_class=12, classes=CLASSES)
    m = sp.write_split(scan_sources([str(root)]), tmp_path / "s", sp.SplitParams(seed=0))
    assert m["sources"] == {"ds": str(root.resolve())}
    assert {e["source"] for s in sp.SPLITS for e in m["splits"][s]} == {"ds"}
    # a schema-1 file (as written before sources existed) reads as one source named after its folder
    v1 = json.loads((tmp_path / "s" / "split.json").read_text())
    v1["schema_version"] = 1
    for key in ("sources", "counts_by_source"):
        del v1[key]
    for s in sp.SPLITS:
        for e in v1["splits"][s]:
            del e["source"]
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "split.json").write_text(json.dumps(v1))
    old = sp.load_split(tmp_path / "v1")
    assert old["sources"] == {"ds": str(root.resolve())}
    assert sp.split_hash(old) == sp.split_hash(m)  # runs trained on the old file still match it
    assert old["counts_by_source"]["ds"] == {c: m["counts"][c] for c in CLASSES}


def test_bad_source_lists_are_one_clear_error(two_sources, tmp_path):
    a, b = two_sources
    with pytest.raises(LandguiError, match="two sources are named 'x'"):
        scan_sources([f"x={a}", f"x={b}"])
    with pytest.raises(LandguiError, match="overlap"):
        scan_sources([str(a), str(a / "water")])
    with pytest.raises(LandguiError, match="not found"):
        scan_sources([str(a), str(tmp_path / "nope")])
    scan = scan_sources([f"one={a}", f"two={b}"])
    assert list(scan.sources) == ["one", "two"]
    # the CLI refuses an --out inside any of the sources, before scanning
    assert main(["split", str(a), str(b), "--out", str(b / "out"), "--quiet"]) == 2


def test_balance_weights_give_each_source_of_a_class_the_same_share():
    labels = np.array([0] * 10 + [0] * 2 + [1] * 6 + [1] * 6 + [2] * 4)
    sources = ["a"] * 10 + ["b"] * 2 + ["a"] * 6 + ["b"] * 6 + ["b"] * 4
    files = D.SplitFiles([f"f{i}" for i in range(len(labels))], labels, [f"f{i}" for i in range(len(labels))], sources)
    w = D.source_balance_weights(files, 3)
    # class 0: 12 images, two sources -> 6 each: a's 10 images weigh 0.6, b's 2 weigh 3
    np.testing.assert_allclose(w[:10], 0.6)
    np.testing.assert_allclose(w[10:12], 3.0)
    np.testing.assert_allclose(w[12:28], 1.0)  # class 1 already balanced, class 2 one source
    for c, n in ((0, 12), (1, 12), (2, 4)):
        assert w[labels == c].sum() == pytest.approx(n)  # the balance between classes is untouched
    one = D.SplitFiles(files.paths, labels, files.rel_paths, ["a"] * len(labels))
    np.testing.assert_array_equal(D.source_balance_weights(one, 3), 1.0)


def test_per_source_metrics_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, recall_score

    from landgui.core.evaluation.metrics import per_source_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    pred = np.where(rng.random(200) < 0.7, y, rng.integers(0, 3, 200))
    src = list(rng.choice(["k", "n", "c"], 200))
    got = per_source_metrics(y, pred, src, ["x", "y", "z"])
    assert list(got) == list(dict.fromkeys(src))
    for name in ("k", "n", "c"):
        m = np.array(src) == name
        assert got[name]["accuracy"] == pytest.approx(accuracy_score(y[m], pred[m]))
        rec = recall_score(y[m], pred[m], labels=[0, 1, 2], average=None, zero_division=0)
        for i, lab in enumerate(["x", "y", "z"]):
            assert got[name]["per_class"][lab]["recall"] == pytest.approx(rec[i])
            assert got[name]["per_class"][lab]["support"] == int((y[m] == i).sum())
        assert got[name]["n_images"] == int(m.sum())


def test_hold_out_source_trains_without_it_and_reports_it(two_sources, tmp_path, capsys):
    """One tiny training: the held-out source's images are kept out of training and validation,
    then every one of them is evaluated; the test split is reported per source."""
    a, b = two_sources
    split = tmp_path / "split"
    assert main(["split", f"a={a}", f"b={b}", "--out", str(split), "--quiet"]) == 0
    run = tmp_path / "run"
    args = ["train", str(split), "--out", str(run), "--model", "scratch", "--image-size", "32"]
    assert main([*args, "--epochs", "1", "--batch-size", "16", "--hold-out-source", "b", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "held-out source b: accuracy" in out
    ev = json.loads((run / "evaluation-holdout-b.json").read_text())
    truth_b = _files_by_source(a, b)["b"]
    assert {p["path"] for p in ev["predictions"]} == truth_b  # every image of b, all three splits
    assert ev["n_images"] == 20 and ev["held_out_source"] == "b"
    assert ev["missing_classes"] == ["desert"]
    y_true = [p["true"] for p in ev["predictions"]]
    assert sorted(set(y_true)) == ["green_area", "water"]
    assert all(Path(p["path"]).parts[1] == p["true"] for p in ev["predictions"])  # labels from the folders
    config = json.loads((run / "config.json").read_text())
    assert config["params"]["hold_out_source"] == "b"
    m = sp.load_split(split)
    assert config["images_by_source"] == {
        s: {"a": len(m["splits"][s]) - sum(1 for e in m["splits"][s] if e["source"] == "b")} for s in ("train", "val")
    }
    # the test split (both sources) reported per source
    assert main(["evaluate", str(run), "--quiet"]) == 0
    test = json.loads((run / "evaluation-test.json").read_text())
    for name in ("a", "b"):
        entries = [e for e in m["splits"]["test"] if e["source"] == name]
        assert test["per_source"][name]["n_images"] == len(entries)
        right = sum(1 for p in test["predictions"] if p["source"] == name and p["pred"] == Path(p["path"]).parts[1])
        assert test["per_source"][name]["accuracy"] == pytest.approx(right / len(entries))
    # compare shows the test accuracy per source and the held-out figure
    capsys.readouterr()
    assert main(["compare", str(run)]) == 0
    table = capsys.readouterr().out
    assert "test a" in table and "test b" in table and f"b {ev['accuracy']:.4f}" in table
    # a held-out evaluation of a source the run trained on is refused
    with pytest.raises(LandguiError, match="not trained with source 'a' held out"):
        from landgui.core.evaluation.evaluate import evaluate_source

        evaluate_source(run, "a")
    assert main([*args, "--epochs", "1", "--hold-out-source", "zzz", "--overwrite", "--quiet"]) == 2
    assert "not a source of this split" in capsys.readouterr().err
