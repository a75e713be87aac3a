"""A hostile but realistic user: bad arguments, files and folders across every command.

Each case must end with exit code 2 and one line on stderr starting ``landgui: error:`` (no
traceback, no "internal error"), must contain the words that tell the user what is wrong, and
must leave the dataset's files exactly as they were.
"""

import json
import os
import re
import shutil
import socket
import time

import cv2
import numpy as np
import pytest
from synth import make_dataset, tree_snapshot, write_geotiff

from landgui.cli import main

PROGRESS = re.compile(r"\[[#.]+\] +\d+\.\d%")  # a progress bar line, e.g. while scanning


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A dataset, its split, a tiny trained run, scenes and bad files (built once)."""
    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split
    from landgui.core.models.build import ModelSpec
    from landgui.core.training import trainer as T

    base = tmp_path_factory.mktemp("world")
    ds = make_dataset(base / "ds", per_class=10, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(ds), base / "split", SplitParams(seed=0))
    write_split(scan_dataset(ds), base / "other-split", SplitParams(seed=7))
    T.train(base / "split", base / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1))
    corrupt = base / "corrupt-run"
    shutil.copytree(base / "run", corrupt)
    (corrupt / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    for f in corrupt.glob("model.tflite*"):
        f.unlink()
    # issue 23: a run another process is training now (this process stands for it: a live pid on
    # this host, a heartbeat that stays fresh however long the module takes), and a stopped run
    # whose checkpoint is gone
    live = base / "live-run"
    shutil.copytree(base / "run", live)
    (live / "status.json").write_text(
        json.dumps(
            {"status": "running", "pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time() + 3600}
        )
    )
    lost = base / "lost-checkpoint-run"
    shutil.copytree(base / "run", lost)
    (lost / "status.json").write_text(json.dumps({"status": "stopped"}))
    (lost / "checkpoint" / "state.json").unlink()
    (base / "file.txt").write_text("I am a file")
    (base / "empty").mkdir()
    (base / "full").mkdir()
    (base / "full" / "mine.txt").write_text("keep me")
    (base / "materialized" / "train").mkdir(parents=True)
    (base / "materialized" / "train" / "x.png").write_bytes(b"x")
    cv2.imwrite(str(base / "scene.png"), np.full((128, 128, 3), 120, np.uint8))
    (base / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    write_geotiff(base / "seven.tif", np.zeros((64, 64, 7), np.uint8))
    m = json.loads((base / "split" / "split.json").read_text())
    m["splits"]["test"][0]["path"] = "../../etc/passwd"
    (base / "evil").mkdir()
    (base / "evil" / "split.json").write_text(json.dumps(m))
    (base / "damaged").mkdir()
    (base / "damaged" / "split.json").write_text('{"schema": "landgui.split", "schema_version": 1, "splits": 3}')
    for add_to_world in (_world_runs, _world_robust, _world_outputs, _world_scenes):
        add_to_world(base)
    return base


# Issue 23/25/28 rounds: each area adds what its cases need to the world here, and its cases below.
def _world_runs(base):
    """Run folders and splits for the run-folder contract cases (issue 23)."""


def _world_robust(base):
    """Odd files and arrays for the robustness cases (issue 23)."""


def _world_outputs(base):
    """Output folders holding users' own files (issues 23 and 28)."""


def _world_scenes(base):
    """Multi-band and georeferenced scenes (issue 25)."""


