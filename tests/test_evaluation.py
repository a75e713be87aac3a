"""Evaluation numbers checked against scikit-learn; files written; bad input; CLI."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from landgui.cli import main
from landgui.core import training as T
from landgui.core.errors import LandguiError
from landgui.core.evaluation import evaluate_run, metrics
from landgui.core.models import ModelSpec


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from synth import make_dataset

    from landgui.core.dataset import scan_dataset
    from landgui.core.split import SplitParams, write_split

    base = tmp_path_factory.mktemp("eval")
    root = make_dataset(base / "ds", per_class=14, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(root), base / "split", SplitParams(val=0.2, test=0.3, seed=0))
    T.train(
        base / "split", base / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=2, batch_size=8)
    )
    return base


def _check_against_sklearn(res: dict) -> None:
    labels = res["labels"]
    y = np.array([labels.index(p["true"]) for p in res["predictions"]])
    probs = np.array([p["probs"] for p in res["predictions"]])
    pred = probs.argmax(1)
    assert [labels.index(p["pred"]) for p in res["predictions"]] == pred.tolist()
    k = list(range(len(labels)))
    assert res["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert res["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=k, zero_division=0)
    for i, lab in enumerate(labels):
        m = res["per_class"][lab]
        assert (m["precision"], m["recall"], m["f1"], m["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    for avg in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(y, pred, labels=k, average=avg, zero_division=0)
        assert (res[f"{avg}_avg"]["precision"], res[f"{avg}_avg"]["recall"], res[f"{avg}_avg"]["f1"]) == pytest.approx(
            (p, r, f)
        )
    assert res["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=k).tolist()
    np.testing.assert_allclose(
        res["confusion_matrix_normalized"],
        np.nan_to_num(skm.confusion_matrix(y, pred, labels=k, normalize="true")),
        atol=1e-6,
    )
    if len(labels) > 2:
        assert res["top2_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, probs, k=2, labels=k))


def test_metrics_match_sklearn_on_crafted_probabilities():
    rng = np.random.default_rng(3)
    labels = ["a", "b", "c", "d"]
    y = rng.integers(0, 4, 200)
    probs = rng.dirichlet(np.ones(4), 200)
    probs[y == 1] += np.eye(4)[1]  # class b mostly right
    probs[:, 3] *= 0.01  # class d almost never predicted (zero-division case)
    probs /= probs.sum(1, keepdims=True)
    res = metrics(y, probs, labels)
    res["predictions"] = [
        {"true": labels[t], "pred": labels[q.argmax()], "probs": q.tolist()} for t, q in zip(y, probs, strict=True)
    ]
    _check_against_sklearn(res)


def test_evaluate_run_numbers_and_files(trained):
    run = trained / "run"
    res = evaluate_run(run, "test")
    _check_against_sklearn(res)
    assert res["n_images"] == 3 * 4 and res["missing"] == []
    on_disk = json.loads((run / "evaluation-test.json").read_text())
    assert on_disk == json.loads(json.dumps(res)), "the JSON round-trips"
    assert 0.0 <= on_disk["accuracy"] <= 1.0 and on_disk["labels"] == ["desert", "green_area", "water"]
    rows = list(csv.DictReader((run / "predictions-test.csv").open()))
    assert len(rows) == res["n_images"] and set(rows[0]) == {
        "path",
        "true",
        "pred",
        "confidence",
        "p_desert",
        "p_green_area",
        "p_water",
    }
    for name in ("confusion-test.png", "per-class-test.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    conf = {p["path"]: p["confidence"] for p in res["predictions"]}
    wrong = [conf[p] for p in res["misclassified"]]
    assert wrong == sorted(wrong, reverse=True)
    right = [conf[p] for p in res["low_confidence_correct"]]
    assert right == sorted(right)
    assert len(res["misclassified"]) == sum(p["true"] != p["pred"] for p in res["predictions"])


def test_probabilities_match_the_model(trained):
    from landgui.core import data as D
    from landgui.core.models import load_run

    res = evaluate_run(trained / "run", "val", write=False)
    run = load_run(trained / "run")
    root = Path(res["dataset_root"])
    imgs = np.stack([D.load_resized(root / p["path"], 32) for p in res["predictions"]])
    want = np.asarray(run.model(imgs.astype("float32"), training=False))
    np.testing.assert_allclose([p["probs"] for p in res["predictions"]], want, atol=1e-4)


def test_bad_input(trained, tmp_path):
    run = trained / "run"
    nomodel = tmp_path / "nomodel"
    shutil.copytree(run, nomodel)
    (nomodel / "model.keras").unlink()
    with pytest.raises(LandguiError, match="missing model.keras"):
        evaluate_run(nomodel)
    # a split whose images are partly missing: reported, the rest evaluated
    cfg = json.loads((run / "config.json").read_text())
    manifest = json.loads(Path(cfg["split"]).read_text())
    ds_copy = tmp_path / "ds"
    shutil.copytree(manifest["dataset_root"], ds_copy)
    manifest["dataset_root"] = str(ds_copy)
    gone = manifest["splits"]["test"][0]["path"]
    (ds_copy / gone).unlink()
    (tmp_path / "sp").mkdir()
    (tmp_path / "sp" / "split.json").write_text(json.dumps(manifest))
    res = evaluate_run(run, "test", split_path=tmp_path / "sp", write=False)
    assert res["missing"] == [gone] and res["n_images"] == 11
    # labels that do not match the split's classes
    manifest["classes"] = ["desert", "water", "green_area"]
    (tmp_path / "sp" / "split.json").write_text(json.dumps(manifest))
    with pytest.raises(LandguiError, match="do not match the split's classes"):
        evaluate_run(run, "test", split_path=tmp_path / "sp")


def test_cli_evaluate_compare_predict(trained, capsys):
    run = trained / "run"
    assert main(["evaluate", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "confusion matrix (rows: true, columns: predicted)" in out and "macro avg" in out
    assert main(["evaluate", str(run), "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "val"
    assert main(["compare", str(run), str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["run", "model", "backbone"] and len(out) == 3 and "scratch" in out[1]
    manifest = json.loads(Path(json.loads((run / "config.json").read_text())["split"]).read_text())
    img = str(Path(manifest["dataset_root"]) / manifest["splits"]["test"][0]["path"])
    assert main(["predict", str(run), img, "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)["predictions"][0]
    assert sum(pred["probs"].values()) == pytest.approx(1.0, abs=1e-4)
    assert main(["evaluate", str(trained / "nope")]) == 2
