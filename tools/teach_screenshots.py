"""Screenshots of "teach it this scene" for docs/screenshots (run under Xvfb at 1280x800).

    Xvfb :99 -screen 0 1280x800x24 & DISPLAY=:99 python tools/teach_screenshots.py

The scene is a mosaic of 24 real AID patches from another sensor (``../shared/data/patches/aid_cross``,
150 px each, 6 x 4; assembled here, it is not one photograph). It is mapped with the shipped model;
the wrongly mapped patches are then selected and labelled through the panel, as a user would after
looking at the map (the script stands in for the eye: it reads the true class from the folder name),
and "Fine-tune on corrections and re-map" is pressed. Shots: the labelled map before fine-tuning,
and the re-mapped result.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]


sys.path.insert(0, str(Path(__file__).resolve().parent))
from tutorial_screenshots import wait  # noqa: E402 - a sibling script's helper


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--folder", default=str(ROOT.parent / "shared/data/patches/aid_cross"))
    args = ap.parse_args()
    out = Path(args.out)
    tmp = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(3)
    classes = ["desert", "green_area", "water"]
    files = {c: sorted((Path(args.folder) / c).iterdir()) for c in classes}
    truth = rng.choice(3, size=(4, 6), p=[0.3, 0.4, 0.3])
    scene = np.zeros((600, 900, 3), np.uint8)
    for r in range(4):
        for c in range(6):
            f = files[classes[truth[r, c]]][int(rng.integers(len(files[classes[truth[r, c]]])))]
            scene[r * 150 : (r + 1) * 150, c * 150 : (c + 1) * 150] = cv2.resize(cv2.imread(str(f)), (150, 150))
    cv2.imwrite(str(tmp / "aid-mosaic.png"), scene)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from landgui.core.runs.folder import shipped_run_dir
    from landgui.gui.main_window import MainWindow

    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp / "runs"))
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()
    tab = win.scene_tab
    win.tabs.setCurrentWidget(tab)
    tab.refresh_runs(select=str(shipped_run_dir()))
    loaded = []
    tab.scene_loaded.connect(loaded.append)
    tab.open_scenes([str(tmp / "aid-mosaic.png")])
    wait(app, lambda: bool(loaded) and not tab.worker.isRunning())
    tab.patch_spin.setValue(150)
    tab.stride_spin.setValue(150)
    results = []
    tab.classified.connect(results.append)
    tab.classify()
    wait(app, lambda: bool(results) and not tab.worker.isRunning())
    before = results[-1]
    labels = before.labels
    wrong = [(r, c) for r in range(4) for c in range(6) if before.classes[r, c] != labels.index(classes[truth[r, c]])]
    print(f"before: {len(wrong)} of 24 patches wrong")
    panel = tab.labelling
    for k in sorted({int(truth[r, c]) for r, c in wrong}):
        panel.select({(r, c) for r, c in wrong if truth[r, c] == k})
        panel.assign(labels.index(classes[k]))
    panel.select({wrong[0]} if wrong else set())
    tab.view.fit()
    wait(app, lambda: True)

    def shot(name: str) -> None:
        app.processEvents()
        bar = tab.side_scroll.verticalScrollBar()
        bar.setValue(bar.maximum())  # the teaching panel, at the bottom of the side panel
        app.processEvents()
        win.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png")

    shot("teach-1-labelled")
    done = []
    tab.finetuned.connect(done.append)
    n = len(results)
    t0 = time.monotonic()
    panel.request_finetune()
    wait(app, lambda: len(results) > n and not tab.worker.isRunning())
    after = results[-1]
    still = [(r, c) for r in range(4) for c in range(6) if after.classes[r, c] != labels.index(classes[truth[r, c]])]
    print(f"after fine-tune and re-map ({time.monotonic() - t0:.1f} s from the click): {len(still)} of 24 wrong")
    panel.select(set())
    tab.view.fit()
    wait(app, lambda: True)
    shot("teach-2-remapped")
    tab.side_scroll.verticalScrollBar().setValue(0)  # the top of the side panel: which run made the map
    app.processEvents()
    win.grab().save(str(out / "teach-3-map-info.png"))
    print(out / "teach-3-map-info.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
