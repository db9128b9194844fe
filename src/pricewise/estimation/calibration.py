"""Calibration of reference classes on real outcomes. Pure: no web, no database.

Every stored estimate keeps its base P50 (class x region x attributes, before calibration) and the
class's prior log-sd s0 = ln(P80 / P50) / 0.8416. An outcome gives y = log(actual / base P50).

Model (per measure: cost, and separately timeline):
    y_i = b_class(i) + R_region(i) + D_(subcategory, region)(i) + e_i,   e_i ~ N(0, sigma_class^2)

- Class bias b_c, empirical Bayes (Efron & Morris 1975): with m_c the class mean of y (regional
  terms removed), v_c = sigma_c^2 / n_c and between-class variance tau^2,
      b_c = mu + B_c (m_c - mu),   B_c = tau^2 / (tau^2 + v_c) = n_c / (n_c + sigma_c^2 / tau^2).
  tau^2 by the method of moments of DerSimonian & Laird (1986), floored at TAU2_FLOOR because the
  priors are synthetic and a class 10% off is always plausible; mu is the precision-weighted mean
  over classes (the platform-wide bias). With fewer than 3 classes mu = 0 (the priors are taken as
  unbiased) and tau^2 = TAU2_DEFAULT. Given a platform-wide model (`platform=`), each class shrinks
  towards the platform's estimate for that class (or the platform mean) instead.
- Regional terms: R_g over all classes of a region (a region whose prices run above its
  multiplier) and D_(s,g) for one trade in one region, each a shrunk mean of the residuals towards
  0 with a fixed prior variance (REGION_TAU2, SUBREGION_TAU2): with four regions a moment estimate
  of their variance would be noise. Class and regional terms are fitted by backfitting
  (alternating updates until they settle).
- Spread: pooled variance with prior degrees of freedom (a scaled-inverse-chi^2 prior at the
  class's prior sigma): sigma_c^2 = (nu0 s0^2 + sum of squared residuals) / (nu0 + n_c). The
  predictive log-sd adds the posterior variance of the bias, B_c v_c.

A term is applied only when it rests on at least MIN_OUTCOMES outcomes (class for b_c and sigma_c,
region for R_g, subcategory-region for D).

Tuning (admin validation): per class, against the class's own quantiles (base P50, base P80 =
base P50 exp(0.8416 s0)), the median of actual / P50 is the factor that centres P50, and the
empirical 80th percentile of actual / P80 is the factor that brings P80 coverage to 80%.
A recommendation is made with at least TUNING_MIN outcomes when P50 is off by more than
P50_TOLERANCE or P80 coverage by more than P80_COVERAGE_TOLERANCE.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from pricewise.estimation.compute import Calibration
from pricewise.estimation.priors import Z80, Z95, Quantiles

MIN_OUTCOMES = 5
PRIOR_DF = 5.0  # worth of the prior sigma, in outcomes
TAU2_FLOOR = 0.10**2
TAU2_DEFAULT = 0.15**2
REGION_TAU2 = 0.10**2
SUBREGION_TAU2 = 0.05**2
ITERATIONS = 30
TUNING_MIN = 10
P50_TOLERANCE = 0.10  # |median(actual / P50) - 1|
P80_COVERAGE_TOLERANCE = 0.10  # |P80 coverage - 0.80|
MIN_STEP = 0.02  # factors closer to 1 than this are not worth recommending


@dataclass(frozen=True)
class Outcome:
    class_id: str
    subcategory: str
    region: str | None
    base_cost_p50: float  # Estimate.base_cost_p50
    actual_cost: float
    cost_sigma: float  # the class's prior log-sd (ClassView.cost.log_sigma)
    base_timeline_p50: float | None = None  # Estimate.base_timeline_p50
    actual_weeks: float | None = None
    timeline_sigma: float | None = None  # ClassView.timeline.log_sigma


@dataclass(frozen=True)
class Effect:
    log_bias: float
    n: int
    weight: float  # shrinkage weight: 0 = all prior, 1 = all data


@dataclass(frozen=True)
class ClassFit:
    log_bias: float
    n: int
    weight: float
    sigma: float  # predictive log-sd
    prior_sigma: float


@dataclass(frozen=True)
class MeasureFit:
    mean: float  # platform-wide bias mu
    tau2: float
    classes: dict[str, ClassFit]
    regions: dict[str, Effect]
    subregions: dict[tuple[str, str], Effect]

    def lookup(self, class_id: str, subcategory: str, region: str | None,
               min_outcomes: int = MIN_OUTCOMES) -> tuple[float, float | None, int, bool]:
        """(log bias, sigma or None, class n, anything applied) for one estimate's key."""
        log_bias, sigma, n, applied = 0.0, None, 0, False
        c = self.classes.get(class_id)
        if c is not None:
            n = c.n
            if c.n >= min_outcomes:
                log_bias, sigma, applied = c.log_bias, c.sigma, True
        if region is not None:
            for eff in (self.regions.get(region), self.subregions.get((subcategory, region))):
                if eff is not None and eff.n >= min_outcomes:
                    log_bias += eff.log_bias
                    applied = True
        return log_bias, sigma, n, applied


