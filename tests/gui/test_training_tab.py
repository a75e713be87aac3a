"""The Training tab's numbers (issue 22, items 3 and 4): the bar and ETA cover the whole run, and
what the list, the finished line and the curves say about a run is one reading of its folder.

No training: run folders are written here, and the trainer's records (the dicts it reports) are
fed to the tab as a running job would deliver them; the job itself is never started."""

import os
import socket
import time
from types import SimpleNamespace

import pytest

from landgui.core.runs.folder import RunFolder
from landgui.gui.state.app_state import AppState
from landgui.gui.state.training_progress import TrainingProgress
from landgui.gui.tabs.training import TrainingTab
from landgui.gui.widgets.curves import CurvesCanvas

LABELS = ["desert", "green_area", "water"]


def write_run(path, *, epochs=15, fine_tune=40, history=(), status="completed", **config):
    """A run folder as the trainer leaves it (no model trained: a placeholder model file)."""
    run = RunFolder(path)
    run.write_config(
        {
            "run_schema_version": 1,
            "created": config.pop("created", "2024-05-01T10:00:00+0000"),
            "model": {"model": "transfer", "backbone": "mobilenet_v3_small", "image_size": 96},
            "params": {"epochs": epochs, "fine_tune_epochs": fine_tune},
            **config,
        }
    )
    run.write_labels(LABELS)
    run.write_history(list(history))
    record = {"status": status}
    if status == "running":  # written by a live process on this host, now
        record.update(pid=os.getpid(), host=socket.gethostname(), heartbeat=time.time())
    run.write_status(record)
    run.model_file.write_bytes(b"not a real model")
    return run


def epoch(k, stage="head", **figures):
    return {"stage": stage, "epoch": k, "loss": 1.0 / k, "accuracy": 0.5, "seconds": 1.0, **figures}


@pytest.fixture
def tab(qtbot, tmp_path, monkeypatch):
    state = AppState(str(tmp_path / "runs"))
    t = TrainingTab(state)
    qtbot.addWidget(t)
    started = []
    # the job is not started: the test delivers its records
    monkeypatch.setattr(t.jobs, "start", lambda *a, **k: started.append(k) or SimpleNamespace(label=k.get("label")))
    t.started = started
    return t


def batch(stage, epoch_, epochs, b, batches, eta=0.0):
    return {
        "kind": "batch",
        "stage": stage,
        "epoch": epoch_,
        "epochs": epochs,
        "batch": b,
        "batches": batches,
        "metrics": {"loss": 0.5, "accuracy": 0.5},
        "eta": eta,
    }


# -- item 3: the bar and ETA cover the whole run ---------------------------------------------------
def test_a_full_fine_tune_epoch_is_not_a_full_bar(tab, tmp_path):
    """ "fine-tune epoch 3/40, batch 6/6" filled the bar: it counted batches of one epoch."""
    run = write_run(tmp_path / "runs" / "r", epochs=15, fine_tune=40, status="running")
    tab.state.refresh_runs()
    tab.current_run = run.path
    tab._launch("landgui.core.training.trainer:resume", {"run_dir": str(run.path)}, keep_curves=True)
    tab.on_record(batch("fine-tune", 3, 40, 6, 6))
    bar = tab.progress
    assert bar.maximum() > 0 and bar.value() / bar.maximum() == pytest.approx((15 + 3) / (15 + 40))
    assert "fine-tune epoch 3/40, batch 6/6" in bar.format() and "run %p%" in bar.format()
    tab.on_record(batch("head", 15, 15, 6, 6))  # a stale record never moves the bar back
    assert bar.value() / bar.maximum() == pytest.approx(18 / 55)


