"""Teach a run your scene: fine-tune the head on corrections into a new run (tiny models)."""

import json

import numpy as np
import pytest
from synth import textured_image, tree_snapshot, write_image

from landgui.cli import main
from landgui.core.base.errors import LandguiError


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    from synth import make_dataset

    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import write_split
    from landgui.core.params import ModelSpec, SplitParams
    from landgui.core.training import trainer as T

    base = tmp_path_factory.mktemp("ft")
    ds = make_dataset(base / "ds", per_class=12, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(ds), base / "split", SplitParams(seed=0))
    spec = ModelSpec(model="transfer", image_size=32)
    T.train(base / "split", base / "run", spec, T.TrainParams(epochs=2, batch_size=8, export_litert=False))
    return base


def _corrections(folder, label: str, colour, n: int = 6, seed: int = 5):
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_image(folder / label / f"c{i}.png", textured_image(rng, colour))
    return folder


def test_finetune_teaches_a_new_look_of_a_class_and_keeps_the_parent(parent, tmp_path):
    from landgui.core.inference.predictors import predict_files
    from landgui.core.training.finetune import finetune

    run = parent / "run"
    before = tree_snapshot(run)
    purple = (150, 40, 160)  # "desert" as another sensor renders it: a colour the parent never saw
    corr = _corrections(tmp_path / "corr", "desert", purple)
    probe = _corrections(tmp_path / "probe", "desert", purple, n=6, seed=99)
    probe_files = sorted(str(p) for p in (probe / "desert").iterdir())
    old = predict_files(run, probe_files, engine="keras")["predictions"]
    res = finetune(run, [corr], tmp_path / "new", epochs=30, export_litert=False)
    new = predict_files(tmp_path / "new", probe_files, engine="keras")["predictions"]
    p_old = np.mean([r["probs"]["desert"] for r in old])
    p_new = np.mean([r["probs"]["desert"] for r in new])
    assert p_new > p_old + 0.15, (p_old, p_new)  # a tiny 32 px model: a clear shift, not certainty
    assert sum(r["pred"] == "desert" for r in new) > sum(r["pred"] == "desert" for r in old)
    assert sum(r["pred"] == "desert" for r in new) >= 5, [r["pred"] for r in new]
    assert tree_snapshot(run) == before, "the parent run is never changed"
    cfg = json.loads((tmp_path / "new" / "config.json").read_text())
    assert cfg["parent"] == str(run.resolve())
    assert cfg["finetune"]["corrections"] == [str(corr.resolve())] and cfg["finetune"]["counts"] == {"desert": 6}
    assert cfg["finetune"]["replay"] == res.replay > 0 and "training split" in cfg["finetune"]["replay_source"]
    assert json.loads((tmp_path / "new" / "status.json").read_text())["status"] == "completed"
    assert json.loads((tmp_path / "new" / "labels.json").read_text()) == ["desert", "green_area", "water"]


def test_a_second_round_keeps_the_first_rounds_corrections(parent, tmp_path):
    from landgui.core.training.finetune import finetune

    first = _corrections(tmp_path / "c1", "desert", (150, 40, 160), n=2)
    second = _corrections(tmp_path / "c2", "water", (30, 60, 120), n=2)
    finetune(parent / "run", [first], tmp_path / "r1", epochs=2, export_litert=False)
    res = finetune(tmp_path / "r1", [second], tmp_path / "r2", epochs=2, export_litert=False)
    assert res.corrections == {"desert": 2, "water": 2}
    cfg = json.loads((tmp_path / "r2" / "config.json").read_text())
    assert cfg["finetune"]["corrections"] == [str(second.resolve()), str(first.resolve())]
    assert cfg["parent"] == str((tmp_path / "r1").resolve())


