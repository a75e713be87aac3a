"""landgui from Python (notebooks, scripts): the CLI's verbs as functions over the core.

    from landgui import api
    api.sample_dataset("data/sample")
    api.split("data/sample", "data/sample-split")
    run = api.train("data/sample-split", "runs/first", model="scratch", image_size=32, epochs=2)
    api.evaluate(run)["accuracy"]
    result = api.segment("default", "demo")           # the shipped model on the demo scene
    rgb = api.class_map_rgb(result)                    # (H, W, 3) uint8, for plt.imshow
    api.predict("default", images)                     # (N, classes) probabilities of arrays

Every function raises :class:`landgui.core.base.errors.LandguiError` with a one-line message for
problems the user can fix. ``"default"`` names the shipped ``landcover4`` model wherever a run is
asked for. TensorFlow is imported only by training, adaptation and the Keras engine.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core import services
from landgui.core.base.errors import LandguiError
from landgui.core.base.files import shown
from landgui.core.base.types import ProgressFn, RecordFn, StopFn
from landgui.core.data.imageio import ImageReadError, array_to_rgb, read_image
from landgui.core.data.images import resize_to
from landgui.core.data.sample import copy_sample_dataset
from landgui.core.data.scan import parse_sources, scan_sources
from landgui.core.data.split import check_split_target, write_split
from landgui.core.inference.engine import cached_predictor
from landgui.core.params import MapSettings, ModelSpec, SplitParams, TrainParams
from landgui.core.runs.palette import run_palette
from landgui.core.scenes.io import demo_scene_path
from landgui.core.scenes.result import SceneResult, cell_class_codes, code_colours
from landgui.core.scenes.writers import parse_formats

__all__ = [
    "LandguiError",
    "sample_dataset",
    "split",
    "train",
    "evaluate",
    "load",
    "predict",
    "segment",
    "export",
    "class_map_rgb",
]


def sample_dataset(dest: str | Path) -> Path:
    """Copy the shipped 240-image sample dataset into a new or empty folder."""

    return copy_sample_dataset(dest)


def split(
    dataset: str | Path | list | dict,
    out: str | Path,
    *,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    overwrite: bool = False,
    gsd: dict[str, float] | None = None,
) -> dict:
    """Scan a class-folder dataset and write a leakage-free ``split.json`` into ``out``; returns it.

    Several datasets (sources, e.g. one per sensor) are split as one, stratified by class x source:
    a list of folders (each named after its folder, or ``"NAME=PATH"``) or a ``{name: folder}`` dict.
    A split.json already in ``out`` (runs may point to it) is replaced only with ``overwrite``;
    everything ``landgui split`` refuses is refused here, before the scan. ``gsd``: metres per
    source (or ``"SOURCE/CLASS"``), where known: ``landgui split --gsd``, the runs' sensor contract."""

    sources = dataset if isinstance(dataset, (list, dict)) else [str(dataset)]
    params = SplitParams(val=val, test=test, seed=seed, gsd=dict(gsd or {}))
    params.check()
    roots = parse_sources(sources)
    params.check_gsd_names(roots)
    check_split_target(list(roots.values()), out, params, overwrite=overwrite)
    return write_split(scan_sources(sources), out, params, overwrite=overwrite)


def train(
    split_dir: str | Path,
    run_dir: str | Path,
    *,
    model: str = "transfer",
    image_size: int = 128,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    on_record: RecordFn | None = None,
    **params: Any,
) -> Path:
    """Train a run (``params``: any :class:`landgui.core.params.TrainParams` field, e.g.
    ``epochs=5``, ``hold_out_source="nwpu45"``); returns the run folder. A run that holds out a
    source is then evaluated on it, as ``evaluate(run, source=NAME)`` would. ``progress(stage,
    done, total)``: the bar; ``on_record(dict)``: every training record (batch metrics, epochs)."""

    unknown = sorted(set(params) - {f.name for f in fields(TrainParams)})
    if unknown:
        raise LandguiError(f"unknown training setting(s) {unknown}; see landgui.core.params.TrainParams")
    tp = TrainParams(**params)
    result = services.train(
        split_dir,
        run_dir,
        ModelSpec(model=model, image_size=image_size),
        tp,
        overwrite=overwrite,
        progress=progress,
        on_record=on_record,
    )
    services.evaluate_held_out(result)
    return Path(run_dir)


def evaluate(
    run: str | Path,
    *,
    data: str | Path | None = None,
    split_name: str = "test",
    source: str | None = None,
    **kw: Any,
) -> dict:
    """Evaluate a run on its own split (``split_name``), on any class folder (``data``), or on every
    image of the source it held out in training (``source``). ``kw``: split_file,
    allow_other_split, ignore_unknown, adapt, engine, progress (refused as ``landgui evaluate``
    refuses them)."""

    return services.evaluate(run, split=split_name, data=data, source=source, **kw)


