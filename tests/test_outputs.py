"""Outputs that never clobber (issue 23, items 2 and 3; issue 28, section 3).

* A file at an output's name that landgui did not write (no earlier summary lists it with these
  bytes) is refused in one line naming it, in the CLI, the API and the app's export (all through
  ``scenes.writers.export``), unless ``--overwrite``.
* Two landgui processes writing one ``--out`` at once (``segment``, ``split``): both complete or
  one refuses, and every file belongs to the job whose summary lists it. The two processes are
  stepped through their renames by the test (``killpoints.py --step``): one is held just before
  its summary takes its name, the other is let through all of its writing meanwhile, so without a
  lock their writes interleave on any machine, at any speed.
* The folder's lock: a live writer's refuses, a dead writer's is taken over; staging folders
  without landgui's marker are never touched.

Scenes are tiny synthetic images mapped with the shipped run through LiteRT (no TensorFlow start).
"""

import json
import os
import re
import selectors
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth import make_dataset

from landgui import api
from landgui.cli import main
from landgui.core.base.errors import LandguiError
from landgui.core.params import MapSettings

KILLPOINTS = Path(__file__).with_name("killpoints.py")
BUSY = "is being written by another landgui process (pid"


def _scene(path: Path, bgr: tuple[int, int, int], size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sum(bgr))
    img = np.clip(np.array(bgr, float) + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), img)
    return path


def _segment(*argv: str) -> int:
    return main(["segment", "default", *argv, "--quiet"])


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("landgui: error:"), err[-2000:]
    return lines[0]


# -- item 2: never replace a file landgui did not write ------------------------------------------


def test_segment_refuses_to_replace_the_users_files_unless_overwrite(tmp_path, capfd):
    usr = tmp_path / "usr"
    scene = _scene(usr / "s.png", (40, 120, 60))
    (usr / "s.patches.csv").write_text("my own table\n")
    (usr / "s.overlay.png").write_bytes(b"my own picture")
    assert _segment(str(scene), "--out", str(usr)) == 2
    line = _one_line(capfd.readouterr().err)
    assert "s.overlay.png was not written by landgui" in line or "s.patches.csv was not written by landgui" in line
    assert "--overwrite" in line
    assert (usr / "s.patches.csv").read_text() == "my own table\n"
    assert (usr / "s.overlay.png").read_bytes() == b"my own picture"
    assert sorted(p.name for p in usr.iterdir()) == ["s.overlay.png", "s.patches.csv", "s.png"], "nothing left"

    assert _segment(str(scene), "--out", str(usr), "--overwrite") == 0
    assert (usr / "s.patches.csv").read_text().startswith("row,col")
    summary = json.loads((usr / "s.summary.json").read_text())
    assert Path(summary["files"]["patches_csv"]).name == "s.patches.csv"


def test_landguis_own_files_are_replaced_until_the_user_changes_one(tmp_path, capfd):
    scene = _scene(tmp_path / "s.png", (200, 180, 120))
    out = tmp_path / "maps"
    assert _segment(str(scene), "--out", str(out), "--formats", "png,csv") == 0
    assert _segment(str(scene), "--out", str(out), "--formats", "csv") == 0  # its own files: replaced
    assert _segment(str(scene), "--out", str(out), "--formats", "png,csv") == 0  # the PNGs kept as earlier files
    (out / "s.classes.png").write_bytes(b"edited by hand")
    capfd.readouterr()
    assert _segment(str(scene), "--out", str(out), "--formats", "png") == 2
    assert "s.classes.png was changed since landgui wrote it" in _one_line(capfd.readouterr().err)
    assert (out / "s.classes.png").read_bytes() == b"edited by hand"


def test_the_api_and_the_apps_export_keep_the_same_rule(tmp_path):
    """api.export and services.export_map (the Scene tab's Export) go through writers.export."""
    from landgui.core import services

    scene = _scene(tmp_path / "s.png", (90, 90, 200))
    result = services.map_scene("default", scene, MapSettings())
    out = tmp_path / "usr"
    out.mkdir()
    (out / "s.patches.csv").write_text("mine\n")
    with pytest.raises(LandguiError, match="s.patches.csv was not written by landgui"):
        api.export(result, out, formats="csv")
    with pytest.raises(LandguiError, match="s.patches.csv was not written by landgui"):
        services.export_map(result, out, palette={}, formats=("csv",))
    assert (out / "s.patches.csv").read_text() == "mine\n"
    files = services.export_map(result, out, palette={}, formats=("csv",), overwrite=True)
    assert Path(files["patches_csv"]).read_text().startswith("row,col")


