"""``landgui compare RUN...``: runs side by side (test accuracy, macro F1, time, per source)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from landgui.core.base.errors import LandguiError
from landgui.core.evaluation.evaluate import evaluate_run
from landgui.core.runs.folder import RunFolder, is_shipped, resolve_run
from landgui.core.runs.listing import run_info


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``compare`` to the CLI's subparsers."""
    c = sub.add_parser("compare", help="compare runs side by side (test accuracy, macro F1, time)")
    c.add_argument("runs", nargs="+", metavar="RUN_DIR")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run)
    return c


def run_summary(run_dir: str) -> dict:
    """The comparison row of one run (evaluating its test split if not done yet)."""
    folder = resolve_run(run_dir)  # `default` is the shipped model here too, as everywhere else
    info = run_info(folder)
    if info is None:
        raise LandguiError(f"{run_dir} is not a landgui run folder")
    if info["has_model"]:
        RunFolder(folder).meta()  # the run's files fit together (labels, head, config), as everywhere
    if info["test_accuracy"] is None and not is_shipped(folder):
        ev = evaluate_run(folder, "test")
        info["test_accuracy"], info["macro_f1"] = ev["accuracy"], ev["macro_avg"]["f1"]
    elif info["test_accuracy"] is None:  # its test split is not installed: its model card has it
        info["test_accuracy"] = info["macro_f1"] = "-"
    return {
        "run": str(run_dir),
        **{
            k: info[k]
            for k in ("model", "backbone", "image_size", "epochs", "train_seconds", "test_accuracy", "macro_f1")
        },
        "data_accuracy": info["data_accuracy"],
        "source_accuracy": info.get("source_accuracy") or {},
        "hold_out_source": info.get("hold_out_source"),
        "held_out_accuracy": info.get("held_out_accuracy"),
        "stale_evaluations": info.get("stale_evaluations") or [],
    }


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    rows = [run_summary(r) for r in args.runs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = [
        ("run", "run"),
        ("model", "model"),
        ("backbone", "backbone"),
        ("image_size", "size"),
        ("epochs", "epochs"),
        ("train_seconds", "train s"),
        ("test_accuracy", "test acc"),
        ("macro_f1", "macro F1"),
    ]
    folders = sorted({name for r in rows for name in r["data_accuracy"]})
    for r in rows:
        for name in folders:
            r[f"data:{name}"] = r["data_accuracy"].get(name, "-")
    cols += [(f"data:{name}", f"{name} acc") for name in folders]
    sources = sorted({name for r in rows for name in r["source_accuracy"]})
    for r in rows:
        for name in sources:
            r[f"source:{name}"] = r["source_accuracy"].get(name, "-")
        held = r["hold_out_source"]
        r["held_out"] = f"{held} {r['held_out_accuracy']:.4f}" if held and r["held_out_accuracy"] is not None else "-"
    cols += [(f"source:{name}", f"test {name}") for name in sources]
    if any(r["hold_out_source"] for r in rows):
        cols.append(("held_out", "held-out source acc"))

    def fmt(v: object) -> str:
        return "-" if v is None else f"{v:.4f}" if isinstance(v, float) and v <= 1.0 else str(v)

    widths = [max(len(h), *(len(fmt(r[k])) for r in rows)) for k, h in cols]
    print("  ".join(h.ljust(w) for (_, h), w in zip(cols, widths, strict=True)))
    for r in rows:
        print("  ".join(fmt(r[k]).ljust(w) for (k, _), w in zip(cols, widths, strict=True)))
    for r in rows:
        if r["stale_evaluations"]:
            print(
                f"{r['run']}: not shown, measured an earlier model of the run (evaluate again): "
                + ", ".join(r["stale_evaluations"])
            )
    return 0
