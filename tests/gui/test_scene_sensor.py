"""The Scene tab's sensor panel (issue 25): the chosen run's sensor contract beside the scene's own
figures (its ground sample distance from its transform and CRS, its bands and data type), the
bands read as red, green and blue, and "native pixels"; the map is made with those choices."""

import numpy as np
import pytest

from landgui.core.runs.folder import shipped_run_dir
from landgui.gui.tabs.scene import jobs as scene_jobs
from landgui.gui.tabs.scene.sensor import ERROR_STYLE, WARN_STYLE


def _bgrn_tif(path, pixel_m: float):
    """A 16-bit blue, green, red, NIR GeoTIFF (PlanetScope's order) in UTM 33N with ``pixel_m`` pixels."""
    import rasterio
    from rasterio.transform import Affine

    data = np.random.default_rng(0).integers(200, 3000, (4, 192, 256), dtype=np.uint16)
    profile = dict(driver="GTiff", width=256, height=192, count=4, dtype="uint16", crs="EPSG:32633")
    with rasterio.open(path, "w", transform=Affine(pixel_m, 0, 500000, 0, -pixel_m, 4000000), **profile) as dst:
        dst.write(data)
        for i, name in enumerate(("blue", "green", "red", "nir"), start=1):
            dst.set_band_description(i, name)
    return path


@pytest.fixture
def sensor_tab(window, qtbot, tmp_path):
    """The Scene tab with a 2.5 m BGRN scene open and the shipped model (10 m) chosen."""
    tab = window.scene_tab
    with qtbot.waitSignal(tab.scene_loaded, timeout=60_000):
        tab.open_scenes([str(_bgrn_tif(tmp_path / "bgrn.tif", 2.5))])
    tab.worker.wait()
    tab.refresh_runs(select=str(shipped_run_dir()))
    return tab


def test_the_panel_shows_the_model_contract_beside_the_scene(sensor_tab):
    panel = sensor_tab.sensor_panel
    # the shipped model's contract (its config.json): 10 m, EuroSAT's 64 px tiles = 640 m
    assert panel.model_label.text() == "Model: 10 m/px, 64 px patch = 640 m, RGB, 8bit"
    assert (
        "kaggle4/green_area: 10 m" in panel.model_label.toolTip() and "nwpu45: unknown" in panel.model_label.toolTip()
    )
    # the scene's own figures, from the file written above
    assert panel.scene_label.text() == "Scene: 2.5 m/px, 4 bands (blue, green, red, nir), uint16, EPSG:32633"
    assert panel.bands_edit.text() == "" and panel.bands_edit.placeholderText() == "as the file says: 3,2,1"
    # resampled to the model's 10 m, a 64 px patch covers 640 m as the model's did
    assert panel.match_label.text() == "Patches 64 px = 640 m (model 640 m): resampled 2.5 m to 10 m"
    assert panel.match_label.styleSheet() == ""
    # native pixels: a 64 px patch covers 160 m of this scene, and the line says how far off that is
    panel.native_check.click()
    assert sensor_tab.scenes_state.settings.native is True
    assert (
        panel.match_label.text()
        == "Patches 64 px = 160 m (model 640 m): its own 2.5 m pixels, 4x finer than the model's"
    )
    assert panel.match_label.styleSheet() == WARN_STYLE
    sensor_tab.patch_spin.setValue(32)  # the patch knob: the line follows the state
    assert panel.match_label.text().startswith("Patches 32 px = 80 m (model 640 m)")


