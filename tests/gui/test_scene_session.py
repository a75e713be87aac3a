"""The Scene tab's state (:mod:`landgui.gui.state.scene_session`) on its own, and what the map
draws from it: maps made in the test from chosen probabilities (no model), numbers checked
against computations written here."""

import numpy as np
import pytest

from landgui.core.params import MapSettings
from landgui.core.scenes.grid import average_cells, make_grid
from landgui.core.scenes.pipeline import assemble_result
from landgui.gui.state.scene_session import SceneImage, ScenesState
from landgui.gui.tabs.scene.layers import mask_rects

LABELS = ["a", "b", "c"]
PALETTE = {"a": "#FF0000", "b": "#00FF00", "c": "#0000FF"}


def _result(seed: int, patch: int = 32, stride: int = 32, size: tuple[int, int] = (96, 64), run: str = "r1"):
    g = make_grid(*size, patch, stride)
    probs = np.random.default_rng(seed).dirichlet([0.5] * 3, g.n).astype(np.float32)
    return assemble_result("s.png", LABELS, g, probs, np.ones(g.n, bool), 1.0, run=run, context=0.0)


def _state(paths=("s.png",)) -> ScenesState:
    st = ScenesState()
    for p in paths:
        st.add(SceneImage(p, 96, 64, np.zeros((8, 12, 3), np.uint8)))
    st.set_current(paths[0])
    return st


def test_a_map_of_the_same_patches_keeps_selection_detail_and_corrections(qtbot):
    st = _state()
    s = st.current
    s.set_result(_result(0), PALETTE)
    s.select({(0, 1), (1, 2)}, focus=(1, 2))
    assert s.assign(2) == "2 patch(es) labelled c"
    changed = []
    st.result_changed.connect(lambda: changed.append(s.result))
    s.set_result(_result(1), PALETTE)  # re-made by a fine-tuned head: the same grid and classes
    assert changed == [s.result] and s.focus == (1, 2) and s.selection == {(0, 1), (1, 2)}
    assert s.corrections.assigned == {(0, 1): 2, (1, 2): 2}
    s.set_result(_result(1, patch=16, stride=16), PALETTE)  # other patches: a new start
    assert s.focus is None and not s.selection and not s.corrections.assigned


def test_undo_and_redo_say_what_the_corrections_are_now(qtbot):
    s = _state().current
    s.set_result(_result(0), PALETTE)
    assert s.undo() == "", "nothing to undo: nothing said"
    s.select({(0, 0)})
    s.assign(1)
    assert s.undo() == "undone: corrections on this map: none"
    assert s.redo() == "redone: corrections on this map: b 1 (1 not saved)"


def test_the_threshold_is_one_setting_for_every_scene_on_screen(qtbot):
    st = _state(("s.png", "t.png"))
    st.current.set_result(_result(0), PALETTE)
    st.set_current("t.png")
    st.current.set_result(_result(1), PALETTE)
    st.set_settings(uncertain_below=0.9)
    assert st.current.result.uncertain_below == 0.9
    st.set_current("s.png")  # the other scene's map follows the knob when it is shown
    res = st.current.result
    assert res.uncertain_below == 0.9
    conf = res.cell_probs.max(axis=-1)
    assert res.coverage["uncertain"] == pytest.approx((conf < 0.9).mean())


def test_new_colours_reach_every_map_of_the_same_run(qtbot):
    st = _state(("s.png", "t.png", "u.png"))
    for path, run in (("s.png", "r1"), ("t.png", "r1"), ("u.png", "r2")):
        st.sessions[path].set_result(_result(0, run=run), PALETTE)
    st.sessions["s.png"].set_palette({**PALETTE, "a": "#123456"})
    assert st.sessions["t.png"].palette["a"] == "#123456" and st.sessions["u.png"].palette["a"] == "#FF0000"


