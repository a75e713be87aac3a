"""``landgui assess``: a stratified sample of a map, and its accuracy and areas from the labelled sample.

    landgui assess sample MAP --n N | --target-se SE [--allocation proportional|equal|recommended]
                          [--min-per-class K] [--anticipated U | CLASS=U,...] --seed S --out FILE
    landgui assess estimate MAP SAMPLE_FILE [--json] [--out FOLDER]

MAP is a mapped scene's ``NAME.summary.json`` or the folder of a many-scene map (what ``landgui
segment`` wrote). :func:`add_parser` adds the command to the CLI's subparsers; :func:`run` runs it
and returns the exit status (LandguiError propagates to the CLI's one-line handler).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from landgui.core.assessment import api
from landgui.core.assessment.design import ALLOCATIONS, MIN_PER_CLASS
from landgui.core.assessment.report import summary_text
from landgui.core.assessment.samplefile import design_path, gpkg_path
from landgui.core.base.errors import LandguiError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``assess`` (with ``sample`` and ``estimate``) to the CLI's subparsers; returns its parser."""
    a = subparsers.add_parser(
        "assess",
        help="accuracy and areas of a map with 95%% intervals from a stratified sample (Olofsson et al. 2014)",
        description="Draw a stratified random sample of a map's cells, label it, then estimate the map's "
        "accuracy and the area of every class with 95 % confidence intervals.",
    )
    sub = a.add_subparsers(dest="assess_command", metavar="{sample,estimate}")
    sub.required = True

    s = sub.add_parser("sample", help="draw a stratified random sample of a map's cells into a sample file")
    s.add_argument("map", metavar="MAP", help="a scene's NAME.summary.json, or the folder of a many-scene map")
    size = s.add_mutually_exclusive_group(required=True)
    size.add_argument("--n", type=int, metavar="N", help="sample size (units)")
    size.add_argument(
        "--target-se",
        type=float,
        metavar="SE",
        help="sample size for this standard error of overall accuracy, e.g. 0.01 (Olofsson et al. 2014, eq. 13)",
    )
    s.add_argument(
        "--allocation",
        choices=ALLOCATIONS,
        default="recommended",
        help="units per stratum: proportional to area, equal, or recommended (at least --min-per-class, "
        "the rest proportional; default)",
    )
    s.add_argument(
        "--min-per-class",
        type=int,
        default=MIN_PER_CLASS,
        metavar="K",
        help=f"units at least per stratum with the recommended allocation (default {MIN_PER_CLASS})",
    )
    s.add_argument(
        "--anticipated",
        metavar="U|CLASS=U,...",
        help="anticipated user's accuracies for --target-se: one number for every class, or CLASS=U pairs "
        "(default 0.85 per class, 0.5 for uncertain)",
    )
    s.add_argument("--seed", type=int, required=True, help="random seed: the same map and seed give the same sample")
    s.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="the sample CSV to write (FILE.gpkg and FILE.design.json beside it)",
    )
    s.add_argument("--overwrite", action="store_true", help="replace an existing sample file (its labels are lost)")
    s.add_argument("--quiet", action="store_true")

    e = sub.add_parser("estimate", help="accuracy and class areas with 95%% intervals from a labelled sample")
    e.add_argument("map", metavar="MAP", help="the map the sample was drawn from")
    e.add_argument(
        "sample_file", metavar="SAMPLE_FILE", help="the labelled sample (CSV, or its GeoPackage labelled in QGIS)"
    )
    e.add_argument("--json", action="store_true", help="print the assessment as JSON")
    e.add_argument("--out", metavar="FOLDER", help="write assessment.json, .csv, .png and .html (the report) here")
    a.set_defaults(func=run)
    return a


def _anticipated(text: str | None) -> float | dict[str, float] | None:
    """``--anticipated``: None, one accuracy, or {class: accuracy} from ``CLASS=U,...``."""
    if text is None:
        return None
    try:
        if "=" not in text:
            return float(text)
        out = {}
        for part in text.split(","):
            if part.strip():
                name, value = part.split("=", 1)
                out[name.strip()] = float(value)
        return out
    except ValueError:
        raise LandguiError(f"--anticipated takes a number or CLASS=U pairs separated by commas, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``landgui assess sample`` or ``landgui assess estimate``; returns the exit status."""
    if args.assess_command == "sample":
        design = api.sample(
            args.map,
            args.out,
            n=args.n,
            target_se=args.target_se,
            allocation=args.allocation,
            min_per_class=args.min_per_class,
            anticipated=_anticipated(args.anticipated),
            seed=args.seed,
            overwrite=args.overwrite,
        )
        if not args.quiet:
            per = ", ".join(f"{s} {k}" for s, k in zip(design.strata, design.per_stratum, strict=True) if k)
            files = [args.out, str(design_path(args.out))]
            if gpkg_path(args.out).exists():
                files.append(str(gpkg_path(args.out)))
            print(
                f"{design.n} units ({design.settings.allocation}: {per}); anticipated standard error of overall "
                f"accuracy {design.anticipated_se:.4f}\nwrote {', '.join(files)}"
            )
        return 0
    if args.assess_command == "estimate":
        result = api.estimate(args.map, args.sample_file, out=args.out)
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            print(summary_text(result))
            if args.out:
                print(f"wrote {', '.join(result['files'].values())}")
        if result["sample"]["unlabelled"]:
            print(
                f"landgui: note: {result['sample']['unlabelled']} units are not labelled yet: interim estimates",
                file=sys.stderr,
            )
        return 0
    raise LandguiError(f"unknown assess command {args.assess_command!r}")
