"""Issue 23: the run folder as a checked contract, and the guards every front door shares.

One tiny scratch run, trained once by the CLI on a split without validation images, serves the
tests that need a model (items 7 and 12); the others need no TensorFlow. The concurrency test
(item 3) starts two real processes and meets them at a rendezvous (a pipe), never a sleep.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synth import make_dataset, tree_snapshot

from landgui import api
from landgui.cli import main
from landgui.core.base.errors import LandguiError
from landgui.core.data import integrity
from landgui.core.data.scan import scan_dataset
from landgui.core.data.split import SplitParams, load_split, write_split
from landgui.core.evaluation.evaluate import evaluate_folder
from landgui.core.runs.folder import RunFolder
from landgui.core.runs.listing import RunSummary
from landgui.core.training.finetune import plan_finetune

CLASSES = ("desert", "green_area", "water")
TINY = ["--model", "scratch", "--image-size", "32", "--epochs", "2", "--batch-size", "8"]


@pytest.fixture(scope="module")
def novalrun(tmp_path_factory):
    """A run trained by the CLI on a split with no validation images; (run, what the CLI printed)."""
    base = tmp_path_factory.mktemp("contract")
    ds = make_dataset(base / "ds", per_class=8, classes=CLASSES)
    write_split(scan_dataset(ds), base / "split", SplitParams(val=0.0, test=0.25, seed=0))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", str(base / "split"), "--out", str(base / "run"), *TINY, "--quiet"]) == 0
    return base / "run", out.getvalue()


# -- item 12: an empty validation split is said, not hidden -------------------------------------------
def test_without_validation_images_every_view_says_the_accuracy_is_on_the_training_images(novalrun):
    run, printed = novalrun
    folder = RunFolder(run)
    assert folder.config()["validated_on"] == "train"
    history = folder.history()
    assert history and all(h["validated_on"] == "train" for h in history)
    assert "best accuracy on the training images (no validation split)" in printed, printed
    assert "best val" not in printed
    summary = RunSummary.read(run)
    line = summary.line()  # the Training tab's list and its finished line read this
    assert "accuracy on the training images (no validation split)" in line and "val accuracy" not in line


# -- item 7: two folders of one name are two evaluations ----------------------------------------------
def test_evaluations_of_two_folders_of_one_name_never_replace_each_other(novalrun, tmp_path, capsys):
    run, _ = novalrun
    first = make_dataset(tmp_path / "data" / "aid", per_class=3, classes=("desert", "water"), seed=1)
    second = make_dataset(tmp_path / "data2" / "aid", per_class=4, classes=("desert", "water"), seed=2)
    a = evaluate_folder(run, first, engine="keras")
    b = evaluate_folder(run, second, engine="keras")
    assert a["split"] != b["split"]
    folder = RunFolder(run)
    assert folder.evaluation(a["split"])["n_images"] == 6 and folder.evaluation(b["split"])["n_images"] == 8
    keys = {f"aid ({first.resolve()})": a["accuracy"], f"aid ({second.resolve()})": b["accuracy"]}
    assert {k: v for k, v in folder.data_evaluations().items() if k.startswith("aid")} == keys
    capsys.readouterr()
    assert main(["compare", str(run)]) == 0
    heading = capsys.readouterr().out.splitlines()[0]
    assert f"aid ({first.resolve()}) acc" in heading and f"aid ({second.resolve()}) acc" in heading, heading


# -- item 23: split.json's sha256 values are checked ----------------------------------------------------
def test_an_image_replaced_since_the_split_is_refused_and_a_touched_one_is_not(tmp_path):
    ds = make_dataset(tmp_path / "ds", per_class=6, classes=("desert", "water"))
    write_split(scan_dataset(ds), tmp_path / "s", SplitParams(seed=0))
    manifest = load_split(tmp_path / "s")
    test_image = ds / manifest["splits"]["test"][0]["path"]
    integrity.check_unchanged(manifest, ("train", "val", "test"))
    os.utime(test_image, ns=(1, 1))  # a new modification time, the same bytes: still the split's image
    integrity.check_unchanged(manifest, "test")
    water = next(e for e in manifest["splits"]["train"] if e["label"] != manifest["splits"]["test"][0]["label"])
    test_image.write_bytes((ds / water["path"]).read_bytes())  # another class's image under its name
    with pytest.raises(LandguiError, match=r"1 file\(s\) of .* changed since the split was made"):
        integrity.check_unchanged(manifest, "test")
    integrity.check_unchanged(manifest, "train")  # the other splits are as they were


# -- item 5: the API keeps the CLI's guards -------------------------------------------------------------
def test_the_api_keeps_the_guards_of_the_cli(novalrun, tmp_path):
    ds = make_dataset(tmp_path / "ds", per_class=6, classes=("desert", "water"))
    api.split(ds, tmp_path / "s", seed=0)
    split_before = tree_snapshot(tmp_path / "s")
    for kwargs, words in (
        ({"out": tmp_path / "s", "seed": 3}, "already exists and runs may point to it"),
        ({"out": ds / "water" / "s"}, "inside the dataset folder"),
        ({"out": tmp_path / "s2", "val": 1.5}, "--val must be between 0 and 1"),
        ({"out": tmp_path / "s2", "dataset": tmp_path / "nope"}, "dataset folder not found"),
    ):
        with pytest.raises(LandguiError, match=words):
            api.split(kwargs.pop("dataset", ds), **kwargs)
    assert tree_snapshot(tmp_path / "s") == split_before, "the split runs point to is kept"
    assert not (tmp_path / "s2").exists() and not (ds / "water" / "s").exists()
    assert api.split(ds, tmp_path / "s", seed=3, overwrite=True)["params"]["seed"] == 3
    # train and evaluate: their guards were the core's already; the API says what the CLI says
    run, _ = novalrun
    split = json.loads((run / "config.json").read_text())["split"]
    before = tree_snapshot(run)
    ds = Path(load_split(split)["dataset_root"])
    for call, words in (
        (lambda: api.train(split, run, model="scratch", image_size=32, epochs=1), "already holds a run"),
        (lambda: api.train(split, ds / "water" / "r", model="scratch", image_size=32, epochs=1), "inside the dataset"),
        (lambda: api.train(split, tmp_path / "r", model="scratch", image_size=32, epochs=0), "epochs must be at least"),
        (lambda: api.evaluate(run, data=tmp_path / "nope"), "dataset folder not found"),
        (lambda: api.evaluate(run, allow_other_split=True), "--split-file"),
    ):
        with pytest.raises(LandguiError, match=words):
            call()
    assert tree_snapshot(run) == before and not (tmp_path / "r").exists()


# -- item 25: finetune's corrections folders ---------------------------------------------------------------
def test_a_corrections_folder_given_twice_counts_once(tmp_path):
    ds = make_dataset(tmp_path / "fix", per_class=2, classes=("desert", "water"))
    plan = plan_finetune("default", [ds, ds, f"{ds}/", tmp_path / ".." / tmp_path.name / "fix"], tmp_path / "new")
    assert len(plan.add) == 1 and len(plan.paths) == 4 and sorted(plan.labels.tolist()) == [1, 1, 3, 3]


# -- item 3: two `train --out R --overwrite` at once -------------------------------------------------------
PAUSED_TRAINING = """
import sys
from landgui.cli import main
from landgui.core.training import trainer

