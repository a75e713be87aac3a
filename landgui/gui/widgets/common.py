"""Small shared widgets: an error dialog with expandable details, a progress bar with ETA."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QWidget,
)

from landgui.core.base.progress import format_seconds
from landgui.core.data.scan import is_ignored
from landgui.core.runs.folder import SHIPPED_NAME, RunFolder, shipped_run_dir
from landgui.core.runs.listing import RunSummary


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """A non-blocking error dialog: one-line reason, traceback under "Show Details..."."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.setObjectName("errorDialog")
    box.open()
    return box


class EtaProgressBar(QProgressBar):
    """A progress bar whose text reads ``stage 40% (1200/3000) ETA 00:05``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stage = ""
        self._start = time.monotonic()
        self.setTextVisible(True)
        self.idle()

    def idle(self) -> None:
        """Empty, reading "idle": nothing has run for what is on screen."""
        self.restore((0, 1, 0, "idle"))

    def snapshot(self) -> tuple[int, int, int, str]:
        """What the bar shows now (range, value, text), for :meth:`restore`."""
        return self.minimum(), self.maximum(), self.value(), self.format()

    def restore(self, shown: tuple[int, int, int, str]) -> None:
        """Show again what :meth:`snapshot` read (a job that changed nothing on screen ended)."""
        low, high, value, text = shown
        self.setRange(low, high)
        self.setValue(value)
        self.setFormat(text)
        self.setToolTip("" if text == "idle" else text)

    def update_progress(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self._stage:
            self._stage, self._start = stage, now
        self.setRange(0, max(total, 1))
        self.setValue(min(done, max(total, 1)))
        elapsed = now - self._start
        eta = ""
        if 0 < done < total and elapsed > 0.5:
            eta = f"  ETA {format_seconds(elapsed / done * (total - done))}"
        self.setFormat(f"{stage} %p% ({done}/{total}){eta}")

    def finish(self, text: str) -> None:
        self.setRange(0, 1)
        self.setValue(1)
        self.setFormat(text)
        self.setToolTip(text)

    def text(self) -> str:  # noqa: D401 - Qt override, used when the bar is painted
        """One line, cut in the middle to the bar's width (a long path would wrap and be clipped);
        the whole text is in the tooltip."""
        return self.fontMetrics().elidedText(super().text(), Qt.TextElideMode.ElideMiddle, max(self.width() - 16, 60))


def fill_run_combo(combo: QComboBox, all_runs: list[RunSummary], select: str | None = None) -> list[RunSummary]:
    """Offer the runs with a model (of ``AppState.runs``, newest first), then the shipped model;
    select ``select``, else keep the selection, else the newest completed run, else the shipped
    model. The combo emits no signal while it is refilled: read ``currentData()`` afterwards."""

    current = select or combo.currentData()
    blocked = combo.blockSignals(True)
    combo.clear()
    runs = [r for r in all_runs if r.has_model]
    for r in runs:
        combo.addItem(f"{r.name} ({r.model}, {r.status_text})", r.path)
    shipped = RunFolder(shipped_run_dir())
    if shipped.has_model:
        combo.addItem(f"{SHIPPED_NAME} (shipped)", str(shipped.path))
    if current and (i := combo.findData(current)) >= 0:
        combo.setCurrentIndex(i)
    elif combo.count():
        done = [i for i, r in enumerate(runs) if r.status == "completed"]
        combo.setCurrentIndex(done[0] if done else (len(runs) if combo.count() > len(runs) else 0))
    combo.blockSignals(blocked)
    return runs


def last_dir(kind: str) -> str:
    """The folder last used in a file dialog of this kind (kept across restarts in QSettings); the
    user's home folder when none is remembered or it is gone (never the process's working folder,
    where a dialog given "" starts)."""
    folder = str(QSettings("landgui", "landgui").value(f"last_dir/{kind}", "") or "")
    return folder if folder and Path(folder).is_dir() else str(Path.home())


def remember_dir(kind: str, path: str) -> None:
    """Remember the folder of ``path`` (or ``path`` itself, a folder) for dialogs of this kind."""
    p = Path(path)
    QSettings("landgui", "landgui").setValue(f"last_dir/{kind}", str(p if p.is_dir() else p.parent))


def show_placeholder(figure, text: str) -> None:
    """An empty plot says what to do first instead of showing meaningless axes."""
    figure.clear()
    figure.text(0.5, 0.5, textwrap.fill(text, 42), ha="center", va="center", color="#666666", fontsize=10)
    if figure.canvas is not None:
        figure.canvas.draw_idle()


def accept_copy(event) -> None:
    """Accept a drag or drop as a Copy, never the proposed Move: a file manager that honours Move
    would delete the user's original after the drop."""
    event.setDropAction(Qt.DropAction.CopyAction)
    event.accept()