@dataclass(frozen=True)
class CalibrationModel:
    cost: MeasureFit
    timeline: MeasureFit
    min_outcomes: int = MIN_OUTCOMES

    def for_estimate(self, class_id: str, subcategory: str, region: str | None) -> Calibration | None:
        """The calibration for a new estimate of this class in this region; None when nothing applies."""
        cb, cs, n, c_ok = self.cost.lookup(class_id, subcategory, region, self.min_outcomes)
        tb, ts, _, t_ok = self.timeline.lookup(class_id, subcategory, region, self.min_outcomes)
        if not (c_ok or t_ok):
            return None
        return Calibration(cost_bias=math.exp(cb), cost_sigma=cs, timeline_bias=math.exp(tb), timeline_sigma=ts, n=n)


def _codes(keys: Sequence[Hashable | None]) -> tuple[np.ndarray, list[Hashable]]:
    """Integer codes for keys (None -> -1) and the distinct keys in first-seen order."""
    names: dict[Hashable, int] = {}
    codes = [-1 if k is None else names.setdefault(k, len(names)) for k in keys]
    return np.array(codes, dtype=np.int64), list(names)


class _Grouped:
    """Per-key shrunk means of residuals towards 0 (prior variance tau2), vectorised over codes."""

    def __init__(self, codes: np.ndarray, k: int, tau2: float) -> None:
        self.codes, self.k, self.tau2 = codes, k, tau2
        self.mask = codes >= 0
        self.n = np.bincount(codes[self.mask], minlength=k).astype(float)
        self.effect = np.zeros(k)
        self.weight = np.zeros(k)

    def term(self) -> np.ndarray:
        # index -1 (no key) reads the trailing 0
        out: np.ndarray = np.append(self.effect, 0.0)[self.codes]
        return out

    def update(self, resid: np.ndarray, var: np.ndarray) -> None:
        c, m = self.codes[self.mask], self.mask
        n = np.maximum(self.n, 1.0)
        mean = np.bincount(c, weights=resid[m], minlength=self.k) / n
        v = np.bincount(c, weights=var[m], minlength=self.k) / n / n
        self.weight = np.where(self.n > 0, self.tau2 / (self.tau2 + v), 0.0)
        self.effect = self.weight * mean

    def effects(self, names: list[Hashable]) -> dict[Hashable, Effect]:
        return {key: Effect(float(self.effect[i]), int(self.n[i]), float(self.weight[i]))
                for i, key in enumerate(names)}


def _between_variance(m: np.ndarray, v: np.ndarray, centre: np.ndarray | None) -> tuple[float, np.ndarray]:
    """DerSimonian-Laird tau^2 and the shrinkage centre per class (estimated mu when `centre` is None)."""
    w = 1.0 / v
    k = len(m)
    if centre is not None:
        q = float(np.sum(w * (m - centre) ** 2))
        return max(TAU2_FLOOR, (q - k) / float(np.sum(w))), centre
    if k < 3:
        return TAU2_DEFAULT, np.zeros(k)
    mu_fe = float(np.sum(w * m) / np.sum(w))
    q = float(np.sum(w * (m - mu_fe) ** 2))
    c = float(np.sum(w) - np.sum(w * w) / np.sum(w))
    tau2 = max(TAU2_FLOOR, (q - (k - 1)) / c)
    ws = 1.0 / (v + tau2)
    return tau2, np.full(k, float(np.sum(ws * m) / np.sum(ws)))


