"""What the staged export costs (issue 28, section 3; issue 23, items 2 and 3).

An export now writes into a hidden staging folder, hashes every file for its summary, flushes the
files to disk and moves them in, under the folder's lock. This times one scene's export with all
formats, the new code against a baseline checkout of landgui (the code before the change), in
the same run, alternating, each export into a folder that already holds the previous export (the
case that checks what it replaces).

    python bench/bench_export_staging.py --baseline /tmp/oldlg --size 4096 --repeats 5

``--baseline DIR`` is a folder holding the old ``landgui`` package (e.g. ``git archive HEAD~N
landgui | tar -x -C DIR``). Prints the median seconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
from pathlib import Path
from landgui.core import services
from landgui.core.params import MapSettings
from landgui.core.runs.palette import run_palette
from landgui.core.scenes.io import open_scene
from landgui.core.scenes.writers import export
result = services.map_scene("default", sys.argv[1], MapSettings(patch=64))  # each code maps it itself
out = Path(sys.argv[2])
scene = open_scene(result.scene)
times = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    export(result, scene, out, "s", run_palette("default", result.labels), None)
    times.append(time.perf_counter() - t)
print(json.dumps(times))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", required=True, help="folder holding the old landgui package")
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from synth import write_geotiff

    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    rng = np.random.default_rng(0)
    write_geotiff(tmp / "s.tif", rng.integers(0, 255, (a.size, a.size, 3)).astype(np.uint8))
    times: dict[str, list[float]] = {"baseline": [], "staged": []}
    for _ in range(a.repeats):
        for label, path in (("baseline", a.baseline), ("staged", None)):
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            if path:
                env["PYTHONPATH"] = path
            r = subprocess.run(
                [sys.executable, "-c", CHILD, str(tmp / "s.tif"), str(tmp / f"out-{label}"), "2"],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp,
                check=True,
            )
            times[label] += json.loads(r.stdout.splitlines()[-1])[1:]  # the second: over its own first
    med = {k: statistics.median(v) for k, v in times.items()}
    files = sorted(p.name for p in (tmp / "out-staged").iterdir())
    size = sum((tmp / "out-staged" / f).stat().st_size for f in files) / 1e6
    print(f"scene {a.size} x {a.size} px, {len(files)} files, {size:.1f} MB; {a.repeats} exports each")
    print(f"baseline (old export)  median {med['baseline']:.3f} s  {times['baseline']}")
    print(f"staged (new export)    median {med['staged']:.3f} s  {times['staged']}")
    print(f"ratio staged / baseline: {med['staged'] / med['baseline']:.2f}")


if __name__ == "__main__":
    main()
