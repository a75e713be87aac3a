"""Was the map's run taught on the scene being assessed? Its accuracy there is then not independent.

Teach-your-scene (:mod:`landgui.core.training.corrections`, :mod:`landgui.core.training.finetune`)
saves corrections as patches of a scene in a folder with an index ``corrections.json`` (one entry
per patch: its ``file``, ``class``, the resolved ``scene`` path and the ``time`` it was saved), and
a fine-tuned run's ``config.json`` names those folders under ``finetune.corrections``, its
``parent`` run and when it was ``created``. A map's ``NAME.summary.json`` names its ``run`` and
``scene``. From these, :func:`taught_on` counts the corrections from the map's scene that the run,
or a run it descends from, was fine-tuned on (entries saved after a run was made are not counted
for it), and :func:`taught_notes` says so in the assessment.

Assessment labels themselves are never training data: they live in the sample file's ``reference``
column (:mod:`.samplefile`), never in a corrections folder, and fine-tuning reads only class
folders of images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from landgui.core.assessment.mapfile import MapData
from landgui.core.runs.folder import RunFolder

# the index teach-your-scene writes in a corrections folder (landgui.core.training.corrections,
# a layer beside this one, so the name is repeated here rather than imported)
CORRECTIONS_INDEX = "corrections.json"
MAX_ANCESTORS = 50  # a run's parent chain is followed this far at most (a loop ends it earlier)


@dataclass
class Taught:
    """The corrections from one scene that a run (or one of its ancestors) was fine-tuned on."""

    scene: str  # the scene as the map's summary names it
    run: str  # the run that made the map
    corrections: int = 0  # distinct corrections from the scene behind the run
    runs: list[str] = field(default_factory=list)  # names of the runs fine-tuned on them, newest first
    folders: list[str] = field(default_factory=list)  # the corrections folders they came from


def _json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or damaged."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _when(text: Any) -> datetime | None:
    """A time as landgui writes it (``%Y-%m-%dT%H:%M:%S%z``), or None."""
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def same_scene(entry_scene: str, scene: str) -> bool:
    """Whether a correction's scene is the mapped scene: the same resolved path, or (when either
    file is no longer where it was: moved) the same file name."""
    a, b = Path(entry_scene), Path(scene)
    if a.resolve() == b.resolve():
        return True
    return a.name == b.name and not (a.exists() and b.exists())


def taught_on(run_dir: str | Path, scene: str | Path) -> Taught:
    """The corrections from ``scene`` that the run ``run_dir`` or any run it descends from was
    fine-tuned on (see the module doc). ``Taught.corrections`` is 0 for a run never taught on it."""
    out = Taught(str(scene), str(run_dir))
    seen_runs: set[Path] = set()
    seen: set[tuple[str, str]] = set()  # (folder, file) of each correction counted
    run: Path | None = Path(run_dir) if str(run_dir) else None
    while run is not None and len(seen_runs) < MAX_ANCESTORS:
        key = run.resolve()
        if key in seen_runs:
            break
        seen_runs.add(key)
        config = RunFolder(run).config() or {}
        created = _when(config.get("created"))
        used = False
        for folder in (config.get("finetune") or {}).get("corrections", []):
            index = _json(Path(folder) / CORRECTIONS_INDEX)
            entries = index.get("corrections", []) if isinstance(index, dict) else []
            for e in entries:
                if not isinstance(e, dict) or not same_scene(str(e.get("scene", "")), str(scene)):
                    continue
                when = _when(e.get("time"))
                if created is not None and when is not None and when > created:
                    continue  # saved after this run was made: not what it learned from
                seen.add((str(Path(folder).resolve()), str(e.get("file", ""))))
                used = True
                if str(folder) not in out.folders:
                    out.folders.append(str(folder))
        if used:
            out.runs.append(run.name)
        parent = config.get("parent")
        run = Path(parent) if parent else None
    out.corrections = len(seen)
    return out


def taught_notes(mapdata: MapData) -> list[str]:
    """One line per scene of the map whose run was fine-tuned on corrections from that scene."""
    notes = []
    for s in mapdata.scenes:
        summary = _json(s.summary_path)
        if not isinstance(summary, dict) or not summary.get("run") or not s.scene:
            continue
        t = taught_on(summary["run"], s.scene)
        if t.corrections:
            notes.append(taught_line(s.name, t))
    return notes


def taught_line(name: str, t: Taught) -> str:
    """The line of :func:`taught_notes` for the scene called ``name``."""
    return (
        f"the run {Path(t.run).name} was fine-tuned on {t.corrections} correction(s) from the scene {name} "
        f"({', '.join(t.runs)}): its accuracy there is not independent of that teaching (likely optimistic "
        "near the corrected patches); assess a scene it was not taught on for an independent figure"
    )
