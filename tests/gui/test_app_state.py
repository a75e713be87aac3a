"""One job registry, one application state, the session restored at the next start, the Help
menu (issue 13): pytest-qt, offscreen, no training (the shipped model stands in for a run)."""

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox, QWidget

from landgui.core.base.errors import Cancelled
from landgui.gui.jobs import JobRegistry
from landgui.gui.main_window import MainWindow


def _settings(tmp_path) -> QSettings:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    if settings.value("runs_dir") is None:
        settings.setValue("runs_dir", str(tmp_path / "runs"))
    return settings


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(_settings(tmp_path))
    qtbot.addWidget(w)
    w.show()
    yield w
    for worker in w.running_workers():
        worker.requestInterruption()
        worker.wait()


def waiting_job(seconds: float | None = None):
    """A core job that runs until it is asked to stop, or (``seconds``) one that ignores the stop
    flag for that long."""

    def job(progress, should_stop):
        t0 = time.monotonic()
        while seconds is None or time.monotonic() - t0 < seconds:
            if seconds is None and should_stop():
                raise Cancelled("stopped")
            time.sleep(0.01)
        return "done"

    return job


def _scene(path: Path) -> Path:
    rng = np.random.default_rng(0)
    cv2.imwrite(str(path), rng.integers(0, 255, (128, 192, 3)).astype(np.uint8))
    return path


def _open_scenes(qtbot, tab, paths) -> None:
    with qtbot.waitSignal(tab.scene_loaded, timeout=30_000):
        tab.open_scenes([str(p) for p in paths])
    tab.worker.wait()


# -- the job registry ------------------------------------------------------------------------------
def test_registry_runs_one_job_per_kind_and_cancels_the_right_one(qtbot):
    owner = QWidget()
    qtbot.addWidget(owner)
    jobs = JobRegistry(owner)
    refused, ended = [], []
    jobs.refused.connect(refused.append)
    a = jobs.start(owner, "scene", waiting_job(), label="classify", on_cancelled=lambda: ended.append("a"))
    b = jobs.start(owner, "evaluation", waiting_job(), label="evaluate", on_cancelled=lambda: ended.append("b"))
    assert jobs.running() == [a, b] and jobs.busy("scene") and jobs.last(owner) is b
    assert jobs.start(owner, "scene", waiting_job(), label="export") is None, "one scene job at a time"
    assert refused == ["export not started: classify is still running (wait for it or cancel it)"]
    with qtbot.waitSignal(a.cancelled, timeout=5000):
        assert jobs.cancel("scene") == [a]
    assert ended == ["a"] and b.isRunning() and not b.isInterruptionRequested()
    assert jobs.running() == [b] and not jobs.busy("scene")
    c = jobs.start(owner, "scene", waiting_job(0.05), label="export", on_done=ended.append)
    assert c is not None, "the kind is free again"
    with qtbot.waitSignal(b.cancelled, timeout=5000):
        jobs.cancel()
    # wait on the outcomes, not on the threads: a thread can finish before its outcome (queued to
    # the GUI thread) is delivered
    qtbot.waitUntil(lambda: len(ended) == 3 and not jobs.alive() and not jobs.running(), timeout=5000)
    assert ended == ["a", "done", "b"] or ended == ["a", "b", "done"]


