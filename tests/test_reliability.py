"""Nothing lost, nothing misleading: atomic outputs, same-stem scenes, split paths, dead runs."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_scenes import LABELS, centroid_model, mosaic

from landgui.core import scenes as S
from landgui.core.base.errors import LandguiError

PAL = {"red": "#FF0000", "green": "#00FF00", "blue": "#0000FF"}


def _classified(tmp_path: Path, name: str = "m.png"):
    path = tmp_path / name
    cv2.imwrite(str(path), mosaic(np.array([[0, 1], [2, 0]]), 16)[:, :, ::-1])
    scene = S.open_scene(path)
    return S.classify_scene(centroid_model(16), LABELS, 16, scene, patch=16, uncertain_below=0), scene


def test_export_failing_midway_leaves_no_complete_looking_output(tmp_path, monkeypatch):
    from dataclasses import replace

    from landgui.core.scenes import writers

    res, scene = _classified(tmp_path)
    out = tmp_path / "out"
    S.export(res, scene, out, "m", PAL, ("png", "csv"))
    assert (out / "m.summary.json").exists()

    def disk_full(result, path, *a):
        Path(path).write_bytes(b"half a CSV\n")
        raise OSError(28, "No space left on device")

    csv = writers.WRITERS["csv"]
    failing = replace(csv.files[0], write=lambda job, tmp: disk_full(job.result, tmp))
    monkeypatch.setitem(writers.WRITERS, "csv", replace(csv, files=(failing,)))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(LandguiError, match="m.patches.csv: the disk is full"):
        S.export(res, scene, out, "m", PAL, ("png", "csv"))
    # issue 28, section 3: the new files were written aside, so the earlier complete set is kept
    # whole (its summary still lists exactly these bytes), and nothing of the failed one is left
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "the earlier complete set, untouched"
    assert (out / "m.patches.csv").read_text().startswith("row,col"), "the earlier complete CSV is kept"


def test_stale_partial_files_of_a_killed_export_are_removed(tmp_path):
    res, scene = _classified(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".m.classes.99999.partial.png"
    stale.write_bytes(b"\x89PNG truncated")
    user_file = out / "notes.png"
    user_file.write_bytes(b"mine")
    S.export(res, scene, out, "m", PAL, ("png",))
    assert not stale.exists() and user_file.read_bytes() == b"mine"


def test_scenes_with_the_same_stem_do_not_overwrite_each_other(tmp_path):
    out = tmp_path / "out"
    taken: set[str] = set()
    assert S.output_name(tmp_path / "a.jpg", out, taken) == "a"
    assert S.output_name(tmp_path / "a.png", out, taken) == "a_png"
    res, scene = _classified(tmp_path, "a.png")
    S.export(res, scene, out, S.output_name(tmp_path / "a.png", out), PAL, ("csv",))
    # a later run: a.png keeps its name, a.jpg (another scene) gets its own
    assert S.output_name(tmp_path / "a.png", out) == "a"
    assert S.output_name(tmp_path / "a.jpg", out) == "a_jpg"
    (out / "a_jpg.summary.json").write_text(json.dumps({"scene": str(tmp_path / "elsewhere" / "a.jpg")}))
    with pytest.raises(LandguiError, match="other scenes named a"):
        S.output_name(tmp_path / "a.jpg", out)


def test_one_scene_name_from_two_working_folders_keeps_both_maps(tmp_path, monkeypatch):
    """Issue 23, item 1: `cd a && segment default s.png --out ../out`, then the same from `cd b`
    (another s.png): the summary stored the scene path as typed, so from b it named b's s.png and
    b's maps replaced a's. Both scenes' maps must remain, each beside a summary naming it."""
    from landgui.cli import main

    for folder, value in (("a", 40), ("b", 200)):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "s.png"), np.full((64, 64, 3), value, np.uint8))
    for folder in ("a", "b"):
        monkeypatch.chdir(tmp_path / folder)
        assert main(["segment", "default", "s.png", "--out", "../out", "--formats", "csv", "--quiet"]) == 0
    out = tmp_path / "out"
    summaries = {p.name: json.loads(p.read_text()) for p in out.glob("*.summary.json")}
    assert sorted(summaries) == ["s.summary.json", "s_png.summary.json"], sorted(summaries)
    assert {s["scene"] for s in summaries.values()} == {str(tmp_path / "a" / "s.png"), str(tmp_path / "b" / "s.png")}
    # mapping a's scene again from a reuses its own name (it replaces only its own maps)
    monkeypatch.chdir(tmp_path / "a")
    assert main(["segment", "default", "s.png", "--out", "../out", "--formats", "csv", "--quiet"]) == 0
    assert sorted(p.name for p in out.glob("*.summary.json")) == ["s.summary.json", "s_png.summary.json"]
    assert json.loads((out / "s.summary.json").read_text())["scene"] == str(tmp_path / "a" / "s.png")


