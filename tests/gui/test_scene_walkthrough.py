"""The Scene tab's items of the issue-22 walkthrough, each as a user meets it (pytest-qt,
offscreen; the shipped model maps small synthetic scenes, nothing is trained):

1. a new map of the same patches redraws the patch in detail (text and bars) from the new map;
5. overlapping patches with a 1 px cell have a progress stage of their own after "classifying";
6. a scene that cannot be opened is named with its reason, and logged;
7. the keyboard focus does not fall into "Uncertain below" after Classify;
8. scenes can be removed, the map settings come back after a restart, Undo says what it undid.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QStyle
from synth import CLASS_COLOURS, textured_image

from landgui.core.runs.folder import shipped_run_dir
from landgui.gui.main_window import MainWindow
from landgui.gui.widgets.common import last_dir, remember_dir


def _scene(path: Path, rows: int = 2, cols: int = 3, size: int = 64, seed: int = 3) -> Path:
    """Blocks of the shipped model's class colours, ``size`` px each."""
    rng = np.random.default_rng(seed)
    names = list(CLASS_COLOURS)
    img = np.zeros((rows * size, cols * size, 3), np.uint8)
    for r in range(rows):
        for c in range(cols):
            colour = CLASS_COLOURS[names[(r * cols + c) % len(names)]]
            img[r * size : (r + 1) * size, c * size : (c + 1) * size] = textured_image(rng, colour, size)
    cv2.imwrite(str(path), img[:, :, ::-1])
    return path


def _open(qtbot, tab, paths) -> None:
    with qtbot.waitSignal(tab.scene_loaded, timeout=60_000):
        tab.open_scenes([str(p) for p in paths])
    tab.worker.wait()


def _classify(qtbot, tab, click: bool = False):
    qtbot.waitUntil(tab.classify_button.isEnabled, timeout=10_000)
    with qtbot.waitSignal(tab.classified, timeout=120_000) as sig:
        if click:
            qtbot.mouseClick(tab.classify_button, Qt.MouseButton.LeftButton)
        else:
            tab.classify()
    tab.worker.wait()
    return sig.args[0]


def _click_patch(qtbot, tab, x: float, y: float) -> None:
    qtbot.mouseClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=tab.view.mapFromScene(x, y))


@pytest.fixture
def scene_tab(window, qtbot):
    tab = window.scene_tab
    window.resize(1280, 800)
    window.tabs.setCurrentWidget(tab)
    tab.refresh_runs(select=str(shipped_run_dir()))
    return tab


def test_the_patch_in_detail_follows_a_new_map_of_the_same_patches(scene_tab, qtbot, tmp_path):
    """Item 1: after a re-map the selected patch changed colour, but its text and bars kept the
    old map's probabilities (here the re-map is the same grid without the context step)."""
    tab = scene_tab
    _open(qtbot, tab, [_scene(tmp_path / "s.png")])
    first = _classify(qtbot, tab)
    _click_patch(qtbot, tab, 96, 32)  # patch (0, 1)
    assert tab.selected == (0, 1)
    bars = [p.get_width() for p in tab.prob_figure.axes[0].patches]
    np.testing.assert_allclose(bars, first.probs[0, 1], rtol=1e-6)
    tab.context_check.setChecked(False)
    second = _classify(qtbot, tab)
    assert not np.allclose(second.probs[0, 1], first.probs[0, 1]), "the re-map must change this patch"
    assert tab.selected == (0, 1) and tab.highlight.isVisible(), "the same grid: the patch stays selected"
    bars = [p.get_width() for p in tab.prob_figure.axes[0].patches]
    np.testing.assert_allclose(bars, second.probs[0, 1], rtol=1e-6)
    expected = ", ".join(f"{lab} {p:.2f}" for lab, p in zip(second.labels, second.probs[0, 1], strict=True))
    assert tab.hover_label.text().startswith(f"patch row 0, col 1: {expected}"), tab.hover_label.text()
    # a map of other patches: nothing is in detail any more, the chart says what to do
    tab.patch_spin.setValue(32)
    tab.stride_spin.setValue(32)
    _classify(qtbot, tab)
    assert tab.selected is None and not tab.highlight.isVisible() and not tab.prob_figure.axes