def test_a_second_scene_job_cannot_start_while_classify_runs(window, qtbot, tmp_path, monkeypatch):
    """Open scene, drop, Export and a second Classify are refused (and their buttons disabled)
    while Classify runs; Cancel stops the classification, not another tab's job."""
    import landgui.core.services as services

    tab = window.scene_tab
    _open_scenes(qtbot, tab, [_scene(tmp_path / "a.png")])
    with qtbot.waitSignal(tab.classified, timeout=60_000):  # a result, so that Export has something to write
        qtbot.mouseClick(tab.classify_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    assert tab.result is not None and tab.export_button.isEnabled()
    refused = []
    window.jobs.refused.connect(refused.append)
    calls = []

    def slow_segment(*args, should_stop, **kw):
        calls.append(args)
        while not should_stop():
            time.sleep(0.01)
        raise Cancelled("classification cancelled")

    monkeypatch.setattr(services, "map_scene", slow_segment)  # where the Scene tab calls it
    other = window.jobs.start(window.evaluation_tab, "evaluation", waiting_job(), label="evaluate")
    try:  # a failed check must not leave the jobs running: the window's close would ask and wait
        qtbot.mouseClick(tab.classify_button, Qt.MouseButton.LeftButton)
        classify = tab.worker
        assert classify.label == "classify" and classify.isRunning()
        assert not tab.classify_button.isEnabled() and tab.cancel_button.isEnabled()
        assert not (tab.open_button.isEnabled() or tab.demo_button.isEnabled() or tab.export_button.isEnabled())
        assert not window.evaluation_tab.eval_button.isEnabled(), "the Evaluation tab's job disables its buttons"
        tab.classify()
        tab.export(("csv",), str(tmp_path / "out"))
        tab.open_scenes([str(_scene(tmp_path / "b.png"))])
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "b.png"))])
        tab.view.dropEvent(
            QDropEvent(
                QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
            )
        )
        assert tab.worker is classify and window.jobs.running("scene") == [classify]
        assert "classify is still running" in window.statusBar().currentMessage()
        assert "export not started: classify is still running (wait for it or cancel it)" in refused, refused
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), "nothing exported"
        with qtbot.waitSignal(classify.cancelled, timeout=5000):
            qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
        assert other.isRunning() and not other.isInterruptionRequested(), "Cancel hit the classification only"
        assert tab.classify_button.isEnabled() and tab.progress.format() == "cancelled"
        assert len(calls) == 1 and list(tab.scenes) == [str(tmp_path / "a.png")]
        with qtbot.waitSignal(other.cancelled, timeout=5000):
            window.jobs.cancel("evaluation")
        assert window.evaluation_tab.eval_button.isEnabled()
    finally:
        window.jobs.cancel()
        window.jobs.wait_all(10)


def test_closing_awaits_jobs_with_a_timeout_and_does_not_hang(window, qtbot, monkeypatch):
    import landgui.gui.main_window as mw

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    import threading

    monkeypatch.setattr(mw, "CLOSE_TIMEOUT_S", 0.3)
    release = threading.Event()

    def stubborn_job(progress, should_stop):  # deaf to the stop flag until the test releases it
        release.wait(60)
        return "done"

    stubborn = window.jobs.start(window.scene_tab, "scene", stubborn_job, label="export")
    closed = []
    window.closed.connect(lambda: closed.append(time.monotonic()))
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < 30, "close waited past its timeout (0.3 s) for the job (60 s)"
    assert asked and "Still running: export" in asked[0]
    assert not window.isVisible() and stubborn.isRunning() and not closed, "hidden, waiting for the job"
    release.set()
    qtbot.waitUntil(lambda: bool(closed), timeout=10_000)
    assert not stubborn.isRunning() and not window.jobs.alive()


