"""Inference engines: run a trained model on batches of images, fast.

``litert``
    The run's model converted once to LiteRT (``model.tflite``) and run by ``ai-edge-litert``'s
    interpreter with XNNPACK and an explicit thread count. About 3x the speed of Keras on a 2-core
    CPU (docs/benchmarks.md, bench/bench_engine.py) with the same answers (agreement test), and no
    TensorFlow import when the file exists. The file is made at the end of training, or lazily
    the first time a run is used (cached beside ``model.keras`` with the model's SHA-256, so a
    changed model is converted again; a read-only run is cached in the user's cache folder).
``keras``
    The Keras model in a compiled ``tf.function``: the fallback, and the only engine that can
    adapt a model (``--adapt`` changes batch-norm statistics of a copy).
``auto`` (the default)
    ``litert`` where ``ai-edge-litert`` is installed, else ``keras``.
"""

from __future__ import annotations

import atexit
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from landgui import __version__
from landgui.core.base import threads
from landgui.core.base.atomic import write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.base.paths import cache_dir, file_sha256
from landgui.core.base.types import ProgressFn
from landgui.core.inference.features import compiled
from landgui.core.models.build import load_run, split_model
from landgui.core.models.head import HEAD_FILE, LinearHead
from landgui.core.runs.folder import is_shipped, read_run, resolve_run

ENGINES = ("auto", "litert", "keras")
LITERT_FILE = "model.tflite"
LITERT_META = "model.tflite.json"
# 2: a transfer model is its backbone plus head.npz (features for teach-your-scene); files of an
# older format are converted again once
LITERT_FORMAT = 2


def litert_available() -> bool:
    """Whether the LiteRT interpreter (``ai-edge-litert``) is installed (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None


def resolve_engine(engine: str) -> str:
    """The engine that will actually run for a requested one: ``auto`` becomes ``litert`` where it
    is installed, else ``keras``; an unknown name, or ``litert`` where it is missing, is a one-line error."""
    if engine not in ENGINES:
        raise LandguiError(f"unknown engine '{engine}'; choose one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "litert" if litert_available() else "keras"
    if engine == "litert" and not litert_available():
        raise LandguiError("the litert engine needs ai-edge-litert: pip install ai-edge-litert (or use --engine keras)")
    return engine


class Predictor:
    """A run's model ready to classify: called with (N, S, S, 3) 0..255 images, it returns
    (N, classes) float32 probabilities. ``labels`` and ``image_size`` come from the run folder;
    ``engine`` names the subclass's engine. Made by :func:`load_predictor`."""

    engine = "?"

    def __init__(self, run_dir: Path, labels: list[str], image_size: int) -> None:
        self.run_dir, self.labels, self.image_size = run_dir, labels, image_size

    @property
    def n_classes(self) -> int:
        """The number of classes, i.e. the width of each probability row."""
        return len(self.labels)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The class probabilities of a batch of images (each subclass runs its own engine)."""
        raise NotImplementedError

    def keras_model(self) -> Any:
        """The run's Keras model (loaded on first use: imports TensorFlow)."""

        if getattr(self, "_model", None) is None:
            self._model = load_run(self.run_dir).model
        return self._model


