"""Evaluation numbers checked against scikit-learn; files written; bad input; CLI."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from landgui.cli import main
from landgui.core.base.errors import LandguiError
from landgui.core.evaluation.evaluate import data_name, evaluate_run
from landgui.core.evaluation.metrics import metrics
from landgui.core.models.build import ModelSpec
from landgui.core.training import trainer as T


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from synth import make_dataset

    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split

    base = tmp_path_factory.mktemp("eval")
    root = make_dataset(base / "ds", per_class=14, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(root), base / "split", SplitParams(val=0.2, test=0.3, seed=0))
    T.train(
        base / "split", base / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=2, batch_size=8)
    )
    return base


def _split_truth(run: Path, split: str) -> dict[str, str]:
    """path -> class of every image of ``split``, read from the run's split.json (not from landgui)."""
    manifest = json.loads(Path(json.loads((run / "config.json").read_text())["split"]).read_text())
    return {e["path"]: e["label"] for e in manifest["splits"][split]}


def _check_against_sklearn(res: dict, truth: dict[str, str]) -> None:
    """The report's numbers against scikit-learn on the true classes ``truth`` (path -> class,
    taken from split.json or the folder names, never from the report's own ``true``)."""
    labels = res["labels"]
    assert sorted(p["path"] for p in res["predictions"]) == sorted(truth), "every image of the truth, once"
    y = np.array([labels.index(truth[p["path"]]) for p in res["predictions"]])
    assert [p["true"] for p in res["predictions"]] == [labels[i] for i in y]
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
        {"path": f"{i}.png", "true": labels[t], "pred": labels[q.argmax()], "probs": q.tolist()}
        for i, (t, q) in enumerate(zip(y, probs, strict=True))
    ]
    _check_against_sklearn(res, {f"{i}.png": labels[t] for i, t in enumerate(y)})


