"""Price elasticity and the margin-optimal price. Pure: no web, no database.

Estimate (log-log regression, e.g. Hanssens, Parsons & Schultz, "Market Response Models", 2001):
    log q_t = a + e * log p_t + b * t + sum_m s_m * [month_t = m] + error
over monthly subscriptions q and the list price p in force, with a linear trend and month-of-year
effects when there are at least 24 months (fewer: trend only). e is the elasticity. When the price
moved only on year boundaries the month effects and the trend explain the price column exactly;
the season is then one annual harmonic (sine and cosine), and if that is still not enough to tell
price from calendar, the trend or the season is dropped (see `_design`).

When the price never changed, the data say nothing about e and the prior is used:
e ~ Normal(-1.0, 0.75^2), unit elasticity with wide uncertainty (a neutral assumption; consumer
goods meta-analyses find means around -2.6, subscription software is usually less elastic).
When it changed but the estimate is uncertain, the regression and the prior are combined by
precision weighting (normal-normal conjugacy) and the response says so.

Optimal price under constant-elasticity demand q = A * p^e with unit cost c maximises
(p - c) * A * p^e: p* = c * e / (1 + e) when e < -1 and c > 0. With e >= -1 margin grows with price,
with c = 0 and e < -1 it falls with price: the guardrail bound in that direction is taken.
The result is clamped to [p0 * (1 - g), p0 * (1 + g)] (g = 30% by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PRIOR_MEAN = -1.0
PRIOR_SD = 0.75


@dataclass(frozen=True)
class Elasticity:
    value: float
    sd: float
    source: str  # "regression" | "prior" | "regression+prior"
    n: int
    price_changes: int

    def interval(self, z: float = 1.2816) -> tuple[float, float]:
        return self.value - z * self.sd, self.value + z * self.sd


def estimate(quantities: Sequence[float], prices: Sequence[float], months: Sequence[int] | None = None) -> Elasticity:
    q = np.asarray(quantities, dtype=np.float64)
    p = np.asarray(prices, dtype=np.float64)
    if q.shape != p.shape or q.size == 0:
        raise ValueError("quantities and prices must be non-empty and of the same length")
    keep = (q > 0) & (p > 0) & np.isfinite(q) & np.isfinite(p)
    q, p = q[keep], p[keep]
    month_idx = np.asarray(months, dtype=np.int64)[keep] if months is not None else np.arange(q.size) % 12
    changes = int(np.sum(np.abs(np.diff(p)) > 1e-9)) if p.size > 1 else 0
    if changes == 0 or q.size < 6:
        return Elasticity(PRIOR_MEAN, PRIOR_SD, "prior", int(q.size), changes)
    x = _design(np.log(p), month_idx)
    if x is None:  # the price moved only with the calendar: trend and season cannot be told apart
        return Elasticity(PRIOR_MEAN, PRIOR_SD, "prior", int(q.size), changes)
    y = np.log(q)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    dof = max(q.size - x.shape[1], 1)
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(x.T @ x)
    e_hat, se = float(coef[1]), math.sqrt(max(float(cov[1, 1]), 1e-12))
    if se <= PRIOR_SD / 2:
        return Elasticity(e_hat, se, "regression", int(q.size), changes)
    w_data, w_prior = 1 / se**2, 1 / PRIOR_SD**2
    value = (w_data * e_hat + w_prior * PRIOR_MEAN) / (w_data + w_prior)
    return Elasticity(value, math.sqrt(1 / (w_data + w_prior)), "regression+prior", int(q.size), changes)


def _design(log_p: np.ndarray, month_idx: np.ndarray) -> np.ndarray | None:
    """Intercept, log price, then the controls that leave the price identifiable.

    A price step that falls on a year boundary is a linear combination of the trend and the
    month-of-year effects (the year is (t - month) / 12): then the season is modelled by one annual
    harmonic (sine and cosine) instead, then dropped, then the trend too. Identifiable means the
    price column is not explained by the others (R^2 < 0.98)."""
    n = log_p.size
    t = np.arange(n, dtype=np.float64) / max(n, 1)
    season = [(month_idx % 12 == m).astype(np.float64) for m in range(1, 12)] if n >= 24 else []
    angle = 2 * np.pi * (month_idx % 12) / 12
    harmonic = [np.sin(angle), np.cos(angle)] if n >= 12 else []
    for controls in ([t, *season], [t, *harmonic], [t], []):
        others = np.column_stack([np.ones(n), *controls])
        fit, *_ = np.linalg.lstsq(others, log_p, rcond=None)
        resid = log_p - others @ fit
        total = float(np.sum((log_p - log_p.mean()) ** 2))
        if total > 0 and float(resid @ resid) / total > 0.02:
            return np.column_stack([np.ones(n), log_p, *controls])
    return None


@dataclass(frozen=True)
class PriceChoice:
    price: float
    unconstrained: float | None
    bound: str | None  # "lower" | "upper" when a guardrail decided
    rule: str


def optimal_price(current: float, elasticity: float, unit_cost: float | None = None,
                  guardrail: float = 0.30) -> PriceChoice:
    if current <= 0:
        raise ValueError("the current price must be positive")
    lo, hi = current * (1 - guardrail), current * (1 + guardrail)
    c = unit_cost or 0.0
    if elasticity < -1 and c > 0:
        raw = c * elasticity / (1 + elasticity)
        price = min(max(raw, lo), hi)
        bound = "lower" if raw < lo else ("upper" if raw > hi else None)
        return PriceChoice(price, raw, bound, "p* = c * e / (1 + e)")
    if elasticity >= -1:
        return PriceChoice(hi, None, "upper", "demand is inelastic: margin grows with price up to the guardrail")
    return PriceChoice(lo, None, "lower", "no unit cost and elastic demand: revenue grows as price falls")


MAX_PRICE_RATIO = 100.0  # a new price beyond 100x (or below 1/100) of the old is outside any model


def demand_ratio(new_price: float, old_price: float, elasticity: float) -> float:
    """q(new) / q(old) under constant elasticity."""
    if new_price <= 0 or old_price <= 0:
        raise ValueError("prices must be positive")
    ratio = new_price / old_price
    if not 1 / MAX_PRICE_RATIO <= ratio <= MAX_PRICE_RATIO:
        raise ValueError(f"the new price must be within {1 / MAX_PRICE_RATIO:g}x to {MAX_PRICE_RATIO:g}x of the old")
    return float(math.exp(elasticity * math.log(ratio)))


def ratio_interval(new_price: float, old_price: float, e: Elasticity, z: float) -> tuple[float, float]:
    """The demand ratio at both ends of the elasticity's z-interval, smaller first."""
    a = demand_ratio(new_price, old_price, e.value - z * e.sd)
    b = demand_ratio(new_price, old_price, e.value + z * e.sd)
    return min(a, b), max(a, b)
