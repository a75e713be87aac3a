"""Settings classes (landgui.core.params): round trips, schema upgrades, one-line refusals."""

import json
from dataclasses import fields

import pytest

from landgui.core import params as P
from landgui.core.base.errors import LandguiError

CLASSES = (P.SplitParams, P.ModelSpec, P.TrainParams, P.FinetuneParams)


@pytest.mark.parametrize("cls", CLASSES)
def test_round_trip_through_json(cls):
    """Every field changed from its default survives to_dict -> JSON -> from_dict."""
    changed = {
        "val": 0.2,
        "seed": 7,
        "materialize": "link",
        "model": "scratch",
        "backbone": "resnet50",
        "classes": ["a", "b"],
        "image_size": 64,
        "feature_norm": True,
        "epochs": 3,
        "devices": "all",
        "recipe": {"blur": 0.5},
        "hold_out_source": "b",
        "feature_views": 0,
        "weight": 2.5,
        "replay_per_class": 9,
    }
    names = {f.name for f in fields(cls)}
    obj = cls(**{k: v for k, v in changed.items() if k in names})
    saved = obj.to_dict()
    assert saved["schema_version"] == cls.SCHEMA_VERSION
    assert set(saved) == names | {"schema_version"}
    again = cls.from_dict(json.loads(json.dumps(saved)))
    assert again == obj and again is not obj


def test_missing_keys_take_their_defaults():
    t = P.TrainParams.from_dict({"schema_version": P.TrainParams.SCHEMA_VERSION, "epochs": 4})
    assert t == P.TrainParams(epochs=4)
    assert P.ModelSpec.from_dict({}) == P.ModelSpec()
    assert P.FinetuneParams.from_dict({"seed": 3}) == P.FinetuneParams(seed=3)


def test_training_parameters_of_schema_1_are_upgraded():
    """config.json's params before versions (schema 1): a run made before augmented feature views
    existed trained on the un-augmented features alone, so it reads as feature_views=0 (today's
    default, 2, would train it differently on resume); keys it has are kept as they are."""
    old = {"epochs": 15, "fine_tune_epochs": 3, "batch_size": 32, "lr": 1e-3, "seed": 0, "augment": True}
    old |= {"patience": 5, "fast_path": True}  # landgui's first TrainParams, as asdict() wrote it
    t = P.TrainParams.from_dict(old)
    assert t.feature_views == 0 and t.fine_tune_epochs == 3 and t.epochs == 15
    assert t.to_dict()["schema_version"] == 2
    assert P.TrainParams.from_dict({**old, "feature_views": 2}).feature_views == 2
    assert P.TrainParams.from_dict({"schema_version": 2}).feature_views == 2  # current schema: default


def test_the_shipped_models_config_reads_as_it_was_trained():
    from landgui.core.runs.folder import RunFolder, shipped_run_dir

    cfg = RunFolder(shipped_run_dir()).config()
    assert "schema_version" not in cfg["params"], "written before versions: schema 1"
    t = P.TrainParams.from_dict(cfg["params"])
    assert {k: v for k, v in t.to_dict().items() if k != "schema_version"} == cfg["params"]
    spec = P.ModelSpec.from_dict(cfg["model"])
    spec.check()
    assert spec.classes == RunFolder(shipped_run_dir()).labels()


@pytest.mark.parametrize("cls", CLASSES)
def test_unknown_key_and_newer_schema_are_one_line(cls):
    with pytest.raises(LandguiError, match="unknown setting\\(s\\) colour, speed") as e:
        cls.from_dict({"speed": 1, "colour": "red"})
    assert "\n" not in str(e.value) and cls.WHAT in str(e.value)
    newer = cls.SCHEMA_VERSION + 1
    with pytest.raises(LandguiError, match=f"of schema {newer} cannot be read by this landgui") as e:
        cls.from_dict({"schema_version": newer})
    assert "\n" not in str(e.value)
    with pytest.raises(LandguiError, match="of schema 'x'"):
        cls.from_dict({"schema_version": "x"})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (P.SplitParams(val=1.0), "--val must be between 0 and 1, got 1.0"),
        (P.SplitParams(val=0.5, test=0.5), "--val + --test must be below 1 (got 1.00); nothing left to train on"),
        (P.SplitParams(materialize="move"), "--materialize must be one of none, copy, link"),
        (P.ModelSpec(model="big", classes=["a", "b"]), "unknown model 'big' (choose scratch or transfer)"),
        (P.ModelSpec(image_size=8, classes=["a", "b"]), "image size must be between 16 and 1024 px, got 8"),
        (P.ModelSpec(classes=["a"]), "need at least 2 classes to train a classifier, got 1: ['a']"),
        (P.TrainParams(epochs=0), "epochs must be at least 1, got 0"),
        (P.TrainParams(lr=2.0), "learning rate must be a number in (0, 1], got 2.0"),
        (P.TrainParams(synthetic_clouds=6), "synthetic clouds must be between 0 and 5 per cloud image, got 6"),
        (P.TrainParams(devices="two"), "devices must be 'all' or a number of devices (1 or more), got 'two'"),
        (P.FinetuneParams(epochs=0), "epochs must be at least 1, got 0"),
        (P.FinetuneParams(weight=float("nan")), "the corrections' weight must be a positive number, got nan"),
    ],
)
def test_checks_say_one_line(obj, message):
    with pytest.raises(LandguiError) as e:
        obj.check()
    assert str(e.value) == message


def test_backbone_names_are_the_models_own():
    """params holds the backbone list (it may import nothing above base); models builds them."""
    from landgui.core.models.efficientnet_lite import VARIANTS

    assert set(P.LITE_BACKBONES) == set(VARIANTS)
    assert P.DEFAULT_BACKBONE in P.BACKBONES
    with pytest.raises(LandguiError, match="unknown backbone 'efficientnet_lite3'; choose one of efficientnet_lite0"):
        P.ModelSpec(backbone="efficientnet_lite3", classes=["a", "b"]).check()
