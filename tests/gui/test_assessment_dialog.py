"""Assess accuracy… in the Scene tab (issue 24): a synthetic scene whose map is made in the test
(chosen probabilities, no model), exported by the tab, a sample drawn and labelled blind with
keys, saved as it goes, resumed in a new dialog, estimated.

Checked against what the screen did not compute: the labels in the sample file against the keys
pressed (read back with the csv module), the scene's pixels in the zoomed view against the scene
file, the estimate against :func:`landgui.core.assessment.api.estimate` on the same file (whose
numbers tests/test_assessment.py checks against the published example), the corrections folder
against nothing written at all."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from synth import write_image

from landgui.core.assessment import api
from landgui.core.assessment.samplefile import CANT_TELL
from landgui.core.scenes.grid import make_grid
from landgui.core.scenes.pipeline import assemble_result
from landgui.core.training.corrections import corrections_dir
from landgui.gui.state.app_state import AppState
from landgui.gui.state.scene_session import SceneImage
from landgui.gui.tabs.scene import SCENE_JOB, SceneTab
from landgui.gui.widgets.assessment import ASSESS_JOB, AssessDialog

LABELS = ["water", "forest", "desert"]
PALETTE = {"water": "#1F78B4", "forest": "#2CA02C", "desert": "#E6C88C"}
COLOURS = np.array([[30, 90, 200], [40, 150, 50], [220, 200, 140]], np.uint8)
CELL = 32
ROWS, COLS = 6, 9


def _truth():
    rng = np.random.default_rng(3)
    return np.repeat(np.repeat(rng.integers(0, 3, (ROWS // 3 + 1, COLS // 3 + 1)), 3, 0), 3, 1)[:ROWS, :COLS]


def _map_classes(truth):
    """The map: the truth with a few cells wrong (known to the test)."""
    m = truth.copy()
    for r, c in ((0, 0), (2, 5), (4, 7), (5, 1)):
        m[r, c] = (m[r, c] + 1) % 3
    return m


@pytest.fixture
def scene_tab(qtbot, tmp_path):
    """A Scene tab with a synthetic scene on screen and its map (made in the test) by a run
    folder of the test's own."""
    truth = _truth()
    img = np.zeros((ROWS * CELL, COLS * CELL, 3), np.uint8)
    for r in range(ROWS):
        for c in range(COLS):
            img[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL] = COLOURS[truth[r, c]]
            img[r * CELL + r, c * CELL + c] = (r * 10, c * 10, 7)  # a pixel that tells the cells apart
    scene = tmp_path / "scene.png"
    write_image(scene, img)
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"created": "2024-01-01T00:00:00+0000"}))
    g = make_grid(COLS * CELL, ROWS * CELL, CELL, CELL)
    probs = np.full((g.n, 3), 0.05, np.float32)
    probs[np.arange(g.n), _map_classes(truth).ravel()] = 0.9
    res = assemble_result(str(scene), LABELS, g, probs, np.ones(g.n, bool), 1.0, run=str(run), context=0.0)
    tab = SceneTab(AppState(str(tmp_path / "runs")))
    qtbot.addWidget(tab)
    tab.scenes_state.add(SceneImage(str(scene), img.shape[1], img.shape[0], img))
    tab.scenes_state.set_current(str(scene))
    tab.session.set_result(res, PALETTE)
    yield tab
    for w in tab.jobs.alive():
        w.requestInterruption()
        w.wait()


def _wait_jobs(qtbot, tab):
    qtbot.waitUntil(lambda: not tab.jobs.busy(SCENE_JOB) and not tab.jobs.busy(ASSESS_JOB), timeout=60_000)


def _export_and_draw(qtbot, tab, out, n=12):
    d = tab.assess()
    assert "not written yet" in d.setup_page.map_hint.text()
    assert not d.setup_page.start_button.isEnabled(), "no map written: nothing to sample"
    d.export_to(str(out))
    qtbot.waitUntil(lambda: d.setup.map_path.endswith("scene.summary.json"), timeout=60_000)
    _wait_jobs(qtbot, tab)
    assert tab.session.exported == d.setup.map_path
    d.setup_page.n_spin.setValue(n)
    d.setup_page.min_spin.setValue(3)
    d.setup_page.seed_spin.setValue(4)
    assert d.setup.settings.n == n and d.setup.settings.min_per_class == 3 and d.setup.settings.seed == 4
    with qtbot.waitSignal(d.sample_loaded, timeout=60_000):
        qtbot.mouseClick(d.setup_page.start_button, Qt.MouseButton.LeftButton)
    _wait_jobs(qtbot, tab)
    return d


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _truth_key(row):
    return int(_truth()[int(row["row"]), int(row["col"])]) + 1


