"""Scanning a dataset: formats, every kind of bad file, duplicates; nothing touched."""

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from synth import CLASS_COLOURS, make_dataset, textured_image, tree_snapshot, write_image

from landgui.core.base.errors import LandguiError
from landgui.core.data import scan as ds
from landgui.core.data.duplicates import THUMBNAIL_SIDE
from landgui.core.data.imageio import decode_image, read_image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels (decompression-bomb shaped)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """A dataset with good images in many formats plus one of every bad-file kind."""
    root = tmp_path / "my data ü"  # space and non-ASCII in the path
    rng = np.random.default_rng(1)
    good = root / "wåter body"
    write_image(good / "a.png", textured_image(rng, CLASS_COLOURS["water"]))
    write_image(good / "b.jpg", textured_image(rng, CLASS_COLOURS["water"]))
    write_image(good / "c.bmp", textured_image(rng, CLASS_COLOURS["water"]))
    write_image(good / "d.webp", textured_image(rng, CLASS_COLOURS["water"]))
    d16 = textured_image(rng, CLASS_COLOURS["water"])[:, :, 0].astype(np.uint16) * 257
    cv2.imwrite(str(good / "e16.tif"), d16)  # 16-bit single band
    rgb16 = textured_image(rng, CLASS_COLOURS["water"]).astype(np.uint16) * 200
    cv2.imwrite(str(good / "f16rgb.tif"), rgb16)  # 16-bit three bands (Pillow cannot; OpenCV can)
    Image.fromarray(textured_image(rng, CLASS_COLOURS["water"])[:, :, 0]).save(good / "g_grey.tif")
    Image.fromarray(textured_image(rng, CLASS_COLOURS["water"])).convert("CMYK").save(good / "h_cmyk.jpg")
    desert = root / "desert"
    for i in range(3):
        write_image(desert / f"ok{i}.png", textured_image(rng, CLASS_COLOURS["desert"]))
    (desert / "notes.txt").write_text("not an image")
    (desert / "empty.png").write_bytes(b"")
    full = (desert / "ok0.png").read_bytes()
    write_image(desert / "big.jpg", textured_image(rng, CLASS_COLOURS["desert"], 64))
    data = (desert / "big.jpg").read_bytes()
    (desert / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (desert / "bomb.png").write_bytes(_png_header_only(30000, 30000))
    (desert / ".hidden.png").write_bytes(full)
    (desert / "nested").mkdir()
    write_image(desert / "nested" / "x.png", textured_image(rng, CLASS_COLOURS["desert"]))
    os.symlink(desert / "loop", desert / "loop")  # a symlink pointing at itself
    os.symlink(desert, desert / "up")  # a directory symlink to its own folder
    os.symlink(desert / "missing.png", desert / "dangling.png")
    (desert / "secret.png").write_bytes(full)
    os.chmod(desert / "secret.png", 0)
    (root / "README.txt").write_text("a file beside the class folders")
    (root / ".git").mkdir()
    return root


def test_scan_reports_every_bad_file_kind(messy: Path, monkeypatch):
    if os.geteuid() == 0:  # root reads mode-000 files; simulate the refusal an ordinary user gets
        real_open = open

        def guarded_open(path, *a, **k):
            if str(path).endswith("secret.png"):
                raise PermissionError(13, "Permission denied")
            return real_open(path, *a, **k)

        monkeypatch.setattr("builtins.open", guarded_open)
    before = tree_snapshot(messy)
    scan = ds.scan_dataset(messy)
    after = tree_snapshot(messy)
    assert before == after, "scanning must not touch the dataset"

    assert scan.classes == ["desert", "wåter body"]
    got = {Path(r.path).name for r in scan.images}
    assert got == {
        "a.png",
        "b.jpg",
        "c.bmp",
        "d.webp",
        "e16.tif",
        "f16rgb.tif",
        "g_grey.tif",
        "h_cmyk.jpg",
        "ok0.png",
        "ok1.png",
        "ok2.png",
        "big.jpg",
    }
    reasons = {b.path: b.reason for b in scan.bad_files}
    assert reasons["desert/notes.txt"].startswith("not an image")
    assert reasons["desert/empty.png"] == "zero bytes"
    assert reasons["desert/truncated.jpg"].startswith("corrupt or truncated")
    assert reasons["desert/bomb.png"].startswith("too large: 30000x30000")
    assert reasons["desert/.hidden.png"].startswith("hidden file")
    assert reasons["desert/nested"].startswith("nested sub-folder")
    assert reasons["desert/loop"].startswith("symlink loop")
    assert reasons["desert/up"].startswith("symlink loop")
    assert reasons["desert/dangling.png"] == "broken symlink"
    assert reasons["desert/secret.png"] == "unreadable: permission denied"
    assert reasons["README.txt"].startswith("file outside a class folder")
    assert reasons[".git"].startswith("hidden")
    assert scan.files_per_class() == {"desert": 4, "wåter body": 8}


def test_formats_decode_to_rgb_uint8(messy: Path):
    for name in ("e16.tif", "f16rgb.tif", "g_grey.tif", "h_cmyk.jpg", "d.webp", "c.bmp"):
        arr = read_image(messy / "wåter body" / name)
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3, name
        assert arr.std() > 5, f"{name} decoded flat"
    # 16-bit: the percentile stretch uses the full 8-bit range
    arr = read_image(messy / "wåter body" / "e16.tif")
    assert arr.min() == 0 and arr.max() == 255
    # grey is replicated to three equal bands
    g = read_image(messy / "wåter body" / "g_grey.tif")
    assert (g[:, :, 0] == g[:, :, 1]).all() and (g[:, :, 1] == g[:, :, 2]).all()


def test_cmyk_jpeg_colours_survive(tmp_path: Path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:] = (30, 60, 200)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    back = read_image(tmp_path / "c.jpg")
    assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 12


def test_unusable_input_is_one_clear_error(tmp_path: Path):
    with pytest.raises(LandguiError, match="not found"):
        ds.scan_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LandguiError, match="no class folders"):
        ds.scan_dataset(tmp_path / "empty")
    (tmp_path / "noimg" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "a" / "x.txt").write_text("x")
    with pytest.raises(LandguiError, match="no usable images"):
        ds.scan_dataset(tmp_path / "noimg")


