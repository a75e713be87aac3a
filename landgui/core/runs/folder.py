"""Run folders: :class:`RunFolder`, the one place that knows a run's files and reads or writes
them; :func:`read_run` checks a run for use (:class:`RunMeta`). What lists and reports show about
a run is read once from here by :class:`landgui.core.runs.listing.RunSummary`.

A run folder holds (see :mod:`landgui.core.training.trainer` for what each record says)::

    config.json        everything to reproduce the run      RunFolder.config() / write_config()
    labels.json        class names in output order          RunFolder.labels() / write_labels()
    status.json        state, writer (pid, host), heartbeat  RunFolder.status() / write_status()
    history.json       one record per epoch                 RunFolder.history() / write_history()
    palette.json       class colours                        RunFolder.palette() / write_palette()
    evaluation-*.json  evaluations (landgui.evaluation)     RunFolder.evaluation() / write_evaluation()
    finetune.json      a fine-tuned run's summary            RunFolder.finetune_record() / write_finetune()

The model's sensor contract (ground resolution, bands, radiometry) is config.json's ``sensor``
record, read as :attr:`RunFolder.sensor`.

Readers of a file that may be missing return a default (None, [] or {}) when it is missing or
damaged; :meth:`RunFolder.meta` checks a run for use and raises one :class:`LandguiError` line.
Writers go through :func:`landgui.core.base.atomic.write_json_atomic`: a reader sees the old file or
the complete new one, never half of one. No TensorFlow here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landgui import __version__
from landgui.core.base.atomic import write_bytes_atomic, write_error, write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.base.outdir import pid_alive
from landgui.core.base.paths import file_sha256, resources_dir
from landgui.core.runs.sensor import SensorContract, contract_from_config

RUN_SCHEMA_VERSION = 1
HEARTBEAT_EVERY_S = 10.0  # a running trainer rewrites status.json at least this often while it reports
STALE_AFTER_S = 900.0  # no heartbeat for this long: the writer is gone (another host, or a reused pid)
STATUS_OWN_KEYS = frozenset({"status", "epochs_done", "best_val_loss", "updated", "pid", "host", "heartbeat"})
SHIPPED_NAME = "landcover4"
SHIPPED_ALIASES = ("default", SHIPPED_NAME)
HEAD_NPZ = "head.npz"  # landgui.core.models.head.HEAD_FILE: a transfer model's head in NumPy
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024  # the input sizes a run may have (params.ModelSpec.check)


def shipped_run_dir() -> Path:
    """The land-cover model that ships inside the package (built by tools/build_default_model.py)."""
    return resources_dir() / "models" / SHIPPED_NAME


def is_shipped(run_dir: str | Path) -> bool:
    """True for the packaged run: it is read-only (nothing is ever written into it)."""
    try:
        return Path(run_dir).resolve() == shipped_run_dir().resolve()
    except OSError:
        return False


def resolve_run(run_dir: str | Path) -> Path:
    """A RUN_DIR argument as a folder: ``default`` (or ``landcover4``) is the shipped model unless a
    folder of that name exists here."""
    p = Path(run_dir)
    if str(run_dir) in SHIPPED_ALIASES and not p.exists():
        shipped = shipped_run_dir()
        if not (shipped / RunFolder.MODEL).is_file():
            raise LandguiError(
                f"the shipped model is missing from this installation ({shipped}); "
                "reinstall landgui or build it with tools/build_default_model.py"
            )
        return shipped
    return p


def user_runs_dir() -> Path:
    """Where outputs that may not go into a run (e.g. evaluations of the shipped model) are written:
    ``LANDGUI_RUNS_DIR``, else ~/landgui-runs (the GUI's default runs folder)."""
    return Path(os.environ.get("LANDGUI_RUNS_DIR") or Path.home() / "landgui-runs")


def output_dir_for(run_dir: str | Path) -> Path:
    """The folder evaluation files of a run go to: the run itself, or for the read-only shipped
    model ``<user runs folder>/landcover4-evaluations``."""
    if is_shipped(run_dir):
        return user_runs_dir() / f"{SHIPPED_NAME}-evaluations"
    return Path(run_dir)


@dataclass
class RunMeta:
    """A run checked for use (:func:`read_run`): its labels, config and input size, read without
    TensorFlow. ``landgui.core.models.build.load_run`` adds the model (``LoadedRun``)."""

    labels: list[str]
    config: dict
    image_size: int
    run_dir: Path


class _RunFile:
    """The path of one of a run's files, read as an attribute (``RunFolder(p).config_file``)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def __get__(self, folder: RunFolder | None, owner: type | None = None) -> Path:
        if folder is None:
            raise AttributeError(f"a run file's path ({self.filename}) is read on a RunFolder, not on the class")
        return folder.path / self.filename


class RunFolder:
    """One run folder: its file names, typed readers and atomic writers (see the module doc)."""

    CONFIG = "config.json"
    LABELS = "labels.json"
    STATUS = "status.json"
    HISTORY = "history.json"
    PALETTE = "palette.json"
    FINETUNE = "finetune.json"
    MODEL = "model.keras"
    EVALUATION_PREFIX = "evaluation-"  # evaluation-<name>.json: <name> is a split or data-<folder>
    DATA_PREFIX = "data-"  # on a folder: evaluation-data-<folder name>-<path hash>[-adapted].json
    HOLDOUT_PREFIX = "holdout-"  # on every image of the source held out: evaluation-holdout-<source>.json
    # everything landgui writes into a run: replacing a run removes these and nothing else
    FILES = (
        CONFIG,
        LABELS,
        STATUS,
        HISTORY,
        MODEL,
        PALETTE,
        "checkpoint",
        "logs",
        "landgui.log",
        "model.tflite",
        "model.tflite.json",
        "head.npz",
        "familiarity.npz",  # landgui.core.inference.familiarity.FAMILIARITY_FILE
        FINETUNE,
    )

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._sha_cache: tuple[tuple[int, int], str] | None = None  # see model_sha256

    @classmethod
    def resolve(cls, run_dir: str | Path) -> RunFolder:
        """A RUN_DIR argument as a run folder: ``default`` is the shipped model (:func:`resolve_run`)."""
        return cls(resolve_run(run_dir))

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    # -- where things are ------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The run's name (its folder's)."""
        return self.path.name

    def file(self, name: str) -> Path:
        """The path of one of the run's files."""
        return self.path / name

    config_file = _RunFile(CONFIG)
    labels_file = _RunFile(LABELS)
    status_file = _RunFile(STATUS)
    history_file = _RunFile(HISTORY)
    palette_file = _RunFile(PALETTE)
    finetune_file = _RunFile(FINETUNE)
    model_file = _RunFile(MODEL)

    def evaluation_file(self, name: str) -> Path:
        """``evaluation-<name>.json`` (``name``: a split, or ``data-<folder>``)."""
        return self.path / f"{self.EVALUATION_PREFIX}{name}.json"

    @property
    def is_run(self) -> bool:
        """True when the folder holds a run (its config.json exists), complete or not."""
        return self.config_file.exists()

    @property
    def has_model(self) -> bool:
        """True when the run's model.keras is there."""
        return self.model_file.is_file()

    @property
    def is_shipped(self) -> bool:
        """True for the packaged, read-only run."""
        return is_shipped(self.path)

    # -- reading ---------------------------------------------------------------------------------
    @staticmethod
    def _json(p: Path) -> Any:
        """A JSON file's content, or None when it is missing or damaged."""
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            return None

    def config(self) -> dict | None:
        """config.json, or None when it is missing, damaged or not a JSON object."""
        cfg = self._json(self.config_file)
        return cfg if isinstance(cfg, dict) else None

    @property
    def sensor(self) -> SensorContract:
        """The model's sensor contract (config.json's ``sensor``: ground sample distance, patch,
        bands, radiometry; :mod:`landgui.core.runs.sensor`); all unknown for a run without one."""
        return contract_from_config(self.config())

    def labels(self) -> list[str] | None:
        """labels.json, or None when it is missing, damaged or not a list of class names."""
        labels = self._json(self.labels_file)
        ok = isinstance(labels, list) and all(isinstance(x, str) for x in labels)
        return list(labels) if ok else None

    def meta(self) -> RunMeta:
        """Check the folder as a usable run and read its labels and config; one LandguiError line
        for what is wrong (not a folder, missing files, damaged files, another schema)."""
        run = self.path
        if run.exists() and not run.is_dir():
            raise LandguiError(f"{run} is a file, not a landgui run folder")
        if not run.is_dir():
            raise LandguiError(f"run folder not found: {run}")
        missing = [n for n in (self.CONFIG, self.LABELS, self.MODEL) if not (run / n).is_file()]
        if missing:
            raise LandguiError(f"{run} is not a complete landgui run: missing {', '.join(missing)}")
        try:
            config = json.loads(self.config_file.read_text())
            labels = json.loads(self.labels_file.read_text())
            image_size = int(config["model"]["image_size"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LandguiError(f"{run}: damaged run files ({type(exc).__name__}: {exc})") from None
        if config.get("run_schema_version") != RUN_SCHEMA_VERSION:
            raise LandguiError(
                f"{run} was written by landgui {config.get('landgui_version', '?')} with run schema "
                f"{config.get('run_schema_version')}; this landgui ({__version__}) reads schema {RUN_SCHEMA_VERSION}"
            )
        check_labels(run, labels)
        self._check_fit(labels, config, image_size)
        return RunMeta(list(labels), config, image_size, run)

    def _check_fit(self, labels: list[str], config: dict, image_size: int) -> None:
        """The run's files agree with labels.json, checked without TensorFlow: the classes named in
        config.json, the shape of head.npz (a transfer model's head in NumPy), the input size. The
        model's own output width is checked where the model is loaded (``models.build.load_run``,
        the LiteRT predictor)."""
        if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
            raise LandguiError(
                f"{self.config_file}: model image_size {image_size} is not between {MIN_IMAGE_SIZE} and "
                f"{MAX_IMAGE_SIZE} px; the file is damaged"
            )
        classes = config["model"].get("classes") if isinstance(config.get("model"), dict) else None
        if classes is not None and list(classes) != list(labels):
            raise LandguiError(
                f"{self.labels_file} names the classes {labels} but config.json trained {classes}; "
                "the run's files do not belong together"
            )
        head = self.path / HEAD_NPZ
        if head.is_file():
            width = head_width(head)
            if width != len(labels):
                raise LandguiError(
                    f"{head} has {width} outputs but {self.labels_file.name} names {len(labels)} classes; "
                    "the run's files do not belong together"
                )

    def status_record(self) -> dict:
        """status.json as written, or {} when it is missing or damaged."""
        st = self._json(self.status_file)
        return st if isinstance(st, dict) else {}

    def status(self, now: float | None = None) -> str:
        """The run's status as the user should see it: ``status.json``'s, except that a "running"
        run whose writer is gone (its pid no longer exists on this host, or no heartbeat for
        :data:`STALE_AFTER_S`) is ``interrupted`` (resume it). ``unknown`` without a status file."""
        import socket
        import time

        st = self._json(self.status_file)
        if not isinstance(st, dict):
            return "unknown"
        status = str(st.get("status", "unknown"))
        if status != "running":
            return status
        now = time.time() if now is None else now
        beat = st.get("heartbeat")
        if not isinstance(beat, (int, float)):
            try:
                beat = self.status_file.stat().st_mtime  # written before heartbeats existed
            except OSError:
                return "interrupted"
        if now - beat > STALE_AFTER_S:
            return "interrupted"
        pid = st.get("pid")
        if st.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid):
            return "interrupted"
        return "running"

    def history(self) -> list[dict]:
        """history.json's epoch records, or [] when it is missing or damaged."""
        hist = self._json(self.history_file)
        return [h for h in hist if isinstance(h, dict)] if isinstance(hist, list) else []

    def palette(self) -> dict[str, str] | None:
        """palette.json (class -> ``#RRGGBB``), or None when it is missing or damaged."""
        pal = self._json(self.palette_file)
        return pal if isinstance(pal, dict) else None

    def finetune_record(self) -> dict | None:
        """finetune.json (a fine-tuned run's summary), or None."""
        rec = self._json(self.finetune_file)
        return rec if isinstance(rec, dict) else None

    def evaluations(self) -> list[str]:
        """Names of the evaluations in the folder (``test``, ``data-<folder>``...), sorted."""
        prefix, suffix = self.EVALUATION_PREFIX, ".json"
        return [p.name[len(prefix) : -len(suffix)] for p in sorted(self.path.glob(f"{prefix}*{suffix}"))]

    def evaluation(self, name: str = "test", *, stale_ok: bool = False) -> dict | None:
        """One evaluation (``evaluation-<name>.json``), or None when it is missing or damaged, or
        when it measured another model than the run's model.keras now (stale: the run was
        resumed, overwritten or still training when it was evaluated) unless ``stale_ok``."""
        ev = self._json(self.evaluation_file(name))
        if not isinstance(ev, dict) or not is_fraction(ev.get("accuracy")):
            return None  # damaged, or edited by hand into something that is not an accuracy
        return ev if stale_ok or self.evaluation_is_current(ev) else None

    def model_sha256(self) -> str | None:
        """SHA-256 of the run's model.keras (None without one), computed once per version of the
        file (its size and modification time)."""
        try:
            st = self.model_file.stat()
        except OSError:
            return None
        key = (st.st_size, st.st_mtime_ns)
        if self._sha_cache is None or self._sha_cache[0] != key:
            self._sha_cache = (key, file_sha256(self.model_file))
        return self._sha_cache[1]

    def evaluation_is_current(self, ev: dict) -> bool:
        """True when an evaluation measured the model the run holds now. An evaluation written
        before evaluations carried ``model_sha256`` cannot say, and counts as current."""
        sha = ev.get("model_sha256")
        return sha is None or sha == self.model_sha256()

    def stale_evaluations(self) -> list[str]:
        """Names of the evaluations that measured another model than the run's model now."""
        stale = []
        for name in self.evaluations():
            ev = self.evaluation(name, stale_ok=True)  # each file read once
            if ev is not None and not self.evaluation_is_current(ev):
                stale.append(name)
        return stale

    def data_evaluations(self) -> dict[str, float]:
        """Accuracy of every evaluation on a folder (``evaluation-data-*.json``), keyed by which
        folder: ``<folder name> (<its absolute path>)``, ``-adapted`` after the name for an adapted
        one, so two folders of one name are two columns; an evaluation written before the path
        was part of the name is keyed by its file's name alone (``aid``)."""
        out: dict[str, float] = {}
        for name in self.evaluations():
            if not name.startswith(self.DATA_PREFIX):
                continue
            ev = self.evaluation(name)
            if ev is not None and isinstance(ev.get("accuracy"), float):
                out[data_key(name[len(self.DATA_PREFIX) :], ev)] = ev["accuracy"]
        return out

    # -- writing (each file whole: see landgui.core.base.atomic) -------------------------------------
    def write_config(self, config: dict) -> None:
        """Write config.json."""
        write_json_atomic(self.config_file, config)

    def write_labels(self, labels: list[str]) -> None:
        """Write labels.json."""
        write_json_atomic(self.labels_file, labels)

    def write_status(self, record: dict) -> None:
        """Write status.json; a "running" record names its writer (pid, host) and a heartbeat time
        (see :meth:`status`)."""
        write_json_atomic(self.status_file, record)

    def write_history(self, records: list[dict]) -> None:
        """Write history.json."""
        write_json_atomic(self.history_file, records)

    def write_palette(self, palette: dict[str, str]) -> None:
        """Write palette.json."""
        write_json_atomic(self.palette_file, palette)

    def copy_palette_from(self, other: RunFolder) -> bool:
        """Take another run's palette.json as it is (byte for byte); False when it has none."""
        if not other.palette_file.is_file():
            return False
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        write_bytes_atomic(self.palette_file, other.palette_file.read_bytes())
        return True

    def write_finetune(self, record: dict) -> None:
        """Write finetune.json."""
        write_json_atomic(self.finetune_file, record)

    def write_evaluation(self, name: str, result: dict) -> None:
        """Write ``evaluation-<name>.json``."""
        write_json_atomic(self.evaluation_file(name), result)

    def remove_own_files(self) -> None:
        """Remove landgui's own files (:attr:`FILES`) from the folder, nothing else (replacing a run)."""
        for name in self.FILES:
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()


def data_key(name: str, ev: dict) -> str:
    """How an evaluation on a folder is named in lists and column headings: ``aid (/data2/aid)``
    (``aid-adapted (...)``), from the folder the record says it measured; the file's name alone
    (``aid``) for a record of an older landgui whose file name did not carry the path."""
    folder = ev.get("data_folder")
    match = re.fullmatch(r"(.*)-[0-9a-f]{8}(-adapted)?", name)
    if not isinstance(folder, str) or match is None:
        return name
    home = str(Path.home())
    shown = "~" + folder[len(home) :] if folder.startswith(home + os.sep) else folder
    return f"{match.group(1)}{match.group(2) or ''} ({shown})"


def is_fraction(value: object) -> bool:
    """True for a number between 0 and 1 (an accuracy, an F1), not a bool nor a string."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def check_labels(run: Path, labels: object) -> None:
    """A run's labels.json is a non-empty list of distinct, non-empty class names; one
    LandguiError line naming the file and what is wrong otherwise."""
    if not isinstance(labels, list) or not all(isinstance(x, str) and x.strip() for x in labels):
        raise LandguiError(f"{run}: damaged run files (labels.json is not a list of class names)")
    path = run / RunFolder.LABELS
    if not labels:
        raise LandguiError(f"{path} names no classes ([]); the run is damaged")
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise LandguiError(f"{path} names the class(es) {twice} twice; each class must be named once")


def head_width(path: Path) -> int:
    """The number of classes a ``head.npz`` gives (its bias length, which its kernel must match),
    read with NumPy alone; one LandguiError line for a damaged file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            kernel, bias = z["kernel"].shape, z["bias"].shape
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise LandguiError(f"cannot read {path}: {type(exc).__name__}: {str(exc)[:120]}") from None
    if len(kernel) != 2 or len(bias) != 1 or kernel[1] != bias[0]:
        raise LandguiError(f"{path} is damaged: kernel {kernel} and bias {bias} do not fit together")
    return int(bias[0])


def read_run(run_dir: str | Path) -> RunMeta:
    """Check a run folder and read its labels and config (one-line errors for what is wrong).
    ``default`` names the shipped model (:func:`resolve_run`)."""
    return RunFolder.resolve(run_dir).meta()


def run_status(run: str | Path, now: float | None = None) -> str:
    """The run's status as the user should see it (:meth:`RunFolder.status`)."""
    return RunFolder(run).status(now)