real = trainer.new_run_config


def paused(*args, **kwargs):
    print("inside", flush=True)  # this training holds R and has cleared the old run's files
    sys.stdin.readline()  # the test lets it go on once the second training has ended
    return real(*args, **kwargs)


trainer.new_run_config = paused
trainer._export_litert = lambda session: None  # no LiteRT conversion: seconds this test does not need
sys.exit(main(sys.argv[1:]))
"""


def test_a_second_train_overwrite_of_a_folder_being_written_is_refused(tiny_split, tmp_path):
    run = tmp_path / "R"
    run.mkdir()
    (run / "config.json").write_text("{}")  # an earlier run there: both trainings are told --overwrite
    (run / "status.json").write_text(json.dumps({"status": "completed"}))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = ["train", str(tiny_split), "--out", str(run), "--overwrite", *TINY, "--quiet"]
    first = subprocess.Popen(
        [sys.executable, "-c", PAUSED_TRAINING, *argv, "--seed", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert first.stdout.readline() == "inside\n", first.communicate()[1][-3000:]  # the rendezvous
        second = subprocess.run(
            [sys.executable, "-m", "landgui", *argv, "--seed", "2"], capture_output=True, text=True, env=env
        )
        out, err = first.communicate("go\n", timeout=600)
    finally:
        first.kill()
    assert second.returncode == 2, second.stderr[-3000:]
    assert f"is being written by another landgui process (pid {first.pid})" in second.stderr
    assert first.returncode == 0, err[-3000:]
    folder = RunFolder(run)  # every file is the first training's
    assert folder.config()["params"]["seed"] == 1 and folder.status_record()["pid"] == first.pid
    assert folder.status() == "completed" and len(folder.history()) == 2 and folder.has_model
    assert not (run / ".landgui.lock").exists()
