"""Teach a run your scene: retrain its head on a few labelled patches (corrections), in seconds.

A transfer run is a frozen backbone and a small head. Fine-tuning keeps the backbone, computes
its features for the corrections (with a few augmented views each) and for a seeded sample of
the parent's own training images (so the classes the corrections do not mention are not
forgotten), and trains a copy of the head on both, each correction weighted ``weight`` times.
The result is a new run folder whose ``config.json`` names the parent and the corrections; the
parent is never changed.

Where the parent's training images are not on this machine (the shipped model), the bundled
sample dataset stands in for them. Features of the parent's images are cached (user cache,
keyed by the model's hash and the files), so a second fine-tune of the same parent starts at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.errors import Cancelled, LandguiError

FINETUNE_EPOCHS = 40
CORRECTION_WEIGHT = 10.0  # one correction counts as ten of the parent's training images
REPLAY_PER_CLASS = 250  # parent training images kept per class (a seeded sample)
CORRECTION_VIEWS = 4  # augmented views per correction besides the image itself

ProgressFn = Callable[[str, int, int], None]


@dataclass
class FinetuneResult:
    run_dir: str
    seconds: float
    corrections: dict[str, int]
    replay: int
    replay_source: str
    epochs: int
    history: list[dict] = field(default_factory=list)


def labelled_files(folder: str | Path, labels: list[str]) -> tuple[list[str], np.ndarray]:
    """The usable images of a class-folder dataset with label indices of ``labels`` (by name)."""
    from landgui.core.dataset import scan_dataset

    scan = scan_dataset(folder)
    unknown = sorted({r.label for r in scan.images} - set(labels))
    if unknown:
        raise LandguiError(f"{folder}: class(es) {unknown} are not classes of the model {labels}")
    if not scan.images:
        raise LandguiError(f"{folder} holds no usable labelled images (one sub-folder per class)")
    root = Path(scan.root)
    return [str(root / r.path) for r in scan.images], np.array([labels.index(r.label) for r in scan.images], np.int32)


def replay_files(meta: Any, per_class: int = REPLAY_PER_CLASS, seed: int = 0) -> tuple[list[str], np.ndarray, str]:
    """A seeded sample of the parent's training images: its split's train part, else (the
    shipped model) the bundled sample dataset; nothing if neither is here."""
    from landgui.core import data as D
    from landgui.core.split import load_split

    try:
        manifest = load_split(meta.config["split"])
        files, _ = D.split_files(manifest, "train", meta.labels, missing_ok=True)
        paths, y, source = files.paths, files.labels, f"the parent's training split {manifest['_path']}"
    except (LandguiError, KeyError, OSError):
        from landgui.core.runs import is_shipped
        from landgui.core.sample import sample_dataset_dir

        if not is_shipped(meta.run_dir):
            return [], np.zeros(0, np.int32), "none (the parent's training split is not on this machine)"
        paths, y = labelled_files(sample_dataset_dir(), meta.labels)
        source = "the bundled sample dataset (the shipped model's training images are not installed)"
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.nonzero(y == k)[0])[:per_class] for k in range(len(meta.labels))])
    keep.sort()
    return [paths[i] for i in keep], y[keep], source


def split_model(model: Any) -> tuple[Any, Any]:
    """(backbone, head) of a transfer model; a clear error for another kind of model."""
    subs = [lyr for lyr in model.layers if hasattr(lyr, "layers") and lyr.layers]
    heads = [s for s in subs if s.name == "head"]
    others = [s for s in subs if s.name != "head"]
    if len(heads) != 1 or len(others) != 1:
        raise LandguiError("fine-tuning on corrections needs a transfer run (a backbone and a head); this is not one")
    return others[0], heads[0]


def backbone_features(
    backbone: Any,
    paths: list[str],
    size: int,
    *,
    views: int = 0,
    recipe: Any = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    stage: str = "features",
) -> np.ndarray:
    """Backbone features of each image, plus ``views`` augmented views of each (rows: all images
    of view 0, then all of view 1, ...)."""
    import tensorflow as tf

    from landgui.core import data as D
    from landgui.core.augment import augment_batch

    images = np.stack([D.load_resized(p, size) for p in paths]) if paths else np.zeros((0, size, size, 3), np.uint8)
    fn = tf.function(lambda x: backbone(x, training=False), reduce_retracing=True)
    seeds = np.random.SeedSequence(seed)
    out = []
    total = len(paths) * (1 + views)
    done = 0
    for v in range(1 + views):
        for start in range(0, len(paths), 64):
            if should_stop and should_stop():
                raise Cancelled()
            batch = images[start : start + 64]
            if v > 0:
                batch = augment_batch(batch, seeds.spawn(1)[0], recipe)
            out.append(np.asarray(fn(tf.convert_to_tensor(batch, tf.float32))))
            done += len(batch)
            if progress:
                progress(stage, done, total)
    return np.concatenate(out) if out else np.zeros((0, int(backbone.output.shape[-1])), np.float32)


def _cache_dir() -> Path:
    from landgui.core.efficientnet_lite import cache_dir

    return cache_dir() / "features"


def _cached_features(model_sha: str, backbone: Any, paths: list[str], size: int, **kw: Any) -> np.ndarray:
    h = hashlib.sha256(f"{model_sha}\n{size}\n".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    path = _cache_dir() / f"{h.hexdigest()[:32]}.npy"
    try:
        return np.load(path)
    except (OSError, ValueError):
        pass
    feats = backbone_features(backbone, paths, size, **kw)
    from landgui.core.atomic import atomic_path

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            np.save(tmp, feats)
    except (OSError, LandguiError):
        pass  # a cache that cannot be written only costs time
    return feats


def train_head(
    head: Any,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    epochs: int = FINETUNE_EPOCHS,
    lr: float = 1e-3,
    seed: int = 0,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[Any, list[dict]]:
    """A copy of ``head`` trained on (features, labels, sample weights); the original is untouched."""
    import keras

    keras.utils.set_random_seed(seed)
    new = keras.models.clone_model(head)
    new.set_weights(head.get_weights())
    new.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", weighted_metrics=[])
    history: list[dict] = []

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            history.append({"epoch": epoch + 1, "loss": float((logs or {}).get("loss", float("nan")))})
            if progress:
                progress("fine-tuning the head", epoch + 1, epochs)
            if should_stop and should_stop():
                self.model.stop_training = True

    new.fit(x, y, sample_weight=w, epochs=epochs, batch_size=32, shuffle=True, verbose=0, callbacks=[Report()])
    if should_stop and should_stop():
        raise Cancelled()
    return new, history


def finetune(
    parent: str | Path,
    add: list[str | Path],
    out: str | Path,
    *,
    epochs: int = FINETUNE_EPOCHS,
    weight: float = CORRECTION_WEIGHT,
    replay_per_class: int = REPLAY_PER_CLASS,
    seed: int = 0,
    overwrite: bool = False,
    export_litert: bool = True,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinetuneResult:
    """A new run: ``parent``'s head retrained on the images of the ``add`` class folders (each
    counting ``weight`` times) plus a sample of the parent's training images."""
    import keras

    from landgui.core import logs
    from landgui.core.atomic import write_json_atomic
    from landgui.core.engine import file_sha256
    from landgui.core.models import load_run
    from landgui.core.runs import read_run
    from landgui.core.training import TrainParams, prepare_run_dir

    if epochs < 1:
        raise LandguiError(f"epochs must be at least 1, got {epochs}")
    if not (weight > 0 and np.isfinite(weight)):
        raise LandguiError(f"the corrections' weight must be a positive number, got {weight}")
    if not add:
        raise LandguiError("give at least one folder of corrections (--add FOLDER)")
    t0 = time.monotonic()
    meta = read_run(parent)
    out = Path(out)
    # a run fine-tuned before keeps learning from its earlier corrections (a second round adds to them)
    earlier = [f for f in (meta.config.get("finetune") or {}).get("corrections", []) if Path(f).is_dir()]
    given = {Path(f).resolve() for f in add}
    add = [*add, *(f for f in earlier if Path(f).resolve() not in given)]
    if out.resolve() == meta.run_dir.resolve():
        raise LandguiError("the fine-tuned run needs its own folder: --out must differ from the parent run")
    corr_paths: list[str] = []
    corr_y: list[np.ndarray] = []
    for folder in add:
        p, y = labelled_files(folder, meta.labels)
        corr_paths += p
        corr_y.append(y)
    ycorr = np.concatenate(corr_y)
    loaded = load_run(meta.run_dir)
    backbone, head = split_model(loaded.model)
    prepare_run_dir(out, overwrite)  # only once everything is known to work: a refused job writes nothing
    size = meta.image_size
    recipe = TrainParams(**meta.config["params"]).augment_recipe() if "params" in meta.config else None
    rpaths, ry, source = replay_files(meta, replay_per_class, seed)
    fr = _cached_features(
        file_sha256(meta.run_dir / "model.keras"),
        backbone,
        rpaths,
        size,
        progress=progress,
        should_stop=should_stop,
        stage="features of the parent's images",
    )
    views = CORRECTION_VIEWS if recipe is not None else 0
    fc = backbone_features(
        backbone,
        corr_paths,
        size,
        views=views,
        recipe=recipe,
        seed=seed,
        progress=progress,
        should_stop=should_stop,
        stage="features of the corrections",
    )
    x = np.concatenate([fr, fc])
    y = np.concatenate([ry, np.tile(ycorr, 1 + views)])
    w = np.concatenate([np.ones(len(fr), np.float32), np.full(len(fc), weight / (1 + views), np.float32)])
    new_head, history = train_head(head, x, y, w, epochs=epochs, seed=seed, progress=progress, should_stop=should_stop)
    inp = keras.Input((size, size, 3), name="image")
    model = keras.Model(inp, new_head(backbone(inp, training=False)), name=loaded.model.name)
    model.save(out / "model.keras")
    counts = {lab: int((ycorr == k).sum()) for k, lab in enumerate(meta.labels) if (ycorr == k).any()}
    config = {
        **meta.config,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "parent": str(meta.run_dir.resolve()),
        "finetune": {
            "corrections": [str(Path(f).resolve()) for f in add],
            "counts": counts,
            "weight": weight,
            "epochs": epochs,
            "views": views,
            "replay": len(rpaths),
            "replay_source": source,
            "seed": seed,
        },
    }
    config.pop("shipped", None)
    write_json_atomic(out / "config.json", config)
    write_json_atomic(out / "labels.json", meta.labels)
    if (meta.run_dir / "palette.json").is_file():
        shutil.copyfile(meta.run_dir / "palette.json", out / "palette.json")
    write_json_atomic(
        out / "history.json",
        [{"stage": "fine-tune on corrections", **h, "seconds": 0.0} for h in history],
    )
    litert_error = None
    from landgui.core.engine import KerasPredictor, remember_predictor

    remember_predictor(KerasPredictor(model, out.resolve(), meta.labels, size))  # map with it at once
    if export_litert:
        from landgui.core import engine

        if engine.litert_available():
            if progress:
                progress("exporting the model for fast mapping (LiteRT)", 0, 1)
            try:
                engine.litert_file(out, model=model)
            except LandguiError as exc:
                litert_error = str(exc)
    seconds = time.monotonic() - t0
    write_json_atomic(
        out / "status.json",
        {
            "status": "completed",
            "stage": "done",
            "epochs_done": len(history),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **({"litert_error": litert_error} if litert_error else {}),
        },
    )
    result = FinetuneResult(str(out), seconds, counts, len(rpaths), source, len(history), history)
    logs.log.info("fine-tuned %s on %s into %s in %.1f s", meta.run_dir, counts, out, seconds)
    write_json_atomic(out / "finetune.json", asdict(result))
    return result