def test_label_a_whole_sample_blind_with_keys_resume_and_estimate(qtbot, scene_tab, tmp_path):
    tab = scene_tab
    d = _export_and_draw(qtbot, tab, tmp_path / "maps")
    sample = Path(d.setup.sample_path)
    assert sample == tmp_path / "maps" / "assess-scene" / "sample.csv"
    page, s = d.label_page, d.session
    assert d.pages.currentWidget() is page and page.isVisible()
    # blind by default: the map class is nowhere on the page until asked for
    assert not page.map_check.isChecked() and page.map_label.text() == ""
    assert [b.text() for b in page.class_buttons] == ["1  water", "2  forest", "3  desert"]
    assert page.progress_label.text() == f"0 / {len(s.units)}"
    # the zoomed view is the scene around the unit: its cell's own pixels in the middle
    u = s.current
    rgb, (x, y, w, h) = s.window(1)
    scene_px = np.asarray(Image.open(tmp_path / "scene.png").convert("RGB"))
    assert np.array_equal(
        rgb[y : y + h, x : x + w], scene_px[u.row * CELL : (u.row + 1) * CELL, u.col * CELL : (u.col + 1) * CELL]
    )
    qtbot.keyClick(page, Qt.Key.Key_M)
    assert page.map_label.text() == f"map class: <b>{u.map_class}</b>"
    qtbot.keyClick(page, Qt.Key.Key_M)
    assert page.map_label.text() == ""

    rows = _rows(sample)
    keys = {int(r["id"]): _truth_key(r) for r in rows}
    first = s.current.id
    qtbot.keyClick(page, Qt.Key.Key_0)  # can't tell
    assert _rows(sample)[s.units.index(next(x for x in s.units if x.id == first))]["reference"] == CANT_TELL
    qtbot.keyClick(page, Qt.Key.Key_Left)  # back to it ...
    assert s.current.id == first
    qtbot.keyClick(page, getattr(Qt.Key, f"Key_{keys[first]}"))  # ... and tell it after all
    assert {r["id"]: r["reference"] for r in _rows(sample)}[str(first)] == LABELS[keys[first] - 1]
    second = s.current.id
    qtbot.keyClick(page, Qt.Key.Key_X)  # X is "can't tell" too
    assert page.progress_label.text() == f"2 / {len(s.units)}"
    for _ in range(3):  # three more, saved as they go
        qtbot.keyClick(page, getattr(Qt.Key, f"Key_{keys[s.current.id]}"))
    saved = {int(r["id"]): r["reference"] for r in _rows(sample) if r["reference"]}
    assert len(saved) == 5 and saved[second] == CANT_TELL
    assert all(saved[i] == LABELS[keys[i] - 1] for i in saved if i != second)
    d.close()

    # a new dialog (as after a restart) offers the last sample and continues at its first unlabelled unit
    d2 = AssessDialog(tab.jobs)
    qtbot.addWidget(d2)
    d2.show()
    assert d2.setup_page.last_button.isVisible()
    assert f"(5 / {len(rows)} labelled)" in d2.setup_page.last_button.text()
    with qtbot.waitSignal(d2.sample_loaded, timeout=60_000):
        qtbot.mouseClick(d2.setup_page.last_button, Qt.MouseButton.LeftButton)
    _wait_jobs(qtbot, tab)
    s2, page2 = d2.session, d2.label_page
    first_open = next(i for i, r in enumerate(_rows(sample)) if not r["reference"])
    assert s2.index == first_open and page2.progress_label.text() == f"5 / {len(rows)}"
    with qtbot.waitSignal(d2.estimated, timeout=60_000) as est:
        while not s2.complete:
            qtbot.keyClick(page2, getattr(Qt.Key, f"Key_{keys[s2.current.id]}"))
    _wait_jobs(qtbot, tab)
    shown = est.args[0]
    core = api.estimate(d2.setup.map_path, sample)
    for key in ("overall", "overall_ci95", "area_unit", "sample"):
        assert shown[key] == core[key]
    assert shown["classes"] == core["classes"]
    assert core["sample"]["cant_tell"] == 1 and core["sample"]["unlabelled"] == 0
    # the dialog shows those numbers: overall and the area table
    assert d2.pages.currentWidget() is d2.results_page
    pct = f"{100 * core['overall']:.1f} %"
    assert pct in d2.results_page.overall.text()
    table = d2.results_page.table
    for i, c in enumerate(LABELS):
        r = core["classes"][c]
        assert table.item(i, 0).text() == c
        assert table.item(i, 1).text() == f"{r['map_area']:,.0f}"
        assert table.item(i, 2).text() == f"{r['area']:,.0f}"
    assert not d2.results_page.figure.pixmap().isNull(), "the figure of map and estimated areas is shown"
    report = Path(shown["files"]["html"])
    assert report.parent == sample.parent and report.is_file()
    assert {Path(p).name for p in shown["files"].values()} == {
        "assessment.json",
        "assessment.csv",
        "assessment.png",
        "assessment.html",
    }


