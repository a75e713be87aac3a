"""Odd files, odd arrays, dying threads and chatty libraries (issue 23, items 13, 17, 19, 20, 21,
24 and 25's ``api.export``). The command line's cases are in ``test_bad_input.py``; here are
the Python API, the core's helpers and what needs a fresh process or a non-UTF-8 file name."""

import json
import os
import shutil
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import rasterio
from PIL import Image
from synth import make_dataset, textured_image, write_geotiff

from landgui import api
from landgui.cli import main
from landgui.core.base.errors import LandguiError
from landgui.core.base.files import FileProblem, check_regular, read_capped, shown
from landgui.core.data.imageio import MAX_PATCH_BYTES, ImageReadError, read_image
from landgui.core.data.scan import scan_dataset
from landgui.core.runs.folder import shipped_run_dir
from landgui.core.scenes import pipeline
from landgui.core.scenes.grid import make_grid
from landgui.core.scenes.io import NODATA_SURE, open_scene
from landgui.gui.widgets import thumbnails

WAIT_S = 120  # a call that hangs on the old code fails the test after this long instead of hanging it


def _finishes(fn, *args):
    """Run ``fn(*args)`` in a thread; (finished, result or exception). The thread is a daemon, so
    a call that would block forever (the old code) fails the test instead of hanging the suite."""
    out: list = []

    def call():
        try:
            out.append(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out.append(exc)

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(WAIT_S)
    return (not t.is_alive()), (out[0] if out else None)


# -- item 20: regular files only, under a size cap ---------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "scene.png"
    os.mkfifo(fifo)
    try:
        finished, result = _finishes(read_image, fifo)
    finally:  # a reader blocked on the old code's open() is released by a writer that opens and goes
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if not finished else None
        if fd is not None:
            os.close(fd)
    assert finished, "reading a FIFO blocked"
    assert isinstance(result, ImageReadError) and "not a regular file (a FIFO)" in result.reason
    with pytest.raises(LandguiError, match="cannot read scene.png: not a regular file"):
        open_scene(fifo)


def test_devices_folders_and_huge_files_are_refused_before_reading(tmp_path):
    for path, reason in (("/dev/zero", "a device"), (tmp_path, "a folder, not a file")):
        with pytest.raises(FileProblem, match=reason):
            read_capped(path, 1024)
        with pytest.raises(FileProblem, match=reason):
            check_regular(path)
    big = tmp_path / "big.png"
    with open(big, "wb") as fh:  # sparse: no disk and no memory, but a size over the cap
        fh.truncate(MAX_PATCH_BYTES + 1)
    with pytest.raises(ImageReadError, match="too large: 536,870,913 bytes > limit 536,870,912"):
        read_image(big)
    assert read_capped(__file__, 10**6) == Path(__file__).read_bytes()


# -- item 17: a file name that is not UTF-8 ----------------------------------------------------------


def test_a_latin1_scene_name_is_mapped_and_shown_replaced(tmp_path, capfd):
    if sys.platform == "win32":
        pytest.skip("file names are UTF-16 on Windows")
    name = os.fsdecode(b"sc\xe9ne.png")  # "sc\udce9ne.png": a latin-1 name, as Python sees it
    cv2.imwrite(str(tmp_path / "ok.png"), textured_image(np.random.default_rng(0), (90, 140, 80), 96))
    os.rename(tmp_path / "ok.png", tmp_path / name)
    out = tmp_path / "maps"
    rc = main(["segment", "default", str(tmp_path / name), "--out", str(out), "--formats", "png,csv", "--quiet"])
    std, err = capfd.readouterr()
    assert rc == 0, err
    assert "Traceback" not in err and "Logging error" not in err and "internal error" not in err, err
    assert "sc\ufffdne.png" in std  # the name shown, its byte replaced
    [summary_file] = out.glob("*.summary.json")
    summary = json.loads(summary_file.read_bytes())
    assert summary["scene"].endswith(name), "the path read back as it was (JSON escapes the byte)"
    log = Path(os.environ["XDG_STATE_HOME"]) / "landgui" / "landgui.log"
    assert "sc\\udce9ne.png" in log.read_text(encoding="utf-8"), "logged, escaped"
    assert shown(name) == "sc\ufffdne.png" and shown("scène") == "scène"


# -- item 21: a reader thread's failure always reaches the caller -------------------------------------


class _Scene:
    width = height = 64

    def read(self, x, y, w, h):
        return np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8)


def test_a_batch_too_large_for_memory_is_one_line_not_a_hang():
    """The reader thread allocates its batch buffer inside its guard: the MemoryError of a batch of
    10**12 patches reaches the main thread as one line (the old code waited forever)."""
    grid = make_grid(64, 64, 16, 16, "pad")
    finished, result = _finishes(
        lambda: pipeline.classify_rows(lambda b: np.zeros((len(b), 2), np.float32), _Scene(), grid, 32, 2, batch=10**12)
    )
    assert finished, "the main thread waited on a dead reader thread"
    assert isinstance(result, LandguiError) and "not enough memory for batches of" in str(result), result
    assert "use a smaller --batch" in str(result)


