"""EfficientNet-Lite0 offline ImageNet weights, the safe legacy-PyTorch reader, Keras applications."""

import pickle
import struct

import cv2
import numpy as np
import pytest

from landgui.core import efficientnet_lite as E
from landgui.core.errors import LandguiError
from landgui.core.torch_legacy import MAGIC_NUMBER, TorchFileError, load_state_dict


def test_efficientnet_lite0_weights_are_imagenet_weights():
    from skimage import data

    model = E.imagenet_model(224, include_top=True)
    top = {}
    for name in ("chelsea", "coffee"):
        x = cv2.resize(getattr(data, name)(), (224, 224), interpolation=cv2.INTER_AREA).astype("float32")[None]
        logits = np.asarray(model(x, training=False))[0]
        top[name] = list(np.argsort(-logits)[:3])
    assert set(top["chelsea"]) & {281, 282, 283, 284, 285}, top  # tabby/tiger/Persian/Siamese/Egyptian cat
    assert top["coffee"][0] == 967, top  # espresso
    assert (E.cache_dir() / E.CACHE_NAME).exists(), "converted weights are cached"
    again = E.imagenet_weights()  # from the cache now
    assert np.array_equal(again["predictions"][1], model.get_layer("predictions").get_weights()[1])


def test_state_dict_shapes():
    sd = load_state_dict(E.source_weights_path())
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3) and sd["_conv_stem.weight"].dtype == np.float32
    assert sd["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert sd["_fc.weight"].shape == (1000, 1280)
    assert not any("_se_" in k for k in sd), "Lite0 has no squeeze-excitation"


def _legacy_file(path, obj_pickle: bytes) -> None:
    with open(path, "wb") as fh:
        for header in (MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True, "type_sizes": {}}):
            pickle.dump(header, fh, protocol=2)
        fh.write(obj_pickle)
        pickle.dump([], fh, protocol=2)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /tmp/landgui-pwned",))


def test_reader_refuses_code_and_garbage(tmp_path):
    bad = tmp_path / "evil.pth"
    _legacy_file(bad, pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(TorchFileError, match="refusing to load posix.system|refusing to load os.system"):
        load_state_dict(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(pickle.dumps(12345, protocol=2) + b"rest")
    with pytest.raises(TorchFileError, match="bad magic"):
        load_state_dict(junk)
    trunc = tmp_path / "trunc.pth"
    data = E.source_weights_path().read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(TorchFileError, match="truncated"):
        load_state_dict(trunc)
    assert struct.calcsize("<q") == 8


def test_keras_application_offline_is_a_clear_message(monkeypatch):
    import keras.src.utils.file_utils as fu

    def no_network(*a, **k):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(fu, "get_file", no_network)
    from landgui.core.models import ModelSpec, build_backbone

    with pytest.raises(LandguiError, match="Offline, use --backbone efficientnet_lite0"):
        build_backbone(ModelSpec(backbone="mobilenet_v2", image_size=96, classes=["a", "b"]))


def test_keras_application_from_local_weights_file(tmp_path, monkeypatch):
    import keras
    import keras.src.utils.file_utils as fu

    monkeypatch.setattr(fu, "get_file", lambda *a, **k: pytest.fail("must not download"))
    ref = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3), pooling="avg")
    path = tmp_path / "mnv2.weights.h5"
    ref.save_weights(path)
    from landgui.core.models import ModelSpec, build_backbone

    bb = build_backbone(
        ModelSpec(backbone="mobilenet_v2", image_size=96, classes=["a", "b"], backbone_weights=str(path))
    )
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    want = np.asarray(ref(x / 127.5 - 1.0, training=False))
    np.testing.assert_allclose(np.asarray(bb(x, training=False)), want, rtol=1e-4, atol=1e-4)
    assert not bb.trainable
