"""The sampling design: stratified random sampling of a map's cells (Olofsson et al. 2014, section 4).

Strata are the map classes and ``uncertain`` (cells coded 254); cells that were not classified
(255) are never sampled. Within a stratum, cells are drawn with equal probability and without
replacement; the units are then put in a random order, so that labelling them in file order never
reveals the stratum (the map class) and a half-labelled sample is still a random subsample.

Sample size: either given (``n``) or from a target standard error of the overall accuracy with
eq. 13 of the paper, ``n = (sum_i W_i S_i / S(O))^2`` with ``S_i = sqrt(U_i (1 - U_i))`` and the
anticipated user's accuracies ``U_i`` (:data:`ANTICIPATED_USERS` for the classes and
:data:`ANTICIPATED_UNCERTAIN` for ``uncertain`` unless given).

Allocation of ``n`` to the strata:

``proportional``
    ``n_i`` proportional to the stratum's map area ``W_i`` (rare classes get few units), but at
    least two (or all its cells), the estimators' minimum.
``equal``
    the same number for every stratum with cells.
``recommended`` (the default)
    the paper's advice: every stratum gets at least ``min_per_class`` units (or all its cells), the
    rest is proportional to area; strata whose proportional share is below the minimum get the
    minimum and the others share the remainder in proportion to their areas. With a target
    standard error, ``n`` is raised to the sum of the minimums if eq. 13 gives less.

Counts are rounded by largest remainder, so they add up to ``n`` exactly; no stratum gets more
units than it has cells, and a design that leaves a stratum with map area fewer than two units
(the estimators' variance needs two) is refused. The draw uses NumPy's ``default_rng(seed)``: the same map, settings and
seed give the same sample.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from landgui.core.assessment.estimate import MIN_PER_STRATUM
from landgui.core.assessment.mapfile import MapData
from landgui.core.base.errors import LandguiError
from landgui.core.scenes.grid import UNCERTAIN

ALLOCATIONS = ("proportional", "equal", "recommended")
MIN_PER_CLASS = 50  # the paper's advice is 50-100 units per stratum
ANTICIPATED_USERS = 0.85  # anticipated user's accuracy of a class stratum when none is given
ANTICIPATED_UNCERTAIN = 0.5  # the model is unsure there: the largest variance
SCHEMA_VERSION = 1
MAX_UNITS = 1_000_000
MIN_UNITS = MIN_PER_STRATUM  # units every stratum with cells needs (or all its cells)


@dataclass
class SampleSettings:
    """How to draw a sample: its size (``n``, or ``target_se`` of the overall accuracy), the
    allocation to the strata and the seed. The CLI, the GUI and the API check them the same way."""

    n: int | None = None
    target_se: float | None = None
    allocation: str = "recommended"
    min_per_class: int = MIN_PER_CLASS
    anticipated: dict[str, float] = field(default_factory=dict)  # class -> anticipated user's accuracy
    anticipated_default: float = ANTICIPATED_USERS
    seed: int = 0

    def check(self) -> None:
        """A one-line LandguiError for settings that cannot make a sample."""
        if (self.n is None) == (self.target_se is None):
            raise LandguiError("give either a sample size (--n) or a target standard error (--target-se), not both")
        if self.n is not None and not 1 <= self.n <= MAX_UNITS:
            raise LandguiError(f"--n must be between 1 and {MAX_UNITS:,}, got {self.n}")
        if self.target_se is not None and not 0 < self.target_se < 0.5:
            raise LandguiError(f"--target-se must be between 0 and 0.5 (e.g. 0.01), got {self.target_se}")
        if self.allocation not in ALLOCATIONS:
            raise LandguiError(f"unknown allocation {self.allocation!r}; choose from {', '.join(ALLOCATIONS)}")
        if self.min_per_class < 0:
            raise LandguiError(f"--min-per-class must be 0 or more, got {self.min_per_class}")
        for name, u in {**self.anticipated, "(default)": self.anticipated_default}.items():
            if not 0 < u <= 1:
                raise LandguiError(f"anticipated user's accuracy of {name} must be in (0, 1], got {u}")
        if self.seed < 0:
            raise LandguiError(f"--seed must be 0 or more, got {self.seed}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values, with the schema version."""
        return {"schema_version": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleSettings:
        """Settings from :meth:`to_dict` (unknown keys are ignored, missing ones take defaults)."""
        keys = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in keys})


