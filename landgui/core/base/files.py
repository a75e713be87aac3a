r"""Reading a user's file safely: a regular file, under a size cap, or a one-line reason why not.

Every reader of a file the user names goes through :func:`read_capped` (or
:func:`check_regular` where a library opens the file itself, as GDAL does for a GeoTIFF):

* the file is opened without blocking (``O_NONBLOCK``), so a FIFO never waits for a writer,
  and its type is checked on the open descriptor (``fstat``): a FIFO, a device such as
  ``/dev/zero``, a socket or a folder is refused before a byte is read;
* a regular file larger than the cap is refused from its size, and at most cap + 1 bytes are
  ever read (a file that grows while it is read is refused too).

:func:`shown` turns a path whose bytes are not UTF-8 (Python's surrogate escapes, as in
``sc\udce9ne.png`` for a latin-1 ``scène.png``) into text any screen, log or figure can show;
:data:`SHOWN_ERRORS` does the same for a whole stream (the command line's stdout and stderr).
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from landgui.core.base.errors import LandguiError


class FileProblem(LandguiError):
    """A file that cannot be read as a file; ``reason`` is the short cause (no path)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "not a regular file (a FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "not a regular file (a device)"
    if stat.S_ISSOCK(mode):
        return "not a regular file (a socket)"
    return "not a regular file"


def _size_problem(size: int, max_bytes: int) -> str:
    return f"too large: {size:,} bytes > limit {max_bytes:,}"


def _open_error(exc: OSError) -> FileProblem:
    if isinstance(exc, PermissionError):
        return FileProblem("unreadable: permission denied")
    if isinstance(exc, IsADirectoryError):
        return FileProblem(_kind(stat.S_IFDIR))
    return FileProblem(f"unreadable: {exc.strerror or exc}")


def check_regular(path: str | Path, max_bytes: int | None = None) -> int:
    """The size of ``path`` when it is a regular file of at most ``max_bytes``; else raise
    :class:`FileProblem` (a FIFO, a device, a folder, missing, too large). Does not open the file."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _open_error(exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise FileProblem(_kind(st.st_mode))
    if max_bytes is not None and st.st_size > max_bytes:
        raise FileProblem(_size_problem(st.st_size, max_bytes))
    return st.st_size


def _nonblocking(path: str, flags: int) -> int:
    """``open``'s opener: the descriptor opened without blocking, so that a FIFO never waits."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_capped(path: str | Path, max_bytes: int) -> bytes:
    """The whole of the regular file ``path`` (at most ``max_bytes``), or :class:`FileProblem`.

    The file is opened without blocking and its type checked on the descriptor, so a FIFO or a
    device is refused at once instead of blocking or being read forever."""
    try:
        fh = open(path, "rb", opener=_nonblocking)  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise _open_error(exc) from None
    with fh:
        try:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise FileProblem(_kind(st.st_mode))
            if st.st_size > max_bytes:
                raise FileProblem(_size_problem(st.st_size, max_bytes))
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise _open_error(exc) from None
    if len(data) > max_bytes:
        raise FileProblem(_size_problem(len(data), max_bytes))
    return data


def shown(text: str | Path) -> str:
    """``text`` fit to show: the bytes of a name that is not UTF-8 (surrogate escapes) become
    U+FFFD, so that a terminal, a log or a figure's title never fails on it."""
    s = str(text)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a surrogate that no file name decoded to
            return s.encode("utf-8", "replace").decode("utf-8")
    return s


#: The error handler (``codecs``) that writes a character a stream cannot encode (a surrogate
#: escape of a non-UTF-8 file name) as U+FFFD, or ``?`` where even that cannot be written.
SHOWN_ERRORS = "landgui-shown"


def _shown_errors(exc: UnicodeError) -> tuple[str | bytes, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    n = exc.end - exc.start
    if exc.encoding.lower().replace("-", "").replace("_", "") == "utf8":
        return "\ufffd".encode() * n, exc.end  # bytes: CPython's UTF-8 encoder takes no non-ASCII text here
    return "?" * n, exc.end


codecs.register_error(SHOWN_ERRORS, _shown_errors)