def test_closing_stops_a_job_that_listens(window, qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    stopped = []
    job = window.jobs.start(window.dataset_tab, "split", waiting_job(), on_cancelled=lambda: stopped.append(1))
    with qtbot.waitSignal(window.closed, timeout=5000):
        window.close()
    assert job.isFinished()
    qtbot.waitUntil(lambda: bool(stopped), timeout=5000)  # it was asked to stop, and did


# -- one application state -------------------------------------------------------------------------
def test_every_tab_follows_one_runs_folder_and_one_run(
    window, qtbot, tmp_path, shipped_split, make_shipped_run, monkeypatch
):
    import landgui.gui.main_window as mw
    from landgui.core.runs.folder import shipped_run_dir

    other = tmp_path / "other-runs"
    mine = make_shipped_run(other, shipped_split, "mine")
    tt, ev, sc = window.training_tab, window.evaluation_tab, window.scene_tab
    tt.runs_edit.setText(str(other))
    tt.runs_edit.editingFinished.emit()
    assert window.state.runs_dir == str(other) == window.settings.value("runs_dir")
    assert tt.runs_list.count() == 1 and ev.run_combo.findData(str(mine)) == 0 and sc.run_combo.findData(str(mine)) == 0
    # the current run (the shipped one, the only one before) is kept; one current run in every tab
    assert ev.run_combo.currentData() == sc.run_combo.currentData() == str(shipped_run_dir()) == window.state.run
    ev.run_combo.setCurrentIndex(ev.run_combo.findData(str(mine)))
    assert sc.run_combo.currentData() == str(mine) == window.state.run
    errors = []
    monkeypatch.setattr(mw, "show_error", lambda parent, title, msg, details="": errors.append(msg))
    notarun = tmp_path / "holiday-photos"
    notarun.mkdir()
    window.open_run(str(notarun))
    assert errors and window.state.runs_dir == str(other) == window.settings.value("runs_dir")
    third = make_shipped_run(tmp_path / "third", shipped_split, "third")
    window.open_run(str(third))
    assert window.state.runs_dir == str(third.parent) == tt.runs_edit.text()
    assert ev.run_combo.currentData() == sc.run_combo.currentData() == str(third)


def test_the_session_is_restored_in_a_new_window(qtbot, tmp_path, shipped_split, make_shipped_run):
    from landgui.core.runs.folder import shipped_run_dir
    from landgui.gui.state.app_state import session_path

    make_shipped_run(tmp_path / "runs", shipped_split, "mine")
    s1, s2 = _scene(tmp_path / "s1.png"), _scene(tmp_path / "s2.png")
    w1 = MainWindow(_settings(tmp_path))
    qtbot.addWidget(w1)
    w1.dataset_tab.open_split(str(shipped_split / "split.json"))
    _open_scenes(qtbot, w1.scene_tab, [s1, s2])
    w1.scene_tab.scene_list.setCurrentRow(1)
    sc = w1.scene_tab.run_combo
    sc.setCurrentIndex(sc.findData(str(shipped_run_dir())))  # not the default (the newest run)
    saved = json.loads(session_path().read_text())
    assert saved["scenes"] == [str(s1), str(s2)] and saved["scene"] == str(s2)
    w1.close()

    w2 = MainWindow(_settings(tmp_path))
    qtbot.addWidget(w2)
    assert w2.scene_tab.run_combo.currentData() == w2.evaluation_tab.run_combo.currentData() == str(shipped_run_dir())
    with qtbot.waitSignal(w2.scene_tab.scene_loaded, timeout=30_000):
        assert w2.restore_session()
    w2.scene_tab.worker.wait()
    split = str((shipped_split / "split.json").resolve())
    assert w2.dataset_tab.folder_edit.text() == str(tmp_path / "ds4"), "the split's dataset"
    assert w2.dataset_tab.manifest["_path"] == split == w2.training_tab.split_edit.text()
    assert list(w2.scene_tab.scenes) == [str(s1), str(s2)] and w2.scene_tab.current == str(s2)
    w2.close()


def test_a_dataset_chosen_after_a_split_is_restored_without_that_split(qtbot, tmp_path, shipped_split):
    """Issue 22, item 2: "the Dataset tab shows the previous dataset's split beside a newly chosen
    folder, also after a restart"."""
    other_ds = tmp_path / "other-dataset"
    (other_ds / "water").mkdir(parents=True)
    w1 = MainWindow(_settings(tmp_path))
    qtbot.addWidget(w1)
    w1.dataset_tab.open_split(str(shipped_split / "split.json"))
    w1.dataset_tab.set_dataset(str(other_ds))
    assert w1.dataset_tab.manifest is None and w1.state.split is None
    w1.close()

    w2 = MainWindow(_settings(tmp_path))
    qtbot.addWidget(w2)
    assert w2.restore_session()
    assert w2.dataset_tab.folder_edit.text() == str(other_ds)
    assert w2.dataset_tab.manifest is None and "No split" in w2.dataset_tab.summary_label.text()
    assert w2.training_tab.split_edit.text() == ""
    w2.close()


@pytest.mark.parametrize("content", ["{not json", '{"version": 0, "split": "/x"}', "[1, 2]", ""])
def test_a_damaged_or_outdated_session_starts_quietly(qtbot, tmp_path, content):
    from landgui.gui.state.app_state import session_path

    session_path().parent.mkdir(parents=True, exist_ok=True)
    session_path().write_text(content)
    w = MainWindow(_settings(tmp_path))
    qtbot.addWidget(w)
    assert not w.restore_session()
    assert not [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert json.loads(session_path().read_text())["version"] == 1, "rewritten as a good file"


def test_paths_that_no_longer_exist_are_left_out(tmp_path):
    from landgui.gui.state.app_state import load_session

    kept = _scene(tmp_path / "kept.png")
    p = tmp_path / "session.json"
    p.write_text(
        json.dumps(
            {
                "version": 1,
                "dataset": str(tmp_path / "gone"),
                "split": str(tmp_path / "gone" / "split.json"),
                "scenes": [str(tmp_path / "gone.png"), str(kept)],
                "scene": str(tmp_path / "gone.png"),
                "run": str(tmp_path),
            }
        )
    )
    assert load_session(p) == {"scenes": [str(kept)], "run": str(tmp_path)}
    assert load_session(tmp_path / "missing.json") == {}


# -- the Help menu ---------------------------------------------------------------------------------
def _menu_action(window, menu_title: str, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == menu_title)
    return next(a for a in menu.actions() if a.text().replace("&", "") == text)


def test_help_menu_opens_the_guide_the_readme_and_about(window, qtbot, monkeypatch):
    _menu_action(window, "&Help", "Guide").trigger()
    guide = window.guide
    assert guide.isVisible() and guide.browser.openExternalLinks()
    text = guide.browser.toPlainText()
    for words in ("Split", "Train", "Evaluate", "Classify", "Teach", "1–9", "Ctrl+Z", "zoom", "pan"):
        assert words in text, words
    assert _menu_action(window, "&Help", "Guide").shortcut().toString() == "F1"
    _menu_action(window, "&Help", "README").trigger()
    assert window.readme.isVisible() and "landgui" in window.readme.browser.toPlainText()
    about = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: about.append(text))
    _menu_action(window, "&Help", "About landgui").trigger()
    assert about and "PySide6" in about[0]


def test_reference_cycles_are_not_collected_while_a_job_thread_runs(qtbot):
    """A collection on the GUI thread while a job traces a TensorFlow function crashed once:
    the cyclic collector pauses while any job runs and is back when the last one ends."""
    import gc

    from landgui.gui.jobs import JobWorker

    seen = []
    worker = JobWorker(lambda progress, should_stop: seen.append(gc.isenabled()))
    assert gc.isenabled()
    with qtbot.waitSignal(worker.finished_ok, timeout=10_000):
        worker.start()
    worker.wait()
    assert seen == [False] and gc.isenabled()


def test_each_scene_keeps_the_colours_of_the_run_that_mapped_it(window, qtbot, tmp_path):
    """Two scenes mapped by runs with other class names: switching between them shows each map
    with its own run's classes and colours (the palette was the tab's: a KeyError)."""
    import shutil

    import cv2
    import numpy as np

    from landgui.core.runs.folder import shipped_run_dir

    runs = Path(window.state.runs_dir)
    renamed = runs / "renamed"
    shutil.copytree(shipped_run_dir(), renamed)
    names = ["snow", "rock", "forest", "lake"]
    (renamed / "labels.json").write_text(json.dumps(names))
    config = json.loads((renamed / "config.json").read_text())
    config["model"]["classes"] = names  # a run folder is checked: its config names the same classes
    (renamed / "config.json").write_text(json.dumps(config))
    (renamed / "palette.json").write_text(
        json.dumps(dict(zip(names, ["#FFFFFF", "#777777", "#006400", "#0000FF"], strict=True)))
    )
    window.state.refresh_runs()
    rng = np.random.default_rng(0)
    scenes = []
    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), rng.integers(0, 255, (128, 128, 3), dtype=np.uint8))
        scenes.append(str(tmp_path / f"{name}.png"))
    tab = window.scene_tab
    with qtbot.waitSignal(tab.scene_loaded, timeout=60_000):
        tab.open_scenes(scenes)
    tab.worker.wait()
    for scene, run in zip(scenes, (shipped_run_dir(), renamed), strict=True):
        tab.show_scene(scene)
        tab.refresh_runs(select=str(run))
        qtbot.waitUntil(tab.classify_button.isEnabled, timeout=10_000)
        with qtbot.waitSignal(tab.classified, timeout=120_000):
            tab.classify()
        tab.worker.wait()

    def legend() -> list[str]:
        return [tab.legend.item(i).text().split()[0] for i in range(tab.legend.count())]

    tab.show_scene(scenes[0])
    assert legend()[:4] == ["cloudy", "desert", "green_area", "water"]
    tab.show_scene(scenes[1])
    assert legend()[:4] == names and tab.palette["lake"] == "#0000FF"
    tab.show_scene(scenes[0])
    assert "lake" not in tab.palette and tab.palette["water"].startswith("#")


