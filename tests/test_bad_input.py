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
    """Run folders and splits for the run-folder contract cases (issue 23): runs whose files do
    not fit together (items 16), a split one of whose images was replaced (23), a run another
    process is writing (3)."""
    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split
    from landgui.core.runs.folder import shipped_run_dir

    def run_with(name, source=base / "run", **files):
        """A copy of ``source`` (default: the world's tiny run) with some files replaced."""
        run = base / "runs" / name
        shutil.copytree(source, run, ignore=shutil.ignore_patterns("evaluation-*", "predictions-*", "*.png"))
        for fname, content in files.items():
            path = run / fname.replace("_", ".", 1)
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif callable(content):
                content(path)
            else:
                path.write_text(json.dumps(content))
        return run

    config = json.loads((base / "run" / "config.json").read_text())
    run_with("empty-labels", labels_json=[])
    run_with("twice-labels", labels_json=["desert", "desert", "water"])
    run_with("blank-label", labels_json=["desert", " ", "water"])
    run_with("renamed-labels", labels_json=["a", "b", "c"])
    run_with("huge-size", config_json={**config, "model": {**config["model"], "image_size": 5000}})

    def head_of(width, bias=None):
        def write(path):
            np.savez(path, kernel=np.zeros((1280, width), np.float32), bias=np.zeros(bias or width, np.float32),
                     eps=np.float64(1e-3), dropout=np.float64(0.0))  # fmt: skip

        return write

    # the shipped transfer model with a head of 3 outputs for its 4 classes: evaluate said 0.5625
    run_with("three-of-four", shipped_run_dir(), head_npz=head_of(3))
    run_with("misfit-head", shipped_run_dir(), head_npz=head_of(4, bias=5))
    # a split whose dataset changed since: one test image replaced by another class's image
    shutil.copytree(base / "ds", base / "ds-changed")
    manifest = write_split(scan_dataset(base / "ds-changed"), base / "split-changed", SplitParams(seed=0))
    test = manifest["splits"]["test"][0]
    other = next(e for e in manifest["splits"]["train"] if e["label"] != test["label"])
    (base / "ds-changed" / test["path"]).write_bytes((base / "ds-changed" / other["path"]).read_bytes())


def _world_robust(base):
    """Odd files for the robustness cases (issue 23): a FIFO and a folder where an image is
    expected, images that stand for no ground (1 x 1 px, a 100,000 x 1 px strip, 1,000 x 10 px,
    all NaN, all +inf), a dataset of only such images, a broken scene with a latin-1 name."""
    from PIL import Image

    os.mkfifo(base / "fifo.png")
    (base / "folder.png").mkdir()
    cv2.imwrite(str(base / "one.png"), np.full((1, 1, 3), 90, np.uint8))
    cv2.imwrite(str(base / "strip.png"), np.full((1, 100_000, 3), 90, np.uint8))
    cv2.imwrite(str(base / "thin.png"), np.full((10, 1000, 3), 90, np.uint8))
    Image.fromarray(np.full((16, 16), np.nan, np.float32), mode="F").save(base / "nan.tif")
    Image.fromarray(np.full((16, 16), np.inf, np.float32), mode="F").save(base / "inf.tif")
    (base / "zero.png").write_bytes(b"")
    write_geotiff(base / "nan-scene.tif", np.full((64, 64, 3), np.nan, np.float32), dtype="float32")
    for c in ("desert", "water"):
        (base / "dots" / c).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(base / "dots" / c / f"{i}.png"), np.full((1, 1, 3), 40 * i, np.uint8))
    (base / os.fsdecode(b"br\xf6ken.png")).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def _world_outputs(base):
    """Output folders holding users' own files (issues 23 and 28)."""
    usr = base / "usr"  # the user's own s.overlay.png and s.patches.csv beside the scene
    usr.mkdir()
    cv2.imwrite(str(usr / "s.png"), np.full((64, 64, 3), 90, np.uint8))
    (usr / "s.overlay.png").write_bytes(b"my own picture")
    (usr / "s.patches.csv").write_text("my own table\n")
    changed = base / "changed"  # landgui wrote s.patches.csv, then the user edited it
    changed.mkdir()
    cv2.imwrite(str(changed / "s.png"), np.full((64, 64, 3), 90, np.uint8))
    (changed / "s.patches.csv").write_text("row,col,edited by hand\n")
    summary = {"scene": str(changed / "s.png"), "files": {"patches_csv": str(changed / "s.patches.csv")}}
    (changed / "s.summary.json").write_text(json.dumps({**summary, "file_sha256": {"s.patches.csv": "0" * 64}}))
    (base / "batch").mkdir()  # the user's own summary.csv where a many-scene job would write its own
    (base / "batch" / "summary.csv").write_text("my own summary\n")
    for folder in ("locked-maps", "locked-split"):  # another landgui process (this one: alive) writes there
        (base / folder).mkdir()
        lock = {"pid": os.getpid(), "host": socket.gethostname(), "token": "another job"}
        (base / folder / ".landgui.lock").write_text(json.dumps(lock))