def test_the_band_choice_is_the_scenes_and_reaches_the_map(sensor_tab, monkeypatch, qtbot):
    panel, session = sensor_tab.sensor_panel, sensor_tab.session
    panel.bands_edit.setText("9,2,1")
    panel.bands_edit.editingFinished.emit()
    assert session.bands is None and "bgrn.tif has 4 band(s), no band 9" in panel.match_label.text()
    panel.bands_edit.setText("1,2,3")
    panel.bands_edit.editingFinished.emit()
    assert session.bands == (1, 2, 3) and panel.bands_edit.text() == "1,2,3"
    panel.native_check.click()

    seen = []

    def fake_map_scene(run_dir, path, settings, **kwargs):  # the service the job calls
        seen.append(settings)
        raise RuntimeError("stop here: the settings are what this test checks")

    monkeypatch.setattr(scene_jobs.services, "map_scene", fake_map_scene)
    sensor_tab.classify()
    sensor_tab.worker.wait()
    qtbot.waitUntil(lambda: not sensor_tab.jobs.busy(scene_jobs.SCENE_JOB), timeout=10_000)
    assert [(s.bands, s.native) for s in seen] == [((1, 2, 3), True)]
    panel.bands_edit.setText("")  # empty: as the file says again
    panel.bands_edit.editingFinished.emit()
    assert session.bands is None


def test_a_map_made_on_the_resampled_grid_lies_over_the_whole_scene(sensor_tab, qtbot):
    """The 2.5 m scene (256 x 192 px) is mapped on the model's 10 m grid (64 x 48 px): the overlay
    is drawn 4x larger, so it covers the scene, and a click at a scene pixel finds the patch there."""
    sensor_tab.patch_spin.setValue(16)
    sensor_tab.stride_spin.setValue(16)
    with qtbot.waitSignal(sensor_tab.classified, timeout=120_000):
        sensor_tab.classify()
    sensor_tab.worker.wait()
    g, session = sensor_tab.result.grid, sensor_tab.session
    assert (g.width, g.height, g.rows, g.cols) == (64, 48, 3, 4)
    assert session.map_scale() == (0.25, 0.25)
    clip = sensor_tab.layers.clip
    assert clip.transform().m11() == 4.0 and clip.mapRectToScene(clip.rect()).getRect() == (0, 0, 256, 192)
    # scene pixel (200, 150) is map pixel (50, 37.5): row 2, column 3 of the 16 px patches
    assert session.patch_at(200, 150) == (2, 3) and session.patch_at(63, 10) == (0, 0)
    sensor_tab.select_at(200, 150)
    hl = sensor_tab.layers.highlight
    assert hl.mapRectToScene(hl.rect()).getRect() == (192, 128, 64, 64)


def test_a_file_that_does_not_name_its_bands_opens_grey_and_asks_for_them(window, qtbot, tmp_path):
    """Six bands of a Landsat 7 ETM+ stack (1, 2, 3, 4, 5, 7) that name no colours: the tab opens it
    in grey (band 1), never in guessed colours, and asks for the bands before a map."""
    import rasterio
    from rasterio.transform import Affine

    data = np.random.default_rng(1).integers(0, 255, (6, 40, 50), dtype=np.uint8)
    data[0] = 10  # band 1 is dark, band 3 bright: a guessed RGB would not be grey
    data[2] = 240
    path = tmp_path / "etm.tif"
    profile = dict(driver="GTiff", width=50, height=40, count=6, dtype="uint8", crs="EPSG:31985")
    with rasterio.open(path, "w", transform=Affine(28.5, 0, 280000, 0, -28.5, 9120000), **profile) as dst:
        dst.write(data)
    tab = window.scene_tab
    with qtbot.waitSignal(tab.scene_loaded, timeout=60_000):
        tab.open_scenes([str(path)])
    tab.worker.wait()
    tab.refresh_runs(select=str(shipped_run_dir()))
    ov = tab.session.image.overview
    assert (ov[..., 0] == ov[..., 1]).all() and (ov[..., 1] == ov[..., 2]).all(), "grey, from band 1"
    panel = tab.sensor_panel
    assert panel.scene_label.text().startswith("Scene: 28.5 m/px, 6 bands (band 1, band 2, band 3,")
    assert panel.bands_edit.placeholderText().startswith("choose: the file does not say")
    assert panel.match_label.text() == "6 bands and no colour names: choose the bands R,G,B above"
    assert panel.match_label.styleSheet() == ERROR_STYLE
    panel.bands_edit.setText("3,2,1")
    panel.bands_edit.editingFinished.emit()
    assert tab.session.bands == (3, 2, 1)
    assert panel.match_label.text() == "Patches 64 px = 640 m (model 640 m): resampled 28.5 m to 10 m"
