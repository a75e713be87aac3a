"""Mapping on a Dask cluster: the same bytes as in-process (the workers write them: the client
exports nothing), a scene larger than a task written in tiles that make the same map, a killed
worker's task run again, a corrupt scene, a missing scene or an unwritable output reported with
the worker's address while the others finish, Ctrl+C cancels, and the many-scene summary and VRT
mosaic (in-process and on the cluster alike); and the network: a port that is not a Dask
scheduler is one line, never a hang, and a tls:// scheduler refuses a client without its certificate.

One LocalCluster of two worker processes serves the whole module. The model is the shipped run,
copied: its LiteRT file is current (or converted once here, beside the copy), so the workers
never import TensorFlow. Dask (``distributed``) is a [test] dependency: imported plainly, so a
broken install fails here instead of skipping.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import distributed  # noqa: F401 - a [test] dependency
import numpy as np
import pytest
from synth import CLASS_COLOURS, textured_image, write_image

from landgui.cli import main
from landgui.core import scenes as S
from landgui.core.base.errors import LandguiError
from landgui.core.inference import engine as E
from landgui.core.scenes import cluster
from landgui.core.scenes.blocks import MapSettings, map_on_cluster, plan_blocks
from landgui.core.scenes.io import reading_for
from landgui.core.scenes.pipeline import classify_with

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="ai-edge-litert has no Windows wheel (pyproject installs it everywhere else)"
)

FORMATS = ("png", "csv", "geotiff", "geojson")  # the deterministic ones (a GeoPackage stamps its time)
SETTINGS = MapSettings(patch=32, stride=16, batch=4)  # a 7-patch row is cut into batches of 4 + 3


def write_scene(path: Path, size: tuple[int, int], res: float, origin: tuple[float, float], seed: int) -> Path:
    """A synthetic GeoTIFF (EPSG:32633): class-coloured textured blocks of 32 px."""
    import rasterio
    from rasterio.transform import Affine

    rng = np.random.default_rng(seed)
    h, w = size
    img = np.zeros((h, w, 3), np.uint8)
    colours = list(CLASS_COLOURS.values())
    for y in range(0, h, 32):
        for x in range(0, w, 32):
            img[y : y + 32, x : x + 32] = textured_image(rng, colours[rng.integers(len(colours))], 32)[: h - y, : w - x]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=3,
        dtype="uint8",
        crs="EPSG:32633",
        transform=Affine(res, 0, origin[0], 0, -res, origin[1]),
    ) as dst:
        dst.write(np.moveaxis(img, -1, 0))
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The shipped run, copied, with its LiteRT file made here once if it is not current."""
    from landgui.core.runs.folder import resolve_run

    run = tmp_path_factory.mktemp("cluster") / "run"
    shutil.copytree(resolve_run("default"), run)
    E.litert_file(run)
    return run


