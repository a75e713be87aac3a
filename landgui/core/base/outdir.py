"""Output folders that several landgui processes may write at once, and files that appear together.

**One writer per folder.** :func:`folder_lock` holds ``OUT/.landgui.lock`` (pid, host) while a
job writes into OUT. The lock file is created exclusively (a hard link of a complete record, so
it is never seen half-written); a second process is refused in one line ("OUT is being written
by another landgui process (pid N)"). A lock whose writer is gone (:func:`writer_gone`: its pid
no longer exists on this host, the test :class:`~landgui.core.runs.folder.RunFolder` uses for a
run's writer) is taken over. The lock is re-entrant within a process, so a command may hold it
for all its scenes while each export takes it again.

**Files that appear together.** A :class:`Staging` folder, ``OUT/.landgui-staging-NAME-PID/``,
with a marker file naming its writer, receives a job's files. :meth:`Staging.publish` records
the list of files in the marker (the commit), then moves them into OUT, the job's manifest (a
scene's ``NAME.summary.json``) last, after removing the old one. A job killed before the commit
(while any file is still being written) leaves the previous complete set, or nothing new; one
killed while the committed files are moved in (a few renames) leaves whole files and no manifest,
and is finished by the next writer of the folder (:func:`clear_stale_staging`), so its files are
never left without the manifest that lists them.
Only folders with landgui's marker whose writer is gone are cleared, never a user's folder.

**Never replace a file landgui did not write.** A manifest lists the files it published with
their SHA-256 (:func:`file_record`); :func:`check_replaceable` refuses to replace a file that is
not listed, or whose bytes changed since (the user's now), unless the caller was told to overwrite.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from landgui.core.base.atomic import ensure_writable_dir, partial_path, write_error, write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.base.paths import file_sha256

LOCK_NAME = ".landgui.lock"
STAGING_PREFIX = ".landgui-staging-"
STAGING_MARKER = ".landgui-staging"

_held: dict[Path, int] = {}  # folders this process holds the lock of -> depth (re-entrant)
_held_guard = threading.Lock()


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def writer_gone(record: dict) -> bool:
    """A writer record ``{"pid", "host"}`` whose process no longer exists: same host, dead pid.
    A writer on another host cannot be checked from here and counts as alive."""
    pid = record.get("pid")
    return record.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid)


def _writer() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "token": uuid.uuid4().hex}


def _read_json(path: Path) -> Any:
    """The JSON in ``path``; None when it is missing, {} when it cannot be read as JSON."""
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def create_exclusive(path: Path, text: str) -> bool:
    """Create ``path`` holding ``text``, complete or not at all (a hard link of a written file, so
    no reader sees it half-written); False when ``path`` exists already. Never replaces a file."""
    tmp = partial_path(path)  # a kill leaves it for remove_stale_partials, like any partial file
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: an exclusive create instead
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        return True
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _take_over(lock: Path, stale: dict) -> None:
    """Remove the lock of a writer that is gone, unless another process replaced it meanwhile."""
    aside = lock.with_name(f"{lock.name}.{uuid.uuid4().hex}.stale")
    try:
        os.rename(lock, aside)
    except OSError:
        return  # gone already: another process took it over
    if _read_json(aside) != stale:  # a live writer's fresh lock, moved by mistake: put it back
        with contextlib.suppress(OSError):
            os.link(aside, lock)
    with contextlib.suppress(OSError):
        aside.unlink()


def busy_error(folder: Path, record: dict) -> LandguiError:
    """The one line for a folder that another landgui process is writing."""
    host = record.get("host")
    where = "" if host in (None, socket.gethostname()) else f" on {host}"
    return LandguiError(
        f"{folder} is being written by another landgui process (pid {record.get('pid', '?')}{where}); "
        f"wait for it to finish or choose another --out (if no landgui runs there, remove {folder / LOCK_NAME})"
    )


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[Path]:
    """``with folder_lock(out):`` hold ``out``'s lock (creating the folder; a one-line error when
    it cannot be written or another landgui process holds the lock). A folder this call created
    and which is still empty at the end is removed again, so a refused command leaves nothing."""
    d = Path(folder)
    created = not d.exists()
    d = ensure_writable_dir(d)
    key = d.resolve()
    with _held_guard:
        if _held.get(key):
            _held[key] += 1
            record = None
        else:
            record = _acquire(d)
            _held[key] = 1
    try:
        yield d
    finally:
        with _held_guard:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
                if record is not None:
                    _release(d, record, created)


def _acquire(d: Path) -> dict:
    lock = d / LOCK_NAME
    record = _writer()
    for _ in range(5):
        if create_exclusive(lock, json.dumps(record)):
            return record
        held = _read_json(lock)
        if held is None:
            continue  # released meanwhile
        if held and not writer_gone(held):
            raise busy_error(d, held)
        _take_over(lock, held)  # its writer is gone (or it was never completed): stale
    raise busy_error(d, _read_json(lock) or {})


def _release(d: Path, record: dict, created: bool) -> None:
    lock = d / LOCK_NAME
    if (_read_json(lock) or {}).get("token") == record["token"]:
        with contextlib.suppress(OSError):
            lock.unlink()
    if created:
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty: the folder this job created and left nothing in


class Staging:
    """``with Staging(out, name) as st:`` write files as ``st.path(filename)``, then
    ``st.publish(files, manifest=...)``; on an error, or without publishing, the staging folder
    is removed and OUT is as it was. Usable in any process (a Dask worker too): its state is the
    folder and its marker."""

    def __init__(self, out: str | Path, name: str) -> None:
        self.out = Path(out)
        self.dir = self.out / f"{STAGING_PREFIX}{name}-{os.getpid()}"
        self.marker: dict[str, Any] = {**_writer(), "name": name}
        self.published = False

    def __enter__(self) -> Staging:
        clear_stale_staging(self.out)
        if (self.dir / STAGING_MARKER).is_file():
            shutil.rmtree(self.dir, ignore_errors=True)  # this process's own, from a failed attempt
        try:
            self.dir.mkdir()
            # the marker's presence makes the folder landgui's (the pid in the folder's name stands
            # in for a record cut short by a kill)
            with open(self.dir / STAGING_MARKER, "x", encoding="utf-8") as fh:
                fh.write(json.dumps(self.marker))
        except OSError as exc:
            raise write_error(self.dir, exc) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.published:
            shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, filename: str) -> Path:
        """Where to write the file that will be published as ``OUT/filename``."""
        return self.dir / filename

    def publish(self, files: list[str], manifest: tuple[str, dict] | None = None) -> None:
        """Move ``files`` (written under :meth:`path`) into OUT, then write ``manifest`` =
        (filename, JSON) last. The list is recorded in the marker first (the commit): from then on
        a killed job is finished by the next writer (the files are complete: a killed process's
        writes stay in the system's cache; a power cut is not covered)."""
        try:
            if manifest is not None:
                write_json_atomic(self.path(manifest[0]), manifest[1])
            order = [*files, *([manifest[0]] if manifest else [])]
            write_json_atomic(self.dir / STAGING_MARKER, {**self.marker, "publish": order})
        except LandguiError:
            raise
        except OSError as exc:
            raise write_error(self.dir, exc) from None
        _move_in(self.dir, order)
        self.published = True


def _move_in(staging: Path, order: list[str]) -> None:
    """The committed files of ``staging`` into its parent, the last one (the manifest) last; the
    old manifest is removed first, so that no manifest lists a half-replaced set."""
    out = staging.parent
    target = out
    try:
        if order and (staging / order[-1]).exists():  # not moved in yet: the old manifest goes first
            (out / order[-1]).unlink(missing_ok=True)
        for f in order:
            target = out / f
            if (staging / f).exists():
                os.replace(staging / f, target)
    except OSError as exc:
        raise write_error(target, exc) from None
    shutil.rmtree(staging, ignore_errors=True)


def clear_stale_staging(out: str | Path) -> None:
    """Finish or remove the staging folders in ``out`` whose writer is gone (landgui's own only:
    they carry its marker): a committed one is moved in (its files are complete), others removed."""
    with contextlib.suppress(OSError):
        for d in Path(out).glob(f"{STAGING_PREFIX}*"):
            marker = _read_json(d / STAGING_MARKER)
            if marker == {}:  # present but cut short by a kill: the writer is named by the folder
                pid = d.name.rsplit("-", 1)[-1]
                marker = {"pid": int(pid), "host": socket.gethostname()} if pid.isdigit() else None
            if not marker or not d.is_dir() or not writer_gone(marker):
                continue
            if isinstance(marker.get("publish"), list):
                with contextlib.suppress(LandguiError):
                    _move_in(d, [str(f) for f in marker["publish"]])
            else:
                shutil.rmtree(d, ignore_errors=True)


def file_record(paths: list[Path]) -> dict[str, str]:
    """``{file name: sha256}`` of files, for a manifest (what :func:`check_replaceable` trusts)."""
    return {p.name: file_sha256(p) for p in paths}


def recorded_files(manifest: dict | None) -> dict[str, str | None]:
    """``{file name: sha256}`` of the files a manifest says landgui wrote: its ``file_sha256`` and
    the ``earlier_files`` it kept from an earlier job (see :func:`earlier_files`)."""
    recorded: dict[str, str | None] = {}
    for key in ("file_sha256", "earlier_files"):
        if isinstance((manifest or {}).get(key), dict):
            recorded.update({str(k): str(v) for k, v in manifest[key].items()})  # type: ignore[index]
    return recorded


def earlier_files(out: Path, recorded: dict[str, str | None], now: dict[str, str], manifest: Path) -> dict[str, str]:
    """The files of an earlier manifest that this job does not rewrite (``now``) and that are
    unchanged: still landgui's, so the new manifest lists them as ``earlier_files`` (say a scene
    exported as PNG, then as CSV alone: its PNGs may be replaced by a later export)."""
    return {
        n: sha or file_sha256(out / n)
        for n, sha in recorded.items()
        if n not in now and (out / n).is_file() and unchanged(out / n, sha, manifest)
    }


def check_replaceable(
    out: Path, filenames: list[str], recorded: dict[str, str | None], manifest: Path, overwrite: bool = False
) -> None:
    """Refuse to replace a file in ``out`` that landgui did not write: each of ``filenames`` that
    exists must be in ``recorded`` (``{file name: sha256}`` from ``manifest``; None: a manifest
    from before hashes were kept, trusted if the file is not newer than it) with the same bytes."""
    if overwrite:
        return
    for name in filenames:
        p = out / name
        if not p.exists():
            continue
        if name in recorded and unchanged(p, recorded[name], manifest):
            continue
        why = (
            f"was not written by landgui (no {manifest.name} lists it)"
            if name not in recorded
            else ("was changed since landgui wrote it")
        )
        raise LandguiError(
            f"{p} {why}; landgui does not replace it: move it away, choose another --out, "
            "or replace it with --overwrite"
        )


def unchanged(p: Path, sha: str | None, manifest: Path) -> bool:
    """Whether ``p`` still holds the bytes ``manifest`` recorded (``sha``; None: not newer than it)."""
    try:
        if sha is None:
            return manifest.is_file() and p.stat().st_mtime_ns <= manifest.stat().st_mtime_ns
        return p.is_file() and file_sha256(p) == sha
    except OSError:
        return False
