"""Screenshots of the Scene tab in a real window, for docs/screenshots (run under Xvfb):

    Xvfb :42 -screen 0 1400x900x24 & DISPLAY=:42 python tools/scene_screenshots.py

The demo scene ("Open demo scene") classified with the shipped model, a patch in the Sahara
clicked and labelled, at each ``--sizes`` window size: ``scene-<w>x<h>.png``. The settings, the
session and the log go to a temporary folder, never the developer's own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--sizes", default="1280x800,1024x700")
    ap.add_argument("--patch", type=int, default=64, help="patch size (and stride) of the map")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="landgui-scene-shots-"))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        os.environ[var] = str(tmp / var.lower())

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from landgui.gui.main_window import MainWindow

    def wait(cond, timeout: float = 900) -> None:
        t0 = time.monotonic()
        while not cond() or win.running_workers():
            app.processEvents()
            time.sleep(0.02)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError
        for _ in range(25):
            app.processEvents()
            time.sleep(0.02)

    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp / "runs"))
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()
    tab = win.scene_tab
    win.tabs.setCurrentWidget(tab)
    tab.open_demo()
    wait(lambda: tab.current is not None)
    tab.patch_spin.setValue(args.patch)
    tab.stride_spin.setValue(args.patch)
    tab.classify_button.click()
    wait(lambda: tab.result is not None)
    g = tab.result.grid
    x, y = g.width * 0.53, g.height * 0.36  # a patch in the Sahara
    tab.select_at(x, y)
    tab.patch_panel.hover(x, y)
    tab.labelling.assign(tab.result.labels.index("desert"))
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        win.resize(w, h)
        wait(lambda: True)
        tab.view.fit()
        tab.patch_panel.canvas.draw()
        wait(lambda: True)
        path = out / f"scene-{w}x{h}.png"
        win.screen().grabWindow(win.winId()).save(str(path))  # what the X server shows
        print(path, f"({win.width()} x {win.height()})", flush=True)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
