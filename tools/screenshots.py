"""Screenshots of each tab in a real state, for docs/screenshots (run under Xvfb).

    landgui split ../shared/data/patches/kaggle4 --out /tmp/k4-split
    landgui train /tmp/k4-split --out bench/out/transfer-128
    Xvfb :99 -screen 0 1280x800x24 & DISPLAY=:99 python tools/screenshots.py --runs bench/out \\
        --run bench/out/transfer-128 --out docs/screenshots --sizes 1280x800,1024x700

Dataset tab: the real Kaggle patches split. Training tab: the curves of a real run from the runs
folder (a benchmark run). Evaluation tab: that run evaluated on its test split, a confusion cell
clicked (and one of its images enlarged), then on the real AID folder (another sensor). Scene
tab: the real Blue Marble demo scene classified with that run, a patch clicked.

Each tab is taken at every ``--sizes`` window size as ``tab-<tab>-<width>.png`` (to check that
nothing is clipped on a small screen), besides the README's 1280 x 800 pictures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait(app, cond=lambda: True, timeout=1800, win=None):
    """Process events until ``cond()`` holds and (given ``win``) no job of the window runs."""
    t0 = time.monotonic()
    while not cond() or (win is not None and win.running_workers()):
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
    ap.add_argument("--sizes", default="1280x800,1024x700", help="window sizes of the tab-<tab>-<width>.png shots")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    tmp = Path(tempfile.mkdtemp(prefix="landgui-shots-"))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):  # no session of the developer's
        os.environ[var] = str(tmp / var.lower())

    from PySide6.QtCore import QPointF, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

    from landgui.gui.main_window import MainWindow

    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(Path(args.runs).resolve()))
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()

    def settle() -> None:
        for _ in range(15):
            app.processEvents()
            time.sleep(0.02)
        for canvas in win.tabs.currentWidget().findChildren(FigureCanvasQTAgg):
            if canvas.isVisible():
                canvas.draw()
        app.processEvents()

    def shot(name: str, tab: str | None = None, widget=None) -> None:
        """``name``.png at 1280 x 800, and tab-``tab``-<width>.png at every size."""
        settle()
        (widget or win).grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png", flush=True)
        if tab is None:
            return
        for w, h in sizes:
            win.resize(w, h)
            if tab == "scene":
                win.scene_tab.view.fit()
            settle()
            p = out / f"tab-{tab}-{w}.png"
            win.grab().save(str(p))
            print(p, f"({win.width()} x {win.height()})", flush=True)
        win.resize(1280, 800)
        settle()

    # Dataset
    tab = win.dataset_tab
    win.tabs.setCurrentWidget(tab)
    tab.set_dataset(args.dataset)
    tab.out_edit.setText(str(tmp / "split"))
    tab.start_split()
    wait(app, lambda: tab.manifest is not None, win=win)
    shot("dataset-tab", "dataset")
    # Training: curves of a real run
    run = str(Path(args.run).resolve())
    tt = win.training_tab
    win.tabs.setCurrentWidget(tt)
    tt.refresh_runs()
    for i in range(tt.runs_list.count()):
        if tt.runs_list.item(i).data(256) == run:
            tt.runs_list.setCurrentRow(i)
    wait(app)
    shot("training-tab", "training")
    # Evaluation
    ev = win.evaluation_tab
    win.tabs.setCurrentWidget(ev)
    ev.refresh_runs(select=run)
    ev.evaluate()
    wait(app, lambda: ev.result is not None, win=win)
    cm = ev.result["confusion_matrix"]
    worst = max(((i, j) for i in range(len(cm)) for j in range(len(cm[i])) if i != j), key=lambda c: cm[c[0]][c[1]])
    ev.show_cell(*worst)  # the most frequent confusion, as a user would click it
    wait(app, lambda: ev.thumbs.wait(0))
    shot("evaluation-tab", "evaluation")
    if ev.images.count():  # a misclassified image enlarged
        ev.enlarge(ev.images.item(0))
        wait(app, lambda: not ev.preview.image.isNull())
        shot("evaluation-enlarged", widget=ev.preview)
        ev.preview.close()
    # Evaluation on another sensor's labelled folder (real AID scenes)
    if Path(args.folder).is_dir():
        ev.result = None
        ev.evaluate_folder(args.folder)
        wait(app, lambda: ev.result is not None, win=win)
        wait(app, lambda: ev.thumbs.wait(0))
        shot("evaluation-folder")
    # Scene: the demo scene classified
    sc = win.scene_tab
    win.tabs.setCurrentWidget(sc)
    sc.refresh_runs(select=run)
    sc.open_demo()
    wait(app, lambda: sc.current is not None, win=win)
    sc.classify()
    wait(app, lambda: sc.result is not None, win=win)
    sc.view.fit()
    g = sc.result.grid
    sc.select_at(g.width * 0.53, g.height * 0.36)  # a patch in the Sahara
    sc.patch_panel.hover(g.width * 0.53, g.height * 0.36)
    shot("scene-tab", "scene")
    sc.view.fit()
    sc.view.scale(4, 4)
    sc.view.centerOn(QPointF(g.width * 0.53, g.height * 0.36))
    shot("scene-tab-zoomed")
    sc.view_combo.setCurrentText("uncertainty")
    sc.view.fit()
    shot("scene-tab-uncertainty")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
