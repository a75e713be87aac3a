"""Several dataset folders (sources, e.g. one per sensor) in the app: chosen and split as one in the
Dataset tab, a source held out in the Training tab, per-source figures in the Evaluation tab.

Synthetic images only (two "sensors" of the same class colours, different seeds and formats).
Counts are checked against counts made here from the folders; per-source metrics against
scikit-learn; the tables on screen against the evaluation's own numbers.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QPushButton
from synth import make_dataset

from landgui.gui.main_window import MainWindow

CLASSES = ("desert", "green_area", "water")
SPLITS = ("train", "val", "test")
TRAIN_TIMEOUT = 240_000


def _folder_counts(*roots: Path) -> dict[str, dict[str, int]]:
    """{source (folder name): {class: files}}, counted from the folders themselves."""
    return {r.name: {c.name: sum(1 for f in c.iterdir() if f.is_file()) for c in r.iterdir()} for r in roots}


@pytest.fixture
def sources(tmp_path) -> tuple[Path, Path]:
    """Source "a": 8 images of each of 3 classes (PNG); source "b": 5 of 2 classes (JPEG), no desert."""
    a = make_dataset(tmp_path / "data" / "a", per_class=8, classes=CLASSES, seed=1)
    b = make_dataset(tmp_path / "data" / "b", per_class=5, classes=CLASSES[1:], seed=2, ext=".jpg")
    return a, b


def _split_of(a: Path, b: Path, out: Path) -> Path:
    from landgui.core.data.scan import scan_sources
    from landgui.core.data.split import SplitParams, write_split

    write_split(scan_sources([str(a), str(b)]), out, SplitParams(seed=0))
    return out / "split.json"


def _button(tab, text: str) -> QPushButton:
    return next(b for b in tab.findChildren(QPushButton) if b.text() == text)


def test_two_folders_are_split_as_one_and_counted_per_source(window, qtbot, tmp_path, sources, monkeypatch):
    a, b = sources
    truth = _folder_counts(a, b)
    tab = window.dataset_tab
    tab.set_dataset(str(a))
    assert not tab.sources_panel.isVisibleTo(tab) and tab.class_model.columnCount() == 3, "one folder: as before"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a_, **k: str(b))
    qtbot.mouseClick(_button(tab, "Add folder…"), Qt.MouseButton.LeftButton)
    assert tab.folders == window.state.datasets == [str(a), str(b)]
    assert tab.sources_panel.isVisibleTo(tab) and tab.sources_panel.folders() == [str(a), str(b)]
    assert not tab.folder_edit.isEnabled()
    assert tab.out_edit.text() == str(tmp_path / "data" / "a+b-split"), "beside the sources, inside neither"
    # the classes table: one column of files per source, as counted from the folders
    model = tab.class_model
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())] == [
        "class",
        "files",
        "a",
        "b",
        "samples",
    ]
    for row in range(model.rowCount()):
        c = model.data(model.index(row, 0))
        assert model.data(model.index(row, 2)) == truth["a"].get(c, 0)
        assert model.data(model.index(row, 3)) == truth["b"].get(c, 0)
        assert model.data(model.index(row, 1)) == truth["a"].get(c, 0) + truth["b"].get(c, 0)

    with qtbot.waitSignal(tab.split_written, timeout=60_000):
        qtbot.mouseClick(tab.split_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    m = tab.manifest
    assert list(m["sources"]) == ["a", "b"]
    # the class x source table: totals equal the folders, each split equals the split's own entries
    table = tab.source_table
    assert tab.result_tabs.isTabVisible(0)
    shown = {
        (table.item(r, 0).text(), table.item(r, 1).text()): [int(table.item(r, k).text()) for k in range(2, 6)]
        for r in range(table.rowCount())
    }
    assert {k: v[3] for k, v in shown.items()} == {(s, c): n for s, rows in truth.items() for c, n in rows.items()}
    for (s, c), row in shown.items():
        entries = [sum(1 for e in m["splits"][sp] if e["source"] == s and e["label"] == c) for sp in SPLITS]
        assert row[:3] == entries
    # the chart: bars of images per class and source, as many as in the folders
    ax = tab.figure.axes[1]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [truth["a"].get(c, 0) for c in CLASSES] + [truth["b"].get(c, 0) for c in CLASSES]
    assert "source <b>b</b>: 10 images" in tab.summary_label.text()

    # the sources are kept for the next start, and come back with their counts
    from landgui.gui.state.app_state import session_path

    assert json.loads(session_path().read_text())["datasets"] == [str(a), str(b)]
    window.close()
    w2 = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w2)
    assert w2.restore_session()
    assert w2.dataset_tab.folders == [str(a), str(b)] and w2.dataset_tab.class_model.sources == ["a", "b"]
    assert w2.dataset_tab.manifest["_path"] == m["_path"]

    # Remove one: back to a single folder, exactly as before
    tab2 = w2.dataset_tab
    panel = tab2.sources_panel
    assert not panel.remove_button.isEnabled(), "nothing selected"
    panel.table.selectRow(1)
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert tab2.folders == [str(a)] and tab2.folder_edit.isEnabled() and tab2.folder_edit.text() == str(a)
    assert not panel.isVisibleTo(tab2) and tab2.class_model.columnCount() == 3
    w2.close()


def test_a_folder_named_like_another_source_is_refused(window, tmp_path, monkeypatch):
    import landgui.gui.tabs.dataset as dt

    errors = []
    monkeypatch.setattr(dt, "show_error", lambda parent, title, msg, details="": errors.append(msg))
    one = make_dataset(tmp_path / "x" / "images", per_class=2, classes=CLASSES[:2])
    two = make_dataset(tmp_path / "y" / "images", per_class=2, classes=CLASSES[:2])
    tab = window.dataset_tab
    tab.set_dataset(str(one))
    tab.add_source(str(two))
    assert errors and "two sources are named 'images'" in errors[-1]
    assert tab.folders == [str(one)], "nothing changed"


def test_hold_out_combo_lists_the_sources_and_sets_the_train_params(window, tmp_path, sources, tiny_split):
    tab = window.training_tab
    tab.set_split(str(_split_of(*sources, tmp_path / "split2")))
    assert tab.form.isRowVisible(tab.holdout_combo) and tab.form.isRowVisible(tab.balance_check)
    assert [tab.holdout_combo.itemData(i) for i in range(tab.holdout_combo.count())] == [None, "a", "b"]
    assert tab.train_params().hold_out_source is None and tab.train_params().balance_sources
    tab.holdout_combo.setCurrentIndex(tab.holdout_combo.findData("b"))
    tab.balance_check.setChecked(False)
    params = tab.train_params()
    assert params.hold_out_source == "b" and params.balance_sources is False
    # a split of one folder: no source options, and none reach the run
    tab.set_split(str(tiny_split / "split.json"))
    assert not tab.form.isRowVisible(tab.holdout_combo) and not tab.form.isRowVisible(tab.balance_check)
    assert tab.train_params().hold_out_source is None and tab.train_params().balance_sources


def test_a_hold_out_run_is_evaluated_on_the_source_it_never_saw(window, qtbot, tmp_path, sources):
    a, b = sources
    tab = window.training_tab
    tab.set_split(str(_split_of(a, b, tmp_path / "split2")))
    tab.model_combo.setCurrentText("scratch")
    tab.size_spin.setValue(32)
    tab.epochs_spin.setValue(1)
    tab.batch_spin.setValue(8)
    tab.name_edit.setText("held")
    tab.holdout_combo.setCurrentIndex(tab.holdout_combo.findData("b"))
    with qtbot.waitSignal(tab.run_finished, timeout=TRAIN_TIMEOUT) as sig:
        qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    run = Path(sig.args[0])
    assert json.loads((run / "config.json").read_text())["params"]["hold_out_source"] == "b"
    ev = json.loads((run / "evaluation-holdout-b.json").read_text())
    assert ev["n_images"] == sum(_folder_counts(b)["b"].values()), "every image of b, all three splits"
    text = tab.info.text()
    assert f"held-out source b: accuracy {ev['accuracy']:.2%} on its {ev['n_images']} images" in text
    assert "never saw" in text and str(run) in text
    assert tab.start_button.isEnabled() and not tab.stop_button.isEnabled()
    item = next(tab.runs_list.item(i) for i in range(tab.runs_list.count()) if "held" in tab.runs_list.item(i).text())
    assert f"held-out b {ev['accuracy']:.3f}" in item.text()


def _per_source_result(root: Path, run: Path) -> tuple[dict, tuple]:
    """An evaluation of a 2-source split made with the core's metrics from fixed predictions."""
    from landgui.core.evaluation.metrics import metrics, per_source_metrics

    labels = list(CLASSES)
    y = np.array([0, 0, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2])
    src = ["a"] * 8 + ["b"] * 5
    pred = y.copy()
    pred[[2, 8, 9, 12]] = [2, 2, 0, 1]
    probs = np.full((len(y), 3), 0.1)
    probs[np.arange(len(y)), pred] = 0.8
    return {
        "run": str(run),
        "split": "test",
        "adapted": False,
        **metrics(y, probs, labels),
        "per_source": per_source_metrics(y, pred, src, labels),
        "n_images": len(y),
        "missing": [],
        "dataset_root": str(root),
        "predictions": [
            {"path": f"{src[i]}/{labels[y[i]]}/{i}.png", "true": labels[y[i]], "pred": labels[pred[i]]}
            | {"confidence": 0.8, "probs": [float(v) for v in probs[i]], "source": src[i]}
            for i in range(len(y))
        ],
        "misclassified": [],
    }, (y, pred, src)