def test_a_reader_thread_that_dies_silently_is_reported(monkeypatch):
    monkeypatch.setattr(pipeline, "_patch_batches", lambda *a, **k: None)  # ends without a word
    grid = make_grid(64, 64, 16, 16, "pad")
    finished, result = _finishes(
        lambda: pipeline.classify_rows(lambda b: np.zeros((len(b), 2), np.float32), _Scene(), grid, 16, 2)
    )
    assert finished and isinstance(result, LandguiError) and "stopped unexpectedly" in str(result), result


# -- item 24: +/-inf pixels are no data, as NaN is ---------------------------------------------------


def test_infinite_pixels_are_no_data_like_nan(tmp_path):
    img = np.full((32, 32, 3), 100.0, np.float32)
    img[0, 0], img[0, 1], img[0, 2] = np.nan, np.inf, -np.inf
    write_geotiff(tmp_path / "f.tif", img, dtype="float32")
    scene = open_scene(tmp_path / "f.tif")
    try:
        rgb, nod = scene.read(0, 0, 32, 32)
    finally:
        scene.close()
    assert nod[0, :3].tolist() == [NODATA_SURE] * 3 and nod[0, 3] == 0
    Image.fromarray(np.full((16, 16), np.inf, np.float32), mode="F").save(tmp_path / "inf.tif")
    with pytest.raises(ImageReadError, match="no data: every pixel is NaN or infinite"):
        read_image(tmp_path / "inf.tif")


def test_images_of_no_ground_are_left_out_of_a_dataset_with_their_reason(tmp_path):
    """As training images: 1 x 1 px, a 100,000 x 1 px strip and an all-NaN TIFF are bad files
    with the reason, not black or one-colour patches trained on (the old scan used all three)."""
    ds = make_dataset(tmp_path / "ds", per_class=3, classes=("desert", "water"))
    cv2.imwrite(str(ds / "water" / "one.png"), np.full((1, 1, 3), 90, np.uint8))
    cv2.imwrite(str(ds / "water" / "strip.png"), np.full((1, 100_000, 3), 90, np.uint8))
    Image.fromarray(np.full((16, 16), np.nan, np.float32), mode="F").save(ds / "desert" / "nan.tif")
    scan = scan_dataset(ds)
    reasons = {Path(b.path).name: b.reason for b in scan.bad_files}
    assert reasons["one.png"].startswith("too small: 1 x 1 px")
    assert reasons["strip.png"].startswith("too small: 100000 x 1 px")
    assert reasons["nan.tif"] == "no data: every pixel is NaN or infinite"
    assert len(scan.images) == 6


# -- items 19 and 24: the Python API takes arrays by the rules files follow ---------------------------

RNG = np.random.default_rng(3)
RGB8 = textured_image(RNG, (90, 140, 80), 40)


