"""Drive the Dataset tab as a user would: choose/drop a dataset, split it in a worker, read results."""

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from synth import make_dataset

from landgui.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    return w


def _drop(widget, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    ev = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    widget.dropEvent(ev)


def test_split_from_the_dataset_tab(window, qtbot, tmp_path):
    root = make_dataset(tmp_path / "ds", per_class=10)
    (root / "water" / "dup.png").write_bytes((root / "water" / "water_001.png").read_bytes())
    (root / "desert" / "bad.jpg").write_bytes(b"garbage")
    tab = window.dataset_tab
    _drop(tab, root)
    assert tab.folder_edit.text() == str(root)
    assert tab.class_model.rowCount() == 4
    assert tab.class_model.rows[3][0] == "water" and tab.class_model.rows[3][1] == 11
    assert tab.out_edit.text() == str(tmp_path / "ds-split")
    tab.seed_spin.setValue(5)
    with qtbot.waitSignal(tab.split_written, timeout=60000) as sig:
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    assert sig.args[0] == str((tmp_path / "ds-split" / "split.json").resolve())
    tab.worker.wait()
    assert tab.manifest["params"]["seed"] == 5
    assert tab.dup_list.count() == 1
    assert tab.skipped_table.rowCount() == 1 and tab.skipped_table.item(0, 0).text() == "desert/bad.jpg"
    assert tab.progress.value() == tab.progress.maximum()
    assert len(tab.figure.axes[0].patches) == 12  # 4 classes x 3 splits bars
    assert window.settings.value("recent")[0] == sig.args[0]


def test_split_error_is_a_dialog_not_a_crash(window, qtbot, tmp_path):
    root = make_dataset(tmp_path / "ds", per_class=2, classes=("desert", "water"))
    tab = window.dataset_tab
    tab.set_dataset(str(root))
    qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(tab.split_button.isEnabled, timeout=60000)
    tab.worker.wait()
    from PySide6.QtWidgets import QMessageBox

    boxes = [b for b in tab.findChildren(QMessageBox) if b.objectName() == "errorDialog"]
    assert boxes and "fewer than 3 usable images" in boxes[-1].text()
    assert "\n" not in boxes[-1].text()


def test_open_existing_split_json(window, tmp_path):
    from landgui.cli import main

    root = make_dataset(tmp_path / "ds", per_class=5)
    assert main(["split", str(root), "--out", str(tmp_path / "sp"), "--quiet"]) == 0
    window.open_paths([str(tmp_path / "sp" / "split.json")])
    tab = window.dataset_tab
    assert tab.manifest["classes"] == ["cloudy", "desert", "green_area", "water"]
    assert tab.class_model.rowCount() == 4


def test_an_existing_split_json_is_replaced_only_when_the_user_says_so(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    root = make_dataset(tmp_path / "ds", per_class=10, classes=("desert", "water"))
    tab = window.dataset_tab
    tab.set_dataset(str(root))
    out = Path(tab.out_edit.text())
    out.mkdir()
    (out / "split.json").write_text('{"runs point here": true}')
    answers = [QMessageBox.StandardButton.Cancel]
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answers.pop(0))
    qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 1 and "already exists" in asked[0]
    assert tab.worker is None, "no split job was started"
    assert (out / "split.json").read_text() == '{"runs point here": true}', "Cancel keeps the user's split"
    answers.append(QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(tab.split_written, timeout=60000):
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    assert '"schema": "landgui.split"' in (out / "split.json").read_text()


def test_a_one_class_split_shows_its_warning(window, qtbot, tmp_path):
    root = make_dataset(tmp_path / "ds", per_class=10, classes=("desert",))
    tab = window.dataset_tab
    tab.set_dataset(str(root))
    with qtbot.waitSignal(tab.split_written, timeout=60000):
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    assert "warning: the training split holds 1 class(es)" in tab.summary_label.text()


def test_the_output_folder_follows_the_dataset_unless_typed(window, tmp_path):
    tab = window.dataset_tab
    messages = []
    tab.status.connect(messages.append)
    wrong = tmp_path / "wrong"
    (wrong / "nothing").mkdir(parents=True)  # a folder without images: not a dataset
    tab.set_dataset(str(wrong / "nothing"))
    assert "holds no class folders" in messages[-1] and not tab.split_button.isEnabled()
    right = make_dataset(tmp_path / "right", per_class=4, classes=("desert", "water"))
    tab.set_dataset(str(right))
    assert tab.out_edit.text() == str(tmp_path / "right-split"), "not the value derived from the wrong folder"
    tab.out_edit.setText(str(tmp_path / "my-choice"))
    tab.set_dataset(str(make_dataset(tmp_path / "other", per_class=4, classes=("desert", "water"))))
    assert tab.out_edit.text() == str(tmp_path / "my-choice"), "a folder the user typed is kept"


def test_the_default_output_folder_is_beside_the_dataset_never_inside(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QFileDialog, QMessageBox
    from synth import tree_snapshot

    tab = window.dataset_tab
    ds = make_dataset(tmp_path / "data" / "ds", per_class=6, classes=("desert", "water"))
    tab.set_dataset(str(ds))
    assert tab.out_edit.text() == str(tmp_path / "data" / "ds-split"), "a sibling of the dataset"
    # a materialized split goes there, and the user's data is left as it was
    before = tree_snapshot(ds)
    tab.materialize_combo.setCurrentText("copy")
    with qtbot.waitSignal(tab.split_written, timeout=60000):
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not any(t.isRunning() for t in tab.findChildren(QThread)), timeout=10000)
    assert (tmp_path / "data" / "ds-split" / "train" / "desert").is_dir()
    assert tree_snapshot(ds) == before and sorted(p.name for p in ds.iterdir()) == ["desert", "water"]
    # a typed folder that lies inside the next dataset is not kept
    ds2 = make_dataset(tmp_path / "data2" / "ds2", per_class=3, classes=("desert", "water"))
    tab.out_edit.setText(str(ds2 / "out"))
    tab.set_dataset(str(ds2))
    assert tab.out_edit.text() == str(tmp_path / "data2" / "ds2-split")
    # nor can one be chosen
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(ds2 / "desert"))
    tab.choose_out()
    assert tab.out_edit.text() == str(tmp_path / "data2" / "ds2-split")
    boxes = [b for b in tab.findChildren(QMessageBox) if b.objectName() == "errorDialog"]
    assert boxes and "inside the dataset" in boxes[-1].text()
    # a dataset whose parent cannot be written (a read-only share): the split goes to ~/landgui-data
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    ro = tmp_path / "readonly"
    ds3 = make_dataset(ro / "ds3", per_class=3, classes=("desert", "water"))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != ro and real_access(p, mode))
    tab.set_dataset(str(ds3))
    assert tab.out_edit.text() == str(tmp_path / "home" / "landgui-data" / "ds3-split")


def test_class_thumbnails_are_decoded_off_the_gui_thread(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    import landgui.gui.widgets.thumbnails as thumbnails

    on_gui_thread = []
    decode = thumbnails.thumbnail_image

    def spy(path, side):
        on_gui_thread.append(QThread.currentThread() is QApplication.instance().thread())
        return decode(path, side)

    monkeypatch.setattr(thumbnails, "thumbnail_image", spy)
    tab = window.dataset_tab
    painted = []
    tab.class_model.dataChanged.connect(lambda first, *_: painted.append(first.row()))
    tab.set_dataset(str(make_dataset(tmp_path / "ds", per_class=3, classes=("desert", "water"))))
    for row in range(2):  # what the view does as it paints the samples column
        tab.class_model.data(tab.class_model.index(row, 2), Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: sorted(painted) == [0, 0, 0, 1, 1, 1], timeout=5000)
    assert len(on_gui_thread) == 6 and not any(on_gui_thread), "every sample was decoded in a pool thread"
    tab.class_model.thumbs.wait()