@dataclass
class Design:
    """A planned sample: the strata, their cells and map areas, and the units drawn from each."""

    settings: SampleSettings
    strata: list[str]
    cells: list[int]  # N_i: cells of every stratum
    map_area: list[float]  # the map's area of every stratum, in ``area_unit``
    area_unit: str
    n: int  # total sample size
    per_stratum: list[int]  # n_i
    anticipated_users: list[float]  # U_i used for the size and the anticipated SE
    anticipated_se: float  # the SE of overall accuracy this allocation gives if the U_i hold

    def to_dict(self) -> dict[str, Any]:
        """The design as JSON (the sample file's ``.design.json``): what the report states."""
        return {
            "schema": "landgui.assessment.design",
            "schema_version": SCHEMA_VERSION,
            "design": "stratified random sampling of map cells, strata = map classes and uncertain",
            "settings": self.settings.to_dict(),
            "strata": {
                s: {"cells": c, "map_area": a, "n": k, "anticipated_users": u}
                for s, c, a, k, u in zip(
                    self.strata, self.cells, self.map_area, self.per_stratum, self.anticipated_users, strict=True
                )
            },
            "area_unit": self.area_unit,
            "n": self.n,
            "anticipated_overall_se": self.anticipated_se,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Design:
        """A design from :meth:`to_dict`."""
        strata = list(d["strata"])
        rows = [d["strata"][s] for s in strata]
        return cls(
            settings=SampleSettings.from_dict(d.get("settings", {})),
            strata=strata,
            cells=[int(r["cells"]) for r in rows],
            map_area=[float(r["map_area"]) for r in rows],
            area_unit=d.get("area_unit", ""),
            n=int(d["n"]),
            per_stratum=[int(r["n"]) for r in rows],
            anticipated_users=[float(r.get("anticipated_users", ANTICIPATED_USERS)) for r in rows],
            anticipated_se=float(d.get("anticipated_overall_se", float("nan"))),
        )


def sample_size(weights: np.ndarray | list, anticipated_users: np.ndarray | list, target_se: float) -> int:
    """Eq. 13 of Olofsson et al. (2014): the total sample size that gives a standard error
    ``target_se`` of the overall accuracy, ``n = (sum_i W_i S_i / S(O))^2``, rounded up."""
    w = np.asarray(weights, np.float64)
    u = np.asarray(anticipated_users, np.float64)
    s = np.sqrt(u * (1 - u))
    return max(1, math.ceil(round(float((w * s).sum() / target_se) ** 2, 9)))


def anticipated_se(
    weights: np.ndarray | list, anticipated_users: np.ndarray | list, per_stratum: np.ndarray | list
) -> float:
    """The standard error of the overall accuracy that an allocation gives if the anticipated user's
    accuracies hold: ``sqrt(sum_i W_i^2 U_i (1 - U_i) / n_i)`` over the strata with units."""
    w, u, n = (np.asarray(a, np.float64) for a in (weights, anticipated_users, per_stratum))
    ok = n > 0
    if (w[~ok] > 0).any():
        return float("inf")
    return float(np.sqrt((w[ok] ** 2 * u[ok] * (1 - u[ok]) / n[ok]).sum()))


def allocate(
    cells: np.ndarray | list, weights: np.ndarray | list, n: int, allocation: str, min_per_class: int = MIN_PER_CLASS
) -> np.ndarray:
    """Units per stratum (adding up to ``n``) for ``cells`` (N_i) and map-area shares ``weights``;
    see the module doc for the allocations."""
    caps = np.asarray(cells, np.int64)
    w = np.where(caps > 0, np.asarray(weights, np.float64), 0.0)
    live = caps > 0
    if n > caps.sum():
        raise LandguiError(f"a sample of {n} units is more than the map's {int(caps.sum())} classified cells")
    if allocation == "equal":
        return _share(np.zeros_like(caps), live.astype(np.float64) + 1e-9 * w, caps, n)
    if allocation not in ("recommended", "proportional"):
        raise LandguiError(f"unknown allocation {allocation!r}; choose from {', '.join(ALLOCATIONS)}")
    least = min_per_class if allocation == "recommended" else MIN_UNITS
    floor = np.minimum(caps, least) * live
    if floor.sum() > n:
        raise LandguiError(
            f"a sample of {n} cannot give {least} units to each of the {int(live.sum())} strata "
            f"(it needs at least {int(floor.sum())})"
            + (": raise --n or lower --min-per-class" if allocation == "recommended" else ": raise --n")
        )
    fixed = np.zeros(len(caps), bool)
    while True:  # strata below their minimum take it; the others share the rest by area
        free = live & ~fixed
        rest = n - floor[fixed].sum()
        share = np.where(free, rest * w / max(w[free].sum(), 1e-300), 0.0)
        low = free & (share < floor)
        if not low.any():
            break
        fixed |= low
    base = np.where(fixed, floor, 0)
    return _share(base, np.where(fixed, 0.0, w), caps, n)


def _share(base: np.ndarray, w: np.ndarray, caps: np.ndarray, n: int) -> np.ndarray:
    """``base`` plus the remaining ``n - sum(base)`` units shared in proportion to ``w`` among the
    strata with ``w > 0``, never over ``caps`` (the excess goes to the others), by largest remainder."""
    out = base.astype(np.int64).copy()
    open_ = (w > 0) & (out < caps)
    while True:
        rest = n - out.sum()
        if rest <= 0 or not open_.any():
            break
        share = np.where(open_, rest * w / w[open_].sum(), 0.0)
        over = open_ & (out + share >= caps)
        if over.any():  # these strata are sampled whole; share again among the others
            out[over] = caps[over]
            open_ &= ~over
            continue
        whole = np.floor(share).astype(np.int64)
        left = int(rest - whole.sum())
        frac = share - whole
        order = sorted(np.flatnonzero(open_), key=lambda i: (-frac[i], -w[i], i))
        for i in order[:left]:
            whole[i] += 1
        out += whole
        break
    if out.sum() != n:
        raise LandguiError(f"cannot allocate {n} units to strata of {caps.tolist()} cells")
    return out


def plan(mapdata: MapData, settings: SampleSettings) -> Design:
    """The design of a sample of ``mapdata``: the sample size (given, or from the target standard
    error by eq. 13) and its allocation to the strata."""
    settings.check()
    strata = mapdata.strata
    unknown = set(settings.anticipated) - set(strata)
    if unknown:
        raise LandguiError(
            f"anticipated accuracy for unknown class(es) {sorted(unknown)}; the map has {', '.join(strata)}"
        )
    cells = mapdata.stratum_cells()
    areas = mapdata.stratum_areas()
    if cells.sum() == 0 or areas.sum() <= 0:
        raise LandguiError(f"the map {mapdata.path} has no classified cell to sample")
    w = areas / areas.sum()
    u = np.array(
        [
            settings.anticipated.get(s, ANTICIPATED_UNCERTAIN if s == UNCERTAIN else settings.anticipated_default)
            for s in strata
        ]
    )
    n = settings.n if settings.n is not None else sample_size(w, u, float(settings.target_se or 0))
    if settings.target_se is not None and settings.allocation == "recommended":
        n = max(n, int((np.minimum(cells, settings.min_per_class) * (cells > 0)).sum()))
    n = min(n, int(cells.sum()))
    per = allocate(cells, w, n, settings.allocation, settings.min_per_class)
    short = [f"{s} {k}" for s, k, c in zip(strata, per, cells, strict=True) if c > 0 and k < min(MIN_UNITS, c)]
    if short:
        raise LandguiError(
            f"the {settings.allocation} allocation of {n} units gives too few to {', '.join(short)}: the estimates "
            f"need at least {MIN_UNITS} per stratum; use --allocation recommended or a larger sample"
        )
    return Design(
        settings=settings,
        strata=list(strata),
        cells=[int(c) for c in cells],
        map_area=[float(a) for a in areas],
        area_unit=mapdata.area_unit,
        n=int(per.sum()),
        per_stratum=[int(k) for k in per],
        anticipated_users=[float(x) for x in u],
        anticipated_se=anticipated_se(w, u, per),
    )


@dataclass
class SampleUnit:
    """One sample unit: a cell of a scene, where it is, its map class and (once labelled) its
    reference class (``""`` until labelled, ``"can't tell"`` when the labeller could not say)."""

    id: int
    scene: str
    row: int
    col: int
    x: float
    y: float
    map_class: str
    reference: str = ""


def draw(mapdata: MapData, design: Design) -> list[SampleUnit]:
    """Draw the sample of ``design`` from ``mapdata``: ``n_i`` cells of every stratum at random
    without replacement, then all units in a random order, ids 1..n in that order."""
    rng = np.random.default_rng(design.settings.seed)
    strata = mapdata.strata
    # every classified cell of the map, numbered scene by scene in the map's order
    per_scene = [mapdata.strata_of(s.codes).ravel() for s in mapdata.scenes]
    offsets = np.cumsum([0, *(len(a) for a in per_scene)])
    all_idx = np.concatenate(per_scene)
    chosen: list[tuple[int, int]] = []  # (global cell index, stratum)
    for k, name in enumerate(strata):
        want = design.per_stratum[k]
        if want == 0:
            continue
        pool = np.flatnonzero(all_idx == k)
        if len(pool) != design.cells[k]:
            raise LandguiError(
                f"stratum {name} has {len(pool)} cells, the design {design.cells[k]}: was the map changed?"
            )
        pick = np.sort(rng.choice(len(pool), size=want, replace=False))
        chosen += [(int(pool[i]), k) for i in pick]
    order = rng.permutation(len(chosen))
    units = []
    for uid, j in enumerate(order, start=1):
        g, k = chosen[j]
        si = int(np.searchsorted(offsets, g, side="right") - 1)
        scene = mapdata.scenes[si]
        row, col = divmod(g - int(offsets[si]), scene.codes.shape[1])
        x, y = scene.centre(row, col)
        units.append(SampleUnit(uid, scene.name, row, col, x, y, strata[k]))
    return units
