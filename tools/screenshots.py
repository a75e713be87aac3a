"""Take screenshots of each tab in a real state (run under Xvfb at 1280x800, or offscreen).

    python tools/screenshots.py --out docs/screenshots [--dataset DIR]

Uses the real Kaggle patches in ../shared/data when present, else a synthetic dataset (the
file name then says "synthetic").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument(
        "--dataset", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/patches/kaggle4")
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from landgui.gui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp())
    win = MainWindow(QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    win.resize(1280, 800)
    win.show()
    dataset = Path(args.dataset)
    tag = "real"
    if not dataset.is_dir():
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from synth import make_dataset

        dataset = make_dataset(tmp / "synthetic", per_class=30)
        tag = "synthetic"
    tab = win.dataset_tab
    tab.set_dataset(str(dataset))
    tab.out_edit.setText(str(tmp / "split"))
    tab.start_split()
    while tab.worker.isRunning() or tab.manifest is None:
        app.processEvents()
        tab.worker.wait(50)
    app.processEvents()
    tab.canvas.draw()
    app.processEvents()
    path = out / f"dataset-tab-{tag}.png"
    win.grab().save(str(path))
    print(path)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