@pytest.fixture(scope="module")
def client(run_dir):
    """LocalCluster(n_workers=2, threads_per_worker=1, processes=True), shared by the module."""
    import cloudpickle
    from distributed import Client

    from landgui.core.scenes.cluster import start_local_cluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the helpers below run on the workers
    cluster = start_local_cluster(2)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """a.tif (10 m) and, east of it with a gap, b.tif (20 m), both UTM 33N; bad.tif truncated."""
    d = tmp_path_factory.mktemp("scenes")
    a = write_scene(d / "a.tif", (96, 128), 10.0, (500000.0, 4000000.0), seed=1)
    write_scene(d / "b.tif", (64, 48), 20.0, (500000.0 + 128 * 10 + 60, 4000000.0 - 200), seed=2)
    data = a.read_bytes()
    (d / "bad.tif").write_bytes(data[: len(data) // 3])  # the header reads, the pixels do not
    return d


@pytest.fixture(scope="module")
def ref_a(run_dir, scenes, tmp_path_factory):
    """a.tif mapped in this process as ``landgui segment`` does: (result, folder of its files)."""
    out = tmp_path_factory.mktemp("in-process")
    pred = E.load_predictor(run_dir, "litert")
    scene = S.open_scene(scenes / "a.tif", reading_for(SETTINGS, run_dir))  # as segment reads it
    try:
        res = classify_with(pred, scene, SETTINGS)
        S.export(res, scene, out, "a", _palette(run_dir, pred.labels), FORMATS)
    finally:
        scene.close()
    return res, out


def _palette(run_dir: Path, labels: list[str]) -> dict:
    from landgui.core.runs.palette import run_palette

    return run_palette(run_dir, labels)


def _exporter(run_dir: Path, out: Path, results: dict, formats: tuple[str, ...] = FORMATS):
    from landgui.core.runs.folder import read_run

    palette = _palette(run_dir, read_run(run_dir).labels)

    def on_scene(i, path, res, error):
        results[i] = res if error is None else error
        if res is not None:
            scene = S.open_scene(path)
            try:
                S.export(res, scene, out, Path(path).stem, palette, formats)
            finally:
                scene.close()

    return on_scene


def _assert_same_files(one: Path, two: Path) -> None:
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())
    for name in names:
        if name.endswith(".summary.json"):  # seconds and the folder differ; the rest must not
            a, b = (json.loads((d / name).read_text()) for d in (one, two))
            for d in (a, b):
                del d["seconds"], d["patches_per_s"], d["files"]
            assert a == b, name
        else:
            assert (one / name).read_bytes() == (two / name).read_bytes(), name


# -- workers' helpers, run there with client.run (pickled by value) ------------------------------


def _count_model_loads() -> None:
    from landgui.core.inference import engine

    orig = engine.load_predictor

    def counted(*a, **k):
        engine.model_loads = getattr(engine, "model_loads", 0) + 1
        return orig(*a, **k)

    engine.load_predictor = counted
    engine.model_loads = 0
    engine._CACHE.clear()  # a model an earlier test left in the worker's cache would not be counted


def _model_loads() -> int:
    from landgui.core.inference import engine

    return engine.model_loads


def _worker_threads() -> tuple[str, list[int]]:
    from landgui.core.inference import engine

    return os.environ.get("LANDGUI_THREADS", ""), [p.n_threads for p in engine._CACHE.values()]


def _slow_blocks(seconds: float) -> None:
    from landgui.core.scenes import pipeline

    orig = pipeline.classify_rows

    def slow(*a, **k):
        time.sleep(seconds)
        return orig(*a, **k)

    slow.orig = orig  # type: ignore[attr-defined]
    pipeline.classify_rows = slow


def _undo_slow_blocks() -> None:
    from landgui.core.scenes import pipeline

    pipeline.classify_rows = getattr(pipeline.classify_rows, "orig", pipeline.classify_rows)


def _count_exports() -> None:
    from landgui.core.scenes import remote

    orig = getattr(remote.export, "orig", remote.export)

    def counted(*a, **k):
        counted.n += 1
        return orig(*a, **k)

    counted.n, counted.orig = 0, orig
    remote.export = counted


def _exports() -> int:
    from landgui.core.scenes import remote

    return remote.export.n


def _landgui_tasks(dask_scheduler=None) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks if "landgui-block" in str(k)]


# -- tests --------------------------------------------------------------------------------------


def test_blocks_on_the_cluster_give_the_same_files_as_in_process(client, run_dir, scenes, ref_a, tmp_path):
    grid = S.make_grid(128, 96, 32, 16)
    assert (grid.rows, grid.cols) == (5, 7)
    assert plan_blocks(grid, 2, 4) == [(0, 2), (2, 4), (4, 5)]  # three tasks for this scene
    ref, ref_dir = ref_a
    client.run(_count_model_loads)
    results: dict = {}
    failed = map_on_cluster(
        client,
        run_dir,
        [str(scenes / "a.tif")],
        _exporter(run_dir, tmp_path, results),
        settings=SETTINGS,
        block_rows=2,
    )
    assert failed == 0
    res = results[0]
    assert res.engine == "litert" and res.run == ref.run and res.scene == ref.scene
    np.testing.assert_array_equal(res.probs, ref.probs)  # bit for bit: the same batches, the same model
    # the context step ran on the joined blocks: rows on a block's edge heard the next block's
    assert res.context == ref.context > 0 and res.stats == ref.stats
    np.testing.assert_array_equal(res.raw_probs, ref.raw_probs)
    _assert_same_files(ref_dir, tmp_path)
    loads = client.run(_model_loads)
    # once per worker process, not per task; and the count saw the loads (0 would pass the first test)
    assert all(n <= 1 for n in loads.values()) and 1 <= sum(loads.values()) <= len(loads), loads
    from landgui.core.scenes.cluster import worker_threads

    n = worker_threads(2)  # the cores shared out: LiteRT does not oversubscribe them
    for env, loaded in client.run(_worker_threads).values():
        assert env == str(n) and set(loaded) <= {n}


