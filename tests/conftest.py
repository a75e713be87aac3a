import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# auto keeps LiteRT: no guard run, no timing on first use, in this process and in every process it
# starts (Dask workers, CLI subprocesses); tests/test_fast_engine.py turns it on where it tests it
os.environ["LANDGUI_FAST_MODEL"] = "0"

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KAGGLE4 = SHARED_DATA / "patches" / "kaggle4"

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def kaggle4() -> Path:
    if not (KAGGLE4 / "water").is_dir():
        pytest.skip("real labelled patches not present in ../shared/data/patches/kaggle4")
    return KAGGLE4


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """QSettings, the user cache, the log and the session go to a per-test folder, never the
    developer's real ones."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(base / "state"))  # landgui.log and the app's session.json
    monkeypatch.setenv("LOCALAPPDATA", str(base / "state"))  # the state folder on Windows
    monkeypatch.setenv("LANDGUI_CACHE_DIR", str(base / "cache" / "landgui"))
    yield


@pytest.fixture(autouse=True)
def _no_leftover_threads(request):
    """Fail a GUI test that leaves a QThread running (napari-style)."""
    yield
    if "qtbot" not in request.fixturenames:
        return
    from PySide6.QtCore import QThread
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    running = [t for t in app.findChildren(QThread) if t.isRunning()]
    for w in app.topLevelWidgets():
        running += [t for t in w.findChildren(QThread) if t.isRunning()]
    assert not running, f"test left threads running: {running}"


@pytest.fixture
def tiny_split(tmp_path):
    """A 3-class synthetic dataset (12 images per class, 32 px) and its split folder."""
    from synth import make_dataset

    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split

    root = make_dataset(tmp_path / "ds", per_class=12, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(root), tmp_path / "split", SplitParams(seed=0))
    return tmp_path / "split"