def fit_measure(y: np.ndarray, s0: np.ndarray, classes: Sequence[str], subcategories: Sequence[str],
                regions: Sequence[str | None], platform: MeasureFit | None = None) -> MeasureFit:
    """Backfit class and regional terms of y = log(actual / base P50); see the module docstring."""
    if len(y) == 0:
        return MeasureFit(platform.mean if platform else 0.0, TAU2_DEFAULT, {}, {}, {})
    cidx, names = _codes(classes)
    k = len(names)
    n_c = np.bincount(cidx, minlength=k).astype(float)
    prior_var = np.bincount(cidx, weights=s0**2, minlength=k) / n_c
    centre = None
    if platform is not None:
        centre = np.array([platform.classes[c].log_bias if c in platform.classes else platform.mean
                           for c in map(str, names)])
    reg_codes, reg_names = _codes(regions)
    sub_codes, sub_names = _codes([(s, r) if r is not None else None for s, r in zip(subcategories, regions,
                                                                                    strict=True)])
    reg = _Grouped(reg_codes, len(reg_names), REGION_TAU2)
    sub = _Grouped(sub_codes, len(sub_names), SUBREGION_TAU2)
    var_c = prior_var.copy()
    b = np.zeros(k)
    tau2, mu, w_c, v_c = TAU2_DEFAULT, np.zeros(k), np.zeros(k), var_c / n_c
    for _ in range(ITERATIONS):
        r_reg, r_sub = reg.term(), sub.term()
        m = np.bincount(cidx, weights=y - r_reg - r_sub, minlength=k) / n_c
        v_c = var_c / n_c
        tau2, mu = _between_variance(m, v_c, centre)
        w_c = tau2 / (tau2 + v_c)
        b = mu + w_c * (m - mu)
        obs_var = var_c[cidx]
        reg.update(y - b[cidx] - r_sub, obs_var)
        r_reg = reg.term()
        sub.update(y - b[cidx] - r_reg, obs_var)
        resid = y - b[cidx] - r_reg - sub.term()
        ss = np.bincount(cidx, weights=resid**2, minlength=k)
        var_c = (PRIOR_DF * prior_var + ss) / (PRIOR_DF + n_c)
    post_sigma = np.sqrt(var_c + w_c * v_c)
    fits = {str(c): ClassFit(float(b[i]), int(n_c[i]), float(w_c[i]), float(post_sigma[i]),
                             math.sqrt(prior_var[i])) for i, c in enumerate(names)}
    mean = float(mu[0]) if centre is None else (platform.mean if platform else 0.0)
    subregions = {(str(key[0]), str(key[1])): e for key, e in sub.effects(sub_names).items()
                  if isinstance(key, tuple)}
    return MeasureFit(mean, float(tau2), fits, {str(key): e for key, e in reg.effects(reg_names).items()},
                      subregions)


def _valid(x: float | None) -> bool:
    return x is not None and math.isfinite(x) and x > 0


