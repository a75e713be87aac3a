"""One QThread per long job, wrapping a core function's progress callback and stop flag, and the
registry of every job the window runs (:class:`JobRegistry`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QWidget

from landgui.core.base.jobs import CANCELLED, DONE, FAILED, Outcome, child_main, run_job
from landgui.core.base.types import ProgressFn, RecordFn
from landgui.gui.state.app_state import AppState
from landgui.gui.widgets.common import show_error


def lower_thread_priority(nice: int = 10) -> None:
    """Let the GUI thread win the CPU over the calling worker thread (and the threads it starts,
    such as LiteRT's), as ``landgui.core.base.jobs`` does for a child process. Linux keeps a nice
    value per thread; elsewhere this does nothing."""
    import os
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
        except OSError:
            pass


class _CyclicGcPause:
    """The collector of reference cycles is paused while any job thread runs, and resumed (and
    run) when the last one ends. Why: once, in the test suite, a collection on the GUI thread
    (finalizers of an earlier test's Keras objects) crashed the process while a job thread was
    tracing a TensorFlow function; TensorFlow's function registry is not safe against that.
    Reference counting still frees everything else at once, so memory grows only by cyclic
    garbage, for the length of a job."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._jobs = 0
        self._paused = False

    def __enter__(self) -> None:
        import gc

        with self._lock:
            self._jobs += 1
            if self._jobs == 1 and gc.isenabled():
                gc.disable()
                self._paused = True

    def __exit__(self, *exc: Any) -> None:
        import gc

        with self._lock:
            self._jobs -= 1
            if self._jobs == 0 and self._paused:
                self._paused = False
                gc.enable()


gc_pause = _CyclicGcPause()


class JobWorker(QThread):
    """Runs ``fn(progress=..., should_stop=...)`` off the GUI thread.

    Signals: ``progress(stage, done, total)`` (the core's one progress signature), ``record(dict)``
    (a job started with ``records=True`` also gets ``on_record``: training's per-batch and
    per-epoch records), ``finished_ok(result)``, ``failed(message, details)``, ``cancelled()``.
    How the job ended is decided by :func:`landgui.core.base.jobs.run_job`, the classifier the
    child process uses too. ``requestInterruption()`` sets the stop flag the core checks.
    """

    progress = Signal(str, int, int)
    record = Signal(dict)
    finished_ok = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    kind = ""  # set by JobRegistry.start: the kind of job (one of a kind runs at a time)
    label = ""  # what the job does, in a few words ("classify", "training gui-run")
    owner: QObject | None = None
    ended = False  # its outcome has reached the GUI thread
    records = False  # the job takes on_record (set by JobRegistry.start when given record=)

    def __init__(self, fn: Callable[..., Any], parent=None) -> None:
        super().__init__(parent)
        self._fn = fn

    def run(self) -> None:  # noqa: D401 - Qt override
        lower_thread_priority()
        callbacks: dict[str, Any] = {"progress": self._emit_progress, "should_stop": self.isInterruptionRequested}
        if self.records:
            callbacks["on_record"] = self.record.emit
        with gc_pause:
            outcome = run_job(self._fn, **callbacks)
        self._deliver(outcome)

    def _emit_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.emit(stage, int(done), int(total))

    def _deliver(self, outcome: Outcome) -> None:
        """Emit the signal of how the job ended."""
        if outcome.status == DONE:
            self.finished_ok.emit(outcome.result)
        elif outcome.status == CANCELLED:
            self.cancelled.emit()
        else:
            self.failed.emit(outcome.message, outcome.details)


class ProcessJobWorker(JobWorker):
    """Like :class:`JobWorker`, but the job runs in a child process (``landgui.core.base.jobs``).

    ``target`` is ``"module:function"``; the function is called with ``kwargs`` plus
    ``progress`` and ``should_stop`` (and ``on_record`` for a job started with ``record=``).
    Its result must be picklable.
    """

    def __init__(self, target: str, kwargs: dict, parent=None) -> None:
        super().__init__(lambda **_: None, parent)
        self._target, self._kwargs = target, kwargs

    def run(self) -> None:  # noqa: D401 - Qt override
        import multiprocessing as mp
        import queue as queue_mod

        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        stop = ctx.Event()
        proc = ctx.Process(target=child_main, args=(self._target, self._kwargs, q, stop, self.records), daemon=True)
        proc.start()
        outcome = None
        while outcome is None:
            if self.isInterruptionRequested():
                stop.set()
            try:
                msg = q.get(timeout=0.05)
            except queue_mod.Empty:
                if not proc.is_alive():
                    try:  # its last words may have arrived just as it ended: never lose them
                        msg = q.get(timeout=1.0)
                    except queue_mod.Empty:
                        outcome = Outcome(
                            FAILED, message=f"the job's process ended unexpectedly (exit code {proc.exitcode})"
                        )
                        continue
                else:
                    continue
            if msg[0] == "progress":
                self._emit_progress(*msg[1])
            elif msg[0] == "record":
                self.record.emit(msg[1])
            else:
                outcome = msg[1]
        proc.join(timeout=30)
        self._deliver(outcome)


class TabJobs:
    """What every tab that starts jobs through the window's registry shares (mixed into the tab
    before QWidget): its last job and the runs folder of the application state."""

    jobs: JobRegistry
    state: Any

    @property
    def worker(self) -> JobWorker | None:
        """The last job this tab started (running or not)."""
        return self.jobs.last(self)  # type: ignore[arg-type]

    @property
    def runs_dir(self) -> str:
        return self.state.runs_dir

    def follow_state(self) -> None:
        """Fill the tab's Run box and keep it, and its buttons, in step with the application state
        and the registry (a tab with ``run_combo``, ``refresh_runs``, ``_follow_run`` and
        ``_sync_buttons``)."""
        tab: Any = self
        tab.refresh_runs()
        tab.run_combo.currentIndexChanged.connect(lambda _: self.state.set_run(tab.run_combo.currentData()))
        self.state.runs_changed.connect(tab.refresh_runs)
        self.state.run_changed.connect(tab._follow_run)
        self.jobs.changed.connect(tab._sync_buttons)
        tab._sync_buttons()


class JobTab(TabJobs, QWidget):
    """A tab that runs jobs: it follows the window's application state and starts its jobs
    through the window's registry (a tab made on its own, as in a test, gets its own of each)."""

    def __init__(
        self, state: AppState | None = None, jobs: JobRegistry | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state or AppState(str(Path.home() / "landgui-runs"), parent=self)
        self.jobs = jobs or JobRegistry(self)


class JobRegistry(QObject):
    """Every job the window runs: registered when started, removed when it ends.

    ``start(owner, kind, job, on_done=..., ...)`` wires a core job (``job(progress, should_stop)``,
    or a ready :class:`JobWorker` such as a :class:`ProcessJobWorker`) to a worker and starts it,
    like superqt/napari's ``create_worker(..., _connect=...)``. Jobs of one ``kind`` run one at a
    time: a second is refused (``start`` returns None, ``refused`` says why) and the tabs disable
    their buttons while ``busy(kind)`` (``changed`` is emitted whenever a job starts or ends).
    ``cancel`` stops the jobs of a kind (or all); ``wait_all`` awaits them with a timeout.

    A job counts as running until its thread has finished or its outcome (``finished_ok``,
    ``failed`` or ``cancelled``) is delivered on the GUI thread, whichever comes first: the
    registry's own slot runs before the caller's callbacks, so a callback may start the next job
    of the same kind (fine-tune, then re-map). It stays registered (``alive``) until its thread
    has finished.
    """

    changed = Signal()
    refused = Signal(str)  # a one-line reason: a job of this kind is already running

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._alive: list[JobWorker] = []  # started, thread not yet finished
        self._last: dict[int, JobWorker] = {}  # id(owner) -> the last job it started

    def start(
        self,
        owner: QObject | None,
        kind: str,
        job: Callable[..., Any] | JobWorker,
        *,
        label: str = "",
        on_done: Callable[[Any], Any] | None = None,
        on_failed: Callable[[str, str], Any] | None = None,
        on_cancelled: Callable[[], Any] | None = None,
        progress: ProgressFn | None = None,
        record: RecordFn | None = None,
    ) -> JobWorker | None:
        """Start ``job`` as a ``kind`` job of ``owner``; None (and ``refused``) if one is running.

        Without ``on_failed`` a failure is shown as an error dialog: no error is swallowed."""
        label = label or kind
        busy = self.running(kind)
        if busy:
            self.refused.emit(f"{label} not started: {busy[0].label} is still running (wait for it or cancel it)")
            return None
        worker = job if isinstance(job, JobWorker) else JobWorker(job, owner or self)
        worker.kind, worker.label, worker.owner = kind, label, owner
        worker.records = record is not None
        # the registry's slots first: the job has ended when the caller's callbacks run
        worker.finished_ok.connect(lambda _result: self._ended(worker))
        worker.failed.connect(lambda _message, _details: self._ended(worker))
        worker.cancelled.connect(lambda: self._ended(worker))
        worker.finished.connect(lambda: self._thread_finished(worker))
        if progress is not None:
            worker.progress.connect(progress)
        if record is not None:
            worker.record.connect(record)
        if on_done is not None:
            worker.finished_ok.connect(on_done)
        if on_cancelled is not None:
            worker.cancelled.connect(on_cancelled)
        if on_failed is None:
            parent = owner if isinstance(owner, QWidget) else None
            worker.failed.connect(lambda message, details: show_error(parent, f"{label} failed", message, details))
        else:
            worker.failed.connect(on_failed)
        self._alive.append(worker)
        if owner is not None:
            self._last[id(owner)] = worker
        worker.start()
        self.changed.emit()
        return worker

    def running(self, kind: str | None = None, owner: QObject | None = None) -> list[JobWorker]:
        """Jobs still at work (of one kind or owner): their thread runs and their outcome has
        not reached the GUI thread."""
        return [
            w
            for w in self._alive
            if not (w.ended or w.isFinished())
            and (kind is None or w.kind == kind)
            and (owner is None or w.owner is owner)
        ]

    def busy(self, kind: str) -> bool:
        return bool(self.running(kind))

    def alive(self) -> list[JobWorker]:
        """Every registered job whose thread has not finished (running or just ending)."""
        return [w for w in self._alive if not w.isFinished()]

    def last(self, owner: QObject) -> JobWorker | None:
        """The last job ``owner`` started, running or not (None if it never started one)."""
        return self._last.get(id(owner))

    def cancel(self, kind: str | None = None, owner: QObject | None = None) -> list[JobWorker]:
        """Ask the running jobs of ``kind`` (and/or ``owner``; all if neither) to stop; they end
        with ``cancelled`` (or with their result, if they were about to finish)."""
        jobs = self.running(kind, owner)
        for w in jobs:
            w.requestInterruption()
        return jobs

    def wait_all(self, timeout_s: float) -> list[JobWorker]:
        """Block up to ``timeout_s`` in all for every job's thread to finish; the ones still
        running after that are returned."""
        deadline = time.monotonic() + timeout_s
        for w in self.alive():
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            w.wait(left_ms)
        return self.alive()

    def _ended(self, worker: JobWorker) -> None:
        if not worker.ended:
            worker.ended = True
            self.changed.emit()

    def _thread_finished(self, worker: JobWorker) -> None:
        if worker in self._alive:
            self._alive.remove(worker)
            worker.ended = True  # also a thread that ended without an outcome
            self.changed.emit()