def test_a_killed_worker_has_its_task_run_again(client, run_dir, scenes, ref_a, tmp_path):
    ref, ref_dir = ref_a
    client.run(_slow_blocks, 2.0)
    results: dict = {}
    errors: list[BaseException] = []

    def job():
        try:
            map_on_cluster(
                client,
                run_dir,
                [str(scenes / "a.tif")],
                _exporter(run_dir, tmp_path, results, ("geotiff",)),
                settings=SETTINGS,
                block_rows=2,
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    t = threading.Thread(target=job)
    t.start()
    try:
        deadline = time.monotonic() + 30
        busy: list[str] = []
        while not busy and time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items() if any("landgui-block" in str(k) for k in keys)]
            time.sleep(0.1)
        assert busy, "no block started"
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        t.join(90)
        assert not t.is_alive() and not errors, errors
    finally:
        client.run(_undo_slow_blocks)
    np.testing.assert_array_equal(results[0].probs, ref.probs)
    assert (tmp_path / "a.classes.tif").read_bytes() == (ref_dir / "a.classes.tif").read_bytes()
    client.wait_for_workers(2, timeout=60)  # the nanny started a new worker process
    assert pid not in client.run(os.getpid).values()


def test_ctrl_c_cancels_the_clusters_tasks(client, run_dir, scenes, tmp_path):
    client.run(_slow_blocks, 2.0)

    def interrupt(stage, done, total):
        if stage == "mapping":
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            map_on_cluster(
                client,
                run_dir,
                [str(scenes / "a.tif")],
                _exporter(run_dir, tmp_path, {}),
                settings=SETTINGS,
                block_rows=1,
                progress=interrupt,
            )
        # cancelled tasks leave the scheduler once their worker lets go of them: wait on that state
        # (a loaded 2-core machine can take more than 10 s), not on a speed
        deadline = time.monotonic() + 90
        while client.run_on_scheduler(_landgui_tasks) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.run_on_scheduler(_landgui_tasks) == []
    finally:
        client.run(_undo_slow_blocks)


def _segment(run_dir, paths, out, *extra):
    args = ["segment", str(run_dir), *map(str, paths), "--out", str(out), "--patch", "32", "--stride", "16"]
    return main([*args, "--batch", "4", "--formats", "csv,geotiff", "--engine", "litert", "--quiet", *extra])


