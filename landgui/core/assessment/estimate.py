"""The stratified estimators of accuracy and area of Olofsson et al. (2013, 2014), in NumPy.

Notation of Olofsson et al. (2014, RSE 148: 42-57, section 5): strata ``i`` (the map classes, and
``uncertain``), reference classes ``j``; ``n_ij`` labelled sample units of stratum ``i`` whose
reference class is ``j``, ``n_i`` those of stratum ``i``; ``W_i`` the share of the map's area in
stratum ``i`` (from the map, not from the sample). Then

- the error matrix in estimated area proportions: ``p_ij = W_i n_ij / n_i`` (eq. 4);
- the area of class ``j``: ``A p_.j`` with ``p_.j = sum_i p_ij`` (eq. 9) and standard error
  ``A sqrt(sum_i W_i^2 f_ij (1 - f_ij) / (n_i - 1))``, ``f_ij = n_ij / n_i`` (eq. 10);
- user's accuracy of stratum ``i`` (its share of units whose reference is its own class)
  ``U_i = f_ii`` with variance ``U_i (1 - U_i) / (n_i - 1)`` (eq. 2 and 6);
- producer's accuracy of class ``j`` ``P_j = p_jj / p_.j`` with the variance of eq. 7;
- overall accuracy ``O = sum_j p_jj`` with variance ``sum_i W_i^2 U_i (1 - U_i) / (n_i - 1)`` (eq. 5).

The strata need not be the reference classes: the ``uncertain`` stratum has no class of its own,
so none of its units is "correct"; it lowers the overall accuracy and the producer's accuracy of
the classes its cells really are. Intervals are ``estimate +/- 1.96 SE``, clipped to what the
quantity can be (0-1 for accuracies, 0 to the map's area for areas). The variances have no
finite-population correction (as in the paper): where a large share of a stratum is sampled they
are conservative.

Two ways to get the SE (``interval``); the point estimates are the same in both:

``"normal"`` (the paper's, the default of :func:`stratified_estimates`)
    the variances above, with the sample proportions ``f_ij``. Reproduces the paper's worked example
    to its printed digits; but a stratum whose sample holds no error (``f_ii = 1``) adds no variance,
    so where errors are rare the intervals are too narrow (a Wald interval near 0 or 1).
``"agresti-coull"`` (what the assessment report uses: :data:`REPORT_INTERVAL`)
    the same stratified variances with every per-stratum binomial proportion ``f`` (``f_ij`` for an
    area, ``f_ii`` for an accuracy) replaced in the variance only by Agresti and Coull's adjusted
    proportion ``(n f + z^2/2) / (n + z^2)`` over ``n + z^2`` units (z = 1.96: about two
    pseudo-successes and two pseudo-failures; Agresti & Coull 1998, The American Statistician 52:
    119-126, "approximate is better than exact"), i.e. ``V(f) = f~ (1 - f~) / (n_i + z^2)``. A
    stratum with no sampled error then still adds ``W_i^2 f~ (1 - f~) / (n_i + z^2)``, about the
    variance of one or two errors in its sample. The rule is fixed from the literature (the "plus
    four" rule), not fitted to any data; it is the per-stratum form of the adjusted intervals that
    Franco, Little, Louis and Slud (2019, J. Survey Statistics and Methodology 7: 334-364) find
    better calibrated than Wald's for proportions from stratified samples. A stratum labelled in
    full still adds no variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from landgui.core.base.errors import LandguiError

Z95 = 1.96  # the paper's multiplier for 95 % intervals
MIN_PER_STRATUM = 2  # labelled units a stratum with map area needs (its variance divides by n_i - 1)
INTERVALS = ("normal", "agresti-coull")  # the paper's Wald intervals; Agresti-Coull pseudo-counts in the variance
REPORT_INTERVAL = "agresti-coull"  # what the assessment report uses


@dataclass
class StratifiedEstimates:
    """What a labelled stratified sample says about a map. Arrays are indexed by ``strata`` (S)
    or ``classes`` (C); NaN where a quantity is undefined (the user's accuracy of ``uncertain``,
    the producer's accuracy of a class no unit turned out to be)."""

    strata: list[str]
    classes: list[str]
    counts: np.ndarray  # (S, C) labelled sample units n_ij
    weights: np.ndarray  # (S,) W_i, the strata's shares of the map's area
    total_area: float  # A, the map's area in the caller's unit
    proportions: np.ndarray  # (S, C) p_ij, the error matrix in estimated area proportions
    area_share: np.ndarray  # (C,) p_.j
    area_share_se: np.ndarray  # (C,)
    users: np.ndarray  # (S,) U_i
    users_se: np.ndarray  # (S,)
    producers: np.ndarray  # (C,) P_j
    producers_se: np.ndarray  # (C,)
    overall: float
    overall_se: float
    interval: str = "normal"  # how the SEs were computed: one of INTERVALS

    @property
    def area(self) -> np.ndarray:
        """Estimated area of every class (``A p_.j``), in the unit of the strata areas."""
        return self.total_area * self.area_share

    @property
    def area_se(self) -> np.ndarray:
        """Standard error of each class's estimated area."""
        return self.total_area * self.area_share_se

    @property
    def map_area(self) -> np.ndarray:
        """Area of every stratum as mapped (pixel counting), in the unit of the strata areas."""
        return self.total_area * self.weights


def ci95(value: float, se: float, low: float = 0.0, high: float = 1.0) -> list[float] | None:
    """The 95 % interval ``value +/- 1.96 se`` clipped to [low, high]; None when undefined."""
    if not (np.isfinite(value) and np.isfinite(se)):
        return None
    return [float(max(low, value - Z95 * se)), float(min(high, value + Z95 * se))]


def stratified_estimates(
    counts: np.ndarray | list,
    stratum_areas: np.ndarray | list,
    strata: list[str],
    classes: list[str],
    stratum_cells: np.ndarray | list | None = None,
    interval: str = "normal",
) -> StratifiedEstimates:
    """Olofsson et al.'s estimates from the labelled sample counts ``counts[i, j]`` (stratum ``i``,
    reference class ``j``) and the map's area of every stratum. A stratum and a class are the same
    map class when they have the same name. Strata with no map area may have no units; every
    stratum with map area needs at least two labelled units (one line naming it otherwise), unless
    ``stratum_cells`` (the cells of every stratum) shows that it was sampled whole: a stratum labelled
    in full is known exactly and adds no variance. ``interval`` picks the SEs (module doc):
    ``"normal"``, the paper's, or ``"agresti-coull"``; the point estimates do not depend on it."""
    if interval not in INTERVALS:
        raise LandguiError(f"unknown interval {interval!r}: one of {', '.join(INTERVALS)}")
    n_ij = np.asarray(counts, dtype=np.float64)
    areas = np.asarray(stratum_areas, dtype=np.float64)
    if n_ij.shape != (len(strata), len(classes)) or areas.shape != (len(strata),):
        raise LandguiError(
            f"counts {n_ij.shape} and strata areas {areas.shape} do not match {len(strata)} strata x {len(classes)} classes"
        )
    if (n_ij < 0).any() or (areas < 0).any() or not np.isfinite(areas).all():
        raise LandguiError("sample counts and strata areas must be finite and not negative")
    total = float(areas.sum())
    if total <= 0:
        raise LandguiError("the map has no area in any stratum")
    n_i = n_ij.sum(axis=1)
    w = areas / total
    whole = np.zeros(len(strata), bool) if stratum_cells is None else (n_i >= np.asarray(stratum_cells)) & (n_i > 0)
    for i, name in enumerate(strata):
        if w[i] > 0 and n_i[i] < MIN_PER_STRATUM and not whole[i]:
            raise LandguiError(
                f"stratum {name} ({w[i]:.2%} of the map) has {int(n_i[i])} labelled sample unit(s); "
                f"the estimates need at least {MIN_PER_STRATUM} in every stratum with map area"
            )
        if w[i] == 0 and n_i[i] > 0:
            raise LandguiError(f"stratum {name} has sample units but no area in the map: was the map changed?")

    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n_i[:, None] > 0, n_ij / np.maximum(n_i[:, None], 1), 0.0)  # f_ij = n_ij / n_i
        inv = np.where((n_i > 1) & ~whole, 1.0 / np.maximum(n_i - 1, 1), 0.0)  # 1 / (n_i - 1); 0: no variance
    p = w[:, None] * f
    own = np.array([classes.index(s) if s in classes else -1 for s in strata])  # the stratum's class
    correct = np.array([f[i, own[i]] if own[i] >= 0 else 0.0 for i in range(len(strata))])
    if interval == "normal":
        f_v, inv_v = f, inv  # the paper's: the sample proportions over n_i - 1
    else:  # Agresti-Coull: (n f + z^2/2) / (n + z^2) over n + z^2, in the variance only
        z2 = Z95**2
        f_v = (n_ij + z2 / 2) / (n_i[:, None] + z2)
        inv_v = np.where((n_i > 0) & ~whole, 1.0 / (n_i + z2), 0.0)
    correct_v = np.array([f_v[i, own[i]] if own[i] >= 0 else 0.0 for i in range(len(strata))])
    var_f = f_v * (1 - f_v) * inv_v[:, None]  # V(f_ij) without fpc, as in eq. 6 and 10
    var_u = correct_v * (1 - correct_v) * inv_v  # V(U_i); 0 for a stratum with no class of its own
    area_share = p.sum(axis=0)
    area_share_se = np.sqrt((w[:, None] ** 2 * var_f).sum(axis=0))

    overall = float((w * correct).sum())
    overall_se = float(np.sqrt((w**2 * var_u).sum()))
    users = np.where((own >= 0) & (n_i > 0), correct, np.nan)
    users_se = np.where((own >= 0) & (n_i > 0), np.sqrt(var_u), np.nan)

    producers = np.full(len(classes), np.nan)
    producers_se = np.full(len(classes), np.nan)
    for j, name in enumerate(classes):
        nhat = area_share[j]  # N^_.j / N: the estimated share of class j
        if nhat <= 0:
            continue  # no unit of the sample is class j: its producer's accuracy is undefined
        s = strata.index(name) if name in strata else -1
        pjj = p[s, j] if s >= 0 else 0.0
        pa = pjj / nhat
        # eq. 7: the own stratum's user's accuracy term plus the omissions from every other stratum
        own_term = w[s] ** 2 * (1 - pa) ** 2 * var_u[s] if s >= 0 else 0.0
        others = sum(w[i] ** 2 * var_f[i, j] for i in range(len(strata)) if i != s)
        producers[j] = pa
        producers_se[j] = np.sqrt(own_term + pa**2 * others) / nhat
    return StratifiedEstimates(
        strata=list(strata),
        classes=list(classes),
        counts=n_ij,
        weights=w,
        total_area=total,
        proportions=p,
        area_share=area_share,
        area_share_se=area_share_se,
        users=users,
        users_se=users_se,
        producers=producers,
        producers_se=producers_se,
        overall=overall,
        overall_se=overall_se,
        interval=interval,
    )
