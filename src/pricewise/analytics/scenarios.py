"""What-if projections of a product's revenue and subscriptions. Pure: no web, no database.

Baseline of each plan: its own forecasts (analytics.forecast: the model chosen by backtest, with
80% prediction intervals; Hyndman & Athanasopoulos, "Forecasting: Principles and Practice", 3rd
ed., 5.5), over a window of h months starting at `first`; a plan whose data end earlier is
forecast across the gap. Revenue without its own history is subscriptions x list price.

Scenarios (month t = 1..h of the window, every plan):
- realistic: the forecast means; optimistic / pessimistic: the upper / lower 80% bounds.
- growth_adjustment g (extra growth per month): x (1 + g)^t.
- churn_adjustment c (extra share of subscriptions lost per month): x (1 - c)^t.
- price_change d (relative, e.g. 0.1 = +10%), under constant elasticity q = A p^e:
  subscriptions x r, revenue x r x (1 + d), r = (1 + d)^e, with e the plan's elasticity: its
  mean for realistic, the end of its 80% interval giving the larger r for optimistic and the
  smaller for pessimistic.
Plans are added month by month. Adding bounds treats the plans as moving together (perfect
correlation), which is wider than independence would give: conservative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from pricewise.analytics import forecast as fc
from pricewise.analytics.elasticity import PRIOR_MEAN, PRIOR_SD, Elasticity, demand_ratio, ratio_interval
from pricewise.analytics.series import next_month

KINDS = ("optimistic", "realistic", "pessimistic")
PRIOR = Elasticity(PRIOR_MEAN, PRIOR_SD, "prior", 0, 0)


def months_between(a: date, b: date) -> int:
    """Whole months from a's month to b's month (b after a: positive)."""
    return (b.year - a.year) * 12 + b.month - a.month


def window(first: date, h: int) -> list[date]:
    out = [first]
    while len(out) < h:
        out.append(next_month(out[-1]))
    return out


@dataclass(frozen=True)
class Paths:
    """Baseline forecasts of one plan over the window: means and 80% bounds per month."""

    months: list[date]
    revenue: list[float]
    revenue_lo80: list[float]
    revenue_hi80: list[float]
    subscriptions: list[float] | None
    subscriptions_lo80: list[float] | None
    subscriptions_hi80: list[float] | None
    model: str
    notes: list[str] = field(default_factory=list)


def _forecast(metric: str, values: Sequence[float], h: int) -> fc.Forecast:
    try:
        return fc.forecast(values, h)
    except ValueError as exc:  # e.g. values so large that their sums are no longer finite
        raise ValueError(f"its {metric} history cannot be forecast: {exc}") from None


def baseline_paths(subscriptions: Sequence[float], revenue: Sequence[float], last: date, first: date,
                   horizon: int, unit_revenue: float) -> Paths:
    """Forecasts from the month after `last` (the last month of data) through the window
    [first, first + horizon); only the window is kept."""
    gap = months_between(last, first) - 1
    if gap < 0:
        raise ValueError("the window must start after the last month of data")
    h = gap + horizon
    subs = _forecast("subscriptions", subscriptions, h) if subscriptions else None
    notes: list[str] = []
    if revenue:
        rev = _forecast("revenue", revenue, h)
        model, mean, lo, hi = rev.model, rev.mean, rev.lo80, rev.hi80
        if rev.fallback:
            notes.append(f"revenue forecast: {rev.fallback}")
    elif subs is not None:
        u = unit_revenue
        model, mean, lo, hi = subs.model, [v * u for v in subs.mean], [v * u for v in subs.lo80], [
            v * u for v in subs.hi80]
        notes.append("no revenue history: revenue is subscriptions x list price")
    else:
        raise ValueError("a baseline needs revenue or subscription history")
    if gap:
        notes.append(f"the data end {gap} month(s) before the window: forecast carried across the gap")
    k = slice(gap, None)
    return Paths(window(first, horizon), mean[k], lo[k], hi[k],
                 None if subs is None else subs.mean[k], None if subs is None else subs.lo80[k],
                 None if subs is None else subs.hi80[k], model, notes)


@dataclass(frozen=True)
class Assumptions:
    growth_adjustment: float = 0.0
    price_change: float = 0.0
    churn_adjustment: float = 0.0


@dataclass(frozen=True)
class PlanInput:
    plan_id: str
    name: str
    paths: Paths
    elasticity: Elasticity


@dataclass(frozen=True)
class PlanProjection:
    plan_id: str
    name: str
    ratio: float
    revenue: list[float]
    subscriptions: list[float] | None


@dataclass(frozen=True)
class Projection:
    kind: str
    months: list[date]
    revenue: list[float]
    subscriptions: list[float] | None  # over the plans with subscription history; None without any
    plans: list[PlanProjection]

    @property
    def revenue_total(self) -> float:
        return sum(self.revenue)


def _ratio(kind: str, a: Assumptions, e: Elasticity) -> float:
    if a.price_change == 0:
        return 1.0
    new = 1.0 + a.price_change
    if kind == "realistic":
        return demand_ratio(new, 1.0, e.value)
    lo, hi = ratio_interval(new, 1.0, e, fc.Z[80])
    return hi if kind == "optimistic" else lo


def project(plans: Sequence[PlanInput], kind: str, a: Assumptions) -> Projection:
    if kind not in KINDS:
        raise ValueError(f"unknown scenario type {kind!r}")
    if not plans:
        raise ValueError("a projection needs at least one plan")
    months = plans[0].paths.months
    if any(p.paths.months != months for p in plans):
        raise ValueError("the plans' paths must cover the same months")
    trend = [((1 + a.growth_adjustment) * (1 - a.churn_adjustment)) ** t for t in range(1, len(months) + 1)]
    factor = 1.0 + a.price_change
    total = [0.0] * len(months)
    subs_total: list[float] | None = None
    out: list[PlanProjection] = []
    for p in plans:
        b = p.paths
        rev_base = {"realistic": b.revenue, "optimistic": b.revenue_hi80, "pessimistic": b.revenue_lo80}[kind]
        r = _ratio(kind, a, p.elasticity)
        rev = [v * r * factor * w for v, w in zip(rev_base, trend, strict=True)]
        subs = None
        if b.subscriptions is not None and b.subscriptions_lo80 is not None and b.subscriptions_hi80 is not None:
            s_base = {"realistic": b.subscriptions, "optimistic": b.subscriptions_hi80,
                      "pessimistic": b.subscriptions_lo80}[kind]
            subs = [v * r * w for v, w in zip(s_base, trend, strict=True)]
            subs_total = [x + y for x, y in zip(subs_total or [0.0] * len(months), subs, strict=True)]
        total = [x + y for x, y in zip(total, rev, strict=True)]
        out.append(PlanProjection(p.plan_id, p.name, r, rev, subs))
    if not all(math.isfinite(v) for v in [*total, *(subs_total or [])]):
        raise ValueError("the projection is too large to represent: the history holds values out of range")
    return Projection(kind, list(months), total, subs_total, out)


def assumption_notes(a: Assumptions, plans: Sequence[PlanInput]) -> list[str]:
    notes = ["baseline: each plan's own forecast (model chosen by backtest); optimistic and pessimistic take "
             "the 80% upper and lower bounds, added across plans as if they moved together"]
    if a.growth_adjustment:
        notes.append(f"growth adjusted by {a.growth_adjustment:+.2%} per month, compounding")
    if a.churn_adjustment:
        notes.append(f"churn adjusted by {a.churn_adjustment:+.2%} of subscriptions per month, compounding")
    if a.price_change:
        notes.append(f"prices change by {a.price_change:+.1%}; demand follows q = A * p^e (constant elasticity)")
        for p in plans:
            e = p.elasticity
            basis = ("the prior: the price never changed in the data, so the data say nothing about the response"
                     if e.source == "prior" else f"{e.source} over {e.n} months with {e.price_changes} price change(s)")
            notes.append(f"{p.name}: elasticity {e.value:.2f} (sd {e.sd:.2f}) from {basis}")
    for p in plans:
        notes.extend(f"{p.name}: {n}" for n in p.paths.notes)
    return notes
