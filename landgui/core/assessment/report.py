"""From a labelled sample to the assessment: the tally against the map, the JSON, the CSV, the figure
of map area against estimated area, and the one-page HTML report.

JSON (``assessment.json``, schema ``landgui.assessment`` 1): ``overall``, ``overall_se``,
``overall_ci95`` ([low, high]), ``interval`` (how the SEs were computed: ``agresti-coull``, the
default, or the paper's ``normal``; ``method`` says it in words), ``area_unit`` (``ha`` or ``cells``), ``total_area``; per class under
``classes``: ``users``, ``users_se``, ``users_ci95``, ``producers``, ``producers_se``,
``producers_ci95``, ``area``, ``area_se``, ``area_ci95``, ``map_area``, ``n`` (labelled units of
its stratum); ``uncertain`` (its map area, units, and what its labelled units turned out to be);
``matrix`` (rows: strata, columns: reference classes; ``proportions`` in estimated area
proportions, ``counts`` the sample); ``sample`` (units, labelled, ``cant_tell``, unlabelled, per
stratum); ``design`` (the sample's design file, or null); ``notes``. Undefined values are null.

CSV (``assessment.csv``): one row per estimate, ``measure,class,estimate,se,ci95_low,ci95_high,unit``
with measures ``overall``, ``users``, ``producers``, ``area`` and ``map_area``.

Figure (``assessment.png``): per class, the mapped area (bar) and the estimated area with its 95 %
interval, drawn with :class:`matplotlib.figure.Figure` on an Agg canvas (never pyplot: safe in any
thread). Report (``assessment.html``): one self-contained page (the figure embedded) stating the
design, the sample, the error matrix and the estimates.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from landgui.core.assessment.design import Design, SampleUnit
from landgui.core.assessment.estimate import MIN_PER_STRATUM, REPORT_INTERVAL, Z95, ci95, stratified_estimates
from landgui.core.assessment.mapfile import MapData
from landgui.core.assessment.provenance import taught_notes
from landgui.core.assessment.samplefile import CANT_TELL, normalise_reference
from landgui.core.base.atomic import atomic_path, ensure_writable_dir, write_json_atomic, write_text_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.scenes.grid import UNCERTAIN

SCHEMA_VERSION = 1
FILES = {"json": "assessment.json", "csv": "assessment.csv", "figure": "assessment.png", "html": "assessment.html"}
METHOD = (
    "Stratified estimators of Olofsson et al. (2013, Remote Sensing of Environment 129: 122-131; "
    "2014, 148: 42-57): error matrix in estimated area proportions, accuracies and areas with "
    f"95 % intervals (estimate \u00b1 {Z95} SE)."
)
INTERVAL_TEXT = {  # how the SEs of the intervals were computed (estimate.py's module doc)
    "normal": "SEs as in the paper (its normal-approximation intervals; no width where a stratum's sample holds no error).",
    "agresti-coull": (
        "SEs with Agresti-Coull pseudo-counts in the variance only (each stratum's proportions taken as "
        "(n f + 1.92) / (n + 3.84) over n + 3.84 units; Agresti & Coull 1998), so that a stratum whose "
        "sample holds no error still has an honest interval; the estimates themselves are the paper's."
    ),
}


def tally(
    mapdata: MapData, units: Sequence[SampleUnit], design: Design | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labelled counts ``[stratum, class]``, "can't tell" per stratum, unlabelled per stratum) of
    the units, each placed in its stratum by the map itself. A one-line error when the map is not
    the one the sample was drawn from (a unit's map class differs, its cell is not classified, or
    the strata have other cell counts than the design's)."""
    strata, classes = mapdata.strata, mapdata.labels
    if design is not None:
        cells = [int(c) for c in mapdata.stratum_cells()]
        if design.strata != strata or design.cells != cells:
            raise LandguiError(
                f"the map {mapdata.path} is not the one the sample was drawn from (strata cells now "
                f"{dict(zip(strata, cells, strict=True))}, then {dict(zip(design.strata, design.cells, strict=True))}): "
                "assess the map that was sampled, or draw a new sample"
            )
    counts = np.zeros((len(strata), len(classes)), np.int64)
    cant = np.zeros(len(strata), np.int64)
    todo = np.zeros(len(strata), np.int64)
    for u in units:
        k = mapdata.stratum_of_cell(u.scene, u.row, u.col)
        if k < 0:
            raise LandguiError(f"sample unit {u.id}: its cell is not classified in the map (was the map changed?)")
        if u.map_class and u.map_class != strata[k]:
            raise LandguiError(
                f"sample unit {u.id}: the sample says {u.map_class}, the map now says {strata[k]}: the map was changed "
                "since the sample was drawn; assess the map that was sampled, or draw a new sample"
            )
        try:
            ref = normalise_reference(u.reference, classes)
        except LandguiError as exc:
            raise LandguiError(f"sample unit {u.id}: {exc}") from None
        if not ref:
            todo[k] += 1
        elif ref == CANT_TELL:
            cant[k] += 1
        else:
            counts[k, classes.index(ref)] += 1
    return counts, cant, todo