def test_the_head_stage_eta_counts_the_fine_tune_stage():
    """ "ETA 00:00" at the end of the head stage with 5 fine-tune epochs to go: the stage's ETA only.
    A fine-tune epoch is estimated from the timed backbone pass (3 forward passes per training
    image, 1 per validation image), worked out here by hand."""
    now = [0.0]
    progress = TrainingProgress((("head", 10), ("fine-tune", 5)), clock=lambda: now[0])
    for t, done in ((0.0, 64), (1.0, 128), (2.0, 192)):  # features train: 128 images in 2 s after the first batch
        now[0] = t
        progress.add({"kind": "prepare", "stage": "features train", "done": done, "total": 192})
    now[0] = 2.5
    progress.add({"kind": "prepare", "stage": "features val", "done": 48, "total": 48})
    per_image = 2.0 / 128
    fine_tune_epoch = per_image * (3 * 192 + 48)  # 9.75 s
    progress.add(batch("head", 10, 10, 4, 4, eta=0.0))  # the head's last batch: nothing left of the stage
    left, estimated = progress.eta()
    assert left == pytest.approx(5 * fine_tune_epoch) and estimated
    assert progress.text().endswith("ETA ~00:49")
    assert progress.value == 10 * progress.maximum // 15
    # once fine-tuning runs, its own measured ETA is the run's
    progress.add(batch("fine-tune", 1, 5, 2, 4, eta=70.0))
    assert progress.eta() == (70.0, False) and progress.text().endswith("ETA 01:10")


def test_a_head_trained_on_images_estimates_fine_tuning_from_its_epochs():
    progress = TrainingProgress((("head", 3), ("fine-tune", 2)))
    progress.add(batch("head", 1, 3, 1, 4, eta=9.0))
    assert progress.eta() is None and progress.text().endswith("ETA ?")  # nothing timed yet: no made-up figure
    progress.add({"kind": "epoch", "stage": "head", "epoch": 1, "epochs": 3, "record": epoch(1, seconds=12.0)})
    progress.add(batch("head", 2, 3, 1, 4, eta=20.0))
    assert progress.eta() == (20.0 + 2 * 12.0, True)


# -- item 4: one reading of the run folder ---------------------------------------------------------
def test_the_list_follows_a_resumed_run_as_it_trains(tab, tmp_path):
    """A resumed run stayed "stopped (resumable)" while it trained, and a run at epoch 18 was
    listed as "0 epochs": the list was read once, before the training wrote anything."""
    history = [epoch(k) for k in range(1, 4)]
    run = write_run(tmp_path / "runs" / "r", epochs=15, fine_tune=40, history=history, status="stopped")
    tab.state.refresh_runs()
    tab.runs_list.setCurrentRow(0)
    assert "[stopped (resumable)]" in tab.runs_list.item(0).text() and "3 of 55 epochs" in tab.runs_list.item(0).text()
    assert tab.resume_button.isEnabled()
    tab.resume_button.click()
    assert tab.started and tab.started[-1]["label"] == "training r"
    # the trainer marks the run running, then reports
    write_run(run.path, epochs=15, fine_tune=40, history=history, status="running")
    tab.on_record({"kind": "prepare", "stage": "loading train", "done": 8, "total": 16})
    assert "[running]" in tab.runs_list.line_of(str(run.path))
    assert not tab.resume_button.isEnabled(), "a running run is not offered for resuming"
    history += [epoch(k, val_loss=1.0 / k, val_accuracy=0.5) for k in range(4, 19)]
    RunFolder(run.path).write_history(history)
    tab.on_record({"kind": "epoch", "stage": "head", "epoch": 18, "epochs": 15, "record": history[-1]})
    line = tab.runs_list.line_of(str(run.path))
    assert "18 of 55 epochs" in line and "kept: epoch 18, val accuracy 0.500" in line, line
    assert tab.runs_list.currentRow() == 0, "the selection survives the list's refill"