def test_the_per_source_table_shows_the_evaluations_numbers(window, tmp_path):
    from sklearn.metrics import accuracy_score, recall_score

    tab = window.evaluation_tab
    result, (y, pred, src) = _per_source_result(tmp_path, tmp_path / "runs" / "r")
    for s in ("a", "b"):  # the core's per-source figures, against scikit-learn
        m = np.array(src) == s
        ps = result["per_source"][s]
        assert ps["accuracy"] == pytest.approx(accuracy_score(y[m], pred[m]))
        present = sorted(set(y[m]))
        recalls = recall_score(y[m], pred[m], labels=present, average=None)
        assert [ps["per_class"][CLASSES[i]]["recall"] for i in present] == pytest.approx(list(recalls))
        assert ps["balanced_accuracy"] == pytest.approx(float(np.mean(recalls)))
    tab.show_result(result)
    assert tab.report_tabs.isTabVisible(1)
    table = tab.source_table
    cols = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    rows = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert cols == ["a", "b"]
    assert rows == ["accuracy", "balanced accuracy", "images", *[f"recall {c}" for c in CLASSES]]
    for c, s in enumerate(cols):
        ps = result["per_source"][s]
        assert float(table.item(0, c).text()) == pytest.approx(ps["accuracy"], abs=5e-5)
        assert float(table.item(1, c).text()) == pytest.approx(ps["balanced_accuracy"], abs=5e-5)
        assert int(table.item(2, c).text()) == ps["n_images"] == src.count(s)
        for r, lab in enumerate(CLASSES, start=3):
            cell = table.item(r, c).text()
            if lab in ps["per_class"]:
                recall, support = cell.replace("(", "").replace(")", "").split()
                assert float(recall) == pytest.approx(ps["per_class"][lab]["recall"], abs=5e-5)
                assert int(support) == ps["per_class"][lab]["support"]
            else:
                assert cell == "–" and s == "b" and lab == "desert"
    assert f"a {result['per_source']['a']['accuracy']:.2%}" in tab.headline.text()
    # an evaluation of one source: no Per source tab
    tab.show_result({**result, "per_source": None})
    assert not tab.report_tabs.isTabVisible(1) and tab.report_tabs.currentIndex() == 0
    tab.thumbs.wait()


