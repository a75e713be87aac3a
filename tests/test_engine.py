"""Inference engines: LiteRT agrees with Keras, is converted once per model, and maps scenes
without importing TensorFlow; the mapping pipeline feeds a patch to the model exactly as training
would."""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from landgui.core import scenes as S
from landgui.core.base import paths as _paths
from landgui.core.base.errors import LandguiError
from landgui.core.inference import engine as E

# ai-edge-litert is a dependency wherever it has a wheel: a broken install fails, it does not skip
pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="ai-edge-litert has no Windows wheel (pyproject installs it everywhere else)"
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny scratch run trained for one epoch on synthetic images (3 classes, 32 px)."""
    from synth import make_dataset

    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import write_split
    from landgui.core.params import ModelSpec, SplitParams
    from landgui.core.training import trainer as T

    base = tmp_path_factory.mktemp("engine")
    root = make_dataset(base / "ds", per_class=12, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(root), base / "split", SplitParams(seed=0))
    T.train(
        base / "split", base / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1, batch_size=8)
    )
    return base / "run"


def _images(n: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 40, (n, size, size, 3)), 0, 255).astype(np.float32)


def test_litert_agrees_with_keras_and_is_converted_once(run_dir):
    keras_p = E.load_predictor(run_dir, "keras")
    lite = E.load_predictor(run_dir, "litert")
    assert (keras_p.engine, lite.engine) == ("keras", "litert")
    x = _images(70, 32)
    pk, pl = keras_p(x), lite(x)
    assert pl.shape == (70, 3) and pl.dtype == np.float32
    assert np.abs(pk - pl).max() < 1e-4
    assert (pk.argmax(1) == pl.argmax(1)).all()
    assert np.allclose(lite(x[:5]), pl[:5], atol=1e-6)  # another batch size: tensors resized
    tfl = run_dir / E.LITERT_FILE
    meta = json.loads((run_dir / E.LITERT_META).read_text())
    assert meta["model_sha256"] == _paths.file_sha256(run_dir / "model.keras")
    mtime = tfl.stat().st_mtime_ns
    E.load_predictor(run_dir, "litert")
    assert tfl.stat().st_mtime_ns == mtime  # not converted again


def test_changed_model_is_converted_again(run_dir, tmp_path):
    from landgui.core.models.build import load_run

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    E.load_predictor(run, "litert")
    model = load_run(run).model
    dense = model.get_layer("predictions")
    w, b = dense.get_weights()
    dense.set_weights([w, b + np.array([5.0, 0.0, 0.0], np.float32)])  # favours class 0
    model.save(run / "model.keras")
    p = E.load_predictor(run, "litert")
    assert json.loads((run / E.LITERT_META).read_text())["model_sha256"] == _paths.file_sha256(run / "model.keras")
    assert (p(_images(20, 32)).argmax(1) == 0).mean() > 0.9


def test_read_only_run_converts_into_the_user_cache(run_dir, tmp_path, monkeypatch):
    run = tmp_path / "shipped"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("model.tflite*"))
    before = sorted(p.name for p in run.iterdir())
    real_access = os.access
    monkeypatch.setattr(E.os, "access", lambda p, m: False if Path(p) == run else real_access(p, m))
    p = E.load_predictor(run, "litert")
    assert sorted(q.name for q in run.iterdir()) == before  # nothing written into the run
    assert Path(os.environ["XDG_CACHE_HOME"]) in p.path.parents
    assert E.load_predictor(run, "litert").path == p.path


def test_engine_names_and_threads(monkeypatch):
    from landgui.core.base import threads

    with pytest.raises(LandguiError, match="unknown engine"):
        E.resolve_engine("onnx")
    assert E.resolve_engine("auto") == "litert"
    monkeypatch.setenv("LANDGUI_THREADS", "3")
    assert threads.available_cores() == 3
    monkeypatch.delenv("LANDGUI_THREADS")
    assert 1 <= threads.available_cores() <= (os.cpu_count() or 1)


def test_segment_with_litert_does_not_import_tensorflow(run_dir, tmp_path):
    E.load_predictor(run_dir, "litert")  # the run's LiteRT file exists (made at training or once)
    scene = tmp_path / "scene.png"
    cv2.imwrite(str(scene), _images(1, 96)[0].astype(np.uint8))
    code = (
        "import sys; from landgui.cli import main; "
        f"rc = main(['segment', {str(run_dir)!r}, {str(scene)!r}, '--out', {str(tmp_path / 'out')!r}, '--quiet']); "
        "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules, rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "TF False False 0" in out.stdout, out.stdout + out.stderr
    summary = json.loads((tmp_path / "out" / "scene.summary.json").read_text())
    assert summary["engine"] == "litert" and summary["patches"] == 4


def _mapping_inputs(scene_img: np.ndarray, path: Path, patch: int, stride: int, size: int) -> dict[int, np.ndarray]:
    cv2.imwrite(str(path), cv2.cvtColor(scene_img, cv2.COLOR_RGB2BGR))
    sc = S.open_scene(path)
    grid = S.make_grid(sc.width, sc.height, patch, stride, "skip")
    q: queue.Queue = queue.Queue()
    S._patch_batches(sc, grid, size, 4, False, q, threading.Event())
    out = {}
    while (item := q.get()) is not None:
        idx, imgs = item
        if not isinstance(idx, str):
            out.update({int(i): im for i, im in zip(idx, imgs, strict=True)})
    return out, grid


@pytest.mark.parametrize(("patch", "stride", "size"), [(40, 40, 32), (20, 20, 32), (40, 24, 32), (32, 32, 32)])
def test_a_patch_gets_the_same_model_input_in_mapping_and_training(tmp_path, patch, stride, size):
    """The mapping pipeline (strided strips, batched) and the training loader (one file) resize by
    the same rule: the same patch, saved as a file, gives byte-identical model input."""
    from landgui.core.data.images import load_resized

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (100, 130, 3), dtype=np.uint8)
    inputs, grid = _mapping_inputs(img, tmp_path / "scene.png", patch, stride, size)
    assert len(inputs) == grid.n
    for idx, got in inputs.items():
        r, c = divmod(idx, grid.cols)
        crop = img[r * stride : r * stride + patch, c * stride : c * stride + patch]
        f = tmp_path / f"p{idx}.png"
        cv2.imwrite(str(f), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
        assert np.array_equal(got, load_resized(f, size)), f"patch {idx}"
