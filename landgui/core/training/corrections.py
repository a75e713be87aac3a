"""Corrections a user gives on a classified scene: patch labels with undo/redo, saved as a
class-folder dataset that ``landgui finetune`` (and the Scene tab) trains on.

Saved layout (never next to the scene, never overwriting a file)::

    CORRECTIONS/<class>/<scene stem>_r<row>_c<col>.png     the patch at the scene's native pixels
    CORRECTIONS/corrections.json                            one entry per saved patch

``CORRECTIONS`` is ``RUN/corrections`` for a run the user owns, or
``<user runs folder>/<run name>-corrections`` for the read-only shipped model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.base.atomic import atomic_path, write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.runs.folder import is_shipped, user_runs_dir

Cell = tuple[int, int]


def corrections_dir(run_dir: str | Path) -> Path:
    """Where the corrections made with this run's map are kept."""
    import os

    run = Path(run_dir)
    if is_shipped(run) or not os.access(run, os.W_OK):
        return user_runs_dir() / f"{run.name}-corrections"
    return run / "corrections"


class Corrections:
    """Patch -> class index assignments on one classified scene, with undo and redo."""

    def __init__(self, scene: str, labels: list[str], patch: int, stride: int, rows: int, cols: int) -> None:
        self.scene, self.labels = scene, list(labels)
        self.patch, self.stride, self.rows, self.cols = patch, stride, rows, cols
        self.assigned: dict[Cell, int] = {}
        self._undo: list[dict[Cell, int | None]] = []
        self._redo: list[dict[Cell, int | None]] = []
        self.saved: set[tuple[Cell, int]] = set()

    @classmethod
    def for_result(cls, result: Any) -> Corrections:
        """No corrections yet on a classified scene (a ``SceneResult``: its scene, labels and grid)."""
        g = result.grid
        return cls(result.scene, result.labels, g.patch, g.stride, g.rows, g.cols)

    def _apply(self, change: dict[Cell, int | None]) -> dict[Cell, int | None]:
        before: dict[Cell, int | None] = {}
        for cell, k in change.items():
            before[cell] = self.assigned.get(cell)
            if k is None:
                self.assigned.pop(cell, None)
            else:
                self.assigned[cell] = k
        return before

    def assign(self, cells: Iterable[Cell], k: int | None) -> None:
        """Give ``cells`` class index ``k`` (None: take their correction back); one undo step."""
        if k is not None and not 0 <= k < len(self.labels):
            raise LandguiError(f"class {k + 1} does not exist: the model has {len(self.labels)} classes")
        change = {(int(r), int(c)): k for r, c in cells if 0 <= r < self.rows and 0 <= c < self.cols}
        change = {cell: v for cell, v in change.items() if self.assigned.get(cell) != v}
        if change:
            self._undo.append(self._apply(change))
            self._redo.clear()

    def undo(self) -> bool:
        """Take back the last assignment; False when there is none."""
        if not self._undo:
            return False
        self._redo.append(self._apply(self._undo.pop()))
        return True

    def redo(self) -> bool:
        """Assign again what was last undone; False when there is nothing to redo."""
        if not self._redo:
            return False
        self._undo.append(self._apply(self._redo.pop()))
        return True

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` would change anything."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` would change anything."""
        return bool(self._redo)

    def counts(self) -> dict[str, int]:
        """Corrected patches per class name (classes without any left out)."""
        return {lab: n for k, lab in enumerate(self.labels) if (n := sum(v == k for v in self.assigned.values()))}

    def unsaved(self) -> int:
        """How many assignments :meth:`save` has not written yet."""
        return sum((cell, k) not in self.saved for cell, k in self.assigned.items())

    def save(self, scene: Any, dest: str | Path) -> list[Path]:
        """Write every assigned patch not saved yet (scene pixels, mirror-padded at the edges as
        the map was made) and append it to ``corrections.json``. Returns the new files."""
        import cv2

        dest = Path(dest)
        index_path = dest / "corrections.json"
        try:
            index = json.loads(index_path.read_text()) if index_path.exists() else {"corrections": []}
        except (OSError, ValueError):
            raise LandguiError(f"{index_path} is damaged; move it away to start a new corrections folder") from None
        stem = Path(self.scene).stem
        written: list[Path] = []
        for (r, c), k in sorted(self.assigned.items()):
            if ((r, c), k) in self.saved:
                continue
            x, y = c * self.stride, r * self.stride
            rgb, _ = scene.read(x, y, self.patch, self.patch)
            ph, pw = self.patch - rgb.shape[0], self.patch - rgb.shape[1]
            if ph > 0 or pw > 0:
                rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
            folder = dest / self.labels[k]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{stem}_r{r}_c{c}.png"
            n = 2
            while path.exists():  # never overwrite: a second label of one patch is another file
                path = folder / f"{stem}_r{r}_c{c}_{n}.png"
                n += 1
            ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
            if not ok:
                raise LandguiError(f"cannot encode the patch at row {r}, col {c}")
            with atomic_path(path) as tmp:
                tmp.write_bytes(buf.tobytes())
            entry: dict[str, Any] = {
                "file": str(path.relative_to(dest)),
                "class": self.labels[k],
                "scene": str(Path(self.scene).resolve()),
                "row": r,
                "col": c,
                "x": x,
                "y": y,
                "patch": self.patch,
                "stride": self.stride,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            if getattr(scene, "crs", None) is not None:
                entry["crs"] = str(scene.crs)
                entry["transform"] = list(scene.transform)[:6]
            index["corrections"].append(entry)
            written.append(path)
            self.saved.add(((r, c), k))
        if written:
            write_json_atomic(index_path, index)
        return written


def uncertain_order(result: Any) -> list[Cell]:
    """Classified patches from the smallest margin between the top two classes up: where a
    label teaches the model most (active learning)."""
    probs = result.probs
    top2 = np.sort(probs, axis=-1)[..., -2:]
    margin = top2[..., 1] - top2[..., 0] if probs.shape[-1] > 1 else top2[..., 0]
    ok = result.classes >= 0
    rr, cc = np.nonzero(ok)
    order = np.argsort(margin[rr, cc], kind="stable")
    return [(int(rr[i]), int(cc[i])) for i in order]