def test_the_held_out_source_is_evaluated_and_compared_from_the_evaluation_tab(
    window, qtbot, tmp_path, make_shipped_run
):
    shipped_classes = ("cloudy", "desert", "green_area", "water")
    a = make_dataset(tmp_path / "data" / "a", per_class=4, classes=shipped_classes, seed=1)
    b = make_dataset(tmp_path / "data" / "b", per_class=3, classes=shipped_classes[1:], seed=2, ext=".jpg")
    run = make_shipped_run(tmp_path / "runs", _split_of(a, b, tmp_path / "split2").parent, "held")
    config = json.loads((run / "config.json").read_text())
    config.setdefault("params", {})["hold_out_source"] = "b"
    (run / "config.json").write_text(json.dumps(config))
    window.state.refresh_runs()
    tab = window.evaluation_tab
    tab.run_combo.setCurrentIndex(tab.run_combo.findData(str(run)))
    items = [tab.split_combo.itemText(i) for i in range(tab.split_combo.count())]
    assert items == ["test", "val", "train", "held-out source b"]

    tab.evaluate()  # the test split: both sources, compared per source
    qtbot.waitUntil(lambda: tab.result is not None and not tab.jobs.busy("evaluation"), timeout=120_000)
    tab.worker.wait()
    test = tab.result
    assert set(test["per_source"]) == {"a", "b"} and tab.report_tabs.isTabVisible(1)

    tab.split_combo.setCurrentIndex(3)
    tab.result = None
    tab.evaluate()
    qtbot.waitUntil(lambda: tab.result is not None and not tab.jobs.busy("evaluation"), timeout=120_000)
    tab.worker.wait()
    held = tab.result
    assert held["held_out_source"] == "b" and held["n_images"] == sum(_folder_counts(b)["b"].values())
    assert "held-out source b accuracy" in tab.headline.text() and "never saw" in tab.headline.text()
    assert (run / "evaluation-holdout-b.json").is_file()

    compare = tab.compare
    heads = [compare.horizontalHeaderItem(c).text() for c in range(compare.columnCount())]
    row = next(r for r in range(compare.rowCount()) if compare.item(r, 0).text() == "held")
    cell = {h: compare.item(row, c).text() for c, h in enumerate(heads)}
    assert cell["test acc a"] == f"{test['per_source']['a']['accuracy']:.4f}"
    assert cell["test acc b"] == f"{test['per_source']['b']['accuracy']:.4f}"
    assert cell["held-out acc"] == f"{held['accuracy']:.4f} (b)"


def test_dropping_two_folders_at_once_makes_two_sources(window, sources):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    a, b = sources
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(a)), QUrl.fromLocalFile(str(b))])
    tab = window.dataset_tab
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    tab.dropEvent(event)
    assert event.dropAction() == Qt.DropAction.CopyAction, "a copy, never a move"
    assert tab.folders == [str(a), str(b)] and tab.class_model.sources == ["a", "b"]
    assert tab.split_button.isEnabled()
