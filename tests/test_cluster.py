"""Mapping on a Dask cluster: the same bytes as in-process, a killed worker's task run again, a
corrupt scene reported while the others finish, Ctrl+C cancels, and the many-scene summary and
VRT mosaic (in-process and on the cluster alike).

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
import sys
import threading
import time
import zipfile
from pathlib import Path

import distributed  # noqa: F401 - a [test] dependency
import numpy as np
import pytest
from synth import CLASS_COLOURS, textured_image

from landgui.cli import main
from landgui.core import scenes as S
from landgui.core.inference import engine as E
from landgui.core.scenes.blocks import MapSettings, map_on_cluster, plan_blocks

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
    scene = S.open_scene(scenes / "a.tif")
    try:
        res = S.classify_scene(
            pred, pred.labels, pred.image_size, scene, patch=32, stride=16, batch=4, uncertain_below=0.7
        )
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
    return main([*args, "--batch", "4", "--formats", "csv,geotiff", "--quiet", *extra])


def test_cli_three_scenes_one_corrupt_on_the_cluster_and_in_process(client, run_dir, scenes, tmp_path, capfd):
    import rasterio

    with zipfile.ZipFile(tmp_path / "b.zip", "w") as z:  # b through a GDAL virtual path
        z.write(scenes / "b.tif", "b.tif")
    paths = [scenes / "a.tif", scenes / "bad.tif", f"/vsizip/{tmp_path / 'b.zip'}/b.tif"]
    address = client.scheduler.address
    assert _segment(run_dir, paths, tmp_path / "cl", "--cluster", address, "--block-rows", "2") == 1
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
            big_b = np.repeat(np.repeat(b.read(1), 2, axis=0), 2, axis=1)
            np.testing.assert_array_equal(mosaic[by : by + 128, bx : bx + 96], big_b)
            assert (mosaic[:96, 128:bx] == 255).all()  # the gap between them: nodata
    for name in ("a.classes.tif", "b.classes.tif", "a.patches.csv", "coverage.csv", "mosaic.classes.vrt"):
        assert (tmp_path / "cl" / name).read_bytes() == (tmp_path / "ip" / name).read_bytes(), name


def test_cli_ctrl_c_on_the_cluster_exits_130_with_one_line(client, run_dir, scenes, tmp_path, capfd, monkeypatch):
    from landgui.core.scenes import blocks

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(blocks, "map_on_cluster", interrupted)
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
