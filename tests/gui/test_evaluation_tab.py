"""The Evaluation tab's report without a model: a confusion cell outlined when clicked, predictions
named by file and exported as CSV, thumbnails decoded off the GUI thread and enlarged on demand.

The result is made with the core's own ``metrics`` from fixed probabilities over tiny synthetic
images, so no model is trained or loaded (each test runs in about a second)."""

import csv
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, QThread
from PySide6.QtWidgets import QApplication, QFileDialog
from synth import make_dataset

from landgui.gui.main_window import MainWindow
from landgui.gui.tabs.evaluation import INFO_ROLE

LABELS = ["desert", "green_area", "water"]


def _result(root: Path, run: Path) -> dict:
    """An evaluation result as evaluate_run returns it: 4 images per class, two of them wrong."""
    from landgui.core.evaluation.metrics import metrics

    rel = [f"{c}/{c}_{i:03d}.png" for c in LABELS for i in range(4)]
    y = np.repeat(np.arange(3), 4)
    pred = y.copy()
    pred[1], pred[9] = 2, 0  # a desert image taken for water, a water image for desert
    probs = np.full((len(y), 3), 0.1)
    probs[np.arange(len(y)), pred] = 0.8
    return {
        "run": str(run),
        "split": "test",
        "adapted": False,
        **metrics(y, probs, LABELS),
        "n_images": len(y),
        "missing": [],
        "dataset_root": str(root),
        "predictions": [
            {
                "path": rel[i],
                "true": LABELS[y[i]],
                "pred": LABELS[pred[i]],
                "confidence": 0.8,
                "probs": [float(v) for v in probs[i]],
            }
            for i in range(len(y))
        ],
        "misclassified": [rel[1], rel[9]],
    }


@pytest.fixture
def tab(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp_path / "runs"))
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.tabs.setCurrentWidget(w.evaluation_tab)
    w.show()
    yield w.evaluation_tab
    w.evaluation_tab.thumbs.wait()


@pytest.fixture
def result(tmp_path):
    return _result(make_dataset(tmp_path / "ds", per_class=4, classes=tuple(LABELS)), tmp_path / "runs" / "r")


def _click_cell(tab, i, j):
    from matplotlib.backend_bases import MouseEvent

    x, y = tab.figure.axes[0].transData.transform((j, i))
    tab.canvas.callbacks.process("button_press_event", MouseEvent("button_press_event", tab.canvas, x, y, button=1))


def _outlines(tab):
    from matplotlib.patches import Rectangle

    return [p for p in tab.figure.axes[0].patches if isinstance(p, Rectangle) and not p.get_fill()]


def test_the_clicked_confusion_cell_is_outlined_and_a_new_result_clears_it(tab, result):
    tab.show_result(result)
    assert tab.selected_cell == (0, 2)  # the first wrong cell is shown, and outlined
    assert [(p.get_x(), p.get_y()) for p in _outlines(tab)] == [(1.5, -0.5)]
    _click_cell(tab, 1, 1)
    assert tab.selected_cell == (1, 1) and tab.images.count() == 4
    assert [(p.get_x(), p.get_y()) for p in _outlines(tab)] == [(0.5, 0.5)], "one outline, on the clicked cell"
    perfect = {**result, "confusion_matrix": np.diag([4, 4, 4]).tolist()}
    perfect["predictions"] = [{**p, "pred": p["true"]} for p in result["predictions"]]
    tab.show_result(perfect)
    assert _outlines(tab) == [] and tab.selected_cell is None, "a new result starts without an outline"
    assert tab.images.count() == 0, "the previous result's images are gone"


def test_thumbnails_are_decoded_off_the_gui_thread(tab, result, qtbot, monkeypatch):
    import landgui.gui.widgets.thumbnails as thumbnails

    threads = []
    decode = thumbnails.thumbnail_image

    def spy(path, side):
        threads.append(QThread.currentThread() is QApplication.instance().thread())
        return decode(path, side)

    monkeypatch.setattr(thumbnails, "thumbnail_image", spy)
    tab.show_result(result)
    received = []
    tab.thumbs.ready.connect(lambda key, image: received.append((key, image.size().toTuple())))
    _click_cell(tab, 2, 2)  # water as water: 3 images
    qtbot.waitUntil(lambda: len(received) == 3, timeout=5000)
    assert sorted(received) == [(0, (72, 72)), (1, (72, 72)), (2, (72, 72))], "only the current cell's images"
    assert threads and not any(threads), "every image was decoded in a pool thread"
    qtbot.wait(20)  # the icons are set in the GUI thread as the images arrive
    shown = tab.images.item(0).icon().pixmap(72).toImage().pixelColor(36, 36)
    assert shown.blue() > shown.red() + 40, "the water thumbnail replaced the grey placeholder"
    assert tab.images.item(0).text().startswith("water_") and "water 0.80" in tab.images.item(0).text()