def test_decode_rejects_bomb_before_decoding():
    with pytest.raises(Exception, match="decompression-bomb"):
        decode_image(_png_header_only(100000, 100000))


def _plant_copies(root: Path, rng) -> dict[str, list[str]]:
    """Plant re-encoded, resized and brightened copies; return {original: [copies]}."""
    planted = {}
    for c in ("desert", "water"):
        for i in range(3):
            src = root / c / f"{c}_{i:03d}.png"
            rgb = read_image(src)
            copies = []
            write_image(root / c / f"{c}_{i:03d}_reenc.jpg", rgb, quality=70)
            copies.append(f"{c}/{c}_{i:03d}_reenc.jpg")
            write_image(
                root / c / f"{c}_{i:03d}_big.png", cv2.resize(rgb, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
            )
            copies.append(f"{c}/{c}_{i:03d}_big.png")
            bright = np.clip(rgb.astype(np.float32) * 1.12 + 5, 0, 255).astype(np.uint8)
            write_image(root / c / f"{c}_{i:03d}_bright.png", bright)
            copies.append(f"{c}/{c}_{i:03d}_bright.png")
            (root / c / f"{c}_{i:03d}_exact.png").write_bytes(src.read_bytes())
            copies.append(f"{c}/{c}_{i:03d}_exact.png")
            planted[f"{c}/{c}_{i:03d}.png"] = copies
    return planted


def test_planted_near_duplicates_are_grouped_and_distinct_images_are_not(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=15)
    planted = _plant_copies(root, np.random.default_rng(0))
    scan = ds.scan_dataset(root)
    groups = [set(g.members) for g in scan.duplicate_groups]
    for orig, copies in planted.items():
        want = {orig, *copies}
        assert want in groups, f"{orig}: copies not grouped together"
    assert len(groups) == len(planted), "distinct synthetic images were wrongly grouped"
    kinds = {frozenset(g.members): g.kind for g in scan.duplicate_groups}
    assert all(k == "near" for k in kinds.values())  # each group mixes exact and near copies


def test_cross_class_copy_is_a_label_conflict(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=6)
    (root / "water" / "stolen.png").write_bytes((root / "desert" / "desert_002.png").read_bytes())
    scan = ds.scan_dataset(root)
    conflicts = [g for g in scan.duplicate_groups if g.conflict]
    assert len(conflicts) == 1
    assert set(conflicts[0].members) == {"desert/desert_002.png", "water/stolen.png"}
    assert conflicts[0].kind == "exact"


def _flat_image(colour, seed: int, size: int = 64) -> np.ndarray:
    """A near-flat RGB image (water, cloud): one colour plus one grey level of noise."""
    noise = np.random.default_rng(seed).normal(0, 1.0, (size, size, 1))
    return np.clip(np.array(colour, np.float64) + noise, 0, 255).round().astype(np.uint8)


def _plant_flat_copies(root: Path) -> dict[str, list[str]]:
    """Plant a low-texture JPEG and copies with other bytes; return {original: [copies]}."""
    write_image(root / "water" / "flat.jpg", _flat_image(CLASS_COLOURS["water"], seed=7), quality=90)
    assert ds._examine(root / "water" / "flat.jpg", 10**6).signature is None, "must be a low-texture image"
    decoded = read_image(root / "water" / "flat.jpg")
    write_image(root / "water" / "flat_copy.png", decoded)  # the pixels the JPEG decodes to, as PNG
    write_image(root / "water" / "flat_half.png", cv2.resize(decoded, (32, 32), interpolation=cv2.INTER_AREA))
    write_image(root / "water" / "flat_big.png", cv2.resize(decoded, (128, 128), interpolation=cv2.INTER_CUBIC))
    return {"water/flat.jpg": ["water/flat_copy.png", "water/flat_half.png", "water/flat_big.png"]}


def test_pixel_identical_copy_of_low_texture_image_is_grouped(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=6)
    write_image(root / "water" / "flat.jpg", _flat_image(CLASS_COLOURS["water"], seed=7), quality=90)
    write_image(root / "water" / "flat_copy.png", read_image(root / "water" / "flat.jpg"))
    assert (root / "water" / "flat.jpg").read_bytes() != (root / "water" / "flat_copy.png").read_bytes()
    scan = ds.scan_dataset(root)
    assert [(g.kind, set(g.members)) for g in scan.duplicate_groups] == [
        ("same pixels", {"water/flat.jpg", "water/flat_copy.png"})
    ]


def test_resized_copies_of_low_texture_image_are_grouped(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=6)
    planted = _plant_flat_copies(root)
    scan = ds.scan_dataset(root)
    [(orig, copies)] = planted.items()
    assert [set(g.members) for g in scan.duplicate_groups] == [{orig, *copies}]
    assert scan.duplicate_groups[0].kind == "near"  # resized copies have other pixels


def test_distinct_flat_images_are_not_grouped(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=6)
    # flat patches a few grey levels apart, and two of one colour with their own noise
    r, g, b = CLASS_COLOURS["water"]
    for i, colour in enumerate([(r, g, b), (r + 4, g, b), (r, g, b - 4), (r, g, b)]):
        write_image(root / "water" / f"flat{i}.jpg", _flat_image(colour, seed=i), quality=90)
    write_image(root / "cloudy" / "plain0.png", np.full((64, 64, 3), 200, np.uint8))
    write_image(root / "cloudy" / "plain1.png", np.full((64, 64, 3), 203, np.uint8))
    scan = ds.scan_dataset(root)
    assert scan.duplicate_groups == []


def test_pixel_hash_and_thumbnail_ignore_encoding():
    rgb = _flat_image((120, 130, 140), seed=1)
    ok, buf = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    assert ds.pixels_sha256(decode_image(buf.tobytes())) == ds.pixels_sha256(rgb)
    assert ds.pixels_sha256(rgb) != ds.pixels_sha256(rgb.reshape(32, 128, 3)), "the size is part of the hash"
    thumb = ds.thumbnail(rgb)
    assert thumb.shape == (THUMBNAIL_SIDE, THUMBNAIL_SIDE, 3) and thumb.dtype == np.uint8
    np.testing.assert_array_equal(ds.thumbnail(decode_image(buf.tobytes())), thumb)  # the PNG's pixels, its thumbnail
    # area averaging, computed here: each pixel of the 32 px thumbnail is the mean of a 2 x 2 block
    np.testing.assert_allclose(thumb, rgb.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3)), atol=0.5)
    # a lossy re-encoding: other pixels (another hash), nearly the same thumbnail
    ok, jpg = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok and ds.pixels_sha256(decode_image(jpg.tobytes())) != ds.pixels_sha256(rgb)
    assert np.abs(ds.thumbnail(decode_image(jpg.tobytes())).astype(int) - thumb).max() <= 3