def test_settings_are_kept_in_the_application_state_and_damaged_ones_ignored(qtbot):
    class AppStateStub:
        map_settings: dict = {}

        def set_map_settings(self, d):
            self.map_settings = d

        def set_scenes(self, paths, current):
            self.scenes = (paths, current)

    app = AppStateStub()
    st = ScenesState(app)
    assert st.settings == MapSettings(stride=64), "the app shows the stride: patches side by side"
    st.set_settings(patch=128, edge="skip", adapt=True)
    assert app.map_settings["adapt"] is True and app.map_settings["map"]["patch"] == 128
    again = ScenesState(app)
    assert (again.settings.patch, again.settings.edge, again.adapt) == (128, "skip", True)
    app.map_settings = {"map": {"patch": "big", "schema": 1}}
    assert ScenesState(app).settings == MapSettings(stride=64), "a damaged entry: the defaults"
    app.map_settings = {"map": {"patch": 32, "schema": 99}}
    assert ScenesState(app).settings.patch == 64, "a newer entry: the defaults"


def test_removing_scenes_shows_the_next_and_keeps_the_list(qtbot):
    import gc
    import weakref

    st = _state(("a", "b", "c"))
    st.set_current("b")
    st.current.set_result(_result(0), PALETTE)
    gone = weakref.ref(st.current)
    st.remove("b")
    assert list(st.sessions) == ["a", "c"] and st.current.path == "c"
    gc.collect()
    assert gone() is None, "a removed scene's session (and its map) is freed"
    st.remove("c")
    assert st.current.path == "a"
    st.remove("a")
    assert st.current is None and not st.sessions


@pytest.mark.parametrize(
    ("size", "patch", "stride"), [((500, 300), 64, 24), ((120, 90), 99, 8), ((301, 257), 40, 40), ((96, 64), 64, 32)]
)
def test_cells_average_every_patch_that_covers_them(size, patch, stride):
    """Each cell's probabilities are the mean over the patches covering it, summed here patch by
    patch over scene pixels (the cells' size: gcd(patch, stride))."""
    g = make_grid(*size, patch, stride)
    rng = np.random.default_rng(0)
    probs = rng.random((g.rows, g.cols, 3)).astype(np.float32)
    valid = rng.random((g.rows, g.cols)) > 0.2
    cell = g.cell
    h, w = -(-g.height // cell) * cell, -(-g.width // cell) * cell
    acc = np.zeros((h + g.patch, w + g.patch, 3))
    cnt = np.zeros((h + g.patch, w + g.patch))
    for r, c in zip(*np.nonzero(valid), strict=True):
        acc[r * stride : r * stride + patch, c * stride : c * stride + patch] += probs[r, c]
        cnt[r * stride : r * stride + patch, c * stride : c * stride + patch] += 1
    expected_cnt = cnt[:h:cell, :w:cell]
    with np.errstate(invalid="ignore"):
        expected = np.where(expected_cnt[..., None] > 0, acc[:h:cell, :w:cell] / expected_cnt[..., None], 0)
    steps = []
    avg, n = average_cells(g, probs, valid, progress=lambda *a: steps.append(a))
    np.testing.assert_array_equal(n, expected_cnt)
    np.testing.assert_allclose(avg, expected, rtol=1e-5, atol=1e-6)
    k = patch // cell
    assert steps == ([("averaging overlapping patches", i, 2 * k) for i in range(1, 2 * k + 1)] if k > 1 else [])


def test_the_uncertain_hatch_covers_exactly_the_uncertain_cells():
    rng = np.random.default_rng(1)
    mask = np.repeat(np.repeat(rng.random((6, 9)) > 0.5, 7, axis=0), 5, axis=1)  # blocks, as 1 px cells make
    rects = mask_rects(mask)
    drawn = np.zeros_like(mask, int)
    for r, c, h, w in rects:
        drawn[r : r + h, c : c + w] += 1
    np.testing.assert_array_equal(drawn, mask.astype(int))  # every uncertain cell once, nothing else
    assert len(rects) <= 6 * 9, "identical rows are merged into one rectangle"
    assert mask_rects(np.zeros((3, 4), bool)) == []
