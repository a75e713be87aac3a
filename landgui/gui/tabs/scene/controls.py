"""The Scene tab's knobs, bound to its state (:class:`ScenesState`): a change of a knob changes
the state at once, and a change of the state (restored at start) shows in the knob. Nothing is
read from a spin box when Classify is pressed.

:class:`MapSettingsControls`: patch size, stride, edges, no-data, adaptation and context (the
CLI's ``landgui segment`` options). :class:`DisplayControls`: the uncertain threshold (it
changes the map on screen too), the view, the overlay's opacity and the grid lines."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSlider, QSpinBox

from landgui.core.params import DEFAULT_CONTEXT
from landgui.gui.state.scene_session import VIEWS, ScenesState


class MapSettingsControls(QObject):
    """The widgets of the next map's settings; lay them out where you like."""

    def __init__(self, state: ScenesState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.patch_spin = QSpinBox(minimum=8, maximum=1024)
        self.patch_spin.setSuffix(" px")
        self.stride_spin = QSpinBox(minimum=1, maximum=1024)
        self.stride_spin.setSuffix(" px")
        self.stride_spin.setToolTip(
            "the step between patches: the patch size for patches side by side, less to overlap"
        )
        self.edge_combo = QComboBox()  # the CLI's --edge
        self.edge_combo.addItem("mirror-pad partial patches", "pad")
        self.edge_combo.addItem("skip partial patches", "skip")
        self.edge_combo.setToolTip(
            "patches that run over the scene's right or bottom edge: completed by mirroring (the whole "
            "scene is mapped) or left out (only whole patches)"
        )
        self.nodata_check = QCheckBox("leave no-data patches unclassified")  # the CLI's --ignore-nodata
        self.nodata_check.setToolTip(
            "a patch more than half black (or the file's nodata value) is not classified, so scene borders "
            "stay empty; the file's declared nodata and NaN pixels are always left out"
        )
        self.adapt_check = QCheckBox("adapt to this scene")
        self.adapt_check.setToolTip(
            "re-estimate the model's batch-norm statistics on this scene's patches before classifying "
            "(helps on imagery from another satellite; the run itself is not changed)"
        )
        self.context_check = QCheckBox("Use neighbouring patches (context)")  # the CLI's --no-context
        self.context_check.setToolTip(
            "smooth each patch's class probabilities with those of its 4 grid neighbours, so a lone "
            "misclassified patch inside a region takes the region's class; confident patches and real "
            "boundaries are kept (measured in docs/benchmarks.md). Off: each patch is classified alone"
        )
        self.show_settings()
        self.patch_spin.valueChanged.connect(lambda v: state.set_settings(patch=v))
        self.stride_spin.valueChanged.connect(lambda v: state.set_settings(stride=v))
        self.edge_combo.currentIndexChanged.connect(lambda _: state.set_settings(edge=self.edge_combo.currentData()))
        self.nodata_check.toggled.connect(lambda on: state.set_settings(ignore_nodata=on))
        self.adapt_check.toggled.connect(lambda on: state.set_settings(adapt=on))
        self.context_check.toggled.connect(lambda on: state.set_settings(context=DEFAULT_CONTEXT if on else 0.0))
        state.settings_changed.connect(self.show_settings)

    def widgets(self) -> list:
        """Every knob, in the order of the form."""
        return [
            self.patch_spin,
            self.stride_spin,
            self.edge_combo,
            self.nodata_check,
            self.adapt_check,
            self.context_check,
        ]

    def show_settings(self) -> None:
        """Show the state's settings (signals blocked: showing is not changing)."""
        s = self.state.settings
        values = (
            (self.patch_spin, s.patch),
            (self.stride_spin, s.step),
            (self.edge_combo, self.edge_combo.findData(s.edge)),
            (self.nodata_check, s.ignore_nodata),
            (self.adapt_check, self.state.adapt),
            (self.context_check, s.context > 0),
        )
        for widget, value in values:
            blocked = widget.blockSignals(True)
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QComboBox):
                widget.setCurrentIndex(max(0, int(value)))
            else:
                widget.setValue(int(value))
            widget.blockSignals(blocked)


class DisplayControls(QObject):
    """The uncertain threshold, the view, the opacity and the grid lines."""

    def __init__(self, state: ScenesState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.uncertain_spin = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, decimals=2)
        self.uncertain_spin.setToolTip(
            "patches whose top probability is below this are shown as uncertain (grey hatch) and counted "
            "as 'uncertain' in the shares; 0 = off"
        )
        self.view_combo = QComboBox()
        self.view_combo.addItems(list(VIEWS))
        self.view_combo.setToolTip("classes: the class map; uncertainty: the confidence of each patch (dark = unsure)")
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.opacity.setToolTip("the overlay's opacity, on screen and in the exported overlay")
        self.grid_check = QCheckBox("grid lines")
        self.show_display()
        self.uncertain_spin.valueChanged.connect(lambda v: state.set_settings(uncertain_below=round(v, 2)))
        self.view_combo.currentTextChanged.connect(lambda v: state.set_display(view=v))
        self.opacity.valueChanged.connect(lambda v: state.set_display(opacity=v / 100))
        self.grid_check.toggled.connect(lambda on: state.set_display(grid_lines=on))
        state.settings_changed.connect(self.show_display)
        state.display_changed.connect(self.show_display)

    def show_display(self) -> None:
        """Show the state's threshold and drawing options."""
        st = self.state
        for widget, setter, value in (
            (self.uncertain_spin, self.uncertain_spin.setValue, st.settings.uncertain_below),
            (self.view_combo, self.view_combo.setCurrentText, st.view),
            (self.opacity, self.opacity.setValue, round(st.opacity * 100)),
            (self.grid_check, self.grid_check.setChecked, st.grid_lines),
        ):
            blocked = widget.blockSignals(True)
            setter(value)
            widget.blockSignals(blocked)