def test_enlarge_shows_the_image_at_full_size_with_its_classes(tab, result, qtbot, monkeypatch):
    from landgui.gui.widgets import image_preview
    from landgui.gui.widgets.thumbnails import thumbnail_image

    tab.show_result(result)  # the first wrong cell: desert predicted as water
    item = tab.images.item(0)
    tab.images.itemActivated.emit(item)  # a double-click or Enter
    dialog = tab.preview
    qtbot.waitUntil(lambda: not dialog.image.isNull(), timeout=5000)
    path = Path(result["dataset_root"]) / result["misclassified"][0]
    assert dialog.info["path"] == str(path)
    expected = thumbnail_image(path, None)
    assert (dialog.image.width(), dialog.image.height()) == (32, 32) and dialog.image == expected
    assert dialog.picture.pixmap().width() == 256, "a 32 px patch is shown 8x, pixel for pixel"
    text = dialog.text.text()
    assert "true <b>desert</b>" in text and "predicted <b>water</b>" in text and "green_area: 0.1000" in text
    opened = []
    monkeypatch.setattr(image_preview.QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    dialog.open_button.click()
    assert [u.toLocalFile() for u in opened] == [str(path)]
    dialog.close()


def test_predictions_show_file_names_and_export_to_csv(tab, result, tmp_path, monkeypatch):
    from landgui.core.base.atomic import PARTIAL

    root = Path(result["dataset_root"])
    files = [str(root / "water" / "water_000.png"), str(root / "desert" / "desert_001.png")]
    out = {
        "labels": LABELS,
        "predictions": [
            {
                "path": files[0],
                "pred": "water",
                "confidence": 0.9,
                "probs": {"desert": 0.05, "green_area": 0.05, "water": 0.9},
            },
            {
                "path": files[1],
                "pred": "desert",
                "confidence": 0.6,
                "probs": {"desert": 0.6, "green_area": 0.3, "water": 0.1},
            },
        ],
        "errors": [],
    }
    assert not tab.export_button.isEnabled()
    tab.show_predictions(out)
    assert [tab.images.item(k).text().split("\n")[0] for k in range(2)] == ["water_000.png", "desert_001.png"]
    assert tab.images.item(1).data(INFO_ROLE)["probs"]["green_area"] == 0.3
    target = tmp_path / "exports" / "preds"  # no suffix typed: .csv is added
    target.parent.mkdir()
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: asked.append(a) or (str(target), ""))
    from PySide6.QtWidgets import QMessageBox

    questions, answers = [], [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: questions.append(a[1:3]) or answers.pop(0))
    assert tab.export_button.isEnabled()
    tab.export_button.click()
    written = target.with_suffix(".csv")
    rows = list(csv.reader(written.open()))
    assert rows[0] == ["file", "predicted", "confidence", "p_desert", "p_green_area", "p_water"]
    assert rows[1] == [files[0], "water", "0.900000", "0.050000", "0.050000", "0.900000"]
    assert rows[2][:2] == [files[1], "desert"] and len(rows) == 3
    assert not list(written.parent.glob(f"*{PARTIAL}*")), "written through a partial file, none left"
    assert questions == [], "the first export (no such file) asked nothing"
    # the file exists now: a second export without the suffix asks before replacing it
    written.write_text("keep me")
    tab.export_button.click()
    assert questions == [("Replace the file?", f"{written} already exists. Replace it?")]
    assert written.read_text() == "keep me", "Cancel keeps the file"
    tab.export_button.click()
    assert len(questions) == 2 and list(csv.reader(written.open())) == rows, "Yes replaces it"
    # an evaluation cell exports with the true class
    tab.show_result(result)
    target = tmp_path / "exports" / "cell.csv"
    tab.export_button.click()
    rows = list(csv.reader(target.open()))
    assert rows[0][:3] == ["file", "true", "predicted"] and rows[1][1:3] == ["desert", "water"]


def test_small_window_the_report_scrolls(tab, result, qtbot):
    tab.show_result(result)
    tab.window().resize(640, 400)
    qtbot.wait(50)
    assert tab.window().size().toTuple() == (640, 400), "a long headline does not widen the window"
    inner = tab.left_scroll.widget()
    assert inner.height() >= inner.minimumSizeHint().height()
    assert tab.left_scroll.verticalScrollBar().maximum() > 0, "the report scrolls instead of squeezing"


def test_a_file_beside_the_classes_is_ignored_not_unreadable(tab, result):
    """Issue 22, item 6: "1 unreadable files skipped" for a README.txt that was only ignored."""
    result["skipped"] = [{"path": "README.txt", "reason": "file outside a class folder (ignored)"}]
    tab.show_result(result)
    text = tab.headline.text()
    assert "unreadable" not in text and "1 ignored (README.txt)" in text, text
    result["skipped"].append({"path": "water/broken.png", "reason": "not an image (cannot be decoded)"})
    tab.show_result(result)
    assert "1 unreadable files skipped · 1 ignored (README.txt)" in tab.headline.text()
