"""Benchmark: classifying the demo scene in the GUI against the CLI path, in one process.

    QT_QPA_PLATFORM=offscreen python bench/bench_gui_classify.py RUN_DIR [--repeat 3]

CLI path: ``services.map_scene`` (the LiteRT model loaded once and kept, as ``landgui segment``
does per command). GUI path: the Scene tab's Classify on the same scene (background worker, the map drawn),
timed from the click to the painted result. Both after one warm-up run; median of --repeat.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    import tempfile
    from pathlib import Path

    from landgui.core import services
    from landgui.core.params import MapSettings
    from landgui.core.scenes import demo_scene_path
    from landgui.gui.main_window import MainWindow

    scene = str(demo_scene_path())
    services.map_scene(args.run, scene, MapSettings())  # warm-up: model loaded and kept
    cli = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = services.map_scene(args.run, scene, MapSettings())
        cli.append(time.perf_counter() - t0)
    n = res.grid.n

    tmp = Path(tempfile.mkdtemp())
    settings = QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(Path(args.run).resolve().parent))
    win = MainWindow(settings)
    win.resize(1280, 800)
    win.show()
    sc = win.scene_tab
    sc.refresh_runs(select=str(Path(args.run).resolve()))
    sc.open_scenes([scene])
    while sc.current is None or (sc.worker and sc.worker.isRunning()):
        app.processEvents()
        time.sleep(0.005)
    gui = []
    for i in range(args.repeat + 1):
        before = sc.result
        t0 = time.perf_counter()
        sc.classify()
        while sc.result is before or sc.worker.isRunning():
            app.processEvents()
            time.sleep(0.002)
        app.processEvents()
        if i:  # the first is the GUI's warm-up
            gui.append(time.perf_counter() - t0)
    win.close()
    c, g = statistics.median(cli), statistics.median(gui)
    print(
        json.dumps(
            {
                "patches": n,
                "cli_s": round(c, 2),
                "gui_s": round(g, 2),
                "cli_patches_per_s": round(n / c, 1),
                "gui_patches_per_s": round(n / g, 1),
                "gui_over_cli": round(g / c, 3),
                "engine": res.engine,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
