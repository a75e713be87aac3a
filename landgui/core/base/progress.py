"""A dependency-free terminal progress bar with rate and ETA, fed by the core's callbacks."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(s: float) -> str:
    """Seconds as ``MM:SS``, or ``H:MM:SS`` from an hour on (rounded; negative counts as 0)."""
    s = max(0, int(round(s)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


class TerminalProgress:
    """Callable ``(stage, done, total)`` that draws ``stage [#####.....] 40% 1200/3000 350/s ETA 00:05``."""

    def __init__(
        self, stream: TextIO | None = None, enabled: bool = True, width: int = 30, unit: str = "files"
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.width = width
        self.unit = unit
        self._stage: str | None = None
        self._start = 0.0
        self._last_draw = 0.0
        # On a terminal redraw in place 10x a second; in a log file, a line every 5 seconds.
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._interval = 0.1 if self._tty else 5.0

    def __call__(self, stage: str, done: int, total: int, extra: str = "") -> None:
        """Draw the bar for ``done`` of ``total`` in ``stage`` (``extra`` is appended to the line).

        A new stage starts a new line and its own clock; redraws are throttled (10 a second on a
        terminal, every 5 seconds in a file) except the last, which also ends the line.
        """
        if not self.enabled:
            return
        now = time.monotonic()
        if stage != self._stage:
            if self._stage is not None:
                self.stream.write("\n")
            self._stage, self._start, self._last_draw = stage, now, 0.0
        if done < total and now - self._last_draw < self._interval:
            return
        self._last_draw = now
        elapsed = now - self._start
        frac = done / total if total else 1.0
        filled = int(self.width * frac)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        line = (
            ("\r" if self._tty else "")
            + f"{stage:<10} [{'#' * filled}{'.' * (self.width - filled)}] {frac * 100:5.1f}% "
            f"{done}/{total} {rate:,.0f} {self.unit}/s "
            + (f"ETA {format_seconds(eta)}" if done < total else f"in {format_seconds(elapsed)}")
            + (f" {extra}" if extra else "")
        )
        self.stream.write(line)
        if done >= total:
            self.stream.write("\n")
            self._stage = None
        elif not self._tty:
            self.stream.write("\n")
        self.stream.flush()