# (argv with placeholders, words the one-line error must contain)
CASES = [
    # split
    (["split", "W/nope", "--out", "W/o1"], "dataset folder not found: W/nope"),
    (["split", "W/file.txt", "--out", "W/o1"], "not a folder: W/file.txt"),
    (["split", "W/empty", "--out", "W/o1"], "no class folders"),
    (["split", "W/ds", "--out", "W/ds/water"], "inside the dataset folder"),
    (["split", "W/ds", "--out", "W/file.txt"], "is a file"),
    (["split", "W/ds", "--out", "/proc/landgui"], "cannot write"),
    (["split", "W/ds", "--out", "W/o1", "--val", "1.5"], "--val must be between 0 and 1, got 1.5"),
    (["split", "W/ds", "--out", "W/o1", "--val", "-0.1"], "--val must be between 0 and 1, got -0.1"),
    (["split", "W/ds", "--out", "W/o1", "--val", "0.6", "--test", "0.6"], "--val + --test must be below 1"),
    (["split", "W/ds", "--out", "W/o1", "--seed", "-5"], "--seed must be 0 or more"),
    (["split", "W/ds", "--out", "W/o1", "--val", "abc"], "invalid float value"),
    (["split", "W/ds", "--out", "W/split"], "already exists"),
    (["split", "W/ds", "--out", "W/materialized", "--materialize", "copy"], "already holds files"),
    (["split", "W/ds", "--out", "W/o1", "--materialize", "move"], "invalid choice"),
    # train
    (["train", "W/split", "--out", "W/run"], "already holds a run"),
    (["train", "W/split", "--out", "W/live-run", "--overwrite"], "is still being trained"),
    (["train", "--resume", "W/lost-checkpoint-run"], "cannot be resumed"),
    (["train", "W/split", "--out", "W/o2", "--fine-tune-layers", "-1"], "--fine-tune-layers must be 0 or more"),
    # issue 23, item 14: checked before the run folder is written (W/o3 must not appear), and
    # refused where it would be ignored but recorded
    (
        ["train", "W/split", "--out", "W/o3", "--backbone", "mobilenet_v2", "--backbone-weights", "W/nope.h5"],
        "backbone weights file not found",
    ),
    (["train", "W/split", "--out", "W/o3", "--backbone-weights", "W/file.txt"], "efficientnet_lite0 does not read it"),
    (["train", "W/split", "--out", "W/o2", "--epochs", "-3"], "epochs must be at least 1"),
    (["train", "W/split", "--out", "W/o2", "--epochs", "0"], "epochs must be at least 1"),
    (["train", "W/split", "--out", "W/o2", "--image-size", "0"], "image size must be between 16 and 1024 px"),
    (["train", "W/split", "--out", "W/o2", "--lr", "nan"], "learning rate must be a number in (0, 1], got nan"),
    (["train", "W/split", "--out", "W/o2", "--lr", "-1"], "learning rate must be a number in (0, 1], got -1"),
    (["train", "W/split", "--out", "W/o2", "--batch-size", "0"], "batch size must be at least 1"),
    (["train", "W/split", "--out", "W/o2", "--patience", "0"], "patience must be at least 1"),
    (["train", "W/split", "--out", "W/o2", "--fine-tune-epochs", "-1"], "fine-tune epochs must be 0 or more"),
    (["train", "W/split", "--out", "W/o2", "--model", "big"], "invalid choice"),
    (["train", "W/split", "--out", "W/o2", "--backbone", "nope"], "unknown backbone 'nope'"),
    (["train", "W/nope", "--out", "W/o2"], "no split.json"),
    (["train", "W/damaged", "--out", "W/o2"], "damaged"),
    (["train", "W/evil", "--out", "W/o2"], "outside the dataset folder"),
    (["train", "W/split"], "give SPLIT_DIR and --out RUN_DIR"),
    (["train", "W/split", "--out", "W/file.txt"], "not a folder"),
    (["train", "W/split", "--out", "/proc/landgui-run"], "cannot write"),
    (["train", "W/split", "--out", "W/ds/water/run"], "inside the dataset"),
    (["train", "--resume", "W/nope"], "no run to resume"),
    (["train", "--resume", "W/run"], "already completed"),
    # evaluate
    (["evaluate", "W/nope"], "run folder not found: W/nope"),
    (["evaluate", "W/file.txt"], "not a landgui run"),
    (["evaluate", "W/corrupt-run"], "model.keras is corrupt"),
    (["evaluate", "W/run", "--split-file", "W/other-split/split.json"], "is not the split the model was trained on"),
    (["evaluate", "W/run", "--allow-other-split"], "--split-file"),
    (["evaluate", "W/run", "--data", "W/nope"], "dataset folder not found: W/nope"),
    (["evaluate", "W/run", "--data", "W/file.txt"], "not a folder: W/file.txt"),
    (["evaluate", "W/run", "--ignore-unknown"], "--data"),
    (["evaluate", "W/run", "--split-file", "W/evil/split.json", "--allow-other-split"], "outside the dataset"),
    (["evaluate", "W/run", "--engine", "gpu"], "invalid choice"),
    # predict
    (["predict", "W/nope", "W/scene.png"], "run folder not found: W/nope"),
    (["predict", "W/run", "W/nope.png"], "none of the images could be read: W/nope.png: unreadable"),
    # segment
    (["segment", "W/run", "W/nope.png", "--out", "W/o3"], "scene not found"),
    (["segment", "W/nope", "W/scene.png", "--out", "W/o3"], "run folder not found: W/nope"),
    (["segment", "W/run", "W/scene.png", "--out", "W/file.txt"], "is a file"),
    (["segment", "W/run", "W/scene.png", "--out", "/proc/landgui-maps"], "cannot write"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--patch", "0"], "patch size must be at least 1 px"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--patch", "100000"], "larger than the scene"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--stride", "0"], "stride must be at least 1 px"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--batch", "0"], "--batch must be at least 1"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--formats", ","], "unknown or no format(s) ','"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--formats", "pdf"], "unknown or no format(s) ['pdf']"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--uncertain-below", "2"], "between 0 and 1"),
    (["segment", "W/run", "W/broken.png", "--out", "W/o3"], "cannot read broken.png: not an image"),
    (["segment", "W/run", "W/seven.tif", "--out", "W/o3"], "7 bands: not supported"),
    # finetune
    (["finetune", "W/nope", "--add", "W/ds", "--out", "W/o4"], "run folder not found: W/nope"),
    (["finetune", "W/run", "--add", "W/ds", "--out", "W/o4"], "needs a transfer run"),
    (["finetune", "default", "--add", "W/nope", "--out", "W/o4"], "dataset folder not found: W/nope"),
    (["finetune", "default", "--add", "W/ds", "--out", "W/o4", "--epochs", "0"], "epochs must be at least 1"),
    (["finetune", "default", "--add", "W/ds", "--out", "W/run"], "W/run already holds a run"),
    # compare, sample-dataset
    (["compare", "W/nope"], "not a landgui run"),
    (["sample-dataset", "W/file.txt"], "W/file.txt is a file, not a folder"),
    (["sample-dataset", "W/full"], "not empty"),
    (["sample-dataset", "/proc/landgui-sample"], "cannot copy the sample dataset to /proc/landgui-sample"),
    # assess
    (["assess", "sample", "W/nope.json", "--n", "10", "--seed", "0", "--out", "W/s.csv"], "map not found: W/nope.json"),
    (["assess", "estimate", "W/nope.json", "W/s.csv"], "map not found: W/nope.json"),
    (
        [
            "assess",
            "sample",
            "W/scene.png",
            "--target-se",
            "0.01",
            "--anticipated",
            "x=y",
            "--seed",
            "0",
            "--out",
            "W/s.csv",
        ],
        "--anticipated takes a number or CLASS=U pairs",
    ),
]
CASES_RUNS = []  # issue 23: the run folder as a checked contract
CASES_ROBUST = []  # issue 23: odd files, arrays, threads, quiet libraries
CASES_OUTPUTS = []  # issues 23 and 28: outputs that never clobber
CASES_SCENES = []  # issue 25: bands, resolution, radiometry
CASES += CASES_RUNS + CASES_ROBUST + CASES_OUTPUTS + CASES_SCENES