class KerasPredictor(Predictor):
    """A Keras model (in memory: a run's, or an adapted copy) called through one compiled
    ``tf.function``; the fallback engine and the only one that can run an adapted model."""

    engine = "keras"

    def __init__(self, model: Any, run_dir: Path, labels: list[str], image_size: int) -> None:
        super().__init__(run_dir, labels, image_size)
        self._model = model
        self._call = compiled(model)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The class probabilities of a batch (as float32), from the compiled Keras model."""
        return self._call(batch)


class LiteRTPredictor(Predictor):
    """A run's model in the LiteRT interpreter.

    A transfer model is converted as its backbone alone, whose output is the pooled features, plus
    its head in NumPy (``head``, :class:`landgui.core.models.head.LinearHead`, ``head.npz`` beside the
    file; :func:`export_litert`). So a scene's features can be kept from a map and a retrained head
    applied to them, or to the features of new images, without TensorFlow; a run fine-tuned on
    corrections shares its parent's file and brings its own head. Any other model is converted
    whole and its output is the probabilities."""

    engine = "litert"

    def __init__(
        self, tflite: Path, run_dir: Path, labels: list[str], image_size: int, n_threads: int, head: Any = None
    ) -> None:
        super().__init__(run_dir, labels, image_size)
        from ai_edge_litert.interpreter import Interpreter

        self.path, self.n_threads, self.head = tflite, n_threads, head
        try:
            self._it = Interpreter(model_path=str(tflite), num_threads=n_threads)
        except Exception as exc:  # noqa: BLE001 - a damaged file: one line, the user can delete it
            raise LandguiError(f"cannot load {tflite}: {str(exc)[:160]} (delete it to convert again)") from None
        self._in = self._it.get_input_details()[0]["index"]
        out = self._it.get_output_details()[0]
        self._out = out["index"]
        width = int(out["shape"][-1])
        if head is not None and width != head.n_features:
            raise LandguiError(
                f"{tflite} gives {width} features, its head wants {head.n_features}; delete it to convert again"
            )
        if head is None and width != len(labels):
            raise LandguiError(f"{tflite} gives {width} outputs for {len(labels)} classes; delete it to convert again")
        self._batch = [-1]  # shared with the predictors made by with_head, as the interpreter is
        self._lock = threading.Lock()  # one interpreter: one caller at a time

    @property
    def has_features(self) -> bool:
        """True for a transfer model converted as backbone + head, which can give its features."""
        return self.head is not None

    @property
    def backbone_id(self) -> str:
        """The SHA-256 of the LiteRT file: features from files with one id are interchangeable
        (a fine-tuned run's file is its parent's, linked or copied)."""
        if not getattr(self, "_backbone_id", ""):
            self._backbone_id = file_sha256(self.path)
        return self._backbone_id

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        n = len(batch)
        with self._lock:
            if n != self._batch[0]:
                self._it.resize_tensor_input(self._in, [n, self.image_size, self.image_size, 3])
                self._it.allocate_tensors()
                self._batch[0] = n
            self._it.set_tensor(self._in, np.ascontiguousarray(batch, dtype=np.float32))
            self._it.invoke()
            return self._it.get_tensor(self._out).copy()

    def _no_features(self) -> LandguiError:
        return LandguiError(
            f"{self.path} is not a transfer model converted with its features; delete it to convert again"
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The class probabilities of a batch: the interpreter's output, through the head if any."""
        out = self._invoke(batch)
        return out if self.head is None else self.head(out)

    def predict_with_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, features) of a batch, in one pass (a transfer model)."""
        feats = self.features(batch)
        assert self.head is not None
        return self.head(feats), feats

    def features(self, batch: np.ndarray) -> np.ndarray:
        """The backbone's pooled features of a batch (a transfer model converted with them)."""
        if self.head is None:
            raise self._no_features()
        return self._invoke(batch)

    def with_head(self, head: Any, run_dir: Path, labels: list[str] | None = None) -> LiteRTPredictor:
        """A predictor of the same backbone with another head (a fine-tuned run), sharing this
        interpreter: no file, no conversion."""
        import copy

        if self.head is None:
            raise self._no_features()
        new = copy.copy(self)
        new.head, new.run_dir, new.labels = head, Path(run_dir), list(labels or self.labels)
        return new


def export_litert(model: Any, path: Path) -> str | None:
    """Convert a Keras model to a LiteRT file, written under a temporary name then renamed.

    A transfer model is converted as its backbone alone and its head saved beside it in NumPy
    (``head.npz``, see :class:`LiteRTPredictor`); returns that file's name, or None for a model
    converted whole."""

    try:
        backbone, head = split_model(model)
        linear = LinearHead.from_keras(head)
    except LandguiError:
        backbone, linear = model, None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".tflite", prefix=".converting-", dir=path.parent)
    os.close(fd)
    try:
        if linear is not None:
            linear.save(path.parent / HEAD_FILE)
        backbone.export(tmp, format="litert", verbose=False)
        os.replace(tmp, path)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise LandguiError(f"cannot write {path}: {exc.strerror or exc}") from None
        if isinstance(exc, LandguiError):
            raise
        raise LandguiError(f"could not convert the model to LiteRT: {type(exc).__name__}: {str(exc)[:160]}") from None
    return None if linear is None else HEAD_FILE


def _cache_dir() -> Path:
    return cache_dir() / "litert"


def current_litert_file(run_dir: str | Path, sha: str | None = None) -> Path | None:
    """The run's LiteRT file if one made from its current model exists (no conversion), else None."""

    run = resolve_run(run_dir)
    try:
        sha = sha or file_sha256(run / "model.keras")
    except OSError:
        return None
    for place in (run, _cache_dir() / sha[:16]):
        meta = place / LITERT_META
        try:
            info = json.loads(meta.read_text())
            if (
                (place / LITERT_FILE).is_file()
                and info.get("model_sha256") == sha
                and info.get("format") == LITERT_FORMAT
            ):
                return place / LITERT_FILE
        except (OSError, ValueError):
            pass
    return None


