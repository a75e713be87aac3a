"""Scenes read as their sensors wrote them (issue 25): the format decides the reader, band order
from the file or --bands, a fixed reflectance mapping, resampling to the model's ground
resolution, and Sentinel-2 SAFE products. All scenes are GeoTIFFs and JPEG 2000 files made here
with rasterio; the model is a nearest-centroid predictor in NumPy (right by construction), so no
TensorFlow runs. Expected values come from GDAL itself (a VRT doing what gdal_translate -scale
does), from rasterio's own transforms, or from the arrays the files were written from.
"""

import json
import math
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
import rasterio.warp
from rasterio.transform import Affine

from landgui.core import services
from landgui.core.base.errors import LandguiError
from landgui.core.inference.engine import Predictor
from landgui.core.params import MapSettings
from landgui.core.scenes import io as scene_io
from landgui.core.scenes.io import Reading, open_scene
from landgui.core.scenes.pipeline import classify_scene

COLOURS = np.array([(200, 30, 30), (30, 200, 30), (30, 30, 200)], np.float32)
LABELS = ["red", "green", "blue"]
PALETTE = {"red": "#ff0000", "green": "#00ff00", "blue": "#0000ff"}
TRUTH = np.array([[0, 1, 2, 0], [2, 0, 1, 1], [1, 2, 0, 2]])  # classes of 16 px patches at 10 m
UTM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)


class Centroids(Predictor):
    """Nearest class colour of each patch's mean colour, as probabilities (no TensorFlow)."""

    engine = "numpy"

    def __init__(self) -> None:
        super().__init__(Path("."), LABELS, 16)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        mean = batch.reshape(len(batch), -1, 3).astype(np.float32).mean(1)
        d = ((mean[:, None, :] - COLOURS[None]) ** 2).sum(-1)
        p = np.exp(-(d - d.min(1, keepdims=True)) / 500.0)
        return (p / p.sum(1, keepdims=True)).astype(np.float32)


