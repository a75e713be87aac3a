"""Context over the patch grid (landgui.core.scenes.context): a lone wrong patch is corrected, real
boundaries and invalid patches are kept, probabilities stay normalised, off is the raw output; and
the mapping pipeline, the summary JSON and the teach-your-scene re-mapping use it as documented."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from landgui.core import scenes as S
from landgui.core.base.errors import LandguiError
from landgui.core.inference.engine import Predictor
from landgui.core.scenes.context import (
    CONTEXT_ITERATIONS,
    CONTEXT_NEIGHBOURS,
    DEFAULT_CONTEXT,
    check_context,
    smooth_probs,
)

A, B = [0.8, 0.2], [0.2, 0.8]


def region(rows: int, cols: int, p: list[float]) -> np.ndarray:
    return np.tile(np.array(p, np.float32), (rows, cols, 1))


@pytest.mark.parametrize("neighbours", [4, 8])
def test_a_lone_wrong_patch_in_a_uniform_region_is_corrected(neighbours):
    probs = region(7, 7, A)
    probs[3, 3] = [0.35, 0.65]  # the model alone: class 1, not sure
    out = smooth_probs(probs, np.ones((7, 7), bool), neighbours=neighbours)
    assert out[3, 3].argmax() == 0
    assert (out.argmax(-1) == 0).all()
    assert out[1, 1, 0] > probs[1, 1, 0], "a region that agrees grows surer"


def test_one_iteration_matches_the_formula_by_hand():
    """z = p * exp(s * mean of the 4 neighbours' p), normalised: worked out with math.exp."""
    probs = region(3, 3, A)
    probs[1, 1] = [0.3, 0.7]
    s = 2.5
    out = smooth_probs(probs, np.ones((3, 3), bool), s, 1, neighbours=4)
    a = 0.3 * math.exp(s * 0.8)
    b = 0.7 * math.exp(s * 0.2)
    assert out[1, 1] == pytest.approx([a / (a + b), b / (a + b)], rel=1e-5)
    # a corner hears 2 of its 4 neighbour positions (the others are off the grid): half the pull
    a = 0.8 * math.exp(s * (0.8 + 0.8) / 4)
    b = 0.2 * math.exp(s * (0.2 + 0.2) / 4)
    assert out[0, 0] == pytest.approx([a / (a + b), b / (a + b)], rel=1e-5)


@pytest.mark.parametrize("neighbours", [4, 8])
@pytest.mark.parametrize("strength", [DEFAULT_CONTEXT, 10.0, 20.0])
def test_a_straight_boundary_between_two_regions_is_kept(neighbours, strength):
    probs = np.concatenate([region(10, 5, A), region(10, 5, B)], axis=1)  # columns 0-4 | 5-9
    horizontal = np.concatenate([region(5, 10, A), region(5, 10, B)], axis=0)
    for p in (probs, horizontal):
        out = smooth_probs(p, np.ones(p.shape[:2], bool), strength, 10, neighbours=neighbours)
        np.testing.assert_array_equal(out.argmax(-1), p.argmax(-1))


def test_invalid_patches_are_never_changed_nor_used():
    probs = region(5, 5, A)
    valid = np.ones((5, 5), bool)
    valid[2, 2] = valid[0, 4] = False
    probs[2, 2] = [0.0, 1.0]  # what a no-data patch holds must not matter
    probs[0, 4] = [0.0, 0.0]
    out = smooth_probs(probs, valid)
    np.testing.assert_array_equal(out[~valid], probs[~valid])
    other = probs.copy()
    other[2, 2] = [1.0, 0.0]
    other[0, 4] = [0.5, 0.5]
    np.testing.assert_array_equal(smooth_probs(other, valid)[valid], out[valid])
    # a patch whose neighbours are all invalid hears nothing: it keeps the model's answer
    lone = region(3, 3, B)
    lone[1, 1] = [0.6, 0.4]
    ring = np.zeros((3, 3), bool)
    ring[1, 1] = True
    np.testing.assert_allclose(smooth_probs(lone, ring)[1, 1], [0.6, 0.4], rtol=1e-6)


def test_probabilities_stay_normalised():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), (20, 30)).astype(np.float32)
    probs[3, 4] = [1, 0, 0, 0, 0]  # exact zeros are floored before the log, not a -inf
    valid = rng.random((20, 30)) > 0.2
    for nb in (4, 8):
        out = smooth_probs(probs, valid, 6.0, 10, neighbours=nb)
        assert out.dtype == np.float32 and np.isfinite(out).all()
        np.testing.assert_allclose(out[valid].sum(-1), 1.0, atol=1e-5)
        assert (out >= 0).all() and (out <= 1).all()


