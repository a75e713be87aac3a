"""Dask clusters for mapping many scenes: ``local:N`` worker processes on this machine, or the
scheduler of a cluster started elsewhere (``tcp://HOST:8786``).

``dask`` and ``distributed`` are an optional extra (``pip install "landgui[cluster]"``) and are
imported only here, inside the functions, never when the app starts.

Threads: a local cluster of N workers on C cores gives each worker one Dask thread (one task at
a time) and ``LANDGUI_THREADS = max(1, C // N)`` for LiteRT, GDAL and OpenCV
(:mod:`landgui.core.base.threads`), so the workers do not oversubscribe the cores. Workers started
by hand take the same variable (``LANDGUI_THREADS=4 dask worker ... --nthreads 1``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from landgui.core.base import threads
from landgui.core.base.errors import LandguiError

MISSING_EXTRA = '--cluster needs the cluster extra: pip install "landgui[cluster]"'
CONNECT_TIMEOUT_S = 20


def parse_spec(spec: str) -> tuple[str, Any]:
    """``local`` / ``local:N`` -> ("local", N or None); ``tcp://HOST:PORT`` (or tls://) -> ("remote", address)."""
    s = spec.strip()
    if s == "local" or s.startswith("local:"):
        n = s.partition(":")[2]
        if not n:
            return "local", None
        if not n.isdigit() or int(n) < 1:
            raise LandguiError(f"--cluster local:N needs a number of workers of 1 or more, got '{spec}'")
        return "local", int(n)
    if s.startswith(("tcp://", "tls://")) and len(s) > len("tcp://"):
        return "remote", s
    raise LandguiError(f"--cluster must be local:N or the scheduler's address tcp://HOST:8786, got '{spec}'")


def require_dask() -> None:
    """A one-line error when the cluster extra is not installed."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None or importlib.util.find_spec("dask") is None:
        raise LandguiError(MISSING_EXTRA)


def worker_threads(n_workers: int, cores: int | None = None) -> int:
    """LiteRT/GDAL threads per worker of a local cluster: the cores shared out, at least one."""

    return max(1, (cores or threads.available_cores()) // n_workers)


def start_local_cluster(n_workers: int | None = None, **kw: Any) -> Any:
    """A ``distributed.LocalCluster`` of ``n_workers`` processes (default: one per core), one Dask
    thread each and :func:`worker_threads` inference threads each; no dashboard, quiet logs."""
    require_dask()
    from distributed import LocalCluster

    n = n_workers or threads.available_cores()
    options: dict[str, Any] = {
        "n_workers": n,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        "silence_logs": logging.CRITICAL,  # a failed task is reported by landgui, once, not logged by each worker
        "env": {"LANDGUI_THREADS": str(worker_threads(n))},
    }
    options.update(kw)
    try:
        return LocalCluster(**options)
    except Exception as exc:  # noqa: BLE001 - a worker that cannot start: one line
        raise LandguiError(
            f"could not start a local Dask cluster of {n} workers: {type(exc).__name__}: {exc}"
        ) from None


@contextlib.contextmanager
def connect(spec: str) -> Iterator[Any]:
    """``with connect("local:2") as client``: a ``distributed.Client`` on a new local cluster
    (closed at the end) or on a running scheduler (left running)."""
    kind, arg = parse_spec(spec)
    require_dask()
    from distributed import Client

    cluster = start_local_cluster(arg) if kind == "local" else None
    try:
        try:
            client = Client(cluster if cluster is not None else arg, timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:  # includes asyncio/comm timeouts
            raise LandguiError(f"cannot reach the Dask scheduler at {arg}: {str(exc)[:200]}") from None
        try:
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.close()
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def describe(client: Any) -> str:
    """``2 workers, 2 threads`` for the log and the CLI."""
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
    except Exception:  # noqa: BLE001 - only a description
        return "a Dask cluster"
    return f"{len(workers)} workers, {sum(w.get('nthreads', 0) for w in workers.values())} threads"
