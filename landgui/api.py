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

from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.data.images import resize_to
from landgui.core.data.sample import copy_sample_dataset
from landgui.core.data.scan import scan_sources
from landgui.core.data.split import SplitParams, write_split
from landgui.core.evaluation.evaluate import evaluate_folder, evaluate_run, evaluate_source
from landgui.core.inference.engine import cached_predictor
from landgui.core.models.build import ModelSpec
from landgui.core.runs.palette import run_palette
from landgui.core.scenes import demo_scene_path, open_scene, output_name, segment_file
from landgui.core.scenes import export as _export
from landgui.core.scenes.result import cell_class_codes, code_colours
from landgui.core.training import trainer as T

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
) -> dict:
    """Scan a class-folder dataset and write a leakage-free ``split.json`` into ``out``; returns it.

    Several datasets (sources, e.g. one per sensor) are split as one, stratified by class x source:
    a list of folders (each named after its folder, or ``"NAME=PATH"``) or a ``{name: folder}`` dict."""

    sources = dataset if isinstance(dataset, (list, dict)) else [str(dataset)]
    return write_split(scan_sources(sources), out, SplitParams(val=val, test=test, seed=seed))


def train(
    split_dir: str | Path,
    run_dir: str | Path,
    *,
    model: str = "transfer",
    image_size: int = 128,
    overwrite: bool = False,
    progress: Any = None,
    **params: Any,
) -> Path:
    """Train a run (``params``: any :class:`landgui.core.training.trainer.TrainParams` field, e.g.
    ``epochs=5``, ``hold_out_source="nwpu45"``); returns the run folder. A run that holds out a
    source is then evaluated on it, as ``evaluate(run, source=NAME)`` would."""

    tp = T.TrainParams(**params)
    result = T.train(
        split_dir,
        run_dir,
        ModelSpec(model=model, image_size=image_size),
        tp,
        overwrite=overwrite,
        progress=progress,
    )
    if result.status == "completed" and tp.hold_out_source:
        evaluate_source(run_dir, tp.hold_out_source)
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
    image of the source it held out in training (``source``)."""

    if data is not None:
        return evaluate_folder(run, data, **kw)
    if source is not None:
        return evaluate_source(run, source, **kw)
    return evaluate_run(run, split_name, **kw)


def load(run: str | Path = "default", engine: str = "auto") -> Any:
    """A run's model ready to predict: ``p(images)`` -> probabilities; ``p.labels``, ``p.image_size``."""

    return cached_predictor(run, engine)


def predict(run: str | Path, images: np.ndarray | list, *, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (N, classes) of RGB uint8 images of any size (each resized to the
    model's input by the rule training uses)."""

    p = load(run)
    arr = [np.asarray(im) for im in images]
    if not arr:
        return np.zeros((0, len(p.labels)), np.float32)
    x = np.stack([resize_to(im, p.image_size) for im in arr])
    return np.concatenate([p(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def segment(run: str | Path, scene: str | Path, **kw: Any) -> Any:
    """Classify a scene (``"demo"`` = the Blue Marble demo image); returns a SceneResult
    (``coverage``, ``cell_classes``, ``probs``, ...). ``kw``: patch, stride, uncertain_below, adapt,
    context (the strength of the smoothing over grid neighbours, on by default, the model's own
    probabilities then in ``raw_probs``; ``context=0`` maps each patch alone)."""

    path = demo_scene_path() if str(scene) == "demo" else scene
    return segment_file(run, path, **kw)


def export(result: Any, out_dir: str | Path, *, run: str | Path = "default", formats: tuple = ("png", "csv")) -> dict:
    """Write a SceneResult's maps (png, csv, geotiff, geojson, gpkg) like ``landgui segment``."""

    scene = open_scene(result.scene)
    try:
        name = output_name(result.scene, out_dir)
        return _export(result, scene, out_dir, name, run_palette(run, result.labels), formats)
    finally:
        scene.close()


def class_map_rgb(result: Any, run: str | Path | None = None) -> np.ndarray:
    """The class map as an RGB image, one pixel per patch cell (uncertain grey, unclassified black)."""

    table = code_colours(result.labels, run_palette(run or result.run or "default", result.labels))
    return table[cell_class_codes(result), :3]