@pytest.mark.parametrize(
    ("images", "words"),
    [
        ([np.zeros((0, 0, 3), np.uint8)], "image 0: empty: 0 x 0 px"),
        ([RGB8, np.zeros((1, 1, 3), np.uint8)], "image 1: too small: 1 x 1 px"),
        ([np.zeros((1, 100_000, 3), np.uint8)], "too small: 100000 x 1 px"),
        ([np.zeros((10, 1000, 3), np.uint8)], "too elongated: 1000 x 10 px"),
        ([np.full((16, 16, 3), np.nan, np.float32)], "no data: every pixel is NaN or infinite"),
        ([RGB8.astype(np.float32) * 4], "float values from"),
        ([np.zeros((16, 16, 5), np.uint8)], "not an image: shape (16, 16, 5)"),
        ([np.full((16, 16, 3), "a")], "not an image: an array of <U1"),
        (7, "images must be arrays or image files, got int"),
        (["no/such/file.png"], "image 0 (no/such/file.png): unreadable"),
    ],
)
def test_api_predict_refuses_what_is_no_image_in_one_line(images, words):
    with pytest.raises(LandguiError) as exc:
        api.predict("default", images)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_api_predict_reads_arrays_as_the_cli_reads_files(tmp_path):
    """Grey, RGBA, float 0..1 and uint16 arrays give the probabilities of the same image as a file
    read by ``landgui predict`` (an 8-bit RGB PNG, a grey PNG, a 16-bit PNG), and a path works."""
    grey = RGB8[:, :, 1].copy()
    u16 = (RGB8.astype(np.uint16) * 257 + RNG.integers(0, 200, RGB8.shape)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "rgb.png"), RGB8[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "u16.png"), u16[:, :, ::-1])
    rgba = np.concatenate([RGB8, np.full((40, 40, 1), 7, np.uint8)], axis=2)
    nan_corner = RGB8.astype(np.float32) / 255
    nan_corner[0, 0] = np.nan  # one pixel of no data: still an image
    got = api.predict("default", [RGB8, grey, rgba, RGB8.astype(np.float64) / 255, u16, nan_corner], batch_size=4)
    files = api.predict(
        "default", [str(tmp_path / f) for f in ("rgb.png", "grey.png", "rgb.png", "rgb.png", "u16.png")]
    )
    np.testing.assert_allclose(got[:5], files, atol=1e-4)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(api.predict("default", str(tmp_path / "rgb.png")), files[:1], atol=1e-6)
    np.testing.assert_allclose(api.predict("default", RGB8), files[:1], atol=1e-6)  # one (H, W, 3) image


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: api.predict("default", [RGB8], batch_size=0), "batch size must be at least 1, got 0"),
        (lambda: api.predict("default", [RGB8], batch_size="8"), "batch size must be a whole number, got '8'"),
        (lambda: api.train("no-split", "no-run", epochs="1"), "epochs must be a whole number, got '1'"),
        (lambda: api.train("no-split", "no-run", lr="0.1"), "learning rate must be a number in (0, 1], got '0.1'"),
        (lambda: api.train("no-split", "no-run", epoch=3), "unknown training setting(s) ['epoch']"),
    ],
)
def test_api_settings_of_the_wrong_type_are_one_line(call, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LandguiError) as exc:
        call()
    assert words in str(exc.value)
    assert not (tmp_path / "no-run").exists()


# -- item 25: api.export refuses an unknown format before writing anything -----------------------------


def test_api_export_refuses_unknown_formats_before_writing(tmp_path):
    cv2.imwrite(str(tmp_path / "s.png"), np.tile(RGB8, (2, 2, 1)))
    result = api.segment("default", tmp_path / "s.png", patch=40)
    for formats in (("pdf",), "png,pdf", (), ("png", 3)):
        with pytest.raises(LandguiError, match="format"):
            api.export(result, tmp_path / "out", formats=formats)
        assert not (tmp_path / "out").exists(), f"{formats!r}: nothing written, not even the folder"
    assert set(api.export(result, tmp_path / "out", formats=["csv"])) == {"patches_csv", "summary"}


# -- item 13: nothing printed before the one-line error ------------------------------------------------


def test_error_paths_that_load_tensorflow_or_gdal_print_one_line(tmp_path):
    """In a fresh process, as a user runs it (no TF_CPP_MIN_LOG_LEVEL): a corrupt model.keras
    (TensorFlow and Keras load, then fail) and a scene rasterio warns about (no georeference)
    before it is refused: stderr is the one error line."""
    run = tmp_path / "corrupt-run"
    run.mkdir()
    for name in ("config.json", "labels.json", "status.json"):
        shutil.copy(shipped_run_dir() / name, run / name)
    (run / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    cv2.imwrite(str(tmp_path / "p.png"), RGB8)
    tif = tmp_path / "seven.tif"  # no georeference: rasterio warns (NotGeoreferencedWarning) on open
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tif, "w", driver="GTiff", width=16, height=16, count=7, dtype="uint8") as ds:
            ds.write(np.zeros((7, 16, 16), np.uint8))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    cases = [
        (["predict", str(run), str(tmp_path / "p.png")], "model.keras"),
        (["segment", "default", str(tif), "--out", str(tmp_path / "o")], "7 bands"),
    ]
    for argv, words in cases:
        proc = subprocess.run(
            [sys.executable, "-c", "import sys; from landgui.cli import main; sys.exit(main())", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "%" not in ln]  # not the progress bar
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert len(lines) == 1 and lines[0].startswith("landgui: error:") and words in lines[0], proc.stderr[-3000:]
    native = Path(os.environ["XDG_STATE_HOME"]) / "landgui" / "native.log"
    assert native.is_file(), "what TensorFlow printed went to the log"


# -- item 21's audit: the app's thumbnail threads answer even when decoding fails ---------------------


def test_a_thumbnail_whose_decoding_fails_still_answers(qtbot, monkeypatch, tmp_path):
    def out_of_memory(path, side):
        raise MemoryError()

    monkeypatch.setattr(thumbnails, "thumbnail_image", out_of_memory)
    loader = thumbnails.ThumbnailLoader()
    with qtbot.waitSignal(loader.ready, timeout=WAIT_S * 1000) as blocker:
        loader.request("k", str(tmp_path / "a.png"), 64)
    key, image = blocker.args
    assert key == "k" and image.isNull()
    loader.pool.waitForDone()
