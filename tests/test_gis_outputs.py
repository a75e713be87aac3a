"""Outputs that open ready in a GIS, read back with GDAL (rasterio, pyogrio): the class map as a
Cloud-Optimized GeoTIFF with colour table, category names (.aux.xml) and QGIS style (.qml), the
confidence COG, and the polygons as GeoJSON and GeoPackage with their mean confidence.

Results are built by hand from cell probabilities (no model, no TensorFlow), so the file is fast.
"""

import json
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from synth import write_geotiff

from landgui.core import scenes as S
from landgui.core.scenes.result import code_colours
from landgui.core.scenes.writers.vector import class_polygons, polygon_wkb

LABELS = ["water", "forest", "desert"]
PALETTE = {"water": "#1F78B4", "forest": "#2CA02C", "desert": "#E6C88C"}
CELL = 64  # px per cell (patch = stride)


def hand_result(scene: S.Scene, cell_probs: np.ndarray, uncertain_below: float, unclassified=None) -> S.SceneResult:
    """A SceneResult over ``scene`` from per-cell probabilities (one patch per cell)."""
    rows, cols, _ = cell_probs.shape
    grid = S.make_grid(scene.width, scene.height, CELL, CELL)
    assert (grid.rows, grid.cols) == (rows, cols)
    classes = cell_probs.argmax(-1).astype(np.int16)
    if unclassified is not None:
        classes[unclassified] = -1
    res = S.SceneResult(
        str(scene.path),
        LABELS,
        grid,
        classes,
        cell_probs,
        cell_probs,
        classes.copy(),
        {},
        1.0,
        scene.crs,
        scene.transform,
    )
    res.set_threshold(uncertain_below)
    return res


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 1,280 x 896 px georeferenced map (20 x 14 cells): three classes in blocks, some cells
    uncertain, a not-classified corner; larger than one 512 px tile, so the COG has overviews.

    Returns (result, files, listing, truth): ``truth`` holds what the files must say, built here
    from the cells' true classes and confidences, not by landgui: ``codes`` (per cell: 255 not
    classified, 254 below the 0.7 threshold, else the class), ``conf`` and ``margin`` (per cell,
    -1 where not classified) and the scene's ``transform``."""
    tmp = tmp_path_factory.mktemp("gis")
    transform = write_geotiff(tmp / "scene.tif", np.zeros((896, 1280, 3), np.uint8))
    scene = S.open_scene(tmp / "scene.tif")
    rng = np.random.default_rng(0)
    truth = np.repeat(np.repeat(rng.integers(0, 3, (4, 5)), 4, 0), 4, 1)[:14, :20]
    conf = rng.uniform(0.5, 1.0, (14, 20)).astype(np.float32)
    probs = np.repeat((1 - conf[..., None]) / 2, 3, -1)
    np.put_along_axis(probs, truth[..., None], conf[..., None], -1)
    unclassified = np.zeros((14, 20), bool)
    unclassified[:2, :3] = True
    res = hand_result(scene, probs, 0.7, unclassified)
    files = S.export(res, scene, tmp / "out", "scene", PALETTE)
    listing = sorted(p.name for p in (tmp / "out").iterdir())
    scene.close()
    codes = np.where(conf < 0.7, 254, truth)
    codes[unclassified] = 255
    truth = {
        "codes": codes.astype(np.uint8),
        "conf": np.where(unclassified, -1.0, conf),
        "margin": np.where(unclassified, -1.0, conf - (1 - conf) / 2),  # top1 - top2
        "transform": transform,  # the scene's, as written
    }
    return res, files, listing, truth


def test_every_output_written_atomically_and_listed(big):
    res, files, listing, _ = big
    expected = {
        "classes_png": "scene.classes.png",
        "overlay_png": "scene.overlay.png",
        "overview_png": "scene.overview.png",
        "patches_csv": "scene.patches.csv",
        "geotiff": "scene.classes.tif",
        "geotiff_aux": "scene.classes.tif.aux.xml",
        "qgis_style": "scene.classes.qml",
        "confidence_geotiff": "scene.confidence.tif",
        "geojson": "scene.classes.geojson",
        "gpkg": "scene.classes.gpkg",
        "summary": "scene.summary.json",
    }
    assert {k: Path(v).name for k, v in files.items()} == expected
    assert listing == sorted(expected.values())  # no partial, work or stray .aux.xml files left
    assert set(json.loads(Path(files["summary"]).read_text())["files"]) == set(expected) - {"summary"}


