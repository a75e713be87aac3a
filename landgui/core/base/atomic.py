"""Writing files so that a reader sees the old file or the complete new one, never half of one.

Every output landgui writes goes through a hidden partial file in the same folder
(``.NAME.<pid>.partial.EXT``: hidden, named partial, with the real extension so that encoders
that pick the format from the name still work), and is renamed over the real name only when it
is complete. A killed process leaves at most such a partial file, which no one mistakes for a
result and which the next write of the same output removes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from landgui.core.base.errors import LandguiError

PARTIAL = ".partial"


def partial_path(path: Path) -> Path:
    """The hidden partial file a write of ``path`` goes through (unique per process)."""
    return path.with_name(f".{path.stem}.{os.getpid()}{PARTIAL}{path.suffix}")


def remove_stale_partials(path: Path) -> None:
    """Remove partial files of ``path`` left by a killed earlier write (landgui's own files only)."""
    with contextlib.suppress(OSError):
        for p in path.parent.glob(f".{path.stem}.*{PARTIAL}{path.suffix}"):
            with contextlib.suppress(OSError):
                p.unlink()


def why(exc: OSError) -> str:
    """The reason of a failed write in a few words."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EDQUOT:
        return "the disk quota is exceeded"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied (read-only?)"
    return exc.strerror or str(exc)


def write_error(path: Path | str, exc: OSError) -> LandguiError:
    """One readable line for a failed write (disk full, read-only, not a folder...)."""
    return LandguiError(f"cannot write {path}: {why(exc)}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """``with atomic_path(p) as tmp: write tmp`` -> ``p`` appears complete or not at all.

    On any error the partial file is removed and an OSError becomes a one-line LandguiError."""
    path = Path(path)
    remove_stale_partials(path)
    tmp = partial_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise write_error(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole: through a partial file, flushed to disk, then renamed."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` whole (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """JSON through a partial file + fsync + rename: the old file or the new one, never half."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path.parent, exc) from exc
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not UTF-8: "\udce9" escapes, read back the same
        data = (json.dumps(obj, indent=2) + "\n").encode("ascii")
    write_bytes_atomic(path, data)


def ensure_writable_dir(folder: str | Path, what: str = "--out", *, create: bool = True) -> Path:
    """Prove that ``folder`` can take files, creating it (``create``) or only checking that it
    could be created; a one-line error otherwise (a file in the way, read-only, /proc...)."""
    d = Path(folder)
    if d.exists() and not d.is_dir():
        raise LandguiError(f"{what} {d} is a file, not a folder")
    base = d
    while not base.exists():
        if base.parent == base:
            break
        base = base.parent
    if not base.is_dir():
        raise LandguiError(f"{what} {d}: {base} is a file, not a folder")
    try:
        if create:
            d.mkdir(parents=True, exist_ok=True)
            probe = d / f".landgui-write-test.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        else:
            probe = base / f".landgui-write-test.{os.getpid()}"
            probe.mkdir()
            probe.rmdir()
    except OSError as exc:
        raise LandguiError(f"cannot write to {what} {d}: {why(exc)}") from None
    return d
