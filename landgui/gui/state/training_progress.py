"""Where a training run is, over the whole run: :class:`TrainingProgress` (no Qt).

The trainer reports per stage (``head`` epoch 3 of 15, batch 6 of 6, the stage's ETA); the run
has one or two stages (:func:`landgui.core.runs.listing.planned_stages`: ``train``, or ``head``
then ``fine-tune``). The Training tab's bar and ETA cover the whole run: the bar counts the epochs
of every stage (``fine-tune epoch 3/40`` is 18 of 55 epochs of a 15 + 40 run, not a full bar),
and during the head stage the ETA adds the fine-tune stage still to come.

A fine-tune epoch has not been timed while the head trains on precomputed features, so it is
estimated from the one pass of the backbone that has been timed, the ``features train`` step
(every training image through the backbone once): a training step costs about three forward
passes (the forward pass, and a backward pass of about two), validation one. A head trained on
images (no fast path) lends its own epoch time instead. The ETA reads ``~`` while it holds an
estimate, ``?`` before anything was timed; once the fine-tune stage runs, its measured rate is used.

After the last epoch the run is not done: a run whose fine-tuned model was kept measures its
training and validation images again for the familiarity file, and a completed run is exported
for fast mapping (LiteRT). That is :attr:`TrainingProgress.finishing`, by name (with its own
``step`` where it reports one); the bar never reads 100 % before the job has ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from landgui.core.base.progress import format_seconds

BAR_STEPS = 1000  # bar units per epoch: a batch moves the bar by a visible step
TRAIN_STEP_PASSES = 3  # a training step costs about this many forward passes (forward + backward)
FAMILIARITY_PASSES = {  # backbone passes after the last epoch: the familiarity file's references
    "features train": "measuring the training images for the familiarity file",
    "features val": "measuring the validation images for the familiarity file",
}
FAMILIARITY_BUILD = "building the familiarity file"  # after its last pass, before anything else reports
AFTER_LAST_EPOCH = "the run's last steps"  # every planned epoch done, nothing reported since


class TrainingProgress:
    """The run's progress from the trainer's records (``prepare``, ``batch``, ``epoch``).

    ``stages`` are the run's planned ``(stage, epochs)``. Read ``maximum``, ``value`` and
    ``text()`` after each :meth:`add`; ``clock`` is a monotonic clock (tests give their own)."""

    def __init__(self, stages: tuple[tuple[str, int], ...], clock: Callable[[], float] = time.monotonic) -> None:
        self.stages = tuple((name, max(int(n), 0)) for name, n in stages) or (("train", 1),)
        self.clock = clock
        self.value = 0
        self.epoch_seconds: dict[str, list[float]] = {}
        self._passes: dict[str, tuple[float, int, float, int, int]] = {}  # stage: t0, n0, t, n, total
        self._last: dict | None = None  # the last batch record
        self._prepare: dict | None = None  # the last prepare record, while it is the newest
        self._epochs_done = False  # every planned epoch recorded

    @property
    def maximum(self) -> int:
        """The bar's maximum: every planned epoch."""
        return max(sum(n for _, n in self.stages), 1) * BAR_STEPS

    @property
    def finishing(self) -> str | None:
        """The step running after the training (a preparation step reported after the first
        batch, or the wait after the last planned epoch), by name; None while epochs run."""
        p = self._prepare
        if p is not None and self.started:
            if p["stage"] in FAMILIARITY_PASSES:
                return FAMILIARITY_BUILD if p["done"] >= p["total"] else FAMILIARITY_PASSES[p["stage"]]
            return p["stage"]
        return AFTER_LAST_EPOCH if self._epochs_done else None

    @property
    def step(self) -> tuple[int, int] | None:
        """The finishing step's ``(done, total)`` while it counts something; None: a busy wait."""
        p = self._prepare
        if self.finishing is None or p is None or p["stage"] not in FAMILIARITY_PASSES or p["done"] >= p["total"]:
            return None
        return p["done"], p["total"]

    @property
    def started(self) -> bool:
        """True once the first batch was reported (before it the bar shows the preparation)."""
        return self._last is not None

    def _index(self, stage: str) -> int:
        names = [name for name, _ in self.stages]
        return names.index(stage) if stage in names else len(names) - 1

    def _before(self, stage: str) -> int:
        """Epochs of the stages before ``stage``."""
        return sum(n for _, n in self.stages[: self._index(stage)])

    def add(self, rec: dict) -> None:
        """Take one record of the trainer (other kinds are ignored)."""
        kind = rec.get("kind")
        if kind == "prepare":
            self._time_pass(rec["stage"], rec["done"], rec["total"])
            self._prepare = rec
        elif kind == "batch":
            self._prepare = None
            self._last = rec
            batches = max(rec.get("batches") or rec["batch"], 1)
            epochs = self._before(rec["stage"]) + rec["epoch"] - 1 + min(rec["batch"] / batches, 1.0)
            self.value = max(self.value, min(int(epochs * BAR_STEPS), self.maximum - 1))
        elif kind == "epoch":
            h = rec["record"]
            self.epoch_seconds.setdefault(h.get("stage", rec.get("stage", "")), []).append(h.get("seconds") or 0.0)
            done = self._before(rec["stage"]) + rec["epoch"]
            self.value = max(self.value, min(done * BAR_STEPS, self.maximum - 1))  # 100 %: the job's end
            self._epochs_done = self._epochs_done or done * BAR_STEPS >= self.maximum

    def _time_pass(self, stage: str, done: int, total: int) -> None:
        """Time a pass over images (the first report starts the clock: it follows the first batch,
        whose time holds the function's tracing, so that batch is left out)."""
        now = self.clock()
        if stage not in self._passes:
            self._passes[stage] = (now, done, now, done, total)
        else:
            t0, n0, _, _, _ = self._passes[stage]
            self._passes[stage] = (t0, n0, now, done, total)

    def seconds_per_image(self) -> float | None:
        """The backbone's forward time per image, from the timed ``features train`` pass."""
        p = self._passes.get("features train")
        if p is None or p[3] <= p[1] or p[2] <= p[0]:
            return None
        return (p[2] - p[0]) / (p[3] - p[1])

    def stage_epoch_estimate(self, stage: str) -> float | None:
        """Seconds one epoch of a stage that has not run yet is expected to take: its own epochs'
        mean when it ran before (a resumed run), else for ``fine-tune`` the estimate from the
        timed backbone pass (see the module doc), else None."""
        timed = self.epoch_seconds.get(stage)
        if timed:
            return sum(timed) / len(timed)
        if stage != "fine-tune":
            return None
        per_image = self.seconds_per_image()
        if per_image is not None:
            n_train = self._passes["features train"][4]
            n_val = self._passes.get("features val", (0, 0, 0, 0, 0))[4]
            return per_image * (TRAIN_STEP_PASSES * n_train + n_val)
        head = self.epoch_seconds.get("head")  # a head trained on images: a fine-tune epoch takes longer
        return sum(head) / len(head) if head else None

    def eta(self) -> tuple[float, bool] | None:
        """Seconds left in the whole run and whether that includes an estimate; None while unknown."""
        rec = self._last
        if rec is None:
            return None
        left, estimated = float(rec.get("eta") or 0.0), False
        for stage, epochs in self.stages[self._index(rec["stage"]) + 1 :]:
            per_epoch = self.stage_epoch_estimate(stage)
            if per_epoch is None:
                return None
            left += epochs * per_epoch
            estimated = True
        return left, estimated

    def text(self) -> str:
        """The bar's text: the stage's epoch and batch, the loss, the run's share (``%p``, Qt fills
        it in) and its ETA; after the training, ``finishing:`` and the step (:attr:`finishing`)."""
        rec = self._last
        if rec is None:
            return ""
        if self.finishing is not None:
            step = self.step
            return f"finishing: {self.finishing}" + (f" {step[0]}/{step[1]} %p%" if step else "…")
        eta = self.eta()
        eta_text = "ETA ?" if eta is None else f"ETA {'~' if eta[1] else ''}{format_seconds(eta[0])}"
        total = rec.get("batches") or rec["batch"]
        loss = (rec.get("metrics") or {}).get("loss", 0.0)
        return (
            f"{rec['stage']} epoch {rec['epoch']}/{rec['epochs']}, batch {rec['batch']}/{total}  "
            f"loss {loss:.3f}  run %p%  {eta_text}"
        )