def test_the_finished_line_and_the_list_give_one_val_accuracy(tab, tmp_path):
    """ "best val accuracy 0.5556" in the finished line, "val 0.694" in the list."""
    history = [
        epoch(1, val_loss=0.8, val_accuracy=0.694),
        epoch(2, val_loss=0.5, val_accuracy=0.5556),  # the kept epoch (lowest val_loss)
        epoch(3, val_loss=0.6, val_accuracy=0.65),
    ]
    run = write_run(tmp_path / "runs" / "r", epochs=3, fine_tune=0, history=history)
    tab.current_run = run.path
    result = SimpleNamespace(
        run_dir=str(run.path), status="completed", epochs_done=3, best_val_accuracy=0.5556, history=history
    )
    tab._done(result)
    assert "completed: 3 epochs, kept: epoch 2, val accuracy 0.5556" in tab.info.text()
    line = tab.runs_list.line_of(str(run.path))
    assert "kept: epoch 2, val accuracy 0.556" in line and "0.694" not in line, line


def test_a_taught_run_is_listed_as_taught_and_its_accuracy_plot_says_why_it_is_empty(tab, tmp_path):
    """A run fine-tuned on corrections was listed as "40 epochs, no epochs", its accuracy plot
    empty between -0.04 and 0.04."""
    history = [{"stage": "fine-tune on corrections", "epoch": k, "loss": 1.0 / k, "seconds": 0.0} for k in range(1, 41)]
    run = write_run(
        tmp_path / "runs" / "taught",
        history=history,
        parent=str(tmp_path / "runs" / "parent"),
        finetune={"epochs": 40, "counts": {"water": 5, "desert": 2}},
    )
    tab.state.refresh_runs()
    line = tab.runs_list.item(0).text()
    assert "taught on 7 corrections (40 head epochs)" in line and "no validation" in line, line
    assert "no epochs" not in line
    tab.runs_list.setCurrentRow(0)
    assert tab.current_run == run.path
    curves = tab.curves
    curves._redraw_now()
    assert len(curves.lines["loss"][0].get_xdata()) == 40, "the loss curve is drawn"
    assert curves.ax_acc.get_ylim() == (0.0, 1.0)
    assert "taught on corrections" in curves.acc_note.get_text()


def test_a_run_with_accuracies_has_no_note(qtbot):
    curves = CurvesCanvas()
    curves.set_history([epoch(1, val_loss=0.5, val_accuracy=0.6), epoch(2, val_loss=0.4, val_accuracy=0.7)])
    curves._redraw_now()
    assert curves.acc_note.get_text() == "" and curves.ax_acc.get_ylim() != (0.0, 1.0)


# -- issue: a tester's window ----------------------------------------------------------------------
def test_the_list_selects_the_run_whose_curves_are_shown(tab, tmp_path, qtbot):
    """A past run stayed highlighted while the curves showed the new training."""
    old = write_run(tmp_path / "runs" / "old", created="2024-05-01T10:00:00+0000")
    other = write_run(tmp_path / "runs" / "other", created="2024-05-01T09:00:00+0000")
    tab.state.refresh_runs()
    tab.runs_list.select_run(None)
    tab.runs_list.setCurrentRow(0)  # the user picks the old run: its curves
    assert tab.runs_list.selected_run() == str(old.path) and tab.current_run == old.path
    tab.split_edit.setText(str(tmp_path / "split.json"))  # not read: the job is not started
    tab.settings.name_edit.setText("new")
    tab.start_button.click()
    assert tab.started and tab.started[-1]["label"] == "training new"
    assert tab.runs_list.selected_run() is None, "the old run is not highlighted under the new run's curves"
    new = write_run(tmp_path / "runs" / "new", status="running", created="2024-05-02T10:00:00+0000")
    tab.on_record({"kind": "prepare", "stage": "loading train", "done": 1, "total": 16})  # the run appears
    assert tab.runs_list.selected_run() == str(new.path)
    tab.jobs.busy = lambda kind: True  # a click on another run while training: the list goes back
    tab.runs_list.setCurrentRow(tab.runs_list.count() - 1)
    assert tab.runs_list.item(tab.runs_list.count() - 1).data(256) == str(other.path)
    qtbot.waitUntil(lambda: tab.runs_list.selected_run() == str(new.path))
    assert tab.current_run == new.path


