"""The front doors share one core: map settings refused in the same words by the CLI, the API and
the services; one registry of output formats behind the CLI's choices and the missing-CRS note;
one classifier of how a job ended."""

import hashlib

import cv2
import numpy as np
import pytest
from test_scenes import LABELS, centroid_model, mosaic

from landgui import api
from landgui.cli import build_parser, main
from landgui.core import services
from landgui.core.base import jobs
from landgui.core.base.errors import Cancelled, LandguiError
from landgui.core.inference.engine import as_predictor
from landgui.core.params import MapSettings
from landgui.core.scenes import writers
from landgui.core.scenes.io import open_scene
from landgui.core.scenes.pipeline import classify_scene

PAL = {"red": "#FF0000", "green": "#00FF00", "blue": "#0000FF"}

# (MapSettings fields, the same options on the command line, the cause the one line must name)
BAD_SETTINGS = [
    ({"patch": 0}, ["--patch", "0"], "patch size must be at least 8 px, got 0"),
    ({"patch": 1}, ["--patch", "1"], "patch size must be at least 8 px, got 1"),
    ({"stride": 0}, ["--stride", "0"], "stride must be at least 1 px, got 0"),
    ({"patch": 16, "stride": 32}, ["--patch", "16", "--stride", "32"], "would leave gaps between patches"),
    ({"batch": 0}, ["--batch", "0"], "--batch must be at least 1, got 0"),
    ({"batch": 100_000_000}, ["--batch", "100000000"], "--batch must be at most 4,096 patches, got 100,000,000"),
    ({"uncertain_below": 2.0}, ["--uncertain-below", "2"], "--uncertain-below must be between 0 and 1, got 2.0"),
    ({"context": 25.0}, ["--context", "25"], "the context strength must be between 0 (off) and 20, got 25.0"),
]


@pytest.mark.parametrize(("fields", "argv", "cause"), BAD_SETTINGS)
def test_a_bad_map_setting_is_refused_in_the_same_words_by_every_front_door(fields, argv, cause, tmp_path, capsys):
    """Settings are checked before the run or the scene is read (neither exists here): the CLI,
    the API and the service say the one same line."""
    run, scene = str(tmp_path / "no-run"), str(tmp_path / "no-scene.png")
    with pytest.raises(LandguiError) as by_service:
        services.map_scene(run, scene, MapSettings(**fields))
    with pytest.raises(LandguiError) as by_api:
        api.segment(run, scene, **fields)
    assert main(["segment", run, scene, "--out", str(tmp_path / "out"), *argv]) == 2
    by_cli = capsys.readouterr().err
    assert cause in str(by_service.value)
    assert str(by_api.value) == str(by_service.value)
    assert by_cli == f"landgui: error: {by_service.value}\n"


def test_map_settings_round_trip_and_refuse_unknown_keys():
    s = MapSettings(patch=32, stride=16, batch=8, edge="skip", ignore_nodata=True, uncertain_below=0.5, context=0.0)
    assert MapSettings.from_dict(s.to_dict()) == s
    assert MapSettings.from_dict({"patch": 32}) == MapSettings(patch=32)  # missing keys: the defaults
    with pytest.raises(LandguiError, match="unknown setting"):
        MapSettings.from_dict({"patch": 32, "strid": 16})
    with pytest.raises(LandguiError, match="edge must be 'pad' or 'skip'"):
        MapSettings(edge="wrap").check()


def test_the_api_keeps_the_cli_guards_of_evaluate(tmp_path, capsys):
    run = str(tmp_path / "no-run")
    with pytest.raises(LandguiError) as by_api:
        api.evaluate(run, ignore_unknown=True)
    assert main(["evaluate", run, "--ignore-unknown"]) == 2
    assert capsys.readouterr().err == f"landgui: error: {by_api.value}\n"
    assert "--ignore-unknown applies to --data FOLDER only" in str(by_api.value)


@pytest.fixture
def fake_format(monkeypatch):
    """A format added to the registry (and nowhere else), needing a CRS or not."""

    def add(needs_crs: bool) -> writers.Writer:
        w = writers.Writer(
            "fake",
            "FakeFormat",
            "Fake map",
            needs_crs,
            (writers.OutputFile("fake_txt", "fake.txt", lambda job, tmp: tmp.write_text(",".join(job.result.labels))),),
        )
        monkeypatch.setitem(writers.WRITERS, "fake", w)
        return w

    return add