def test_overlapping_patches_have_a_stage_of_their_own(scene_tab, qtbot, tmp_path, monkeypatch):
    """Item 5: patch 999 / stride 64 sat at "classifying 100 %" for half a minute while the 1 px
    cells were averaged, with no stage and no progress. Here patch 99 / stride 8 (1 px cells)."""
    tab = scene_tab
    _open(qtbot, tab, [_scene(tmp_path / "s.png", 3, 4)])
    tab.patch_spin.setValue(99)
    tab.stride_spin.setValue(8)
    stages: list[tuple[str, int, int]] = []
    shown = tab.progress.update_progress  # what the progress bar is told, in order
    monkeypatch.setattr(tab.progress, "update_progress", lambda *a: stages.append(a) or shown(*a))
    res = _classify(qtbot, tab, click=True)
    assert res.grid.cell == 1
    classifying = [s for s in stages if s[0] == "classifying"]
    averaging = [s for s in stages if s[0] == "averaging overlapping patches"]
    assert classifying and classifying[-1][1] == classifying[-1][2] == res.grid.n
    assert averaging, f"no stage after classifying: {sorted({s[0] for s in stages})}"
    assert stages.index(averaging[0]) > stages.index(classifying[-1]), "averaging comes after classifying"
    assert averaging[-1][1] == averaging[-1][2] == 2 * 99, "its progress runs to its end"


def test_a_scene_that_cannot_be_opened_is_named_with_its_reason_and_logged(scene_tab, qtbot, tmp_path, window):
    """Item 6: "1 scene(s) could not be opened", with the file and the reason hidden, and nothing
    in landgui.log."""
    from landgui.core.base import logs

    log_path = logs.setup()
    tab = scene_tab
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _open(qtbot, tab, [bad, _scene(tmp_path / "good.png")])
    boxes = [b for b in tab.findChildren(QMessageBox) if b.objectName() == "errorDialog"]
    assert boxes and boxes[-1].text().startswith("broken.jpg could not be opened: cannot read broken.jpg")
    assert list(tab.scenes) == [str(tmp_path / "good.png")], "the good scene is opened all the same"
    logged = log_path.read_text()
    assert f"scene {bad} could not be opened: cannot read broken.jpg" in logged
    # restoring a session says it in the status bar, each file with its reason
    tab.open_scenes([str(bad), str(empty)], quiet=True)
    qtbot.waitUntil(lambda: not tab.worker.isRunning() and tab.classify_button.isEnabled(), timeout=30_000)
    message = window.statusBar().currentMessage()
    assert message.startswith("2 scenes could not be opened: broken.jpg (cannot read broken.jpg"), message
    assert "empty.png (empty.png is empty (zero bytes))" in message
    assert f"scene {empty} could not be opened: empty.png is empty" in log_path.read_text()


def test_focus_stays_out_of_the_form_after_classify(scene_tab, qtbot, tmp_path, window):
    """Item 7: after every Classify the keyboard focus landed in "Uncertain below", its text
    selected (the focused Classify button was disabled while the job ran)."""
    tab = scene_tab
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    _open(qtbot, tab, [_scene(tmp_path / "s.png")])
    qtbot.waitUntil(tab.classify_button.isEnabled, timeout=10_000)
    tab.classify_button.setFocus()
    assert QApplication.focusWidget() is tab.classify_button
    _classify(qtbot, tab, click=True)
    assert QApplication.focusWidget() is tab.view, QApplication.focusWidget()  # the map: its keys work