@pytest.mark.parametrize(("argv", "words"), CASES, ids=[" ".join(a).replace("W/", "")[:70] for a, _ in CASES])
def test_bad_input_is_one_clear_line(world, argv, words, capfd):
    before = tree_snapshot(world / "ds")
    run_before = tree_snapshot(world / "run")
    rc = main([a.replace("W/", f"{world}/") if a.startswith("W/") else a for a in argv])
    out, err = capfd.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip() and not PROGRESS.search(ln)]
    assert rc == 2, (rc, out[-500:], err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("landgui: error:"), err[-2000:]
    assert "Traceback" not in err + out and "internal error" not in err, err[-2000:]
    assert words.replace("W/", "") in lines[0].replace(str(world) + "/", ""), lines[0]
    assert tree_snapshot(world / "ds") == before, "the dataset must not change"
    assert {k: v for k, v in tree_snapshot(world / "run").items() if "evaluation" not in k} == {
        k: v for k, v in run_before.items() if "evaluation" not in k
    }, "a failed command must not change the run"


def test_refused_backbone_weights_leave_no_run_folder(world, tmp_path, capfd):
    """--backbone-weights is checked before anything is written, so the corrected command is not
    then refused as "already holds a run" (issue 23, item 14)."""
    out = tmp_path / "run"
    for weights in (str(world / "nope.h5"), str(world / "file.txt")):
        argv = ["train", str(world / "split"), "--out", str(out), "--backbone-weights", weights, "--epochs", "1"]
        assert main([*argv, "--backbone", "mobilenet_v2"] if weights.endswith(".h5") else argv) == 2
        assert not out.exists(), "nothing written"
    capfd.readouterr()
    assert (
        main(
            [
                "train",
                str(world / "split"),
                "--out",
                str(out),
                "--model",
                "scratch",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--quiet",
            ]
        )
        == 0
    ), capfd.readouterr().err


def test_every_command_of_the_cli_has_bad_input_cases():
    """The commands come from the CLI's own parser (a command added later without cases fails);
    ``gui`` takes no input that could be bad in a headless test."""
    import argparse

    from landgui.cli import build_parser

    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    covered = {argv[0] for argv, _ in CASES}
    assert set(sub.choices) - {"gui"} <= covered, set(sub.choices) - {"gui"} - covered