def mosaic10(seed: int = 0) -> np.ndarray:
    """TRUTH as a 48 x 64 px RGB picture (16 px patches of the class colours, with noise)."""
    rng = np.random.default_rng(seed)
    img = COLOURS[np.repeat(np.repeat(TRUTH, 16, 0), 16, 1)] + rng.normal(0, 12, (48, 64, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write(path: Path, bands: np.ndarray, transform=UTM, crs="EPSG:32633", driver="GTiff", **kw) -> Path:
    """(bands, h, w) array to a raster file; ``colorinterp``/``descriptions``/``scales``/``offsets``/
    ``tags`` set on the bands as given."""
    extra = {k: kw.pop(k) for k in ("colorinterp", "descriptions", "scales", "offsets", "tags") if k in kw}
    with rasterio.open(
        path,
        "w",
        driver=driver,
        width=bands.shape[2],
        height=bands.shape[1],
        count=bands.shape[0],
        dtype=bands.dtype.name,
        crs=crs,
        transform=transform,
        **kw,
    ) as dst:
        dst.write(bands)
        if "colorinterp" in extra:
            dst.colorinterp = extra["colorinterp"]
        for i, d in enumerate(extra.get("descriptions", ()), 1):
            dst.set_band_description(i, d)
        if "scales" in extra:
            dst.scales, dst.offsets = extra["scales"], extra["offsets"]
        for i, t in enumerate(extra.get("tags", ()), 1):
            dst.update_tags(i, **t)
    return path


def chw(img: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(img, -1, 0))


def whole(scene) -> np.ndarray:
    return scene.read(0, 0, scene.width, scene.height)[0]


def classes_of(scene) -> np.ndarray:
    return classify_scene(Centroids(), LABELS, 16, scene, patch=16, context=0, uncertain_below=0).classes


# -- resolution -----------------------------------------------------------------------------------


def test_a_25m_scene_is_read_on_the_10m_grid_and_maps_like_the_10m_scene(tmp_path):
    img = mosaic10()
    ten = write(tmp_path / "ten.tif", chw(img))
    fine = np.repeat(np.repeat(img, 4, 0), 4, 1)  # the same ground at 2.5 m
    quarter = write(tmp_path / "fine.tif", chw(fine), transform=Affine(2.5, 0, 500000.0, 0, -2.5, 4000000.0))
    with open_scene(ten, Reading(gsd_m=10.0)) as a, open_scene(quarter, Reading(gsd_m=10.0)) as b:
        assert (b.width, b.height) == (64, 48) and b.native_size == (256, 192)
        assert b.transform == UTM == a.transform and b.crs == a.crs
        np.testing.assert_array_equal(whole(b), img)  # 4 x 4 averages of equal pixels
        np.testing.assert_array_equal(classes_of(b), TRUTH)
        np.testing.assert_array_equal(classes_of(a), TRUTH)
        assert any("read at the model's 10 m" in n for n in b.notes) and not a.notes
    with open_scene(quarter, Reading(gsd_m=10.0, native=True)) as n:
        assert (n.width, n.height) == (256, 192) and n.transform.a == 2.5
        assert any("--native" in note and "4x finer" in note for note in n.notes), n.notes


def test_the_class_map_is_written_on_the_resampled_grid(tmp_path, monkeypatch):
    """Through the service, as the CLI and the app map: the run's ground resolution comes from the
    run (patched where it is used), the GeoTIFF lands on the 10 m grid, read back by rasterio."""
    monkeypatch.setattr(scene_io, "model_gsd", lambda run_dir: 10.0)
    fine = np.repeat(np.repeat(mosaic10(), 4, 0), 4, 1)
    path = write(tmp_path / "fine.tif", chw(fine), transform=Affine(2.5, 0, 500000.0, 0, -2.5, 4000000.0))
    settings = MapSettings(patch=16, context=0, uncertain_below=0)
    res = services.map_scene("some-run", path, settings, model=Centroids())
    assert res.reading.gsd_m == 10.0 and res.grid.width == 64
    files = services.export_map(res, tmp_path / "out", palette=PALETTE, formats=("geotiff",))
    with rasterio.open(files["geotiff"]) as out:
        assert out.transform == UTM and (out.width, out.height) == (64, 48)
        np.testing.assert_array_equal(out.read(1), np.repeat(np.repeat(TRUTH, 16, 0), 16, 1))
    native = services.map_scene("some-run", path, MapSettings(patch=64, native=True), model=Centroids())
    assert native.grid.width == 256 and any("--native" in n for n in native.notes)


def test_a_resampled_maps_scene_is_reopened_on_its_grid_for_the_assessment_and_the_corrections(tmp_path, monkeypatch):
    """The summary keeps how the scene was read, so the accuracy assessment's labelling windows and
    the saved corrections read the 10 m grid the map was made on, not the file's 2.5 m pixels."""
    from landgui.core.assessment.mapfile import read_scene
    from landgui.core.training.corrections import Corrections

    monkeypatch.setattr(scene_io, "model_gsd", lambda run_dir: 10.0)
    fine = np.repeat(np.repeat(mosaic10(), 4, 0), 4, 1)
    path = write(tmp_path / "fine.tif", chw(fine), transform=Affine(2.5, 0, 500000.0, 0, -2.5, 4000000.0))
    res = services.map_scene("some-run", path, MapSettings(patch=16, context=0, uncertain_below=0), model=Centroids())
    services.export_map(res, tmp_path / "out", palette=PALETTE, formats=("geotiff",))
    mapped = read_scene(tmp_path / "out" / "fine.summary.json")
    assert mapped.reading == res.reading and (mapped.width, mapped.height) == (64, 48)
    with open_scene(mapped.scene, mapped.reading) as again:  # what the labelling window opens
        assert (again.width, again.height) == (mapped.width, mapped.height) and again.transform == UTM
        np.testing.assert_array_equal(classes_of(again), TRUTH)
        fixes = Corrections.for_result(res)
        fixes.assign([(1, 2)], 0)
        (saved,) = fixes.save(again, tmp_path / "fixes")
    want = mosaic10()[16:32, 32:48]  # the 10 m pixels of that cell
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(saved)), cv2.COLOR_BGR2RGB), want)


def test_the_run_named_default_is_the_shipped_model_and_its_recorded_resolution():
    """``landgui segment default ...`` names the shipped run: its contract's 10 m is what scenes are
    read at (not the unknown resolution of a folder called "default" that does not exist)."""
    from landgui.core.runs.folder import shipped_run_dir

    assert json.loads((shipped_run_dir() / "config.json").read_text())["sensor"]["gsd_m"] == 10.0
    assert scene_io.reading_for(MapSettings(), "default").gsd_m == 10.0
    assert scene_io.reading_for(MapSettings(native=True, bands=(3, 2, 1)), "default") == Reading(
        (3, 2, 1), "auto", 10.0, True
    )


