"""AdaBN: the batch-norm statistics follow the target images, the model in memory and the run
folder stay untouched (byte-identical), and every front door (evaluate, predict, segment) offers it."""

import numpy as np
import pytest
from synth import make_dataset, tree_snapshot

from landgui.core.base.errors import LandguiError
from landgui.core.inference.adaptation import adapt_to_images
from landgui.core.models.build import load_run
from landgui.core.params import ModelSpec
from landgui.core.training import trainer as T


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import write_split
    from landgui.core.params import SplitParams

    base = tmp_path_factory.mktemp("adapt")
    root = make_dataset(base / "ds", per_class=10, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(root), base / "split", SplitParams(seed=0))
    T.train(
        base / "split", base / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1, batch_size=8)
    )
    return base / "run"


def _first_bn(model):
    import keras

    from landgui.core.models.build import _flat_layers

    return next(lyr for lyr in _flat_layers(model) if isinstance(lyr, keras.layers.BatchNormalization))


def test_statistics_follow_the_target_and_the_original_is_untouched(run_dir):
    import keras

    run = load_run(run_dir)
    bn = _first_bn(run.model)
    mean_before = np.asarray(bn.moving_mean).copy()
    rng = np.random.default_rng(0)
    target = np.clip(rng.normal(200, 20, (128, 32, 32, 3)), 0, 255).astype(np.uint8)  # a much brighter "sensor"
    adapted = adapt_to_images(run.model, target, batch_size=32)
    np.testing.assert_array_equal(np.asarray(bn.moving_mean), mean_before)  # original unchanged
    # the first BN's statistics are now those of its input on the target images
    conv_in = keras.Model(run.model.input, run.model.get_layer("b0_conv").output)
    act = np.asarray(conv_in(target.astype("float32")))
    got = np.asarray(_first_bn(adapted).moving_mean)
    np.testing.assert_allclose(got, act.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-3)
    batch_vars = [act[i : i + 32].var(axis=(0, 1, 2)) for i in range(0, 128, 32)]
    np.testing.assert_allclose(np.asarray(_first_bn(adapted).moving_variance), np.mean(batch_vars, 0), rtol=1e-2)
    assert not np.allclose(got, mean_before)


def test_too_few_target_images(run_dir):
    run = load_run(run_dir)
    with pytest.raises(LandguiError, match="at least 16"):
        adapt_to_images(run.model, np.zeros((5, 32, 32, 3), np.uint8))


def test_adaptation_leaves_the_run_folder_byte_identical(run_dir, tmp_path, capsys):
    """... and each front door really adapts: predict's probabilities are those of the model
    adapted here to the same images (adapt_to_images, checked against the statistics above), not
    the run's own; evaluate's and segment's differ from the unadapted ones."""
    import json

    import cv2
    from synth import CLASS_COLOURS, textured_image, write_image

    from landgui.cli import main
    from landgui.core.data import images as D
    from landgui.core.evaluation.evaluate import data_name, evaluate_folder

    rng = np.random.default_rng(1)
    folder = tmp_path / "target"
    for c in ("desert", "water"):
        for i in range(10):
            write_image(folder / c / f"{i}.png", (textured_image(rng, CLASS_COLOURS[c], 32) * 0.7).astype(np.uint8))
    scene = np.concatenate([textured_image(rng, CLASS_COLOURS["water"], 128) for _ in range(2)], axis=1)
    cv2.imwrite(str(tmp_path / "scene.png"), scene[:, :, ::-1])
    before = tree_snapshot(run_dir)
    res = evaluate_folder(run_dir, folder, adapt=True, write=False)
    assert res["adapted"] and res["split"] == data_name(folder) + "-adapted"
    plain = evaluate_folder(run_dir, folder, write=False)
    assert [p["path"] for p in res["predictions"]] == [p["path"] for p in plain["predictions"]]
    probs = [np.array([p["probs"] for p in r["predictions"]]) for r in (res, plain)]
    assert np.abs(probs[0] - probs[1]).max() > 1e-3, "evaluate --adapt gave the unadapted model's numbers"
    imgs = [str(p) for p in sorted(folder.rglob("*.png"))]
    capsys.readouterr()
    assert main(["predict", str(run_dir), *imgs, "--adapt", "--json"]) == 0
    run = load_run(run_dir)
    got = np.array(
        [[p["probs"][lab] for lab in run.labels] for p in json.loads(capsys.readouterr().out)["predictions"]]
    )
    stack = np.stack([D.load_resized(p, 32) for p in imgs]).astype("float32")
    want = np.asarray(adapt_to_images(run.model, stack.astype(np.uint8))(stack, training=False))
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.abs(got - np.asarray(run.model(stack, training=False))).max() > 1e-3, "not the run's own numbers"
    out = tmp_path / "maps"
    assert (
        main(
            [
                "segment",
                str(run_dir),
                str(tmp_path / "scene.png"),
                "--out",
                str(out),
                "--patch",
                "16",
                "--adapt",
                "--quiet",
            ]
        )
        == 0
    )
    argv = ["segment", str(run_dir), str(tmp_path / "scene.png"), "--out", str(tmp_path / "plain"), "--patch", "16"]
    assert main([*argv, "--quiet"]) == 0
    assert tree_snapshot(run_dir) == before
    assert json.loads((out / "scene.summary.json").read_text())["adapted"] is True
    csv = (out / "scene.patches.csv").read_text()
    assert csv != (tmp_path / "plain" / "scene.patches.csv").read_text(), "segment --adapt mapped as without it"


def test_feature_method_only_touches_the_head_statistics():
    import keras

    from landgui.core.inference.adaptation import default_method
    from landgui.core.models.build import FEATURE_NORM

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="inner_bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.BatchNormalization(center=False, scale=False, name=FEATURE_NORM)(x)
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))
    assert default_method(model) == "features"
    target = np.random.default_rng(0).uniform(0, 255, (64, 8, 8, 3)).astype(np.uint8)
    adapted = adapt_to_images(model, target, batch_size=32)
    inner = np.asarray(adapted.get_layer("inner_bn").moving_mean)
    np.testing.assert_array_equal(inner, np.asarray(model.get_layer("inner_bn").moving_mean))
    feats = np.asarray(keras.Model(model.input, model.get_layer(FEATURE_NORM).input)(target.astype("float32")))
    np.testing.assert_allclose(np.asarray(adapted.get_layer(FEATURE_NORM).moving_mean), feats.mean(0), rtol=1e-4)
    everything = adapt_to_images(model, target, batch_size=32, method="all")
    assert not np.allclose(np.asarray(everything.get_layer("inner_bn").moving_mean), inner)
    with pytest.raises(LandguiError, match="unknown adaptation method"):
        adapt_to_images(model, target, method="tent")
