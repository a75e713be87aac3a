"""The jobs the front doors share: the only place that composes open -> run -> export.

The command line (``landgui segment``), the Python API (:mod:`landgui.api`) and the app's Scene
tab all map a scene through these functions, so the settings are checked with the same words
(:meth:`landgui.core.params.MapSettings.check`), the model is loaded and kept the same way
(:func:`landgui.core.inference.engine.cached_predictor`) and every scene opened here is closed here.

:func:`map_scene`
    settings checked -> the run's model (kept loaded for the next call) -> the scene opened ->
    classified (:func:`landgui.core.scenes.pipeline.classify_scene`) -> closed.
:func:`export_map`
    a :class:`~landgui.core.scenes.result.SceneResult` written in the chosen formats (the
    registry of :mod:`landgui.core.scenes.writers`) under a name that never overwrites another
    scene's maps (:func:`~landgui.core.scenes.writers.output_name`).
:func:`map_and_export`
    both, with the scene opened once (a JPEG is decoded once, not twice).

Every function takes the core's one progress signature ``progress(stage, done, total)``
(:data:`landgui.core.base.types.ProgressFn`) and, where it runs long, ``should_stop()``
(:data:`~landgui.core.base.types.StopFn`; True raises :class:`~landgui.core.base.errors.Cancelled`).
Training and evaluation have their services too: :func:`train` and :func:`resume` (the training
records on ``on_record``, the bar on ``progress``), :func:`evaluate` (a run on its split, another
split file, a class folder or a held-out source, with the CLI's guards) and
:func:`evaluate_held_out` (what every front door does after a run that held a source out).

No Qt, no printing: the front doors say what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.types import ProgressFn, RecordFn, StopFn
from landgui.core.evaluation.evaluate import evaluate_folder, evaluate_run, evaluate_source
from landgui.core.inference.engine import Predictor, cached_predictor, load_predictor
from landgui.core.params import MapSettings
from landgui.core.runs.folder import RunFolder
from landgui.core.runs.palette import run_palette
from landgui.core.scenes.io import Scene, open_scene, reading_for
from landgui.core.scenes.pipeline import classify_with
from landgui.core.scenes.result import SceneResult
from landgui.core.scenes.writers import check_export, export, output_name
from landgui.core.training import trainer

PartialFn = Callable[[Any, np.ndarray], None]
"""``partial(grid, classes)``: the (rows, cols) patch classes so far (-1 = not yet), for a viewer."""


def load_model(
    run_dir: str | Path, engine: str = "auto", *, adapt: bool = False, progress: ProgressFn | None = None
) -> Predictor:
    """A run's model for mapping, loaded fresh (the CLI: once per command, so that a bad run fails
    before any scene is read). With ``adapt`` the Keras model, which adaptation needs, whatever
    ``engine`` says (no LiteRT conversion for a model that is adapted anyway)."""
    return load_predictor(run_dir, "keras" if adapt else engine, progress=progress)


def map_scene(
    run_dir: str | Path,
    scene_path: str | Path,
    settings: MapSettings,
    *,
    engine: str = "auto",
    adapt: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    partial: PartialFn | None = None,
    keep_features: bool = False,
    model: Predictor | None = None,
) -> SceneResult:
    """Classify the scene file ``scene_path`` with the run ``run_dir``.

    ``settings`` are checked first (one :class:`LandguiError` for the first bad knob), then the
    run's model is taken from the cache (loaded and kept on first use; ``model``: one already
    loaded, e.g. by :func:`load_model`), the scene opened, classified and closed.
    ``progress``/``should_stop``: as everywhere in the core; ``partial(grid, classes)``: the map
    so far, about twice a second; ``keep_features``: keep every patch's backbone features on the
    result for a re-map by a retrained head
    (:func:`~landgui.core.scenes.pipeline.reclassify_with_head`)."""
    settings.check()
    predictor = model or _model(run_dir, engine, adapt, progress)
    scene = open_scene(scene_path, reading_for(settings, run_dir))
    try:
        return _classify(
            predictor, scene, settings, adapt, progress, should_stop, partial=partial, keep_features=keep_features
        )
    finally:
        scene.close()


def export_map(
    result: SceneResult,
    out_dir: str | Path,
    *,
    palette: dict[str, str],
    formats: tuple[str, ...] | None = None,
    name: str | None = None,
    opacity: float = 0.45,
    hidden: tuple[int, ...] | set[int] = (),
    progress: ProgressFn | None = None,
    overwrite: bool = False,
) -> dict[str, str]:
    """Write ``result``'s maps into ``out_dir``; returns ``{kind: path}`` of the files written.

    The scene (``result.scene``) is opened for the overlay and closed again. ``name``: the file
    name stem (default: :func:`~landgui.core.scenes.writers.output_name`, the scene's stem unless
    another scene's maps already use it); ``formats``: names of the registry
    (:data:`~landgui.core.scenes.writers.WRITERS`; None: all; geo formats only for georeferenced scenes);
    ``opacity``/``hidden``: the overlay as on screen. ``progress("exporting", files done, files)``.
    Files at these names that landgui did not write are refused unless ``overwrite``
    (:func:`~landgui.core.scenes.writers.export`)."""
    scene = open_scene(result.scene, result.reading)  # on the grid it was mapped on
    try:
        return _export(result, scene, out_dir, palette, formats, name, opacity, hidden, progress, overwrite)
    finally:
        scene.close()


def map_and_export(
    run_dir: str | Path,
    scene_path: str | Path,
    out_dir: str | Path,
    settings: MapSettings,
    *,
    formats: tuple[str, ...] | None = None,
    palette: dict[str, str] | None = None,
    engine: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    adapt: bool = False,
    name: str | None = None,
    model: Predictor | None = None,
    overwrite: bool = False,
) -> tuple[SceneResult, dict[str, str]]:
    """:func:`map_scene` then :func:`export_map` with the scene opened once: ``(result, files)``.

    ``palette``: the class colours (default: the run's, :func:`~landgui.core.runs.palette.run_palette`)."""
    settings.check()
    predictor = model or _model(run_dir, engine, adapt, progress)
    scene = open_scene(scene_path, reading_for(settings, run_dir))
    try:
        stem = output_name(scene_path, out_dir) if name is None else name
        check_export(out_dir, stem, formats, scene.crs, scene_path, overwrite)  # refused before the mapping
        result = _classify(predictor, scene, settings, adapt, progress, should_stop)
        colours = palette if palette is not None else run_palette(run_dir, result.labels)
        files = _export(result, scene, out_dir, colours, formats, stem, 0.45, (), progress, overwrite)
    finally:
        scene.close()
    return result, files


def _model(run_dir: str | Path, engine: str, adapt: bool, progress: ProgressFn | None) -> Predictor:
    return cached_predictor(run_dir, "keras" if adapt else engine, progress=progress)


def _classify(
    predictor: Predictor,
    scene: Scene,
    s: MapSettings,
    adapt: bool,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
    **kw: Any,
) -> SceneResult:
    return classify_with(predictor, scene, s, adapt=adapt, progress=progress, should_stop=should_stop, **kw)


def _export(
    result: SceneResult,
    scene: Scene,
    out_dir: str | Path,
    palette: dict[str, str],
    formats: tuple[str, ...] | None,
    name: str | None,
    opacity: float,
    hidden: tuple[int, ...] | set[int],
    progress: ProgressFn | None,
    overwrite: bool = False,
) -> dict[str, str]:
    stem = output_name(result.scene, out_dir) if name is None else name
    return export(
        result,
        scene,
        out_dir,
        stem,
        palette,
        formats,
        opacity=opacity,
        hidden=hidden,
        progress=progress,
        overwrite=overwrite,
    )


def train(
    split_path: str | Path,
    run_dir: str | Path,
    spec: Any,
    params: Any,
    *,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_record: RecordFn | None = None,
) -> Any:
    """Train a new run (:func:`landgui.core.training.trainer.train`: ``spec`` a ModelSpec,
    ``params`` TrainParams); returns its TrainResult. ``progress``: image preparation, then
    ``("<stage> <epoch>/<epochs>", batch, batches)``; ``on_record``: every training record."""
    return trainer.train(
        split_path,
        run_dir,
        spec,
        params,
        overwrite=overwrite,
        progress=_relay(progress, on_record),
        should_stop=should_stop,
    )


def resume(
    run_dir: str | Path,
    *,
    devices: int | str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_record: RecordFn | None = None,
) -> Any:
    """Continue a stopped run (:func:`landgui.core.training.trainer.resume`), reporting as :func:`train`."""
    return trainer.resume(run_dir, devices=devices, progress=_relay(progress, on_record), should_stop=should_stop)


def _relay(progress: ProgressFn | None, on_record: RecordFn | None) -> RecordFn:
    """The trainer's records, handed to ``on_record`` and, as ``(stage, done, total)``, to ``progress``."""

    def relay(r: dict) -> None:
        if progress is not None and r["kind"] == "prepare":
            progress(r["stage"], r["done"], r["total"])
        elif progress is not None and r["kind"] == "batch":
            progress(f"{r['stage']} {r['epoch']}/{r['epochs']}", r["batch"], r["batches"] or r["batch"])
        if on_record is not None:
            on_record(r)

    return relay


def held_out_source(run_dir: str | Path) -> str | None:
    """The source a run held out of training (its config's ``hold_out_source``), or None."""
    return ((RunFolder(run_dir).config() or {}).get("params") or {}).get("hold_out_source")


def evaluate_held_out(
    result: Any, *, progress: ProgressFn | None = None, should_stop: StopFn | None = None
) -> dict | None:
    """After training: a completed run that held a source out is evaluated on every image of that
    source (written to the run folder); returns the evaluation, or None when there is none to do."""
    held = held_out_source(result.run_dir) if result.status == "completed" else None
    if not held:
        return None
    return evaluate_source(result.run_dir, held, progress=progress, should_stop=should_stop)


def evaluate(
    run_dir: str | Path,
    *,
    split: str = "test",
    data: str | Path | None = None,
    source: str | None = None,
    split_file: str | Path | None = None,
    allow_other_split: bool = False,
    ignore_unknown: bool = False,
    adapt: bool = False,
    engine: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> dict:
    """Evaluate a run on one split of its split.json (or of ``split_file``), on any class folder
    (``data``) or on every image of a source it held out (``source``); the report files are
    written and the evaluation returned. Options that do not go together are refused in one line,
    the words of ``landgui evaluate``."""
    if data is not None:
        return evaluate_folder(
            run_dir,
            data,
            ignore_unknown=ignore_unknown,
            adapt=adapt,
            engine=engine,
            progress=progress,
            should_stop=should_stop,
        )
    if ignore_unknown:
        raise LandguiError("--ignore-unknown applies to --data FOLDER only")
    if source is not None:
        return evaluate_source(run_dir, source, engine=engine, progress=progress, should_stop=should_stop)
    if allow_other_split and not split_file:
        raise LandguiError("--allow-other-split needs the split given explicitly with --split-file F")
    return evaluate_run(
        run_dir,
        split,
        split_path=split_file,
        allow_other_split=allow_other_split,
        adapt=adapt,
        engine=engine,
        progress=progress,
        should_stop=should_stop,
    )
