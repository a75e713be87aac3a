"""The model's sensor contract (issue 25): ``landgui split --gsd`` records each source's ground
sample distance, training writes the contract into the run's config.json, :attr:`RunFolder.sensor`
reads it back (all unknown for a run that has none), and the shipped model states what is known
of its training images (../shared/data/README.md) in its config and its model card."""

import json
import shutil

import pytest
from synth import make_dataset

from landgui.cli import main
from landgui.core.base.errors import LandguiError
from landgui.core.params import ModelSpec, SplitParams, TrainParams, parse_gsd
from landgui.core.runs.folder import RunFolder, shipped_run_dir
from landgui.core.runs.sensor import SensorContract, contract_from_split
from landgui.core.training import trainer


@pytest.fixture
def two_sources(tmp_path):
    """Two sources of one class set: ``s2`` (64 px images, 10 m) and ``air`` (32 px images)."""
    classes = ("desert", "green_area", "water")
    make_dataset(tmp_path / "s2", per_class=10, classes=classes, size=64, seed=1)
    make_dataset(tmp_path / "air", per_class=10, classes=classes, size=32, seed=2)
    return tmp_path


def _split(base, *gsd):
    argv = ["split", f"s2={base / 's2'}", f"air={base / 'air'}", "--out", str(base / "split"), "--quiet"]
    for g in gsd:
        argv += ["--gsd", g]
    assert main(argv) == 0
    return json.loads((base / "split" / "split.json").read_text())


def test_split_gsd_is_recorded_and_training_writes_the_contract(two_sources):
    manifest = _split(two_sources, "s2=10", "air/water=0.5")
    assert manifest["params"]["gsd"] == {"s2": 10.0, "air/water": 0.5}
    # the images' sides as made above, per source and class
    assert manifest["image_px"] == {
        f"{s}/{c}": px for s, px in (("s2", 64), ("air", 32)) for c in ("desert", "green_area", "water")
    }

    run = two_sources / "run"
    spec = ModelSpec(model="scratch", image_size=16)
    trainer.train(two_sources / "split", run, spec, TrainParams(epochs=1, export_litert=False))
    config = json.loads((run / "config.json").read_text())
    c = RunFolder(run).sensor
    assert config["sensor"] == c.to_dict()
    # air given only for its water class: its other classes are listed as unknown
    assert c.sources == {"s2": 10.0, "air/desert": None, "air/green_area": None, "air/water": 0.5}
    assert c.gsd_m == pytest.approx((10.0 + 0.5) / 2)  # the median of the known values
    # the patch: the median side of the images whose resolution is known (s2's 64 px x 3, air/water's 32 px)
    assert c.patch_px == 64 and c.footprint_m == pytest.approx(64 * 5.25)
    assert c.bands == ("red", "green", "blue") and c.radiometry == "8bit"
    assert "air/desert" in c.note and "unknown" in c.note


def test_one_known_source_gives_the_model_its_gsd_and_patch():
    manifest = {
        "sources": {"eurosat": "/x", "web": "/y"},
        "counts_by_source": {"eurosat": {"forest": {}}, "web": {"forest": {}}},
        "params": {"gsd": {"eurosat": 10}},
        "image_px": {"eurosat/forest": 64, "web/forest": 256},
    }
    c = contract_from_split(manifest, image_size=128)
    assert (c.gsd_m, c.patch_px, c.footprint_m) == (10.0, 64, 640.0)
    assert c.sources == {"eurosat": 10.0, "web": None} and "web" in c.note
    # nothing known: no gsd, and the patch is the median side of all the training images
    none = contract_from_split({**manifest, "params": {"gsd": {}}}, image_size=128)
    assert (none.gsd_m, none.footprint_m, none.patch_px, none.note) == (None, None, 160, "")
    # a split written before image sizes were recorded: the model's input size
    assert contract_from_split({"sources": {"a": "/a"}, "params": {}}, image_size=96).patch_px == 96