def test_a_geographic_scene_is_resampled_by_its_latitude(tmp_path):
    """EPSG:4326 at 45 N: degrees of 2.5 m there become degrees of 10 m; the new pixel measured in
    UTM metres by rasterio's own transformation is 10 m on both axes."""
    lat0, lon0 = 45.0, 15.0
    dlat, dlon = 2.5 / 111_132.0, 2.5 / (111_320.0 * math.cos(math.radians(lat0)))
    fine = np.repeat(np.repeat(mosaic10(), 4, 0), 4, 1)
    t = Affine(dlon, 0, lon0, 0, -dlat, lat0 + 96 * dlat)  # the scene's centre at 45 N
    path = write(tmp_path / "geo.tif", chw(fine), transform=t, crs="EPSG:4326")
    with open_scene(path, Reading(gsd_m=10.0)) as s:
        nt = s.transform
        assert abs(s.width - 64) <= 1 and abs(s.height - 48) <= 1, (s.width, s.height)
        cx, cy = nt @ (s.width / 2, s.height / 2)
        xs, ys = rasterio.warp.transform("EPSG:4326", "EPSG:32633", [cx, cx + nt.a, cx], [cy, cy, cy + nt.e])
        assert math.hypot(xs[1] - xs[0], ys[1] - ys[0]) == pytest.approx(10.0, rel=0.01)
        assert math.hypot(xs[2] - xs[0], ys[2] - ys[0]) == pytest.approx(10.0, rel=0.01)
        assert (nt.c, nt.f) == (t.c, t.f)  # the same footprint
        np.testing.assert_array_equal(classes_of(s), TRUTH)


def test_without_a_crs_or_a_model_resolution_a_note_says_so(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "p.png"), mosaic10()[:, :, ::-1])
    with open_scene(tmp_path / "p.png", Reading(gsd_m=10.0)) as s:
        assert any("no coordinate reference system" in n and "10 m" in n for n in s.notes), s.notes
    fine = write(tmp_path / "f.tif", chw(mosaic10()), transform=Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0))
    with open_scene(fine, Reading(gsd_m=None)) as s:
        assert s.width == 64 and any("ground resolution is unknown" in n for n in s.notes), s.notes


# -- bands --------------------------------------------------------------------------------------


def test_rgbn_and_bgrn_files_map_like_their_rgb_version(tmp_path):
    from rasterio.enums import ColorInterp as CI

    img = mosaic10()
    nir = np.full(img.shape[:2], 250, np.uint8)
    rgb = write(tmp_path / "rgb.tif", chw(img), photometric="RGB")
    rgbn = np.stack([img[..., 0], img[..., 1], img[..., 2], nir])
    bgrn = np.stack([img[..., 2], img[..., 1], img[..., 0], nir])
    files = {
        "naip": write(tmp_path / "naip.tif", rgbn, colorinterp=[CI.red, CI.green, CI.blue, CI.undefined]),
        "planet_ci": write(tmp_path / "pci.tif", bgrn, colorinterp=[CI.blue, CI.green, CI.red, CI.undefined]),
        "planet_names": write(tmp_path / "pdn.tif", bgrn, descriptions=["blue", "green", "red", "nir"]),
        "s2_names": write(tmp_path / "s2.tif", bgrn[:3], descriptions=["B02", "B03", "B04"]),
    }
    with open_scene(rgb) as ref:
        want, want_classes = whole(ref), classes_of(ref)
    np.testing.assert_array_equal(want_classes, TRUTH)
    for name, path in files.items():
        with open_scene(path) as s:
            np.testing.assert_array_equal(whole(s), want, err_msg=name)
            np.testing.assert_array_equal(classes_of(s), want_classes, err_msg=name)
    plain = write(tmp_path / "plain.tif", bgrn, photometric="MINISBLACK")  # nothing said about the bands
    with pytest.raises(LandguiError, match=r"nothing in the file says which are red, green and blue: give --bands"):
        open_scene(plain)
    with open_scene(plain, Reading(bands=(3, 2, 1))) as s:
        np.testing.assert_array_equal(whole(s), want)
    with pytest.raises(LandguiError, match="has 4 band"):
        open_scene(plain, Reading(bands=(5, 2, 1)))
    seven = write(tmp_path / "seven.tif", np.concatenate([rgbn, rgbn[:3]]))
    with open_scene(seven, Reading(bands=(1, 2, 3))) as s:
        np.testing.assert_array_equal(whole(s), want)


# -- radiometry ---------------------------------------------------------------------------------


