"""The guard that keeps a reduced-precision model's answers, run once when a run's fast model is made
(at the end of training, :func:`landgui.core.inference.engine.guard_fast_model`, or on first use).

A faster engine is used only where it gives the run's own answers: on the run's validation images
(never on data held out for reporting), its argmax must agree with float32 on at least
:data:`MIN_AGREEMENT` of the images, and its accuracy on each training source must stay within
:data:`MAX_DROP_POINTS` of float32's. :func:`make_fast_model` tries split points of the network
(:mod:`landgui.core.inference.openvino_engine`) from the most bfloat16 to the least and keeps the
first that passes; the result, passed or not, is written beside the LiteRT file as
``model.fast.json`` with the file's SHA-256, so a changed model is guarded again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landgui import __version__
from landgui.core.base.atomic import write_json_atomic
from landgui.core.base.errors import LandguiError
from landgui.core.base.paths import file_sha256
from landgui.core.base.types import ProgressFn
from landgui.core.data.images import load_resized, split_files
from landgui.core.data.split import load_split
from landgui.core.inference import openvino_engine as ov_engine
from landgui.core.inference.predictor import FilePredictor

MIN_AGREEMENT = 0.995
MAX_DROP_POINTS = 0.3
GUARD_FILE = "model.fast.json"
MAX_IMAGES = 3000  # validation images the guard reads at most (stratified by class and source)
# where to split, as a fraction of the network's block boundaries kept in float32: the fastest first
CUT_FRACTIONS = (0.1, 0.2, 0.3, 0.5)


@dataclass
class GuardResult:
    """One candidate's measurement against float32 on the validation images."""

    engine: str
    cut: int | None
    images: int
    agreement: float
    accuracy: dict[str, list[float]] = field(default_factory=dict)  # source -> [float32 %, candidate %]
    passed: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values."""
        return asdict(self)


@dataclass
class ValidationSet:
    """The images the guard measures on: (N, S, S, 3) float32, true class indices, sources."""

    images: np.ndarray
    truth: np.ndarray
    sources: list[str]


def check(
    reference: np.ndarray, candidate: np.ndarray, val: ValidationSet, engine: str, cut: int | None
) -> GuardResult:
    """Judge a candidate's probabilities against the reference's (float32) on ``val``."""
    ref, cand = reference.argmax(1), candidate.argmax(1)
    agreement = float(np.mean(ref == cand)) if len(ref) else 0.0
    acc, worst = {}, 0.0
    for src in sorted(set(val.sources)):
        m = np.array([s == src for s in val.sources])
        a_ref = float(np.mean(ref[m] == val.truth[m]) * 100)
        a_cand = float(np.mean(cand[m] == val.truth[m]) * 100)
        acc[src or "(all)"] = [round(a_ref, 3), round(a_cand, 3)]
        worst = max(worst, a_ref - a_cand)
    reasons = []
    if agreement < MIN_AGREEMENT:
        reasons.append(f"agreement {agreement * 100:.2f} % < {MIN_AGREEMENT * 100:.1f} %")
    if worst > MAX_DROP_POINTS:
        reasons.append(f"accuracy drops {worst:.2f} points on a source (> {MAX_DROP_POINTS})")
    if not np.isfinite(candidate).all():
        reasons.append("non-finite probabilities")
    return GuardResult(engine, cut, len(ref), round(agreement * 100, 3), acc, not reasons, "; ".join(reasons))


def validation_set(
    config: dict, labels: list[str], image_size: int, max_images: int = MAX_IMAGES
) -> ValidationSet | None:
    """The run's validation images (every class and source, evenly thinned to ``max_images``), or
    None when the run's split is not readable here (a shipped model, a moved dataset)."""
    try:
        manifest = load_split(config["split"])
        files, _ = split_files(manifest, "val", labels, missing_ok=True)
    except (KeyError, LandguiError, OSError):
        return None
    if not files.paths:
        return None
    keep = np.arange(len(files.paths))
    if len(keep) > max_images:
        keep = np.linspace(0, len(keep) - 1, max_images).round().astype(int)
    images = np.stack([load_resized(files.paths[i], image_size) for i in keep]).astype(np.float32)
    sources = [files.sources[i] if files.sources else "" for i in keep]
    return ValidationSet(images, files.labels[keep], sources)


def _predict(predictor: Any, images: np.ndarray, batch: int = 64) -> np.ndarray:
    return np.concatenate([predictor(images[i : i + batch]) for i in range(0, len(images), batch)])


def make_fast_model(reference: FilePredictor, val: ValidationSet | None, progress: ProgressFn | None = None) -> dict:
    """Guard the run's reduced-precision engine and write ``model.fast.json`` beside its LiteRT file.

    ``reference``: the run's float32 LiteRT predictor. Returns what was written: the tried
    candidates and the one chosen (None when none passed, OpenVINO is missing, the CPU has no
    native bfloat16, or there are no validation images)."""
    path = Path(reference.path)
    record: dict[str, Any] = {
        "schema": "landgui.fast_model",
        "tflite_sha256": file_sha256(path),
        "landgui_version": __version__,
        "cpu": ov_engine.cpu_name(),
        "min_agreement": MIN_AGREEMENT * 100,
        "max_drop_points": MAX_DROP_POINTS,
        "tried": [],
        "chosen": None,
    }
    if not ov_engine.openvino_available():
        record["skipped"] = "OpenVINO is not installed"
    elif not ov_engine.native_bf16():
        record["skipped"] = "this CPU has no native bfloat16"
    elif val is None:
        record["skipped"] = "no validation images"
    else:
        record["openvino"] = _openvino_version()
        record["images"] = len(val.truth)
        ref = _predict(reference, val.images)
        cuts = ov_engine.cut_points(path)
        for i, frac in enumerate(CUT_FRACTIONS):
            if progress:
                progress("checking the fast model's answers", i, len(CUT_FRACTIONS))
            cut = cuts[min(len(cuts) - 1, int(len(cuts) * frac))] if cuts else None
            if cut is None:
                break
            cand = ov_engine.OpenVINOPredictor(
                path, reference.run_dir, reference.labels, reference.image_size, 2, reference.head, cut=cut
            )
            result = check(ref, _predict(cand, val.images), val, ov_engine.ENGINE_BF16, cut)
            record["tried"].append(result.to_dict())
            if result.passed:
                record["chosen"] = result.to_dict()
                break
    write_json_atomic(path.parent / GUARD_FILE, record)
    return record


def _openvino_version() -> str:
    import openvino as ov

    return ov.__version__


def read_fast_model(tflite: Path) -> dict | None:
    """The guard's record for this LiteRT file, if one was made from its current bytes."""
    try:
        record = json.loads((Path(tflite).parent / GUARD_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("tflite_sha256") != file_sha256(tflite):
        return None
    return record


def chosen_cut(tflite: Path) -> int | None:
    """The split point whose guard passed for this file, or None (no fast model to use)."""
    record = read_fast_model(tflite) or {}
    chosen = record.get("chosen")
    if isinstance(chosen, dict) and chosen.get("passed") and isinstance(chosen.get("cut"), int):
        return chosen["cut"]
    return None