def _f(v: float) -> float | None:
    """A float for JSON: None for NaN or infinity."""
    return float(v) if v is not None and np.isfinite(v) else None


def assessment(
    mapdata: MapData,
    units: Sequence[SampleUnit],
    design: Design | None = None,
    sample_file: str | Path | None = None,
    interval: str = REPORT_INTERVAL,
) -> dict[str, Any]:
    """The assessment of ``mapdata`` from its labelled sample ``units``: the JSON of the module doc.
    ``interval``: how the SEs are computed (``"agresti-coull"``, the default, or the paper's
    ``"normal"``; see :mod:`landgui.core.assessment.estimate`); named in ``interval`` and ``method``."""
    strata, classes = mapdata.strata, mapdata.labels
    counts, cant, todo = tally(mapdata, units, design)
    areas = mapdata.stratum_areas()
    cells = mapdata.stratum_cells()
    for i, name in enumerate(strata):
        have = int(counts[i].sum())
        if areas[i] > 0 and have < min(MIN_PER_STRATUM, cells[i]):
            raise LandguiError(
                f"stratum {name} has {have} labelled unit(s) ({int(todo[i])} not labelled yet, {int(cant[i])} can't tell): "
                f"the estimates need at least {MIN_PER_STRATUM} labelled units in every stratum"
            )
    est = stratified_estimates(counts, areas, strata, classes, stratum_cells=cells, interval=interval)
    a_total = est.total_area
    k_unc = strata.index(UNCERTAIN)
    out: dict[str, Any] = {
        "schema": "landgui.assessment",
        "schema_version": SCHEMA_VERSION,
        "map": str(mapdata.path),
        "scenes": [s.name for s in mapdata.scenes],
        "sample_file": str(sample_file) if sample_file is not None else None,
        "method": f"{METHOD} {INTERVAL_TEXT[interval]}",
        "interval": interval,
        "area_unit": mapdata.area_unit,
        "total_area": a_total,
        "overall": est.overall,
        "overall_se": est.overall_se,
        "overall_ci95": ci95(est.overall, est.overall_se),
        "classes": {},
    }
    for j, c in enumerate(classes):
        k = strata.index(c)
        ua, ua_se = float(est.users[k]), float(est.users_se[k])
        pa, pa_se = float(est.producers[j]), float(est.producers_se[j])
        area, area_se = float(est.area[j]), float(est.area_se[j])
        out["classes"][c] = {
            "users": _f(ua),
            "users_se": _f(ua_se),
            "users_ci95": ci95(ua, ua_se),
            "producers": _f(pa),
            "producers_se": _f(pa_se),
            "producers_ci95": ci95(pa, pa_se),
            "area": area,
            "area_se": area_se,
            "area_ci95": ci95(area, area_se, 0.0, a_total),
            "map_area": float(est.map_area[k]),
            "n": int(counts[k].sum()),
        }
    rows = [
        i for i, s in enumerate(strata) if s != UNCERTAIN or areas[i] > 0 or counts[i].sum() + cant[i] + todo[i] > 0
    ]
    out["uncertain"] = (
        {
            "map_area": float(est.map_area[k_unc]),
            "n": int(counts[k_unc].sum()),
            "reference": {c: int(counts[k_unc, j]) for j, c in enumerate(classes)},
        }
        if k_unc in rows
        else None
    )
    out["matrix"] = {
        "rows": [strata[i] for i in rows],
        "columns": list(classes),
        "proportions": [[float(v) for v in est.proportions[i]] for i in rows],
        "counts": [[int(v) for v in counts[i]] for i in rows],
    }
    n_all = len(units)
    out["sample"] = {
        "units": n_all,
        "labelled": int(counts.sum()),
        "cant_tell": int(cant.sum()),
        "unlabelled": int(todo.sum()),
        "per_stratum": {
            strata[i]: {"labelled": int(counts[i].sum()), "cant_tell": int(cant[i]), "unlabelled": int(todo[i])}
            for i in rows
        },
    }
    out["design"] = design.to_dict() if design is not None else None
    notes = [*mapdata.notes, *taught_notes(mapdata)]  # a run taught on the scene says so
    if todo.sum():
        notes.append(
            f"{int(todo.sum())} of {n_all} units are not labelled yet: these are interim estimates from the "
            f"{int(counts.sum() + cant.sum())} labelled so far"
        )
    if cant.sum():
        notes.append(
            f"{int(cant.sum())} units were labelled \u201ccan't tell\u201d and are left out of the estimates; "
            "if they differ from the others, the estimates are biased by that much"
        )
    if design is None:
        notes.append("no design file beside the sample: the design is taken to be stratified random by map class")
    perfect = [
        f"{strata[i]} ({int(counts[i].sum())} units)"
        for i in rows
        if strata[i] in classes
        and counts[i].sum() < cells[i]
        and counts[i].sum() == counts[i, classes.index(strata[i])]
        and areas[i] > 0
    ]
    if perfect and interval == "normal":
        notes.append(
            f"no unit of {', '.join(perfect)} is an error: the interval of its user's accuracy has no width, and "
            "the intervals that depend on it are too narrow when errors are rare (with no error among n units, "
            "the accuracy may still be as low as 1 - 3/n); a larger sample of these strata narrows that"
        )
    elif perfect:
        notes.append(
            f"no unit of {', '.join(perfect)} is an error: its intervals allow for errors the sample did not "
            "catch (Agresti-Coull pseudo-counts); a larger sample of these strata narrows them"
        )
    out["notes"] = notes
    return out


