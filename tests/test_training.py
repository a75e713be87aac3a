"""Training runs on tiny synthetic data: run folder, progress, stop, resume after SIGKILL, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from landgui.core.base.errors import LandguiError
from landgui.core.data.split import load_split
from landgui.core.models.build import load_run
from landgui.core.params import ModelSpec, TrainParams
from landgui.core.training import trainer as T

ROOT = Path(__file__).resolve().parents[1]


def _scratch(**kw):
    return ModelSpec(model="scratch", image_size=32), T.TrainParams(**{"epochs": 2, "batch_size": 8, **kw})


def test_scratch_run_folder(tiny_split, tmp_path):
    records = []
    spec, params = _scratch()
    res = T.train(tiny_split, tmp_path / "run", spec, params, progress=records.append)
    run = tmp_path / "run"
    assert res.status == "completed" and res.epochs_done == 2
    for name in ("config.json", "labels.json", "status.json", "history.json", "model.keras"):
        assert (run / name).is_file(), name
    assert any((run / "logs").rglob("events.out.tfevents*")), "TensorBoard event files"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["versions"]["tensorflow"] and cfg["versions"]["landgui"] and len(cfg["split_hash"]) == 64
    assert cfg["model"]["model"] == "scratch" and cfg["params"]["epochs"] == 2
    assert TrainParams.from_dict(cfg["params"]) == params and ModelSpec.from_dict(cfg["model"]) == spec
    assert json.loads((run / "labels.json").read_text()) == ["desert", "green_area", "water"]
    hist = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2]
    assert set(hist[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    batches = [r for r in records if r["kind"] == "batch"]
    assert batches and {"epoch", "batch", "batches", "metrics", "elapsed", "eta"} <= set(batches[0])
    assert batches[-1]["batches"] == 3 and batches[-1]["batch"] == 3  # 24 train images / batch 8
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [1, 2]
    loaded = load_run(run)
    assert loaded.labels == ["desert", "green_area", "water"] and loaded.image_size == 32
    x = np.zeros((1, 32, 32, 3), np.float32)
    assert loaded.model(x).shape == (1, 3)


def test_transfer_two_stages_fast_path(tiny_split, tmp_path):
    spec = ModelSpec(model="transfer", image_size=32, fine_tune_layers=5)
    # synthetic clouds over the clear images (water plays the cloud class here): 0.5 per water image
    params = T.TrainParams(epochs=2, fine_tune_epochs=1, batch_size=8, synthetic_clouds=0.5, cloud_class="water")
    records = []
    res = T.train(tiny_split, tmp_path / "run", spec, params, progress=records.append)
    assert res.status == "completed"
    n_water = sum(1 for e in load_split(tiny_split)["splits"]["train"] if e["label"] == "water")
    syn = [r for r in records if r["kind"] == "prepare" and r["stage"] == "features synthetic clouds"]
    assert syn and syn[-1]["done"] == syn[-1]["total"] == 2 * round(0.5 * n_water)
    stages = [h["stage"] for h in res.history]
    assert stages == ["head", "head", "fine-tune"]
    assert any(r["kind"] == "prepare" and r["stage"] == "features train" for r in records), "fast path features"
    ft = next(h for h in res.history if h["stage"] == "fine-tune")
    assert ft["lr"] == pytest.approx(params.lr / 10, rel=1e-3)
    run = load_run(tmp_path / "run")
    import keras

    from landgui.core.models.build import _flat_layers, build_backbone

    # the backbone runs in inference mode and its batch norms stay frozen while fine-tuning: their
    # statistics and scales are still those of a freshly built ImageNet backbone (the reference),
    # and besides them at most the top fine_tune_layers layers changed
    fresh = {lyr.name: lyr for lyr in _flat_layers(build_backbone(spec)) if lyr.weights}
    trained = {lyr.name: lyr for lyr in _flat_layers(run.model) if lyr.name in fresh}
    assert trained.keys() == fresh.keys()
    same = {
        n: all(np.array_equal(a, b) for a, b in zip(trained[n].get_weights(), lyr.get_weights(), strict=True))
        for n, lyr in fresh.items()
    }
    bns = [n for n, lyr in fresh.items() if isinstance(lyr, keras.layers.BatchNormalization)]
    assert bns and all(same[n] for n in bns), [n for n in bns if not same[n]]
    assert sum(not v for v in same.values()) <= spec.fine_tune_layers, [n for n, v in same.items() if not v]
    _unfamiliar_images_score_high(tiny_split, tmp_path / "run", run.model)


def _unfamiliar_images_score_high(split_dir, run_dir, model) -> None:
    """The run kept its training data's footprint: the split's own test images score as familiar,
    images unlike anything it trained on (saturated magenta and cyan stripes) as unfamiliar."""
    from synth import textured_image

    from landgui.core.data import images as D
    from landgui.core.data.split import load_split
    from landgui.core.inference.familiarity import UNFAMILIAR_ABOVE, Familiarity, unfamiliar_share
    from landgui.core.inference.features import compiled
    from landgui.core.models.build import split_model

    fam = Familiarity.load(run_dir)
    assert fam is not None, "a fast-path transfer run writes familiarity.npz"
    extract = compiled(split_model(model)[0])
    files, _ = D.split_files(load_split(split_dir), "test", ["desert", "green_area", "water"])
    own = fam.score(extract(D.decode_all(files.paths, 32).astype(np.float32)))
    rng = np.random.default_rng(5)
    odd = np.stack([textured_image(rng, (255, 0, 255) if i % 2 else (0, 255, 255), 32) for i in range(8)])
    odd[:, ::4] = 0  # stripes: a structure no training image has
    strange = fam.score(extract(odd.astype(np.float32)))
    assert 0.0 <= own.min() and strange.max() <= 1.0
    assert np.median(own) < 0.9 and unfamiliar_share(own) <= 0.25
    assert strange.min() > UNFAMILIAR_ABOVE, strange


def test_fine_tune_keeps_batch_norm_frozen():
    import keras

    from landgui.core.models.build import _flat_layers, build_transfer, set_fine_tune

    model, backbone, head = build_transfer(ModelSpec(model="transfer", image_size=32, classes=["a", "b"], dropout=0.0))
    n = set_fine_tune(backbone, 10, head)
    trainable = [lyr for lyr in _flat_layers(backbone) if lyr.trainable and lyr.weights]
    assert n == 10 and len(trainable) == 10
    assert not any(isinstance(lyr, keras.layers.BatchNormalization) for lyr in trainable)
    # the backbone is called with training=False: BN uses moving statistics even in fit
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    a = np.asarray(model(x, training=True))
    b = np.asarray(model(x, training=False))
    np.testing.assert_allclose(a, b, atol=1e-5)  # BN in training mode would use batch statistics


def test_stop_leaves_a_loadable_stopped_run(tiny_split, tmp_path):
    flag = {"stop": False}

    def watch(r):  # press "stop" in the middle of epoch 2 (3 batches per epoch)
        if r["kind"] == "batch" and r["epoch"] == 2 and r["batch"] == 2:
            flag["stop"] = True

    spec, params = _scratch(epochs=10)
    res = T.train(tiny_split, tmp_path / "run", spec, params, progress=watch, should_stop=lambda: flag["stop"])
    assert res.status == "stopped" and res.epochs_done == 1
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "stopped"
    assert load_run(tmp_path / "run").labels == ["desert", "green_area", "water"]


def test_seeded_first_epoch_loss_is_reproducible(tiny_split, tmp_path):
    spec, params = _scratch(epochs=1)
    a = T.train(tiny_split, tmp_path / "a", spec, params).history[0]["loss"]
    spec, params = _scratch(epochs=1)
    b = T.train(tiny_split, tmp_path / "b", spec, params).history[0]["loss"]
    assert abs(a - b) < 1e-3 * max(1.0, abs(a))


def _train_in_child(split: Path, run: Path, epochs_before: int = 2, **popen) -> subprocess.Popen:
    """Start `landgui train` (40 slow epochs) in a child process; return once it has completed
    ``epochs_before`` epochs."""
    cmd = [sys.executable, "-m", "landgui", "train", str(split), "--out", str(run), "--model", "scratch"]
    cmd += ["--image-size", "32", "--epochs", "40", "--batch-size", "4", "--patience", "100", "--quiet"]
    proc = subprocess.Popen(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, **popen)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        hist = json.loads((run / "history.json").read_text()) if (run / "history.json").exists() else []
        if len(hist) >= epochs_before:
            return proc
        if proc.poll() is not None:
            raise AssertionError("training ended before it could be interrupted")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("training did not reach the epochs in time")


def test_resume_after_sigkill(tiny_split, tmp_path):
    from landgui.core.runs.folder import run_status
    from landgui.core.runs.listing import run_info

    run = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = _train_in_child(tiny_split, run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert run_status(run) == "running"  # its writer is alive
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    st = json.loads((run / "status.json").read_text())
    assert st["status"] == "running" and st["pid"] == proc.pid  # the file could not be updated...
    assert run_status(run) == "interrupted"  # ...but the dead writer is noticed
    assert run_info(run)["status_text"] == "interrupted (resumable)"
    killed_at = json.loads((run / "checkpoint" / "state.json").read_text())["stage_epoch"]
    assert 2 <= killed_at < 40
    # resume with fewer total epochs so the test stays short: edit nothing, just run --resume
    cfg = json.loads((run / "config.json").read_text())
    cfg["params"]["epochs"] = killed_at + 2
    (run / "config.json").write_text(json.dumps(cfg))
    r = subprocess.run(
        [sys.executable, "-m", "landgui", "train", "--resume", str(run), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    hist = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == list(range(1, killed_at + 3)), "continues after the last completed epoch"
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert load_run(run).labels == ["desert", "green_area", "water"]


def test_ctrl_c_leaves_a_stopped_resumable_run(tiny_split, tmp_path):
    run = tmp_path / "run"
    proc = _train_in_child(tiny_split, run, 1, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and f"landgui train --resume {run}" in out
    st = json.loads((run / "status.json").read_text())
    assert st["status"] == "stopped" and "Ctrl+C" in st["message"], st
    stopped = json.loads((run / "history.json").read_text())
    assert stopped and (run / "checkpoint" / "state.json").exists(), "stopped after an epoch: a checkpoint"
    # resumable: it continues from where it stopped (one more epoch, so that the test stays short)
    cfg = json.loads((run / "config.json").read_text())
    cfg["params"]["epochs"] = len(stopped) + 1
    (run / "config.json").write_text(json.dumps(cfg))
    assert T.resume(run).status == "completed"
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, len(stopped) + 2)) and history[: len(stopped)] == stopped


def test_status_of_a_run_whose_writer_is_gone(tmp_path):
    import socket

    from landgui.core.runs.folder import STALE_AFTER_S, run_status

    run = tmp_path / "r"
    run.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    now = time.time()

    def status(**kw):
        (run / "status.json").write_text(json.dumps({"status": "running", "host": socket.gethostname(), **kw}))
        return run_status(run, now=now)

    assert status(pid=os.getpid(), heartbeat=now) == "running"
    assert status(pid=int(dead.stdout), heartbeat=now) == "interrupted"
    assert status(pid=os.getpid(), heartbeat=now - STALE_AFTER_S - 1) == "interrupted"  # hung, or a reused pid
    (run / "status.json").write_text(json.dumps({"status": "running", "host": "elsewhere", "pid": 1, "heartbeat": now}))
    assert run_status(run, now=now) == "running"  # another machine's live run
    (run / "status.json").write_text(json.dumps({"status": "running"}))  # an old run folder, no heartbeat
    os.utime(run / "status.json", (now - STALE_AFTER_S - 5,) * 2)
    assert run_status(run, now=now) == "interrupted"
    (run / "status.json").write_text(json.dumps({"status": "stopped"}))
    assert run_status(run) == "stopped"


def test_bad_input_is_one_line_and_writes_nothing(tiny_split, tmp_path, monkeypatch):
    from landgui.core.data.split import load_split

    spec, params = _scratch(epochs=1)
    # existing run: refused without --overwrite
    T.train(tiny_split, tmp_path / "run", spec, params)
    with pytest.raises(LandguiError, match="already holds a run"):
        T.train(tiny_split, tmp_path / "run", *_scratch(epochs=1))
    T.train(tiny_split, tmp_path / "run", *_scratch(epochs=1), overwrite=True)
    # read-only output folder
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    if os.geteuid() == 0:  # root ignores permissions: simulate the ordinary user's view
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: False if str(p).startswith(str(ro)) else real(p, m))
    with pytest.raises(LandguiError, match="read-only|cannot write"):
        T.train(tiny_split, ro / "run", *_scratch(epochs=1))
    assert not (ro / "run").exists()
    # single-class split
    m = load_split(tiny_split)
    one = json.loads(Path(m["_path"]).read_text())
    for s in ("train", "val", "test"):
        one["splits"][s] = [e for e in one["splits"][s] if e["label"] == "water"]
    one["classes"] = ["water"]
    one["counts"] = {"water": one["counts"]["water"]}
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "split.json").write_text(json.dumps(one))
    with pytest.raises(LandguiError, match="at least 2 classes"):
        T.train(tmp_path / "one", tmp_path / "r1", *_scratch())
    assert not (tmp_path / "r1").exists()
    # missing files
    victim = Path(m["dataset_root"]) / m["splits"]["train"][0]["path"]
    victim.unlink()
    with pytest.raises(LandguiError, match="1 file\\(s\\) of the train split are missing"):
        T.train(tiny_split, tmp_path / "r2", *_scratch())
    assert not (tmp_path / "r2").exists()


def test_out_of_memory_is_a_clear_message(tiny_split, tmp_path, monkeypatch):
    import keras
    import tensorflow as tf

    def oom(self, *a, **k):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(keras.Model, "fit", oom)
    with pytest.raises(LandguiError, match="out of memory at batch size 8; try --batch-size 4"):
        T.train(tiny_split, tmp_path / "run", *_scratch())
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "failed"


def test_cli_train_errors(tiny_split, tmp_path, capsys):
    from landgui.cli import main

    assert main(["train", str(tmp_path / "nosplit"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("landgui: error: no split.json") and err.count("\n") == 1
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "holds no run to resume" in capsys.readouterr().err


def test_load_run_from_another_version_is_a_clear_error(tiny_split, tmp_path):
    T.train(tiny_split, tmp_path / "run", *_scratch(epochs=1))
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    cfg["run_schema_version"] = 99
    cfg["landgui_version"] = "9.0"
    (tmp_path / "run" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(LandguiError, match="written by landgui 9.0 with run schema 99"):
        load_run(tmp_path / "run")