def test_the_many_scene_files_are_not_replaced_over_the_users(tmp_path, capfd):
    out = tmp_path / "usr"
    a, b = _scene(tmp_path / "a.png", (40, 120, 60)), _scene(tmp_path / "b.png", (200, 180, 120))
    out.mkdir()
    (out / "summary.csv").write_text("my own summary\n")
    assert _segment(str(a), str(b), "--out", str(out), "--formats", "csv") == 2
    assert "summary.csv was not written by landgui" in capfd.readouterr().err
    assert (out / "summary.csv").read_text() == "my own summary\n"
    (out / "summary.csv").unlink()
    assert _segment(str(a), str(b), "--out", str(out), "--formats", "csv") == 0
    assert _segment(str(a), str(b), "--out", str(out), "--formats", "csv") == 0  # its own: replaced
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].startswith(str(a))


# -- the folder's lock and landgui's staging folders ---------------------------------------------


def test_a_live_writers_lock_refuses_and_a_dead_writers_is_taken_over(tmp_path):
    from landgui.core.base.outdir import LOCK_NAME, folder_lock

    out = tmp_path / "out"
    out.mkdir()
    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid no longer exists
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        (out / LOCK_NAME).write_text(json.dumps({"pid": live.pid, "host": host, "token": "x"}))
        busy = re.escape(f"{out} is being written by another landgui process (pid {live.pid})")
        with pytest.raises(LandguiError, match=busy):
            with folder_lock(out):
                pass
        (out / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": host, "token": "y"}))
        with folder_lock(out):
            assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
            with folder_lock(out):  # re-entrant within a process (a command, then each export)
                pass
            assert (out / LOCK_NAME).exists()
        assert not (out / LOCK_NAME).exists(), "released"
    finally:
        live.communicate(b"")


def test_staging_folders_are_cleared_only_when_they_are_landguis_and_their_writer_is_gone(tmp_path):
    from landgui.core.base.outdir import STAGING_MARKER, STAGING_PREFIX, clear_stale_staging

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    users = out / f"{STAGING_PREFIX}mine-{dead.pid}"  # the name, but no marker: not landgui's
    users.mkdir(parents=True)
    (users / "keep.txt").write_text("keep")
    uncommitted = out / f"{STAGING_PREFIX}s-{dead.pid}0"
    uncommitted.mkdir()
    (uncommitted / STAGING_MARKER).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    (uncommitted / "s.patches.csv").write_text("half")
    live = out / f"{STAGING_PREFIX}t-{os.getpid()}"
    live.mkdir()
    (live / STAGING_MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    committed = out / f"{STAGING_PREFIX}u-{dead.pid}1"
    committed.mkdir()
    (committed / "u.patches.csv").write_text("whole")
    (committed / "u.summary.json").write_text("{}")
    (committed / STAGING_MARKER).write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname(), "publish": ["u.patches.csv", "u.summary.json"]})
    )
    clear_stale_staging(out)
    assert (users / "keep.txt").read_text() == "keep", "a folder without landgui's marker is never touched"
    assert live.is_dir(), "a live writer's staging folder is left alone"
    assert not uncommitted.exists(), "a dead writer's unfinished files are removed"
    assert not committed.exists() and (out / "u.patches.csv").read_text() == "whole", "a committed set is moved in"
    assert (out / "u.summary.json").exists()


# -- item 3: two processes writing one --out at once ---------------------------------------------