def litert_file(run_dir: str | Path, *, model: Any = None, progress: ProgressFn | None = None) -> Path:
    """The run's LiteRT file, converted now if it is missing or older than the Keras model.

    Beside model.keras when the run folder is writable, else in the user's cache folder; the
    model's SHA-256 in ``model.tflite.json`` says which model it was made from."""

    run = resolve_run(run_dir)
    sha = file_sha256(run / "model.keras")
    found = current_litert_file(run, sha)
    if found is not None:
        return found
    place = run if os.access(run, os.W_OK) and not is_shipped(run) else _cache_dir() / sha[:16]
    if progress:
        progress("converting the model to LiteRT (once per model)", 0, 1)
    if model is None:
        model = load_run(run).model
    head = export_litert(model, place / LITERT_FILE)
    meta = {
        "model_sha256": sha,
        "format": LITERT_FORMAT,
        "landgui_version": __version__,
        **({"head": head} if head else {}),
    }
    try:
        (place / LITERT_META).write_text(json.dumps(meta, indent=2))
    except OSError as exc:
        raise LandguiError(f"cannot write {place / LITERT_META}: {exc.strerror or exc}") from None
    if progress:
        progress("converting the model to LiteRT (once per model)", 1, 1)
    return place / LITERT_FILE


def load_predictor(
    run_dir: str | Path,
    engine: str = "auto",
    *,
    n_threads: int | None = None,
    progress: ProgressFn | None = None,
) -> Predictor:
    """A run's model ready to predict with the chosen engine (see the module doc)."""

    engine = resolve_engine(engine)
    threads.configure()
    if engine == "keras":
        run = load_run(run_dir)  # checks the run folder as read_run does
        return KerasPredictor(run.model, run.run_dir, run.labels, run.image_size)
    info = read_run(run_dir)
    path = litert_file(info.run_dir, progress=progress)
    head = None
    try:
        head_file = json.loads((path.parent / LITERT_META).read_text()).get("head")
    except (OSError, ValueError):
        head_file = None
    if head_file:
        head = LinearHead.load(path.parent / head_file)
    n = n_threads or threads.available_cores()
    return LiteRTPredictor(path, info.run_dir, info.labels, info.image_size, n, head=head)


def share_litert(parent_tflite: Path, run_dir: Path, head: Any) -> Path:
    """Give a run fine-tuned from a transfer run (same backbone, new head) its LiteRT model at
    once: the parent's file (linked, or copied where links are not possible) plus ``head.npz``,
    and ``model.tflite.json`` naming the head. Call after the run's model.keras is written."""

    head.save(run_dir / HEAD_FILE)
    dest = run_dir / LITERT_FILE
    tmp = run_dir / f".{LITERT_FILE}.{os.getpid()}.partial"
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(parent_tflite, tmp)
        except OSError:
            import shutil

            shutil.copyfile(parent_tflite, tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LandguiError(f"cannot write {dest}: {exc.strerror or exc}") from None
    meta = {
        "model_sha256": file_sha256(run_dir / "model.keras"),
        "format": LITERT_FORMAT,
        "landgui_version": __version__,
        "head": HEAD_FILE,
    }
    write_json_atomic(run_dir / LITERT_META, meta)
    return dest


_CACHE: dict[tuple, Predictor] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Drop the kept models. Registered with atexit: a LiteRT interpreter destroyed later, while
    Python finalizes, crashed the app on exit ("none_dealloc", exit 134) after a GUI classify."""
    with _CACHE_LOCK:
        _CACHE.clear()
    import gc

    gc.collect()


atexit.register(clear_cache)


def _cache_key(run_dir: str | Path, engine: str) -> tuple | None:
    run = resolve_run(run_dir).resolve()
    try:
        st = (run / "model.keras").stat()
    except OSError:
        return None
    return (str(run), st.st_size, st.st_mtime_ns, resolve_engine(engine))


def remember_predictor(predictor: Predictor) -> None:
    """Keep a predictor made from a model already in memory (a run just fine-tuned), so that
    mapping with it next needs no reload and no conversion."""
    key = _cache_key(predictor.run_dir, predictor.engine)
    if key is not None:
        with _CACHE_LOCK:
            _CACHE[key] = predictor
            while len(_CACHE) > 2:
                _CACHE.pop(next(iter(_CACHE)))


def cached_predictor(run_dir: str | Path, engine: str = "auto", **kw: Any) -> Predictor:
    """load_predictor, kept between calls (the GUI classifies many scenes with one run): keyed by
    the run folder, the model file's size and mtime, and the engine. Holds the last two."""
    key = _cache_key(run_dir, engine)
    if key is None:
        return load_predictor(run_dir, engine, **kw)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    pred = load_predictor(key[0], engine, **kw)
    with _CACHE_LOCK:
        _CACHE[key] = pred
        while len(_CACHE) > 2:
            _CACHE.pop(next(iter(_CACHE)))
    return pred


def as_predictor(model: Any, labels: list[str] | None = None, image_size: int | None = None) -> Predictor:
    """A Predictor as is, or a Keras model wrapped in a KerasPredictor (labels and input size
    taken from the model when not given)."""
    if isinstance(model, Predictor):
        return model
    labels = labels or [str(i) for i in range(model.output_shape[-1])]
    return KerasPredictor(model, Path("."), labels, image_size or int(model.input_shape[1]))