def estimates_csv(result: dict[str, Any]) -> str:
    """The assessment's estimates as long-format CSV (see the module doc)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["measure", "class", "estimate", "se", "ci95_low", "ci95_high", "unit"])

    def row(measure: str, cls: str, v: Any, se: Any, ci: Any, unit: str) -> None:
        lo, hi = ci if ci else ("", "")
        w.writerow([measure, cls, "" if v is None else v, "" if se is None else se, lo, hi, unit])

    row("overall", "", result["overall"], result["overall_se"], result["overall_ci95"], "proportion")
    unit = result["area_unit"]
    for c, r in result["classes"].items():
        row("users", c, r["users"], r["users_se"], r["users_ci95"], "proportion")
        row("producers", c, r["producers"], r["producers_se"], r["producers_ci95"], "proportion")
        row("area", c, r["area"], r["area_se"], r["area_ci95"], unit)
        row("map_area", c, r["map_area"], None, None, unit)
    if result.get("uncertain"):
        row("map_area", UNCERTAIN, result["uncertain"]["map_area"], None, None, unit)
    return buf.getvalue()


def area_figure(result: dict[str, Any]) -> Any:
    """A figure of every class's mapped area (bar) and estimated area with its 95 % interval."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(result["classes"])
    mapped = [result["classes"][c]["map_area"] for c in names]
    est = [result["classes"][c]["area"] for c in names]
    ci = [result["classes"][c]["area_ci95"] or [v, v] for c, v in zip(names, est, strict=True)]
    if result.get("uncertain"):
        names.append(UNCERTAIN)
        mapped.append(result["uncertain"]["map_area"])
        est.append(float("nan"))
        ci.append([float("nan"), float("nan")])
    fig = Figure(figsize=(7.5, 0.6 * len(names) + 1.6), tight_layout=True)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    y = np.arange(len(names))[::-1]
    ax.barh(y, mapped, height=0.55, color="#c9d6e3", edgecolor="#7f93a8", label="map (pixel counting)")
    lo = [e - c[0] for e, c in zip(est, ci, strict=True)]
    hi = [c[1] - e for e, c in zip(est, ci, strict=True)]
    ax.errorbar(est, y, xerr=[lo, hi], fmt="o", color="#b2182b", capsize=4, label="estimated, 95 % interval")
    ax.set_yticks(y, names)
    ax.set_xlabel(f"area ({result['area_unit']})")
    ax.set_xlim(left=0)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_title(
        f"Map area and estimated area; overall accuracy {format_pct(result['overall'])} ({format_pct_ci(result['overall_ci95'])})",
        fontsize=10,
    )
    return fig


