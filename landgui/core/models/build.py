"""Models: a CNN from scratch and transfer learning on an ImageNet backbone; loading a run.

``scratch``
    Input 0..255 -> rescale to 0..1 -> four blocks of [3x3 conv, batch norm, ReLU] with 32, 64,
    128, 256 filters, 2x2 max-pool after the first three -> global average pooling -> dropout 0.3
    -> softmax. About 390 k parameters and 60 M multiply-adds per 64 px image: a first version
    with two convs per block cost 86 s per epoch on the 2-core CPU, this one fits the 20-minute
    budget (docs/benchmarks.md).

``transfer``
    Input 0..255 -> the backbone with its own normalisation (frozen) -> global average pooling
    -> dropout 0.2 -> softmax. Stage 1 trains the head on the frozen backbone; stage 2 unfreezes
    the top ``fine_tune_layers`` layers at a 10x lower learning rate. The backbone is always called
    with ``training=False``, so its batch-norm layers stay in inference mode while fine-tuning.

Backbones: ``efficientnet_lite0`` (offline ImageNet weights, the default), ``efficientnet_lite1``
and ``efficientnet_lite2`` (offline too, with the optional extra ``landgui[backbones]``; measured
in docs/benchmarks.md) and the Keras applications ``mobilenet_v2``, ``efficientnet_b0``,
``resnet50``, ``vgg16`` (ImageNet weights downloaded by Keras when online, or a local
``.weights.h5``/``.h5`` file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landgui.core.base.errors import LandguiError
from landgui.core.models import efficientnet_lite
from landgui.core.models.efficientnet_lite import VARIANTS as LITE_VARIANTS
from landgui.core.params import ModelSpec
from landgui.core.runs.folder import read_run


def _register() -> Any:
    import keras

    @keras.saving.register_keras_serializable(package="landgui")
    class ChannelFlipMean(keras.layers.Layer):
        """RGB 0..255 -> BGR minus the ImageNet mean ("caffe" preprocessing of ResNet50/VGG16)."""

        def call(self, x: Any) -> Any:
            import keras.ops as ops

            mean = ops.convert_to_tensor([103.939, 116.779, 123.68], dtype=x.dtype)
            return ops.flip(x, axis=-1) - mean

    return ChannelFlipMean


def _keras_app(name: str, size: int, weights_file: str | None) -> Any:
    import keras
    from keras import applications as apps

    ctor = {
        "mobilenet_v2": apps.MobileNetV2,
        "efficientnet_b0": apps.EfficientNetB0,
        "resnet50": apps.ResNet50,
        "vgg16": apps.VGG16,
    }[name]
    weights = weights_file or "imagenet"
    if weights_file and not Path(weights_file).is_file():
        raise LandguiError(f"backbone weights file not found: {weights_file}")
    try:
        base = ctor(include_top=False, weights=weights, input_shape=(size, size, 3), pooling="avg")
    except Exception as exc:  # noqa: BLE001 - download/format errors become one clear message
        where = f"from {weights_file}" if weights_file else "(Keras downloads them on first use)"
        raise LandguiError(
            f"could not load ImageNet weights for {name} {where}: {type(exc).__name__}: {str(exc)[:160]}. "
            "Offline, use --backbone efficientnet_lite0 (its weights ship with landgui), "
            "or pass a local weights file with --backbone-weights"
        ) from None
    inp = keras.Input((size, size, 3), name="image")
    if name == "mobilenet_v2":
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalise")(inp)
    elif name == "efficientnet_b0":
        x = inp  # EfficientNetB0 normalises inside
    else:
        x = _register()(name="normalise")(inp)
    return keras.Model(inp, base(x), name=f"{name}_backbone")


def canonical_resolution(x: Any, spec: ModelSpec) -> Any:
    """Bring the (symbolic) input to ``spec.resolution`` px and back to ``image_size`` (no-op if off)."""
    import keras

    if not spec.resolution or spec.resolution >= spec.image_size:
        return x
    x = keras.layers.Resizing(spec.resolution, spec.resolution, interpolation="area", name="to_resolution")(x)
    return keras.layers.Resizing(spec.image_size, spec.image_size, interpolation="bilinear", name="to_input_size")(x)


def build_backbone(spec: ModelSpec) -> Any:
    """The frozen ImageNet feature extractor: input 0..255 RGB -> pooled features (with the
    canonical-resolution step in front when ``spec.resolution`` is set)."""
    import keras

    if spec.backbone in LITE_VARIANTS:
        base = efficientnet_lite.imagenet_model(spec.image_size, include_top=False, name=spec.backbone)
    else:
        base = _keras_app(spec.backbone, spec.image_size, spec.backbone_weights)
    if spec.resolution and spec.resolution < spec.image_size:
        inp = keras.Input((spec.image_size, spec.image_size, 3), name="image")
        base = keras.Model(inp, base(canonical_resolution(inp, spec)), name=f"{spec.backbone}_at_{spec.resolution}px")
    base.trainable = False
    return base


FEATURE_NORM = "feature_norm"


def build_head(n_features: int, n_classes: int, dropout: float, feature_norm: bool = True) -> Any:
    """Dropout + softmax over the pooled backbone features.

    With ``feature_norm`` the features are first standardised by a batch-norm layer without
    scale or offset: its moving statistics are the training features' mean and variance, and
    adaptation (``--adapt``) can swap in a target's feature statistics alone.
    """
    import keras

    inp = keras.Input((n_features,), name="features")
    x = inp
    if feature_norm:
        x = keras.layers.BatchNormalization(center=False, scale=False, name=FEATURE_NORM)(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name="head_dense")(x)
    return keras.Model(inp, out, name="head")


def build_transfer(spec: ModelSpec) -> tuple[Any, Any, Any]:
    """(full model, backbone, head). The backbone runs with training=False (BN in inference)."""
    import keras

    backbone = build_backbone(spec)
    head = build_head(backbone.output.shape[-1], len(spec.classes), spec.dropout, spec.feature_norm)
    inp = keras.Input((spec.image_size, spec.image_size, 3), name="image")
    out = head(backbone(inp, training=False))
    return keras.Model(inp, out, name=f"transfer_{spec.backbone}"), backbone, head


def build_scratch(spec: ModelSpec) -> Any:
    """The small CNN trained from scratch (see the module doc), input 0..255 RGB -> probabilities."""
    import keras
    from keras import layers

    inp = keras.Input((spec.image_size, spec.image_size, 3), name="image")
    x = layers.Rescaling(1 / 255.0, name="normalise")(canonical_resolution(inp, spec))
    for i, f in enumerate((32, 64, 128, 256)):
        x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"b{i}_conv")(x)
        x = layers.BatchNormalization(name=f"b{i}_bn")(x)
        x = layers.ReLU(name=f"b{i}_relu")(x)
        if i < 3:
            x = layers.MaxPooling2D(2, name=f"b{i}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    out = layers.Dense(len(spec.classes), activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="scratch_cnn")


def set_fine_tune(backbone: Any, n_layers: int, head: Any = None) -> int:
    """Unfreeze the top n weight-carrying layers of the backbone except batch norm. Returns count.

    The head's feature-norm layer (if any) is frozen too: its statistics stay those of stage 1."""
    import keras

    if head is not None:
        for lyr in head.layers:
            if lyr.name == FEATURE_NORM:
                lyr.trainable = False

    backbone.trainable = True
    layers = [lyr for lyr in _flat_layers(backbone) if lyr.weights]
    for lyr in layers:
        lyr.trainable = False
    chosen = (
        [lyr for lyr in layers if not isinstance(lyr, keras.layers.BatchNormalization)][-n_layers:] if n_layers else []
    )
    for lyr in chosen:
        lyr.trainable = True
    return len(chosen)