def test_the_scene_tab_has_the_clis_edge_and_no_data_options(window, qtbot, tmp_path):
    """Issue 13, item 10: partial edge patches skipped or mirror-padded, black patches left out."""
    import cv2
    import numpy as np

    from landgui.core.runs.folder import shipped_run_dir

    img = np.random.default_rng(1).integers(40, 255, (100, 150, 3), dtype=np.uint8)
    img[:, 64:128] = 0  # the middle column of patches is black (no data, without a declared value)
    cv2.imwrite(str(tmp_path / "s.png"), img)
    tab = window.scene_tab
    with qtbot.waitSignal(tab.scene_loaded, timeout=60_000):
        tab.open_scenes([str(tmp_path / "s.png")])
    tab.worker.wait()
    tab.refresh_runs(select=str(shipped_run_dir()))
    tab.patch_spin.setValue(64)
    tab.stride_spin.setValue(64)
    results = []
    tab.classified.connect(results.append)
    for edge, nodata in (("pad", False), ("skip", False), ("skip", True)):
        tab.edge_combo.setCurrentIndex(tab.edge_combo.findData(edge))
        tab.nodata_check.setChecked(nodata)
        qtbot.waitUntil(tab.classify_button.isEnabled, timeout=10_000)
        with qtbot.waitSignal(tab.classified, timeout=120_000):
            tab.classify()
        tab.worker.wait()
    pad, skip, nodata = results
    assert (pad.grid.rows, pad.grid.cols) == (2, 3) and (pad.classes >= 0).all()
    assert (skip.grid.rows, skip.grid.cols) == (1, 2) and "partial edge patches skipped" in tab.map_label.text()
    assert (skip.classes >= 0).all() and nodata.classes.shape == (1, 2)
    # the left patch is the same image as without the option; the right one (all black) is left out
    assert nodata.classes[0, 0] == skip.classes[0, 0] >= 0 and nodata.classes[0, 1] == -1


def test_the_evaluation_tab_cancels_its_job(window, qtbot, shipped_split, make_shipped_run):
    from landgui.gui.tabs.evaluation import EVALUATION_JOB

    run = make_shipped_run(window.state.runs_dir, shipped_split, "tiny")
    window.state.refresh_runs()
    tab = window.evaluation_tab
    tab.refresh_runs(select=str(run))
    assert not tab.cancel_button.isEnabled()
    qtbot.mouseClick(tab.eval_button, Qt.MouseButton.LeftButton)
    assert tab.cancel_button.isEnabled() and not tab.eval_button.isEnabled()
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    # wait on the outcome shown, not only on the thread: a thread can end before its outcome
    # (queued to the GUI thread) has been delivered (a clean CI run read "idle" here)
    qtbot.waitUntil(lambda: not window.jobs.busy(EVALUATION_JOB), timeout=60_000)
    qtbot.waitUntil(lambda: tab.progress.format() == "cancelled", timeout=10_000)
    assert tab.result is None
    assert tab.eval_button.isEnabled() and not tab.cancel_button.isEnabled()
