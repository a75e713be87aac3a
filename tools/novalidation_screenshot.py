"""Screenshot of the Training tab after a run on a split without validation images (issue 23,
item 12: the tab says the kept epoch's accuracy is on the training images). Run under Xvfb, in a
real window:

    DISPLAY=:99 python tools/novalidation_screenshot.py --out docs/screenshots

The sample dataset is copied into a temporary home, split with ``val=0``, and a tiny scratch run
(32 px, 3 epochs) is trained from the Training tab; ``training-no-validation-<w>x<h>.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    """Train from the tab and take the screenshot; returns the exit status."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--size", default="1280x800")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    size = tuple(int(v) for v in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="landgui-noval-"))
    os.environ["HOME"] = str(tmp / "home")
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        os.environ[var] = str(tmp / var.lower())

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from landgui.core.data.sample import copy_sample_dataset
    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split
    from landgui.gui.main_window import MainWindow

    ds = copy_sample_dataset(tmp / "sample")
    write_split(scan_dataset(ds), tmp / "split", SplitParams(val=0.0, test=0.2, seed=0))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp / "runs"))
    win = MainWindow(settings)
    win.resize(*size)
    win.show()

    def wait(cond, timeout: float = 900) -> None:
        t0 = time.monotonic()
        while not cond():
            app.processEvents()
            time.sleep(0.05)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError

    tt = win.training_tab
    tt.set_split(str(tmp / "split" / "split.json"))
    tt.model_combo.setCurrentText("scratch")
    tt.size_spin.setValue(32)
    tt.epochs_spin.setValue(3)
    tt.batch_spin.setValue(16)
    tt.name_edit.setText("no-validation-split")
    done: list = []
    tt.run_finished.connect(done.append)
    win.tabs.setCurrentWidget(tt)
    tt.start_button.click()
    wait(lambda: bool(done) and not win.running_workers())
    t0 = time.monotonic()
    wait(lambda: time.monotonic() - t0 > 1.0)  # let the window repaint
    path = out / f"training-no-validation-{size[0]}x{size[1]}.png"
    g = win.frameGeometry()
    app.primaryScreen().grabWindow(0, g.x(), g.y(), g.width(), g.height()).save(str(path))
    print("wrote", path, "|", tt.info.text())
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
