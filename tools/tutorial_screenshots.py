"""Screenshots of the README's "first 5 minutes" tutorial, taken as a new user would go (Xvfb).

    Xvfb :99 -screen 0 1280x800x24 & DISPLAY=:99 python tools/tutorial_screenshots.py --out docs/screenshots

A fresh home folder and settings (no runs, no data): the window opens on the demo scene with the
shipped model; Classify; Dataset tab "Use the sample dataset" and Split; Training with the
defaults; Evaluation; the demo scene mapped with the new run. Prints each step's wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication


def wait(app, cond, timeout=1800):
    t0 = time.monotonic()
    while not cond():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    return round(time.monotonic() - t0, 1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="landgui-newuser-"))
    os.environ["HOME"] = str(home)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from landgui.gui.main_window import MainWindow, start_later

    settings = QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()
    start_later(win, [])

    def shot(name: str) -> None:
        app.processEvents()
        win.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png", flush=True)

    sc = win.scene_tab
    t = wait(app, lambda: sc.current is not None and not (sc.worker and sc.worker.isRunning()))
    print(f"demo scene shown after {t} s", flush=True)
    shot("first-start")
    sc.classify()
    t = wait(app, lambda: sc.result is not None and not sc.worker.isRunning())
    print(f"classified with the shipped model in {t} s", flush=True)
    sc.view.fit()
    shot("first-start-classified")

    ds = win.dataset_tab
    win.tabs.setCurrentWidget(ds)
    ds.use_sample()
    ds.start_split()
    t = wait(app, lambda: ds.manifest is not None and not ds.worker.isRunning())
    print(f"sample split in {t} s", flush=True)
    shot("tutorial-1-split")

    tt = win.training_tab
    win.tabs.setCurrentWidget(tt)
    tt.name_edit.setText("my-first-model")
    done: list[str] = []
    tt.run_finished.connect(done.append)
    tt.start()
    t = wait(app, lambda: bool(done))
    print(f"trained with the defaults in {t} s", flush=True)
    tt.curves.draw()
    shot("tutorial-2-trained")

    ev = win.evaluation_tab
    win.tabs.setCurrentWidget(ev)
    ev.refresh_runs(select=done[0])
    ev.evaluate()
    t = wait(app, lambda: ev.result is not None and not ev.worker.isRunning())
    print(f"evaluated in {t} s", flush=True)
    ev.canvas.draw()
    shot("tutorial-3-evaluated")

    win.tabs.setCurrentWidget(sc)
    sc.refresh_runs()
    print("scene tab run:", sc.run_combo.currentText(), flush=True)
    first = sc.result
    sc.classify()
    t = wait(app, lambda: sc.result is not first and not sc.worker.isRunning())
    print(f"demo scene mapped with the new run in {t} s", flush=True)
    sc.view.fit()
    shot("tutorial-4-mapped")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