def gdal_eurosat(dn_path: Path) -> np.ndarray:
    """What ``gdal_translate -ot Byte -scale 0 2750 1 255`` makes of the reflectance x 10,000 in
    ``dn_path`` (bands 1-3), computed by GDAL itself through the VRT that gdal_translate writes."""
    with rasterio.open(dn_path) as ds:
        w, h = ds.width, ds.height
    bands = "".join(
        f'<VRTRasterBand dataType="Byte" band="{b}"><ComplexSource><SourceFilename relativeToVRT="0">'
        f"{dn_path}</SourceFilename><SourceBand>{b}</SourceBand><ScaleOffset>1</ScaleOffset>"
        f"<ScaleRatio>{254 / 2750!r}</ScaleRatio></ComplexSource></VRTRasterBand>"
        for b in (1, 2, 3)
    )
    with rasterio.open(f'<VRTDataset rasterXSize="{w}" rasterYSize="{h}">{bands}</VRTDataset>') as vrt:
        return np.moveaxis(vrt.read(), 0, -1)


def reflectance_dn(seed: int = 1) -> np.ndarray:
    """Reflectance x 10,000 of 3 bands, 32 x 48 px, dark water to bright cloud (above 0.275)."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 6000, (3, 32, 48)).astype(np.uint16)


def test_16bit_reflectance_with_and_without_offset_gives_eurosats_8_bit_pixels(tmp_path):
    dn = reflectance_dn()
    plain = write(tmp_path / "plain.tif", dn)  # no scale stated
    want = gdal_eurosat(plain)
    assert want.min() >= 1 and want.max() == 255  # bright pixels clipped, 0 kept for no data
    cases = {
        "scale": write(tmp_path / "a.tif", dn, scales=[1e-4] * 3, offsets=[0.0] * 3),
        "scale+offset": write(tmp_path / "b.tif", dn + 1000, scales=[1e-4] * 3, offsets=[-0.1] * 3),
        "s2 tags": write(
            tmp_path / "c.tif", dn + 1000, tags=[{"BOA_ADD_OFFSET": "-1000", "BOA_QUANTIFICATION_VALUE": "10000"}] * 3
        ),
    }
    for name, path in cases.items():
        with open_scene(path) as s:  # auto: the stated scale makes it reflectance
            assert s.radiometry.kind == "reflectance", name
            np.testing.assert_array_equal(whole(s), want, err_msg=name)
    with open_scene(plain, Reading(radiometry="reflectance")) as s:
        np.testing.assert_array_equal(whole(s), want)
    with open_scene(plain) as s:  # auto without a stated scale: the old per-scene stretch, and a note
        assert s.radiometry.kind == "stretch" and any("--radiometry reflectance" in n for n in s.notes)
    # a scene that is half cloud keeps the colours of the field it shares with a clear one
    cloudy = dn.copy()
    cloudy[:, :, 24:] = 9000
    cl = write(tmp_path / "cloudy.tif", cloudy, scales=[1e-4] * 3, offsets=[0.0] * 3)
    with open_scene(cl) as s, open_scene(cases["scale"]) as clear:
        np.testing.assert_array_equal(whole(s)[:, :24], whole(clear)[:, :24])
        assert s.how_read.endswith("reflectance with the file's scale and offset")


def test_landsat_scale_and_offset_from_the_file_or_the_flag(tmp_path):
    refl = reflectance_dn() / 10_000.0
    dn = np.round((refl + 0.2) / 0.0000275).astype(np.uint16)
    tagged = write(tmp_path / "l.tif", dn, scales=[0.0000275] * 3, offsets=[-0.2] * 3)
    bare = write(tmp_path / "bare.tif", dn)
    want = np.clip(np.floor(1 + (dn * 0.0000275 - 0.2) * 254 / 0.275 + 0.5), 1, 255).astype(np.uint8)
    with open_scene(tagged) as a, open_scene(bare, Reading(radiometry="landsat")) as b:
        np.testing.assert_array_equal(whole(a), np.moveaxis(want, 0, -1))
        np.testing.assert_array_equal(whole(b), np.moveaxis(want, 0, -1))
    eight = write(tmp_path / "e.tif", chw(mosaic10()))
    with pytest.raises(LandguiError, match="is 8-bit"):
        open_scene(eight, Reading(radiometry="reflectance"))


# -- formats: JPEG 2000 and Sentinel-2 products ---------------------------------------------------


def jp2(path: Path, bands: np.ndarray, **kw) -> Path:
    return write(path, bands, driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES", **kw)


def test_a_jp2_maps_like_the_tif_of_the_same_pixels(tmp_path):
    assert rasterio.drivers.raster_driver_extensions().get("jp2") == "JP2OpenJPEG"  # the wheel has it
    img = chw(mosaic10())
    tif, j = write(tmp_path / "s.tif", img), jp2(tmp_path / "s.jp2", img)
    with open_scene(tif) as a, open_scene(j) as b:
        assert b.windowed and (b.width, b.height, b.transform, b.crs) == (a.width, a.height, a.transform, a.crs)
        np.testing.assert_array_equal(whole(b), whole(a))
        np.testing.assert_array_equal(classes_of(b), classes_of(a))
    (tmp_path / "tif-named.dat").write_bytes(tif.read_bytes())  # the format decides, not the name
    with open_scene(tmp_path / "tif-named.dat") as s:
        assert s.windowed and s.transform == UTM


S2_NAME = "S2B_MSIL2A_20230704T100559_N0509_R022_T33UUP_20230704T130000.SAFE"
MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Image_Characteristics><QUANTIFICATION_VALUES_LIST>
<BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
</QUANTIFICATION_VALUES_LIST><BOA_ADD_OFFSET_VALUES_LIST>
{offsets}
</BOA_ADD_OFFSET_VALUES_LIST></Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>
"""