def test_nothing_in_the_side_panel_is_cut_and_the_teach_panel_is_reachable(scene_tab, qtbot, tmp_path, window):
    """Item 7: "Export…" clipped; the chart and the teach panel below the fold at 1280 x 800."""
    tab = scene_tab
    _open(qtbot, tab, [_scene(tmp_path / "s.png")])
    _classify(qtbot, tab)
    for size in ((1280, 800), (1024, 700)):
        window.resize(*size)
        qtbot.wait(50)
        for button in (tab.classify_button, tab.cancel_button, tab.export_button):
            assert button.width() >= button.sizeHint().width(), f"{size}: {button.text()!r} is cut"
        # the menu's arrow is drawn beside the text, not over it
        arrow = tab.export_button.style().pixelMetric(QStyle.PixelMetric.PM_MenuButtonIndicator)
        text = tab.export_button.fontMetrics().horizontalAdvance(tab.export_button.text())
        assert tab.export_button.width() >= text + arrow + 8, f"{size}: Export… is cut by its arrow"
        assert tab.prob_figure.canvas.visibleRegion().boundingRect().height() >= 100, f"{size}: the chart is hidden"
    window.resize(1280, 800)
    qtbot.wait(50)
    tab.side_scroll.verticalScrollBar().setValue(0)
    port = tab.side_scroll.viewport()
    for widget in (tab.labelling.finetune_button, tab.labelling.undo_button, tab.legend):
        top_left = widget.mapTo(port, widget.rect().topLeft())
        bottom = widget.mapTo(port, widget.rect().bottomLeft()).y()
        assert 0 <= top_left.y() and bottom <= port.height(), f"{widget!r} is below the fold at 1280 x 800"


def test_a_scene_can_be_removed_from_the_list(scene_tab, qtbot, tmp_path, window):
    """Item 8: scenes could not be removed from the list."""
    from landgui.gui.state.app_state import session_path

    tab = scene_tab
    a, b, c = (_scene(tmp_path / f"{n}.png") for n in "abc")
    _open(qtbot, tab, [a, b, c])
    tab.show_scene(str(b))
    _classify(qtbot, tab)
    assert tab.remove_button.isEnabled()
    qtbot.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    assert list(tab.scenes) == [str(a), str(c)] and tab.current == str(c), "the next one is shown"
    assert [tab.scene_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(tab.scene_list.count())] == [
        str(a),
        str(c),
    ]
    assert tab.scene_list.currentItem().data(Qt.ItemDataRole.UserRole) == str(c)
    assert tab.result is None and not tab.legend.count() and tab.overlay_item.pixmap().isNull()
    saved = json.loads(session_path().read_text())
    assert saved["scenes"] == [str(a), str(c)] and saved["scene"] == str(c)
    tab.remove_scene()
    tab.remove_scene()
    assert not tab.scenes and tab.current is None and not tab.remove_button.isEnabled()
    assert tab.empty_hint.isVisible()