def test_the_bar_names_the_steps_after_the_last_epoch(tab, tmp_path):
    """ "features val 36/36 · run 100 % · ETA 00:00" for 18 s while the run was still finishing
    (the familiarity file's features, then the LiteRT export)."""
    run = write_run(tmp_path / "runs" / "r", epochs=2, fine_tune=1, status="running")
    tab.state.refresh_runs()
    tab.current_run = run.path
    tab._launch("landgui.core.services:resume", {"run_dir": str(run.path)}, keep_curves=True)
    bar = tab.progress
    tab.on_record({"kind": "prepare", "stage": "features train", "done": 36, "total": 36})  # before the head
    tab.on_record({"kind": "prepare", "stage": "features val", "done": 36, "total": 36})
    for stage, k, n in (("head", 1, 2), ("head", 2, 2), ("fine-tune", 1, 1)):
        tab.on_record(batch(stage, k, n, 4, 4))
        rec = epoch(k, stage, val_loss=0.5, val_accuracy=0.5)
        tab.on_record({"kind": "epoch", "stage": stage, "epoch": k, "epochs": n, "record": rec})
    assert tab.run_progress.value < tab.run_progress.maximum, "the epochs are done, the run is not: no 100 %"
    assert bar.maximum() == 0 and bar.format().startswith("finishing:")  # a busy bar, no percentage
    tab.on_record({"kind": "prepare", "stage": "features train", "done": 12, "total": 36})
    assert (bar.value(), bar.maximum()) == (12, 36), "a counted step shows its own progress"
    assert "finishing: measuring the training images for the familiarity file 12/36" in bar.format()
    tab.on_record({"kind": "prepare", "stage": "features val", "done": 36, "total": 36})
    assert bar.maximum() == 0 and bar.format() == "finishing: building the familiarity file…"  # busy
    tab.on_record({"kind": "prepare", "stage": "exporting the model for fast mapping (LiteRT)", "done": 0, "total": 1})
    assert bar.maximum() == 0 and "ETA" not in bar.format() and "%" not in bar.format()
    assert "finishing: exporting the model for fast mapping (LiteRT)" in tab.info.text()
    write_run(run.path, epochs=2, fine_tune=1, history=[epoch(k, val_loss=0.5, val_accuracy=0.5) for k in (1, 2, 3)])
    tab._done(SimpleNamespace(run_dir=str(run.path), status="completed", epochs_done=3))
    assert bar.value() == bar.maximum() > 0 and bar.format().startswith("completed: 3 epochs")


def test_a_stopped_run_says_which_epoch_it_kept(tab, tmp_path):
    """ "val 0.528 (epoch 6)" read as the best accuracy though epoch 5 reached 0.556: the kept
    model is epoch 6's (lowest validation loss), and the text says so."""
    history = [epoch(k, val_loss=1.0 - 0.05 * k, val_accuracy=0.4 + 0.02 * k) for k in range(1, 5)]
    history += [epoch(5, val_loss=0.60, val_accuracy=0.556), epoch(6, val_loss=0.55, val_accuracy=0.528)]
    kept = min(history, key=lambda h: h["val_loss"])  # the trainer's rule, independently
    assert kept["epoch"] == 6
    run = write_run(tmp_path / "runs" / "r", epochs=15, fine_tune=0, history=history, status="stopped")
    tab.current_run = run.path
    tab._done(SimpleNamespace(run_dir=str(run.path), status="stopped", epochs_done=6))
    assert "stopped: 6 of 15 epochs, kept: epoch 6, val accuracy 0.5280" in tab.info.text()
    line = tab.runs_list.line_of(str(run.path))
    assert "kept: epoch 6, val accuracy 0.528" in line and "0.556" not in line, line
