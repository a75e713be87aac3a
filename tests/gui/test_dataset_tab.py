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


def _answer(button: str, asked: list, before=None):
    """Answer the next modal message box by clicking ``button``, as a user would; record its text
    and its buttons. ``before`` runs first (with the box open)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    def look() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, look)
            return
        buttons = {b.text().replace("&", ""): b for b in box.buttons()}
        asked.append((box.text(), sorted(buttons)))
        if before:
            before()
        buttons[button].click()

    QTimer.singleShot(0, look)


def test_an_existing_split_json_is_replaced_only_when_the_user_says_so(window, qtbot, tmp_path, monkeypatch):
    """Issue 22, item 8: "Replace it, or choose another output folder?" was asked with Yes / Cancel;
    its buttons now say its answers, and "Choose another folder…" does what it says."""
    from PySide6.QtWidgets import QFileDialog

    root = make_dataset(tmp_path / "ds", per_class=10, classes=("desert", "water"))
    tab = window.dataset_tab
    tab.set_dataset(str(root))
    out = Path(tab.out_edit.text())
    out.mkdir()
    (out / "split.json").write_text('{"runs point here": true}')
    asked = []
    _answer("Cancel", asked)
    qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 1 and "already exists" in asked[0][0] and "choose another output folder?" in asked[0][0]
    assert asked[0][1] == ["Cancel", "Choose another folder…", "Replace it"], "the buttons answer the question"
    assert tab.worker is None, "no split job was started"
    assert (out / "split.json").read_text() == '{"runs point here": true}', "Cancel keeps the user's split"
    # another folder: the split goes there, the existing one is left alone
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(other))
    _answer("Choose another folder…", asked)
    with qtbot.waitSignal(tab.split_written, timeout=60000) as sig:
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    assert sig.args[0] == str((other / "split.json").resolve()) and tab.out_edit.text() == str(other)
    assert (out / "split.json").read_text() == '{"runs point here": true}'
    # Replace it: replaced
    tab.out_edit.setText(str(out))
    _answer("Replace it", asked)
    with qtbot.waitSignal(tab.split_written, timeout=60000):
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    assert len(asked) == 3 and '"schema": "landgui.split"' in (out / "split.json").read_text()


def test_a_dataset_shows_its_own_split_never_the_previous_ones(window, qtbot, tmp_path):
    """Issue 22, item 2: a newly chosen folder was shown beside the previous dataset's split (and
    the Training tab kept it), and a dataset whose split.json exists said "No split yet"."""
    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split

    a = make_dataset(tmp_path / "a", per_class=5, classes=("desert", "water"))
    b = make_dataset(tmp_path / "b", per_class=5, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(a), tmp_path / "a-split", SplitParams(seed=0))  # where the tab writes a's split
    split_a = str((tmp_path / "a-split" / "split.json").resolve())
    tab, training = window.dataset_tab, window.training_tab
    tab.set_dataset(str(a))
    assert tab.manifest is not None and tab.manifest["_path"] == split_a, "a's split exists: it is shown"
    assert str(tmp_path / "a-split") in tab.summary_label.text() and "No split" not in tab.summary_label.text()
    assert window.state.split == split_a == training.split_edit.text()
    tab.set_dataset(str(b))
    assert tab.manifest is None and tab.summary_label.text() == "No split of this dataset yet."
    assert not [ax for ax in tab.figure.axes if ax.get_visible()], "no chart of a's split beside b"
    assert window.state.split is None and training.split_edit.text() == "", "nor is a's split trained on"
    assert tab.class_model.rowCount() == 3
    # a split chosen in the Training tab brings its dataset along
    training.set_split(split_a)
    assert tab.folders == [str(a)] and tab.manifest["_path"] == split_a and tab.class_model.rowCount() == 2


def test_a_typed_path_that_is_not_a_folder_leaves_no_dataset_behind(window, qtbot, tmp_path, monkeypatch):
    """Issue 22, item 2: after typing a file's path the previous dataset's classes stayed, and
    Split offered to replace that dataset's split."""
    import landgui.gui.tabs.dataset as dataset_tab

    errors = []
    monkeypatch.setattr(dataset_tab, "show_error", lambda parent, title, message, details="": errors.append(message))
    a = make_dataset(tmp_path / "a", per_class=5, classes=("desert", "water"))
    tab = window.dataset_tab
    tab.set_dataset(str(a))
    assert tab.class_model.rowCount() == 2 and tab.split_button.isEnabled()
    typed = a / "desert" / "desert_000.png"
    tab.folder_edit.setText(str(typed))
    tab.folder_edit.editingFinished.emit()
    assert errors and errors[-1].startswith(f"not a folder: {typed}")
    assert tab.class_model.rowCount() == 0 and not tab.split_button.isEnabled()
    assert window.state.datasets == [] and window.state.split is None and tab.manifest is None
    tab.folder_edit.setText(str(a))  # a folder typed: it is the dataset again
    tab.folder_edit.editingFinished.emit()
    assert tab.class_model.rowCount() == 2 and tab.split_button.isEnabled() and window.state.datasets == [str(a)]


def test_a_readme_beside_the_classes_is_ignored_not_skipped(window, qtbot, tmp_path):
    """Issue 22, items 6 and 8: the sample dataset reported its own README.txt as skipped."""
    root = make_dataset(tmp_path / "ds", per_class=5, classes=("desert", "water"))
    (root / "README.txt").write_text("about this dataset")
    (root / "water" / "broken.png").write_bytes(b"not an image")
    tab = window.dataset_tab
    tab.set_dataset(str(root))
    with qtbot.waitSignal(tab.split_written, timeout=60000):
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    text = tab.summary_label.text()
    assert "1 skipped · 1 ignored (README.txt)" in text, text
    assert tab.skipped_table.rowCount() == 2, "both are listed, each with its reason"


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


def test_the_progress_bar_forgets_the_previous_datasets_split(window, qtbot, tmp_path):
    """Walkthrough: Split the sample dataset, choose another folder: the bar still said "split
    written to …landcover4-sample-split/split.json" beside the new dataset."""
    a = make_dataset(tmp_path / "a", per_class=5, classes=("desert", "water"))
    b = make_dataset(tmp_path / "b", per_class=5, classes=("desert", "water"))
    tab = window.dataset_tab
    tab.set_dataset(str(a))
    with qtbot.waitSignal(tab.split_written, timeout=60000):
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    assert tab.progress.format().startswith("split written to"), tab.progress.format()
    tab.set_dataset(str(b))
    assert "split written" not in tab.progress.format() and "a-split" not in tab.progress.toolTip()
    assert tab.progress.format() == "idle" and tab.progress.value() == tab.progress.minimum()
    tab.set_dataset(str(b))  # the same folder again: nothing to forget, nothing else changes
    assert tab.progress.format() == "idle"
