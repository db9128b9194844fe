"""Performance insights of a product's plans from their stored series (formulas in analytics.insights)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from pricewise.analytics import insights, pair_data
from pricewise.analytics.gap_service import segment_revenue
from pricewise.analytics.models import Contribution
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
from pricewise.core.tenancy import Scope


async def performance(scope: Scope, product_id: str, segment_id: str | None, plan_id: str | None) -> dict[str, Any]:
    await scope.get(Product, product_id, label="product")
    if segment_id:
        await scope.get(CustomerSegment, segment_id, label="customer segment")
    if plan_id:
        await scope.get(PricingPlan, plan_id, label="pricing plan")
    in_product = scope.where(select(Contribution.plan_id).where(Contribution.product_id == product_id), Contribution)
    plans = await scope.list(PricingPlan, or_(PricingPlan.product_id == product_id, PricingPlan.id.in_(in_product)))
    perfs: list[insights.PlanPerf] = []
    for plan in plans:
        data = await pair_data.load(scope, plan, segment_id, product_id)
        common = data.last_common()
        if common is None:
            continue
        perfs.append(insights.PlanPerf(plan.id, plan.plan_name, float(plan.unit_price) * max(plan.min_unit_count, 1),
                                       sum(data.revenue.values[-12:]), common[1], common[0]))
    scored = insights.score(perfs)
    top: dict[str, str] = {}
    for s in scored[-1:]:
        by_segment = await segment_revenue(scope, s.perf.plan_id)
        if by_segment:
            top[s.perf.plan_id] = max(by_segment.items(), key=lambda kv: kv[1])[0]
    # plan_id narrows the per-plan rows; the comparison itself is always across the product's plans.
    shown = [s for s in scored if plan_id is None or s.perf.plan_id == plan_id]
    out = insights.summarise(scored, top)
    out["plans"] = [{"plan_id": s.perf.plan_id, "plan_name": s.perf.name, "efficiency": round(s.efficiency, 4),
                     "valueGap": None if s.value_gap is None else round(s.value_gap, 2),
                     "revenue": round(s.perf.revenue_12m, 2), "subscriptions": s.perf.subscriptions,
                     "potentialRevenue": round(s.potential, 2)} for s in shown]
    out["definitions"] = {
        "efficiency": "plan's share of 12-month revenue / its share of subscriptions",
        "valueGap": "last month's revenue per subscription vs list price x minimum units, in percent",
        "potentialRevenue": "12-month revenue x (1 / efficiency - 1) for plans below 1",
        "potentialCapture": "sum of potentialRevenue over the plans below 1"}
    return out