def test_evaluate_run_numbers_and_files(trained):
    run = trained / "run"
    res = evaluate_run(run, "test")
    truth = _split_truth(run, "test")
    _check_against_sklearn(res, truth)
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
    assert {r["path"]: r["true"] for r in rows} == truth
    for name in ("confusion-test.png", "per-class-test.png"):
        assert (run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    conf = {p["path"]: p["confidence"] for p in res["predictions"]}
    wrong = [conf[p] for p in res["misclassified"]]
    assert wrong == sorted(wrong, reverse=True)
    right = [conf[p] for p in res["low_confidence_correct"]]
    assert right == sorted(right)
    assert len(res["misclassified"]) == sum(p["true"] != p["pred"] for p in res["predictions"])


def test_probabilities_match_the_model(trained):
    from landgui.core.data import images as D
    from landgui.core.models.build import load_run

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
    res = evaluate_run(run, "test", split_path=tmp_path / "sp", write=False)  # same split, images moved
    assert res["missing"] == [gone] and res["n_images"] == 11 and not res["other_split"]
    # labels that do not match the split's classes
    manifest["classes"] = ["desert", "water", "green_area"]
    (tmp_path / "sp" / "split.json").write_text(json.dumps(manifest))
    with pytest.raises(LandguiError, match="do not match the split's classes"):
        evaluate_run(run, "test", split_path=tmp_path / "sp")


def test_evaluation_refuses_a_split_the_model_was_not_trained_on(trained, tmp_path, capsys):
    """Re-splitting the same folder with another seed puts training images in "test": refused."""
    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, load_split, write_split

    run = trained / "run"
    root = load_split(json.loads((run / "config.json").read_text())["split"])["dataset_root"]
    write_split(scan_dataset(root), tmp_path / "other", SplitParams(val=0.2, test=0.3, seed=7))
    with pytest.raises(LandguiError, match="not the split the model was trained on"):
        evaluate_run(run, "test", split_path=tmp_path / "other", write=False)
    res = evaluate_run(run, "test", split_path=tmp_path / "other", allow_other_split=True, write=False)
    assert res["other_split"] is True
    assert main(["evaluate", str(run), "--split-file", str(tmp_path / "other"), "--quiet"]) == 2
    assert "--allow-other-split" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--allow-other-split", "--quiet"]) == 2
    assert main(["evaluate", str(run), "--split-file", str(tmp_path / "other"), "--allow-other-split", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["other_split"] is True
    # and `split` never silently replaces the split.json that runs point to
    assert main(["split", root, "--out", str(tmp_path / "other"), "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["split", root, "--out", str(tmp_path / "other"), "--quiet", "--overwrite"]) == 0


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


# -- evaluation on any labelled folder (issue 10, part 1) ------------------------------------------


def _folder(base: Path, classes: dict[str, int], seed: int = 5) -> Path:
    from synth import CLASS_COLOURS, textured_image, write_image

    rng = np.random.default_rng(seed)
    colours = {**CLASS_COLOURS, "snow": (250, 250, 250)}
    for c, n in classes.items():
        for i in range(n):
            write_image(base / c / f"{c}-{i}.jpg", textured_image(rng, colours[c], 40))
    return base


def test_evaluate_folder_numbers_rows_and_files(trained, tmp_path):
    from landgui.core.evaluation.evaluate import evaluate_folder

    run = trained / "run"
    before = (run / "evaluation-test.json").read_bytes() if (run / "evaluation-test.json").exists() else None
    folder = _folder(tmp_path / "my scenes", {"desert": 5, "water": 7})  # no green_area images
    (folder / "water" / "broken.jpg").write_bytes(b"not an image")
    res = evaluate_folder(run, folder)
    assert res["split"] == data_name(folder) and res["split"].startswith("data-my_scenes-") and res["n_images"] == 12
    assert res["missing_classes"] == ["green_area"] and res["row_labels"] == ["desert", "water"]
    assert [s["path"] for s in res["skipped"]] == ["water/broken.jpg"]
    labels = res["labels"]
    # the truth: the folder each image was written to (the broken one left out)
    truth = {str(p.relative_to(folder)): p.parent.name for p in folder.rglob("*.jpg") if p.name != "broken.jpg"}
    assert sorted(p["path"] for p in res["predictions"]) == sorted(truth)
    y = np.array([labels.index(truth[p["path"]]) for p in res["predictions"]])
    assert [p["true"] for p in res["predictions"]] == [labels[i] for i in y]
    pred = np.array([labels.index(p["pred"]) for p in res["predictions"]])
    assert pred.tolist() == np.argmax([p["probs"] for p in res["predictions"]], axis=1).tolist()
    rows = [0, 2]
    assert res["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=rows, zero_division=0)
    for i, lab in enumerate(["desert", "water"]):
        m = res["per_class"][lab]
        assert (m["precision"], m["recall"], m["f1"], m["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert "green_area" not in res["per_class"]
    p, r, f, _ = skm.precision_recall_fscore_support(y, pred, labels=rows, average="macro", zero_division=0)
    assert (res["macro_avg"]["precision"], res["macro_avg"]["recall"], res["macro_avg"]["f1"]) == pytest.approx(
        (p, r, f)
    )
    assert res["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=[0, 1, 2])[rows].tolist()
    for name in (f"evaluation-{res['split']}.json", f"predictions-{res['split']}.csv", f"confusion-{res['split']}.png"):
        assert (run / name).stat().st_size > 0
    after = (run / "evaluation-test.json").read_bytes() if (run / "evaluation-test.json").exists() else None
    assert after == before, "the split's evaluation is never overwritten"


def test_evaluate_folder_class_matching_errors(trained, tmp_path):
    from landgui.core.evaluation.evaluate import evaluate_folder

    run = trained / "run"
    folder = _folder(tmp_path / "f", {"desert": 3, "snow": 4})
    with pytest.raises(LandguiError, match=r"\['snow'\] are not among the model's classes"):
        evaluate_folder(run, folder, write=False)
    res = evaluate_folder(run, folder, ignore_unknown=True, write=False)
    assert res["n_images"] == 3 and res["ignored_classes"] == {"snow": 4}
    only_unknown = _folder(tmp_path / "g", {"snow": 3})
    with pytest.raises(LandguiError, match="no images of the model's classes"):
        evaluate_folder(run, only_unknown, ignore_unknown=True, write=False)
    with pytest.raises(LandguiError, match="not found"):
        evaluate_folder(run, tmp_path / "nope", write=False)


def test_cli_evaluate_data_and_compare_column(trained, tmp_path, capsys):
    run = trained / "run"
    folder = _folder(tmp_path / "aidlike", {"desert": 4, "green_area": 4, "water": 4, "snow": 2})
    assert main(["evaluate", str(run), "--data", str(folder), "--quiet"]) == 2
    assert "--ignore-unknown" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", str(folder), "--ignore-unknown", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"folder {folder.resolve()}: 12 images" in out and "ignored folder classes" in out
    assert main(["compare", str(run)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert f"aidlike ({folder.resolve()}) acc" in header  # which folder (issue 23, item 7)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "SPLIT", "--out", "OUT", "--epochs", "-3"], "epochs must be at least 1"),
        (["train", "SPLIT", "--out", "OUT", "--epochs", "0"], "epochs must be at least 1"),
        (["train", "SPLIT", "--out", "OUT", "--image-size", "0"], "image size must be between"),
        (["train", "SPLIT", "--out", "OUT", "--lr", "nan"], "learning rate"),
        (["train", "SPLIT", "--out", "OUT", "--lr", "-1"], "learning rate"),
        (["train", "SPLIT", "--out", "OUT", "--batch-size", "0"], "batch size must be at least 1"),
        (["split", "DATA", "--out", "OUT2", "--seed", "-5"], "--seed must be 0 or more"),
        (["segment", "RUN", "SCENE", "--out", "OUT3", "--patch", "100000"], "larger than the scene"),
        (["segment", "RUN", "SCENE", "--out", "OUT3", "--batch", "0"], "--batch must be at least 1"),
        (["segment", "RUN", "SCENE", "--out", "OUT3", "--formats", ","], "no format"),
    ],
)
def test_arguments_are_checked_before_any_work(trained, tmp_path, capsys, argv, message):
    import cv2

    from landgui.core.data.split import load_split

    split = json.loads((trained / "run" / "config.json").read_text())["split"]
    cv2.imwrite(str(tmp_path / "scene.png"), np.zeros((64, 64, 3), np.uint8))
    subst = {
        "SPLIT": str(Path(split).parent),
        "OUT": str(tmp_path / "run"),
        "DATA": load_split(split)["dataset_root"],
        "OUT2": str(tmp_path / "split"),
        "RUN": str(trained / "run"),
        "SCENE": str(tmp_path / "scene.png"),
        "OUT3": str(tmp_path / "maps"),
    }
    assert main([subst.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("landgui: error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "split").exists() and not (tmp_path / "maps").exists()


def test_an_evaluation_of_a_replaced_model_is_stale_and_compare_measures_the_model_now(trained, tmp_path, capsys):
    """Issue 23, item 9: evaluations never knew which model they measured, so after --resume,
    --overwrite or mid-training `compare` showed an old model's accuracy. Every evaluation now
    carries the model's SHA-256; one of another model is left out (and named), and compare
    evaluates the model the run holds now."""
    from landgui.core.base.paths import file_sha256
    from landgui.core.runs.folder import RunFolder
    from landgui.core.runs.listing import RunSummary

    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    folder = RunFolder(run)
    assert main(["evaluate", str(run), "--quiet"]) == 0
    ev = json.loads((run / "evaluation-test.json").read_text())
    assert ev["model_sha256"] == file_sha256(run / "model.keras")
    assert RunSummary.read(run).test_accuracy == ev["accuracy"] and not RunSummary.read(run).stale_evaluations

    # the run's model is replaced (as a resumed or overwritten training does): a wrong figure on
    # record, as if the old model had scored 0.1234
    (run / "evaluation-test.json").write_text(json.dumps(ev | {"accuracy": 0.1234}))
    with open(run / "model.keras", "ab") as fh:
        fh.write(b"\0")  # another file: another SHA-256 (Keras never reads past the zip's end)
    assert folder.evaluation("test") is None and folder.evaluation("test", stale_ok=True)["accuracy"] == 0.1234
    summary = RunSummary.read(run)
    # every evaluation of the copied run measured the old model (the module's other tests may have
    # added a val split or a folder): all are stale, and none is shown as the run's figure
    assert summary.test_accuracy is None and "test" in summary.stale_evaluations
    assert summary.stale_evaluations == folder.evaluations() and summary.data_accuracy == {}
    capsys.readouterr()
    assert main(["compare", str(run)]) == 0
    out = capsys.readouterr().out
    assert "0.1234" not in out, out
    assert f"{ev['accuracy']:.4f}" in out, out  # measured again, on the model the run holds now
    # an evaluation from before evaluations carried the SHA cannot say: it is shown as before
    old = json.loads((run / "evaluation-test.json").read_text())
    old.pop("model_sha256")
    (run / "evaluation-test.json").write_text(json.dumps(old))
    assert folder.evaluation("test") is not None


def test_compare_takes_default_like_every_other_command(capsys, tmp_path, monkeypatch):
    """Issue 23, item 10: `compare default` said "not a landgui run folder" though `default` (the
    shipped model) works everywhere else."""
    monkeypatch.chdir(tmp_path)  # no folder named default here
    assert main(["compare", "default", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["run"] == "default" and row["model"] == "transfer" and row["backbone"] == "efficientnet_lite0"