def test_progress_and_stop(tmp_path: Path):
    root = make_dataset(tmp_path / "ds", per_class=30)
    seen = []
    ds.scan_dataset(root, progress=lambda s, d, t: seen.append((s, d, t)))
    assert seen[0] == ("scanning", 0, 120) and seen[-1] == ("scanning", 120, 120)
    from landgui.core.base.errors import Cancelled

    with pytest.raises(Cancelled):
        ds.scan_dataset(root, should_stop=lambda: True)


@pytest.mark.realdata
def test_real_kaggle_patches_scan(kaggle4: Path):
    scan = ds.scan_dataset(kaggle4)
    assert scan.classes == ["cloudy", "desert", "green_area", "water"]
    assert len(scan.images) == 5631
    counts = scan.files_per_class()
    assert counts == {"cloudy": 1500, "desert": 1131, "green_area": 1500, "water": 1500}
    exact = [g for g in scan.duplicate_groups if g.kind == "exact"]
    assert len(exact) >= 30  # the Kaggle set holds byte-identical copies


@pytest.mark.parametrize(
    ("names", "words"),
    [
        (["desert", "uncertain"], "the maps' name for cells below the threshold"),
        (["desert", "Uncertain"], "the maps' name for cells below the threshold"),
        (["desert", "wa\nter"], "line break or control character"),
        ([f"c{i:03d}" for i in range(255)], "255 class folders; a map holds at most 254 classes"),
    ],
    ids=["uncertain", "Uncertain", "newline", "255-classes"],
)
def test_class_names_a_map_cannot_carry_are_one_line_errors(tmp_path, capsys, names, words):
    """Issue 23, item 22: a class folder named `uncertain`, a name with a line break (the patch
    CSV broke), and more than 254 classes (254/255 are the uncertain / no-data codes) were accepted."""
    from landgui.cli import main

    ds = tmp_path / "ds"
    img = np.full((8, 8, 3), 90, np.uint8)
    for n in names:
        (ds / n).mkdir(parents=True)
        cv2.imwrite(str(ds / n / "a.png"), img)
    assert main(["split", str(ds), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("landgui: error:") and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "out" / "split.json").exists()
