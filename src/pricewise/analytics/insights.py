"""Performance insights across a product's plans. Pure: no web, no database.

For each plan p with data, over the last 12 months (R_p: revenue; S_p: subscriptions in the latest
month that has both series, whose revenue is also "last month" below):
- efficiency_p = (R_p / sum R) / (S_p / sum S): revenue per subscription relative to the product's
  average; 1.23 earns 23% more per subscription than the average plan.
- valueGap_p = (last month's revenue per subscription / (list price x minimum units) - 1) x 100:
  how far, in percent, what customers pay sits from what the list price says.
- potential_p = R_p x (1 / efficiency_p - 1) when efficiency_p < 1: the 12-month revenue the plan
  would add at the average revenue per subscription.
The underperforming plan has the lowest efficiency, the overperforming one the highest (two plans
with data at least); potentialCapture is the sum of potential_p over the plans below 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlanPerf:
    plan_id: str
    name: str
    list_price: float
    revenue_12m: float
    subscriptions: float
    last_month_revenue: float


@dataclass(frozen=True)
class Scored:
    perf: PlanPerf
    efficiency: float
    value_gap: float | None
    potential: float


def score(plans: list[PlanPerf]) -> list[Scored]:
    usable = [p for p in plans if p.subscriptions > 0 and p.revenue_12m > 0]
    total_r = sum(p.revenue_12m for p in usable)
    total_s = sum(p.subscriptions for p in usable)
    out: list[Scored] = []
    for p in usable:
        eff = (p.revenue_12m / total_r) / (p.subscriptions / total_s)
        if not eff > 0:  # a share that underflows to zero: nothing to compare
            continue
        gap = ((p.last_month_revenue / p.subscriptions) / p.list_price - 1) * 100 if p.list_price > 0 else None
        out.append(Scored(p, eff, gap, p.revenue_12m * (1 / eff - 1) if eff < 1 else 0.0))
    return sorted(out, key=lambda s: s.efficiency)


def summarise(scored: list[Scored], top_segment: dict[str, str]) -> dict[str, Any]:
    if len(scored) < 2:
        return {"underperformingPlan": None, "overperformingPlan": None, "potentialCapture": 0.0,
                "recommendations": ["Load revenue and subscription history for at least two plans "
                                    "(/api/analytics/segment-contribution) to compare their performance"]}
    under, over = scored[0], scored[-1]
    recs = []
    seg = top_segment.get(over.perf.plan_id)
    recs.append(f"Increase {over.perf.name} rollout" + (f" to the {seg} segment" if seg else "") +
                f": it earns {round((over.efficiency - 1) * 100, 1)}% more per subscription than the average plan")
    if under.efficiency < 1:
        recs.append(f"Review {under.perf.name} pricing: it earns {round((1 - under.efficiency) * 100, 1)}% less "
                    f"per subscription than the average plan, {round(under.potential, 2)} over 12 months")
    if under.value_gap is not None and under.value_gap < -10:
        recs.append(f"Check discounts on {under.perf.name}: customers pay {round(-under.value_gap, 1)}% "
                    "below its list price")
    return {
        "underperformingPlan": {"plan_name": under.perf.name, "efficiency": round(under.efficiency, 2),
                                "valueGap": None if under.value_gap is None else round(under.value_gap, 1),
                                "potentialRevenue": round(under.potential, 2)},
        "overperformingPlan": {"plan_name": over.perf.name, "efficiency": round(over.efficiency, 2),
                               "valueGap": None if over.value_gap is None else round(over.value_gap, 1),
                               "revenue": round(over.perf.revenue_12m, 2)},
        "recommendations": recs,
        "potentialCapture": round(sum(s.potential for s in scored), 2),
    }
