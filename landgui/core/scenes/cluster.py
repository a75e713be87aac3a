"""Dask clusters for mapping many scenes: ``local:N`` worker processes on this machine, or the
scheduler of a cluster started elsewhere (``tls://HOST:8786``, or ``tcp://`` on a trusted network).

Security
    A Dask scheduler runs whatever its clients send: a plain ``tcp://`` scheduler is for a trusted
    network only. ``tls://`` addresses take certificates (:func:`load_security`: a file of
    ``distributed.Security`` arguments, or Dask's own ``distributed.comm.tls`` configuration); a
    scheduler started with ``--tls-ca-file`` refuses clients without a certificate of its CA.
    ``local:N`` listens on 127.0.0.1 only.

Connecting
    Dask's own connect timeout ends when the TCP (or TLS) connection is made; the handshake after
    it waits forever for a server that never answers (an HTTP port) and reads a size from whatever
    comes (a garbage answer asked for 3 EiB). :func:`probe` therefore reads the scheduler's
    handshake first, itself, with a deadline and a size cap, and only a well-formed one is handed
    to ``distributed.Client`` (whose ``distributed.comm.timeouts.connect`` is set to the same limit).

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
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from landgui.core.base import threads
from landgui.core.base.errors import LandguiError

MISSING_EXTRA = '--cluster needs the cluster extra: pip install "landgui[cluster]"'
CONNECT_TIMEOUT_S = 20  # the TCP/TLS connection and the scheduler's handshake, together
HANDSHAKE_MAX_BYTES = 1 << 20  # a Dask handshake is a few hundred bytes
SECURITY_KEYS = ("tls_ca_file", "tls_client_cert", "tls_client_key", "require_encryption")


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
    raise LandguiError(
        f"--cluster must be local:N or the scheduler's address tls://HOST:8786 (tcp:// on a trusted network), got '{spec}'"
    )


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


def load_security(path: str | Path | None = None, address: str = "") -> Any:
    """The ``distributed.Security`` of the client: the arguments in the YAML/JSON file ``path``
    (``tls_ca_file``, ``tls_client_cert``, ``tls_client_key``; relative paths from the file's
    folder), or Dask's own configuration (``distributed.comm.tls.*``) without one. A ``tls://``
    ``address`` without certificates is a one-line error."""
    require_dask()
    import yaml
    from distributed import Security

    security: Any
    if path is None:
        security = Security()
    else:
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise LandguiError(f"--cluster-security {p}: cannot read it: {' '.join(str(exc).split())[:200]}") from None
        if not isinstance(data, dict) or set(data) - set(SECURITY_KEYS):
            raise LandguiError(f"--cluster-security {p} must map some of {', '.join(SECURITY_KEYS)} to values")
        kw: dict[str, Any] = {}
        for key, value in data.items():
            if key == "require_encryption":
                kw[key] = bool(value)
                continue
            f = p.parent / str(value)
            if not f.is_file():
                raise LandguiError(f"--cluster-security {p}: {key} {f} is not a file")
            kw[key] = str(f)
        try:
            security = Security(**kw)
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise LandguiError(f"--cluster-security {p}: {' '.join(str(exc).split())[:200]}") from None
    if address.startswith("tls://") and not (security.tls_ca_file and security.tls_client_cert):
        raise LandguiError(
            f"{address} needs certificates: --cluster-security FILE (tls_ca_file: the cluster's CA, "
            "tls_client_cert and tls_client_key: this client's) or Dask's distributed.comm.tls configuration"
        )
    return security


def probe(address: str, security: Any = None, timeout: float | None = None) -> None:
    """Read the handshake of the Dask scheduler at ``address`` (``tcp://`` or ``tls://HOST:PORT``)
    within ``timeout`` s, or raise a one-line error: nothing listening, no answer (an HTTP port),
    an answer that is not Dask's, a refused certificate. Nothing but a size-capped read is made of
    what the server sends, so garbage can neither hang nor exhaust the client."""
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    scheme, _, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise LandguiError(f"--cluster {address}: expected {scheme}://HOST:PORT")
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def read(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            sock.settimeout(left())
            chunk = sock.recv(min(n - len(data), 65536))
            if not chunk:
                raise LandguiError(f"{address} closed the connection without a Dask handshake (not a Dask scheduler?)")
            data += chunk
        return data

    sock: socket.socket | None = None
    try:
        sock = socket.create_connection((host, int(port)), timeout=left())
        if scheme == "tls":
            ctx = (security or load_security(None, address)).get_connection_args("client")["ssl_context"]
            sock.settimeout(left())
            sock = ctx.wrap_socket(sock, server_hostname=host)
        (size,) = struct.unpack("Q", read(sock, 8))
        if not 16 <= size <= HANDSHAKE_MAX_BYTES:
            raise LandguiError(
                f"{address} answered with something that is not a Dask handshake (not a Dask scheduler?)"
            )
        body = read(sock, size)
        (n_frames,) = struct.unpack_from("Q", body)
        head = 8 * (1 + n_frames)
        if not 1 <= n_frames <= 64 or head > size or sum(struct.unpack_from(f"{n_frames}Q", body, 8)) > size - head:
            raise LandguiError(
                f"{address} answered with something that is not a Dask handshake (not a Dask scheduler?)"
            )
    except TimeoutError:
        raise LandguiError(
            f"no Dask handshake from {address} within {timeout:g} s (not a Dask scheduler"
            + (", or a tls:// one?)" if scheme == "tcp" else "?)")
        ) from None
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        if reason == "CERTIFICATE_VERIFY_FAILED":
            raise LandguiError(
                f"the Dask scheduler at {address} is not trusted: its certificate is not signed by tls_ca_file ({reason})"
            ) from None
        raise LandguiError(
            f"the Dask scheduler at {address} refused the TLS connection (no client certificate, or one it "
            f"does not trust?): {reason}"
        ) from None
    except OSError as exc:
        raise LandguiError(f"cannot reach the Dask scheduler at {address}: {exc.strerror or exc}") from None
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def connect(spec: str, security_file: str | Path | None = None) -> Iterator[Any]:
    """``with connect("local:2") as client``: a ``distributed.Client`` on a new local cluster
    (closed at the end) or on a running scheduler (left running), whose handshake was checked
    first (:func:`probe`); ``security_file``: see :func:`load_security`."""
    kind, arg = parse_spec(spec)
    require_dask()
    import dask
    from distributed import Client

    security = load_security(security_file, arg) if kind == "remote" else None
    if kind == "remote":
        probe(arg, security)
    limits = {
        "distributed.comm.timeouts.connect": f"{CONNECT_TIMEOUT_S}s",
        "distributed.comm.timeouts.tcp": f"{max(30, 2 * CONNECT_TIMEOUT_S)}s",
    }
    with dask.config.set(limits):
        cluster = start_local_cluster(arg) if kind == "local" else None
        try:
            try:
                target = cluster if cluster is not None else arg
                client = Client(target, timeout=CONNECT_TIMEOUT_S, security=security)
            except (OSError, ssl.SSLError) as exc:  # includes asyncio/comm timeouts
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
