"""The assessment's two verbs for the CLI and the Python API: draw a sample of a map, estimate from it.

``sample("maps/scene.summary.json", "assess/sample.csv", n=300, seed=1)`` writes the sample; someone
fills its ``reference`` column (the app's labelling screen, QGIS on ``sample.gpkg``, a script); then
``estimate("maps/scene.summary.json", "assess/sample.csv", out="assess/report")`` returns the
assessment (``result["overall"]``, ``result["classes"]["water"]["area_ci95"]``, ...) and writes the
report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landgui.core.assessment.design import Design, SampleSettings, draw, plan
from landgui.core.assessment.mapfile import read_map
from landgui.core.assessment.report import assessment, write_outputs
from landgui.core.assessment.samplefile import (
    gpkg_path,
    read_design,
    read_sample,
    write_design,
    write_sample_csv,
    write_sample_gpkg,
)
from landgui.core.base.atomic import ensure_writable_dir
from landgui.core.base.errors import LandguiError


def sample(
    map_path: str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    target_se: float | None = None,
    allocation: str = "recommended",
    min_per_class: int | None = None,
    anticipated: dict[str, float] | float | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Design:
    """Draw a stratified random sample of a map's cells and write it: ``out`` (the CSV), beside it
    ``.design.json`` and, for georeferenced scenes, ``.gpkg``. ``map_path``: a scene's
    ``NAME.summary.json`` or the folder of a many-scene map. Size: ``n`` units, or enough for a
    standard error ``target_se`` of overall accuracy (eq. 13 of Olofsson et al. 2014) given the
    ``anticipated`` user's accuracies (one number for every class, or ``{class: accuracy}``).
    Refuses to replace an existing sample (its labels would be lost) unless ``overwrite``."""
    settings = SampleSettings(n=n, target_se=target_se, allocation=allocation, seed=seed)
    if min_per_class is not None:
        settings.min_per_class = min_per_class
    if isinstance(anticipated, dict):
        settings.anticipated = {str(k): float(v) for k, v in anticipated.items()}
    elif anticipated is not None:
        settings.anticipated_default = float(anticipated)
    settings.check()
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise LandguiError(f"the sample file must be a .csv, got {out.name}")
    if out.exists() and not overwrite:
        raise LandguiError(f"{out} exists (its labels would be lost): choose another file, or overwrite it")
    ensure_writable_dir(out.parent, "the sample's folder")
    mapdata = read_map(map_path)
    design = plan(mapdata, settings)
    units = draw(mapdata, design)
    write_sample_csv(out, units)
    write_design(out, design, mapdata)
    gp = gpkg_path(out)
    if any(s.georeferenced for s in mapdata.scenes):
        write_sample_gpkg(gp, units, mapdata)
    elif gp.exists() and overwrite:
        gp.unlink()
    return design


def estimate(map_path: str | Path, sample_file: str | Path, *, out: str | Path | None = None) -> dict[str, Any]:
    """The accuracy and the areas of a map from its labelled sample (a CSV, or the GeoPackage
    labelled in QGIS): the assessment JSON as a dict (see :mod:`landgui.core.assessment.report`).
    With ``out``, also writes ``assessment.json``, ``.csv``, ``.png`` and ``.html`` there (their
    paths under the key ``files``)."""
    mapdata = read_map(map_path)
    units = read_sample(sample_file)
    design = read_design(sample_file)
    result = assessment(mapdata, units, design, sample_file)
    if out is not None:
        result["files"] = write_outputs(result, out)
    return result


__all__ = ["sample", "estimate"]
