"""Thread counts for TensorFlow, LiteRT, OpenCV and GDAL from the cores this process may use.

``os.cpu_count()`` counts the machine's cores; a container or a ``taskset`` may allow fewer, and
oversubscribed threads slow inference down. :func:`available_cores` reads the affinity mask and a
cgroup v2/v1 CPU quota; :func:`configure` applies it once (environment settings the user made
win). ``LANDGUI_THREADS`` overrides the count.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

_done = False


def _cgroup_quota() -> float | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if q > 0 and p > 0:
            return q / p
    except (OSError, ValueError):
        pass
    return None


def available_cores() -> int:
    """The CPU cores this process may use: ``LANDGUI_THREADS`` if set, else the affinity mask
    capped by the cgroup CPU quota (at least 1)."""
    env = os.environ.get("LANDGUI_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def configure() -> int:
    """Apply the thread counts once per process; returns the core count used."""
    global _done
    n = available_cores()
    if _done:
        return n
    _done = True
    os.environ.setdefault("GDAL_NUM_THREADS", str(n))
    # read by TensorFlow when its runtime starts (it is imported lazily, after this)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(n))
    try:
        import cv2

        cv2.setNumThreads(n)
    except ImportError:
        pass
    return n
