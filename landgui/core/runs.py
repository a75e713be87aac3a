"""Listing run folders in a runs directory (for the GUI's run lists and comparisons)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landgui import __version__
from landgui.core.errors import LandguiError

RUN_SCHEMA_VERSION = 1
HEARTBEAT_EVERY_S = 10.0  # a running trainer rewrites status.json at least this often while it reports
STALE_AFTER_S = 900.0  # no heartbeat for this long: the writer is gone (another host, or a reused pid)
STATUS_OWN_KEYS = frozenset({"status", "epochs_done", "best_val_loss", "updated", "pid", "host", "heartbeat"})
SHIPPED_NAME = "landcover4"
SHIPPED_ALIASES = ("default", SHIPPED_NAME)


def resources_dir() -> Path:
    """landgui's package data folder (in a PyInstaller bundle it sits under ``_MEIPASS``)."""
    import sys

    bundle = getattr(sys, "_MEIPASS", None)
    base = Path(bundle) / "landgui" if bundle else Path(__file__).resolve().parents[1]
    return base / "resources"


def shipped_run_dir() -> Path:
    """The land-cover model that ships inside the package (built by tools/build_default_model.py)."""
    return resources_dir() / "models" / SHIPPED_NAME


def is_shipped(run_dir: str | Path) -> bool:
    """True for the packaged run: it is read-only (nothing is ever written into it)."""
    try:
        return Path(run_dir).resolve() == shipped_run_dir().resolve()
    except OSError:
        return False


def resolve_run(run_dir: str | Path) -> Path:
    """A RUN_DIR argument as a folder: ``default`` (or ``landcover4``) is the shipped model unless a
    folder of that name exists here."""
    p = Path(run_dir)
    if str(run_dir) in SHIPPED_ALIASES and not p.exists():
        shipped = shipped_run_dir()
        if not (shipped / "model.keras").is_file():
            raise LandguiError(
                f"the shipped model is missing from this installation ({shipped}); "
                "reinstall landgui or build it with tools/build_default_model.py"
            )
        return shipped
    return p


def user_runs_dir() -> Path:
    """Where outputs that may not go into a run (e.g. evaluations of the shipped model) are written:
    ``LANDGUI_RUNS_DIR``, else ~/landgui-runs (the GUI's default runs folder)."""
    import os

    return Path(os.environ.get("LANDGUI_RUNS_DIR") or Path.home() / "landgui-runs")


def output_dir_for(run_dir: str | Path) -> Path:
    """The folder evaluation files of a run go to: the run itself, or for the read-only shipped
    model ``<user runs folder>/landcover4-evaluations``."""
    if is_shipped(run_dir):
        return user_runs_dir() / f"{SHIPPED_NAME}-evaluations"
    return Path(run_dir)


@dataclass
class RunMeta:
    """What a run folder says about its model, read without TensorFlow."""

    labels: list[str]
    config: dict
    image_size: int
    run_dir: Path


def read_run(run_dir: str | Path) -> RunMeta:
    """Check a run folder and read its labels and config (one-line errors for what is wrong).
    ``default`` names the shipped model (:func:`resolve_run`)."""
    run = resolve_run(run_dir)
    if run.exists() and not run.is_dir():
        raise LandguiError(f"{run} is a file, not a landgui run folder")
    if not run.is_dir():
        raise LandguiError(f"run folder not found: {run}")
    missing = [n for n in ("config.json", "labels.json", "model.keras") if not (run / n).is_file()]
    if missing:
        raise LandguiError(f"{run} is not a complete landgui run: missing {', '.join(missing)}")
    try:
        config = json.loads((run / "config.json").read_text())
        labels = json.loads((run / "labels.json").read_text())
        image_size = int(config["model"]["image_size"])
    except (ValueError, KeyError, TypeError) as exc:
        raise LandguiError(f"{run}: damaged run files ({type(exc).__name__}: {exc})") from None
    if config.get("run_schema_version") != RUN_SCHEMA_VERSION:
        raise LandguiError(
            f"{run} was written by landgui {config.get('landgui_version', '?')} with run schema "
            f"{config.get('run_schema_version')}; this landgui ({__version__}) reads schema {RUN_SCHEMA_VERSION}"
        )
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise LandguiError(f"{run}: damaged run files (labels.json is not a list of class names)")
    return RunMeta(list(labels), config, image_size, run)


def _read(p: Path) -> Any:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def run_status(run: str | Path, now: float | None = None) -> str:
    """The run's status as the user should see it: ``status.json``'s, except that a "running"
    run whose writer is gone (its pid no longer exists on this host, or no heartbeat for
    :data:`STALE_AFTER_S`) is ``interrupted`` (resume it). ``unknown`` without a status file."""
    import socket
    import time

    p = Path(run) / "status.json"
    st = _read(p)
    if not isinstance(st, dict):
        return "unknown"
    status = str(st.get("status", "unknown"))
    if status != "running":
        return status
    now = time.time() if now is None else now
    beat = st.get("heartbeat")
    if not isinstance(beat, (int, float)):
        try:
            beat = p.stat().st_mtime  # written before heartbeats existed
        except OSError:
            return "interrupted"
    if now - beat > STALE_AFTER_S:
        return "interrupted"
    pid = st.get("pid")
    if st.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
        return "interrupted"
    return "running"


def status_text(status: str) -> str:
    """How a status reads in lists: an interrupted run says it can be resumed."""
    return {"interrupted": "interrupted (resumable)", "stopped": "stopped (resumable)"}.get(status, status)


def run_info(run: Path) -> dict | None:
    cfg = _read(run / "config.json")
    if not isinstance(cfg, dict) or "model" not in cfg:
        return None
    hist = _read(run / "history.json") or []
    status = run_status(run)
    ev = _read(run / "evaluation-test.json") or {}
    vals = [h["val_accuracy"] for h in hist if h.get("val_accuracy") is not None]
    m = cfg["model"]
    return {
        "name": run.name,
        "path": str(run),
        "status": status,
        "status_text": status_text(status),
        "model": m["model"],
        "backbone": m["backbone"] if m["model"] == "transfer" else "-",
        "image_size": m["image_size"],
        "epochs": len(hist),
        "train_seconds": round(sum(h.get("seconds", 0) for h in hist), 1),
        "best_val_accuracy": max(vals) if vals else None,
        "test_accuracy": ev.get("accuracy"),
        "macro_f1": (ev.get("macro_avg") or {}).get("f1"),
        "has_model": (run / "model.keras").is_file(),
        "data_accuracy": data_evaluations(run),
        "created": cfg.get("created", ""),
    }


def data_evaluations(run: Path) -> dict[str, float]:
    """Accuracy of every evaluation on a folder (``evaluation-data-*.json``), keyed by name
    (``<folder name>``, or ``<folder name> (adapted)``)."""
    out: dict[str, float] = {}
    for p in sorted(run.glob("evaluation-data-*.json")):
        ev = _read(p)
        if isinstance(ev, dict) and isinstance(ev.get("accuracy"), float):
            name = p.stem[len("evaluation-data-") :]
            out[name] = ev["accuracy"]
    return out


def list_runs(runs_dir: str | Path) -> list[dict]:
    """Every run folder directly inside runs_dir, newest first."""
    d = Path(runs_dir)
    if not d.is_dir():
        return []
    infos = [i for p in d.iterdir() if p.is_dir() and (i := run_info(p))]
    return sorted(infos, key=lambda i: i["created"], reverse=True)


def history(run: str | Path) -> list[dict]:
    return _read(Path(run) / "history.json") or []
