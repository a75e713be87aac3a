"""Screenshots of each tab in a real state, for docs/screenshots (run under Xvfb at 1280x800).

    Xvfb :99 -screen 0 1280x800x24 & DISPLAY=:99 python tools/screenshots.py --runs bench/out \\
        --run bench/out/transfer-128 --out docs/screenshots

Dataset tab: the real Kaggle patches split. Training tab: the curves of a real run from the runs
folder (a benchmark run). Evaluation tab: that run evaluated on its test split, a confusion cell
clicked, then on the real AID folder (another sensor). Scene tab: the real Blue Marble demo scene classified with that run, a patch clicked.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QPointF, QSettings
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]


def wait(app, worker, cond=lambda: True, timeout=1800):
    t0 = time.monotonic()
    while (worker is not None and worker.isRunning()) or not cond():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--dataset", default=str(ROOT.parent / "shared/data/patches/kaggle4"))
    ap.add_argument("--runs", default="bench/out")
    ap.add_argument("--run", default="bench/out/transfer-128")
    ap.add_argument("--folder", default=str(ROOT.parent / "shared/data/patches/aid_cross"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from landgui.gui.main_window import MainWindow

    tmp = Path(tempfile.mkdtemp())
    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(Path(args.runs).resolve()))
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()

    def shot(name: str) -> None:
        app.processEvents()
        p = out / f"{name}.png"
        win.grab().save(str(p))
        print(p)

    # Dataset
    tab = win.dataset_tab
    win.tabs.setCurrentWidget(tab)
    tab.set_dataset(args.dataset)
    tab.out_edit.setText(str(tmp / "split"))
    tab.start_split()
    wait(app, tab.worker, lambda: tab.manifest is not None)
    shot("dataset-tab")
    # Training: curves of a real run
    run = str(Path(args.run).resolve())
    tt = win.training_tab
    win.tabs.setCurrentWidget(tt)
    tt.refresh_runs()
    for i in range(tt.runs_list.count()):
        if tt.runs_list.item(i).data(256) == run:
            tt.runs_list.setCurrentRow(i)
    wait(app, None)
    tt.curves.draw()
    shot("training-tab")
    # Evaluation
    ev = win.evaluation_tab
    win.tabs.setCurrentWidget(ev)
    ev.refresh_runs(select=run)
    ev.evaluate()
    wait(app, ev.worker, lambda: ev.result is not None)
    ev.canvas.draw()
    shot("evaluation-tab")
    # Evaluation on another sensor's labelled folder (real AID scenes)
    if Path(args.folder).is_dir():
        ev.result = None
        ev.evaluate_folder(args.folder)
        wait(app, ev.worker, lambda: ev.result is not None)
        ev.canvas.draw()
        shot("evaluation-folder")
    # Scene: the demo scene classified
    sc = win.scene_tab
    win.tabs.setCurrentWidget(sc)
    sc.refresh_runs(select=run)
    sc.open_demo()
    wait(app, sc.worker, lambda: sc.current is not None)
    sc.classify()
    wait(app, sc.worker, lambda: sc.result is not None)
    sc.view.fit()
    g = sc.result.grid
    sc.select_at(g.width * 0.53, g.height * 0.32)  # a patch in the Sahara
    sc._hover(g.width * 0.53, g.height * 0.32)
    sc.prob_canvas.draw()
    shot("scene-tab")
    sc.view.scale(4, 4)
    sc.view.centerOn(QPointF(g.width * 0.53, g.height * 0.32))
    shot("scene-tab-zoomed")
    sc.view_combo.setCurrentText("uncertainty")
    sc.view.fit()
    shot("scene-tab-uncertainty")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