def test_off_gives_exactly_the_raw_output():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), (6, 7)).astype(np.float32)
    valid = np.ones((6, 7), bool)
    np.testing.assert_array_equal(smooth_probs(probs, valid, 0.0), probs)
    np.testing.assert_array_equal(smooth_probs(probs, valid, 3.0, 0), probs)
    grid = S.make_grid(7 * 16, 6 * 16, 16, 16)
    res = S.assemble_result("x", ["a", "b", "c"], grid, probs, valid, 1.0, context=0.0)
    np.testing.assert_array_equal(res.probs, probs)
    np.testing.assert_array_equal(res.classes, probs.argmax(-1))
    assert res.raw_probs is None and res.context == 0.0 and "context_changed" not in res.stats


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"strength": -1.0}, r"between 0 \(off\) and 20"),
        ({"strength": float("nan")}, r"between 0 \(off\) and 20"),
        ({"strength": 1.0, "iterations": -1}, "iterations must be 0 or more"),
        ({"strength": 1.0, "neighbours": 6}, "must be 4 or 8"),
    ],
)
def test_bad_settings_say_so_in_one_line(kw, words):
    with pytest.raises(LandguiError, match=words):
        check_context(**kw)


def test_affinity_weights_scale_each_neighbour():
    """Weights per neighbour position (e.g. from backbone features): 1 is the plain grid, 0 cuts a
    neighbour off (all cut: the model's own answer)."""
    probs = region(4, 4, A)
    probs[1, 2] = [0.4, 0.6]
    valid = np.ones((4, 4), bool)
    ones, zeros = np.ones((4, 4, 4), np.float32), np.zeros((4, 4, 4), np.float32)
    np.testing.assert_array_equal(smooth_probs(probs, valid, affinity=ones), smooth_probs(probs, valid))
    np.testing.assert_allclose(smooth_probs(probs, valid, affinity=zeros), probs, rtol=1e-6)
    with pytest.raises(LandguiError, match="does not match the grid"):
        smooth_probs(probs, valid, neighbours=8, affinity=ones)


def test_a_mask_of_another_shape_is_refused():
    with pytest.raises(LandguiError, match="do not make a patch grid"):
        smooth_probs(region(3, 4, A), np.ones((4, 3), bool))


# -- through the mapping pipeline, with a stub model (no TensorFlow) ------------------------------

COLOURS = np.array([(200, 30, 30), (30, 200, 30), (30, 30, 200)], np.float32)
LABELS = ["red", "green", "blue"]


class ColourPredictor(Predictor):
    """Probabilities from the distance of a patch's mean colour to each class colour."""

    engine = "stub"

    def __init__(self) -> None:
        super().__init__(Path("stub-run"), LABELS, 16)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return head(batch.reshape(len(batch), -1, 3).mean(1))


def head(mean_colour: np.ndarray) -> np.ndarray:
    logits = -((mean_colour[:, None, :] - COLOURS[None]) ** 2).sum(-1) / 4000.0
    e = np.exp(logits - logits.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


@pytest.fixture
def scene_path(tmp_path):
    """6 x 6 patches of 16 px: red | blue halves, and one red patch that looks a little greener."""
    truth = np.zeros((6, 6), int)
    truth[:, 3:] = 2
    img = np.repeat(np.repeat(COLOURS[truth], 16, 0), 16, 1)
    img[32:48, 16:32] = 0.45 * COLOURS[0] + 0.55 * COLOURS[1]  # patch (2, 1): a shadow, say
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), img.astype(np.uint8)[:, :, ::-1])
    return path


