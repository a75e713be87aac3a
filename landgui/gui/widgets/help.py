"""The Help menu's windows: a short in-app guide, the project README, and About."""

from __future__ import annotations

import platform
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from landgui import __version__
from landgui.core.base.logs import user_log_path

GUIDE_HTML = """
<h2>landgui in five steps</h2>
<ol>
<li><p><b>Split</b> (Dataset tab): choose a folder with one sub-folder of images per class, or
<i>Use the sample dataset</i>, then press <b>Split</b>. Duplicates never land on both sides of a
split.</p></li>
<li><p><b>Train</b> (Training tab): the split is filled in; name the run and press
<b>Start</b>. <b>Stop</b> ends cleanly, <b>Resume</b> continues a stopped run.</p></li>
<li><p><b>Evaluate</b> (Evaluation tab): pick the run and press <b>Evaluate</b>; click a cell of
the confusion matrix to see its images. <i>Evaluate on a folder…</i> measures the run on your own
labelled patches.</p></li>
<li><p><b>Classify</b> (Scene tab): open or drop a scene, pick the run and press
<b>Classify</b>. Click a patch for its class probabilities; <b>Export…</b> writes the map.</p></li>
<li><p><b>Teach</b> (Scene tab, <i>Teach it this scene</i>): select wrong patches, label them,
and fine-tune a new run on them; the scene is re-mapped with it.</p></li>
</ol>
<h3>Keys on the map</h3>
<table cellpadding="3">
<tr><td><b>1</b>–<b>9</b></td><td>label the selected patches with that class (<b>0</b> takes the
label back)</td></tr>
<tr><td><b>Ctrl+Z</b> / <b>Ctrl+Shift+Z</b></td><td>undo / redo a label</td></tr>
<tr><td><b>+</b> / <b>&minus;</b>, <b>F</b></td><td>zoom in / out, fit the scene to the
window</td></tr>
<tr><td>arrow keys, drag</td><td>pan</td></tr>
<tr><td>click, Ctrl+click, Shift+drag</td><td>select a patch, add one, add an area</td></tr>
</table>
<h3>Elsewhere</h3>
<p>Ctrl+D open a dataset, Ctrl+O a split.json, Ctrl+R a run, Ctrl+Shift+O a scene, Ctrl+M the demo
scene, F1 this guide. The last dataset, split, scenes and run are reopened at the next start.</p>
<p>Everything here also runs from the command line: <code>landgui --help</code>. More in the
{readme}; errors are logged with their details in <a href="{log_url}">landgui.log</a>.</p>
"""


def readme_path() -> Path | None:
    """The project's README.md where landgui runs from a checkout or an editable install."""
    p = Path(__file__).resolve().parents[2] / "README.md"
    return p if p.is_file() else None


def readme_markdown() -> str:
    """The README's text: the local file, else the package's long description, else a pointer."""
    p = readme_path()
    if p is not None:
        try:
            return p.read_text(encoding="utf-8")
        except OSError:
            pass
    import importlib.metadata as md

    try:
        text = md.metadata("landgui").get_payload()  # type: ignore[attr-defined]
    except md.PackageNotFoundError:
        text = ""
    return text or "# landgui\n\nThe README is not installed with this copy; run `landgui --help`."


class TextDialog(QDialog):
    """A resizable window with a QTextBrowser; links open in the system's browser or viewer."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)


def guide_dialog(parent: QWidget | None = None) -> TextDialog:
    readme = readme_path()
    link = f'<a href="{QUrl.fromLocalFile(str(readme)).toString()}">README</a>' if readme else "README (Help > README)"
    dlg = TextDialog("landgui guide", parent)
    dlg.setObjectName("guideDialog")
    dlg.browser.setHtml(
        GUIDE_HTML.replace("{readme}", link).replace("{log_url}", QUrl.fromLocalFile(str(user_log_path())).toString())
    )
    dlg.resize(640, 580)
    return dlg


def readme_dialog(parent: QWidget | None = None) -> TextDialog:
    dlg = TextDialog("landgui README", parent)
    dlg.setObjectName("readmeDialog")
    readme = readme_path()
    if readme is not None:  # the screenshots load from beside it
        dlg.browser.setSearchPaths([str(readme.parent)])
    dlg.browser.setMarkdown(readme_markdown())
    _fit_images(dlg.browser, 820)
    dlg.resize(900, 700)
    return dlg


def _fit_images(browser: QTextBrowser, width: int) -> None:
    """Show the README's screenshots (1280 px wide) at ``width`` px, keeping their aspect."""
    from PySide6.QtGui import QTextCursor

    doc = browser.document()
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            fmt = frag.charFormat()
            if fmt.isImageFormat():
                img = fmt.toImageFormat()
                size = doc.resource(doc.ResourceType.ImageResource, QUrl(img.name()))
                if hasattr(size, "width") and size.width() > width:
                    img.setWidth(width)
                    img.setHeight(size.height() * width / size.width())
                    cursor = QTextCursor(doc)
                    cursor.setPosition(frag.position())
                    cursor.setPosition(frag.position() + frag.length(), QTextCursor.MoveMode.KeepAnchor)
                    cursor.setCharFormat(img)
            it += 1
        block = block.next()


def show_about(parent: QWidget | None = None) -> None:
    import importlib.metadata as md

    def v(*names: str) -> str:
        for n in names:
            try:
                return md.version(n)
            except md.PackageNotFoundError:
                continue
        return "not installed"

    from PySide6 import __version__ as pyside_version

    QMessageBox.about(
        parent,
        "About landgui",
        f"<b>landgui {__version__}</b><br>Land-cover classification of satellite imagery.<br><br>"
        f"Python {platform.python_version()}<br>PySide6 {pyside_version}<br>"
        f"TensorFlow {v('tensorflow-cpu', 'tensorflow')}<br>Keras {v('keras')}<br>"
        f"OpenCV {v('opencv-python-headless')}<br>NumPy {v('numpy')}<br>rasterio {v('rasterio')}",
    )
