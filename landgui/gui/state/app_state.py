"""The application's state, in one object that every tab follows (glue's viewer state, napari's
layer list): the runs folder and its runs, the current dataset (one folder, or several: its
sources, e.g. one per sensor), split, scenes and run.

Tabs change it through its setters and follow it through its signals; they keep no copy of
their own. The session part (dataset folders, split, scenes, run) is kept across restarts in
``session.json`` in the user's state folder (:func:`landgui.core.base.logs.state_dir`), written
atomically on every change. A missing, damaged or outdated file, or paths that no longer exist,
are ignored quietly: the app then starts as new.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from landgui.core.base.atomic import write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.base.logs import log
from landgui.core.base.paths import state_dir
from landgui.core.runs.listing import RunSummary, list_runs

SESSION_VERSION = 1


def session_path() -> Path:
    """Where the session is kept (the user's state folder)."""
    return state_dir() / "session.json"


def load_session(path: str | Path | None = None) -> dict:
    """The last session's ``dataset``, ``datasets`` (several source folders, when there were
    several and they all still exist), ``split``, ``scenes``, ``scene`` and ``run`` that still
    exist; ``{}`` when the file is missing, damaged or of another version. Never raises."""
    p = Path(path) if path is not None else session_path()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != SESSION_VERSION:
        return {}

    def existing(v, kind) -> str | None:
        if not isinstance(v, str) or not v:
            return None
        q = Path(v)
        return v if (q.is_dir() if kind == "dir" else q.is_file()) else None

    raw = data.get("scenes")
    scenes = [s for s in raw if existing(s, "file")] if isinstance(raw, list) else []
    raw = data.get("datasets")
    folders = [d for d in raw if existing(d, "dir")] if isinstance(raw, list) else []
    several = len(folders) > 1 and len(folders) == len(raw)  # a source gone: not the same dataset
    out = {
        "dataset": existing(data.get("dataset"), "dir"),
        "datasets": folders if several else None,
        "split": existing(data.get("split"), "file"),
        "scenes": scenes,
        "scene": data.get("scene") if data.get("scene") in scenes else None,
        "run": existing(data.get("run"), "dir"),
        "map_settings": data.get("map_settings") if isinstance(data.get("map_settings"), dict) else None,
    }
    return {k: v for k, v in out.items() if v}


class AppState(QObject):
    """Runs folder, runs, dataset, split, scenes and the current run, with a change signal each.

    The dataset is a list of folders (``datasets``): one, or several sources split as one
    (:func:`landgui.core.data.scan.scan_sources`); ``dataset`` is the first of them."""

    runs_dir_changed = Signal(str)
    runs_changed = Signal()  # ``runs`` re-read (a run was trained, evaluated, fine-tuned...)
    dataset_changed = Signal(str)  # the first dataset folder; ``datasets`` has them all
    split_changed = Signal(str)
    scenes_changed = Signal()  # ``scenes`` or the current ``scene``
    run_changed = Signal(str)

    def __init__(self, runs_dir: str, session: dict | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        session = session or {}
        self._runs_dir = str(runs_dir)
        self._runs: list[RunSummary] = []
        first = session.get("dataset")
        self._datasets: list[str] = list(session.get("datasets") or ([first] if first else []))
        self._split: str | None = session.get("split")
        self._scenes: list[str] = list(session.get("scenes") or [])
        self._scene: str | None = session.get("scene")
        self._run: str | None = session.get("run")
        self._map_settings: dict = dict(session.get("map_settings") or {})  # the Scene tab's, as it saved them
        self._save_to: Path | None = None
        self.refresh_runs(emit=False)

    # -- reading ------------------------------------------------------------------------------------
    @property
    def runs_dir(self) -> str:
        """The runs folder every tab lists."""
        return self._runs_dir

    @property
    def runs(self) -> list[RunSummary]:
        """Every run folder in the runs folder, newest first (``landgui.core.runs.listing.list_runs``):
        the one reading of each run that every list, combo box and comparison shows."""
        return self._runs

    def summary(self, path: str | Path | None) -> RunSummary | None:
        """The state's reading of one run (None when it is not in the runs folder)."""
        return next((r for r in self._runs if path is not None and Path(r.path) == Path(path)), None)

    @property
    def dataset(self) -> str | None:
        """The dataset folder (the first source's, with several)."""
        return self._datasets[0] if self._datasets else None

    @property
    def datasets(self) -> list[str]:
        """Every dataset folder: one, or the sources of a multi-source dataset in their order."""
        return list(self._datasets)

    @property
    def split(self) -> str | None:
        """The current dataset's split.json (None: not split yet, or none chosen)."""
        return self._split

    @property
    def scenes(self) -> list[str]:
        """The scenes open in the Scene tab."""
        return list(self._scenes)

    @property
    def scene(self) -> str | None:
        """The scene on screen."""
        return self._scene

    @property
    def run(self) -> str | None:
        """The run every tab has chosen."""
        return self._run

    @property
    def map_settings(self) -> dict:
        """The Scene tab's map settings as it saved them (``ScenesState``), restored at the next start."""
        return dict(self._map_settings)

    # -- changing -----------------------------------------------------------------------------------
    def set_runs_dir(self, runs_dir: str) -> None:
        runs_dir = str(runs_dir)
        if runs_dir != self._runs_dir:
            self._runs_dir = runs_dir
            self.runs_dir_changed.emit(runs_dir)
        self.refresh_runs()

    def refresh_runs(self, emit: bool = True) -> None:
        """Re-read the runs folder: every tab's run lists follow."""
        self._runs = list_runs(self._runs_dir)
        if emit:
            self.runs_changed.emit()

    def refresh_run(self, path: str | Path) -> RunSummary | None:
        """Re-read one run (a training reports an epoch, or starts): its row in every list follows.
        A run not listed yet (just created) is added; the whole folder is re-read then."""
        fresh = RunSummary.read(path)
        old = self.summary(path)
        if fresh is None or old is None:
            self.refresh_runs()
            return self.summary(path)
        self._runs = [fresh if r is old else r for r in self._runs]
        self.runs_changed.emit()
        return fresh

    def set_dataset(self, path: str | None) -> None:
        self.set_datasets([path] if path else [])

    def set_datasets(self, paths: list[str]) -> None:
        """The dataset's folders: one, or several sources in their order."""
        paths = list(dict.fromkeys(paths))
        if paths != self._datasets:
            self._datasets = paths
            self._changed()
            self.dataset_changed.emit(self.dataset or "")

    def set_split(self, path: str | None) -> None:
        if path != self._split:
            self._split = path
            self._changed()
            self.split_changed.emit(path or "")

    def set_scenes(self, paths: list[str], current: str | None = None) -> None:
        """The scenes open in the Scene tab, and the one on screen."""
        paths = list(dict.fromkeys(paths))
        current = current if current in paths else self._scene if self._scene in paths else None
        if paths != self._scenes or current != self._scene:
            self._scenes, self._scene = paths, current
            self._changed()
            self.scenes_changed.emit()

    def set_scene(self, path: str | None) -> None:
        self.set_scenes(self._scenes + ([path] if path and path not in self._scenes else []), path)

    def set_run(self, path: str | None) -> None:
        if path and path != self._run:
            self._run = path
            self._changed()
            self.run_changed.emit(path)

    def set_map_settings(self, settings: dict) -> None:
        """Keep the Scene tab's map settings (a JSON-ready dict) in the session."""
        if settings != self._map_settings:
            self._map_settings = dict(settings)
            self._changed()

    # -- the session file ---------------------------------------------------------------------------
    def session(self) -> dict:
        return {
            "version": SESSION_VERSION,
            "dataset": self.dataset,
            "datasets": self._datasets,
            "split": self._split,
            "scenes": self._scenes,
            "scene": self._scene,
            "run": self._run,
            "map_settings": self._map_settings,
        }

    def save_to(self, path: str | Path | None) -> None:
        """Write the session to ``path`` now and on every change (None: stop saving)."""
        self._save_to = Path(path) if path is not None else None
        self._changed()

    def _changed(self) -> None:
        if self._save_to is None:
            return

        try:
            write_json_atomic(self._save_to, self.session())
        except LandguiError as exc:  # a read-only home only loses the session, quietly
            log.warning("session not saved: %s", exc)
