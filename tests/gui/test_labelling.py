"""Teach it this scene in the Scene tab: select patches (click, Shift+drag), label them with number
keys, undo/redo, save corrections, fine-tune a tiny model and see the re-mapped classes change."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from synth import CLASS_COLOURS, make_dataset, textured_image

from landgui.gui.main_window import MainWindow

LABELS = ["desert", "green_area", "water"]


@pytest.fixture(scope="module")
def tiny_transfer(tmp_path_factory):
    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split
    from landgui.core.models.build import ModelSpec
    from landgui.core.training import trainer as T

    base = tmp_path_factory.mktemp("teach")
    ds = make_dataset(base / "ds", per_class=12, classes=tuple(LABELS))
    write_split(scan_dataset(ds), base / "split", SplitParams(seed=0))
    spec = ModelSpec(model="transfer", image_size=32)
    T.train(base / "split", base / "runs" / "tiny", spec, T.TrainParams(epochs=3, batch_size=8, export_litert=False))
    rng = np.random.default_rng(7)
    truth = np.array([[0, 1, 2, 2], [2, 0, 1, 2], [1, 2, 0, 2]])
    img = np.zeros((96, 128, 3), np.uint8)
    for r in range(3):
        for c in range(4):
            img[r * 32 : (r + 1) * 32, c * 32 : (c + 1) * 32] = textured_image(rng, CLASS_COLOURS[LABELS[truth[r, c]]])
    cv2.imwrite(str(base / "scene.png"), img[:, :, ::-1])
    return base


@pytest.fixture
def window(qtbot, tmp_path, tiny_transfer, monkeypatch):
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(tiny_transfer / "runs", runs)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(runs))
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    yield w
    for worker in w.running_workers():
        worker.requestInterruption()
        worker.wait()


def _view_point(tab, x: float, y: float) -> QPoint:
    return tab.view.mapFromScene(x, y)


def test_label_patches_undo_save_finetune_and_remap(window, qtbot, tiny_transfer):
    tab = window.scene_tab
    window.tabs.setCurrentWidget(tab)
    runs = Path(window.settings.value("runs_dir"))
    tab.refresh_runs(select=str(runs / "tiny"))
    with qtbot.waitSignal(tab.scene_loaded, timeout=60_000):
        tab.open_scenes([str(tiny_transfer / "scene.png")])
    tab.worker.wait()
    tab.patch_spin.setValue(32)
    tab.stride_spin.setValue(32)
    with qtbot.waitSignal(tab.classified, timeout=120_000) as sig:
        qtbot.mouseClick(tab.classify_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    before = sig.args[0].classes.copy()
    panel = tab.labelling
    vp = tab.view.viewport()

    # click selects one patch; Ctrl+click adds one; Shift+drag adds an area
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=_view_point(tab, 16, 16))
    assert panel.selection == {(0, 0)}
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, _view_point(tab, 48, 48))
    assert panel.selection == {(0, 0), (1, 1)}
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=_view_point(tab, 112, 16))  # a plain click: a new selection
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, _view_point(tab, 100, 40))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, _view_point(tab, 120, 90))
    assert panel.selection == {(0, 3), (1, 3), (2, 3)}, "the right column, all water"

    # number keys label the selection (3 = water, 1 = desert); undo and redo with the keyboard
    tab.view.setFocus()
    qtbot.keyClick(tab.view, Qt.Key.Key_1)  # teach: this look is "desert"
    c = panel.corrections
    assert c.assigned == {(0, 3): 0, (1, 3): 0, (2, 3): 0}
    qtbot.keyClick(tab.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.assigned == {}
    qtbot.keyClick(tab.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert c.assigned == {(0, 3): 0, (1, 3): 0, (2, 3): 0}
    assert "desert 3" in panel.count_label.text() and "3 not saved" in panel.count_label.text()
    assert len(tab.layers.corrected_items) == 1  # outlined in the desert colour

    # the right-click menu labels too (here the patch under the mouse: green_area), and takes it back
    menu = tab.label_menu(16, 80)
    names = [a.text().split("\t")[0] for a in menu.actions() if a.text()]
    assert names == ["Label as desert", "Label as green_area", "Label as water", "Take the label back"]
    menu.actions()[1].trigger()
    assert c.assigned[(2, 0)] == 1 and panel.selection == {(2, 0)}
    menu.actions()[-1].trigger()
    assert (2, 0) not in c.assigned

    # save: files at the scene's pixels, and the index
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    dest = runs / "tiny" / "corrections"
    assert sorted(p.name for p in (dest / "desert").iterdir()) == [
        "scene_r0_c3.png",
        "scene_r1_c3.png",
        "scene_r2_c3.png",
    ]
    index = json.loads((dest / "corrections.json").read_text())["corrections"]
    assert {(e["row"], e["col"], e["class"]) for e in index} == {(0, 3, "desert"), (1, 3, "desert"), (2, 3, "desert")}
    assert not list(tiny_transfer.glob("scene_r*")), "nothing is written next to the scene"

    # fine-tune on them: the head retrained on the LiteRT backbone's features, the scene re-mapped
    # from the features its map kept (before the run is saved), then the new run saved
    remapped = []
    tab.classified.connect(remapped.append)
    with qtbot.waitSignal(tab.finetuned, timeout=180_000) as ft:
        qtbot.mouseClick(panel.finetune_button, Qt.MouseButton.LeftButton)
    new_run = Path(ft.args[0])
    assert new_run.name == "tiny-taught-1"
    cfg = json.loads((new_run / "config.json").read_text())
    assert cfg["parent"] == str((runs / "tiny").resolve()) and cfg["finetune"]["features"] == "litert"
    assert len(remapped) == 1, "re-mapped from the kept features as soon as the head was trained"
    tab.worker.wait()
    after = remapped[0]
    assert after.run == str(new_run)
    # the patch in detail (the last one clicked) shows the new map's probabilities (issue 22, item 1)
    r, c = tab.selected
    bars = [p.get_width() for p in tab.prob_figure.axes[0].patches]
    np.testing.assert_allclose(bars, after.probs[r, c], rtol=1e-6)
    new_text = ", ".join(f"{lab} {p:.2f}" for lab, p in zip(after.labels, after.probs[r, c], strict=True))
    assert tab.hover_label.text().startswith(f"patch row {r}, col {c}: {new_text}")
    assert tab.map_label.text().startswith("map on screen: tiny-taught-1, 32 px patches, stride 32")
    assert (after.classes[:, 3] == 0).sum() > (before[:, 3] == 0).sum(), (before, after.classes)
    assert tab.run_combo.currentData() == str(new_run)
