"""The Scene tab's "Use neighbouring patches (context)" option (issue 27, item 5): on by default,
the map it makes records it, the patch panel shows the model's own answer beside the smoothed one,
and off maps each patch alone, as ``landgui segment --no-context`` does."""

import cv2
import numpy as np
from synth import CLASS_COLOURS, textured_image

from landgui.core.runs.folder import shipped_run_dir
from landgui.core.scenes.context import DEFAULT_CONTEXT


def test_the_context_option_maps_with_and_without_neighbours(window, qtbot, tmp_path):
    rng = np.random.default_rng(3)
    names = list(CLASS_COLOURS)
    img = np.zeros((128, 192, 3), np.uint8)
    for r in range(2):
        for c in range(3):
            img[r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64] = textured_image(
                rng, CLASS_COLOURS[names[(r + c) % 2]], 64
            )
    cv2.imwrite(str(tmp_path / "s.png"), img[:, :, ::-1])
    tab = window.scene_tab
    assert tab.context_check.text() == "Use neighbouring patches (context)" and tab.context_check.isChecked()
    with qtbot.waitSignal(tab.scene_loaded, timeout=60_000):
        tab.open_scenes([str(tmp_path / "s.png")])
    tab.worker.wait()
    tab.refresh_runs(select=str(shipped_run_dir()))
    results = []
    tab.classified.connect(results.append)
    for on in (True, False):
        tab.context_check.setChecked(on)
        qtbot.waitUntil(tab.classify_button.isEnabled, timeout=10_000)
        with qtbot.waitSignal(tab.classified, timeout=120_000):
            tab.classify()
        tab.worker.wait()
        tab.select_at(10, 10)
        marks = tab.prob_figure.axes[0].collections  # the "patch alone" marks beside the bars
        assert ("with context" in tab.map_label.text()) == on
        assert len(marks) == (1 if on else 0)
        # synthetic colour blobs are unlike the shipped model's real training patches: the map and
        # the patch text say so (the shipped model keeps familiarity.npz)
        assert "unlike the training data: expect lower accuracy; teach it" in tab.map_label.text()
        assert "unfamiliar" in tab.hover_label.text()
    with_context, alone = results
    assert with_context.context == DEFAULT_CONTEXT and with_context.raw_probs is not None
    assert alone.context == 0.0 and alone.raw_probs is None
    np.testing.assert_allclose(with_context.raw_probs, alone.probs, rtol=1e-5, atol=1e-6)
