"""Teach it your scene in the app: seconds from the "Fine-tune on corrections" click to the new map
of the demo scene, on this machine (issue 15's target: <= 15 s on 2 cores).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_teach_gui.py [--out bench/out/teach-gui.json]

The app is driven as a user would: the Blue Marble demo scene is opened and classified with the
shipped model (LiteRT, 64 px patches), ``--n`` patches are labelled (the most uncertain ones,
each given its second most likely class: the script stands in for the user's eye, so the
corrections are plausible but not ground truth; this measures time, not accuracy), saved, and
"Fine-tune on corrections and re-map" is clicked. Timed from the click: the new map on screen
(``classified``) and the new run saved (``finetuned``). Two rounds:

``kept features``
    the map kept its patches' features (the default): the head is retrained on the LiteRT
    backbone's features and the map redrawn from the kept features, before the run is saved.
``no kept features``
    the same with the features dropped from the map (as for a scene too large to keep them):
    the scene is classified again with the new run once it is saved.

TensorFlow is not imported before the click (as after a first start with the shipped model);
saving ``model.keras`` imports it, after the map is shown.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "teach-gui.json"))
    ap.add_argument("--n", type=int, default=20, help="patches labelled per round")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["LANDGUI_RUNS_DIR"] = str(tmp / "runs")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import numpy as np
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    sys.path.insert(0, str(ROOT / "tools"))
    from tutorial_screenshots import wait

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from landgui.core.runs.folder import shipped_run_dir
    from landgui.core.scenes import demo_scene_path
    from landgui.gui.main_window import MainWindow

    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp / "runs"))
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()
    tab = win.scene_tab
    win.tabs.setCurrentWidget(tab)
    tab.refresh_runs(select=str(shipped_run_dir()))
    loaded: list = []
    tab.scene_loaded.connect(loaded.append)
    tab.open_scenes([str(demo_scene_path())])
    wait(app, lambda: bool(loaded) and not tab.worker.isRunning())
    results: list = []
    tab.classified.connect(results.append)
    finished: list = []
    tab.finetuned.connect(finished.append)

    events: list[tuple[str, float]] = []  # ("map" | "saved", time) as the app signals them
    tab.classified.connect(lambda _r: events.append(("map", time.monotonic())))
    tab.finetuned.connect(lambda _r: events.append(("saved", time.monotonic())))
    rounds = []
    for name, keep in (("kept features", True), ("no kept features", False)):
        tab.refresh_runs(select=str(shipped_run_dir()))
        n0 = len(results)
        t = time.monotonic()
        tab.classify()
        wait(app, lambda n0=n0: len(results) > n0 and not tab.worker.isRunning())
        classify_s = time.monotonic() - t
        res = results[-1]
        if not keep:
            res.features = None
        margin = res.cell_margin if res.grid.cell == res.grid.patch else None
        assert margin is not None, "the demo is mapped without overlap here"
        order = np.argsort(np.where(res.classes >= 0, margin, 9.0), axis=None)[: args.n]
        panel = tab.labelling
        for flat in order:
            r, c = divmod(int(flat), res.grid.cols)
            second = int(np.argsort(res.probs[r, c])[-2])
            panel.select({(r, c)})
            panel.assign(second)
        tf_before = "tensorflow" in sys.modules
        k = len(events)
        t0 = time.monotonic()
        panel.request_finetune()
        wait(app, lambda k=k: {e for e, _ in events[k:]} == {"map", "saved"} and not tab.worker.isRunning(), 600)
        map_s = next(t for e, t in events[k:] if e == "map") - t0
        saved_s = next(t for e, t in events[k:] if e == "saved") - t0
        new_run = Path(finished[-1])
        cfg = json.loads((new_run / "config.json").read_text())
        row = {
            "round": name,
            "classify_s": round(classify_s, 1),
            "click_to_new_map_s": round(map_s, 1),
            "click_to_run_saved_s": round(saved_s, 1),
            "tensorflow_imported_before_click": tf_before,
            "labelled": args.n,
            "features": cfg["finetune"]["features"],
            "new_run": new_run.name,
            "map_run": Path(results[-1].run).name,
        }
        rounds.append(row)
        print(json.dumps(row))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"machine": f"{os.cpu_count()} cores", "scene": str(demo_scene_path()), "rounds": rounds}, indent=2)
    )
    print(args.out)
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
