"""Training on several devices (``--devices``) with tf.distribute.MirroredStrategy, on two logical CPUs.

TensorFlow splits the CPU into logical devices only before its runtime starts, and other tests start
it in this process first: every strategy run happens in a child process with LANDGUI_LOGICAL_CPUS=2.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from landgui.core.base.errors import LandguiError
from landgui.core.models.build import load_run
from landgui.core.params import TrainParams, parse_devices
from landgui.core.training import devices as DV
from landgui.core.training import trainer as T

TWO_CPUS = ["/cpu:0", "/cpu:1"]


def _child(args: list[str], cpus: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", DV.LOGICAL_CPUS_ENV: str(cpus)}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)


def test_two_logical_cpus_stop_then_resume_with_the_cli(tiny_split, tmp_path):
    """Asking for 3 of 2 devices is a one-line error; trained on both and stopped in the middle of
    epoch 2, the run continues with ``landgui train --resume`` on the same two (the run's own)."""
    run = tmp_path / "run"
    script = textwrap.dedent(
        f"""
        import contextlib, io, json
        from landgui.cli import main
        from landgui.core.training import trainer as T
        from landgui.core.params import ModelSpec

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = main(["train", {str(tiny_split)!r}, "--out", {str(tmp_path / "three")!r}, "--devices", "3"])
        flag = {{"stop": False}}

        def watch(r):
            if r["kind"] == "batch" and r["epoch"] == 2 and r["batch"] == 2:
                flag["stop"] = True

        params = T.TrainParams(epochs=2, batch_size=8, devices=2, export_litert=False)  # kept by --resume
        res = T.train({str(tiny_split)!r}, {str(run)!r}, ModelSpec(model="scratch", image_size=32), params,
                      progress=watch, should_stop=lambda: flag["stop"])
        print(json.dumps({{"rc": rc, "err": err.getvalue(), "status": res.status, "epochs": res.epochs_done}}))
        """
    )
    r = _child(["-c", script])
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["rc"] == 2 and out["err"].count("\n") == 1 and "Traceback" not in out["err"]
    assert out["err"].startswith(
        "landgui: error: cannot train on 3 devices: this machine has 2 devices (/cpu:0, /cpu:1)"
    )
    assert not (tmp_path / "three").exists()
    assert (out["status"], out["epochs"]) == ("stopped", 1)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "stopped" and status["devices"] == TWO_CPUS
    assert status["strategy"] == "MirroredStrategy"

    r = _child(["-m", "landgui", "train", "--resume", str(run), "--quiet"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("completed: 2 epochs")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["devices"] == TWO_CPUS and cfg["strategy"] == "MirroredStrategy" and cfg["params"]["devices"] == 2
    assert "earlier_devices" not in cfg
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())] == [1, 2]
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "completed" and status["devices"] == TWO_CPUS
    loaded = load_run(run)
    probs = np.asarray(loaded.model(np.zeros((2, 32, 32, 3), np.float32)))
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


def test_more_devices_than_there_are_is_one_line(tiny_split, tmp_path, monkeypatch, capsys):
    """The same error in this process, over the devices TensorFlow has here (no logical split)."""
    import tensorflow as tf

    from landgui.cli import main

    monkeypatch.delenv(DV.LOGICAL_CPUS_ENV, raising=False)
    n = len(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))
    assert main(["train", str(tiny_split), "--out", str(tmp_path / "run"), "--devices", str(n + 1)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"landgui: error: cannot train on {n + 1} devices: this machine has {n} ")
    assert err.count("\n") == 1 and not (tmp_path / "run").exists()
    assert main(["train", str(tiny_split), "--out", str(tmp_path / "run"), "--devices", "two"]) == 2
    assert "devices must be 'all' or a number" in capsys.readouterr().err


def test_device_arguments():
    assert parse_devices("all") == "all" and parse_devices("2") == 2 and parse_devices(1) == 1
    for bad in ("0", "two", -1, 0, True, "1.5"):
        with pytest.raises(LandguiError, match="devices must be 'all' or a number"):
            parse_devices(bad)
    with pytest.raises(LandguiError, match="devices must be"):
        TrainParams(devices="many").check()


def test_all_without_a_gpu_is_the_cpu_and_says_so(tiny_split, tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    from landgui.cli import main

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU is visible")
    monkeypatch.delenv(DV.LOGICAL_CPUS_ENV, raising=False)
    cpus = [DV._short_name(d) for d in tf.config.list_logical_devices("CPU")]
    plan = DV.plan_devices("all")
    assert plan.devices == cpus and "no GPU is visible" in (plan.note or "")
    one = DV.plan_devices(1)
    assert one.devices == cpus[:1] and one.strategy is None and one.note is None and one.create() is None

    def no_training(run, config, progress, should_stop, plan):  # the CLI's path up to training
        progress({"kind": "note", "message": plan.note})
        return T.TrainResult(str(run), "completed", 0, None, None, 0.0)

    monkeypatch.setattr(T, "_execute", no_training)
    run = tmp_path / "run"
    assert main(["train", str(tiny_split), "--out", str(run), "--model", "scratch", "--devices", "all"]) == 0
    assert capsys.readouterr().err == f"landgui: note: no GPU is visible: training on the CPU ({', '.join(cpus)})\n"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["params"]["devices"] == "all" and cfg["devices"] == cpus
    assert cfg["strategy"] == ("MirroredStrategy" if len(cpus) > 1 else None)