def make_safe(root: Path, dn: np.ndarray) -> Path:
    """A Level-2A SAFE folder as ESA lays it out (baseline 05.09: offset -1000), with B04, B03, B02
    at 10 m among decoys (B08 at 10 m, B04 at 20 m)."""
    safe = root / S2_NAME
    img = safe / "GRANULE" / "L2A_T33UUP_A033000_20230704T100559" / "IMG_DATA"
    (img / "R10m").mkdir(parents=True)
    (img / "R20m").mkdir()
    stem = "T33UUP_20230704T100559"
    for band, values in zip(("B04", "B03", "B02"), dn + 1000, strict=True):
        jp2(img / "R10m" / f"{stem}_{band}_10m.jp2", values[None])
    jp2(img / "R10m" / f"{stem}_B08_10m.jp2", np.full((1, *dn.shape[1:]), 9999, np.uint16))
    jp2(img / "R20m" / f"{stem}_B04_20m.jp2", np.full((1, 16, 24), 1, np.uint16), transform=UTM @ Affine.scale(2))
    offsets = "\n".join(f'<BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(13))
    (safe / "MTD_MSIL2A.xml").write_text(MTD.format(offsets=offsets))
    return safe


def test_a_sentinel2_safe_folder_and_its_zip(tmp_path):
    dn = reflectance_dn(3)  # red, green, blue reflectance x 10,000
    want = gdal_eurosat(write(tmp_path / "ref.tif", dn))
    safe = make_safe(tmp_path, dn)
    with zipfile.ZipFile(tmp_path / f"{S2_NAME[:-5]}.zip", "w") as z:
        for f in sorted(safe.rglob("*")):
            z.write(f, f.relative_to(tmp_path).as_posix())
    for path in (safe, tmp_path / f"{S2_NAME[:-5]}.zip"):
        with open_scene(path) as s:
            assert (s.width, s.height, s.transform) == (48, 32, UTM) and s.crs.to_epsg() == 32633
            assert s.radiometry.kind == "reflectance" and "bands 1,2,3 as red, green, blue" in s.how_read
            np.testing.assert_array_equal(whole(s), want, err_msg=str(path))
    (safe / "GRANULE" / "L2A_T33UUP_A033000_20230704T100559" / "IMG_DATA" / "R10m").rename(tmp_path / "gone")
    with pytest.raises(LandguiError, match="no 10 m B04, B03, B02 band file"):
        open_scene(safe)


# -- the settings that carry it -------------------------------------------------------------------


def test_map_settings_carry_the_reading_and_old_dicts_still_load():
    s = MapSettings(bands=(3, 2, 1), radiometry="reflectance", native=True).check()
    back = MapSettings.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s and back.bands == (3, 2, 1)
    old = MapSettings.from_dict({"schema_version": 1, "patch": 32})
    assert (old.bands, old.radiometry, old.native) == (None, "auto", False)
    for bad, words in (
        ({"bands": (0, 1, 2)}, "--bands takes 3 band numbers"),
        ({"bands": (1, 2)}, "--bands takes 3 band numbers"),
        ({"radiometry": "vivid"}, "--radiometry must be one of auto, reflectance"),
    ):
        with pytest.raises(LandguiError, match=words):
            MapSettings(**bad).check()
