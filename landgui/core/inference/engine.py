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
``openvino``, ``openvino-bf16``
    The LiteRT file in OpenVINO, in float32 or mostly in bfloat16 behind a guard
    (:mod:`landgui.core.inference.openvino_engine`, :mod:`landgui.core.inference.guard`).
``auto`` (the default)
    ``litert`` where ``ai-edge-litert`` is installed, else ``keras``; upgraded to
    ``openvino-bf16`` for a run whose guard passed, on a CPU with native bfloat16, when it
    measured faster than LiteRT on this machine (timed once, remembered in the cache folder).
"""

from __future__ import annotations

import atexit
import contextlib
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
from landgui.core.inference import guard
from landgui.core.inference import openvino_engine as ov_engine
from landgui.core.inference.features import compiled
from landgui.core.inference.predictor import FilePredictor, Predictor
from landgui.core.models.build import load_run, split_model
from landgui.core.models.head import HEAD_FILE, LinearHead
from landgui.core.runs.folder import is_shipped, read_run, resolve_run

ENGINES = ("auto", "litert", "keras", ov_engine.ENGINE_F32, ov_engine.ENGINE_BF16)
SPEED_FILE = "engine-speed.json"  # in the cache folder: auto's timings on this machine
# "0" turns off the guard run on first use (the test suite does, except where it tests it)
FAST_MODEL_ENV = "LANDGUI_FAST_MODEL"
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
    if engine in (ov_engine.ENGINE_F32, ov_engine.ENGINE_BF16) and not ov_engine.openvino_available():
        raise LandguiError(ov_engine.MISSING)
    return engine


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


class LiteRTPredictor(FilePredictor):
    """A run's model file in the LiteRT interpreter (XNNPACK, an explicit thread count); see
    :class:`~landgui.core.inference.predictor.FilePredictor` for the backbone + head split."""

    engine = "litert"

    def __init__(
        self, tflite: Path, run_dir: Path, labels: list[str], image_size: int, n_threads: int, head: Any = None
    ) -> None:
        super().__init__(tflite, run_dir, labels, image_size, head)
        from ai_edge_litert.interpreter import Interpreter

        self.n_threads = n_threads
        try:
            self._it = Interpreter(model_path=str(tflite), num_threads=n_threads)
        except Exception as exc:  # noqa: BLE001 - a damaged file: one line, the user can delete it
            raise LandguiError(f"cannot load {tflite}: {str(exc)[:160]} (delete it to convert again)") from None
        self._in = self._it.get_input_details()[0]["index"]
        out = self._it.get_output_details()[0]
        self._out = out["index"]
        self._check_width(int(out["shape"][-1]))
        self._batch = [-1]  # shared with the predictors made by with_head, as the interpreter is

    def _run(self, batch: np.ndarray) -> np.ndarray:
        n = len(batch)
        if n != self._batch[0]:
            self._it.resize_tensor_input(self._in, [n, self.image_size, self.image_size, 3])
            self._it.allocate_tensors()
            self._batch[0] = n
        self._it.set_tensor(self._in, batch)
        self._it.invoke()
        return self._it.get_tensor(self._out).copy()


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

    requested, engine = engine, resolve_engine(engine)
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
    args = (path, info.run_dir, info.labels, info.image_size, n, head)
    if engine == ov_engine.ENGINE_F32:
        return ov_engine.OpenVINOPredictor(*args)
    if engine == ov_engine.ENGINE_BF16:
        cut = guard.chosen_cut(path)
        if cut is None:
            raise LandguiError(
                f"{info.run_dir.name} has no guarded bfloat16 model ({_guard_state(path)}); use --engine litert or openvino"
            )
        return ov_engine.OpenVINOPredictor(*args, cut=cut)
    lite = LiteRTPredictor(*args)
    if requested == "auto" and _fast_worth_trying():
        return _faster(lite, info, progress)
    return lite


def _fast_worth_trying() -> bool:
    return os.environ.get(FAST_MODEL_ENV, "1") != "0" and ov_engine.openvino_available() and ov_engine.native_bf16()


def _guard_once(lite: LiteRTPredictor, info: Any, progress: ProgressFn | None) -> None:
    """Run the guard for this LiteRT file unless it has a record (or cannot be given one here)."""
    path = lite.path
    if guard.read_fast_model(path) is None and os.access(path.parent, os.W_OK) and not is_shipped(info.run_dir):
        val = guard.validation_set(info.config, info.labels, info.image_size)
        guard.make_fast_model(lite, val, progress)


def guard_fast_model(run_dir: str | Path, progress: ProgressFn | None = None) -> None:
    """Make the run's reduced-precision model and its guard's record now, where ``auto`` could use
    one (OpenVINO installed, a CPU with native bfloat16): called at the end of training, so that
    the first map does not wait for it. Does nothing elsewhere."""
    if litert_available() and _fast_worth_trying():
        info = read_run(run_dir)
        lite = load_predictor(info.run_dir, "litert")
        if isinstance(lite, LiteRTPredictor):
            _guard_once(lite, info, progress)


def _guard_state(path: Path) -> str:
    record = guard.read_fast_model(path)
    if record is None:
        return "its guard has not run: map once with --engine auto on a CPU with native bfloat16"
    return record.get("skipped") or "no split point passed the guard: see model.fast.json"


def _faster(lite: LiteRTPredictor, info: Any, progress: ProgressFn | None) -> Predictor:
    """``auto``'s choice for a LiteRT run on a CPU with native bfloat16: the guarded bfloat16 model
    when it is faster here, else LiteRT. The guard runs on first use where the run folder can be
    written (a shipped model brings its record); the timing is taken once per machine and file."""
    path = lite.path
    _guard_once(lite, info, progress)
    cut = guard.chosen_cut(path)
    if cut is None:
        return lite
    fast = ov_engine.OpenVINOPredictor(
        lite.path, info.run_dir, info.labels, info.image_size, lite.n_threads, lite.head, cut=cut
    )
    speeds_file = cache_dir() / SPEED_FILE
    key = f"{lite.backbone_id}|{cut}|{lite.n_threads}|{ov_engine.cpu_name()}"
    try:
        speeds = json.loads(speeds_file.read_text())
    except (OSError, ValueError):
        speeds = {}
    if not isinstance(speeds, dict) or key not in speeds:
        speeds = speeds if isinstance(speeds, dict) else {}
        t_lite, t_fast = ov_engine.fastest_batches([lite, fast], info.image_size)
        speeds[key] = {"litert": t_lite, ov_engine.ENGINE_BF16: t_fast}
        with contextlib.suppress(OSError):
            write_json_atomic(speeds_file, speeds)
    times = speeds[key]
    return fast if times.get(ov_engine.ENGINE_BF16, 1e9) < times.get("litert", 0) else lite


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