def _flat_layers(model: Any) -> list[Any]:
    out = []
    for lyr in model.layers:
        if hasattr(lyr, "layers") and lyr.layers:
            out.extend(_flat_layers(lyr))
        else:
            out.append(lyr)
    return out


@dataclass
class LoadedRun:
    """A run's Keras model with its labels, config and input size (:func:`load_run`)."""

    model: Any
    labels: list[str]
    config: dict
    image_size: int
    run_dir: Path


def load_run(run_dir: str | Path) -> LoadedRun:
    """Load a run folder's model (``safe_mode=True``), labels and preprocessing config."""

    meta = read_run(run_dir)
    run = meta.run_dir
    import keras

    _register()
    try:
        model = keras.saving.load_model(run / "model.keras", safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001
        import zipfile

        if not zipfile.is_zipfile(run / "model.keras"):  # Keras says "File not found" for a damaged file
            raise LandguiError(
                f"{run / 'model.keras'} is corrupt (not a readable .keras file); train the run again or copy it anew"
            ) from None
        raise LandguiError(f"cannot load {run / 'model.keras'}: {type(exc).__name__}: {str(exc)[:200]}") from None
    if model.output_shape[-1] != len(meta.labels):
        raise LandguiError(
            f"{run}: the model has {model.output_shape[-1]} outputs but labels.json names {len(meta.labels)} classes"
        )
    return LoadedRun(model, meta.labels, meta.config, meta.image_size, run)


def split_model(model: Any) -> tuple[Any, Any]:
    """(backbone, head) of a transfer model; a clear error for another kind of model."""
    subs = [lyr for lyr in model.layers if hasattr(lyr, "layers") and lyr.layers]
    heads = [s for s in subs if s.name == "head"]
    others = [s for s in subs if s.name != "head"]
    if len(heads) != 1 or len(others) != 1:
        raise LandguiError("fine-tuning on corrections needs a transfer run (a backbone and a head); this is not one")
    return others[0], heads[0]