def format_pct(v: float | None) -> str:
    """A proportion as a percentage with one decimal ("87.5 %"); "-" when undefined."""
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f} %"


def format_pct_ci(ci: list[float] | None) -> str:
    """A 95 % interval of a proportion ("80.1-94.9 %"); "-" when undefined."""
    return "-" if not ci else f"{100 * ci[0]:.1f}-{100 * ci[1]:.1f} %"


def format_area(v: float | None, unit: str) -> str:
    """An area as the report writes it: whole cells, or hectares to two decimals below 100."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.0f}" if unit == "cells" or abs(v) >= 100 else f"{v:,.2f}"


def report_html(result: dict[str, Any], figure_png: bytes | None = None) -> str:
    """The one-page report: the map, the design, the sample, the error matrix, the estimates."""
    e = html.escape
    unit = result["area_unit"]
    d = result.get("design")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Accuracy and area assessment</title>",
        "<style>body{font-family:sans-serif;max-width:980px;margin:1.5em auto;color:#222;font-size:14px}"
        "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}th{background:#eef2f6}h2{margin:1.2em 0 .3em;font-size:1.15em}"
        ".note{color:#7a4a00}.small{color:#555;font-size:12px}</style></head><body>",
        "<h1>Accuracy and area assessment</h1>",
        f"<p><b>Map:</b> {e(result['map'])} ({len(result['scenes'])} scene(s): {e(', '.join(result['scenes']))}); "
        f"mapped area {format_area(result['total_area'], unit)} {e(unit)}.</p>",
        f"<p><b>Overall accuracy: {format_pct(result['overall'])}</b> (95 % interval {format_pct_ci(result['overall_ci95'])}).</p>",
        "<h2>Design</h2>",
    ]
    if d:
        st = d["settings"]
        size = (
            f"n = {d['n']} from a target standard error of overall accuracy of {st['target_se']} (Olofsson et al. 2014, eq. 13)"
            if st.get("target_se") is not None
            else f"n = {d['n']} (given)"
        )
        parts.append(
            f"<p>Stratified random sampling of map cells, strata = the map classes and <i>uncertain</i>; {e(size)}; "
            f"allocation <b>{e(st['allocation'])}</b>"
            + (f" (at least {st['min_per_class']} per stratum)" if st["allocation"] == "recommended" else "")
            + f"; seed {st['seed']}; anticipated standard error of overall accuracy "
            f"{d['anticipated_overall_se']:.4f}.</p>"
        )
        parts.append(
            "<table><tr><th>stratum</th><th>cells</th><th>map area</th><th>share</th><th>units</th>"
            "<th>anticipated user's accuracy</th></tr>"
        )
        total = sum(r["map_area"] for r in d["strata"].values()) or 1.0
        for s, r in d["strata"].items():
            parts.append(
                f"<tr><td>{e(s)}</td><td>{r['cells']:,}</td><td>{format_area(r['map_area'], unit)}</td>"
                f"<td>{100 * r['map_area'] / total:.2f} %</td><td>{r['n']}</td><td>{r['anticipated_users']:.2f}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No design file: stratified random sampling by map class assumed.</p>")
    sm = result["sample"]
    parts += [
        "<h2>Sample</h2>",
        f"<p>{sm['units']} units: {sm['labelled']} labelled with a class, {sm['cant_tell']} \u201ccan't tell\u201d "
        f"(left out), {sm['unlabelled']} not labelled yet.</p>",
        "<table><tr><th>stratum</th><th>labelled</th><th>can't tell</th><th>not labelled</th></tr>",
        *(
            f"<tr><td>{e(s)}</td><td>{r['labelled']}</td><td>{r['cant_tell']}</td><td>{r['unlabelled']}</td></tr>"
            for s, r in sm["per_stratum"].items()
        ),
        "</table>",
        "<h2>Error matrix</h2>",
        "<p class='small'>Rows: map strata; columns: reference classes. Estimated area proportions "
        "p<sub>ij</sub> = W<sub>i</sub> n<sub>ij</sub> / n<sub>i</sub>, sample counts in brackets.</p>",
    ]
    m = result["matrix"]
    parts.append(
        "<table><tr><th>map \\ reference</th>"
        + "".join(f"<th>{e(c)}</th>" for c in m["columns"])
        + "<th>total (W<sub>i</sub>)</th></tr>"
    )
    for s, pr, cn in zip(m["rows"], m["proportions"], m["counts"], strict=True):
        parts.append(
            f"<tr><td>{e(s)}</td>"
            + "".join(f"<td>{p:.4f} ({n})</td>" for p, n in zip(pr, cn, strict=True))
            + f"<td>{sum(pr):.4f}</td></tr>"
        )
    col_tot = [sum(r[j] for r in m["proportions"]) for j in range(len(m["columns"]))]
    parts.append("<tr><th>total</th>" + "".join(f"<th>{v:.4f}</th>" for v in col_tot) + "<th>1.0000</th></tr></table>")
    parts += [
        "<h2>Estimates</h2>",
        f"<table><tr><th>class</th><th>map area ({e(unit)})</th><th>estimated area ({e(unit)})</th>"
        "<th>95 % interval</th><th>user's accuracy</th><th>producer's accuracy</th><th>units</th></tr>",
    ]
    for c, r in result["classes"].items():
        ci = r["area_ci95"]
        parts.append(
            f"<tr><td>{e(c)}</td><td>{format_area(r['map_area'], unit)}</td><td>{format_area(r['area'], unit)}</td>"
            f"<td>{format_area(ci[0], unit)} \u2013 {format_area(ci[1], unit)}</td>"
            f"<td>{format_pct(r['users'])} ({format_pct_ci(r['users_ci95'])})</td>"
            f"<td>{format_pct(r['producers'])} ({format_pct_ci(r['producers_ci95'])})</td><td>{r['n']}</td></tr>"
        )
    if result.get("uncertain"):
        u = result["uncertain"]
        what = ", ".join(f"{c} {k}" for c, k in u["reference"].items() if k) or "none labelled"
        parts.append(
            f"<tr><td>{UNCERTAIN}</td><td>{format_area(u['map_area'], unit)}</td><td colspan='4'>not a land cover: "
            f"its units were {e(what)}</td><td>{u['n']}</td></tr>"
        )
    parts.append("</table>")
    if figure_png:
        parts.append(
            "<p><img alt='map area and estimated area' style='max-width:100%' "
            f"src='data:image/png;base64,{base64.b64encode(figure_png).decode()}'></p>"
        )
    if result["notes"]:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li class='note'>{e(n)}</li>" for n in result["notes"]) + "</ul>")
    parts.append(f"<p class='small'>{e(result['method'])} Written by landgui.</p></body></html>")
    return "\n".join(parts)


def write_outputs(result: dict[str, Any], folder: str | Path) -> dict[str, str]:
    """Write the JSON, the CSV, the figure and the HTML report into ``folder``; returns {kind: path}."""
    out = ensure_writable_dir(folder)
    paths = {k: out / name for k, name in FILES.items()}
    write_json_atomic(paths["json"], result)
    write_text_atomic(paths["csv"], estimates_csv(result))
    buf = io.BytesIO()
    area_figure(result).savefig(buf, format="png", dpi=110)
    png = buf.getvalue()
    with atomic_path(paths["figure"]) as tmp:
        tmp.write_bytes(png)
    write_text_atomic(paths["html"], report_html(result, png))
    return {k: str(p) for k, p in paths.items()}


def summary_text(result: dict[str, Any]) -> str:
    """The assessment in a few lines for a terminal."""
    unit = result["area_unit"]
    sm = result["sample"]
    lines = [
        f"overall accuracy {format_pct(result['overall'])} (95 % interval {format_pct_ci(result['overall_ci95'])}); "
        f"{sm['labelled']} units labelled, {sm['cant_tell']} can't tell, {sm['unlabelled']} not labelled",
        f"{'class':<14}{'map area':>14}{'estimated area (95 % interval)':>40}{'users':>10}{'producers':>11}",
    ]
    for c, r in result["classes"].items():
        ci = r["area_ci95"]
        rng = f"{format_area(r['area'], unit)} ({format_area(ci[0], unit)}-{format_area(ci[1], unit)})"
        lines.append(
            f"{c:<14}{format_area(r['map_area'], unit):>14}{rng:>40}{format_pct(r['users']):>10}{format_pct(r['producers']):>11}"
        )
    if result.get("uncertain"):
        lines.append(f"{UNCERTAIN:<14}{format_area(result['uncertain']['map_area'], unit):>14}")
    lines.append(f"areas in {unit}")
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)
