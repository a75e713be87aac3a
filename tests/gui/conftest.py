"""Shared GUI-test helpers: a run made of the shipped model (no training) on a synthetic split."""

import json
import time
from pathlib import Path

import pytest


def shipped_run_on(runs_dir: Path, split_dir: Path, name: str = "tiny") -> Path:
    """A run folder ``runs_dir/name`` whose model is the shipped one (files linked, nothing
    trained) and whose split is ``split_dir/split.json`` (its classes must be the shipped ones):
    evaluate, predict and map with it as with any run, in seconds."""
    from landgui.core.data.split import load_split, split_hash
    from landgui.core.runs.folder import shipped_run_dir

    shipped = shipped_run_dir()
    run = Path(runs_dir) / name
    run.mkdir(parents=True)
    for f in shipped.iterdir():
        if f.is_file() and f.name != "config.json" and not f.name.startswith("evaluation"):
            (run / f.name).symlink_to(f)
    config = json.loads((shipped / "config.json").read_text())
    manifest = load_split(Path(split_dir) / "split.json")
    config.update(
        split=manifest["_path"], split_hash=split_hash(manifest), created=time.strftime("%Y-%m-%dT%H:%M:%S+0000")
    )
    (run / "config.json").write_text(json.dumps(config))
    (run / "status.json").unlink()
    (run / "status.json").write_text(json.dumps({"status": "completed", "stage": "done"}))
    return run


@pytest.fixture
def make_shipped_run():
    """:func:`shipped_run_on`, for tests (a conftest cannot be imported by name beside tests/conftest.py)."""
    return shipped_run_on


@pytest.fixture
def shipped_split(tmp_path):
    """A split of a synthetic dataset with the shipped model's four classes (6 images each)."""
    from synth import make_dataset

    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split

    root = make_dataset(tmp_path / "ds4", per_class=6)
    write_split(scan_dataset(root), tmp_path / "split4", SplitParams(seed=0))
    return tmp_path / "split4"


@pytest.fixture
def window(qtbot, tmp_path):
    """The main window with settings and runs folder of its own; its jobs stopped at the end."""
    from PySide6.QtCore import QSettings

    from landgui.gui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("runs_dir", str(tmp_path / "runs"))
    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    for worker in w.running_workers():
        worker.requestInterruption()
        worker.wait()
