"""Training a run: folder layout, progress callbacks, stop flag, early stopping, resume.

Run folder (``RUN_DIR``)::

    config.json   everything to reproduce the run (versions, split path and hash, model, params)
    labels.json   class names in output order
    status.json   {"status": "running|stopped|completed|failed", "stage", "epochs_done", ...}
    history.json  one record per epoch: stage, epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds
    model.keras   the best model so far by val_loss (always loadable)
    checkpoint/   last completed epoch (model + optimizer state) for --resume, and the best weights
    logs/         TensorBoard event files

Stages: ``scratch`` trains one stage. ``transfer`` stage 1 trains the head on the frozen backbone
using the fast path (backbone features computed once, the head trained on them: seconds per epoch;
un-augmented by construction), stage 2 fine-tunes the top backbone layers on augmented images at
lr/10. Early stopping on val_loss (patience) restores the best weights at the end of each stage;
the learning rate is halved after two epochs without improvement.

Devices (``TrainParams.devices``): 1, the default, is TensorFlow's own placement on one device
with no distribution strategy. N > 1 or ``"all"`` trains with ``tf.distribute.MirroredStrategy``
over the first N (or every) visible GPU, else over the CPU's logical devices (one, unless
``LANDGUI_LOGICAL_CPUS=N`` splits it, for trying and testing the strategy without a GPU); every
model is built, compiled, restored and fitted under the strategy's scope, and ``batch_size`` is
the global batch, split evenly across the devices. config.json and status.json name the devices
and the strategy.

The core reports through ``progress(record: dict)`` and checks ``should_stop()`` every batch; no Qt.
Besides ``prepare``, ``batch`` and ``epoch`` records it sends ``{"kind": "note", "message"}`` for
things to tell the user once (e.g. ``devices="all"`` on a machine without a GPU).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landgui import __version__
from landgui.core.base import logs
from landgui.core.base.atomic import write_json_atomic
from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.data import images as D
from landgui.core.data.augment import NO_AUGMENTATION, Recipe, augment_batch
from landgui.core.data.clouds import synthetic_cloud_sets
from landgui.core.data.split import load_split, source_names, split_hash
from landgui.core.inference import engine
from landgui.core.inference.adaptation import MAX_ADAPT_IMAGES, recalibrate_bn
from landgui.core.inference.familiarity import FAMILIARITY_FILE, Familiarity
from landgui.core.models.build import RUN_SCHEMA_VERSION, ModelSpec, build_scratch, build_transfer, set_fine_tune
from landgui.core.runs.folder import HEARTBEAT_EVERY_S, STATUS_OWN_KEYS, RunFolder
from landgui.core.runs.palette import run_palette

DEFAULT_EPOCHS = {"scratch": 25, "transfer": 15}
DEFAULT_IMAGE_SIZE = {"scratch": 64, "transfer": 128}
# canonical ground resolution (px) inside the model; scratch's 64 px input already is it
DEFAULT_RESOLUTION = {"scratch": 0, "transfer": 0}  # measured harmful across sensors (docs)

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]

# split the CPU into this many logical devices before TensorFlow starts (tests, trying --devices)
LOGICAL_CPUS_ENV = "LANDGUI_LOGICAL_CPUS"


@dataclass
class TrainParams:
    epochs: int = 15
    fine_tune_epochs: int = 0  # with the robust recipe fine-tuning never beat the head on val (docs)
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    augment: bool = True
    patience: int = 5
    fast_path: bool = True
    export_litert: bool = True  # write model.tflite at the end (landgui.core.inference.engine)
    # the augmentation recipe (landgui.core.data.augment.Recipe as a dict); None = the default recipe
    recipe: dict | None = None
    # fast path: backbone features of this many augmented views of each training image are added
    # to the un-augmented ones, so the head also learns without sensor cues (0 = none)
    feature_views: int = 2
    # re-estimate the ImageNet backbone's batch-norm statistics on the training images first, so
    # that the model holds *source* statistics for AdaBN; measured harmful on kaggle4 (its patches
    # are 61 % textureless), so off by default (docs/benchmarks.md)
    source_bn: bool = False
    # devices that train the run: 1 (TensorFlow's default placement, no strategy), a number N or
    # "all" (tf.distribute.MirroredStrategy over them; batch_size is then the global batch)
    devices: int | str = 1
    # several sources (split.json "sources"): weight each image so that every source of a class
    # carries the same share of that class (landgui.core.data.images.source_balance_weights), in training
    # and in the validation loss that selects the epoch; no effect with one source
    balance_sources: bool = True
    # train and select on the other sources only; the front doors then evaluate the run on every
    # image of this source (landgui.core.evaluation.evaluate.evaluate_source): a sensor it never saw
    hold_out_source: str | None = None
    # fast path: synthetic clouds (landgui.core.data.clouds) rendered over clear training images of
    # every source, this many per real training image of ``cloud_class``, labelled as it; as many
    # clear images again under light haze keep their labels (0 = off)
    synthetic_clouds: float = 0.0
    cloud_class: str = "cloudy"

    def check(self) -> None:
        """One clear error per unusable setting (the CLI and the GUI share these messages)."""
        import math

        if self.epochs < 1:
            raise LandguiError(f"epochs must be at least 1, got {self.epochs}")
        if self.fine_tune_epochs < 0:
            raise LandguiError(f"fine-tune epochs must be 0 or more, got {self.fine_tune_epochs}")
        if self.batch_size < 1:
            raise LandguiError(f"batch size must be at least 1, got {self.batch_size}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 1):
            raise LandguiError(f"learning rate must be a number in (0, 1], got {self.lr}")
        if self.seed < 0:
            raise LandguiError(f"seed must be 0 or more, got {self.seed}")
        if self.patience < 1:
            raise LandguiError(f"patience must be at least 1, got {self.patience}")
        if self.feature_views < 0:
            raise LandguiError(f"feature views must be 0 or more, got {self.feature_views}")
        if not 0 <= self.synthetic_clouds <= 5:
            raise LandguiError(f"synthetic clouds must be between 0 and 5 per cloud image, got {self.synthetic_clouds}")
        self.devices = parse_devices(self.devices)

    def augment_recipe(self) -> Any:
        """The Recipe in force (NO_AUGMENTATION when augmentation is off)."""

        if not self.augment:
            return NO_AUGMENTATION
        return Recipe(**self.recipe) if self.recipe else Recipe()


@dataclass
class TrainResult:
    run_dir: str
    status: str
    epochs_done: int
    best_val_loss: float | None
    best_val_accuracy: float | None
    seconds: float
    history: list[dict] = field(default_factory=list)


def parse_devices(value: int | str) -> int | str:
    """``"all"`` or a device count of at least 1 (from the CLI's text or a config's JSON value)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "all":
            return "all"
        if text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LandguiError(f"devices must be 'all' or a number of devices (1 or more), got {value!r}")
    return value


