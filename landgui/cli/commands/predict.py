"""``landgui predict RUN IMAGE...``: class probabilities of single images."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from landgui.cli.common import add_engine
from landgui.core.inference.familiarity import unfamiliar_share, warning_line
from landgui.core.inference.predictors import predict_files


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``predict`` to the CLI's subparsers."""
    pr = sub.add_parser("predict", help="class probabilities of images with a run's model")
    pr.add_argument("run", help="RUN_DIR")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--json", action="store_true")
    pr.add_argument(
        "--adapt",
        action="store_true",
        help="adapt the model to the given images first (needs at least 16; the run is not changed)",
    )
    add_engine(pr)
    pr.set_defaults(func=run)
    return pr


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit status."""
    out = predict_files(args.run, args.images, adapt=args.adapt, engine=args.engine)
    rows, bad, labels = out["predictions"], out["errors"], out["labels"]
    if args.json:
        print(json.dumps({"predictions": rows, "errors": bad}, indent=2))
    else:
        w = max(len(r["path"]) for r in rows)
        print(f"{'image':<{w}}  {'prediction':<12} " + " ".join(f"{lab[:10]:>10}" for lab in labels))
        unf = all("unfamiliar" in r for r in rows)
        for r in rows:
            print(
                f"{r['path']:<{w}}  {r['pred']:<12} "
                + " ".join(f"{r['probs'][lab]:>10.4f}" for lab in labels)
                + (f"  unfamiliar {r['unfamiliar']:.2f}" if unf else "")
            )

        line = (
            warning_line(unfamiliar_share(np.array([r["unfamiliar"] for r in rows])), "these images") if unf else None
        )
        if line:
            print(f"landgui: warning: {line}", file=sys.stderr)
        for b in bad:
            print(f"{b['path']}: cannot read ({b['error']})", file=sys.stderr)
    return 0 if not bad else 1
