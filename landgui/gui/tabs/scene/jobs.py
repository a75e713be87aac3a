"""The Scene tab's jobs, one at a time through the window's job registry: open scenes (their
overviews), classify (:func:`landgui.core.services.map_scene`), fine-tune on corrections and
re-map, export (:func:`landgui.core.services.export_map`). Each job reads the state when it
starts and hands its outcome back to the state on the GUI thread; the widgets follow the state.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog

from landgui.core import services
from landgui.core.base.errors import LandguiError
from landgui.core.base.logs import error_seen
from landgui.core.runs.folder import read_run
from landgui.core.runs.palette import run_palette
from landgui.core.scenes.facts import plain_facts, scene_facts
from landgui.core.scenes.io import Reading, demo_scene_path, open_scene
from landgui.core.scenes.pipeline import reclassify_with_head
from landgui.core.scenes.result import code_colours
from landgui.core.scenes.writers import skipped_without_crs
from landgui.core.training.finetune import fit_head, plan_finetune, save_finetuned
from landgui.gui.jobs import JobWorker
from landgui.gui.state.scene_session import SceneImage
from landgui.gui.widgets.common import choose_output_folder, last_dir, remember_dir, show_error

if TYPE_CHECKING:
    from landgui.gui.tabs.scene.tab import SceneTab

SCENE_JOB = "scene"  # the Scene tab's jobs (open, classify, fine-tune, export) run one at a time
SCENE_FILTER = "Scenes (*.jpg *.jpeg *.png *.tif *.tiff *.bmp *.webp);;All files (*)"
OVERVIEW_MAX_SIDE = 4096


def read_overviews(paths: list[str], progress) -> tuple[list[SceneImage], list[tuple[str, str]]]:
    """Open each scene and read its overview: ``(images, [(path, reason), ...])``. A scene that
    cannot be opened is logged (landgui.log) with its reason, and the others are still read."""
    images, errors = [], []
    for i, p in enumerate(paths):
        try:
            facts = scene_facts(p)  # its own figures, shown beside the model's
            # a file that does not say which bands are red, green, blue is shown grey (band 1)
            # until the user chooses them (the sensor panel): never a guessed colour order
            sc = open_scene(p, None if facts is None or facts.auto_bands else Reading(bands=(1,)))
            try:
                facts = facts or plain_facts(sc.width, sc.height)  # not a GDAL raster: a picture
                images.append(SceneImage(p, sc.width, sc.height, sc.overview(OVERVIEW_MAX_SIDE), facts))
            finally:
                sc.close()
        except Exception as exc:  # noqa: BLE001 - reported per file, with its reason
            reason = str(exc) if isinstance(exc, LandguiError) else f"{type(exc).__name__}: {exc}"
            error_seen(f"scene {p} could not be opened: {reason}", exc)
            errors.append((p, reason))
        progress("opening", i + 1, len(paths))
    return images, errors


def not_opened_text(errors: list[tuple[str, str]]) -> str:
    """One line naming each scene that could not be opened and why."""
    if len(errors) == 1:
        path, reason = errors[0]
        return f"{Path(path).name} could not be opened: {reason}"
    return f"{len(errors)} scenes could not be opened: " + "; ".join(f"{Path(p).name} ({r})" for p, r in errors)


class SceneJobs:
    """The jobs of :class:`~landgui.gui.tabs.scene.tab.SceneTab` (mixed into it)."""

    # -- opening scenes ---------------------------------------------------------------------------
    def choose_scenes(self: SceneTab) -> None:
        """Ask for scene files and open them."""
        if self.jobs.busy(SCENE_JOB):
            self.status.emit("wait for the running job to end (or cancel it) before opening scenes")
            return
        files, _ = QFileDialog.getOpenFileNames(self, "Open scenes", last_dir("scene"), SCENE_FILTER)
        if files:
            remember_dir("scene", files[0])
            self.open_scenes(files)

    def open_demo(self: SceneTab) -> None:
        """Open the bundled demo scene (Blue Marble)."""
        try:
            self.open_scenes([str(demo_scene_path())])
        except LandguiError as exc:
            show_error(self, "Demo scene", str(exc))

    def open_scenes(self: SceneTab, paths: list[str], quiet: bool = False, show: str | None = None) -> None:
        """Load overviews in a job; ``show`` (else the first one) is shown. A scene that cannot be
        opened is named with its reason: in a dialog, or (``quiet``: restoring a session) in the
        status bar. When none opens, the bar reads again what it read of the scene on screen."""
        shown = self.progress.snapshot()
        self._run(
            lambda progress, should_stop: read_overviews(paths, progress),
            lambda payload: self._scenes_opened(payload, quiet, show, shown),
            "scene ready: choose a run and press Classify",
            label="open scenes",
        )

    def _scenes_opened(self: SceneTab, payload, quiet: bool = False, show: str | None = None, shown=None) -> None:
        images, errors = payload
        if not images and shown is not None:  # nothing new on screen: its line ("done") stays
            self.progress.restore(shown)
        for image in images:
            self.scenes_state.add(image)
        if images:
            paths = [im.path for im in images]
            target = show if show in paths else paths[0]
            if target == self.current:
                self._scene_shown()  # opened again: it is on screen already, and says so
            self.scenes_state.set_current(target)
        if errors:
            line = not_opened_text(errors)
            if quiet:
                self.status.emit(line)
            else:
                details = "\n".join(f"{p}: {r}" for p, r in errors)
                show_error(self, "Open scene", line, details + "\n\n(also in landgui.log)")

    # -- classification ---------------------------------------------------------------------------
    def classify(self: SceneTab, engine: str = "auto") -> None:
        """Map the scene on screen with the chosen run and the state's map settings."""
        if self.session is None:
            show_error(self, "Classify", "open a scene first (or the demo scene)")
            return
        run_dir = self.run_combo.currentData()
        if not run_dir:
            show_error(self, "Classify", "no trained run in the runs folder; train a model in the Training tab")
            return
        path, settings, adapt = self.current, self.scenes_state.settings, self.scenes_state.adapt
        if self.session.bands is not None:  # the scene's own band choice (the sensor panel)
            settings = replace(settings, bands=self.session.bands)
        try:
            settings.check()
            labels = read_run(run_dir).labels
        except LandguiError as exc:
            show_error(self, "Classify", str(exc))
            return
        self._partial = None
        self._partial_colours = code_colours(labels, run_palette(run_dir, labels))

        def on_partial(grid, classes) -> None:  # job thread: hand over a reference only
            self._partial = (path, grid, classes)

        def job(progress, should_stop):
            res = services.map_scene(
                run_dir,
                path,
                settings,
                engine=engine,
                adapt=adapt,
                progress=progress,
                should_stop=should_stop,
                partial=on_partial,
                keep_features=True,  # a retrained head re-maps the scene from them at once
            )
            return path, res, run_palette(run_dir, res.labels)

        self._run(job, self._classified, label="classify", progress=self._paint_partial)

    def _paint_partial(self: SceneTab, *_args) -> None:
        """Paint the patches classified so far while the job runs."""
        part = getattr(self, "_partial", None)
        if part is not None and part[0] == self.current:
            self._partial = None
            self.layers.paint_partial(part[1], part[2], self._partial_colours)

    def _classified(self: SceneTab, payload) -> None:
        path, res, palette = payload
        session = self.scenes_state.sessions.get(path)
        if session is None:  # removed from the list meanwhile
            return
        threshold = self.scenes_state.settings.uncertain_below
        if res.uncertain_below != threshold:  # changed while the job ran: the map follows the knob
            res.set_threshold(threshold)
        session.set_result(res, palette)
        self.status.emit(
            f"classified {res.grid.n} patches in {res.seconds:.1f} s ({res.patches_per_s:,.0f} patches/s, {res.engine})"
        )
        self.classified.emit(res)

    # -- teach it this scene -----------------------------------------------------------------------
    def finetune(self: SceneTab, parent: str, corrections: str) -> None:
        """A new run from ``parent`` fine-tuned on the corrections folder, and this scene re-mapped.

        Two jobs: the head is retrained (a second or two, no TensorFlow, when the parent runs as
        LiteRT) and the scene re-mapped at once from the features kept by its last map; then the
        new run is saved (model.keras needs Keras: a few seconds more, the map is already shown).
        Without kept features the scene is classified again once the run is saved."""
        base = Path(self.runs_dir) / f"{Path(parent).name}-taught"
        n = 1
        while Path(f"{base}-{n}").exists():
            n += 1
        out, session, t0 = f"{base}-{n}", self.session, time.monotonic()

        def fit_job(progress, should_stop):
            plan = plan_finetune(parent, [corrections], out)
            return plan, fit_head(plan, progress=progress, should_stop=should_stop)

        def fitted(payload) -> None:
            plan, head = payload
            res = session.result
            new = None if res is None or head.predictor is None else reclassify_with_head(res, head.predictor)
            if new is not None:
                self._classified((session.path, new, session.palette))
                self.status.emit(
                    f"taught in {time.monotonic() - t0:.1f} s: the map shows {Path(out).name}; saving the run"
                )

            def save_job(progress, should_stop):
                # no LiteRT conversion (about 20 s): the run shares its parent's LiteRT backbone, or,
                # without one, the scene is re-mapped with the Keras model still in memory
                return save_finetuned(plan, head, export_litert=False, progress=progress)

            def saved(result) -> None:
                self.state.refresh_runs()  # the new run joins every list, and is chosen here
                self.refresh_runs(select=result.run_dir)
                self.status.emit(
                    f"taught {Path(result.run_dir).name} in {time.monotonic() - t0:.1f} s"
                    + ("" if new is not None else "; re-mapping")
                )
                self.finetuned.emit(result.run_dir)
                if new is None:
                    self.classify(engine="keras" if head.predictor is None else "auto")

            self._run(save_job, saved, "fine-tuned", label="save the taught run")

        self._run(fit_job, fitted, "head trained", label="fine-tune")

    # -- export -------------------------------------------------------------------------------------
    def export(self: SceneTab, formats: tuple[str, ...], out_dir: str | None = None, on_done=None) -> None:
        """Write the map on screen in ``formats`` into ``out_dir`` (asked for when not given),
        drawn as on screen (colours, hidden classes, opacity); ``on_done(files)`` after."""
        s = self.session
        res = None if s is None else s.result
        if res is None:
            return
        out = out_dir or choose_output_folder(self, "export", "Export class map to folder")
        if not out:
            return
        remember_dir("export", out)
        palette, opacity, hidden = s.palette, self.scenes_state.opacity, set(s.hidden)

        def job(progress, should_stop):
            return services.export_map(
                res, out, palette=palette, formats=formats, opacity=opacity, hidden=hidden, progress=progress
            )

        skipped = skipped_without_crs(formats, res.crs)

        def done(files) -> None:
            msg = f"exported {len(files)} files to {out}" + (f"; {skipped}" if skipped else "")
            self.status.emit(msg)
            self.last_export_message = msg
            if s.result is res:  # still the map on screen: Assess accuracy can use the written map
                s.set_exported(files.get("summary"))
            if on_done is not None:
                on_done(files)

        self._run(job, done, "exported", label="export")

    # -- running them -------------------------------------------------------------------------------
    def _run(self: SceneTab, job, on_done, done_text: str = "done", label: str = "", progress=None) -> JobWorker | None:
        """Start one of the tab's jobs through the registry (refused while another one runs)."""

        def step(*args: Any) -> None:
            self.progress.update_progress(*args)
            if progress is not None:
                progress(*args)

        def done(result) -> None:
            self.progress.finish(done_text)
            on_done(result)

        return self.jobs.start(
            self,
            SCENE_JOB,
            job,
            label=label or done_text,
            on_done=done,
            on_failed=self._failed,
            on_cancelled=lambda: self.progress.finish("cancelled"),
            progress=step,
        )

    def _failed(self: SceneTab, message: str, details: str) -> None:
        self.progress.finish("failed")
        show_error(self, "Scene", message, details)
