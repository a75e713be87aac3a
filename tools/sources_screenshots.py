"""Screenshots of several sources in the app (issue 27), from real patches (run under Xvfb).

    Xvfb :99 -screen 0 1280x800x24 & DISPLAY=:99 python tools/sources_screenshots.py --out docs/screenshots

Two sources made of the first ``--per-class`` patches of each class of ``kaggle4`` and of
``nwpu45`` (real patches, copied to a temporary folder): the Dataset tab with both folders added
and split as one (``dataset-sources.png``); the Training tab after a short transfer run that held
``nwpu45`` out (``training-holdout.png``); the Evaluation tab on that run's test split with the Per
source table (``evaluation-per-source.png``), on the held-out source (``evaluation-holdout.png``)
and its Compare runs table (``evaluation-compare-sources.png``). Prints each step's wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATCHES = ROOT.parent / "shared" / "data" / "patches"


def wait(app, cond, timeout=1800, win=None):
    """Process events until ``cond()`` holds and (given ``win``) no job of the window runs."""
    t0 = time.monotonic()
    while not cond() or (win is not None and win.jobs.running()):
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    return round(time.monotonic() - t0, 1)


def subset(src: Path, dest: Path, per_class: int) -> Path:
    """The first ``per_class`` images of each class folder of ``src``, copied to ``dest``."""
    for c in sorted(p for p in src.iterdir() if p.is_dir()):
        (dest / c.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(p for p in c.iterdir() if p.is_file())[:per_class]:
            shutil.copy(f, dest / c.name / f.name)
    return dest


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--per-class", type=int, default=80)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--small", default="", help="also take each shot at WxH as NAME-W.png (e.g. 1024x700)")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="landgui-sources-"))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):  # no session of the developer's
        os.environ[var] = str(tmp / var.lower())
    data = tmp / "sensors"
    kaggle = subset(PATCHES / "kaggle4", data / "kaggle4", args.per_class)
    nwpu = subset(PATCHES / "nwpu45", data / "nwpu45", args.per_class)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

    from landgui.gui.main_window import MainWindow

    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp / "runs"))
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()

    def shot(name: str) -> None:
        for _ in range(15):
            app.processEvents()
            time.sleep(0.02)
        for canvas in win.tabs.currentWidget().findChildren(FigureCanvasQTAgg):
            if canvas.isVisible():
                canvas.draw()
        app.processEvents()
        win.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png", f"({win.width()} x {win.height()})", flush=True)
        if args.small:
            w, h = (int(v) for v in args.small.split("x"))
            win.resize(w, h)
            for _ in range(15):
                app.processEvents()
                time.sleep(0.02)
            win.grab().save(str(out / f"{name}-{w}.png"))
            win.resize(1280, 800)
            app.processEvents()

    ds = win.dataset_tab
    win.tabs.setCurrentWidget(ds)
    ds.set_dataset(str(kaggle))
    ds.add_source(str(nwpu))
    ds.start_split()
    print(f"split in {wait(app, lambda: ds.manifest is not None, win=win)} s", flush=True)
    ds.result_tabs.setCurrentIndex(0)  # Class x source
    shot("dataset-sources")

    tt = win.training_tab
    win.tabs.setCurrentWidget(tt)
    tt.name_edit.setText("holdout-nwpu45")
    tt.epochs_spin.setValue(args.epochs)
    tt.holdout_combo.setCurrentIndex(tt.holdout_combo.findData("nwpu45"))
    done: list[str] = []
    tt.run_finished.connect(done.append)
    tt.start()
    print(f"trained and evaluated on the held-out source in {wait(app, lambda: bool(done), win=win)} s", flush=True)
    shot("training-holdout")

    ev = win.evaluation_tab
    win.tabs.setCurrentWidget(ev)
    ev.refresh_runs(select=done[0])
    ev.evaluate()  # the test split: both sources
    print(f"test split evaluated in {wait(app, lambda: ev.result is not None, win=win)} s", flush=True)
    wait(app, lambda: ev.thumbs.wait(0))
    ev.report_tabs.setCurrentIndex(1)  # Per source
    shot("evaluation-per-source")
    ev.result = None
    ev.split_combo.setCurrentIndex(ev.split_combo.findData("holdout-nwpu45"))
    ev.evaluate()
    print(f"held-out source evaluated in {wait(app, lambda: ev.result is not None, win=win)} s", flush=True)
    wait(app, lambda: ev.thumbs.wait(0))
    shot("evaluation-holdout")
    ev.inner_tabs.setCurrentIndex(1)  # Compare runs
    shot("evaluation-compare-sources")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
