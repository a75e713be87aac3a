"""Run a core job in a child process, relaying progress and honouring a stop event.

Used by the GUI for TensorFlow-heavy jobs (training): TensorFlow's import, graph tracing and
Keras's per-step Python hold the GIL for hundreds of milliseconds at a time, which froze the
window when training ran in a thread (measured: 450-620 ms gaps). In a child process the GUI's
interpreter never waits for them. Messages on the queue:

    ("progress", args)  ("done", result)  ("failed", message, details)  ("cancelled",)
"""

from __future__ import annotations

import importlib
import traceback
from typing import Any

from landgui.core.base import logs
from landgui.core.base.errors import Cancelled, LandguiError


def child_main(target: str, kwargs: dict, q: Any, stop: Any) -> None:
    """Entry point of the child process: ``target`` is ``"package.module:function"``."""
    import os

    try:
        os.nice(10)  # the window keeps priority over the job on a busy CPU
    except (AttributeError, OSError):
        pass

    logs.setup()
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)

    def progress(*args: Any) -> None:
        q.put(("progress", args))

    try:
        result = fn(**kwargs, progress=progress, should_stop=stop.is_set)
    except Cancelled:
        q.put(("cancelled",))
    except LandguiError as exc:
        logs.error_seen(str(exc), exc)
        q.put(("failed", str(exc), ""))
    except MemoryError as exc:
        logs.error_seen("out of memory", exc)
        q.put(("failed", "out of memory: try a smaller batch size or image size", traceback.format_exc()))
    except BaseException as exc:  # noqa: BLE001 - everything reaches the user
        logs.error_seen(f"{type(exc).__name__}: {exc}", exc)
        q.put(("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    else:
        q.put(("done", result))
