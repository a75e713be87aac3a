"""Reduced precision behind a guard (issue 28): OpenVINO gives LiteRT's answers in float32, a
network split in two gives the whole network's, the guard refuses a model whose answers change,
and ``auto`` never uses a model the guard refused or never saw."""

import json
import sys

import numpy as np
import pytest

from landgui.core.base.errors import LandguiError
from landgui.core.inference import engine as E
from landgui.core.inference import guard
from landgui.core.inference import openvino_engine as OV

pytestmark = [
    pytest.mark.skipif(not OV.openvino_available(), reason="openvino is a dependency; it has no wheel here"),
    pytest.mark.skipif(sys.platform == "win32", reason="ai-edge-litert has no Windows wheel"),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny transfer-free scratch run (3 classes, 32 px), one epoch, with its LiteRT file."""
    from synth import make_dataset

    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import write_split
    from landgui.core.params import ModelSpec, SplitParams
    from landgui.core.training import trainer as T

    base = tmp_path_factory.mktemp("fast")
    root = make_dataset(base / "ds", per_class=12, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(root), base / "split", SplitParams(seed=0))
    T.train(
        base / "split", base / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1, batch_size=8)
    )
    E.litert_file(base / "run")
    return base / "run"


def _images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 40, (n, size, size, 3)), 0, 255).astype(np.float32)


def test_openvino_float32_gives_litert_answers(run_dir):
    x = _images(40)
    lite, ov = E.load_predictor(run_dir, "litert"), E.load_predictor(run_dir, "openvino")
    assert ov.engine == "openvino"
    a, b = lite(x), ov(x)
    assert np.abs(a - b).max() < 1e-4
    assert (a.argmax(1) == b.argmax(1)).all()


def test_a_network_split_in_two_gives_the_whole_networks_answers(run_dir, monkeypatch):
    """Every cut point, both halves in float32: the split alone changes nothing."""
    monkeypatch.setattr(OV.OpenVINOPredictor, "rest_precision", "f32")
    lite = E.load_predictor(run_dir, "litert")
    cuts = OV.cut_points(lite.path)
    assert cuts, "the scratch model has block outputs to cut at"
    x = _images(16, seed=1)
    whole = lite(x)
    for cut in cuts:
        part = OV.OpenVINOPredictor(lite.path, run_dir, lite.labels, 32, 1, cut=cut)
        assert part.engine == "openvino-bf16"
        assert np.abs(part(x) - whole).max() < 1e-4, cut


def _val(run_dir, n: int = 200) -> tuple[np.ndarray, guard.ValidationSet]:
    """The run's training and validation images (the tiny split's val part alone is 6 images),
    repeated to ``n``, as two sources."""
    from landgui.core.data.images import load_resized, split_files
    from landgui.core.data.split import load_split
    from landgui.core.runs.folder import read_run

    info = read_run(run_dir)
    files, _ = split_files(load_split(info.config["split"]), ("train", "val"), info.labels)
    idx = np.arange(n) % len(files.paths)
    x = np.stack([load_resized(files.paths[i], 32) for i in idx]).astype(np.float32)
    return x, guard.ValidationSet(x, files.labels[idx], ["a"] * (n // 2) + ["b"] * (n - n // 2))


def _damaged(path, out):
    """The run's file with every weight tensor multiplied by Gaussian noise (sign flips included), as an OpenVINO IR."""
    import openvino as ov
    import openvino.opset13 as ops

    m = OV._core().read_model(str(path))
    rng = np.random.default_rng(0)
    for node in m.get_ordered_ops():
        if (
            node.get_type_name() == "Constant"
            and node.get_element_type() == ov.Type.f32
            and node.get_output_size() == 1
        ):
            w = node.get_data().copy()
            if w.size > 8:
                noisy = ops.constant((w * rng.standard_normal(w.shape)).astype(np.float32))
                for target in list(node.output(0).get_target_inputs()):
                    target.replace_source_output(noisy.output(0))
    ov.save_model(m, str(out))
    return out


def test_the_guard_refuses_a_damaged_model_and_passes_the_same_model(run_dir, tmp_path):
    x, val = _val(run_dir)
    lite = E.load_predictor(run_dir, "litert")
    ref = lite(x)
    same = guard.check(ref, E.load_predictor(run_dir, "openvino")(x), val, "openvino", None)
    assert same.passed and same.agreement == 100.0, same
    bad_file = _damaged(lite.path, tmp_path / "damaged.xml")
    bad = OV.OpenVINOPredictor(bad_file, run_dir, lite.labels, 32, 1)
    probs = bad(x)
    agreement = float(np.mean(probs.argmax(1) == ref.argmax(1)))
    assert agreement < guard.MIN_AGREEMENT  # the damage is real: the test's premise
    result = guard.check(ref, probs, val, "openvino-bf16", 3)
    assert not result.passed and "agreement" in result.reason


