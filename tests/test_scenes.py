"""Scene mapping: grid, overlap averaging, mosaic correctness, GeoTIFF alignment, bad input, CLI."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth import write_geotiff

from landgui.core import scenes as S
from landgui.core.base.errors import LandguiError

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
LABELS = ["red", "green", "blue"]


def centroid_model(size: int):
    """A Keras model that is a nearest-centroid classifier on the mean colour (correct by design)."""
    import keras

    inp = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    dense = keras.layers.Dense(len(COLOURS), activation="softmax")
    out = dense(x)
    c = np.array(COLOURS, np.float32)
    dense.set_weights([c.T / 50.0, -(c**2).sum(1) / 100.0])
    return keras.Model(inp, out)


def mosaic(classes: np.ndarray, patch: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows, cols = classes.shape
    img = np.zeros((rows * patch, cols * patch, 3), np.uint8)
    for r in range(rows):
        for c in range(cols):
            noise = rng.normal(0, 15, (patch, patch, 3))
            img[r * patch : (r + 1) * patch, c * patch : (c + 1) * patch] = np.clip(
                np.array(COLOURS[classes[r, c]]) + noise, 0, 255
            )
    return img


def test_grid_counts_and_errors():
    g = S.make_grid(200, 130, 64, 64, "pad")
    assert (g.rows, g.cols, g.cell) == (3, 4, 64)
    g = S.make_grid(200, 130, 64, 64, "skip")
    assert (g.rows, g.cols) == (2, 3)
    g = S.make_grid(200, 130, 64, 32, "pad")
    assert (g.rows, g.cols, g.cell) == (4, 6, 32)
    assert S.make_grid(1, 1, 64, 64).n == 1  # smaller than a patch: one mirror-padded patch
    with pytest.raises(LandguiError, match="stride must be at least 1"):
        S.make_grid(100, 100, 64, 0)
    with pytest.raises(LandguiError, match="smaller than one 64 px patch"):
        S.make_grid(50, 100, 64, 64, "skip")
    with pytest.raises(LandguiError, match="leave gaps"):
        S.make_grid(100, 100, 16, 32)


def test_overlap_averaging_hand_computed():
    g = S.make_grid(96, 64, 64, 32, "pad")  # 1 row x 2 cols, cells of 32 px: 2 x 3 cells
    assert (g.rows, g.cols) == (1, 2)
    probs = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    avg, cnt = S.average_cells(g, probs, np.ones((1, 2), bool))
    assert avg.shape == (2, 3, 2)
    np.testing.assert_allclose(avg[0], [[1, 0], [0.5, 0.5], [0, 1]])
    np.testing.assert_allclose(avg[1], avg[0])
    np.testing.assert_array_equal(cnt, [[1, 2, 1], [1, 2, 1]])
    # 2x2 patches with stride half the patch: the centre cell sees all four
    g = S.make_grid(48, 48, 32, 16, "pad")
    p = np.array([[[0.9, 0.1], [0.5, 0.5]], [[0.3, 0.7], [0.1, 0.9]]], np.float32)
    avg, cnt = S.average_cells(g, p, np.ones((2, 2), bool))
    np.testing.assert_allclose(avg[1, 1], [(0.9 + 0.5 + 0.3 + 0.1) / 4, (0.1 + 0.5 + 0.7 + 0.9) / 4], rtol=1e-6)
    np.testing.assert_allclose(avg[0, 0], [0.9, 0.1])
    assert cnt[1, 1] == 4 and cnt[0, 1] == 2


@pytest.mark.parametrize("input_size", [16, 8])
def test_mosaic_comes_back_right(tmp_path, input_size):
    truth = np.array([[0, 1, 2, 0], [1, 2, 0, 1], [2, 0, 1, 2], [0, 0, 2, 1]])
    path = tmp_path / "mosaic.png"
    cv2.imwrite(str(path), mosaic(truth, 16)[:, :, ::-1])
    scene = S.open_scene(path)
    res = S.classify_scene(centroid_model(input_size), LABELS, input_size, scene, patch=16, batch=5)
    np.testing.assert_array_equal(res.classes, truth)
    np.testing.assert_array_equal(res.cell_classes, truth)
    assert res.coverage == pytest.approx({"red": 6 / 16, "green": 5 / 16, "blue": 5 / 16, "uncertain": 0.0})
    assert res.patches_per_s > 0


def test_overlapping_stride_smooths_and_keeps_classes(tmp_path):
    truth = np.array([[0, 0, 2, 2], [0, 0, 2, 2]])
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), mosaic(truth, 16)[:, :, ::-1])
    res = S.classify_scene(centroid_model(16), LABELS, 16, S.open_scene(path), patch=16, stride=8)
    assert res.grid.cell == 8 and res.cell_classes.shape == (4, 8)
    assert (res.cell_classes[:, :3] == 0).all() and (res.cell_classes[:, 5:] == 2).all()


def test_geotiff_output_lines_up_and_geojson_in_scene_crs(tmp_path):
    import rasterio

    truth = np.array([[0, 1, 2], [2, 1, 0]])
    img = mosaic(truth, 16)[:, :45]  # 32 x 45: a partial last column
    transform = write_geotiff(tmp_path / "scene.tif", img)
    scene = S.open_scene(tmp_path / "scene.tif")
    assert scene.georeferenced and (scene.width, scene.height) == (45, 32)
    res = S.classify_scene(centroid_model(16), LABELS, 16, scene, patch=16)
    files = S.export(res, scene, tmp_path / "out", "scene", {"red": "#ff0000", "green": "#00ff00", "blue": "#0000ff"})
    with rasterio.open(files["geotiff"]) as out:
        assert out.crs.to_string() == "EPSG:32633"
        assert out.transform == transform
        assert (out.width, out.height) == (45, 32)
        cls = out.read(1)
    expected = np.repeat(np.repeat(truth, 16, 0), 16, 1)[:, :45]
    np.testing.assert_array_equal(cls, expected)
    gj = json.loads(Path(files["geojson"]).read_text())
    assert gj["crs"]["properties"]["name"] == "EPSG:32633"
    assert {f["properties"]["class"] for f in gj["features"]} == set(LABELS)
    xs = [x for f in gj["features"] for ring in f["geometry"]["coordinates"] for x, _ in ring]
    assert min(xs) == pytest.approx(500000.0) and max(xs) <= 500000.0 + 48 * 10
    summary = json.loads(Path(files["summary"]).read_text())
    assert summary["grid"] == [2, 3] and summary["patches"] == 6 and summary["georeferenced"]
    assert set(summary) >= {"grid", "patches", "coverage", "seconds", "patches_per_s"}
    for k in ("classes_png", "overlay_png", "patches_csv"):
        assert Path(files[k]).stat().st_size > 0
    from PIL import Image

    with Image.open(files["classes_png"]) as im:  # a palette PNG: values are class indices
        assert im.mode == "P"
        table = np.array(im.getpalette()[: 3 * 256]).reshape(-1, 3)
        png = np.array(im)
    np.testing.assert_array_equal(png, expected)
    # the colour table shows the class colours (not a near-black greyscale image), uncertain grey
    assert table[S.UNCERTAIN_VALUE].tolist() == [128, 128, 128]
    assert len({tuple(t) for t in table[:3]}) == 3 and table[:3].max() > 100
    rows = Path(files["patches_csv"]).read_text().splitlines()
    assert rows[0] == "row,col,x,y,class,confidence,margin,uncertain,p_red,p_green,p_blue"
    assert rows[1].startswith("0,0,0,0,red,")
    with rasterio.open(files["confidence_geotiff"]) as conf:
        assert conf.crs.to_string() == "EPSG:32633" and conf.count == 2
        assert conf.descriptions == ("confidence", "margin")
        c = conf.read(1)
        assert c.shape == (2, 3) and (c > 0.5).all() and (c <= 1.0).all()
        assert conf.transform.a == 160.0  # one pixel per 16 px patch of 10 m


def test_16bit_single_band_and_nodata(tmp_path):
    grey = np.zeros((64, 64, 1), np.uint16)
    grey[16:48, 16:48] = 40000
    grey[:, :8] = 0
    write_geotiff(tmp_path / "g16.tif", grey, "uint16", nodata=0)
    scene = S.open_scene(tmp_path / "g16.tif")
    rgb, nod = scene.read(0, 0, 64, 64)
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3) and rgb[30, 30].tolist() == [255, 255, 255]
    assert nod[:, :8].all() and not nod[30, 30]
    res = S.classify_scene(centroid_model(16), LABELS, 16, scene, patch=16, ignore_nodata=True)
    assert (res.classes[:, 0] == -1).all() and (res.classes[1:3, 1:3] >= 0).all()
    assert res.stats["ignored"] >= 4


def test_bad_scenes(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(LandguiError, match="empty"):
        S.open_scene(tmp_path / "empty.jpg")
    ok, buf = cv2.imencode(".jpg", mosaic(np.zeros((4, 4), int), 16))
    (tmp_path / "trunc.jpg").write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(LandguiError, match="truncated"):
        S.open_scene(tmp_path / "trunc.jpg")
    cv2.imwrite(str(tmp_path / "one.png"), np.full((1, 1, 3), 200, np.uint8))
    res = S.classify_scene(centroid_model(16), LABELS, 16, S.open_scene(tmp_path / "one.png"), patch=16)
    assert res.grid.n == 1 and res.classes[0, 0] >= 0  # documented: one mirror-padded patch
    with pytest.raises(LandguiError, match="smaller than one"):
        S.classify_scene(centroid_model(16), LABELS, 16, S.open_scene(tmp_path / "one.png"), patch=16, edge="skip")
    write_geotiff(tmp_path / "seven.tif", np.zeros((8, 8, 7), np.uint8))
    with pytest.raises(LandguiError, match="7 bands"):
        S.open_scene(tmp_path / "seven.tif")
    with pytest.raises(LandguiError, match="stride must be at least 1"):
        S.classify_scene(centroid_model(16), LABELS, 16, S.open_scene(tmp_path / "one.png"), patch=16, stride=0)
    with pytest.raises(LandguiError, match="not found"):
        S.open_scene(tmp_path / "nope.tif")


def test_stop_flag(tmp_path):
    from landgui.core.base.errors import Cancelled

    cv2.imwrite(str(tmp_path / "m.png"), mosaic(np.zeros((8, 8), int), 16))
    with pytest.raises(Cancelled):
        S.classify_scene(
            centroid_model(16),
            LABELS,
            16,
            S.open_scene(tmp_path / "m.png"),
            patch=16,
            batch=4,
            should_stop=lambda: True,
        )


def test_cli_segment_batch(tiny_split, tmp_path, capsys):
    from landgui.cli import main
    from landgui.core.models.build import ModelSpec
    from landgui.core.training import trainer as T

    T.train(
        tiny_split, tmp_path / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1, batch_size=8)
    )
    cv2.imwrite(str(tmp_path / "a.png"), mosaic(np.array([[0, 1], [2, 0]]), 64))
    write_geotiff(tmp_path / "b.tif", mosaic(np.array([[0, 1, 2]]), 64))
    rc = main(
        [
            "segment",
            str(tmp_path / "run"),
            str(tmp_path / "a.png"),
            str(tmp_path / "b.tif"),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ]
    )
    assert rc == 0
    out = tmp_path / "out"
    for name in ("a", "b"):
        for suffix in ("classes.png", "overlay.png", "patches.csv", "summary.json"):
            assert (out / f"{name}.{suffix}").exists(), f"{name}.{suffix}"
    assert (out / "b.classes.tif").exists() and (out / "b.classes.geojson").exists()
    assert not (out / "a.classes.tif").exists()  # not georeferenced
    s = json.loads((out / "a.summary.json").read_text())
    assert s["grid"] == [2, 2] and s["patches"] == 4
    assert sum(s["coverage"].values()) == pytest.approx(1.0)
    assert json.loads((tmp_path / "run" / "palette.json").read_text()) == {
        "desert": "#E6C88C",  # sand
        "green_area": "#2CA02C",  # green
        "water": "#1F78B4",  # blue
    }
    assert main(["segment", str(tmp_path / "run"), str(tmp_path / "zzz.png"), "--out", str(out)]) == 2
    assert "scene not found" in capsys.readouterr().err


def test_uncertain_threshold_changes_coverage_as_specified(tmp_path):
    """Patches between two class colours are unsure; above the threshold they are 'uncertain'."""
    truth = np.array([[0, 0, 1, 1]])
    img = mosaic(truth, 16)
    mid = ((np.array(COLOURS[0]) + np.array(COLOURS[1])) / 2).astype(np.uint8)
    img[:, 48:64] = mid  # the last patch: halfway between red and green
    cv2.imwrite(str(tmp_path / "s.png"), img[:, :, ::-1])
    scene = S.open_scene(tmp_path / "s.png")
    res = S.classify_scene(centroid_model(16), LABELS, 16, scene, patch=16, uncertain_below=0.0)
    conf = res.cell_confidence[0]
    assert conf[3] < 0.75 and (conf[:3] > 0.9).all()
    assert res.coverage["uncertain"] == 0.0 and sum(res.coverage.values()) == pytest.approx(1.0)
    res.set_threshold(0.8)
    assert res.coverage["uncertain"] == pytest.approx(0.25)
    assert res.coverage["red"] == pytest.approx(0.5) and res.coverage["green"] == pytest.approx(0.25)
    res.set_threshold(0.8)
    margin = res.cell_margin[0]
    assert margin[3] < margin[0] and (margin >= 0).all()
    files = S.export(res, scene, tmp_path / "out", "s", {"red": "#ff0000", "green": "#00ff00", "blue": "#0000ff"})
    from PIL import Image

    with Image.open(files["classes_png"]) as im:
        png = np.array(im)
        assert im.getpalette()[:3] == [255, 0, 0]  # class 0 is red, as in the palette given
    assert (png[:, 48:] == S.UNCERTAIN_VALUE).all() and (png[:, :32] == 0).all()
    rows = [r.split(",") for r in Path(files["patches_csv"]).read_text().splitlines()[1:]]
    assert [r[7] for r in rows] == ["0", "0", "0", "1"]
    summary = json.loads(Path(files["summary"]).read_text())
    assert summary["uncertain_below"] == 0.8 and summary["coverage"]["uncertain"] == pytest.approx(0.25)
    with pytest.raises(LandguiError, match="between 0 and 1"):
        res.set_threshold(1.5)
    scene.close()


def test_palette_by_name_then_by_index():
    from landgui.core.runs.palette import PALETTE, default_palette

    pal = default_palette(["Cloudy", "sea_lake", "Forest", "snow", "Residential", "mystery", "other", "lake"])
    assert pal["sea_lake"] == "#1F78B4" and pal["Forest"] == "#2CA02C" and pal["Cloudy"] == "#F0F0F0"
    assert pal["snow"] == "#B3E5F0" and pal["Residential"] == "#B2545B"
    # unknown names and a second "water" class get distinct colours from the colour-blind-safe list
    assert pal["mystery"] == PALETTE[0] and pal["other"] == PALETTE[1] and pal["lake"] == PALETTE[2]
    assert len(set(pal.values())) == len(pal)


def test_overlay_export_full_resolution_with_opacity_and_hidden_classes(tmp_path):
    """The exported overlay is the scene at full size with the on-screen opacity, and a hidden
    class is left unpainted."""
    truth = np.array([[0, 1], [2, 0]])
    img = mosaic(truth, 16)
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), img[:, :, ::-1])
    scene = S.open_scene(path)
    res = S.classify_scene(centroid_model(16), LABELS, 16, scene, patch=16, uncertain_below=0)
    pal = {"red": "#FF0000", "green": "#00FF00", "blue": "#0000FF"}
    files = S.export(res, scene, tmp_path / "out", "m", pal, ("png",), opacity=1.0, hidden={1})
    over = cv2.imread(files["overlay_png"])[:, :, ::-1]
    assert over.shape == img.shape  # full resolution, not a figure
    assert (over[:16, :16] == (255, 0, 0)).all() and (over[16:, :16] == (0, 0, 255)).all()
    np.testing.assert_array_equal(over[:16, 16:], img[:16, 16:])  # the hidden class: the scene as it is
    half = S.export(res, scene, tmp_path / "half", "m", pal, ("png",), opacity=0.5)
    px = cv2.imread(half["overlay_png"])[:, :, ::-1].astype(int)
    expect = (img.astype(np.float32) * 0.5 + np.array([255, 0, 0]) * 0.5 + 0.5).astype(int)
    np.testing.assert_array_equal(px[:16, :16], expect[:16, :16])
    assert Path(files["overview_png"]).stat().st_size > 0  # the small figure with the legend
    small = S.export(res, scene, tmp_path / "small", "m", pal, ("png",), overlay_max_side=16)
    assert cv2.imread(small["overlay_png"]).shape[:2] == (16, 16)


def test_partial_maps_grow_strip_by_strip(tmp_path):
    """A viewer can paint the map while it is computed: each partial map is the final one with
    the patches not yet classified at -1, and the patches done only grow."""
    truth = np.array([[0, 1, 2, 0], [1, 2, 0, 1], [2, 0, 1, 2]])
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), mosaic(truth, 16)[:, :, ::-1])
    seen = []
    res = S.classify_scene(
        centroid_model(16),
        LABELS,
        16,
        S.open_scene(path),
        patch=16,
        batch=4,
        partial=lambda grid, classes: seen.append(classes.copy()),
        partial_every=0.0,
    )
    assert len(seen) == 3  # one call per batch of 4 patches
    done = [int((c >= 0).sum()) for c in seen]
    assert done == sorted(done) and done[-1] == 12 and done[0] < 12
    for c in seen:
        np.testing.assert_array_equal(c[c >= 0], res.classes[c >= 0])


def test_a_remapped_summary_states_its_own_time_and_a_speed_that_follows_from_it():
    """Walkthrough item 4 (issue 22): a scene re-mapped from kept features said `seconds: 0.0`
    beside `patches_per_s: 296300` (the speed from the unrounded head-only time)."""
    from types import SimpleNamespace

    from landgui.core.scenes.grid import make_grid
    from landgui.core.scenes.pipeline import assemble_result, reclassify_with_head
    from landgui.core.scenes.writers.table import summary_dict

    grid = make_grid(256, 256, 32, 32)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1], grid.n).astype(np.float32)
    first = assemble_result("s.png", ["a", "b"], grid, probs, np.ones(grid.n, bool), 2.0, context=0.0)
    first.features, first.features_from = rng.normal(size=(grid.n, 4)).astype(np.float32), "sha"
    predictor = SimpleNamespace(
        head=lambda f: np.tile([0.2, 0.8], (len(f), 1)).astype(np.float32),
        backbone_id="sha",
        labels=["a", "b"],
        engine="litert",
        run_dir="run",
    )
    again = reclassify_with_head(first, predictor)
    s = summary_dict(again)
    assert s["remapped_from_features"] is True and summary_dict(first)["remapped_from_features"] is False
    assert s["seconds"] > 0, s["seconds"]
    assert s["patches_per_s"] == pytest.approx(grid.n / s["seconds"], rel=0.01), (s["seconds"], s["patches_per_s"])