def classify(path: Path, **kw):
    scene = S.open_scene(path)
    try:
        return S.classify_scene(ColourPredictor(), LABELS, 16, scene, patch=16, **kw)
    finally:
        scene.close()


def test_the_pipeline_maps_with_context_and_records_it(scene_path, tmp_path):
    alone = classify(scene_path, context=0.0)
    assert alone.classes[2, 1] == 1 and alone.raw_probs is None
    res = classify(scene_path)  # on by default
    assert res.context == DEFAULT_CONTEXT > 0
    expect = np.zeros((6, 6), int)
    expect[:, 3:] = 2
    np.testing.assert_array_equal(res.classes, expect)  # the lone patch mended, the boundary kept
    np.testing.assert_array_equal(res.cell_classes, expect)
    np.testing.assert_array_equal(res.raw_probs, alone.probs)  # the model's own, kept
    assert res.stats["context_changed"] == 1
    assert res.coverage["red"] == pytest.approx(0.5) and alone.coverage["red"] < 0.5
    assert res.cell_confidence[2, 1] > alone.cell_confidence[2, 1]
    scene = S.open_scene(scene_path)
    for r, name in ((res, "on"), (alone, "off")):
        files = S.export(r, scene, tmp_path / name, "scene", dict.fromkeys(LABELS, "#000000"), ())
        summary = json.loads(Path(files["summary"]).read_text())["context"]
        if r is res:
            assert summary == {
                "on": True,
                "strength": DEFAULT_CONTEXT,
                "neighbours": CONTEXT_NEIGHBOURS,
                "iterations": CONTEXT_ITERATIONS,
                "changed_patches": 1,
            }
        else:
            assert summary["on"] is False and summary["strength"] == 0.0
    scene.close()
    with pytest.raises(LandguiError, match="context strength"):
        classify(scene_path, context=-2.0)


def test_teaching_re_maps_with_the_same_context(scene_path):
    """reclassify_with_head applies the context step of the result it re-maps."""
    res = classify(scene_path)
    scene = S.open_scene(scene_path)
    try:
        img, _ = scene.read(0, 0, scene.width, scene.height)
    finally:
        scene.close()
    res.features = img.reshape(6, 16, 6, 16, 3).mean((1, 3)).reshape(36, 3).astype(np.float32)
    res.features_from = "backbone-1"

    class Taught:
        labels, engine, run_dir, backbone_id = LABELS, "stub", Path("taught"), "backbone-1"
        head = staticmethod(head)

    new = S.reclassify_with_head(res, Taught())
    assert new is not None and new.context == res.context
    assert new.classes[2, 1] == 0 and new.raw_probs[2, 1].argmax() == 1
    res.context = 0.0
    assert S.reclassify_with_head(res, Taught()).classes[2, 1] == 1


def test_cli_segment_context_flags_reach_the_summary(tmp_path, capsys):
    from landgui.cli import main

    img = np.repeat(np.repeat(COLOURS[np.array([[0, 0], [0, 2]])], 64, 0), 64, 1).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "s.png"), img[:, :, ::-1])
    for flags, on, strength in (
        ([], True, DEFAULT_CONTEXT),
        (["--no-context"], False, 0.0),
        (["--context", "1.5"], True, 1.5),
    ):
        out = tmp_path / f"out{len(flags)}{strength}"
        out.mkdir()
        assert (
            main(
                [
                    "segment",
                    "default",
                    str(tmp_path / "s.png"),
                    "--out",
                    str(out),
                    "--formats",
                    "csv",
                    "--quiet",
                    *flags,
                ]
            )
            == 0
        )
        context = json.loads((out / "s.summary.json").read_text())["context"]
        assert context["on"] is on and context["strength"] == strength
    assert main(["segment", "default", str(tmp_path / "s.png"), "--out", str(tmp_path), "--context", "-1"]) == 2
    assert "context strength must be between 0 (off) and 20" in capsys.readouterr().err
