"""RunFolder: the one reader and writer of a run folder's files (small JSON files written here,
no training, no TensorFlow)."""

import ast
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from landgui import __version__
from landgui.cli import main
from landgui.core.base.errors import LandguiError
from landgui.core.runs import folder as runs
from landgui.core.runs.folder import STALE_AFTER_S, RunFolder
from landgui.core.runs.listing import RunSummary, list_runs, run_info, status_text

LANDGUI = Path(__file__).resolve().parents[1] / "landgui"

CONFIG = {
    "run_schema_version": 1,
    "created": "2024-05-01T10:00:00+0000",
    "landgui_version": "test",
    "split": "/data/split.json",
    "split_hash": "abc",
    "model": {"model": "transfer", "backbone": "mobilenet_v3_small", "image_size": 96},
    "params": {"epochs": 3},
}
LABELS = ["desert", "green_area", "water"]
HISTORY = [  # the kept epoch (lowest val_loss) is the second; the third has a higher val accuracy
    {"stage": "head", "epoch": 1, "val_loss": 0.9, "val_accuracy": 0.5, "seconds": 1.25},
    {"stage": "head", "epoch": 2, "val_loss": 0.6, "val_accuracy": 0.75, "seconds": 2.0},
    {"stage": "head", "epoch": 3, "val_loss": 0.7, "val_accuracy": 0.8, "seconds": 0.5},
]
PALETTE = {"desert": "#E6C88C", "green_area": "#2CA02C", "water": "#1F78B4"}
EVAL_TEST = {"split": "test", "accuracy": 0.8, "macro_avg": {"f1": 0.7}}


def dump(path: Path, obj) -> None:
    path.write_text(json.dumps(obj))


def complete_run(run: Path) -> Path:
    run.mkdir(parents=True)
    dump(run / "config.json", CONFIG)
    dump(run / "labels.json", LABELS)
    dump(run / "history.json", HISTORY)
    dump(run / "status.json", {"status": "completed", "stage": "done"})
    dump(run / "palette.json", PALETTE)
    dump(run / "evaluation-test.json", EVAL_TEST)
    dump(run / "evaluation-data-mine.json", {"split": "data-mine", "accuracy": 0.625})
    dump(run / "finetune.json", {"run_dir": str(run), "epochs": 4})
    (run / "model.keras").write_bytes(b"not really a model")
    return run


# -- reading -----------------------------------------------------------------------------------------
def test_a_complete_run_reads_whole(tmp_path):
    run = RunFolder(complete_run(tmp_path / "r1"))
    assert run.is_run and run.has_model and not run.is_shipped and run.name == "r1"
    assert run.config() == CONFIG and run.labels() == LABELS
    assert run.history() == HISTORY and run.palette() == PALETTE
    assert run.status_record() == {"status": "completed", "stage": "done"} and run.status() == "completed"
    assert run.finetune_record() == {"run_dir": str(run.path), "epochs": 4}
    assert run.evaluations() == ["data-mine", "test"]
    assert run.evaluation() == EVAL_TEST and run.evaluation("data-mine")["accuracy"] == 0.625
    assert run.data_evaluations() == {"mine": 0.625}
    meta = run.meta()
    assert (meta.labels, meta.config, meta.image_size, meta.run_dir) == (LABELS, CONFIG, 96, run.path)
    summary = RunSummary.read(run)
    assert summary == RunSummary(
        name="r1",
        path=str(run.path),
        status="completed",
        model="transfer",
        backbone="mobilenet_v3_small",
        image_size=96,
        epochs=3,
        stages=(("head", 3),),
        train_seconds=3.8,
        kept_epoch=2,
        best_val_accuracy=0.75,  # the kept epoch's, not the highest (0.8, an epoch whose weights were not kept)
        test_accuracy=0.8,
        macro_f1=0.7,
        has_model=True,
        data_accuracy={"mine": 0.625},
        source_accuracy={},  # one source: no per-source figures
        hold_out_source=None,
        held_out_accuracy=None,
        created=CONFIG["created"],
    )
    assert summary.status_text == "completed" and not summary.resumable and not summary.taught
    assert summary.line() == (
        "r1  [completed]  transfer mobilenet_v3_small 96px, 3 epochs, kept: epoch 2, val accuracy 0.750"
    )
    # the module's functions are thin wrappers over it
    assert runs.read_run(run.path) == meta and runs.run_status(run.path) == "completed"
    assert list_runs(tmp_path) == [summary] and RunSummary.read(run) == RunSummary.read(run.path)
    info = run_info(run.path)  # the CLI's compare row: the same figures as a dict
    assert info["best_val_accuracy"] == 0.75 and info["epochs"] == 3 and info["status_text"] == "completed"
    assert info["test_accuracy"] == 0.8 and info["train_seconds"] == 3.8 and info["stages"] == [["head", 3]]


