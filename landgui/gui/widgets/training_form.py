"""The Training tab's settings box: the model and the training parameters, read as the core's
``ModelSpec`` and ``TrainParams`` when a run starts. With a split of several sources it offers to
hold one out and to weigh the sources of a class equally."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit, QSpinBox, QWidget

from landgui.core.params import (  # one list of backbones and defaults for the CLI, the API and the app
    BACKBONES,
    DEFAULT_EPOCHS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_RESOLUTION,
    ModelSpec,
    TrainParams,
)

#: the settings' widgets, as the Training tab (and its tests) name them
FIELDS = (
    "name_edit",
    "model_combo",
    "backbone_combo",
    "size_spin",
    "epochs_spin",
    "ft_spin",
    "batch_spin",
    "lr_spin",
    "seed_spin",
    "augment_check",
    "holdout_combo",
    "balance_check",
)


class TrainingSettings(QGroupBox):
    """Run name, model, backbone, image size, epochs, fine-tune epochs, batch size, learning rate,
    seed, augmentation, and the source options (shown for a split of several sources only).
    ``form`` is its form layout: the tab adds its Split and Runs folder rows on top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Training settings", parent)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("run name (default: model-time)")
        self.model_combo = QComboBox()
        self.model_combo.addItems(["transfer", "scratch"])
        self.model_combo.currentTextChanged.connect(self._model_changed)
        self.backbone_combo = QComboBox()
        self.backbone_combo.addItems(BACKBONES)
        self.size_spin = QSpinBox(minimum=16, maximum=512, singleStep=16, value=DEFAULT_IMAGE_SIZE["transfer"])
        self.epochs_spin = QSpinBox(minimum=1, maximum=500, value=DEFAULT_EPOCHS["transfer"])
        self.ft_spin = QSpinBox(minimum=0, maximum=100, value=0)
        self.batch_spin = QSpinBox(minimum=1, maximum=1024, value=32)
        self.lr_spin = QDoubleSpinBox(decimals=5, minimum=1e-5, maximum=1.0, singleStep=1e-4, value=1e-3)
        self.augment_check = QCheckBox("augment (flips, rotations, resolution, blur, JPEG, colour, noise)")
        self.augment_check.setChecked(True)
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.holdout_combo = QComboBox()
        self.holdout_combo.setToolTip(
            "train and select the model on the other sources only; when training completes the run is evaluated "
            "on every image of this source: how the recipe does on a sensor it never saw"
        )
        self.balance_check = QCheckBox("each source of a class weighs the same")
        self.balance_check.setToolTip(
            "weight the images so that every source of a class carries the same share of it, in training and in "
            "the validation loss that picks the best epoch (otherwise a large source outweighs a small one)"
        )
        self.balance_check.setChecked(True)
        self.sources: list[str] = []  # the sources of the split to train on

        form = QFormLayout(self)
        form.addRow("Run name", self.name_edit)
        form.addRow("Model", self.model_combo)
        form.addRow("Backbone", self.backbone_combo)
        form.addRow("Image size", self.size_spin)
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Fine-tune epochs", self.ft_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow(self.augment_check)
        form.addRow("Hold out a source", self.holdout_combo)
        form.addRow("Balance sources", self.balance_check)
        self.form = form
        self.set_sources([])

    def _model_changed(self, model: str) -> None:
        transfer = model == "transfer"
        self.backbone_combo.setEnabled(transfer)
        self.ft_spin.setEnabled(transfer)
        self.size_spin.setValue(DEFAULT_IMAGE_SIZE[model])
        self.epochs_spin.setValue(DEFAULT_EPOCHS[model])

    def set_sources(self, sources: list[str]) -> None:
        """The split's sources: the hold-out choices (the choice is kept where it still exists);
        the source rows are shown only for several."""
        if sources == self.sources and self.holdout_combo.count():
            return
        self.sources = list(sources)
        keep = self.holdout_combo.currentData()
        self.holdout_combo.clear()
        self.holdout_combo.addItem("none: train on every source", None)
        for name in sources:
            self.holdout_combo.addItem(name, name)
        self.holdout_combo.setCurrentIndex(max(self.holdout_combo.findData(keep), 0))
        several = len(sources) > 1
        self.form.setRowVisible(self.holdout_combo, several)
        self.form.setRowVisible(self.balance_check, several)

    def spec(self) -> ModelSpec:
        """The model as the core's ModelSpec (the classes are the split's, set by the trainer)."""
        model = self.model_combo.currentText()
        return ModelSpec(
            model=model,
            backbone=self.backbone_combo.currentText(),
            image_size=self.size_spin.value(),
            resolution=DEFAULT_RESOLUTION[model],
        )

    def train_params(self) -> TrainParams:
        """The settings as :class:`landgui.core.params.TrainParams` (the source options only
        when the split has several sources)."""
        several = len(self.sources) > 1
        transfer = self.model_combo.currentText() == "transfer"
        return TrainParams(
            epochs=self.epochs_spin.value(),
            fine_tune_epochs=self.ft_spin.value() if transfer else 0,
            batch_size=self.batch_spin.value(),
            lr=self.lr_spin.value(),
            seed=self.seed_spin.value(),
            augment=self.augment_check.isChecked(),
            balance_sources=self.balance_check.isChecked() if several else True,
            hold_out_source=self.holdout_combo.currentData() if several else None,
        )