def test_cli_three_scenes_one_corrupt_on_the_cluster_and_in_process(client, run_dir, scenes, tmp_path, capfd):
    import rasterio

    with zipfile.ZipFile(tmp_path / "b.zip", "w") as z:  # b through a GDAL virtual path
        z.write(scenes / "b.tif", "b.tif")
    paths = [scenes / "a.tif", scenes / "bad.tif", f"/vsizip/{tmp_path / 'b.zip'}/b.tif"]
    address = client.scheduler.address
    assert _segment(run_dir, paths, tmp_path / "cl", "--cluster", address) == 1
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("landgui: error")]
    assert len(err) == 1 and "bad.tif" in err[0] and "cannot read" in err[0], err
    assert _segment(run_dir, paths, tmp_path / "ip") == 1
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("landgui: error")]
    assert len(err) == 1 and "bad.tif" in err[0], err

    for out in (tmp_path / "cl", tmp_path / "ip"):
        assert (out / "a.classes.tif").exists() and (out / "b.classes.tif").exists()
        assert not (out / "bad.summary.json").exists()
        rows = list(csv.DictReader((out / "summary.csv").open()))
        assert [r["name"] for r in rows] == ["a", "bad", "b"]
        assert rows[1]["error"] and not rows[0]["error"] and not rows[2]["error"]
        assert int(rows[0]["patches"]) == 35 and rows[0]["engine"] == "litert"
        assert sum(float(rows[0][k]) for k in ("cloudy", "desert", "green_area", "water", "uncertain")) == (
            pytest.approx(1.0, abs=1e-5)
        )
        cov = list(csv.DictReader((out / "coverage.csv").open()))
        assert sum(float(r["share"]) for r in cov) == pytest.approx(1.0, abs=1e-5)
        area = sum(float(r["area_km2"]) for r in cov)
        assert area == pytest.approx((96 * 128 * 100 + 64 * 48 * 400) / 1e6, rel=1e-6)  # all classified

        with rasterio.open(out / "mosaic.classes.vrt") as vrt:
            mosaic = vrt.read(1)
            assert vrt.crs.to_epsg() == 32633 and vrt.nodata == 255 and vrt.res == (10.0, 10.0)
            assert vrt.bounds.left == 500000 and vrt.bounds.right == 500000 + 1280 + 60 + 960
            assert vrt.colormap(1)[0][:3] == rasterio.open(out / "a.classes.tif").colormap(1)[0][:3]
        with rasterio.open(out / "a.classes.tif") as a, rasterio.open(out / "b.classes.tif") as b:
            np.testing.assert_array_equal(mosaic[:96, :128], a.read(1))
            bx, by = 128 + 6, 20  # b's corner in the mosaic's 10 m pixels
            assert b.res == (10.0, 10.0)  # b's 20 m pixels read at the shipped model's 10 m (issue 25)
            np.testing.assert_array_equal(mosaic[by : by + 128, bx : bx + 96], b.read(1))
            assert (mosaic[:96, 128:bx] == 255).all()  # the gap between them: nodata
    for name in ("a.classes.tif", "b.classes.tif", "a.patches.csv", "coverage.csv", "mosaic.classes.vrt"):
        assert (tmp_path / "cl" / name).read_bytes() == (tmp_path / "ip" / name).read_bytes(), name


def _same_outputs(ip: Path, cl: Path) -> None:
    """Every file of the in-process folder ``ip`` in ``cl`` with the same bytes, but for the time
    taken (the summaries' seconds) and the folder named in the summaries."""
    names = sorted(p.name for p in ip.iterdir())
    assert names == sorted(p.name for p in cl.iterdir())
    for name in names:
        one, two = ip / name, cl / name
        if name.endswith(".summary.json"):
            a, b = (json.loads(p.read_text()) for p in (one, two))
            for d in (a, b):
                del d["seconds"], d["patches_per_s"], d["files"]
            assert a == b, name
        elif name.startswith("."):  # landgui's own bookkeeping (the hashes of the files above)
            continue
        elif name == "summary.csv":
            a, b = (list(csv.DictReader(p.open())) for p in (one, two))
            for row in (*a, *b):
                del row["seconds"]
            assert a == b
        else:
            assert one.read_bytes() == two.read_bytes(), name


def test_workers_write_the_same_files_as_in_process_and_the_client_exports_none(
    client, run_dir, scenes, tmp_path, monkeypatch
):
    from landgui.core.scenes import remote

    paths = [scenes / "a.tif", scenes / "b.tif"]
    formats = ("--formats", "png,csv,geotiff,geojson")
    assert _segment(run_dir, paths, tmp_path / "ip", *formats) == 0

    def no_export(*a, **k):
        raise AssertionError("the client exported a scene")

    monkeypatch.setattr(remote, "export", no_export)  # on the client only: the workers are other processes
    client.run(_count_exports)
    assert _segment(run_dir, paths, tmp_path / "cl", *formats, "--cluster", client.scheduler.address) == 0
    assert sum(client.run(_exports).values()) == 2  # each scene exported once, by a worker
    assert (tmp_path / "cl" / "a.overlay.png").is_file() and (tmp_path / "cl" / "mosaic.classes.vrt").is_file()
    _same_outputs(tmp_path / "ip", tmp_path / "cl")


def _pause_publish(flag: str) -> None:
    """On a worker: the first export to publish moves its first file in, says so in ``flag`` (its
    pid) and waits there to be killed; every other export (the rerun too) goes through."""
    from landgui.core.base import outdir

    orig = getattr(outdir._move_in, "orig", outdir._move_in)

    def paused(staging, order):
        try:
            fh = open(flag, "x")  # noqa: SIM115 - create-exclusive: one export pauses, once
        except FileExistsError:
            return orig(staging, order)
        os.replace(staging / order[0], staging.parent / order[0])
        with fh:
            fh.write(str(os.getpid()))
        time.sleep(120)  # killed here
        return orig(staging, order)

    paused.orig = orig  # type: ignore[attr-defined]
    outdir._move_in = paused