class FormScroll(QScrollArea):
    """A side panel that scrolls vertically when the window is low, and is never narrower than
    its form (no horizontal scroll bar, no field cut at the right edge)."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        inner = self.widget().minimumSizeHint().expandedTo(self.widget().minimumSize())
        return QSize(inner.width() + self.verticalScrollBar().sizeHint().width() + 2, 120)


def choose_save_path(
    parent: QWidget, kind: str, title: str, name: str, suffix: str = ".csv", file_filter: str = "CSV files (*.csv)"
) -> str | None:
    """A save dialog starting at the last folder of this ``kind`` with ``name`` filled in; the
    suffix is added when not typed, and a file that then exists is replaced only if the user says
    so (the dialog asks itself about the name as typed). None when cancelled."""
    start = str(Path(last_dir(kind) or Path.home()) / name)
    path, _ = QFileDialog.getSaveFileName(parent, title, start, file_filter)
    if not path:
        return None
    if not path.lower().endswith(suffix):
        path += suffix
        if Path(path).exists():
            answer = QMessageBox.question(
                parent,
                "Replace the file?",
                f"{path} already exists. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return None
    remember_dir(kind, path)
    return path


def choose_output_folder(parent: QWidget, kind: str, title: str) -> str | None:
    """A folder to write into, starting at the last one of this ``kind``: an existing folder, or a
    new one typed in the dialog (created here, empty: nothing of the user's is touched). Qt's
    folder dialog refuses a name that does not exist yet, so this one lists folders but accepts
    any name. None when cancelled; a one-line error when the name is a file or cannot be made."""
    dialog = QFileDialog(parent, title, last_dir(kind) or str(Path.home()))
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
    dialog.setLabelText(QFileDialog.DialogLabel.Accept, "Choose")
    if not dialog.exec() or not dialog.selectedFiles():
        return None
    folder = Path(dialog.selectedFiles()[0])
    if folder.exists() and not folder.is_dir():
        show_error(parent, title, f"{folder} is a file; choose a folder or type a new folder name")
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        show_error(parent, title, f"cannot make the folder {folder}: {exc.strerror or exc}")
        return None
    remember_dir(kind, str(folder))
    return str(folder)


def hbox(*widgets: QWidget, stretch_first: bool = False) -> QHBoxLayout:
    """The widgets in a row; ``stretch_first``: the first one takes the room left (a path field)."""
    lay = QHBoxLayout()
    for i, w in enumerate(widgets):
        lay.addWidget(w, 1 if stretch_first and i == 0 else 0)
    return lay


def path_row(edit: QLineEdit, choose) -> QHBoxLayout:
    """A path field with a "…" button that calls ``choose``; the field's tooltip is the whole path,
    however narrow it is."""
    edit.setToolTip(edit.text())
    edit.textChanged.connect(edit.setToolTip)
    button = QPushButton("…")
    button.setMaximumWidth(36)
    button.clicked.connect(choose)
    return hbox(edit, button, stretch_first=True)


def skipped_parts(entries: list[dict], unusable: str = "skipped") -> tuple[str, str]:
    """``("2 skipped", "1 ignored (README.txt)")`` for a scan's skipped files (``{path, reason}``):
    files it could not use, and files it left out by design (hidden, or beside the class folders:
    :func:`landgui.core.data.scan.is_ignored`), which are never counted as unusable. A part is ""
    when it has no files, except the first with ``unusable="skipped"`` ("0 skipped")."""
    ignored = [Path(e["path"]).name for e in entries if is_ignored(e["reason"])]
    n = len(entries) - len(ignored)
    first = f"{n} {unusable}" if n or unusable == "skipped" else ""
    names = ", ".join(ignored[:2]) + (", …" if len(ignored) > 2 else "")
    return first, (f"{len(ignored)} ignored ({names})" if ignored else "")


def table_height(table: QTableWidget, max_rows: int = 12) -> int:
    """The height that shows a table's header and up to ``max_rows`` rows without scrolling."""
    rows = min(table.rowCount(), max_rows)
    return table.horizontalHeader().sizeHint().height() + rows * table.verticalHeader().defaultSectionSize() + 6
