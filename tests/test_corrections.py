"""Corrections on a classified scene: assign, undo/redo, save as a class-folder dataset."""

import json

import cv2
import numpy as np
import pytest
from test_scenes import LABELS, centroid_model, mosaic

from landgui.core import scenes as S
from landgui.core.base.errors import LandguiError
from landgui.core.training.corrections import Corrections, corrections_dir, uncertain_order


@pytest.fixture
def classified(tmp_path):
    img = mosaic(np.array([[0, 1, 2], [2, 0, 1]]), 16)
    cv2.imwrite(str(tmp_path / "m.png"), img[:, :, ::-1])
    scene = S.open_scene(tmp_path / "m.png")
    return S.classify_scene(centroid_model(16), LABELS, 16, scene, patch=16, uncertain_below=0), scene, img


def test_assign_undo_redo(classified):
    res, _, _ = classified
    c = Corrections.for_result(res)
    c.assign([(0, 0), (0, 1)], 2)
    c.assign([(0, 1)], 1)
    c.assign([(5, 5)], 1)  # outside the grid: ignored, no undo step
    assert c.assigned == {(0, 0): 2, (0, 1): 1}
    assert c.undo() and c.assigned == {(0, 0): 2, (0, 1): 2}
    assert c.undo() and c.assigned == {}
    assert not c.undo()
    assert c.redo() and c.redo() and c.assigned == {(0, 0): 2, (0, 1): 1} and not c.redo()
    c.assign([(0, 1)], None)
    assert c.assigned == {(0, 0): 2} and c.counts() == {"blue": 1}
    with pytest.raises(LandguiError, match="class 4 does not exist"):
        c.assign([(1, 1)], 3)


def test_save_writes_native_pixels_and_an_index_never_overwriting(classified, tmp_path):
    res, scene, img = classified
    c = Corrections.for_result(res)
    c.assign([(1, 2), (0, 0)], 0)
    dest = tmp_path / "corr"
    files = c.save(scene, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in files) == ["red/m_r0_c0.png", "red/m_r1_c2.png"]
    saved = cv2.imread(str(dest / "red" / "m_r1_c2.png"))[:, :, ::-1]
    np.testing.assert_array_equal(saved, img[16:32, 32:48])  # the patch exactly as in the scene
    index = json.loads((dest / "corrections.json").read_text())["corrections"]
    assert [(e["row"], e["col"], e["class"], e["x"], e["y"], e["patch"]) for e in index] == [
        (0, 0, "red", 0, 0, 16),
        (1, 2, "red", 32, 16, 16),
    ]
    assert index[0]["scene"] == str((tmp_path / "m.png").resolve()) and "time" in index[0]
    assert c.save(scene, dest) == [] and c.unsaved() == 0  # nothing new
    c2 = Corrections.for_result(res)  # another session labels the same patch again
    c2.assign([(0, 0)], 0)
    assert [p.name for p in c2.save(scene, dest)] == ["m_r0_c0_2.png"]
    assert len(json.loads((dest / "corrections.json").read_text())["corrections"]) == 3
    assert not list(tmp_path.glob("m_r*")), "nothing is written next to the scene"


def test_uncertain_order_and_where_corrections_go(classified, tmp_path, monkeypatch):
    res, _, _ = classified
    order = uncertain_order(res)
    top2 = np.sort(res.probs, axis=-1)[..., -2:]
    margins = [top2[r, c, 1] - top2[r, c, 0] for r, c in order]
    assert len(order) == 6 and margins == sorted(margins)
    from landgui.core.runs.folder import shipped_run_dir

    monkeypatch.setenv("LANDGUI_RUNS_DIR", str(tmp_path / "runs"))
    assert corrections_dir(shipped_run_dir()) == tmp_path / "runs" / "landcover4-corrections"
    (tmp_path / "myrun").mkdir()
    assert corrections_dir(tmp_path / "myrun") == tmp_path / "myrun" / "corrections"
