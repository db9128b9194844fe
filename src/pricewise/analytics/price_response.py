"""Price response of one segment x plan: elasticity, the margin-optimal price and the expected path.
Pure: no web, no database.

Given monthly subscriptions q_t, the list price in force each month p_t, the baseline forecasts of
subscriptions and revenue at the current price p0, and the unit cost c:
1. e is estimated by `elasticity.estimate` (log-log with trend and season, or the prior).
2. p1 = `elasticity.optimal_price(p0, e, c, guardrail)`; when e is the prior alone (the price never
   changed) the price is held: the data give no reason to move it.
3. Under constant elasticity the demand ratio is r(e) = (p1 / p0)^e, so the expected path is
   subscriptions_t(p1) = baseline_t * r(e) and revenue_t(p1) = baseline revenue_t * r(e) * p1 / p0.
   The intervals take the baseline forecast's bounds and the elasticity's 80% / 95% bounds together
   (the lower bound pairs the lower forecast with the less favourable ratio): conservative.
4. Uplift: expected revenue and contribution margin over the horizon at p1 vs p0.
5. Confidence: the probability, under e ~ Normal(value, sd), that the new price earns a higher
   contribution margin: (p1 - c) * p1^e > (p0 - c) * p0^e, i.e. e * ln(p1/p0) > -ln((p1-c)/(p0-c)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from pricewise.analytics.elasticity import (
    Elasticity,
    PriceChoice,
    demand_ratio,
    estimate,
    optimal_price,
    ratio_interval,
)
from pricewise.analytics.forecast import Z

Z80, Z95 = Z[80], Z[95]


@dataclass(frozen=True)
class Baseline:
    """Baseline forecasts at the current price: means and 80/95% bounds per future month."""

    months: list[date]
    subscriptions: list[float]
    revenue: list[float]
    revenue_lo80: list[float]
    revenue_hi80: list[float]
    revenue_lo95: list[float]
    revenue_hi95: list[float]


@dataclass(frozen=True)
class Response:
    elasticity: Elasticity
    choice: PriceChoice
    current_price: float
    unit_cost: float | None
    guardrail: float
    months: list[date]
    revenue: list[float]
    lo80: list[float]
    hi80: list[float]
    lo95: list[float]
    hi95: list[float]
    subscriptions: list[float]
    baseline_revenue: float
    expected_revenue: float
    revenue_uplift: float | None
    margin_uplift: float | None
    confidence: float
    assumptions: list[str] = field(default_factory=list)

    @property
    def price_change(self) -> float:
        return self.choice.price / self.current_price - 1.0


def price_by_month(months: Sequence[date], changes: Sequence[tuple[date, float]], fallback: float) -> list[float]:
    """The list price in force at the start of each month (the last change on or before it)."""
    ordered = sorted(changes)
    out: list[float] = []
    for m in months:
        price = ordered[0][1] if ordered else fallback
        for when, p in ordered:
            if when <= m:
                price = p
            else:
                break
        out.append(price)
    return out


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def improvement_probability(p0: float, p1: float, cost: float, e: Elasticity) -> float:
    if abs(p1 - p0) < 1e-12:
        return 0.5
    if p1 <= cost:
        return 0.0
    if p0 <= cost:  # today's price loses money on every unit: any price above cost is better
        return 1.0
    k = -math.log((p1 - cost) / (p0 - cost))
    step = math.log(p1 / p0)
    threshold = k / step  # improvement when e > threshold (price up) or e < threshold (price down)
    z = (threshold - e.value) / max(e.sd, 1e-9)
    return 1.0 - _normal_cdf(z) if step > 0 else _normal_cdf(z)


def respond(quantities: Sequence[float], prices: Sequence[float], months_of_year: Sequence[int],
            baseline: Baseline, current_price: float, unit_cost: float | None = None,
            guardrail: float = 0.30) -> Response:
    e = estimate(quantities, prices, months_of_year)
    if e.source == "prior":
        # The prior alone is no reason to move a real price: hold it, and say a test must come first.
        choice = PriceChoice(current_price, None, None, "the data hold no price variation: price held; "
                             "test a change (an experimental link) to learn the response first")
    else:
        choice = optimal_price(current_price, e.value, unit_cost, guardrail)
    p0, p1 = current_price, choice.price
    factor = p1 / p0
    ratio = demand_ratio(p1, p0, e.value)

    r80, r95 = ratio_interval(p1, p0, e, Z80), ratio_interval(p1, p0, e, Z95)
    revenue = [v * ratio * factor for v in baseline.revenue]
    subs = [v * ratio for v in baseline.subscriptions]
    lo80 = [v * r80[0] * factor for v in baseline.revenue_lo80]
    hi80 = [v * r80[1] * factor for v in baseline.revenue_hi80]
    lo95 = [v * r95[0] * factor for v in baseline.revenue_lo95]
    hi95 = [v * r95[1] * factor for v in baseline.revenue_hi95]
    base_total, new_total = sum(baseline.revenue), sum(revenue)
    revenue_uplift = new_total / base_total - 1.0 if base_total > 0 else None
    cost = unit_cost or 0.0
    margin_uplift = None
    if p0 > cost and base_total > 0:
        margin_uplift = ((p1 - cost) * ratio) / (p0 - cost) - 1.0
    assumptions = [
        "demand follows q = A * p^e (constant elasticity) around the current price",
        f"elasticity from {_source_text(e)}",
        f"the price moves at most {guardrail:.0%} from the current {p0:g}",
        "the baseline forecast at the current price continues (model chosen by backtest)",
    ]
    assumptions.append(f"unit cost {cost:g} per unit" if unit_cost else
                       "no unit cost recorded: margin is taken as revenue")
    return Response(e, choice, p0, unit_cost, guardrail, list(baseline.months), revenue, lo80, hi80, lo95, hi95,
                    subs, base_total, new_total, revenue_uplift, margin_uplift,
                    improvement_probability(p0, p1, cost, e), assumptions)


def _source_text(e: Elasticity) -> str:
    if e.source == "prior":
        return (f"the prior Normal({e.value:g}, {e.sd:g}^2): the price never changed in the data "
                f"({e.n} months), so the data say nothing about the response")
    if e.source == "regression+prior":
        return (f"a log-log regression over {e.n} months with {e.price_changes} price change(s), combined with "
                "the prior because the estimate alone was uncertain")
    return f"a log-log regression over {e.n} months with {e.price_changes} price change(s)"
