"""Start the Qt application and show the main window (TensorFlow is not imported here)."""

from __future__ import annotations

import os
import sys

from landgui.core.base import logs
from landgui.gui.main_window import MainWindow, start_later


def run_app(paths: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    logs.setup()
    previous_hook = sys.excepthook

    def log_unhandled(kind, exc, tb) -> None:  # an exception escaping a Qt slot: keep it for bug reports
        logs.log.error("unhandled exception in the app", exc_info=(kind, exc, tb))
        previous_hook(kind, exc, tb)

    sys.excepthook = log_unhandled
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("landgui")
    app.setOrganizationName("landgui")
    from importlib.resources import as_file, files

    from PySide6.QtGui import QIcon

    with as_file(files("landgui.resources") / "icon.png") as icon_path:
        app.setWindowIcon(QIcon(str(icon_path)))
    win = MainWindow()
    win.closed.connect(app.quit)  # also when a job made the window hide and wait for it first
    win.show()
    if os.environ.get("LANDGUI_EXIT_AFTER_SHOW"):  # start-up timing and smoke tests of the bundle
        from PySide6.QtCore import QTimer

        def shown() -> None:
            print(f"landgui: window shown ({win.width()}x{win.height()})", flush=True)
            app.quit()

        QTimer.singleShot(0, shown)
    else:
        start_later(win, paths or [])
    return app.exec()