def test_cli_finetune_and_its_errors(parent, tmp_path, capsys):
    run = parent / "run"
    corr = _corrections(tmp_path / "corr", "water", (30, 60, 120), n=3)
    argv = ["finetune", str(run), "--add", str(corr), "--out", str(tmp_path / "new"), "--epochs", "2", "--quiet"]
    assert main(argv) == 0
    assert "fine-tuned on 3 corrections (water 3)" in capsys.readouterr().out
    assert main(argv) == 2  # the new run exists: refused without --overwrite
    assert "already holds a run" in capsys.readouterr().err
    bad = _corrections(tmp_path / "bad", "snow", (250, 250, 250), n=2)
    assert main(["finetune", str(run), "--add", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "class(es) ['snow'] are not classes of the model" in capsys.readouterr().err
    assert main(["finetune", str(run), "--add", str(corr), "--out", str(run)]) == 2
    assert "--out must differ from the parent" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_scratch_run_cannot_be_fine_tuned_on_corrections(tiny_split, tmp_path):
    from landgui.core.params import ModelSpec
    from landgui.core.training import trainer as T
    from landgui.core.training.finetune import finetune

    T.train(tiny_split, tmp_path / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1))
    corr = _corrections(tmp_path / "corr", "water", (30, 60, 120), n=2)
    with pytest.raises(LandguiError, match="needs a transfer run"):
        finetune(tmp_path / "run", [corr], tmp_path / "new")


def test_the_numpy_head_runs_as_the_keras_head_and_learns(parent):
    from landgui.core.models.build import load_run, split_model
    from landgui.core.models.head import LinearHead, train_head

    _, head = split_model(load_run(parent / "run").model)
    lin = LinearHead.from_keras(head)
    rng = np.random.default_rng(0)
    f = rng.normal(0, 1, (60, lin.n_features)).astype(np.float32)
    assert np.abs(lin(f) - head.predict(f, verbose=0)).max() < 1e-5
    y = f[:, :3].argmax(1)  # a planted rule the parent's head does not know
    w = np.ones(len(f), np.float32)
    new, hist = train_head(lin, f, y, w, epochs=40, lr=1e-2, seed=3)
    again, _ = train_head(lin, f, y, w, epochs=40, lr=1e-2, seed=3)
    assert np.array_equal(new.kernel, again.kernel), "seeded: the same head twice"
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    assert (new(f).argmax(1) == y).mean() > 0.9 > (lin(f).argmax(1) == y).mean()
    assert np.abs(new.to_keras(head).predict(f, verbose=0) - new(f)).max() < 1e-5  # saved as Keras, same answers
    assert np.array_equal(lin.kernel, LinearHead.from_keras(head).kernel), "the parent's head is not changed"
    plain = LinearHead(new.kernel, new.bias)  # a head without feature standardisation (the shipped model)
    assert np.allclose(plain(f).sum(1), 1.0, atol=1e-5)


def test_fine_tuning_with_the_parents_litert_backbone_needs_no_tensorflow_and_no_conversion(parent, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    from landgui.core.base import paths as _paths
    from landgui.core.inference import engine as E

    if not E.litert_available():
        pytest.skip("ai-edge-litert is not installed")
    run = tmp_path / "run"
    shutil.copytree(parent / "run", run)
    rng = np.random.default_rng(1)
    x = np.clip(rng.integers(0, 256, (20, 1, 1, 3)) + rng.normal(0, 30, (20, 32, 32, 3)), 0, 255).astype(np.float32)
    lite = E.load_predictor(run, "litert")  # converted: the backbone alone plus head.npz
    meta = json.loads((run / E.LITERT_META).read_text())
    assert meta["head"] == "head.npz" and meta["format"] == E.LITERT_FORMAT and lite.has_features
    assert np.abs(lite(x) - E.load_predictor(run, "keras")(x)).max() < 1e-4
    corr = _corrections(tmp_path / "corr", "desert", (150, 40, 160), n=3)
    code = (
        "import sys; from landgui.core.params import FinetuneParams; "
        "from landgui.core.training.finetune import plan_finetune, fit_head; "
        f"f = fit_head(plan_finetune({str(run)!r}, [{str(corr)!r}], {str(tmp_path / 'x')!r}, FinetuneParams(epochs=3))); "
        "print('TF', 'tensorflow' in sys.modules, f.features, f.predictor is not None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "TF False litert True" in out.stdout, out.stdout + out.stderr
    assert not (tmp_path / "x").exists(), "fitting a head writes no run"
    finetune_new = tmp_path / "new"
    from landgui.core.training.finetune import finetune

    res = finetune(run, [corr], finetune_new, epochs=3)
    assert json.loads((finetune_new / "config.json").read_text())["finetune"]["features"] == "litert"
    assert os.path.samefile(finetune_new / E.LITERT_FILE, run / E.LITERT_FILE) or (
        (finetune_new / E.LITERT_FILE).read_bytes() == (run / E.LITERT_FILE).read_bytes()
    ), "the parent's LiteRT backbone is shared, not converted again"
    assert json.loads((finetune_new / E.LITERT_META).read_text())["head"] == "head.npz"
    E.clear_cache()
    pl = E.load_predictor(finetune_new, "litert")(x)
    pk = E.load_predictor(finetune_new, "keras")(x)
    assert np.abs(pl - pk).max() < 1e-4, "the shared backbone with the new head is the saved Keras model"
    assert res.epochs == 3

    # a scene mapped with the parent keeps its features; the new head re-maps it without the network
    from synth import write_image

    from landgui.core import scenes as S

    img = np.concatenate([x[i].astype(np.uint8) for i in range(6)], axis=1)  # 32 x 192 px: 6 patches
    write_image(tmp_path / "scene.png", img)
    sc = S.open_scene(tmp_path / "scene.png")
    before = S.classify_scene(lite, lite.labels, 32, sc, patch=32, keep_features=True)
    assert before.features.shape == (6, lite.head.n_features) and before.features_from == _paths.file_sha256(lite.path)
    new_pred = E.load_predictor(finetune_new, "litert")
    again = S.reclassify_with_head(before, new_pred)
    direct = S.classify_scene(new_pred, new_pred.labels, 32, sc, patch=32)
    assert again is not None and again.run == str(finetune_new.resolve())
    assert np.abs(again.probs - direct.probs).max() < 1e-5 and (again.classes == direct.classes).all()
    assert S.reclassify_with_head(direct, new_pred) is None, "no features kept: re-map the usual way"
    sc.close()
    _unfamiliar_in_maps_and_predictions(run, finetune_new, lite, before, again, direct, tmp_path)


def _unfamiliar_in_maps_and_predictions(run, finetune_new, lite, before, again, direct, tmp_path):
    """Every map and prediction of a run with a familiarity file says how unlike the training data
    each patch is: noise patches unlike, patches drawn like the training images familiar."""
    import csv

    from synth import CLASS_COLOURS, write_image

    from landgui.cli import main
    from landgui.core import scenes as S
    from landgui.core.inference.familiarity import FAMILIARITY_FILE, UNFAMILIAR_ABOVE
    from landgui.core.inference.predictors import predict_files

    assert (run / FAMILIARITY_FILE).is_file() and (finetune_new / FAMILIARITY_FILE).is_file()
    # the noise scene: every patch unlike the training images, with or without kept features,
    # and the same after re-mapping with a fine-tuned head (same backbone)
    assert before.unfamiliar.shape == (1, 6) and (before.unfamiliar > UNFAMILIAR_ABOVE).all(), before.unfamiliar
    np.testing.assert_allclose(direct.unfamiliar, before.unfamiliar, atol=1e-6)
    np.testing.assert_array_equal(again.unfamiliar, before.unfamiliar)
    rng = np.random.default_rng(3)
    like = [textured_image(rng, CLASS_COLOURS[c]) for c in ("desert", "green_area", "water") for _ in range(2)]
    write_image(tmp_path / "like.png", np.concatenate(like, axis=1))
    sc = S.open_scene(tmp_path / "like.png")
    familiar = S.classify_scene(lite, lite.labels, 32, sc, patch=32)
    sc.close()
    assert np.median(familiar.unfamiliar) < np.median(before.unfamiliar)
    assert (familiar.unfamiliar <= UNFAMILIAR_ABOVE).sum() >= 4, familiar.unfamiliar
    # the CLI: the warning line, the CSV column and the summary
    out = tmp_path / "maps"
    argv = ["segment", str(run), str(tmp_path / "scene.png"), "--out", str(out), "--patch", "32", "--quiet"]
    assert main([*argv, "--formats", "png,csv"]) == 0
    rows = list(csv.DictReader(open(out / "scene.patches.csv")))
    assert [float(r["unfamiliar"]) for r in rows] == pytest.approx(before.unfamiliar.ravel().tolist(), abs=1e-3)
    summary = json.loads((out / "scene.summary.json").read_text())
    assert summary["unfamiliar"]["share"] == 1.0 and "100 % of this scene's patches" in summary["unfamiliar"]["warning"]
    # predictions of files carry the score too
    write_image(tmp_path / "one_like.png", like[int(np.argmin(familiar.unfamiliar.ravel()))])
    preds = predict_files(run, [str(tmp_path / "one_like.png"), str(tmp_path / "scene.png")])["predictions"]
    assert preds[0]["unfamiliar"] < preds[1]["unfamiliar"]