def test_the_guard_refuses_an_accuracy_drop_on_one_source_that_agreement_alone_would_pass():
    """1,000 images, all right in float32; the candidate turns 2 of source a's 500 right answers
    wrong: 99.8 % agreement (above 99.5 %) but -0.4 points on source a (beyond 0.3)."""
    truth = np.arange(1000) % 3
    ref = np.eye(3, dtype=np.float32)[truth]
    cand = ref.copy()
    cand[[0, 3]] = np.eye(3, dtype=np.float32)[(truth[[0, 3]] + 1) % 3]
    val = guard.ValidationSet(np.zeros((1000, 1, 1, 3), np.float32), truth, ["a"] * 500 + ["b"] * 500)
    result = guard.check(ref, cand, val, "openvino-bf16", 7)
    assert result.agreement == 99.8 and result.accuracy["a"] == [100.0, 99.6] and result.accuracy["b"] == [100.0, 100.0]
    assert not result.passed and result.reason == "accuracy drops 0.40 points on a source (> 0.3)"
    one = ref.copy()
    one[0] = np.eye(3, dtype=np.float32)[(truth[0] + 1) % 3]
    assert guard.check(ref, one, val, "openvino-bf16", 7).passed  # -0.2 points: within the limit


def test_make_fast_model_records_a_passing_cut_and_auto_uses_only_guarded_models(run_dir, monkeypatch):
    monkeypatch.setattr(OV, "native_bf16", lambda: True)
    monkeypatch.setattr(OV.OpenVINOPredictor, "rest_precision", "f32")  # passes on any CPU
    monkeypatch.setenv(E.FAST_MODEL_ENV, "1")
    lite = E.load_predictor(run_dir, "litert")
    fast_file = lite.path.parent / guard.GUARD_FILE
    fast_file.unlink(missing_ok=True)
    with pytest.raises(LandguiError, match="has no guarded bfloat16 model"):
        E.load_predictor(run_dir, "openvino-bf16")
    _, val = _val(run_dir)
    record = guard.make_fast_model(lite, val)
    assert record["chosen"]["passed"] and record["chosen"]["cut"] in OV.cut_points(lite.path)
    assert json.loads(fast_file.read_text())["tflite_sha256"] == record["tflite_sha256"]
    assert E.load_predictor(run_dir, "openvino-bf16").cut == record["chosen"]["cut"]
    assert E.load_predictor(run_dir, "auto").engine in ("litert", "openvino-bf16")
    # a refused record: auto stays on LiteRT, the explicit engine says why
    refused = dict(record, chosen=None)
    fast_file.write_text(json.dumps(refused))
    assert E.load_predictor(run_dir, "auto").engine == "litert"
    with pytest.raises(LandguiError, match="no split point passed the guard"):
        E.load_predictor(run_dir, "openvino-bf16")
    # a record of other bytes (the model changed since) counts as none
    fast_file.write_text(json.dumps(dict(record, tflite_sha256="0" * 64)))
    assert guard.chosen_cut(lite.path) is None
    fast_file.unlink()


def test_the_guard_does_not_run_without_native_bfloat16(run_dir, monkeypatch):
    monkeypatch.setattr(OV, "native_bf16", lambda: False)
    lite = E.load_predictor(run_dir, "litert")
    record = guard.make_fast_model(lite, _val(run_dir)[1])
    assert record["chosen"] is None and record["skipped"] == "this CPU has no native bfloat16"
    (lite.path.parent / guard.GUARD_FILE).unlink()


def test_training_makes_the_guarded_model_so_the_first_map_does_not_wait(tmp_path, monkeypatch):
    """Where auto could use it, the guard runs at the end of training (its record is there before
    any map); with the suite's LANDGUI_FAST_MODEL=0, as on a CPU without bfloat16, it does not."""
    from synth import make_dataset

    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import write_split
    from landgui.core.params import ModelSpec, SplitParams
    from landgui.core.training import trainer as T

    root = make_dataset(tmp_path / "ds", per_class=8, classes=("desert", "water"))
    write_split(scan_dataset(root), tmp_path / "split", SplitParams(seed=0))
    spec, params = ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1, batch_size=8)
    T.train(tmp_path / "split", tmp_path / "off", spec, params)
    assert (tmp_path / "off" / "model.tflite").is_file() and not (tmp_path / "off" / guard.GUARD_FILE).exists()
    monkeypatch.setattr(OV, "native_bf16", lambda: True)
    monkeypatch.setattr(OV.OpenVINOPredictor, "rest_precision", "f32")
    monkeypatch.setenv(E.FAST_MODEL_ENV, "1")
    T.train(tmp_path / "split", tmp_path / "on", spec, params)
    record = guard.read_fast_model(tmp_path / "on" / "model.tflite")
    assert record is not None and record["images"] > 0 and record["chosen"]["passed"]