def calibrate(outcomes: Sequence[Outcome], platform: CalibrationModel | None = None,
              min_outcomes: int = MIN_OUTCOMES) -> CalibrationModel:
    """Fit cost and timeline calibration on outcomes (invalid or missing values are skipped).

    `platform`: a model fitted on platform-wide outcomes, towards which these classes shrink.
    """
    cost: list[tuple[float, float, Outcome]] = []
    time: list[tuple[float, float, Outcome]] = []
    for o in outcomes:
        if _valid(o.actual_cost) and _valid(o.base_cost_p50) and _valid(o.cost_sigma):
            cost.append((math.log(o.actual_cost / o.base_cost_p50), o.cost_sigma, o))
        if (o.actual_weeks is not None and o.base_timeline_p50 is not None and o.timeline_sigma is not None
                and _valid(o.actual_weeks) and _valid(o.base_timeline_p50) and _valid(o.timeline_sigma)):
            time.append((math.log(o.actual_weeks / o.base_timeline_p50), o.timeline_sigma, o))
    fits = []
    for rows, plat in ((cost, platform.cost if platform else None), (time, platform.timeline if platform else None)):
        fits.append(fit_measure(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                                [r[2].class_id for r in rows], [r[2].subcategory for r in rows],
                                [r[2].region for r in rows], plat))
    cost_fit, time_fit = fits
    return CalibrationModel(cost_fit, time_fit, min_outcomes)


# --- tuning -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassTuning:
    class_id: str
    n: int
    variance_pct: float  # mean |actual - P50| / actual x 100, P50 = the class's base P50
    p50_coverage: float  # share of actuals <= P50 (ideal 0.5)
    p80_coverage: float  # share of actuals <= P80 (ideal 0.8)
    p50_factor: float  # multiply P50 by this to centre it (median actual / P50)
    p80_factor: float  # multiply P80 by this to reach 80% coverage
    adjust_p50: bool  # the recommendation includes the P50 factor
    adjust_p80: bool  # ... and the P80 factor
    needs_tuning: bool
    recommendation: str | None


def variance_pct(actual: float, p50: float) -> float:
    return abs(actual - p50) / actual * 100.0


def _direction(factor: float) -> str:
    return f"{'upward' if factor > 1 else 'downward'} by {round(abs(factor - 1) * 100)}%"


def tuning(outcomes: Sequence[Outcome], min_outcomes: int = TUNING_MIN) -> list[ClassTuning]:
    """Per class with valid cost outcomes: accuracy of the class's own P50/P80 and what would fix them."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if _valid(o.actual_cost) and _valid(o.base_cost_p50) and _valid(o.cost_sigma):
            groups[o.class_id].append(o)
    out = []
    for class_id, obs in groups.items():
        actual = np.array([o.actual_cost for o in obs])
        p50 = np.array([o.base_cost_p50 for o in obs])
        p80 = p50 * np.exp(Z80 * np.array([o.cost_sigma for o in obs]))
        cov50 = float(np.mean(actual <= p50))
        cov80 = float(np.mean(actual <= p80))
        f50 = float(np.median(actual / p50))
        f80 = float(np.quantile(actual / p80, 0.8))
        enough = len(obs) >= min_outcomes
        adjust50 = enough and abs(f50 - 1) > P50_TOLERANCE
        adjust80 = enough and abs(cov80 - 0.8) > P80_COVERAGE_TOLERANCE and abs(f80 - 1) >= MIN_STEP
        parts = [f"Adjust P50 {_direction(f50)}"] if adjust50 else []
        if adjust80:
            parts.append(f"Adjust P80 {_direction(f80)}")
        out.append(ClassTuning(
            class_id=class_id, n=len(obs),
            variance_pct=round(float(np.mean(np.abs(actual - p50) / actual)) * 100, 1),
            p50_coverage=round(cov50, 3), p80_coverage=round(cov80, 3),
            p50_factor=round(f50, 3), p80_factor=round(f80, 3), adjust_p50=adjust50, adjust_p80=adjust80,
            needs_tuning=bool(parts),
            recommendation="; ".join(parts) if parts else None))
    return out


def apply_tuning(cost: Quantiles, t: ClassTuning) -> Quantiles:
    """The class's cost quantiles with a recommendation applied; P95 follows the new log-spread."""
    p50 = cost.p50 * (t.p50_factor if t.adjust_p50 else 1.0)
    p80 = cost.p80 * (t.p80_factor if t.adjust_p80 else 1.0)
    p80 = max(p80, p50 * 1.01)  # keep a spread: P80 at or below P50 would claim certainty
    sigma = math.log(p80 / p50) / Z80
    return Quantiles(float(round(p50)), float(round(p80)), float(round(p50 * math.exp(Z95 * sigma))))