def test_the_summary_says_what_the_training_said(tmp_path):
    """Issue 22, item 4: the finished training said "best val accuracy 0.5556" (the kept epoch's)
    while the list said "val 0.694" (the highest of any epoch); both now read the kept epoch."""
    run = complete_run(tmp_path / "r")
    history = [
        {"stage": "head", "epoch": 1, "loss": 1.0, "val_loss": 0.8, "val_accuracy": 0.694},
        {"stage": "head", "epoch": 2, "loss": 0.7, "val_loss": 0.5, "val_accuracy": 0.5556},
        {"stage": "head", "epoch": 3, "loss": 0.6, "val_loss": 0.5, "val_accuracy": 0.6},  # a tie: the first stays
    ]
    dump(run / "history.json", history)
    kept = min(history, key=lambda h: h["val_loss"])  # what the trainer keeps: strictly lower val_loss only
    summary = RunSummary.read(run)
    assert (summary.kept_epoch, summary.best_val_accuracy) == (kept["epoch"], kept["val_accuracy"]) == (2, 0.5556)
    assert summary.val_text(digits=4) == "kept: epoch 2, val accuracy 0.5556" and "0.694" not in summary.line()


def test_a_run_in_progress_counts_its_epochs_of_the_planned_ones(tmp_path):
    """Issue 22, item 4: a run at epoch 18 was listed as "0 epochs"; the list now reads history.json
    and config.json's plan (head + fine-tune epochs) together."""
    run = complete_run(tmp_path / "r")
    cfg = {**CONFIG, "params": {"epochs": 15, "fine_tune_epochs": 40}}
    dump(run / "config.json", cfg)
    dump(run / "history.json", [{"stage": "head", "epoch": k + 1, "loss": 1.0} for k in range(18)])
    dump(run / "status.json", {"status": "stopped"})
    summary = RunSummary.read(run)
    assert summary.stages == (("head", 15), ("fine-tune", 40)) and summary.planned_epochs == 55
    assert summary.epochs_text() == "18 of 55 epochs" and summary.resumable
    assert summary.status_text == "stopped (resumable)" and summary.val_text() == "no val accuracy"
    no_fine_tune = {**cfg, "model": {**cfg["model"], "fine_tune_layers": 0}}  # no layer to fine-tune: one stage
    dump(run / "config.json", no_fine_tune)
    assert RunSummary.read(run).stages == (("head", 15),)
    dump(run / "config.json", {**CONFIG, "model": {"model": "scratch", "image_size": 64}, "params": {"epochs": 25}})
    assert RunSummary.read(run).stages == (("train", 25),) and RunSummary.read(run).backbone == "-"


def test_a_taught_run_says_so_instead_of_no_epochs(tmp_path):
    """Issue 22, item 4: a run fine-tuned on corrections was listed as "40 epochs, no epochs"."""
    run = complete_run(tmp_path / "taught")
    cfg = {**CONFIG, "parent": "/runs/parent", "finetune": {"epochs": 40, "counts": {"water": 4, "desert": 3}}}
    dump(run / "config.json", cfg)
    dump(run / "history.json", [{"stage": "fine-tune on corrections", "epoch": k + 1, "loss": 0.5} for k in range(40)])
    summary = RunSummary.read(run)
    assert summary.taught and summary.parent == "/runs/parent" and summary.corrections == 7
    assert summary.stages == (("fine-tune on corrections", 40),)
    assert summary.epochs_text() == "taught on 7 corrections (40 head epochs)"
    assert summary.val_text() == "no validation (taught on corrections)"
    assert "no epochs" not in summary.line() and "40 epochs" not in summary.line()