def test_assessment_labels_never_become_corrections(qtbot, scene_tab, tmp_path):
    tab = scene_tab
    d = _export_and_draw(qtbot, tab, tmp_path / "maps", n=9)
    run = Path(tab.result.run)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "maps" not in p.parts)
    while not d.session.complete:
        qtbot.keyClick(d.label_page, Qt.Key.Key_1)
    _wait_jobs(qtbot, tab)
    assert not tab.session.corrections.assigned, "the scene's teach-your-scene labels are untouched"
    assert not corrections_dir(run).exists() and not list(tmp_path.rglob("corrections.json"))
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "maps" not in p.parts)
    assert after == before, "nothing written outside the map's folder (the run, its corrections)"
    # the number keys of the Scene tab (teach your scene) did not fire either
    assert tab.labelling.corrections.assigned == {}


def test_a_run_taught_on_the_scene_says_so(qtbot, scene_tab, tmp_path):
    tab = scene_tab
    run = Path(tab.result.run)
    corr = tmp_path / "runs" / "parent-corrections"
    (corr / "water").mkdir(parents=True)
    entry = {"file": "water/scene_r0_c0.png", "class": "water", "scene": str((tmp_path / "scene.png").resolve())}
    entry["time"] = "2023-12-31T00:00:00+0000"
    (corr / "corrections.json").write_text(json.dumps({"corrections": [entry]}))
    cfg = json.loads((run / "config.json").read_text())
    cfg["finetune"] = {"corrections": [str(corr)]}
    (run / "config.json").write_text(json.dumps(cfg))
    d = _export_and_draw(qtbot, tab, tmp_path / "maps", n=9)
    assert (
        d.label_page.taught_label.isVisibleTo(d) and "fine-tuned on 1 correction(s)" in d.label_page.taught_label.text()
    )
    while not d.session.complete:
        qtbot.keyClick(d.label_page, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: d.result is not None, timeout=60_000)
    _wait_jobs(qtbot, tab)
    assert any("fine-tuned on 1 correction(s) from the scene scene" in n for n in d.result["notes"])
    assert "fine-tuned on 1 correction(s)" in d.results_page.notes.text()


def test_an_existing_sample_is_continued_never_drawn_over(qtbot, scene_tab, tmp_path):
    tab = scene_tab
    d = _export_and_draw(qtbot, tab, tmp_path / "maps", n=9)
    qtbot.keyClick(d.label_page, Qt.Key.Key_3)
    sample = Path(d.setup.sample_path)
    stamp = sample.read_bytes()
    d.show_setup()
    assert d.setup.sample_exists and d.setup_page.start_button.text() == "Continue labelling this sample"
    assert not d.setup_page.n_spin.isEnabled(), "its design is fixed: the size cannot be changed"
    with qtbot.waitSignal(d.sample_loaded, timeout=60_000):
        qtbot.mouseClick(d.setup_page.start_button, Qt.MouseButton.LeftButton)
    _wait_jobs(qtbot, tab)
    assert sample.read_bytes() == stamp
    assert d.session.progress[0] == 1


def test_a_sample_that_cannot_be_drawn_says_why_and_writes_nothing(qtbot, scene_tab, tmp_path):
    tab = scene_tab
    d = tab.assess()
    d.export_to(str(tmp_path / "maps"))
    qtbot.waitUntil(lambda: d.setup.map_path.endswith("scene.summary.json"), timeout=60_000)
    _wait_jobs(qtbot, tab)
    d.setup_page.n_spin.setValue(12)  # 50 units per class (the default minimum) do not fit in 12
    qtbot.mouseClick(d.setup_page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(d.findChildren(QMessageBox)), timeout=60_000)
    _wait_jobs(qtbot, tab)
    box = [b for b in d.findChildren(QMessageBox) if b.objectName() == "errorDialog"][-1]
    assert "cannot give 50 units to each of the 3 strata" in box.text()
    assert d.session is None and d.pages.currentWidget() is d.setup_page
    assert not Path(d.setup.sample_path).exists()


def test_a_sample_drawn_on_the_command_line_opens_with_its_map(qtbot, scene_tab, tmp_path, monkeypatch):
    tab = scene_tab
    d = tab.assess()
    d.export_to(str(tmp_path / "maps"))
    qtbot.waitUntil(lambda: d.setup.map_path.endswith("scene.summary.json"), timeout=60_000)
    _wait_jobs(qtbot, tab)
    monkeypatch.chdir(tmp_path)  # `landgui assess sample maps/scene.summary.json --out maps/mine.csv`
    api.sample("maps/scene.summary.json", "maps/mine.csv", n=9, min_per_class=3, seed=0)
    monkeypatch.chdir(tmp_path / "runs")  # the app runs elsewhere: the map is found beside the sample
    with qtbot.waitSignal(d.sample_loaded, timeout=60_000):
        d.open_sample(str(tmp_path / "maps" / "mine.csv"))
    _wait_jobs(qtbot, tab)
    assert d.session.map_path.resolve() == (tmp_path / "maps" / "scene.summary.json").resolve()
    assert d.session.progress == (0, 9) and d.setup.sample_path == str(tmp_path / "maps" / "mine.csv")
