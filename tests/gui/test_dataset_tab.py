"""Drive the Dataset tab as a user would: choose/drop a dataset, split it in a worker, read results."""

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