def _undo_pause_publish() -> None:
    from landgui.core.base import outdir

    outdir._move_in = getattr(outdir._move_in, "orig", outdir._move_in)


def test_a_worker_killed_while_it_moves_its_outputs_in_leaves_no_believed_partial_set(
    client, run_dir, scenes, tmp_path
):
    """Issue 28: a worker SIGKILLed between the renames of its export: no summary lists a half
    set at that moment, the scene's task runs again on another worker, and the files end as the
    in-process ones."""
    paths = [scenes / "a.tif"]
    assert _segment(run_dir, paths, tmp_path / "ip") == 0
    out, flag = tmp_path / "cl", tmp_path / "paused"
    client.run(_pause_publish, str(flag))
    rcs: list[int] = []
    t = threading.Thread(
        target=lambda: rcs.append(_segment(run_dir, paths, out, "--cluster", client.scheduler.address))
    )
    t.start()
    try:
        deadline = time.monotonic() + 120
        while not (flag.is_file() and flag.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(flag.read_text())
        visible = {p.name for p in out.iterdir() if not p.name.startswith(".")}
        assert visible and "a.summary.json" not in visible, visible  # one file in, no summary yet
        os.kill(pid, signal.SIGKILL)
        t.join(180)
        assert not t.is_alive() and rcs == [0], rcs
    finally:
        client.run(_undo_pause_publish)
    _same_outputs(tmp_path / "ip", out)
    assert not [p for p in out.iterdir() if p.name.startswith(".landgui-staging")]
    client.wait_for_workers(2, timeout=60)


def _read(path: Path):
    import rasterio

    with rasterio.open(path) as ds:
        return ds.read(1), ds.transform, ds.crs, ds.colormap(1)


def test_a_scene_larger_than_a_task_is_written_in_tiles_that_make_the_in_process_map(client, run_dir, scenes, tmp_path):
    paths, address = [scenes / "a.tif", scenes / "b.tif"], client.scheduler.address
    assert _segment(run_dir, paths, tmp_path / "ip") == 0
    # --block-rows 2: a's 5 grid rows are 3 tasks, b's 7 are 4; context is on (a block's edge rows
    # hear the next block's patches) and patches overlap (stride 16 of 32): both cross tile edges
    assert _segment(run_dir, paths, tmp_path / "cl", "--cluster", address, "--block-rows", "2") == 0
    ip, cl = tmp_path / "ip", tmp_path / "cl"
    assert sorted(p.name for p in (cl / "a.tiles").iterdir()) == [f"a.000{k}.classes.tif" for k in range(3)]
    assert not (cl / "a.classes.tif").exists() and not (cl / "a.patches.csv").exists()  # no whole map anywhere
    for name in ("a", "b"):
        want, t, crs, colours = _read(ip / f"{name}.classes.tif")
        got, t2, crs2, colours2 = _read(cl / f"{name}.classes.vrt")
        np.testing.assert_array_equal(got, want)
        assert (t2, crs2) == (t, crs) and colours2[0] == colours[0] and colours2[254] == colours[254]
        one, two = (json.loads((d / f"{name}.summary.json").read_text()) for d in (ip, cl))
        assert two["coverage"] == pytest.approx(one["coverage"], abs=1e-12)
        assert two["context"] == one["context"] and two["grid"] == one["grid"] and two["tiles"] > 1
        assert two["not_written"] == ["csv"]
    np.testing.assert_array_equal(_read(cl / "mosaic.classes.vrt")[0], _read(ip / "mosaic.classes.vrt")[0])
    assert (cl / "coverage.csv").read_bytes() == (ip / "coverage.csv").read_bytes()

    # mapped again into the same folder: its own VRT is replaced; a VRT of the user's is not
    assert _segment(run_dir, paths[:1], cl, "--cluster", address, "--block-rows", "2") == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.classes.vrt").write_text("<VRTDataset/>  the user's")
    assert _segment(run_dir, paths[:1], mine, "--cluster", address, "--block-rows", "2") == 2
    assert (mine / "a.classes.vrt").read_text() == "<VRTDataset/>  the user's"
    assert _segment(run_dir, paths[:1], mine, "--cluster", address, "--block-rows", "2", "--overwrite") == 0
    np.testing.assert_array_equal(_read(mine / "a.classes.vrt")[0], _read(ip / "a.classes.tif")[0])

    # --cog-mosaic: one COG of the whole map too, written by a worker from the tiles
    assert (
        _segment(run_dir, paths[:1], tmp_path / "cog", "--cluster", address, "--block-rows", "2", "--cog-mosaic") == 0
    )
    import rasterio

    with rasterio.open(tmp_path / "cog" / "a.classes.tif") as cog:
        assert cog.profile["tiled"] and cog.nodata == 255 and cog.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        np.testing.assert_array_equal(cog.read(1), _read(ip / "a.classes.tif")[0])


def test_a_worker_that_cannot_read_the_scene_or_write_the_output_fails_one_line(
    client, run_dir, scenes, tmp_path, capfd
):
    out = tmp_path / "o"
    (out / "a.classes.tif").mkdir(parents=True)  # a folder where a's class map must go: a cannot be written
    gone = tmp_path / "gone.tif"  # a scene no worker can see
    paths = [scenes / "a.tif", gone, scenes / "b.tif"]
    address = client.scheduler.address
    assert _segment(run_dir, paths, out, "--cluster", address) == 1
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("landgui: error")]
    assert len(err) == 2 and all(" (on worker tcp://" in ln for ln in err), err
    assert any("gone.tif" in ln and "not found" in ln for ln in err), err
    assert any(str(out / "a.classes.tif") in ln for ln in err), err
    assert (out / "b.summary.json").is_file() and not (out / "a.summary.json").exists()
    rows = {r["name"]: r for r in csv.DictReader((out / "summary.csv").open())}
    assert rows["a"]["error"] and rows["gone"]["error"] and not rows["b"]["error"] and rows["b"]["patches"] == "35"

    # in tiles: a file where a's tile folder must go; b's tiles are written all the same
    out = tmp_path / "tiled"
    out.mkdir()
    (out / "a.tiles").write_text("the user's")
    assert _segment(run_dir, paths[::2], out, "--cluster", address, "--block-rows", "2") == 1
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.startswith("landgui: error")]
    assert len(err) == 1 and f"cannot write {out / 'a.tiles'}" in err[0] and " (on worker tcp://" in err[0], err
    assert (out / "a.tiles").read_text() == "the user's" and not (out / "a.summary.json").exists()
    assert (out / "b.summary.json").is_file() and len(list((out / "b.tiles").iterdir())) == 4


