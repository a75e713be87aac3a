"""Start the Qt application and show the main window (TensorFlow is not imported here)."""

from __future__ import annotations

import sys


def run_app(paths: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from landgui.gui.main_window import MainWindow, start_later

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("landgui")
    app.setOrganizationName("landgui")
    win = MainWindow()
    win.show()
    start_later(win, paths or [])
    return app.exec()
