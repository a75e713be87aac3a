"""Screenshots of the Dataset, Training and Evaluation tabs with the sample dataset, for
docs/screenshots (run under Xvfb, in a real window):

    Xvfb :99 -screen 0 1400x900x24 & DISPLAY=:99 python tools/tab_screenshots.py --out docs/screenshots

The sample dataset (240 patches, 4 classes) is copied into a temporary home folder and split; a
tiny run (scratch model, 32 px, a few epochs: about a minute on two CPU cores) is trained from the
Training tab and evaluated on its test split from the Evaluation tab. Each tab is taken at every
``--sizes`` window size as ``<tab>-<width>x<height>.png``; ``training-running-<size>.png`` is the
Training tab during the run (the bar covers the whole run, the list follows the run).
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
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    tmp = Path(tempfile.mkdtemp(prefix="landgui-tabs-"))
    os.environ["HOME"] = str(tmp / "home")  # the sample dataset goes to ~/landgui-data
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):  # no session of the developer's
        os.environ[var] = str(tmp / var.lower())

    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from landgui.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp / "runs"))
    win = MainWindow(settings)
    win.resize(*sizes[0])
    win.show()

    def pump(seconds: float = 0.3) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            app.processEvents()
            time.sleep(0.02)

    def wait(cond, timeout: float = 900) -> None:
        t0 = time.monotonic()
        while not cond():
            app.processEvents()
            time.sleep(0.05)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError
        pump()

    def shot(name: str, tab, size) -> None:
        win.tabs.setCurrentWidget(tab)
        win.resize(*size)
        pump(0.5)
        for canvas in tab.findChildren(FigureCanvasQTAgg):
            if canvas.isVisible():
                canvas.draw()
        pump(0.3)
        path = out / f"{name}-{size[0]}x{size[1]}.png"
        g = win.frameGeometry()  # what the X server shows, not a widget's own rendering
        app.primaryScreen().grabWindow(0, g.x(), g.y(), g.width(), g.height()).save(str(path))
        print("wrote", path, win.size().toTuple())

    ds, tt, ev = win.dataset_tab, win.training_tab, win.evaluation_tab
    ds.use_sample()
    ds.split_button.click()
    wait(lambda: ds.manifest is not None and not win.running_workers())
    for size in sizes:
        shot("dataset", ds, size)

    tt.model_combo.setCurrentText("scratch")
    tt.size_spin.setValue(32)
    tt.epochs_spin.setValue(args.epochs)
    tt.batch_spin.setValue(16)
    tt.name_edit.setText("sample-scratch")
    done = []
    tt.run_finished.connect(done.append)
    win.tabs.setCurrentWidget(tt)
    tt.start_button.click()
    wait(lambda: bool(done) or len(tt.curves.epochs) >= 2)
    if not done:  # during the run: the bar, the list and the curves follow it
        win.resize(*sizes[0])
        shot("training-running", tt, sizes[0])
    wait(lambda: bool(done) and not win.running_workers())
    for size in sizes:
        shot("training", tt, size)

    ev.refresh_runs(select=done[0])
    ev.eval_button.click()
    wait(lambda: ev.result is not None and not win.running_workers())
    for size in sizes:
        shot("evaluation", ev, size)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
