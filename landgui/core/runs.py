"""Listing run folders in a runs directory (for the GUI's run lists and comparisons)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _read(p: Path) -> Any:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def run_info(run: Path) -> dict | None:
    cfg = _read(run / "config.json")
    if not isinstance(cfg, dict) or "model" not in cfg:
        return None
    hist = _read(run / "history.json") or []
    status = (_read(run / "status.json") or {}).get("status", "unknown")
    ev = _read(run / "evaluation-test.json") or {}
    vals = [h["val_accuracy"] for h in hist if h.get("val_accuracy") is not None]
    m = cfg["model"]
    return {
        "name": run.name,
        "path": str(run),
        "status": status,
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