def test_cli_segment_two_scenes_with_one_stem(tiny_split, tmp_path):
    from landgui.cli import main
    from landgui.core.models.build import ModelSpec
    from landgui.core.training import trainer as T

    T.train(
        tiny_split, tmp_path / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1, batch_size=8)
    )
    img = mosaic(np.array([[0, 1], [2, 0]]), 64)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    cv2.imwrite(str(tmp_path / "a.jpg"), img[::-1])
    out = tmp_path / "out"
    argv = ["segment", str(tmp_path / "run"), str(tmp_path / "a.png"), str(tmp_path / "a.jpg"), "--out", str(out)]
    assert main([*argv, "--quiet", "--formats", "csv"]) == 0
    scenes = {json.loads((out / f"{n}.summary.json").read_text())["scene"] for n in ("a", "a_jpg")}
    assert scenes == {str(tmp_path / "a.png"), str(tmp_path / "a.jpg")}


def test_split_entries_outside_the_dataset_are_refused(tiny_split, tmp_path):
    from landgui.core.data import images as D
    from landgui.core.data.split import load_split

    m = json.loads((tiny_split / "split.json").read_text())
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.png").write_bytes(b"secret")
    for bad in ("../outside/x.png", str(tmp_path / "outside" / "x.png")):
        m2 = json.loads(json.dumps(m))
        m2["splits"]["test"][0]["path"] = bad
        p = tmp_path / "bad" / "split.json"
        p.parent.mkdir(exist_ok=True)
        p.write_text(json.dumps(m2))
        with pytest.raises(LandguiError, match="outside the dataset folder"):
            load_split(p)
    # a symlink inside the dataset that resolves outside it
    entry = m["splits"]["test"][0]
    target = Path(m["dataset_root"]) / entry["path"]
    target.unlink()
    target.symlink_to(tmp_path / "outside" / "x.png")
    manifest = load_split(tiny_split)
    with pytest.raises(LandguiError, match="resolves outside the dataset folder"):
        D.split_files(manifest, "test", manifest["classes"])


def test_damaged_split_file_is_one_clear_error(tiny_split, tmp_path):
    from landgui.core.data.split import load_split

    m = json.loads((tiny_split / "split.json").read_text())
    del m["splits"]["train"][0]["sha256"]
    p = tmp_path / "split.json"
    p.write_text(json.dumps(m))
    with pytest.raises(LandguiError, match="damaged"):
        load_split(p)