def test_class_map_is_a_cog_with_colours_names_and_nearest_overviews(big):
    import rasterio

    res, files, _, truth = big
    table = code_colours(LABELS, PALETTE)
    codes = truth["codes"]
    assert {0, 1, 2, 254, 255} <= set(np.unique(codes).tolist()), "the fixture has every kind of cell"
    with rasterio.open(files["geotiff"]) as src:
        assert src.driver == "GTiff" and src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.crs.to_string() == "EPSG:32633" and src.transform == truth["transform"]
        assert (src.width, src.height, src.count, src.dtypes[0]) == (1280, 896, 1, "uint8")
        assert src.nodata == 255 and src.block_shapes == [(512, 512)]
        assert src.overviews(1) == [2, 4]  # halved until the smallest (320 x 224) fits one 512 px tile
        np.testing.assert_array_equal(src.read(1), np.repeat(np.repeat(codes, CELL, 0), CELL, 1))
        cmap = src.colormap(1)
        for code in [0, 1, 2, S.UNCERTAIN_VALUE]:
            assert cmap[code] == tuple(int(v) for v in table[code])
        assert cmap[1] == (0x2C, 0xA0, 0x2C, 255) and cmap[S.UNCERTAIN_VALUE] == (128, 128, 128, 255)
        assert src.descriptions == ("class",)
        tags = src.tags(1)
        assert [tags[f"class_{i}"] for i in range(3)] == LABELS and tags["class_254"] == "uncertain"
    with rasterio.open(files["geotiff"], OVERVIEW_LEVEL=0) as ovr:  # classes never averaged
        np.testing.assert_array_equal(ovr.read(1), np.repeat(np.repeat(codes, CELL // 2, 0), CELL // 2, 1))


def test_aux_xml_names_the_classes_for_gdal(big):
    _, files, _, _ = big
    band = ET.parse(files["geotiff_aux"]).getroot().find("PAMRasterBand")
    assert band is not None and band.get("band") == "1"
    cats = [c.text or "" for c in band.find("CategoryNames")]
    assert len(cats) == 255 and cats[:3] == LABELS and cats[254] == "uncertain" and set(cats[3:254]) == {""}
    rat = band.find("GDALRasterAttributeTable")
    assert rat.get("tableType") == "thematic"
    assert [f.find("Name").text for f in rat.findall("FieldDefn")] == [
        "Value",
        "Class",
        "Red",
        "Green",
        "Blue",
        "Alpha",
    ]
    assert [f.find("Usage").text for f in rat.findall("FieldDefn")] == ["5", "2", "6", "7", "8", "9"]
    rows = [[f.text for f in row.findall("F")] for row in rat.findall("Row")]
    assert rows == [
        ["0", "water", "31", "120", "180", "255"],
        ["1", "forest", "44", "160", "44", "255"],
        ["2", "desert", "230", "200", "140", "255"],
        ["254", "uncertain", "128", "128", "128", "255"],
    ]


def test_qml_is_a_paletted_style_with_the_class_colours(big):
    _, files, _, _ = big
    root = ET.parse(files["qgis_style"]).getroot()
    assert root.tag == "qgis"
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = [(e.get("value"), e.get("color"), e.get("label"), e.get("alpha")) for e in renderer.iter("paletteEntry")]
    assert entries == [
        ("0", "#1f78b4", "water", "255"),
        ("1", "#2ca02c", "forest", "255"),
        ("2", "#e6c88c", "desert", "255"),
        ("254", "#808080", "uncertain", "255"),
    ]  # 255 is the band's nodata: transparent, not in the legend


def test_confidence_cog(big):
    import rasterio
    from rasterio.transform import Affine

    res, files, _, truth = big
    with rasterio.open(files["confidence_geotiff"]) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.count == 2 and src.descriptions == ("confidence", "margin") and src.nodata == -1.0
        assert src.crs.to_string() == "EPSG:32633" and src.transform == truth["transform"] @ Affine.scale(CELL)
        conf, margin = src.read(1), src.read(2)
    np.testing.assert_allclose(conf, truth["conf"], rtol=1e-6)
    np.testing.assert_allclose(margin, truth["margin"], rtol=1e-5, atol=1e-6)


def test_gpkg_has_the_geojson_polygons_with_mean_confidence(big):
    import pyogrio
    from pyogrio.raw import read
    from rasterio import features
    from rasterio.transform import Affine
    from skimage.measure import label

    res, files, _, truth = big
    gj = json.loads(Path(files["geojson"]).read_text())["features"]
    info = pyogrio.read_info(files["gpkg"])
    assert [name for name, _ in pyogrio.list_layers(files["gpkg"])] == ["classes"]
    assert info["crs"] == "EPSG:32633" and info["geometry_type"] == "Polygon"
    assert list(info["fields"]) == ["class", "class_index", "mean_confidence"]
    assert info["features"] == len(gj)
    with sqlite3.connect(files["gpkg"]) as db:  # GeoPackage 1.2: opens without warnings in older GDAL/QGIS
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
    # one polygon per 4-connected region of one code of the truth, exactly as GDAL polygonizes it
    codes = truth["codes"]
    shapes = list(features.shapes(codes, mask=codes != 255, transform=truth["transform"] @ Affine.scale(CELL)))
    assert len(gj) == len(shapes)
    regions = label(codes.astype(np.int32) + 1, background=256, connectivity=1)  # 4-connected, 255 left out
    want = sorted(
        (int(codes[regions == r][0]), truth["conf"][regions == r].mean()) for r in range(1, regions.max() + 1)
    )
    _, _, geometry, (names, index, mean_conf) = read(files["gpkg"])
    assert list(names) == [f["properties"]["class"] for f in gj]
    assert list(index) == [f["properties"]["class_index"] for f in gj]
    np.testing.assert_allclose(mean_conf, [f["properties"]["mean_confidence"] for f in gj], atol=1e-6)
    got = sorted((int(i), float(m)) for i, m in zip(index, mean_conf, strict=True))
    assert [c for c, _ in got] == [c for c, _ in want], "per region: its code"
    np.testing.assert_allclose([m for _, m in got], [m for _, m in want], atol=1e-5)  # and its cells' mean
    assert ((mean_conf >= 0) & (mean_conf <= 1)).all()
    assert set(names) == {*LABELS, "uncertain"} and 255 not in set(index)
    assert bytes(geometry[0]) == polygon_wkb(gj[0]["geometry"])
    assert info["total_bounds"] == pytest.approx((500000.0, 4000000.0 - 896 * 10, 500000.0 + 1280 * 10, 4000000.0))


def test_mean_confidence_hand_computed(tmp_path):
    """2 x 3 cells; diagonal neighbours are separate polygons (4-connectivity); two uncertain
    cells side by side are one polygon with the mean of their confidences."""
    from pyogrio.raw import read

    write_geotiff(tmp_path / "s.tif", np.zeros((2 * CELL, 3 * CELL, 3), np.uint8))
    scene = S.open_scene(tmp_path / "s.tif")
    cells = [[(0, 0.9), (1, 0.8), (2, 1.0)], [(1, 0.7), (0, 0.6), (2, 0.5)]]  # (class, confidence)
    probs = np.zeros((2, 3, 3), np.float32)
    for r, row in enumerate(cells):
        for c, (k, conf) in enumerate(row):
            probs[r, c] = (1 - conf) / 2
            probs[r, c, k] = conf
    res = hand_result(scene, probs, uncertain_below=0.65)
    polys = sorted((p.class_index, p.name, round(p.mean_confidence, 6)) for p in class_polygons(res))
    expected = [(0, "water", 0.9), (1, "forest", 0.7), (1, "forest", 0.8), (2, "desert", 1.0), (254, "uncertain", 0.55)]
    assert polys == expected
    files = S.export(res, scene, tmp_path / "out", "s", PALETTE, ("geojson", "gpkg"))
    assert set(files) == {"geojson", "gpkg", "summary"}
    _, _, _, (names, index, mean_conf) = read(files["gpkg"])
    assert sorted(zip(index.tolist(), names.tolist(), np.round(mean_conf, 6).tolist(), strict=True)) == expected
    uncertain = next(
        f for f in json.loads(Path(files["geojson"]).read_text())["features"] if f["properties"]["class_index"] == 254
    )
    xs = [x for x, _ in uncertain["geometry"]["coordinates"][0]]
    ys = [y for _, y in uncertain["geometry"]["coordinates"][0]]
    assert (min(xs), max(xs)) == (500000.0 + CELL * 10, 500000.0 + 3 * CELL * 10)  # the two right cells of row 2
    assert (min(ys), max(ys)) == (4000000.0 - 2 * CELL * 10, 4000000.0 - CELL * 10)
    scene.close()


def test_rasterio_and_pyogrio_in_one_process_both_orders(tmp_path):
    """rasterio and pyogrio each ship their own GDAL; both import orders work in one process."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "mods = sys.argv[1].split(',')\n"
        "for m in mods: __import__(m)\n"
        "import rasterio, pyogrio\n"
        "from pyogrio.raw import write\n"
        "from rasterio.transform import from_origin\n"
        "p = sys.argv[2]\n"
        "with rasterio.open(p + '.tif', 'w', driver='GTiff', width=4, height=4, count=1, dtype='uint8',"
        " crs='EPSG:32633', transform=from_origin(0, 40, 10, 10)) as d: d.write(np.ones((1, 4, 4), np.uint8))\n"
        "write(p + '.gpkg', np.array([bytes.fromhex('0101000000' + '00' * 16)], dtype=object), [np.array([1])], ['a'],"
        " layer='x', driver='GPKG', geometry_type='Point', crs=rasterio.crs.CRS.from_epsg(32633).to_wkt())\n"
        "with rasterio.open(p + '.tif') as s: assert s.crs.to_epsg() == 32633\n"
        "assert pyogrio.read_info(p + '.gpkg')['crs'] == 'EPSG:32633'\n"
    )
    for order in ("rasterio,pyogrio", "pyogrio,rasterio"):
        out = tmp_path / order.replace(",", "_")
        run = subprocess.run([sys.executable, "-c", code, order, str(out)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