def test_cli_ctrl_c_on_the_cluster_exits_130_with_one_line(client, run_dir, scenes, tmp_path, capfd, monkeypatch):
    from landgui.core.scenes import remote

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(remote, "segment_on_cluster", interrupted)
    assert _segment(run_dir, [scenes / "a.tif"], tmp_path, "--cluster", client.scheduler.address) == 130
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("landgui: interrupted") and "cancelled" in err[0], err


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--cluster", "bogus"], "--cluster must be local:N or"),
        (["--cluster", "local:0"], "local:N needs a number"),
        (["--cluster", "local:2", "--adapt"], "--adapt does not run on a --cluster"),
        (["--block-rows", "2"], "--block-rows applies to --cluster only"),
        (["--cog-mosaic"], "--cog-mosaic applies to --cluster only"),
        (["--cluster-security", "x.yaml"], "--cluster-security applies to --cluster only"),
        (["--cluster", "local:2", "--block-rows", "0"], "--block-rows must be at least 1"),
    ],
)
def test_cli_cluster_argument_errors(run_dir, scenes, tmp_path, capfd, extra, words):
    assert _segment(run_dir, [scenes / "a.tif"], tmp_path / "o", *extra) == 2
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("landgui: error:") and words in err[0], err
    assert not (tmp_path / "o").exists()


def test_cli_without_the_cluster_extra_says_how_to_install_it(run_dir, scenes, tmp_path, capfd, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "distributed" else real(n, *a))
    assert _segment(run_dir, [scenes / "a.tif"], tmp_path / "o", "--cluster", "local:2") == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == ['landgui: error: --cluster needs the cluster extra: pip install "landgui[cluster]"']


