"""What every engine's predictor is: :class:`Predictor`, and :class:`FilePredictor` for a run's
converted model file (a backbone whose features go through a NumPy head, or a whole model).

The engines themselves are in :mod:`landgui.core.inference.engine` (Keras, LiteRT) and
:mod:`landgui.core.inference.openvino_engine` (OpenVINO, float32 and reduced precision).
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.paths import file_sha256
from landgui.core.models.build import load_run


class Predictor:
    """A run's model ready to classify: called with (N, S, S, 3) 0..255 images, it returns
    (N, classes) float32 probabilities. ``labels`` and ``image_size`` come from the run folder;
    ``engine`` names the engine (and its precision where not float32), as maps and reports show it.
    Made by :func:`landgui.core.inference.engine.load_predictor`."""

    engine = "?"

    def __init__(self, run_dir: Path, labels: list[str], image_size: int) -> None:
        self.run_dir, self.labels, self.image_size = run_dir, labels, image_size

    @property
    def n_classes(self) -> int:
        """The number of classes, i.e. the width of each probability row."""
        return len(self.labels)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The class probabilities of a batch of images (each subclass runs its own engine)."""
        raise NotImplementedError

    def keras_model(self) -> Any:
        """The run's Keras model (loaded on first use: imports TensorFlow)."""

        if getattr(self, "_model", None) is None:
            self._model = load_run(self.run_dir).model
        return self._model


class FilePredictor(Predictor):
    """A run's converted model file run by an engine other than Keras.

    A transfer model is converted as its backbone alone, whose output is the pooled features, plus
    its head in NumPy (``head``, :class:`landgui.core.models.head.LinearHead`, ``head.npz`` beside the
    file). So a scene's features can be kept from a map and a retrained head applied to them, or to
    the features of new images, without TensorFlow; a run fine-tuned on corrections shares its
    parent's file and brings its own head. Any other model is converted whole and its output is
    the probabilities. Subclasses open the file and define :meth:`_run` (one batch, any size)."""

    def __init__(self, path: Path, run_dir: Path, labels: list[str], image_size: int, head: Any = None) -> None:
        super().__init__(run_dir, labels, image_size)
        self.path, self.head = path, head
        self._lock = threading.Lock()  # one compiled model: one caller at a time

    def _check_width(self, width: int) -> None:
        """A one-line error when the file's output width fits neither its head nor the labels."""
        path, head, labels = self.path, self.head, self.labels
        if head is not None and width != head.n_features:
            raise LandguiError(
                f"{path} gives {width} features, its head wants {head.n_features}; delete it to convert again"
            )
        if head is not None and len(head.bias) != len(labels):
            raise LandguiError(f"{path}'s head gives {len(head.bias)} outputs for {len(labels)} classes")
        if head is None and width != len(labels):
            raise LandguiError(f"{path} gives {width} outputs for {len(labels)} classes; delete it to convert again")

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._run(np.ascontiguousarray(batch, dtype=np.float32))

    @property
    def has_features(self) -> bool:
        """True for a transfer model converted as backbone + head, which can give its features."""
        return self.head is not None

    @property
    def backbone_id(self) -> str:
        """The SHA-256 of the model file: features from files with one id are interchangeable
        (a fine-tuned run's file is its parent's, linked or copied)."""
        if not getattr(self, "_backbone_id", ""):
            self._backbone_id = file_sha256(self.path)
        return self._backbone_id

    def _no_features(self) -> LandguiError:
        return LandguiError(
            f"{self.path} is not a transfer model converted with its features; delete it to convert again"
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The class probabilities of a batch: the engine's output, through the head if any."""
        out = self._invoke(batch)
        return out if self.head is None else self.head(out)

    def predict_with_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, features) of a batch, in one pass (a transfer model)."""
        feats = self.features(batch)
        assert self.head is not None
        return self.head(feats), feats

    def features(self, batch: np.ndarray) -> np.ndarray:
        """The backbone's pooled features of a batch (a transfer model converted with them)."""
        if self.head is None:
            raise self._no_features()
        return self._invoke(batch)

    def with_head(self, head: Any, run_dir: Path, labels: list[str] | None = None) -> FilePredictor:
        """A predictor of the same backbone with another head (a fine-tuned run), sharing this
        engine's compiled model: no file, no conversion."""
        if self.head is None:
            raise self._no_features()
        new = copy.copy(self)
        new.head, new.run_dir, new.labels = head, Path(run_dir), list(labels or self.labels)
        return new