def test_the_map_settings_come_back_after_a_restart(qtbot, tmp_path):
    """Item 8: the patch size was not restored after a restart."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp_path / "runs"))
    w1 = MainWindow(settings)
    qtbot.addWidget(w1)
    tab = w1.scene_tab
    tab.patch_spin.setValue(128)
    tab.stride_spin.setValue(32)
    tab.edge_combo.setCurrentIndex(tab.edge_combo.findData("skip"))
    tab.nodata_check.setChecked(True)
    tab.context_check.setChecked(False)
    tab.uncertain_spin.setValue(0.55)
    w1.close()
    w2 = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w2)
    tab = w2.scene_tab
    assert (tab.patch_spin.value(), tab.stride_spin.value()) == (128, 32)
    assert tab.edge_combo.currentData() == "skip" and tab.nodata_check.isChecked()
    assert not tab.context_check.isChecked() and tab.uncertain_spin.value() == pytest.approx(0.55)
    s = tab.scenes_state.settings
    assert (s.patch, s.stride, s.edge, s.ignore_nodata) == (128, 32, "skip", True)
    assert (s.context, s.uncertain_below) == (0.0, 0.55)
    w2.close()


def test_undo_says_what_it_undid_in_the_status_bar(scene_tab, qtbot, tmp_path, window):
    """Item 8: the status bar kept "1 patch(es) labelled water" after Undo."""
    tab = scene_tab
    _open(qtbot, tab, [_scene(tmp_path / "s.png")])
    _classify(qtbot, tab)
    _click_patch(qtbot, tab, 32, 32)
    water = tab.result.labels.index("water")
    tab.labelling.assign(water)
    assert window.statusBar().currentMessage() == "1 patch(es) labelled water"
    qtbot.mouseClick(tab.labelling.undo_button, Qt.MouseButton.LeftButton)
    message = window.statusBar().currentMessage()
    assert "labelled water" not in message and message == "undone: corrections on this map: none", message
    assert tab.labelling.count_label.text().startswith("corrections on this map: none")
    tab.labelling.redo()
    assert window.statusBar().currentMessage() == "redone: corrections on this map: water 1 (1 not saved)"


def test_the_export_folder_dialog_accepts_a_typed_new_folder(qtbot, tmp_path):
    """Item 8: the export dialog refused a typed new folder ("Directory not found"). The real
    dialog is driven as a user would: type a name that does not exist yet, press Choose."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QFileDialog, QWidget

    from landgui.gui.widgets.common import choose_output_folder, remember_dir

    parent = QWidget()
    qtbot.addWidget(parent)
    remember_dir("export", str(tmp_path))
    (tmp_path / "a-file.txt").write_text("the user's")
    seen = []

    def type_and_choose(name):
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):  # not shown yet: look again
            QTimer.singleShot(50, lambda: type_and_choose(name))
            return
        seen.append(dialog.directory().absolutePath())
        dialog.selectFile(name)
        dialog.accept()

    QTimer.singleShot(0, lambda: type_and_choose(str(tmp_path / "maps" / "new")))
    chosen = choose_output_folder(parent, "export", "Export class map to folder")
    assert seen == [str(tmp_path)], "the dialog starts at the last export folder"
    assert chosen == str(tmp_path / "maps" / "new") and Path(chosen).is_dir(), chosen
    assert not any(Path(chosen).iterdir()), "a new, empty folder"

    QTimer.singleShot(0, lambda: type_and_choose(str(tmp_path / "a-file.txt")))
    shown = []
    import landgui.gui.widgets.common as common

    real = common.show_error
    common.show_error = lambda parent, title, message, details="": shown.append(message)
    try:
        assert choose_output_folder(parent, "export", "Export class map to folder") is None
    finally:
        common.show_error = real
    assert shown and "is a file" in shown[0], shown
    assert (tmp_path / "a-file.txt").read_text() == "the user's"


def test_a_failed_open_leaves_the_scene_on_screen_as_it_was(scene_tab, qtbot, tmp_path, window):
    """Walkthrough: with a map on screen, opening a broken .tif (text) turned the bar's "done" into
    "scene ready: choose a run and press Classify" though neither the scene nor its map changed."""
    tab = scene_tab
    good = _scene(tmp_path / "good.png")
    _open(qtbot, tab, [good])
    res = _classify(qtbot, tab)
    before = tab.progress.format()
    assert before == "done", before
    bad = tmp_path / "broken.tif"
    bad.write_text("this is text, not a GeoTIFF")
    tab.open_scenes([str(bad)])
    qtbot.waitUntil(lambda: not tab.worker.isRunning() and tab.classify_button.isEnabled(), timeout=30_000)
    boxes = [b for b in tab.findChildren(QMessageBox) if b.objectName() == "errorDialog"]
    assert boxes and "broken.tif could not be opened" in boxes[-1].text()
    assert tab.progress.format() == before and tab.progress.value() == tab.progress.maximum()
    assert list(tab.scenes) == [str(good)] and tab.current == str(good) and tab.result is res


def test_file_dialogs_start_in_the_home_folder_on_a_fresh_profile(scene_tab, qtbot, tmp_path, monkeypatch):
    """Walkthrough: with no folder remembered, Open scene… started in the process's working folder."""
    home, elsewhere = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    QSettings("landgui", "landgui").remove("last_dir")  # a fresh profile (Qt keeps one settings path per process)
    assert last_dir("scene") == str(home) == last_dir("export")
    starts = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda _p, _t, start, _f: starts.append(start) or ([], ""))
    qtbot.mouseClick(scene_tab.open_button, Qt.MouseButton.LeftButton)
    assert starts == [str(home)]
    remember_dir("scene", str(tmp_path / "gone" / "s.png"))  # a remembered folder that no longer exists
    assert last_dir("scene") == str(home)
    remember_dir("scene", str(elsewhere))
    assert last_dir("scene") == str(elsewhere)