# -- the network: handshakes and TLS (issue 23, items 18 and 21; issue 28) ------------------------
#
# A port that is not a Dask scheduler (an HTTP server that waits for a request, a server that
# answers garbage) is one line within the connect timeout, never a hang or a huge allocation; a
# tls:// scheduler whose certificates are made here (the openssl command) maps for a client with a
# certificate of its CA and refuses one without. Each case runs the CLI in this process, in a
# thread joined with a generous bound: a hang fails the test instead of stopping the suite.

TIMEOUT_S = 2  # the connect + handshake limit in these tests (CONNECT_TIMEOUT_S, patched)
NO_HANG_S = 120  # far above it: only a hang reaches it


@pytest.fixture(scope="module")
def png_scene(tmp_path_factory) -> Path:
    """A 64 x 96 px PNG of class-coloured 32 px blocks."""
    rng = np.random.default_rng(3)
    colours = list(CLASS_COLOURS.values())
    img = np.concatenate(
        [np.concatenate([textured_image(rng, colours[(r + c) % 4]) for c in range(3)], 1) for r in range(2)], 0
    )
    path = tmp_path_factory.mktemp("net-scene") / "s.png"
    write_image(path, img)
    return path


def _segment_no_hang(run_dir: Path, scene: Path, out: Path, *extra: str) -> int:
    """``landgui segment`` in this process, in a thread: its exit status, or a failure if it hangs."""
    args = ["segment", str(run_dir), str(scene), "--out", str(out), "--patch", "32", "--engine", "litert"]
    rc: list[int] = []
    t = threading.Thread(target=lambda: rc.append(main([*args, "--formats", "csv", "--quiet", *extra])), daemon=True)
    t.start()
    t.join(NO_HANG_S)
    assert not t.is_alive(), f"segment {' '.join(extra)} still running after {NO_HANG_S} s"
    return rc[0]


def _errors(capfd) -> list[str]:
    return [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]