def load(run: str | Path = "default", engine: str = "auto") -> Any:
    """A run's model ready to predict: ``p(images)`` -> probabilities; ``p.labels``, ``p.image_size``."""

    return cached_predictor(run, engine)


def predict(run: str | Path, images: Any, *, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (N, classes) of images of any size, each resized to the model's input by
    the rule training uses.

    ``images``: a list of (H, W[, C]) arrays, an (N, H, W[, C]) array, one (H, W, 3|4) array, or
    image files (a path or a list of paths, read as ``landgui predict`` reads them). Arrays follow
    :func:`~landgui.core.data.imageio.array_to_rgb`, the rules of image files: grey, RGB or RGBA;
    uint8 as it is; floats within 0..1 times 255, within 0..255 as they are; uint16 stretched as
    16-bit files are; NaN and +/-inf are no data. An image that is empty, all no data, out of
    range or no patch shape (1 x 1 px) is refused with a one-line LandguiError naming it, before
    the model loads; probabilities are never NaN."""

    _check_whole("batch size", batch_size, 1)
    rgb = _images_rgb(images)
    p = load(run)
    if not rgb:
        return np.zeros((0, len(p.labels)), np.float32)
    x = np.stack([resize_to(im, p.image_size) for im in rgb])
    out = np.concatenate([p(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    if not np.isfinite(out).all():
        raise LandguiError(f"the model of {run} gave NaN probabilities: the run is damaged; train it again")
    return out


def _check_whole(what: str, value: Any, least: int) -> None:
    """A one-line error unless ``value`` is a whole number of at least ``least`` (the CLI's words)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise LandguiError(f"{what} must be a whole number, got {value!r}")
    if value < least:
        raise LandguiError(f"{what} must be at least {least}, got {value}")


def _images_rgb(images: Any) -> list[np.ndarray]:
    """The images of :func:`predict` as RGB uint8 arrays, or the first one's problem in one line."""
    if isinstance(images, str | Path):
        images = [images]
    elif isinstance(images, np.ndarray) and images.ndim == 3 and images.shape[-1] in (3, 4):
        images = [images]  # one colour image, not a batch of 3 px wide grey ones
    try:
        items = list(images)
    except TypeError:
        raise LandguiError(f"images must be arrays or image files, got {type(images).__name__}") from None
    out = []
    for i, im in enumerate(items):
        try:
            out.append(read_image(im) if isinstance(im, str | Path) else array_to_rgb(im))
        except ImageReadError as exc:
            name = f" ({shown(im)})" if isinstance(im, str | Path) else ""
            raise LandguiError(f"image {i}{name}: {exc.reason}") from None
    return out


def segment(
    run: str | Path,
    scene: str | Path,
    *,
    engine: str = "auto",
    adapt: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    keep_features: bool = False,
    **settings: Any,
) -> SceneResult:
    """Classify a scene (``"demo"`` = the Blue Marble demo image); returns a SceneResult
    (``coverage``, ``cell_classes``, ``probs``, ...). ``settings``: any
    :class:`~landgui.core.params.MapSettings` field (patch, stride, batch, edge, ignore_nodata,
    uncertain_below, context: the strength of the smoothing over grid neighbours, on by default,
    the model's own probabilities then in ``raw_probs``; ``context=0`` maps each patch alone;
    how the scene is read: ``bands=(3, 2, 1)``, ``radiometry="reflectance"``, ``native=True``),
    checked as ``landgui segment`` checks them; ``adapt``: adapt the model to the scene first.
    A georeferenced scene is read at the run's ground resolution when the run records one: the
    result's ``notes`` say so, and anything else about how the scene was read."""

    path = demo_scene_path() if str(scene) == "demo" else scene
    return services.map_scene(
        run,
        path,
        MapSettings.from_dict(settings),
        engine=engine,
        adapt=adapt,
        progress=progress,
        should_stop=should_stop,
        keep_features=keep_features,
    )


def export(
    result: SceneResult, out_dir: str | Path, *, run: str | Path = "default", formats: tuple | str = ("png", "csv")
) -> dict:
    """Write a SceneResult's maps like ``landgui segment``: ``formats`` from
    :data:`~landgui.core.scenes.writers.FORMATS` (png, csv, geotiff, geojson, gpkg; a tuple or
    ``"png,csv"``), in the colours of ``run``; returns ``{kind: path}``."""

    if not isinstance(formats, str) and not all(isinstance(f, str) for f in formats):
        raise LandguiError(f"formats must be names such as ('png', 'csv'), got {formats!r}")
    # checked before anything is written: an unknown name, or none at all, is one line
    chosen = parse_formats(formats if isinstance(formats, str) else ",".join(formats))
    return services.export_map(result, out_dir, palette=run_palette(run, result.labels), formats=chosen)


def class_map_rgb(result: SceneResult, run: str | Path | None = None) -> np.ndarray:
    """The class map as an RGB image, one pixel per patch cell (uncertain grey, unclassified black)."""

    table = code_colours(result.labels, run_palette(run or result.run or "default", result.labels))
    return table[cell_class_codes(result), :3]