def test_paths_and_names(tmp_path):
    run = RunFolder(str(tmp_path / "r"))
    assert run.path == tmp_path / "r" and os.fspath(run) == str(tmp_path / "r")
    assert run.config_file.name == "config.json" and run.labels_file.name == "labels.json"
    assert run.status_file.name == "status.json" and run.history_file.name == "history.json"
    assert run.palette_file.name == "palette.json" and run.finetune_file.name == "finetune.json"
    assert run.model_file.name == "model.keras" and run.evaluation_file("data-x").name == "evaluation-data-x.json"
    assert run == RunFolder(tmp_path / "r") and len({run, RunFolder(tmp_path / "r")}) == 1
    assert RunFolder.FILES[:4] == ("config.json", "labels.json", "status.json", "history.json")


def test_resolve_names_the_shipped_model_unless_a_folder_of_that_name_exists(tmp_path, monkeypatch):
    shipped = RunFolder.resolve("default")
    assert shipped.path == runs.shipped_run_dir() and shipped.is_shipped and shipped.is_run
    assert shipped.meta().labels == shipped.labels()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    assert RunFolder.resolve("default").path == Path("default")
    assert RunFolder.resolve(tmp_path / "x").path == tmp_path / "x"


def test_missing_or_damaged_optional_files_read_as_defaults(tmp_path):
    empty = RunFolder(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    damaged = RunFolder(complete_run(tmp_path / "damaged"))
    for f in ("config.json", "labels.json", "history.json", "status.json", "palette.json", "finetune.json"):
        (damaged.path / f).write_text('{"half": ')
    (damaged.path / "evaluation-test.json").write_text("")
    (damaged.path / "evaluation-data-mine.json").write_text("[1, 2")
    wrong_type = RunFolder(complete_run(tmp_path / "wrong"))
    for f in ("config.json", "history.json", "status.json", "palette.json", "finetune.json", "evaluation-test.json"):
        dump(wrong_type.path / f, "a string")
    dump(wrong_type.path / "labels.json", ["ok", 3])
    dump(wrong_type.path / "evaluation-data-mine.json", {"accuracy": "high"})
    nowhere = RunFolder(tmp_path / "does-not-exist")
    for run in (empty, damaged, wrong_type, nowhere):
        assert run.config() is None and run.labels() is None, run
        assert run.status_record() == {} and run.status() == "unknown"
        assert run.history() == [] and run.palette() is None and run.finetune_record() is None
        assert run.evaluation() is None and run.data_evaluations() == {}
        assert RunSummary.read(run) is None and run_info(run.path) is None
    assert not empty.is_run and not nowhere.is_run and damaged.is_run
    assert empty.evaluations() == [] == nowhere.evaluations()
    assert list_runs(tmp_path) == [] and list_runs(tmp_path / "nowhere") == []


def test_history_keeps_only_epoch_records(tmp_path):
    run = RunFolder(tmp_path)
    dump(run.history_file, [{"epoch": 1}, None, 3, {"epoch": 2}])
    assert run.history() == [{"epoch": 1}, {"epoch": 2}]


def _meta_error(run: Path) -> str:
    with pytest.raises(LandguiError) as err:
        RunFolder(run).meta()
    with pytest.raises(LandguiError) as err2:
        runs.read_run(run)
    assert str(err.value) == str(err2.value)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_an_unusable_run_is_one_clear_error(tmp_path):
    assert _meta_error(tmp_path / "nope") == f"run folder not found: {tmp_path / 'nope'}"
    (tmp_path / "file").write_text("x")
    assert _meta_error(tmp_path / "file") == f"{tmp_path / 'file'} is a file, not a landgui run folder"
    (tmp_path / "bare").mkdir()
    assert _meta_error(tmp_path / "bare") == (
        f"{tmp_path / 'bare'} is not a complete landgui run: missing config.json, labels.json, model.keras"
    )
    run = complete_run(tmp_path / "r")
    (run / "labels.json").unlink()
    assert _meta_error(run) == f"{run} is not a complete landgui run: missing labels.json"
    dump(run / "labels.json", LABELS)
    (run / "config.json").write_text("{oops")
    assert _meta_error(run).startswith(f"{run}: damaged run files (JSONDecodeError: ")
    dump(run / "config.json", {"run_schema_version": 1, "model": {}})
    assert _meta_error(run) == f"{run}: damaged run files (KeyError: 'image_size')"
    dump(run / "config.json", {**CONFIG, "run_schema_version": 7, "landgui_version": "9.0"})
    assert _meta_error(run) == (
        f"{run} was written by landgui 9.0 with run schema 7; this landgui ({__version__}) reads schema 1"
    )
    dump(run / "config.json", CONFIG)
    dump(run / "labels.json", {"desert": 0})
    assert _meta_error(run) == f"{run}: damaged run files (labels.json is not a list of class names)"


def test_status_follows_the_writers_heartbeat(tmp_path):
    run = RunFolder(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    now = time.time()
    me = {"status": "running", "host": socket.gethostname()}
    run.write_status({**me, "pid": os.getpid(), "heartbeat": now})
    assert run.status(now) == "running"
    run.write_status({**me, "pid": int(dead.stdout), "heartbeat": now})
    assert run.status(now) == "interrupted"
    run.write_status({**me, "pid": os.getpid(), "heartbeat": now - STALE_AFTER_S - 1})
    assert run.status(now) == "interrupted"
    run.write_status({"status": "running", "host": "elsewhere", "pid": 1, "heartbeat": now})
    assert run.status(now) == "running"
    run.write_status({"status": "running"})  # before heartbeats: the file's time counts
    os.utime(run.status_file, (now - STALE_AFTER_S - 5,) * 2)
    assert run.status(now) == "interrupted" and run.status(now - 10) == "running"
    run.write_status({"status": "stopped"})
    assert run.status() == "stopped" and status_text(run.status()) == "stopped (resumable)"


# -- writing -----------------------------------------------------------------------------------------
WRITERS = {
    "config.json": ("write_config", "config", CONFIG),
    "labels.json": ("write_labels", "labels", LABELS),
    "status.json": ("write_status", "status_record", {"status": "completed", "epochs_done": 2}),
    "history.json": ("write_history", "history", HISTORY),
    "palette.json": ("write_palette", "palette", PALETTE),
    "finetune.json": ("write_finetune", "finetune_record", {"run_dir": "x", "corrections": {"water": 3}}),
}


@pytest.mark.parametrize("name", WRITERS)
def test_each_file_written_reads_back(tmp_path, name):
    write, read, value = WRITERS[name]
    run = RunFolder(tmp_path / "new" / "run")  # the folder is created
    getattr(run, write)(value)
    assert getattr(run, read)() == value
    assert (run.path / name).read_text() == json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    assert sorted(p.name for p in run.path.iterdir()) == [name]  # nothing else, no partial file


def test_evaluations_written_and_listed(tmp_path):
    run = RunFolder(tmp_path)
    run.write_evaluation("test", EVAL_TEST)
    run.write_evaluation("data-aid", {"accuracy": 0.5})
    run.write_evaluation("data-aid-adapted", {"accuracy": 0.75})
    run.write_evaluation("data-counts", {"accuracy": 1})  # not a fraction: not listed as an accuracy
    (tmp_path / ".evaluation-test.123.partial.json").write_text("{")  # a killed writer's leftover
    (tmp_path / "predictions-test.csv").write_text("path\n")
    assert run.evaluations() == ["data-aid-adapted", "data-aid", "data-counts", "test"]  # by file name
    assert run.evaluation("test") == EVAL_TEST and run.evaluation("val") is None
    assert run.data_evaluations() == {"aid": 0.5, "aid-adapted": 0.75}


def test_palette_copied_byte_for_byte(tmp_path):
    parent, child = RunFolder(tmp_path / "p"), RunFolder(tmp_path / "c")
    assert not child.copy_palette_from(parent) and not child.palette_file.exists()
    parent.path.mkdir()
    parent.palette_file.write_text('{"water":"#1F78B4"}')  # not landgui's own formatting: kept as is
    assert child.copy_palette_from(parent)
    assert child.palette_file.read_bytes() == parent.palette_file.read_bytes()


def test_remove_own_files_leaves_the_users(tmp_path):
    run = RunFolder(complete_run(tmp_path / "r"))
    (run.path / "checkpoint").mkdir()
    (run.path / "checkpoint" / "state.json").write_text("{}")
    (run.path / "notes.txt").write_text("mine")
    run.remove_own_files()
    assert sorted(p.name for p in run.path.iterdir()) == [
        "evaluation-data-mine.json",
        "evaluation-test.json",
        "notes.txt",
    ]


@pytest.mark.parametrize("name", WRITERS)
def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path, monkeypatch, name):
    write, read, value = WRITERS[name]
    run = RunFolder(tmp_path)
    old = '{"old": true}' if name != "labels.json" else '["old"]'
    (tmp_path / name).write_text(old)

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)  # the data is in the partial file, not yet renamed
    with pytest.raises(LandguiError, match=f"^cannot write {re.escape(str(tmp_path / name))}: the disk is full$"):
        getattr(run, write)(value)
    monkeypatch.undo()
    with pytest.raises(TypeError):  # cannot be serialised: fails before anything is written
        getattr(run, write)({"x": object()})
    assert (tmp_path / name).read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_failed_evaluation_write_keeps_the_old_one(tmp_path, monkeypatch):
    run = RunFolder(tmp_path)
    run.write_evaluation("test", EVAL_TEST)

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.write_evaluation("test", {"accuracy": 0.1})
    monkeypatch.undo()
    assert run.evaluation("test") == EVAL_TEST and [p.name for p in tmp_path.iterdir()] == ["evaluation-test.json"]


