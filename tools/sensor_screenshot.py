"""A screenshot of the Scene tab's sensor panel in a real window, for docs/screenshots (under Xvfb):

    Xvfb :99 -screen 0 1400x900x24 & DISPLAY=:99 python tools/sensor_screenshot.py

A synthetic 2.5 m scene in UTM 33N, written as blue, green, red, NIR (PlanetScope's band order),
is opened and mapped with the shipped model (10 m): the panel shows the model's contract beside the
scene's figures, the bands the file names as red, green, blue, and that the scene is read
resampled to 10 m. Saved as ``scene-sensor.png``. Settings, session and log go to a temporary
folder, never the developer's own.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_scene(path: Path) -> Path:
    """Water, forest and sand in blocks of 320 x 320 px (800 m), with texture, as a BGRN GeoTIFF."""
    import cv2
    import rasterio
    from rasterio.transform import Affine

    rng = np.random.default_rng(4)
    colours = {"water": (30, 60, 120), "forest": (40, 110, 50), "sand": (205, 170, 120)}
    layout = [
        ["water", "water", "forest", "forest", "sand"],
        ["water", "forest", "forest", "sand", "sand"],
        ["forest", "forest", "sand", "sand", "sand"],
        ["forest", "water", "water", "sand", "sand"],
    ]
    rows, cols, block = len(layout), len(layout[0]), 320
    rgb = np.zeros((rows * block, cols * block, 3), np.float32)
    for r, line in enumerate(layout):
        for c, name in enumerate(line):
            rgb[r * block : (r + 1) * block, c * block : (c + 1) * block] = colours[name]
    tex = cv2.resize(rng.normal(0, 1, (rows * 40, cols * 40)).astype(np.float32), (cols * block, rows * block))
    rgb = np.clip(rgb + 18 * tex[:, :, None] + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
    nir = np.clip(rgb[:, :, 1].astype(np.int16) * 2, 0, 255).astype(np.uint8)
    bgrn = np.stack([rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0], nir])
    profile = dict(driver="GTiff", width=bgrn.shape[2], height=bgrn.shape[1], count=4, dtype="uint8")
    with rasterio.open(
        path, "w", crs="EPSG:32633", transform=Affine(2.5, 0, 500000, 0, -2.5, 4000000), **profile
    ) as dst:
        dst.write(bgrn)
        for i, name in enumerate(("blue", "green", "red", "nir"), start=1):
            dst.set_band_description(i, name)
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="landgui-sensor-shot-"))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        os.environ[var] = str(tmp / var.lower())

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from landgui.core.runs.folder import shipped_run_dir
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
    win.resize(1280, 860)
    win.show()
    tab = win.scene_tab
    win.tabs.setCurrentWidget(tab)
    tab.open_scenes([str(write_scene(tmp / "orthophoto-2.5m-bgrn.tif"))])
    wait(lambda: tab.current is not None)
    tab.refresh_runs(select=str(shipped_run_dir()))
    tab.classify_button.click()
    wait(lambda: tab.result is not None)
    tab.view.fit()
    wait(lambda: True)
    path = out / "scene-sensor.png"
    win.screen().grabWindow(win.winId()).save(str(path))  # what the X server shows
    print(path, f"({win.width()} x {win.height()})", tab.sensor_panel.match_label.text(), flush=True)
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
