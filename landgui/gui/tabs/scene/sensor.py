"""The Scene tab's sensor panel: the model's sensor contract beside the scene's own figures, the
bands read as red, green and blue, and the "native pixels" choice (issue 25).

Model: the chosen run's :class:`~landgui.core.runs.sensor.SensorContract` (ground sample
distance, patch footprint, bands, radiometry). Scene: the file's
:class:`~landgui.core.scenes.facts.SceneFacts` (its ground sample distance from its transform
and CRS, bands, data type). Between them one line says how the two meet (resampled, or mapped at
the scene's own pixels) and what ground the map's patches will cover. The band choice is the
scene's own (``SceneSession.bands``, the CLI's ``--bands``), shown empty when the file decides,
with the bands it picks as the hint; "native pixels" is the map settings' ``native`` (``--native``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from landgui.core.base.errors import LandguiError
from landgui.core.runs.folder import RunFolder
from landgui.core.runs.sensor import SensorContract
from landgui.core.scenes.bands import parse_bands, pick_bands
from landgui.core.scenes.facts import SceneFacts
from landgui.core.scenes.resample import describe_m
from landgui.gui.state.scene_session import ScenesState

WARN_STYLE = "color: #9a5b00;"
ERROR_STYLE = "color: #b00020;"


def patch_ground(patch_px: int, facts: SceneFacts | None, model: SensorContract, native: bool) -> str:
    """What ground the map's patches of ``patch_px`` scene px cover, e.g. ``64 px = 640 m``."""
    resampled = not native and model.gsd_m is not None and facts is not None and facts.gsd_m is not None
    gsd = model.gsd_m if resampled else (facts.gsd_m if facts is not None else None)
    return f"{patch_px} px" + (f" = {describe_m(patch_px * gsd)}" if gsd is not None else "")


class SensorPanel(QWidget):
    """Model and scene figures, the band choice and the native check box, over the scenes' state
    (the scene on screen, its bands, the map settings) and the chosen run (``app_state.run``)."""

    def __init__(self, state: ScenesState, app_state: QObject | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.app_state = state, app_state
        self.model_label, self.scene_label, self.match_label = QLabel(), QLabel(), QLabel()
        for label in (self.model_label, self.scene_label, self.match_label):
            label.setWordWrap(True)
        self.bands_edit = QLineEdit()
        self.bands_edit.setToolTip(
            "the scene's bands read as red, green, blue, 1-based as GDAL numbers them (e.g. 3,2,1 for a "
            "blue-green-red-NIR file; 4,3,2 for a Sentinel-2 stack); empty: as the file's band names say"
        )
        self.native_check = QCheckBox("native pixels")
        self.native_check.setToolTip(
            "map the scene at its own pixels instead of reading it resampled to the model's ground "
            "resolution (a patch then covers other ground than the model's training patches)"
        )
        lay = QVBoxLayout(self)  # compact: the teach panel below stays above the fold at 1280 x 800
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.model_label)
        lay.addWidget(self.scene_label)
        row = QHBoxLayout()
        row.addWidget(QLabel("Bands R,G,B"))
        row.addWidget(self.bands_edit, 1)
        row.addWidget(self.native_check)
        lay.addLayout(row)
        lay.addWidget(self.match_label)
        self.bands_edit.editingFinished.connect(self._bands_edited)
        self.native_check.toggled.connect(lambda on: state.set_settings(native=on))
        for signal in (state.current_changed, state.settings_changed, state.bands_changed):
            signal.connect(self.show_state)
        if app_state is not None:
            app_state.run_changed.connect(self.show_state)
        self.show_state()

    # -- what is shown derives from the state --------------------------------------------------------
    @property
    def contract(self) -> SensorContract | None:
        """The chosen run's contract (None without a run)."""
        run = getattr(self.app_state, "run", None)
        return RunFolder(run).sensor if run else None

    @property
    def facts(self) -> SceneFacts | None:
        """The figures of the scene on screen (None without one, or before they were read)."""
        s = self.state.current
        return None if s is None else s.image.facts

    def show_state(self, *_args) -> None:
        """Show the run's contract, the scene's figures, its bands and how the two meet."""
        model, facts, session = self.contract, self.facts, self.state.current
        native = bool(getattr(self.state.settings, "native", False))
        self.model_label.setText(f"Model: {'no run chosen' if model is None else model.describe()}")
        tip = (
            ""
            if model is None
            else "; ".join(f"{k}: {v:g} m" if v else f"{k}: unknown" for k, v in model.sources.items())
        )
        self.model_label.setToolTip("\n".join(t for t in (tip, model.note if model else "") if t))
        self.scene_label.setText(f"Scene: {'no scene open' if facts is None else facts.describe()}")
        bands = None if session is None else session.bands
        blocked = self.bands_edit.blockSignals(True)
        self.bands_edit.setText("" if bands is None else ",".join(map(str, bands)))
        self.bands_edit.setPlaceholderText(self._bands_hint(facts))
        self.bands_edit.setEnabled(session is not None)
        self.bands_edit.blockSignals(blocked)
        blocked = self.native_check.blockSignals(True)
        self.native_check.setChecked(native)
        self.native_check.blockSignals(blocked)
        self._show_match(model, facts, native)

    @staticmethod
    def _bands_hint(facts: SceneFacts | None) -> str:
        if facts is None:
            return ""
        if facts.auto_bands is None:
            return "choose: the file does not say which bands are red, green, blue"
        return f"as the file says: {','.join(map(str, facts.auto_bands))}"

    def _show_match(self, model: SensorContract | None, facts: SceneFacts | None, native: bool) -> None:
        if model is None or facts is None:
            self.match_label.clear()
            return
        session = self.state.current
        if facts.auto_bands is None and (session is None or session.bands is None):
            self.match_label.setStyleSheet(ERROR_STYLE)
            self.match_label.setText(f"{facts.count} bands and no colour names: choose the bands R,G,B above")
            return
        patches = patch_ground(self.state.settings.patch, facts, model, native)
        foot = model.footprint_m
        line = f"Patches {patches}" + (f" (model {describe_m(foot)})" if foot is not None else "")
        note = facts.against(model, native)
        own = bool(note) and not note.startswith("resampled")  # at its own pixels, unlike the model's
        self.match_label.setStyleSheet(WARN_STYLE if own else "")
        self.match_label.setText(f"{line}: {note}" if note else line)

    # -- changing ------------------------------------------------------------------------------------
    def _bands_edited(self) -> None:
        session, text = self.state.current, self.bands_edit.text().strip()
        if session is None:
            return
        try:
            bands = parse_bands(text) if text else None
            if bands is not None and self.facts is not None:  # a band the file has not: the CLI's words
                pick_bands(self.facts.count, (), (), Path(session.path).name, explicit=bands)
        except LandguiError as exc:
            self.match_label.setStyleSheet(ERROR_STYLE)
            self.match_label.setText(str(exc))
            return
        session.set_bands(bands)