# -- one reader: no other module joins a run file's name by hand -------------------------------------------
RUN_FILE_NAMES = ("config.json", "labels.json", "status.json", "history.json", "palette.json", "finetune.json")
# a literal that is a run file's name, or ends a path with one (f"{run}/config.json"), or begins an
# evaluation file's name (f"evaluation-{split}.json", "evaluation-data-*.json"); prose in messages
# ("config.json missing or damaged") is not a path
HAND_JOINED = re.compile(r"(?:^|[/\\])(?:" + "|".join(map(re.escape, RUN_FILE_NAMES)) + r")$|(?:^|[/\\])evaluation-")


def hand_joined_run_files(source: str) -> list[tuple[int, str]]:
    """(line, text) of string literals (f-string parts included, docstrings left out) that join a
    run file's name by hand."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and HAND_JOINED.search(node.value)
    )


def test_the_checker_sees_hand_joined_names():
    code = (
        'def f(run, s):\n    """reads config.json"""\n    a = run / "config.json"\n'
        '    b = f"{run}/history.json"\n    c = run.glob("evaluation-data-*.json")\n'
        '    print(f"wrote {run}/evaluation-{s}.json")\n'
        '    raise ValueError(f"{run}: config.json missing or damaged")\n'
        '    return run / f"evaluation-{s}.json"\n'
    )
    assert [line for line, _ in hand_joined_run_files(code)] == [3, 4, 5, 6, 8]


def test_only_runs_py_names_the_run_files():
    offenders = []
    for path in sorted(LANDGUI.rglob("*.py")):
        if path == LANDGUI / "core" / "runs" / "folder.py":
            continue
        for line, text in hand_joined_run_files(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(LANDGUI.parent)}:{line}: {text!r}")
    assert not offenders, "use landgui.core.runs.folder.RunFolder instead of the file names:\n" + "\n".join(offenders)


def test_a_runs_palette_of_the_users_colours_is_read_in_any_order_and_never_replaced(tmp_path):
    """Issue 23, item 6 (and 16's `"water": "blue"`): a palette.json with the user's colours but its
    keys in another order was replaced by the defaults; a bad colour broke the command."""
    from landgui.core.runs.palette import default_palette, run_palette

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": {"model": "scratch"}}))
    labels = ["desert", "green_area", "water"]
    mine = {"water": "#123456", "desert": "#abcdef", "green_area": "#00ff00"}
    (run / "palette.json").write_text(json.dumps(mine))
    before = (run / "palette.json").read_bytes()
    assert run_palette(run, labels) == {k: mine[k] for k in labels}
    (run / "palette.json").write_text(json.dumps(mine | {"water": "blue"}))
    before = (run / "palette.json").read_bytes()
    assert run_palette(run, labels) == {
        "desert": "#abcdef",
        "green_area": "#00ff00",
        "water": default_palette(labels)["water"],
    }
    assert (run / "palette.json").read_bytes() == before, "the user's file is never replaced"
    (run / "palette.json").write_text("{ not json")
    assert run_palette(run, labels) == default_palette(labels)
    assert (run / "palette.json").read_text() == "{ not json"
    (run / "palette.json").unlink()
    assert run_palette(run, labels) == default_palette(labels)
    assert json.loads((run / "palette.json").read_text()) == default_palette(labels), "made when missing"


# -- issue 23, item 16: the run's files are checked against each other when it is opened ---------------
def _head(path: Path, outputs: int, bias: int | None = None) -> None:
    zeros = np.zeros
    np.savez(path, kernel=zeros((8, outputs), "f4"), bias=zeros(bias or outputs, "f4"), eps=1e-3, dropout=0.0)


def test_labels_head_and_config_that_do_not_fit_together_are_one_clear_error(tmp_path):
    run = complete_run(tmp_path / "r")
    for labels, words in (
        ([], "names no classes ([])"),
        (["desert", "water", "desert"], "names the class(es) ['desert'] twice"),
        (["desert", "", "water"], "labels.json is not a list of class names"),
    ):
        dump(run / "labels.json", labels)
        assert words in _meta_error(run)
    dump(run / "labels.json", LABELS)
    dump(run / "config.json", {**CONFIG, "model": {**CONFIG["model"], "classes": ["a", "b", "c"]}})
    assert _meta_error(run) == (
        f"{run / 'labels.json'} names the classes {LABELS} but config.json trained ['a', 'b', 'c']; "
        "the run's files do not belong together"
    )
    dump(run / "config.json", {**CONFIG, "model": {**CONFIG["model"], "image_size": 0}})
    assert "image_size 0 is not between 16 and 1024 px" in _meta_error(run)
    dump(run / "config.json", {**CONFIG, "model": {**CONFIG["model"], "classes": LABELS}})
    _head(run / "head.npz", 2)  # a head of 2 outputs for 3 class names: evaluate reported 0.5625
    assert _meta_error(run) == (
        f"{run / 'head.npz'} has 2 outputs but labels.json names 3 classes; the run's files do not belong together"
    )
    _head(run / "head.npz", 3, bias=4)
    assert "kernel (8, 3) and bias (4,) do not fit together" in _meta_error(run)
    (run / "head.npz").write_bytes(b"not a zip")
    assert _meta_error(run).startswith(f"cannot read {run / 'head.npz'}: ")
    _head(run / "head.npz", 3)
    assert RunFolder(run).meta().labels == LABELS


# -- issue 23, item 25: a hand-edited evaluation shows no string, no "None" ------------------------------
def test_a_hand_edited_evaluation_is_no_figure_rather_than_a_string(tmp_path, capsys):
    run = complete_run(tmp_path / "r")
    dump(run / "evaluation-test.json", {**EVAL_TEST, "accuracy": "0.9"})
    assert RunFolder(run).evaluation() is None and RunSummary.read(run).test_accuracy is None
    dump(run / "evaluation-test.json", {**EVAL_TEST, "macro_avg": {"f1": "None"}, "per_source": {"a": {}}})
    summary = RunSummary.read(run)
    assert (summary.test_accuracy, summary.macro_f1, summary.source_accuracy) == (0.8, None, {})
    assert main(["compare", str(run)]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and out.splitlines()[1].split()[6:8] == ["0.8000", "-"], out