def test_a_run_without_a_contract_reads_as_unknown(tmp_path):
    run = tmp_path / "old-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": {"image_size": 48}, "params": {}}))
    c = RunFolder(run).sensor
    assert c == SensorContract.unknown(48) and not c.known and c.footprint_m is None
    assert c.bands == ("red", "green", "blue") and c.radiometry == "8bit" and c.sources == {}
    assert "ground resolution unknown" in c.describe()
    # a damaged record reads as unknown too, field by field
    (run / "config.json").write_text(json.dumps({"model": {"image_size": 48}, "sensor": {"gsd_m": -3, "bands": 7}}))
    assert RunFolder(run).sensor == SensorContract.unknown(48)
    assert RunFolder(tmp_path / "missing").sensor == SensorContract.unknown()


def test_the_shipped_model_states_what_is_known(tmp_path):
    c = RunFolder.resolve("default").sensor
    # ../shared/data/README.md: kaggle4's green_area and water are EuroSAT (Sentinel-2, 10 m, 64 px)
    assert c.sources == {
        "kaggle4/cloudy": None,
        "kaggle4/desert": None,
        "kaggle4/green_area": 10.0,
        "kaggle4/water": 10.0,
        "nwpu45": None,
    }
    assert (c.gsd_m, c.patch_px, c.footprint_m) == (10.0, 64, 640.0)
    assert c.bands == ("red", "green", "blue") and c.radiometry == "8bit"
    card = (shipped_run_dir() / "MODEL_CARD.md").read_text()
    assert "## Sensor contract" in card and "**10 m**" in card and "640 m on the ground" in card
    assert "kaggle4/cloudy unknown" in card and "nwpu45 unknown" in card
    # a fine-tuned or copied run keeps it: the contract travels in config.json
    copy = tmp_path / "copy"
    shutil.copytree(shipped_run_dir(), copy)
    assert RunFolder(copy).sensor == c


@pytest.mark.parametrize(
    ("specs", "words"),
    [
        (["s2"], "--gsd takes SOURCE=METRES"),
        (["=10"], "--gsd takes SOURCE=METRES"),
        (["s2=ten"], "'ten' is not a number of metres"),
    ],
)
def test_malformed_gsd_flags(specs, words):
    with pytest.raises(LandguiError, match=words):
        parse_gsd(specs)


def test_gsd_values_and_names_are_checked():
    for bad in (0, -10.0, float("nan"), float("inf")):
        with pytest.raises(LandguiError, match="positive number of metres"):
            SplitParams(gsd={"s2": bad}).check()
    ok = SplitParams(gsd={"s2": 10, "air/water": 0.5})
    ok.check()
    ok.check_gsd_names(["s2", "air"], ["water"])
    with pytest.raises(LandguiError, match="no source named 'sentinel'"):
        SplitParams(gsd={"sentinel": 10}).check_gsd_names(["s2", "air"])
    with pytest.raises(LandguiError, match="air has no class folder 'snow'"):
        SplitParams(gsd={"air/snow": 1}).check_gsd_names(["s2", "air"], ["water"])
    assert SplitParams.from_dict(ok.to_dict()) == ok


def test_the_api_split_takes_gsd_with_the_same_checks(two_sources):
    from landgui import api

    sources = {"s2": str(two_sources / "s2"), "air": str(two_sources / "air")}
    with pytest.raises(LandguiError, match="no source named 'sentinel'"):
        api.split(sources, two_sources / "api-split", gsd={"sentinel": 10})
    with pytest.raises(LandguiError, match="positive number of metres, got -1"):
        api.split(sources, two_sources / "api-split", gsd={"s2": -1})
    assert not (two_sources / "api-split" / "split.json").exists()
    manifest = api.split(sources, two_sources / "api-split", gsd={"s2": 10})
    assert manifest["params"]["gsd"] == {"s2": 10.0}
    assert contract_from_split(manifest, 128).sources == {"s2": 10.0, "air": None}
