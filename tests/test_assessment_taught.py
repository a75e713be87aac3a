"""A map's run taught on the assessed scene says so (issue 24, :mod:`landgui.core.assessment.provenance`).

Run folders and corrections folders are written here by hand in the layout that
``landgui.core.training.finetune`` and ``corrections`` write (config.json ``finetune.corrections``,
``parent``, ``created``; corrections.json entries with ``scene``, ``file``, ``time``), so the
counts are known to the test."""

import json

import numpy as np
import pytest
from synth import write_image

from landgui.core.assessment import api
from landgui.core.assessment.provenance import taught_on
from landgui.core.scenes.grid import make_grid
from landgui.core.scenes.io import open_scene
from landgui.core.scenes.pipeline import assemble_result
from landgui.core.scenes.writers import export

LABELS = ["water", "forest", "desert"]


def _run(path, created, corrections=(), parent=None):
    path.mkdir(parents=True)
    cfg = {"created": created}
    if corrections:
        cfg["finetune"] = {"corrections": [str(c) for c in corrections]}
    if parent:
        cfg["parent"] = str(parent)
    (path / "config.json").write_text(json.dumps(cfg))
    return path


def _corrections(folder, entries):
    folder.mkdir(parents=True)
    rows = [
        {"file": f"water/{i}.png", "class": "water", "scene": str(s), "time": t} for i, (s, t) in enumerate(entries)
    ]
    (folder / "corrections.json").write_text(json.dumps({"corrections": rows}))
    return folder


@pytest.fixture
def scenes(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    for p in (a, b):
        write_image(p, np.full((64, 96, 3), 90, np.uint8))
    return a, b


def test_counts_only_the_scene_and_what_the_run_could_have_learned(tmp_path, scenes):
    a, b = scenes
    corr = _corrections(
        tmp_path / "corr",
        [
            (a, "2024-01-01T10:00:00+0000"),
            (a, "2024-01-01T11:00:00+0000"),
            (b, "2024-01-01T11:00:00+0000"),  # another scene
            (a, "2024-03-01T00:00:00+0000"),  # saved after the run was made
        ],
    )
    run = _run(tmp_path / "taught", "2024-02-01T00:00:00+0000", [corr])
    t = taught_on(run, a)
    assert t.corrections == 2 and t.runs == ["taught"] and t.folders == [str(corr)]
    assert taught_on(run, b).corrections == 1
    assert taught_on(_run(tmp_path / "plain", "2024-02-01T00:00:00+0000"), a).corrections == 0
    assert taught_on(tmp_path / "no-such-run", a).corrections == 0


def test_an_ancestor_taught_on_the_scene_counts_once_and_loops_end(tmp_path, scenes):
    a, _ = scenes
    corr = _corrections(tmp_path / "corr", [(a, "2024-01-01T10:00:00+0000")])
    parent = _run(tmp_path / "p", "2024-02-01T00:00:00+0000", [corr])
    child = _run(tmp_path / "c", "2024-03-01T00:00:00+0000", [corr], parent=parent)  # a second round keeps the first's
    grandchild = _run(tmp_path / "g", "2024-04-01T00:00:00+0000", parent=child)  # not taught itself
    t = taught_on(grandchild, a)
    assert t.corrections == 1 and t.runs == ["c", "p"]
    cfg = json.loads((parent / "config.json").read_text())
    cfg["parent"] = str(grandchild)  # a damaged chain that loops
    (parent / "config.json").write_text(json.dumps(cfg))
    assert taught_on(grandchild, a).corrections == 1


def test_the_assessment_of_a_taught_scene_says_so(tmp_path, scenes):
    a, b = scenes
    corr = _corrections(tmp_path / "corr", [(a.resolve(), "2024-01-01T10:00:00+0000")])
    run = _run(tmp_path / "taught", "2024-02-01T00:00:00+0000", [corr])
    notes = {}
    for scene in (a, b):
        g = make_grid(96, 64, 16, 16)
        classes = np.arange(g.n) % 3
        probs = np.full((g.n, 3), 0.05, np.float32)
        probs[np.arange(g.n), classes] = 0.9
        res = assemble_result(str(scene), LABELS, g, probs, np.ones(g.n, bool), 1.0, run=str(run), context=0.0)
        sc = open_scene(scene)
        export(
            res,
            sc,
            tmp_path / "maps",
            scene.stem,
            {"water": "#0000FF", "forest": "#00FF00", "desert": "#FFFF00"},
            ("png",),
        )
        sc.close()
        summary = tmp_path / "maps" / f"{scene.stem}.summary.json"
        sample = tmp_path / f"{scene.stem}.csv"
        api.sample(summary, sample, n=12, min_per_class=4, seed=0)
        rows = sample.read_text().splitlines()
        sample.write_text(
            "\n".join([rows[0], *(r + r.split(",")[6] for r in rows[1:])]) + "\n"
        )  # map class = reference
        notes[scene.stem] = api.estimate(summary, sample)["notes"]
    assert [n for n in notes["a"] if "fine-tuned on 1 correction(s) from the scene a" in n]
    assert not [n for n in notes["b"] if "fine-tuned" in n]