def _world_scenes(base):
    """Multi-band and georeferenced scenes (issue 25)."""
    import rasterio

    rgb = np.full((64, 64, 3), 120, np.uint8)
    write_geotiff(base / "rgb.tif", rgb)
    with rasterio.open(base / "rgb.tif") as src:
        profile = src.profile
    # 4 bands that say nothing of their order (no colour interpretation, no names)
    with rasterio.open(base / "four.tif", "w", **{**profile, "count": 4, "photometric": "MINISBLACK"}) as dst:
        dst.write(np.full((4, 64, 64), 120, np.uint8))
    empty_safe = base / "S2A_MSIL2A_20240101T100000_N0510_R022_T33UUP_20240101T120000.SAFE"
    (empty_safe / "GRANULE" / "L2A_T33UUP" / "IMG_DATA" / "R10m").mkdir(parents=True)
    (empty_safe / "MTD_MSIL2A.xml").write_text("<n1:Level-2A_User_Product xmlns:n1='x'/>")


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
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--patch", "0"], "patch size must be at least 8 px"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--patch", "100000"], "larger than the scene"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--stride", "0"], "stride must be at least 1 px"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--batch", "0"], "--batch must be at least 1"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--formats", ","], "unknown or no format(s) ','"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--formats", "pdf"], "unknown or no format(s) ['pdf']"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--uncertain-below", "2"], "between 0 and 1"),
    (["segment", "W/run", "W/broken.png", "--out", "W/o3"], "cannot read broken.png: not an image"),
    (["segment", "W/run", "W/seven.tif", "--out", "W/o3"], "seven.tif: 7 bands"),
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
CASES_RUNS = [  # issue 23: the run folder as a checked contract
    # item 16: labels.json, head.npz and config.json checked once, on open, by every command
    (["evaluate", "W/runs/empty-labels"], "names no classes"),
    (["predict", "W/runs/empty-labels", "W/scene.png"], "names no classes"),
    (["segment", "W/runs/empty-labels", "W/scene.png", "--out", "W/o6"], "names no classes"),
    (["evaluate", "W/runs/twice-labels"], "names the class(es) ['desert'] twice"),
    (["predict", "W/runs/twice-labels", "W/scene.png"], "names the class(es) ['desert'] twice"),
    (["compare", "W/runs/twice-labels"], "names the class(es) ['desert'] twice"),
    (["evaluate", "W/runs/blank-label"], "labels.json is not a list of class names"),
    (["predict", "W/runs/renamed-labels", "W/scene.png"], "but config.json trained"),
    (["evaluate", "W/runs/renamed-labels", "--data", "W/ds"], "but config.json trained"),
    (["evaluate", "W/runs/huge-size"], "image_size 5000 is not between 16 and 1024"),
    (["evaluate", "W/runs/three-of-four", "--data", "W/ds"], "head.npz has 3 outputs but labels.json names 4"),
    (["predict", "W/runs/three-of-four", "W/scene.png"], "head.npz has 3 outputs but labels.json names 4"),
    (["segment", "W/runs/three-of-four", "W/scene.png", "--out", "W/o6"], "has 3 outputs but labels.json"),
    (["finetune", "W/runs/three-of-four", "--add", "W/ds", "--out", "W/o6"], "has 3 outputs but labels.json"),
    (["compare", "W/runs/three-of-four"], "head.npz has 3 outputs but labels.json names 4"),
    (["predict", "W/runs/misfit-head", "W/scene.png"], "do not fit together"),
    (["evaluate", "W/runs/three-of-four", "--data", "W/ds", "--engine", "keras"], "head.npz has 3 outputs"),
    (["finetune", "W/runs/twice-labels", "--add", "W/ds", "--out", "W/o6"], "names the class(es) ['desert'] twice"),
    (["segment", "W/runs/renamed-labels", "W/scene.png", "--out", "W/o6"], "but config.json trained"),
    # item 23: an image replaced since the split was made
    (["train", "W/split-changed", "--out", "W/o6", "--model", "scratch"], "changed since the split was made"),
    (
        ["evaluate", "W/run", "--split-file", "W/split-changed/split.json", "--allow-other-split"],
        "changed since the split was made",
    ),
    # item 25: a fine-tuned run written inside its corrections folder would be read as a class
    (["finetune", "default", "--add", "W/ds", "--out", "W/ds/taught"], "inside the corrections folder"),
]
CASES_ROBUST = [  # issue 23: odd files, arrays, threads, quiet libraries
    # item 20: a FIFO blocked, /dev/zero was read until the kernel killed landgui; a folder
    (["predict", "W/run", "W/fifo.png"], "W/fifo.png: not a regular file (a FIFO)"),
    (["predict", "W/run", "/dev/zero"], "/dev/zero: not a regular file (a device)"),
    (["predict", "W/run", "W/folder.png"], "W/folder.png: a folder, not a file"),
    (["segment", "W/run", "W/fifo.png", "--out", "W/o3"], "cannot read fifo.png: not a regular file (a FIFO)"),
    (["segment", "W/run", "/dev/zero", "--out", "W/o3"], "cannot read zero: not a regular file (a device)"),
    (["segment", "W/run", "W/folder.png", "--out", "W/o3"], "cannot read folder.png: a folder, not a file"),
    # item 24: images that stand for no ground, as predictions and as a training set
    (["predict", "W/run", "W/one.png"], "W/one.png: too small: 1 x 1 px"),
    (["predict", "W/run", "W/strip.png"], "W/strip.png: too small: 100000 x 1 px"),
    (["predict", "W/run", "W/thin.png"], "W/thin.png: too elongated: 1000 x 10 px"),
    (["predict", "W/run", "W/nan.tif"], "W/nan.tif: no data: every pixel is NaN or infinite"),
    (["predict", "W/run", "W/inf.tif"], "W/inf.tif: no data: every pixel is NaN or infinite"),
    (["predict", "W/run", "W/zero.png"], "W/zero.png: zero bytes"),
    (["split", "W/dots", "--out", "W/o1"], "no usable images in W/dots (6 files skipped)"),
    (["evaluate", "W/run", "--data", "W/dots"], "no usable images in W/dots"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--patch", "1"], "patch size must be at least 8 px, got 1"),
    (["segment", "W/run", "W/nan-scene.tif", "--out", "W/o3"], "nan-scene.tif: every patch is no data"),
    # item 21: the reader thread died of a 286 GiB buffer and the main thread waited forever
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--batch", "100000000"], "--batch must be at most 4,096"),
    # item 17: a latin-1 file name, shown with its byte replaced (no logging traceback)
    (
        ["segment", "W/run", "W/" + os.fsdecode(b"br\xf6ken.png"), "--out", "W/o3"],
        "cannot read br\ufffdken.png: not an image",
    ),
]
CASES_OUTPUTS = [  # issues 23 and 28: outputs that never clobber
    (["segment", "W/run", "W/usr/s.png", "--out", "W/usr"], "usr/s.overlay.png was not written by landgui"),
    (["segment", "W/run", "W/usr/s.png", "--out", "W/usr", "--formats", "csv"], "or replace it with --overwrite"),
    (
        ["segment", "W/run", "W/changed/s.png", "--out", "W/changed", "--formats", "csv"],
        "changed/s.patches.csv was changed since landgui wrote it",
    ),
    (
        ["segment", "W/run", "W/scene.png", "W/usr/s.png", "--out", "W/batch", "--formats", "csv"],
        "batch/summary.csv was not written by landgui",
    ),
    (["segment", "W/run", "W/scene.png", "--out", "W/locked-maps"], "is being written by another landgui process"),
    (["split", "W/ds", "--out", "W/locked-split"], "locked-split is being written by another landgui process (pid"),
]
CASES_SCENES = [  # issue 25: bands, resolution, radiometry
    (["segment", "W/run", "W/seven.tif", "--out", "W/o3"], "says which are red, green and blue: give --bands R,G,B"),
    (["segment", "W/run", "W/four.tif", "--out", "W/o3"], "4 bands (gray, undefined, undefined, undefined)"),
    (["segment", "W/run", "W/four.tif", "--out", "W/o3"], "give --bands R,G,B (1-based"),
    (["segment", "W/run", "W/rgb.tif", "--out", "W/o3", "--bands", "9,2,1"], "rgb.tif has 3 band(s), no band 9"),
    (["segment", "W/run", "W/rgb.tif", "--out", "W/o3", "--bands", "red"], "--bands takes band numbers R,G,B"),
    (["segment", "W/run", "W/rgb.tif", "--out", "W/o3", "--bands", "1,2"], "--bands takes 3 band numbers"),
    (["segment", "W/run", "W/rgb.tif", "--out", "W/o3", "--bands", "0,1,2"], "each 1 or more"),
    (["segment", "W/run", "W/scene.png", "--out", "W/o3", "--bands", "3,2,1"], "--bands applies to GDAL rasters"),
    (["segment", "W/run", "W/rgb.tif", "--out", "W/o3", "--radiometry", "vivid"], "invalid choice: 'vivid'"),
    (["segment", "W/run", "W/rgb.tif", "--out", "W/o3", "--radiometry", "reflectance"], "is 8-bit: it holds no"),
    (
        ["segment", "W/run", "W/S2A_MSIL2A_20240101T100000_N0510_R022_T33UUP_20240101T120000.SAFE", "--out", "W/o3"],
        "no 10 m B04, B03, B02 band file in the Sentinel-2 product",
    ),
]
CASES_SCENES += [  # issue 25: the model's sensor contract, split --gsd SOURCE=METRES
    (["split", "W/ds", "--out", "W/gsd-split", "--gsd", "sentinel=10"], "no source named 'sentinel'"),
    (["split", "W/ds", "--out", "W/gsd-split", "--gsd", "ds=0"], "positive number of metres, got 0"),
    (["split", "W/ds", "--out", "W/gsd-split", "--gsd", "ds=-2.5"], "positive number of metres, got -2.5"),
    (["split", "W/ds", "--out", "W/gsd-split", "--gsd", "ds=ten"], "'ten' is not a number of metres"),
    (["split", "W/ds", "--out", "W/gsd-split", "--gsd", "10"], "--gsd takes SOURCE=METRES"),
    (["split", "W/ds", "--out", "W/gsd-split", "--gsd", "ds/snow=10"], "ds has no class folder 'snow'"),
]
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
