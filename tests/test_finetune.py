"""Teach a run your scene: fine-tune the head on corrections into a new run (tiny models)."""

import json

import numpy as np
import pytest
from synth import textured_image, tree_snapshot, write_image

from landgui.cli import main
from landgui.core.errors import LandguiError


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    from synth import make_dataset

    from landgui.core import training as T
    from landgui.core.dataset import scan_dataset
    from landgui.core.models import ModelSpec
    from landgui.core.split import SplitParams, write_split

    base = tmp_path_factory.mktemp("ft")
    ds = make_dataset(base / "ds", per_class=12, classes=("desert", "green_area", "water"))
    write_split(scan_dataset(ds), base / "split", SplitParams(seed=0))
    spec = ModelSpec(model="transfer", image_size=32)
    T.train(base / "split", base / "run", spec, T.TrainParams(epochs=2, batch_size=8, export_litert=False))
    return base


def _corrections(folder, label: str, colour, n: int = 6, seed: int = 5):
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_image(folder / label / f"c{i}.png", textured_image(rng, colour))
    return folder


def test_finetune_teaches_a_new_look_of_a_class_and_keeps_the_parent(parent, tmp_path):
    from landgui.core.finetune import finetune
    from landgui.core.inference import predict_files

    run = parent / "run"
    before = tree_snapshot(run)
    purple = (150, 40, 160)  # "desert" as another sensor renders it: a colour the parent never saw
    corr = _corrections(tmp_path / "corr", "desert", purple)
    probe = _corrections(tmp_path / "probe", "desert", purple, n=6, seed=99)
    probe_files = sorted(str(p) for p in (probe / "desert").iterdir())
    old = predict_files(run, probe_files, engine="keras")["predictions"]
    res = finetune(run, [corr], tmp_path / "new", epochs=30, export_litert=False)
    new = predict_files(tmp_path / "new", probe_files, engine="keras")["predictions"]
    p_old = np.mean([r["probs"]["desert"] for r in old])
    p_new = np.mean([r["probs"]["desert"] for r in new])
    assert p_new > p_old + 0.15, (p_old, p_new)  # a tiny 32 px model: a clear shift, not certainty
    assert sum(r["pred"] == "desert" for r in new) > sum(r["pred"] == "desert" for r in old)
    assert sum(r["pred"] == "desert" for r in new) >= 5, [r["pred"] for r in new]
    assert tree_snapshot(run) == before, "the parent run is never changed"
    cfg = json.loads((tmp_path / "new" / "config.json").read_text())
    assert cfg["parent"] == str(run.resolve())
    assert cfg["finetune"]["corrections"] == [str(corr.resolve())] and cfg["finetune"]["counts"] == {"desert": 6}
    assert cfg["finetune"]["replay"] == res.replay > 0 and "training split" in cfg["finetune"]["replay_source"]
    assert json.loads((tmp_path / "new" / "status.json").read_text())["status"] == "completed"
    assert json.loads((tmp_path / "new" / "labels.json").read_text()) == ["desert", "green_area", "water"]


def test_a_second_round_keeps_the_first_rounds_corrections(parent, tmp_path):
    from landgui.core.finetune import finetune

    first = _corrections(tmp_path / "c1", "desert", (150, 40, 160), n=2)
    second = _corrections(tmp_path / "c2", "water", (30, 60, 120), n=2)
    finetune(parent / "run", [first], tmp_path / "r1", epochs=2, export_litert=False)
    res = finetune(tmp_path / "r1", [second], tmp_path / "r2", epochs=2, export_litert=False)
    assert res.corrections == {"desert": 2, "water": 2}
    cfg = json.loads((tmp_path / "r2" / "config.json").read_text())
    assert cfg["finetune"]["corrections"] == [str(second.resolve()), str(first.resolve())]
    assert cfg["parent"] == str((tmp_path / "r1").resolve())


def test_cli_finetune_and_its_errors(parent, tmp_path, capsys):
    run = parent / "run"
    corr = _corrections(tmp_path / "corr", "water", (30, 60, 120), n=3)
    argv = ["finetune", str(run), "--add", str(corr), "--out", str(tmp_path / "new"), "--epochs", "2", "--quiet"]
    assert main(argv) == 0
    assert "fine-tuned on 3 corrections (water 3)" in capsys.readouterr().out
    assert main(argv) == 2  # the new run exists: refused without --overwrite
    assert "already holds a run" in capsys.readouterr().err
    bad = _corrections(tmp_path / "bad", "snow", (250, 250, 250), n=2)
    assert main(["finetune", str(run), "--add", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "class(es) ['snow'] are not classes of the model" in capsys.readouterr().err
    assert main(["finetune", str(run), "--add", str(corr), "--out", str(run)]) == 2
    assert "--out must differ from the parent" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_scratch_run_cannot_be_fine_tuned_on_corrections(tiny_split, tmp_path):
    from landgui.core import training as T
    from landgui.core.finetune import finetune
    from landgui.core.models import ModelSpec

    T.train(tiny_split, tmp_path / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1))
    corr = _corrections(tmp_path / "corr", "water", (30, 60, 120), n=2)
    with pytest.raises(LandguiError, match="needs a transfer run"):
        finetune(tmp_path / "run", [corr], tmp_path / "new")