class _Server:
    """A TCP server on 127.0.0.1 that answers every connection with ``reply(conn)``."""

    def __init__(self, reply) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.reply, self.conns = reply, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.reply, args=(conn,), daemon=True).start()

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def _http(conn: socket.socket) -> None:
    """An HTTP server: it waits for a request's blank line, which a Dask client never sends."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")


def _huge(conn: socket.socket) -> None:
    """A message size of 2**64 - 1 bytes (the 3 EiB allocation), then noise."""
    conn.sendall(b"\xff" * 8 + b"HTTP/1.1 200 OK\r\n\r\nhello")


def _bad_frames(conn: socket.socket) -> None:
    """A plausible size whose frames claim far more than it holds."""
    conn.sendall(struct.pack("Q", 64) + struct.pack("Q", 1) + struct.pack("Q", 1 << 60) + b"\0" * 48)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (_http, f"no Dask handshake from tcp://127.0.0.1:PORT within {TIMEOUT_S} s"),
        (_huge, "answered with something that is not a Dask handshake"),
        (_bad_frames, "answered with something that is not a Dask handshake"),
    ],
)
def test_a_port_that_is_not_a_dask_scheduler_is_one_line_not_a_hang(
    run_dir, png_scene, tmp_path, capfd, monkeypatch, reply, words
):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", TIMEOUT_S)
    server = _Server(reply)
    try:
        assert _segment_no_hang(run_dir, png_scene, tmp_path / "o", "--cluster", server.address) == 2
    finally:
        server.close()
    err = _errors(capfd)
    port = server.address.rsplit(":", 1)[1]
    assert len(err) == 1 and err[0].startswith("landgui: error: "), err
    assert words.replace("PORT", port) in err[0], err
    assert not (tmp_path / "o").exists()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _authority(d: Path, name: str) -> None:
    """``NAME-ca.pem`` and a certificate it signed for 127.0.0.1, ``NAME.pem`` / ``NAME.key``."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem", "-days", "2",
             "-subj", f"/CN={name} test CA", cwd=d)  # fmt: skip
    _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{name}-ca.pem", "-CAkey", f"{name}-ca.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext", cwd=d)  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """Two certificate authorities made here: ``good`` (the cluster's) and ``rogue``."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command to make test certificates with")
    d = tmp_path_factory.mktemp("certs")
    for name in ("good", "rogue"):
        _authority(d, name)
    return d


@pytest.fixture(scope="module")
def tls_cluster(certs, run_dir):
    """A LocalCluster of one worker process on tls:// that requires certificates of ``good``."""
    from distributed import Security

    from landgui.core.scenes.cluster import start_local_cluster

    node = {"cert": str(certs / "good.pem"), "key": str(certs / "good.key")}
    security = Security(
        tls_ca_file=str(certs / "good-ca.pem"),
        **{f"tls_{role}_{k}": v for role in ("scheduler", "worker", "client") for k, v in node.items()},
        require_encryption=True,
    )
    lc = start_local_cluster(1, protocol="tls://", security=security)
    yield lc
    lc.close()


def _security_file(d: Path, name: str, **keys: str) -> Path:
    path = d / f"{name}.yaml"
    path.write_text("".join(f"{k}: {v}\n" for k, v in keys.items()))
    return path


def test_tls_maps_with_the_clusters_certificate_and_refuses_others(
    tls_cluster, certs, run_dir, png_scene, tmp_path, capfd, monkeypatch
):
    address = tls_cluster.scheduler_address
    assert address.startswith("tls://")
    good = _security_file(
        certs, "good", tls_ca_file="good-ca.pem", tls_client_cert="good.pem", tls_client_key="good.key"
    )
    assert (
        _segment_no_hang(run_dir, png_scene, tmp_path / "ok", "--cluster", address, "--cluster-security", str(good))
        == 0
    )
    assert (tmp_path / "ok" / "s.patches.csv").is_file() and (tmp_path / "ok" / "s.summary.json").is_file()
    capfd.readouterr()

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", TIMEOUT_S)
    rogue = _security_file(
        certs, "rogue", tls_ca_file="rogue-ca.pem", tls_client_cert="rogue.pem", tls_client_key="rogue.key"
    )
    stranger = _security_file(  # trusts the scheduler; its own certificate is signed by another CA
        certs, "stranger", tls_ca_file="good-ca.pem", tls_client_cert="rogue.pem", tls_client_key="rogue.key"
    )
    for i, (security, words) in enumerate(
        [
            (rogue, f"the Dask scheduler at {address} is not trusted: its certificate is not signed by tls_ca_file"),
            (stranger, f"the Dask scheduler at {address} refused the TLS connection"),
        ]
    ):
        out = tmp_path / f"refused{i}"
        assert _segment_no_hang(run_dir, png_scene, out, "--cluster", address, "--cluster-security", str(security)) == 2
        err = _errors(capfd)
        assert len(err) == 1 and words in err[0], err
        assert not out.exists()
    # the scheduler itself refuses a TLS client without a certificate (Dask's client needs one anyway)
    bare = ssl.create_default_context(cafile=str(certs / "good-ca.pem"))
    bare.check_hostname = False
    with pytest.raises(LandguiError, match="refused the TLS connection"):
        cluster.probe(address, SimpleNamespace(get_connection_args=lambda role: {"ssl_context": bare}), TIMEOUT_S)

    # no certificates at all, and the right address with the wrong scheme
    assert _segment_no_hang(run_dir, png_scene, tmp_path / "none", "--cluster", address) == 2
    err = _errors(capfd)
    assert len(err) == 1 and f"{address} needs certificates: --cluster-security FILE" in err[0], err
    plain = address.replace("tls://", "tcp://")
    assert _segment_no_hang(run_dir, png_scene, tmp_path / "plain", "--cluster", plain) == 2
    err = _errors(capfd)
    assert len(err) == 1 and f"no Dask handshake from {plain}" in err[0] and "a tls:// one?" in err[0], err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tls_ca_file: missing.pem\n", "tls_ca_file"),
        ("password: hunter2\n", "must map some of tls_ca_file"),
        ("[1, 2\n", "cannot read it"),
    ],
)
def test_a_bad_cluster_security_file_is_one_line(run_dir, png_scene, tmp_path, capfd, text, words):
    path = tmp_path / "security.yaml"
    path.write_text(text)
    args = ("--cluster", "tls://127.0.0.1:9", "--cluster-security", str(path))
    assert _segment_no_hang(run_dir, png_scene, tmp_path / "o", *args) == 2
    err = _errors(capfd)
    assert len(err) == 1 and err[0].startswith(f"landgui: error: --cluster-security {path}") and words in err[0], err