def configure_logical_cpus() -> int | None:
    """Split the CPU into ``$LANDGUI_LOGICAL_CPUS`` logical devices; returns that count (None when unset).

    TensorFlow accepts this only before its runtime starts, so it is done as the first thing of a
    training process; a runtime already started with another split is a one-line error."""
    raw = os.environ.get(LOGICAL_CPUS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise LandguiError(f"{LOGICAL_CPUS_ENV} must be a number of logical CPUs (1 or more), got {raw!r}")
    n = int(raw)
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(cpu)  # None: the default, one device
    if (len(configured) if configured else 1) == n:
        return n
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:  # the runtime is already initialised: fine if it already has the split asked for
        have = len(tf.config.list_logical_devices("CPU"))
        if have != n:
            raise LandguiError(
                f"{LOGICAL_CPUS_ENV}={n} came too late: TensorFlow already started with {have} logical CPU(s); "
                "set it before the process starts"
            ) from None
    return n


@dataclass(frozen=True)
class DevicePlan:
    """The devices that train a run, and the distribution strategy over them."""

    devices: list[str]  # e.g. ["/gpu:0", "/gpu:1"] or ["/cpu:0"]
    strategy: str | None  # "MirroredStrategy", or None: TensorFlow's default placement on one device
    note: str | None = None  # to tell the user once (e.g. "all" on a machine without a GPU)

    def create(self) -> Any:
        """The tf.distribute strategy to build, compile and fit under, or None for one device.

        One strategy per device set and process, reused by later runs: each new MirroredStrategy
        numbers its collective ops from the start again, and a second one in the same process
        fails with "Shape mismatch in the collective instance" (tensorflow/tensorflow#62790)."""
        if self.strategy is None:
            return None
        key = tuple(self.devices)
        if key not in _STRATEGIES:
            import tensorflow as tf

            _STRATEGIES[key] = tf.distribute.MirroredStrategy(devices=list(key))
        return _STRATEGIES[key]


_STRATEGIES: dict[tuple[str, ...], Any] = {}


def _short_name(device: Any) -> str:
    """A logical device's short name: "/job:localhost/replica:0/task:0/device:GPU:1" -> "/gpu:1"."""
    return "/" + device.name.rsplit("device:", 1)[-1].lower()


def plan_devices(devices: int | str, batch_size: int | None = None) -> DevicePlan:
    """Which devices ``devices`` (1, N or "all") means on this machine: GPUs when any are visible,
    else the CPU's logical devices. More than there are is a one-line error naming how many there are."""
    want = parse_devices(devices)
    configure_logical_cpus()
    import tensorflow as tf

    gpus = [_short_name(d) for d in tf.config.list_logical_devices("GPU")]
    pool = gpus or [_short_name(d) for d in tf.config.list_logical_devices("CPU")]
    note = None
    if want == "all":
        chosen = pool
        if not gpus:
            note = f"no GPU is visible: training on the CPU ({', '.join(pool)})"
    else:
        assert isinstance(want, int)
        if want > len(pool):
            kind = "GPU" if gpus else "device"
            hint = "" if gpus else f" (no GPU is visible; {LOGICAL_CPUS_ENV}=N splits the CPU to try the strategy)"
            raise LandguiError(
                f"cannot train on {want} devices: this machine has {len(pool)} {kind}"
                f"{'' if len(pool) == 1 else 's'} ({', '.join(pool)}){hint}"
            )
        chosen = pool[:want]
    if len(chosen) == 1:
        return DevicePlan(chosen, None, note)
    if batch_size is not None and batch_size < len(chosen):
        raise LandguiError(
            f"batch size {batch_size} is smaller than the {len(chosen)} devices; the batch is split across them, "
            f"so give --batch-size {len(chosen)} or more"
        )
    return DevicePlan(chosen, "MirroredStrategy", note)


def _versions() -> dict:
    import keras
    import tensorflow as tf

    return {"landgui": __version__, "tensorflow": tf.__version__, "keras": keras.__version__}


def _read_state(p: Path) -> dict:
    """The checkpoint's state.json (the trainer's own bookkeeping for --resume), {} if missing or damaged."""
    try:
        state = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def prepare_run_dir(run_dir: Path, overwrite: bool) -> None:
    """Refuse an existing run unless overwrite; refuse an unwritable folder."""
    if run_dir.exists() and not run_dir.is_dir():
        raise LandguiError(f"{run_dir} exists and is not a folder")
    folder = RunFolder(run_dir)
    if folder.is_run:
        if not overwrite:
            raise LandguiError(
                f"{run_dir} already holds a run; use --overwrite to replace it or --resume to continue it"
            )
        folder.remove_own_files()  # only landgui's own files are removed
    parent = run_dir if run_dir.exists() else run_dir.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise LandguiError(f"cannot write to {parent} (read-only)")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".landgui-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise LandguiError(f"cannot write to {run_dir}: {exc.strerror or exc}") from None


class _Trainer:
    def __init__(
        self,
        run_dir: Path,
        config: dict,
        progress: ProgressFn | None,
        should_stop: StopFn | None,
        plan: DevicePlan,
    ) -> None:
        self.run = run_dir
        self.folder = RunFolder(run_dir)
        self.config = config
        self.spec = ModelSpec(**config["model"])
        self.params = TrainParams(**config["params"])
        self._user_progress = progress or (lambda r: None)
        self._last_beat = 0.0
        self.should_stop = should_stop or (lambda: False)
        self.ckpt = run_dir / "checkpoint"
        self.history: list[dict] = self.folder.history()
        self.state: dict = _read_state(self.ckpt / "state.json")
        self.best_val_loss: float = self.state.get("best_val_loss", float("inf"))
        self.stopped = False
        self.t0 = time.monotonic()
        self._status: dict = {}
        self.plan = plan
        self.strategy: Any = None  # the tf.distribute strategy, created when training starts

    def scope(self) -> contextlib.AbstractContextManager:
        """The strategy's scope (models built, compiled, restored and fitted in it), or no-op for one device."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def progress(self, record: dict) -> None:
        """Report to the caller, and keep the run's heartbeat fresh (at most every few seconds)."""
        if time.monotonic() - self._last_beat > HEARTBEAT_EVERY_S and self._status.get("status") == "running":
            self.set_status("running", **{k: v for k, v in self._status.items() if k not in STATUS_OWN_KEYS})
        self._user_progress(record)

    # -- files ----------------------------------------------------------------------------------
    def set_status(self, status: str, **extra: Any) -> None:
        """status.json: the state, and who writes it (pid, host) with a heartbeat, so that a run
        whose process died is shown as interrupted rather than running forever."""
        self._status = {
            "status": status,
            "epochs_done": len(self.history),
            "best_val_loss": _f(self.best_val_loss),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "heartbeat": time.time(),
            "devices": self.plan.devices,
            "strategy": self.plan.strategy,
            **extra,
        }
        self._last_beat = time.monotonic()
        self.folder.write_status(self._status)

    def _export_litert(self) -> str | None:
        """Convert the saved model for the fast engine now (else it happens on first use). A
        failure is reported in status.json, not fatal: mapping falls back to converting later."""

        if not engine.litert_available():
            return None
        self.set_status("running", stage="exporting the model for fast mapping (LiteRT)")
        try:
            engine.litert_file(self.run)
        except LandguiError as exc:
            return str(exc)
        return None

    def ensure_space(self, model: Any) -> None:
        """Refuse to write a checkpoint that will not fit: HDF5 fails with a segfault on a full
        disk (measured: exit 139 and a damaged weights file), so the free space is checked first."""
        optimizer = getattr(model, "optimizer", None)  # a model assembled for saving has none
        n = sum(int(np.prod(w.shape)) for w in model.weights) + sum(
            int(np.prod(v.shape)) for v in getattr(optimizer, "variables", None) or []
        )
        need = 4 * n * 3 + (2 << 20)  # best weights, epoch weights + optimizer state, model.keras; margin
        try:
            free = shutil.disk_usage(self.run).free
        except OSError:
            return
        if free < need:
            raise LandguiError(
                f"the disk is full: {free / 2**20:.1f} MB free in {self.run}, a checkpoint needs about "
                f"{need / 2**20:.1f} MB; free some space, then continue with landgui train --resume {self.run}"
            )

    def save_model_atomic(self, model: Any) -> None:
        self.ensure_space(model)
        tmp = self.run / "model.tmp.keras"
        try:
            model.save(tmp)
            os.replace(tmp, self.run / "model.keras")
        finally:
            tmp.unlink(missing_ok=True)

    def save_best_weights(self, model: Any) -> None:
        tmp = self.ckpt / ".best.partial.weights.h5"
        try:
            model.save_weights(tmp)
            os.replace(tmp, self.ckpt / "best.weights.h5")
        finally:
            tmp.unlink(missing_ok=True)

    def save_checkpoint(self, model: Any, stage: int, stage_epoch: int) -> None:
        """Weights + optimizer state of the last completed epoch, then state.json pointing at them."""
        self.ckpt.mkdir(exist_ok=True)
        name = f"epoch-{len(self.history):04d}"
        model.save_weights(self.ckpt / f"{name}.weights.h5")
        opt = {f"v{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
        np.savez(self.ckpt / f"{name}.optimizer.npz", **opt)  # type: ignore[arg-type]
        previous = self.state.get("last")
        self.state.update(
            {
                "stage": stage,
                "stage_epoch": stage_epoch,
                "last": name,
                "best_val_loss": _f(self.best_val_loss),
                "lr": float(np.asarray(model.optimizer.learning_rate)),
                "wait": self.state.get("wait", 0),
            }
        )
        write_json_atomic(self.ckpt / "state.json", self.state)
        self.folder.write_history(self.history)
        if previous and previous != name:
            for suffix in (".weights.h5", ".optimizer.npz"):
                (self.ckpt / f"{previous}{suffix}").unlink(missing_ok=True)

    def restore_checkpoint(self, model: Any) -> None:
        name = self.state["last"]
        model.load_weights(self.ckpt / f"{name}.weights.h5")
        model.optimizer.build(model.trainable_variables)
        path = self.ckpt / f"{name}.optimizer.npz"
        if path.exists():
            with np.load(path) as z:
                vals = [z[f"v{i}"] for i in range(len(z.files))]
            if len(vals) == len(model.optimizer.variables):
                for var, val in zip(model.optimizer.variables, vals, strict=True):
                    if tuple(var.shape) == val.shape:
                        var.assign(val)
        model.optimizer.learning_rate.assign(self.state.get("lr", self.params.lr))

    # -- progress callback ------------------------------------------------------------------------
    def callback(self, stage: int, stage_name: str, epochs: int, first_epoch: int, save_model: Any) -> Any:
        import keras

        trainer = self

        class Cb(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self._epoch = epoch
                self._last_batch = 0
                self.t_epoch = time.monotonic()

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                total = self.params.get("steps") or 0
                self._last_batch = batch + 1
                elapsed = time.monotonic() - self.t_epoch
                done_in_stage = (self._epoch - first_epoch) * total + batch + 1 if total else batch + 1
                left = (epochs - self._epoch) * total - (batch + 1) if total else 0
                rate = elapsed / (batch + 1)
                trainer.progress(
                    {
                        "kind": "batch",
                        "stage": stage_name,
                        "epoch": self._epoch + 1,
                        "epochs": epochs,
                        "batch": batch + 1,
                        "batches": total,
                        "metrics": _clean(logs),
                        "elapsed": time.monotonic() - trainer.t0,
                        "eta": max(0.0, left * rate),
                        "done": done_in_stage,
                    }
                )
                if trainer.should_stop():
                    trainer.stopped = True
                    self.model.stop_training = True

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                logs = _clean(logs)
                if trainer.stopped and self._last_batch < (self.params.get("steps") or 0):
                    return  # an interrupted epoch is neither recorded nor checkpointed
                trainer.ensure_space(self.model)
                rec = {
                    "stage": stage_name,
                    "epoch": len(trainer.history) + 1,
                    "loss": logs.get("loss"),
                    "accuracy": logs.get("accuracy"),
                    "val_loss": logs.get("val_loss"),
                    "val_accuracy": logs.get("val_accuracy"),
                    "lr": float(np.asarray(self.model.optimizer.learning_rate)),
                    "seconds": round(time.monotonic() - self.t_epoch, 3),
                }
                trainer.history.append(rec)
                val = rec["val_loss"] if rec["val_loss"] is not None else rec["loss"]
                if val is not None and val < trainer.best_val_loss:
                    trainer.best_val_loss = val
                    trainer.state["wait"] = 0
                    trainer.save_best_weights(self.model)
                    trainer.state["best_stage"] = stage
                    trainer.save_model_atomic(save_model)
                else:
                    trainer.state["wait"] = trainer.state.get("wait", 0) + 1
                trainer.save_checkpoint(self.model, stage, epoch + 1)
                trainer.set_status("running", stage=stage_name)
                trainer.progress(
                    {
                        "kind": "epoch",
                        "stage": stage_name,
                        "epoch": epoch + 1,
                        "epochs": epochs,
                        "record": rec,
                        "elapsed": time.monotonic() - trainer.t0,
                    }
                )
                if trainer.state["wait"] >= trainer.params.patience:
                    self.model.stop_training = True

        cb = Cb()
        cb._epoch = first_epoch
        return cb

    def _fit(self, model: Any, train: Any, val: Any, stage: int, stage_name: str, epochs: int, save_model: Any) -> None:
        import keras

        first = self.state.get("stage_epoch", 0) if self.state.get("stage") == stage else 0
        if first >= epochs or (self.state.get("stage") == stage and self.state.get("wait", 0) >= self.params.patience):
            return
        if self.state.get("stage") != stage:
            self.state["wait"] = 0
        cbs = [
            self.callback(stage, stage_name, epochs, first, save_model),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-6),
            keras.callbacks.TensorBoard(log_dir=str(self.run / "logs" / stage_name), write_graph=False),
        ]
        import tensorflow as tf

        try:
            model.fit(train, validation_data=val, epochs=epochs, initial_epoch=first, verbose=0, callbacks=cbs)
        except tf.errors.ResourceExhaustedError:
            raise LandguiError(
                f"out of memory at batch size {self.params.batch_size}; try --batch-size {max(1, self.params.batch_size // 2)}"
            ) from None

    def _restore_best(self, model: Any) -> None:
        best = self.ckpt / "best.weights.h5"
        if best.exists():
            model.load_weights(best)

    # -- the run ---------------------------------------------------------------------------------
    def run_all(self) -> TrainResult:
        import keras

        if self.plan.note:
            self.progress({"kind": "note", "message": self.plan.note})
        self.strategy = self.plan.create()
        keras.utils.set_random_seed(self.params.seed + len(self.history))
        manifest = load_split(self.config["split"])
        classes = self.spec.classes
        held = self.params.hold_out_source
        train_files, _ = D.split_files(manifest, "train", classes, exclude_source=held)
        val_files, _ = D.split_files(manifest, "val", classes, exclude_source=held)
        if len(val_files.paths) == 0:
            val_files = train_files  # no validation split: monitor the training loss instead
        w_train = w_val = None
        if self.params.balance_sources and len(set(train_files.sources)) > 1:
            w_train = D.source_balance_weights(train_files, len(classes))
            w_val = D.source_balance_weights(val_files, len(classes))
        size, p = self.spec.image_size, self.params
        self.set_status("running", stage="loading")
        prog = _stage_progress(self.progress)
        cached_train = cached_val = None
        if D.fits_in_cache(len(train_files.paths) + len(val_files.paths), size):
            cached_train = D.decode_all(train_files.paths, size, prog, self.should_stop, "loading train")
            cached_val = D.decode_all(val_files.paths, size, prog, self.should_stop, "loading val")
        train_aug = D.make_dataset(
            train_files,
            size,
            p.batch_size,
            training=True,
            augment=p.augment,
            seed=p.seed,
            cached=cached_train,
            recipe=p.augment_recipe(),
            weights=w_train,
        )
        val_ds = D.make_dataset(
            val_files, size, p.batch_size, training=False, augment=False, seed=p.seed, cached=cached_val, weights=w_val
        )
        with self.scope():  # every model, optimizer and fit of every stage lives under the strategy
            if self.spec.model == "scratch":
                model = build_scratch(self.spec)
                model.compile(
                    optimizer=keras.optimizers.Adam(p.lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
                )
                if self.state.get("last"):
                    self.restore_checkpoint(model)
                self.ckpt.mkdir(exist_ok=True)
                self._fit(model, train_aug, val_ds, 1, "train", p.epochs, model)
                if not self.stopped:
                    self._restore_best(model)
                final = model
            else:
                final = self._run_transfer(
                    train_files, val_files, cached_train, cached_val, train_aug, val_ds, w_train, w_val
                )
        if not (self.run / "model.keras").exists():
            self.save_model_atomic(final)  # stopped before any epoch completed: still loadable
        status = "stopped" if self.stopped else "completed"
        litert_error = None
        if status == "completed" and p.export_litert:
            litert_error = self._export_litert()
        best = min(
            (h for h in self.history if h.get("val_loss") is not None), key=lambda h: h["val_loss"], default=None
        )
        self.set_status(
            status,
            stage="done" if status == "completed" else self.state.get("stage"),
            best_val_accuracy=best["val_accuracy"] if best else None,
            **({"litert_error": litert_error} if litert_error else {}),
        )
        self.folder.write_history(self.history)
        return TrainResult(
            str(self.run),
            status,
            len(self.history),
            _f(self.best_val_loss),
            best["val_accuracy"] if best else None,
            time.monotonic() - self.t0,
            self.history,
        )

    def _run_transfer(
        self, train_files, val_files, cached_train, cached_val, train_aug, val_ds, w_train=None, w_val=None
    ) -> Any:
        import keras

        p = self.params
        model, backbone, head = build_transfer(self.spec)
        opt1 = keras.optimizers.Adam(p.lr)
        self.ckpt.mkdir(exist_ok=True)
        stage = self.state.get("stage", 1)
        if p.source_bn:
            self._source_statistics(backbone, train_files, cached_train)
        if stage == 1:
            if p.fast_path:
                ftr = self._features(backbone, train_files, cached_train, "features train")
                ytr = train_files.labels
                if p.augment and p.feature_views > 0:
                    views = [ftr]
                    for v in range(p.feature_views):
                        views.append(
                            self._features(
                                backbone,
                                train_files,
                                cached_train,
                                f"features view {v + 1}",
                                augment_seed=p.seed * 1000 + v,
                            )
                        )
                    ftr = np.concatenate(views)
                    ytr = np.tile(train_files.labels, len(views))
                fval = self._features(backbone, val_files, cached_val, "features val")
                import tensorflow as tf

                wtr = None if w_train is None else np.tile(w_train, len(ftr) // len(w_train))
                ftr, ytr, wtr = self._synthetic_cloud_features(backbone, train_files, cached_train, ftr, ytr, wtr)
                tr_t: tuple = (ftr, ytr)
                va_t: tuple = (fval, val_files.labels)
                if wtr is not None:
                    tr_t = (ftr, ytr, wtr)
                    va_t = (fval, val_files.labels, w_val)
                tr = tf.data.Dataset.from_tensor_slices(tr_t).shuffle(len(ftr), seed=p.seed).batch(p.batch_size)
                va = tf.data.Dataset.from_tensor_slices(va_t).batch(p.batch_size)
                head.compile(optimizer=opt1, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
                if self.state.get("last"):
                    self.restore_checkpoint(head)
                self._fit(head, tr, va, 1, "head", p.epochs, model)
                if not self.stopped:
                    n = len(train_files.paths)  # the un-augmented view comes first
                    self._save_familiarity(ftr[:n], fval)
            else:
                model.compile(optimizer=opt1, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
                if self.state.get("last"):
                    self.restore_checkpoint(model)
                self._fit(model, train_aug, val_ds, 1, "head", p.epochs, model)
            if self.stopped:
                return model
            self._restore_best(head if p.fast_path else model)
        if p.fine_tune_epochs > 0 and self.spec.fine_tune_layers > 0:
            if stage == 1 or self.state.get("stage") != 2:
                self.state.pop("last", None)  # stage-1 (head) checkpoints do not fit the full model
                self.state.update({"stage": 2, "stage_epoch": 0, "wait": 0})
                model.save_weights(self.ckpt / "stage1.weights.h5")
            else:
                model.load_weights(self.ckpt / "stage1.weights.h5")
            set_fine_tune(backbone, self.spec.fine_tune_layers, head)
            model.compile(
                optimizer=keras.optimizers.Adam(p.lr / 10), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
            )
            if self.state.get("last"):
                self.restore_checkpoint(model)
            self._fit(model, train_aug, val_ds, 2, "fine-tune", p.fine_tune_epochs, model)
            if not self.stopped:
                if self.state.get("best_stage") == 2:
                    self._restore_best(model)
                    # the backbone changed: the training data's footprint is measured again
                    self._save_familiarity(
                        self._features(backbone, train_files, cached_train, "features train"),
                        self._features(backbone, val_files, cached_val, "features val"),
                    )
                else:  # fine-tuning never beat the head alone
                    model.load_weights(self.ckpt / "stage1.weights.h5")
        return model

    def _synthetic_cloud_features(
        self,
        backbone: Any,
        files: D.SplitFiles,
        cached: np.ndarray | None,
        ftr: np.ndarray,
        ytr: np.ndarray,
        wtr: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The training features with those of synthetic cloudy and hazed images appended (see
        ``TrainParams.synthetic_clouds``); augmented like the other views. Each synthetic image
        weighs as much as an average real image of its class."""

        p, classes = self.params, self.spec.classes
        if p.synthetic_clouds <= 0 or p.cloud_class not in classes:
            return ftr, ytr, wtr
        if cached is None:
            self.progress(
                {"kind": "note", "message": "synthetic clouds skipped: the training images do not fit in memory"}
            )
            return ftr, ytr, wtr
        k = classes.index(p.cloud_class)
        n = int(round(p.synthetic_clouds * int((files.labels == k).sum())))
        cloudy, yc, hazed, yh = synthetic_cloud_sets(cached, files.labels, k, n, p.seed)
        if n == 0:
            return ftr, ytr, wtr
        images = np.concatenate([cloudy, hazed])
        seed = p.seed * 1000 + 999 if p.augment else None
        fs = self._features(backbone, None, images, "features synthetic clouds", augment_seed=seed)
        ys = np.concatenate([yc, yh]).astype(ytr.dtype)
        ws = None
        if wtr is not None:
            mean_w = {c: float(wtr[: len(files.labels)][files.labels == c].mean()) for c in np.unique(ys)}
            ws = np.concatenate([wtr, np.array([mean_w[int(c)] for c in ys], np.float32)])
        return np.concatenate([ftr, fs]), np.concatenate([ytr, ys]), ws

    def _save_familiarity(self, train_features: np.ndarray, val_features: np.ndarray) -> None:
        """familiarity.npz: the unfamiliarity score's references and calibration
        (:mod:`landgui.core.inference.familiarity`)."""

        fam = Familiarity.build(train_features, val_features, seed=self.params.seed)
        fam.save(self.run / FAMILIARITY_FILE)

    def _source_statistics(self, backbone: Any, files: D.SplitFiles, cached: np.ndarray | None) -> None:
        """Batch-norm statistics of the backbone re-estimated on (a seeded sample of) the training images."""

        n = len(files.paths)
        pick = np.sort(np.random.default_rng(self.params.seed).permutation(n)[: min(n, MAX_ADAPT_IMAGES // 2)])
        if cached is not None:
            images = cached[pick]
        else:
            images = D.decode_all([files.paths[i] for i in pick], self.spec.image_size, None, self.should_stop)
        if len(images) >= 16:
            prog = _stage_progress(self.progress)
            recalibrate_bn(
                backbone,
                images,
                seed=self.params.seed,
                progress=prog,
                should_stop=self.should_stop,
                stage="source statistics",
            )

    def _features(
        self,
        backbone: Any,
        files: D.SplitFiles | None,
        cached: np.ndarray | None,
        stage: str,
        augment_seed: int | None = None,
    ) -> np.ndarray:
        """Backbone features of every image (optionally of one seeded augmented view), in batches."""
        import tensorflow as tf

        recipe = self.params.augment_recipe()
        seeds = np.random.SeedSequence(augment_seed) if augment_seed is not None else None

        fn = tf.function(lambda x: backbone(x, training=False), reduce_retracing=True)
        bs = 64
        n = len(cached) if cached is not None else len(files.paths) if files is not None else 0
        out = []
        for start in range(0, n, bs):
            if self.should_stop():
                self.stopped = True
                raise Cancelled()
            if cached is not None:
                batch = cached[start : start + bs]
            else:
                assert files is not None
                batch = np.stack([D.load_resized(pth, self.spec.image_size) for pth in files.paths[start : start + bs]])
            if seeds is not None:
                batch = augment_batch(batch, seeds.spawn(1)[0], recipe)
            out.append(np.asarray(fn(tf.convert_to_tensor(batch, tf.float32))))
            self.progress(
                {
                    "kind": "prepare",
                    "stage": stage,
                    "done": min(start + bs, n),
                    "total": n,
                    "elapsed": time.monotonic() - self.t0,
                }
            )
        return np.concatenate(out) if out else np.zeros((0, backbone.output.shape[-1]), np.float32)


def _stage_progress(progress: ProgressFn) -> Callable[[str, int, int], None]:
    return lambda stage, done, total: progress({"kind": "prepare", "stage": stage, "done": done, "total": total})


def _f(x: Any) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _clean(logs: Any) -> dict:
    return {k: float(np.asarray(v)) for k, v in (logs or {}).items() if np.ndim(np.asarray(v)) == 0}


def new_run_config(split_path: str | Path, spec: ModelSpec, params: TrainParams) -> dict:
    manifest = load_split(split_path)
    return {
        "run_schema_version": RUN_SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": _versions(),
        "landgui_version": __version__,
        "split": manifest["_path"],
        "split_hash": split_hash(manifest),
        "model": asdict(spec),
        "params": asdict(params),
    }


def train(
    split_path: str | Path,
    run_dir: str | Path,
    spec: ModelSpec,
    params: TrainParams,
    *,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> TrainResult:
    """Train a new run on ``params.devices``. Raises LandguiError for unusable input, too many
    devices included, before anything is written."""
    params.check()
    manifest = load_split(split_path)
    spec.classes = list(manifest["classes"])
    spec.check()
    held = params.hold_out_source

    if held is not None:
        names = source_names(manifest)
        if held not in names:
            raise LandguiError(f"--hold-out-source {held!r} is not a source of this split (its sources: {names})")
        if len(names) < 2:
            raise LandguiError(f"the split has one source ({held}); holding it out leaves nothing to train on")
    train_files, _ = D.split_files(manifest, "train", spec.classes, exclude_source=held)
    val_files, _ = D.split_files(manifest, "val", spec.classes, exclude_source=held)  # missing -> one clear error
    present = [c for i, c in enumerate(spec.classes) if (train_files.labels == i).any()]
    if len(present) < 2:
        raise LandguiError(
            f"the training split holds {len(present)} class(es) {present}"
            + (f" without source {held!r}" if held else "")
            + "; a classifier needs at least 2"
        )
    plan = plan_devices(params.devices, params.batch_size)
    run = Path(run_dir)
    roots = [Path(r).resolve() for r in (manifest.get("sources") or {}).values()]
    for root in roots:
        if run.resolve() == root or run.resolve().is_relative_to(root):
            raise LandguiError(
                f"refusing to write the run inside the dataset folder {root}; choose an --out outside it "
                "(a new folder there would be read as a class)"
            )
    prepare_run_dir(run, overwrite)
    config = {**new_run_config(split_path, spec, params), "devices": plan.devices, "strategy": plan.strategy}
    # what trained and selected the model, per source (a held-out source appears in neither)
    config["images_by_source"] = {
        s: {src: f.sources.count(src) for src in dict.fromkeys(f.sources)}
        for s, f in (("train", train_files), ("val", val_files))
    }
    folder = RunFolder(run)
    folder.write_config(config)
    folder.write_labels(spec.classes)
    folder.write_history([])

    run_palette(run, spec.classes)  # class colours fixed with the run
    return _execute(run, config, progress, should_stop, plan)


def resume(
    run_dir: str | Path,
    *,
    devices: int | str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> TrainResult:
    """Continue a stopped or killed run from its last completed epoch, on the devices it was started
    with unless ``devices`` (1, N or "all") says otherwise. Checkpoints hold plain weights, so a run
    may continue on another number of devices than it started on; config.json then names the new
    devices and keeps the earlier ones under "earlier_devices"."""
    run = Path(run_dir)
    folder = RunFolder(run)
    config = folder.config()
    if not config:
        raise LandguiError(f"{run} holds no run to resume (config.json missing or damaged)")
    if config.get("run_schema_version") != RUN_SCHEMA_VERSION:
        raise LandguiError(f"{run} was written by another landgui version; cannot resume it")
    status = folder.status()
    if status == "completed":
        raise LandguiError(f"{run} is already completed; nothing to resume")
    if status == "running":
        st = folder.status_record()
        raise LandguiError(
            f"{run} is still being trained (pid {st.get('pid')} on {st.get('host')}); stop it first, or wait"
        )
    manifest = load_split(config["split"])
    if split_hash(manifest) != config["split_hash"]:
        raise LandguiError(f"the split {config['split']} changed since the run started; start a new run")
    params = config.setdefault("params", {})
    if devices is not None:
        params["devices"] = parse_devices(devices)
    plan = plan_devices(params.get("devices", 1), params.get("batch_size"))
    moved = (config.get("devices"), config.get("strategy")) != (plan.devices, plan.strategy)
    if moved and config.get("devices"):
        earlier = {"devices": config["devices"], "strategy": config.get("strategy")}
        config["earlier_devices"] = [*config.get("earlier_devices", []), earlier]
    if moved or devices is not None:  # the devices asked for are kept for the next resume
        config.update(devices=plan.devices, strategy=plan.strategy)
        folder.write_config(config)
    return _execute(run, config, progress, should_stop, plan)


def _execute(
    run: Path, config: dict, progress: ProgressFn | None, should_stop: StopFn | None, plan: DevicePlan
) -> TrainResult:

    with logs.run_log(run):
        logs.log.info(
            "training %s (%s epochs done before) on %s (%s)",
            run,
            len(RunFolder(run).history()),
            ", ".join(plan.devices),
            plan.strategy or "no distribution strategy",
        )
        result = _execute_logged(run, config, progress, should_stop, plan)
        logs.log.info("training %s: %s after %s epochs", run, result.status, result.epochs_done)
        return result


def _execute_logged(
    run: Path, config: dict, progress: ProgressFn | None, should_stop: StopFn | None, plan: DevicePlan
) -> TrainResult:

    trainer = _Trainer(run, config, progress, should_stop, plan)
    try:
        return trainer.run_all()
    except Cancelled:
        if not (run / "model.keras").exists():
            trainer.set_status("stopped", stage="preparing", message="stopped before training started; no model yet")
            raise
        trainer.set_status("stopped", stage=trainer.state.get("stage"))
        best = min(
            (h for h in trainer.history if h.get("val_loss") is not None), key=lambda h: h["val_loss"], default=None
        )
        return TrainResult(
            str(run),
            "stopped",
            len(trainer.history),
            _f(trainer.best_val_loss),
            best["val_accuracy"] if best else None,
            time.monotonic() - trainer.t0,
            trainer.history,
        )
    except KeyboardInterrupt:
        trainer.set_status(
            "stopped",
            stage=trainer.state.get("stage"),
            message=f"stopped with Ctrl+C; continue with: landgui train --resume {run}",
        )
        raise
    except BaseException as exc:
        logs.error_seen(f"training {run} failed: {type(exc).__name__}: {exc}", exc)
        with contextlib.suppress(LandguiError):  # a full disk may refuse even this small file
            trainer.set_status("failed", message=str(exc)[:300] or type(exc).__name__)
        raise