def test_the_cli_formats_come_from_the_registry(fake_format, tmp_path, capsys):
    fake_format(needs_crs=True)
    [sub] = [a for a in build_parser()._actions if a.dest == "command"]
    formats = sub.choices["segment"].parse_args(["run", "scene", "--out", "o"]).formats
    assert formats.split(",") == list(writers.WRITERS), "the default is every registered format"
    assert writers.parse_formats("png,fake") == ("png", "fake")
    assert main(["segment", "r", "s", "--out", str(tmp_path), "--formats", "pdf"]) == 2
    assert "choose from png, csv, geotiff, geojson, gpkg, fake" in capsys.readouterr().err


def test_the_missing_crs_note_and_the_export_come_from_the_registry(fake_format, tmp_path):
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), mosaic(np.array([[0, 1], [2, 0]]), 16)[:, :, ::-1])
    scene = open_scene(path)
    res = classify_scene(centroid_model(16), LABELS, 16, scene, patch=16)
    assert res.crs is None
    assert writers.skipped_without_crs(("png", "geotiff", "gpkg"), None) == (
        "GeoTIFF, GeoPackage skipped: the scene has no georeference (CRS)"
    )
    assert writers.skipped_without_crs(("png", "geotiff"), "EPSG:4326") is None

    fake_format(needs_crs=True)
    assert writers.skipped_without_crs(("fake",), None) == "FakeFormat skipped: the scene has no georeference (CRS)"
    files = writers.export(res, scene, tmp_path / "a", "m", PAL, ("csv", "fake"))
    assert set(files) == {"patches_csv", "summary"}, "a format that needs a CRS is left out"

    fake_format(needs_crs=False)
    assert writers.skipped_without_crs(("fake",), None) is None
    files = writers.export(res, scene, tmp_path / "b", "m", PAL, ("fake",))
    assert (tmp_path / "b" / "m.fake.txt").read_text() == ",".join(LABELS)
    assert set(files) == {"fake_txt", "summary"}
    with pytest.raises(LandguiError, match=r"unknown format\(s\) \['pdf'\]"):
        writers.export(res, scene, tmp_path / "c", "m", PAL, ("pdf",))
    scene.close()


def test_map_and_export_writes_what_classify_and_export_write(tmp_path):
    """The service opens the scene once for both steps; the files are those of the two steps by
    hand, byte for byte, and its progress is the one signature, ending each stage at its total."""
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), mosaic(np.array([[0, 1, 2], [2, 0, 1]]), 16)[:, :, ::-1])
    model = as_predictor(centroid_model(16), LABELS, 16)
    settings = MapSettings(patch=16, uncertain_below=0.0)
    seen: list[tuple[str, int, int]] = []
    res, files = services.map_and_export(
        "unused",
        path,
        tmp_path / "svc",
        settings,
        formats=("png", "csv"),
        palette=PAL,
        model=model,
        progress=lambda *a: seen.append(a),
    )
    scene = open_scene(path)
    by_hand = writers.export(
        classify_scene(model, LABELS, 16, scene, patch=16, uncertain_below=0.0),
        scene,
        tmp_path / "hand",
        "m",
        PAL,
        ("png", "csv"),
    )
    scene.close()
    assert set(files) == set(by_hand)
    for kind in ("classes_png", "overlay_png", "patches_csv"):
        assert _sha(files[kind]) == _sha(by_hand[kind]), kind
    assert all(isinstance(s, str) and isinstance(d, int) and isinstance(t, int) for s, d, t in seen)
    stages = {s for s, _, _ in seen}
    assert {"classifying", "exporting"} <= stages
    for stage in ("classifying", "exporting"):
        done, total = [(d, t) for s, d, t in seen if s == stage][-1]
        assert done == total > 0, stage
    again = services.export_map(res, tmp_path / "svc", palette=PAL, formats=("csv",))
    assert again["patches_csv"] == files["patches_csv"], "the same scene keeps its name"


def _sha(p) -> str:
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def _raise(exc):
    def job(**_):
        raise exc

    return job


def test_one_classifier_says_how_a_job_ended():
    assert jobs.run_job(lambda **kw: kw["x"] + 1, x=1) == jobs.Outcome(jobs.DONE, 2)
    assert jobs.run_job(_raise(Cancelled())).status == jobs.CANCELLED
    mine = jobs.run_job(_raise(LandguiError("the folder is gone")))
    assert (mine.status, mine.message, mine.details) == (jobs.FAILED, "the folder is gone", "")
    oom = jobs.run_job(_raise(MemoryError()))
    assert oom.message == jobs.OUT_OF_MEMORY and "MemoryError" in oom.details
    bug = jobs.run_job(_raise(ZeroDivisionError("division by zero")))
    assert bug.message == "ZeroDivisionError: division by zero"
    assert "Traceback (most recent call last)" in bug.details and "ZeroDivisionError" in bug.details