def _race(argvs: list[list[str]], out: Path, marker: str, logs: Path) -> list[tuple[int, str]]:
    """Run the CLI ``argvs`` at once, each stopped at every rename into ``out``
    (``killpoints.py --step``), in this order: the first to rename anything (the leader) goes on
    until it is about to rename ``marker`` (its summary) and waits there until every other has
    exited; the others wait at their first rename until the leader waits at its marker (or has
    exited), then go through. Without a lock the others' files land between the leader's and its
    summary; with one, only one writer is ever past the lock. Returns (exit code, stderr) each."""
    sel = selectors.DefaultSelector()
    procs = []
    for i, argv in enumerate(argvs):
        report_r, report_w = os.pipe()
        go_r, go_w = os.pipe()
        err = open(logs / f"stderr{i}", "w+")  # noqa: SIM115 - read back below
        p = subprocess.Popen(
            [sys.executable, str(KILLPOINTS), "--step", str(report_w), str(go_r), str(out), json.dumps(argv)],
            pass_fds=(report_w, go_r),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        os.close(report_w)
        os.close(go_r)
        proc = {"p": p, "go": go_w, "err": err, "buf": b"", "at": None, "done": False}
        sel.register(report_r, selectors.EVENT_READ, proc)
        procs.append(proc)
    leader = None
    while not all(q["done"] for q in procs):
        ready = sel.select(timeout=300)
        assert ready, "no process moved for 300 s"
        for key, _ in ready:
            q = key.data
            data = os.read(key.fd, 4096)
            if not data:
                q["done"] = True
                sel.unregister(key.fd)
                os.close(key.fd)
                continue
            q["buf"] += data
            *lines, q["buf"] = q["buf"].split(b"\n")
            for line in lines:
                q["at"] = line.decode()
                leader = leader or q
        others_done = all(q["done"] for q in procs if q is not leader)
        leader_waits = leader is not None and (leader["done"] or leader["at"] == marker)
        for q in procs:
            if q["at"] is None or q["done"]:
                continue
            go = (q["at"] != marker or others_done) if q is leader else leader_waits
            if go:
                q["at"] = None
                os.write(q["go"], b"g")
    results = []
    for q in procs:
        q["p"].wait(timeout=300)
        os.close(q["go"])
        q["err"].seek(0)
        results.append((q["p"].returncode, q["err"].read()))
        q["err"].close()
    return results


def test_two_segments_into_one_out_at_once_never_mix_their_maps(tmp_path):
    """Issue 23, item 3: two scenes with one stem (a/s.png, b/s.png) mapped into one --out at the
    same time. Each file is compared with the same job's files written alone (not with hashes the
    code recorded): every summary's files are its own scene's."""
    scenes = {
        "a": _scene(tmp_path / "a" / "s.png", (40, 120, 60)),
        "b": _scene(tmp_path / "b" / "s.png", (200, 180, 120)),
    }
    ref = {}
    for job, scene in scenes.items():
        assert _segment(str(scene), "--out", str(tmp_path / f"ref-{job}"), "--formats", "csv") == 0
        ref[job] = (tmp_path / f"ref-{job}" / "s.patches.csv").read_bytes()
    assert ref["a"] != ref["b"], "the two scenes' maps differ"
    out = tmp_path / "out"
    argvs = [["segment", "default", str(s), "--out", str(out), "--formats", "csv", "--quiet"] for s in scenes.values()]
    results = _race(argvs, out, "s.summary.json", tmp_path)

    codes = [code for code, _ in results]
    assert 0 in codes and set(codes) <= {0, 2}, results
    for code, err in results:
        if code == 2:
            assert BUSY in _one_line(err), err
    listed = set()
    for summary in out.glob("*.summary.json"):
        s = json.loads(summary.read_text())
        job = "a" if s["scene"] == str(scenes["a"]) else "b"
        assert s["scene"] == str(scenes[job])
        csv = Path(s["files"]["patches_csv"])
        assert csv.read_bytes() == ref[job], f"{csv.name} is not the map of {s['scene']}, whose summary lists it"
        listed |= {summary.name, csv.name}
    visible = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert visible == listed, f"files no summary lists: {visible - listed}"
    assert len(listed) == 2 * codes.count(0), "every job that succeeded has its own summary"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")], "no lock or staging left"


def test_two_splits_into_one_out_at_once_never_both_claim_it(tmp_path):
    """Issue 23, item 3: both said "wrote split.json" and one remained. Now one refuses, and the
    split.json there is the other's (its seed's split, as a split made alone with that seed)."""
    from landgui.core.data.scan import scan_dataset
    from landgui.core.data.split import SplitParams, write_split

    ds = make_dataset(tmp_path / "ds", per_class=8, classes=("desert", "water"))
    alone = {seed: write_split(scan_dataset(ds), tmp_path / f"ref{seed}", SplitParams(seed=seed)) for seed in (1, 2)}
    assert alone[1]["splits"] != alone[2]["splits"]
    out = tmp_path / "out"
    argvs = [["split", str(ds), "--out", str(out), "--seed", str(seed), "--quiet"] for seed in (1, 2)]
    results = _race(argvs, out, "split.json", tmp_path)

    codes = [code for code, _ in results]
    assert sorted(codes) == [0, 2], results
    _, err = results[codes.index(2)]
    line = _one_line(err)
    assert BUSY in line or "already exists" in line, line
    written = json.loads((out / "split.json").read_text())
    winner = (1, 2)[codes.index(0)]
    assert written["params"]["seed"] == winner and written["splits"] == alone[winner]["splits"]
    assert sorted(p.name for p in out.iterdir()) == ["split.json"], "no lock or partial file left"
