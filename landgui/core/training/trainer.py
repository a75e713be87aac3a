"""Training a run: the job that composes the rooms of :mod:`landgui.core.training`.

Run folder (``RUN_DIR``)::

    config.json   everything to reproduce the run (versions, split path and hash, model, params)
    labels.json   class names in output order
    status.json   {"status": "running|stopped|completed|failed", "stage", "epochs_done", ...}
    history.json  one record per epoch: stage, epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds
    model.keras   the best model so far by val_loss (always loadable)
    checkpoint/   last completed epoch (model + optimizer state) for --resume, and the best weights
    logs/         TensorBoard event files

:func:`train` checks everything it can before writing anything (the parameters, the split, the
devices, the output folder: :mod:`~landgui.core.training.rundir`), writes config.json and starts;
:func:`resume` continues a stopped or killed run from its last completed epoch. Both run the same
job: the data (:func:`~landgui.core.training.recipes.load_data`), the recipe
(:mod:`~landgui.core.training.recipes`: ``scratch``, or ``transfer`` with its fast path), epochs
recorded and checkpointed by :mod:`~landgui.core.training.callbacks` and
:mod:`~landgui.core.training.checkpoints`, on the devices of :mod:`~landgui.core.training.devices`
(config.json and status.json name them and the strategy), then the model converted for fast
mapping (LiteRT) and the final status. Progress records: :mod:`~landgui.core.training.session`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from landgui.core.base import logs
from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.base.outdir import folder_lock
from landgui.core.base.types import RecordFn, StopFn
from landgui.core.data import images as D
from landgui.core.data.integrity import check_unchanged
from landgui.core.data.split import SPLITS, load_split, source_names, split_hash
from landgui.core.inference import engine
from landgui.core.params import ModelSpec, TrainParams, parse_devices
from landgui.core.runs.folder import RUN_SCHEMA_VERSION, RunFolder
from landgui.core.runs.listing import val_name
from landgui.core.runs.palette import run_palette
from landgui.core.training.checkpoints import check_checkpoint, finite
from landgui.core.training.devices import DevicePlan, plan_devices
from landgui.core.training.recipes import load_data, train_scratch, train_transfer
from landgui.core.training.rundir import new_run_config, prepare_run_dir
from landgui.core.training.session import TrainingSession


@dataclass
class TrainResult:
    """How a training job ended: ``status`` "completed" or "stopped", epochs and best figures."""

    run_dir: str
    status: str
    epochs_done: int
    best_val_loss: float | None
    best_val_accuracy: float | None
    seconds: float
    history: list[dict] = field(default_factory=list)
    validated_on: str = "val"  # "train": the split has no validation images (see new_run_config)

    @property
    def val_name(self) -> str:
        """What ``best_val_accuracy`` was measured on, in words (issue 23, item 12)."""
        return val_name(self.validated_on)


def _result(s: TrainingSession, status: str) -> TrainResult:
    best = s.record.best_epoch()
    return TrainResult(
        str(s.run),
        status,
        len(s.record.history),
        finite(s.record.best_val_loss),
        best["val_accuracy"] if best else None,
        s.elapsed(),
        s.record.history,
        s.config.get("validated_on", "val"),
    )


def _export_litert(s: TrainingSession) -> str | None:
    """Convert the saved model for the fast engine now (else it happens on first use). A failure
    is reported in status.json, not fatal: mapping falls back to converting later."""
    if not engine.litert_available():
        return None
    s.status.set("running", stage="exporting the model for fast mapping (LiteRT)")
    s.stage_progress("exporting the model for fast mapping (LiteRT)", 0, 1)  # the GUI names this step
    try:
        engine.litert_file(s.run)
    except LandguiError as exc:
        return str(exc)
    try:  # the guarded bfloat16 model, where auto could use it (landgui.core.inference.guard)
        engine.guard_fast_model(s.run, s.stage_progress)
    except LandguiError as exc:
        return str(exc)
    return None


def run_session(s: TrainingSession) -> TrainResult:
    """Train (or continue training) the session's run to its end, or until stopped."""
    import keras

    if s.plan.note:
        s.note(s.plan.note)
    s.strategy = s.plan.create()
    keras.utils.set_random_seed(s.params.seed + len(s.record.history))
    data = load_data(s)
    with s.scope():  # every model, optimizer and fit of every stage lives under the strategy
        final = train_scratch(s, data) if s.spec.model == "scratch" else train_transfer(s, data)
    if not (s.run / "model.keras").exists():
        s.record.save_model(final)  # stopped before any epoch completed: still loadable
    status = "stopped" if s.stopped else "completed"
    litert_error = _export_litert(s) if status == "completed" and s.params.export_litert else None
    best = s.record.best_epoch()
    s.status.set(
        status,
        stage="done" if status == "completed" else s.record.state.get("stage"),
        best_val_accuracy=best["val_accuracy"] if best else None,
        **({"litert_error": litert_error} if litert_error else {}),
    )
    s.folder.write_history(s.record.history)
    return _result(s, status)


