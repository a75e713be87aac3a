"""What a run's files say about it, read once: :class:`RunSummary`, and the runs of a runs folder.

Every figure the app, the CLI and the API show about a run (its status, the epochs done and
planned, the validation accuracy of the epoch whose model was kept, its evaluations) comes from
one :meth:`RunSummary.read` of its :class:`~landgui.core.runs.folder.RunFolder`, so two views
of a run can never disagree. Which reading to use, by what is needed:

=========================  ====================  =============================================
``read_run(dir)``          ``RunMeta``           check a run for use: labels, config, size
``load_run(dir)``          ``LoadedRun``         that, and its Keras model (models.build)
``RunSummary.read(dir)``   :class:`RunSummary`   what lists, comparisons and reports show
``list_runs(dir)``         ``[RunSummary]``      every run of a runs folder, newest first
=========================  ====================  =============================================

No TensorFlow here, and nothing is checked: a damaged or unfinished run still has a summary
(or None when the folder holds no run at all).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from landgui.core.params import ModelSpec
from landgui.core.runs.folder import RunFolder, is_fraction

RESUMABLE = ("stopped", "interrupted", "failed")
TAUGHT_STAGE = "fine-tune on corrections"  # the stage of a run fine-tuned on corrections


def status_text(status: str) -> str:
    """How a status reads in lists: a stopped or interrupted run says it can be resumed."""
    return {"interrupted": "interrupted (resumable)", "stopped": "stopped (resumable)"}.get(status, status)


def _fraction(record: object, key: str) -> float | None:
    """``record[key]`` when the record is a dict and that is a fraction, else None: a hand-edited
    evaluation shows no figure rather than a string or "None"."""
    value = record.get(key) if isinstance(record, dict) else None
    return float(value) if isinstance(value, (int, float)) and is_fraction(value) else None


def _fractions(per_source: object) -> dict[str, float]:
    """The accuracy of each source of ``per_source`` that has a valid one."""
    items = per_source.items() if isinstance(per_source, dict) else ()
    return {n: a for n, s in items if (a := _fraction(s, "accuracy")) is not None}


def val_name(validated_on: str) -> str:
    """What a run's "val accuracy" measured: ``val accuracy``, or for a split without validation
    images ``accuracy on the training images (no validation split)`` (issue 23, item 12)."""
    return "accuracy on the training images (no validation split)" if validated_on == "train" else "val accuracy"


def kept_epoch(history: list[dict]) -> dict | None:
    """The epoch record whose weights the run's model holds: the lowest ``val_loss`` (the first of
    equals), as the trainer keeps it; None before any epoch with a validation loss."""
    return min((h for h in history if h.get("val_loss") is not None), key=lambda h: h["val_loss"], default=None)


def planned_stages(config: dict) -> tuple[tuple[str, int], ...]:
    """The stages a run's parameters plan, as ``(stage, epochs)`` in order: ``train`` (scratch),
    ``head`` then ``fine-tune`` (transfer), or the one stage of a run fine-tuned on corrections."""
    taught = config.get("finetune")
    if isinstance(taught, dict):
        return ((TAUGHT_STAGE, int(taught.get("epochs") or 0)),)
    params, model = config.get("params") or {}, config.get("model") or {}
    epochs = int(params.get("epochs") or 0)
    if model.get("model") != "transfer":
        return (("train", epochs),)
    fine = int(params.get("fine_tune_epochs") or 0)
    if fine > 0 and int(model.get("fine_tune_layers", ModelSpec.fine_tune_layers)) > 0:
        return (("head", epochs), ("fine-tune", fine))
    return (("head", epochs),)


@dataclass(frozen=True)
class RunSummary:
    """One reading of a run folder: the row of the app's run lists and of ``landgui compare``.

    ``epochs`` counts the epochs done (history.json), ``stages`` the epochs planned per stage
    (config.json); ``best_val_accuracy`` is the validation accuracy of ``kept_epoch``, the epoch
    whose weights model.keras holds (the lowest validation loss): the figure the training reports
    when it ends, never a higher one of an epoch that was not kept."""

    name: str
    path: str
    status: str
    model: str
    backbone: str
    image_size: int
    epochs: int
    stages: tuple[tuple[str, int], ...]
    train_seconds: float
    kept_epoch: int | None
    best_val_accuracy: float | None
    test_accuracy: float | None
    macro_f1: float | None
    has_model: bool
    data_accuracy: dict[str, float] = field(default_factory=dict)
    source_accuracy: dict[str, float] = field(default_factory=dict)
    hold_out_source: str | None = None
    held_out_accuracy: float | None = None
    created: str = ""
    parent: str | None = None  # the run it was fine-tuned from, for a run taught on corrections
    corrections: int = 0  # how many corrections taught it
    # evaluations of another model than the run's model.keras now (left out of every figure above)
    stale_evaluations: list[str] = field(default_factory=list)
    # "train" when the split had no validation images: best_val_accuracy is on the training images
    validated_on: str = "val"

    @classmethod
    def read(cls, run: str | Path | RunFolder) -> RunSummary | None:
        """Read a run folder once; None when it holds no run (no readable config.json)."""
        folder = run if isinstance(run, RunFolder) else RunFolder(run)
        cfg = folder.config()
        if cfg is None or not isinstance(cfg.get("model"), dict):
            return None
        hist = folder.history()
        kept = kept_epoch(hist)
        ev = folder.evaluation("test") or {}
        m = cfg["model"]
        held = (cfg.get("params") or {}).get("hold_out_source")
        held_ev = (folder.evaluation(f"{RunFolder.HOLDOUT_PREFIX}{held}") or {}) if held else {}
        taught: dict = cfg["finetune"] if isinstance(cfg.get("finetune"), dict) else {}
        return cls(
            name=folder.name,
            path=str(folder.path),
            status=folder.status(),
            model=m.get("model", "?"),
            backbone=m.get("backbone", "-") if m.get("model") == "transfer" else "-",
            image_size=m.get("image_size", 0),
            epochs=len(hist),
            stages=planned_stages(cfg),
            train_seconds=round(sum(h.get("seconds") or 0 for h in hist), 1),
            kept_epoch=kept.get("epoch") if kept else None,
            best_val_accuracy=kept.get("val_accuracy") if kept else None,
            test_accuracy=ev.get("accuracy"),
            macro_f1=_fraction(ev.get("macro_avg"), "f1"),
            has_model=folder.has_model,
            data_accuracy=folder.data_evaluations(),
            # with several sources: the test accuracy per source, and the accuracy on every image
            # of the source held out in training (evaluation-holdout-NAME.json)
            source_accuracy=_fractions(ev.get("per_source")),
            hold_out_source=held,
            held_out_accuracy=held_ev.get("accuracy"),
            created=cfg.get("created", ""),
            parent=cfg.get("parent") if taught else None,
            corrections=sum((taught.get("counts") or {}).values()),
            stale_evaluations=folder.stale_evaluations(),
            validated_on="train" if cfg.get("validated_on") == "train" else "val",
        )

    # -- derived -----------------------------------------------------------------------------------
    @property
    def status_text(self) -> str:
        """The status as lists show it (a stopped run says it can be resumed)."""
        return status_text(self.status)

    @property
    def resumable(self) -> bool:
        """True when the run can be continued (stopped, interrupted or failed)."""
        return self.status in RESUMABLE

    @property
    def taught(self) -> bool:
        """True for a run fine-tuned on corrections (its history has losses, no accuracies)."""
        return self.parent is not None or any(stage == TAUGHT_STAGE for stage, _ in self.stages)

    @property
    def planned_epochs(self) -> int:
        """The epochs of every planned stage together."""
        return sum(n for _, n in self.stages)

    def epochs_text(self) -> str:
        """``12 epochs``; ``18 of 55 epochs`` for a run that has not completed; for a run taught
        on corrections ``taught on 7 corrections (40 head epochs)``."""
        if self.taught:
            return f"taught on {self.corrections} corrections ({self.epochs} head epochs)"
        if self.status != "completed" and self.planned_epochs > self.epochs:
            return f"{self.epochs} of {self.planned_epochs} epochs"
        return f"{self.epochs} epochs"

    def val_text(self, digits: int = 3) -> str:
        """``kept: epoch 7, val accuracy 0.556``: the kept epoch's (lowest val loss, not always the
        highest accuracy); else why there is none."""
        if self.best_val_accuracy is not None:
            return f"kept: epoch {self.kept_epoch}, {val_name(self.validated_on)} {self.best_val_accuracy:.{digits}f}"
        if self.taught:
            return "no validation (taught on corrections)"
        return "no val accuracy yet" if self.epochs == 0 else "no val accuracy"

    def line(self) -> str:
        """The run's line in the Training tab's list of runs."""
        held = ""
        if self.held_out_accuracy is not None:
            held = f", held-out {self.hold_out_source} {self.held_out_accuracy:.3f}"
        return (
            f"{self.name}  [{self.status_text}]  {self.model} {self.backbone} {self.image_size}px, "
            f"{self.epochs_text()}, {self.val_text()}{held}"
        )

    def named(self, name: str) -> RunSummary:
        """The same summary under another name (e.g. the shipped model's in a comparison)."""
        return replace(self, name=name)

    def to_dict(self) -> dict:
        """The summary as a plain dict (``landgui compare --json`` and the API)."""
        out = asdict(self)
        out["stages"] = [list(s) for s in self.stages]
        out["status_text"] = self.status_text
        return out


def list_runs(runs_dir: str | Path) -> list[RunSummary]:
    """Every run folder directly inside ``runs_dir``, newest first."""
    d = Path(runs_dir)
    if not d.is_dir():
        return []
    found = [s for p in d.iterdir() if p.is_dir() and (s := RunSummary.read(p)) is not None]
    return sorted(found, key=lambda s: s.created, reverse=True)


def run_info(run: str | Path) -> dict | None:
    """A run's summary as a dict (:meth:`RunSummary.to_dict`), or None when the folder holds no
    run. Kept for the CLI's ``compare``; new code reads :meth:`RunSummary.read`."""
    summary = RunSummary.read(run)
    return summary.to_dict() if summary is not None else None