def test_every_error_shown_is_logged_with_its_traceback(tmp_path, capsys, monkeypatch):
    import os

    from landgui import cli
    from landgui.cli.commands import compare
    from landgui.core.base import logs

    assert cli.main(["evaluate", str(tmp_path / "no-such-run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("landgui: error:") and err.count("\n") == 1
    log = (Path(os.environ["XDG_STATE_HOME"]) / "landgui" / "landgui.log").read_text()
    assert "evaluate" in log and "ERROR" in log and err.split("error: ", 1)[1].strip() in log
    assert "Traceback (most recent call last)" in log

    def bug(args):
        raise ZeroDivisionError("a bug\nover two lines")

    monkeypatch.setattr(compare, "run", bug)
    assert cli.main(["compare", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (ZeroDivisionError: a bug over two lines)" in err
    assert str(logs.user_log_path()) in err
    assert 'raise ZeroDivisionError("a bug' in logs.user_log_path().read_text()


def test_disk_errors_are_one_line(tmp_path, capsys):
    from landgui.cli import main

    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", Path("/proc/landgui-out")):
        assert main(["segment", "default", "demo", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("landgui: error:") and err.count("\n") == 1 and "Traceback" not in err, err


def test_nan_and_declared_nodata_regions_are_no_data_not_a_class(tmp_path):
    from synth import write_geotiff

    img = mosaic(np.array([[0, 1], [2, 0]]), 16).astype(np.float32)
    img[:16] = np.nan  # the top row of patches: NaN
    write_geotiff(tmp_path / "nan.tif", img, dtype="float32")
    scene = S.open_scene(tmp_path / "nan.tif")
    res = S.classify_scene(centroid_model(16), LABELS, 16, scene, patch=16, uncertain_below=0)
    assert res.classes[0].tolist() == [-1, -1] and (res.classes[1] >= 0).all()
    assert res.stats["ignored"] == 2

    img = mosaic(np.array([[0, 1], [2, 0]]), 16)
    img[:, :16] = 7  # the left column: the file's nodata value
    write_geotiff(tmp_path / "nod.tif", img, nodata=7)
    res = S.classify_scene(centroid_model(16), LABELS, 16, S.open_scene(tmp_path / "nod.tif"), patch=16)
    assert res.classes[:, 0].tolist() == [-1, -1] and (res.classes[:, 1] >= 0).all()

    img[:, :16] = 0  # black without a declared nodata value: dark ground or fill? classified unless asked
    write_geotiff(tmp_path / "black.tif", img)
    sc = S.open_scene(tmp_path / "black.tif")
    assert (S.classify_scene(centroid_model(16), LABELS, 16, sc, patch=16).classes >= 0).all()
    res = S.classify_scene(centroid_model(16), LABELS, 16, sc, patch=16, ignore_nodata=True)
    assert res.classes[:, 0].tolist() == [-1, -1]


def test_a_one_class_split_warns_when_it_is_made(tmp_path, capsys):
    from synth import make_dataset

    from landgui.cli import main

    one = make_dataset(tmp_path / "one", per_class=8, classes=("desert",))
    assert main(["split", str(one), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "landgui: warning: the training split holds 1 class(es) ['desert']" in err


def test_an_unreadable_test_image_is_left_out_and_named(tiny_split, tmp_path):
    from landgui.core.data.split import load_split
    from landgui.core.evaluation.evaluate import evaluate_run
    from landgui.core.evaluation.report import report_text
    from landgui.core.models.build import ModelSpec
    from landgui.core.training import trainer as T

    T.train(tiny_split, tmp_path / "run", ModelSpec(model="scratch", image_size=32), T.TrainParams(epochs=1))
    m = load_split(tiny_split)
    bad = m["splits"]["test"][0]["path"]
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 30
    (Path(m["dataset_root"]) / bad).write_bytes(data)
    # an image changed since the split is refused, named (issue 23, item 23) ...
    with pytest.raises(LandguiError, match=f"changed since the split was made.*{bad}"):
        evaluate_run(tmp_path / "run", "test")
    # ... and one that a split.json records as it is but that cannot be decoded (a split edited by
    # hand, accepted as another split) is left out and named
    raw = json.loads(Path(tiny_split, "split.json").read_text())
    for e in raw["splits"]["test"]:
        if e["path"] == bad:
            e["sha256"] = hashlib.sha256(data).hexdigest()
    Path(tiny_split, "split.json").write_text(json.dumps(raw))
    ev = evaluate_run(tmp_path / "run", "test", split_path=tiny_split, allow_other_split=True)
    assert ev["unreadable"] == [{"path": bad, "reason": "not an image (unrecognised format)"}]
    assert ev["n_images"] == len(m["splits"]["test"]) - 1 and bad not in [p["path"] for p in ev["predictions"]]
    assert f"1 unreadable files left out: {bad}" in report_text(ev)


# -- faults: a full disk, a kill -------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of a given size. Mounting needs root: CI runs the suite as root (.ci/run), so these
    tests run there; elsewhere they skip and say why."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("a full or read-only disk is simulated with a small tmpfs, and mounting one needs root")
    mounted = []

    def make(kib: int, options: str = "") -> Path:
        d = tmp_path / f"disk{len(mounted)}"
        d.mkdir()
        opts = f"size={kib}k" + (f",{options}" if options else "")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(
                "root, but `mount -t tmpfs` was refused (a container without CAP_SYS_ADMIN?): "
                + r.stderr.decode().strip()[:100]
            )
        mounted.append(d)
        return d

    yield make
    for d in mounted:
        subprocess.run(["umount", "-l", str(d)], check=False)


def _fill(disk: Path, leave_kib: int) -> Path:
    import shutil

    filler = disk / "filler.bin"
    free = shutil.disk_usage(disk).free
    filler.write_bytes(b"\0" * max(0, free - leave_kib * 1024))
    return filler


def _run_cli(*argv: str, timeout: int = 300):
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "landgui", *argv], capture_output=True, text=True, env=env, timeout=timeout
    )


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("landgui:") or "Traceback" in ln or "Error" in ln]
    assert len(lines) == 1 and lines[0].startswith("landgui: error:"), stderr[-3000:]
    return lines[0]


def test_disk_full_during_training_is_one_line_and_resumable(tiny_split, small_disk):
    disk = small_disk(40 * 1024)
    run = disk / "run"
    filler = _fill(disk, 1024)  # room for the run's small files, not for a checkpoint
    r = _run_cli(
        "train", str(tiny_split), "--out", str(run), "--model", "scratch", "--image-size", "32", "--epochs", "2"
    )
    assert r.returncode == 2, r.stderr[-3000:]  # not 139 (HDF5's segfault on a full disk)
    assert "the disk is full" in _one_error_line(r.stderr)
    st = json.loads((run / "status.json").read_text())
    assert st["status"] == "failed" and "resume" in st["message"]
    assert not list((run / "checkpoint").glob("*.h5")), "no half-written weights"
    filler.unlink()
    r = _run_cli("train", "--resume", str(run), "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((run / "status.json").read_text())["status"] == "completed"


def test_disk_full_during_segment_leaves_no_output_and_a_rerun_works(small_disk, tmp_path):
    disk = small_disk(256)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "s.png"), rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
    r = _run_cli("segment", "default", str(tmp_path / "s.png"), "--out", str(disk / "maps"), "--quiet")
    assert r.returncode == 2, r.stderr[-3000:]
    assert "the disk is full" in _one_error_line(r.stderr)
    left = sorted(p.name for p in (disk / "maps").iterdir()) if (disk / "maps").exists() else []
    assert left == [], f"nothing written, not even the folder it created: {left}"
    r = _run_cli("segment", "default", str(tmp_path / "s.png"), "--out", str(tmp_path / "maps"), "--quiet")
    assert r.returncode == 0 and (tmp_path / "maps" / "s.summary.json").exists(), r.stderr[-3000:]


def test_disk_full_during_split_copy_leaves_no_layout_and_a_rerun_works(small_disk, tmp_path):
    from synth import make_dataset

    ds = make_dataset(tmp_path / "ds", per_class=20, classes=("desert", "water"), size=64)
    disk = small_disk(64)
    r = _run_cli("split", str(ds), "--out", str(disk / "s"), "--materialize", "copy", "--quiet")
    assert r.returncode == 2, r.stderr[-3000:]
    assert "the disk is full" in _one_error_line(r.stderr)
    assert not (disk / "s").exists() or sorted(p.name for p in (disk / "s").iterdir()) == [], "no layout, no split.json"
    r = _run_cli("split", str(ds), "--out", str(tmp_path / "s"), "--materialize", "copy", "--quiet")
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(list((tmp_path / "s").rglob("*.png"))) == 40


def _kill_and_rerun(tmp_path: Path, argv, points, over_a_complete_run=()) -> list[tuple]:
    """Run ``landgui ARGV --out OUT`` once to the end (the reference), then for each kill point a
    run into a fresh OUT that SIGKILLs itself there (tests/killpoints.py: the points are counted
    renames and copies, not moments, so they do not depend on the machine's speed), followed by a
    rerun into the same OUT. For the points in ``over_a_complete_run`` OUT first holds a complete
    earlier run. Returns (point, reference, killed, rerun) reports."""
    import subprocess
    import sys

    def run(out: Path, kill=None) -> dict:
        return {"argv": [*argv, "--out", str(out)], "out": str(out), "kill": kill}

    runs = [run(tmp_path / "reference")]
    for i, point in enumerate(points):
        out = tmp_path / f"killed{i}"
        runs += [run(out)] if point in over_a_complete_run else []
        runs += [run(out, list(point)), run(out)]
    (tmp_path / "spec.json").write_text(json.dumps({"runs": runs}))
    driver = Path(__file__).with_name("killpoints.py")
    r = subprocess.run(
        [sys.executable, str(driver), str(tmp_path / "spec.json"), str(tmp_path / "report.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    ref, *rest = json.loads((tmp_path / "report.json").read_text())
    assert ref["exit"] == 0, ref
    checked = []
    for point in points:
        if point in over_a_complete_run:
            earlier, *rest = rest
            assert earlier["exit"] == 0, earlier
        killed, rerun, *rest = rest
        checked.append((point, ref, killed, rerun))
    return checked


def _visible(files: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in files.items() if not any(part.startswith(".") for part in Path(k).parts)}


def _check_the_kill_contract(point, ref, killed, rerun, marker: str) -> None:
    """After a SIGKILL: no marker of a finished job, every visible file identical to the one an
    uninterrupted run writes (none half-written), and a rerun into the same folder that succeeds,
    writes exactly the reference's files and leaves no hidden partial behind."""
    assert killed["exit"] == "SIGKILL", f"{point}: the kill point was never reached: {killed}"
    seen = _visible(killed["files"])
    if marker in seen:  # only beside a complete set: an earlier run's, kept whole while the new was aside
        assert seen.keys() == _visible(ref["files"]).keys(), f"{point}: {marker} beside an incomplete set"
    wrong = {k for k in seen if k != marker and ref["files"].get(k) != seen[k]}
    assert not wrong, f"{point}: visible files that differ from a complete run's (half-written?): {sorted(wrong)}"
    assert rerun["exit"] == 0, f"{point}: the rerun after the kill failed (exit {rerun['exit']})"
    extra = sorted(rerun["files"].keys() ^ ref["files"].keys())
    assert not extra, f"{point}: after the rerun, files other than a clean run's (partials left?): {extra}"
    differ = {k for k in ref["files"] if ref["files"][k] != rerun["files"][k]} - {marker}  # its timings differ
    assert not differ, f"{point}: the rerun wrote other files than a clean run: {sorted(differ)}"


def test_a_kill_anywhere_in_a_segment_export_leaves_no_summary_no_partial_file_and_a_rerun_works(tmp_path):
    from synth import write_geotiff

    write_geotiff(tmp_path / "s.tif", np.random.default_rng(0).integers(0, 255, (320, 320, 3)).astype(np.uint8))
    argv = ["segment", "default", str(tmp_path / "s.tif"), "--quiet", "--formats", "png,csv,geotiff,geojson"]
    # the first file about to take its name, just after (also over an earlier complete export),
    # half-way, and all but the summary
    first = ("replace", 1, "after")
    points = [("replace", 1, "before"), first, ("replace", 5, "after"), ("replace", -1, "before")]
    checked = _kill_and_rerun(tmp_path, argv, points, over_a_complete_run=[first])
    for point, ref, killed, rerun in checked:
        _check_the_kill_contract(point, ref, killed, rerun, "s.summary.json")
    ref = checked[0][1]
    published = [r for r in ref["renames"] if not r.startswith(".")]
    assert sorted(published) == sorted(ref["files"]), "every output is written aside and moved in when complete"
    assert published == ref["renames"][-10:], "written in a hidden staging folder, then all moved in at the end"
    assert len(ref["files"]) == 10 and ref["renames"][-1] == "s.summary.json", ref["renames"]
    assert any(k.startswith(".") for k in checked[0][2]["files"]), "killed while writing: a hidden partial is left"
    assert len(_visible(checked[-1][2]["files"])) == 9, "killed at the last rename: all but the summary are done"


def _export_result(tmp_path: Path, uncertain_below: float):
    """A georeferenced 32 x 32 px scene classified by the centroid model, pickled for killpoints.py."""
    import pickle

    from synth import write_geotiff

    if not (tmp_path / "s.tif").exists():
        write_geotiff(tmp_path / "s.tif", mosaic(np.array([[0, 1], [2, 0]]), 16))
    scene = S.open_scene(tmp_path / "s.tif")
    res = S.classify_scene(centroid_model(16), LABELS, 16, scene, patch=16, uncertain_below=uncertain_below)
    scene.close()
    path = tmp_path / f"result-{uncertain_below}.pkl"
    path.write_bytes(pickle.dumps(res))
    return str(path)


def test_a_kill_at_every_rename_of_an_export_leaves_the_previous_set_or_nothing_half_believed(tmp_path):
    """Issue 28, section 3: an export killed at any of its renames (before or after each, counted,
    not timed; tests/killpoints.py) over an earlier complete export of other maps of the scene,
    and killed while writing each of its files (half-way through it) into an empty folder.

    While any file is still being written, OUT shows the earlier set exactly (its summary and every
    file it lists) or, in an empty folder, nothing. While the finished set is moved in, no summary,
    and each file whole (the earlier one or the new one); after the last rename, the new set. The
    next export into the folder finishes or clears what the kill left: exactly its own set, nothing
    hidden left behind."""
    import subprocess
    import sys

    earlier = {"result": _export_result(tmp_path, 0.0), "name": "s", "palette": PAL, "formats": ["csv", "geotiff"]}
    new = {**earlier, "result": _export_result(tmp_path, 0.9), "palette": {**PAL, "red": "#800000"}}

    def run(out: Path, spec: dict, kill=None, copy_from=None) -> dict:
        return {"export": spec, "out": str(out), "kill": kill, "copy_from": copy_from}

    def drive(runs: list[dict]) -> list[dict]:
        (tmp_path / "spec.json").write_text(json.dumps({"runs": runs}))
        driver = [sys.executable, str(Path(__file__).with_name("killpoints.py"))]
        r = subprocess.run([*driver, str(tmp_path / "spec.json"), str(tmp_path / "report.json")], timeout=300)
        assert r.returncode == 0
        return json.loads((tmp_path / "report.json").read_text())

    ref_old, ref_new = drive([run(tmp_path / "earlier", earlier), run(tmp_path / "new", new)])
    assert ref_old["exit"] == ref_new["exit"] == 0
    changed = {k for k in ref_new["files"] if ref_old["files"].get(k) != ref_new["files"][k]}
    assert {"s.classes.tif", "s.classes.qml"} <= changed, "the two exports differ"
    n_files = len(ref_new["files"])
    over = [("replace", k, w) for k in range(1, len(ref_new["renames"]) + 1) for w in ("before", "after")]
    fresh = [("write", k, "before") for k in range(1, n_files + 1)]
    runs = []
    for i, point in enumerate(over + fresh):
        out = tmp_path / f"k{i}"
        runs += [run(out, new, list(point), str(tmp_path / "earlier") if point in over else None), run(out, new)]
    reports = drive(runs)
    transitional = 0
    for point, killed, rerun in zip(over + fresh, reports[::2], reports[1::2], strict=True):
        assert killed["exit"] == "SIGKILL", f"{point}: never reached: {killed}"
        seen = _visible(killed["files"])
        if point in fresh:  # killed half-way through writing file k into an empty folder
            assert seen == {}, f"{point}: files visible before the export was complete: {sorted(seen)}"
        elif point == ("replace", 1, "before") or seen == ref_old["files"]:
            assert seen == ref_old["files"], f"{point}: the earlier complete set changed before the new was done"
        elif "s.summary.json" in seen:  # killed after the last rename: the new set, complete
            assert _but_summary(seen) == _but_summary(ref_new["files"]), f"{point}: a summary beside other files"
        else:  # being moved in: no summary claims a set, and each file is whole, the earlier one or the new
            transitional += 1
            mixed = {k for k, v in seen.items() if v not in (ref_old["files"].get(k), ref_new["files"].get(k))}
            assert not mixed, f"{point}: files neither export wrote (half-written?): {mixed}"
        assert rerun["exit"] == 0, f"{point}: the export after the kill failed"
        left = rerun["files"].keys() ^ ref_new["files"].keys()
        assert not left, f"{point}: after the next export, files other than its own (left behind?): {left}"
        differ = _but_summary(ref_new["files"]).items() ^ _but_summary(rerun["files"]).items()
        assert not differ, f"{point}: after the kill, the next export wrote other files: {differ}"
    # the moves of the finished set alone (before and after each): the rest of the export runs aside
    assert transitional <= 2 * n_files, (transitional, n_files)


def _but_summary(files: dict[str, str]) -> dict[str, str]:
    """The files of a set but its summary (which names the folder it was written to)."""
    return {k: v for k, v in files.items() if not k.endswith("summary.json")}


_SPLIT_POINTS = [
    ("copy", 5, "after"),  # part-way through copying into the staging folder
    ("replace", 1, "before"),  # everything copied, nothing renamed into place
    ("replace", 1, "after"),  # train/ in place, val/ and test/ not yet: cleared by the rerun (marker)
    ("replace", -1, "before"),  # the whole layout in place, no split.json yet
]


@pytest.mark.parametrize("point", _SPLIT_POINTS, ids=lambda p: "-".join(map(str, p)))
def test_a_kill_anywhere_in_a_split_copy_leaves_no_split_json_no_partial_file_and_a_rerun_works(tmp_path, point):
    from synth import make_dataset

    ds = make_dataset(tmp_path / "ds", per_class=20, classes=("desert", "water"))
    argv = ["split", str(ds), "--materialize", "copy", "--quiet"]
    [(point, ref, killed, rerun)] = _kill_and_rerun(tmp_path, argv, [point])
    _check_the_kill_contract(point, ref, killed, rerun, "split.json")
    assert ref["renames"] == ["train", "val", "test", "split.json"], "the layout is built aside and renamed"
    # the reference layout itself: each of the dataset's 40 files once, byte for byte (hashed here)
    layout = {Path(k).relative_to(Path(k).parts[0]): v for k, v in ref["files"].items() if k != "split.json"}
    assert layout == {p.relative_to(ds): hashlib.sha256(p.read_bytes()).hexdigest() for p in ds.rglob("*.png")}


def test_a_read_only_out_is_one_line_in_every_command(small_disk, tiny_split, tmp_path, capsys):
    from synth import make_dataset

    from landgui.cli import main

    ro = small_disk(64, "ro")
    ds = make_dataset(tmp_path / "ds-ro", per_class=6, classes=("desert", "water"))  # not tiny_split's ds
    cv2.imwrite(str(tmp_path / "s.png"), np.zeros((64, 64, 3), np.uint8))
    for argv in (
        ["split", str(ds), "--out", str(ro / "s")],
        ["train", str(tiny_split), "--out", str(ro / "run")],
        ["segment", "default", str(tmp_path / "s.png"), "--out", str(ro / "maps")],
        ["sample-dataset", str(ro / "sample")],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("landgui: error:") and err.count("\n") == 1, err
        assert "read-only" in err.lower(), err


def test_disk_full_during_finetune_leaves_no_truncated_model(small_disk, tmp_path, capsys):
    """Issue 23, item 8: the fine-tuned model.keras (14 MB) on a 4 MB disk is one line, and no
    truncated model.keras is left under its final name (nor a partial file)."""
    from synth import make_dataset

    from landgui.cli import main

    fixes = make_dataset(tmp_path / "fixes", per_class=2, classes=("desert", "water"))
    disk = small_disk(4 * 1024)
    assert main(["finetune", "default", "--add", str(fixes), "--out", str(disk / "taught"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("landgui: error:") and err.count("\n") == 1 and "the disk is full" in err, err
    left = sorted(p.name for p in disk.rglob("*"))
    assert "model.keras" not in left and not [n for n in left if "partial" in n], left