def train(
    split_path: str | Path,
    run_dir: str | Path,
    spec: ModelSpec,
    params: TrainParams,
    *,
    overwrite: bool = False,
    progress: RecordFn | None = None,
    should_stop: StopFn | None = None,
) -> TrainResult:
    """Train a new run on ``params.devices``. Raises LandguiError for unusable input, too many
    devices included, before anything is written."""
    params.check()
    manifest = load_split(split_path)
    check_unchanged(manifest, SPLITS)  # the test images too: the run is evaluated on them
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
    # one writer: a second `train --overwrite` or `--resume` of this folder is refused while this runs
    with folder_lock(run):
        prepare_run_dir(run, overwrite)
        config = {**new_run_config(split_path, spec, params), "devices": plan.devices, "strategy": plan.strategy}
        # without validation images the epochs are selected on the training images: said in the
        # config, every history record, the CLI's last line and the app (RunSummary.val_text)
        config["validated_on"] = "val" if val_files.paths else "train"
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
    progress: RecordFn | None = None,
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
    with folder_lock(run):  # one writer at a time (see train)
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
        check_unchanged(manifest, SPLITS)  # the test images too: the run is evaluated on them
        check_checkpoint(folder)
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
    run: Path, config: dict, progress: RecordFn | None, should_stop: StopFn | None, plan: DevicePlan
) -> TrainResult:
    with logs.run_log(run):
        logs.log.info(
            "training %s (%s epochs done before) on %s (%s)",
            run,
            len(RunFolder(run).history()),
            ", ".join(plan.devices),
            plan.strategy or "no distribution strategy",
        )
        result = _execute_logged(TrainingSession(run, config, progress, should_stop, plan))
        logs.log.info("training %s: %s after %s epochs", run, result.status, result.epochs_done)
        return result


def _execute_logged(s: TrainingSession) -> TrainResult:
    """The job, with its outcome in status.json however it ends (stopped, Ctrl+C, failed)."""
    try:
        return run_session(s)
    except Cancelled:
        if not (s.run / "model.keras").exists():
            s.status.set("stopped", stage="preparing", message="stopped before training started; no model yet")
            raise
        s.status.set("stopped", stage=s.record.state.get("stage"))
        return _result(s, "stopped")
    except KeyboardInterrupt:
        s.status.set(
            "stopped",
            stage=s.record.state.get("stage"),
            message=f"stopped with Ctrl+C; continue with: landgui train --resume {s.run}",
        )
        raise
    except BaseException as exc:
        logs.error_seen(f"training {s.run} failed: {type(exc).__name__}: {exc}", exc)
        with contextlib.suppress(LandguiError):  # a full disk may refuse even this small file
            s.status.set("failed", message=str(exc)[:300] or type(exc).__name__)
        raise
