"""Price recommendations: the price-response model on one segment x plan, stored as made.

`analysis_prompt` steers the narrative only; every figure comes from `price_response.respond`.
"""

from __future__ import annotations

from typing import Any

from pricewise.analytics import pair_data
from pricewise.analytics.models import Contribution, Recommendation
from pricewise.analytics.narrator import Narrative, narrate
from pricewise.analytics.price_response import Response, respond
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product, SegmentPlanLink
from pricewise.core.errors import invalid
from pricewise.core.events import emit
from pricewise.core.llm import LLMClient
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope


async def _pick_plan(scope: Scope, segment: CustomerSegment, product_id: str | None) -> PricingPlan:
    """The segment's plan with data: its finalized links first, then any plan it has series for."""
    links = [x for x in await scope.list(SegmentPlanLink, SegmentPlanLink.segment_id == segment.id) if x.is_active]
    ranked = [x.plan_id for x in sorted(links, key=lambda x: (x.connection_type != "finalized", x.created_at))]
    ranked += [c.plan_id for c in await scope.list(Contribution, Contribution.segment_id == segment.id)]
    for plan_id in dict.fromkeys(ranked):
        plan = (await scope.session.execute(scope.select(PricingPlan).where(PricingPlan.id == plan_id))).scalar()
        if plan is None or (product_id and plan.product_id not in (None, product_id)):
            continue
        data = await pair_data.load(scope, plan, segment.id)
        if data.subscriptions.values:
            return plan
    raise invalid("customer_segment", "has no pricing plan with subscription history: load "
                  "/api/analytics/segment-contribution data first")


def facts(r: Response, plan: PricingPlan, segment: CustomerSegment) -> dict[str, Any]:
    e = r.elasticity
    lo, hi = e.interval()
    return {
        "plan": plan.plan_name, "segment": segment.customer_segment_name, "currency": plan.currency,
        "current_price": round(r.current_price, 2), "recommended_price": round(r.choice.price, 2),
        "price_change_pct": round(r.price_change * 100, 1),
        "elasticity": round(e.value, 2), "elasticity_sd": round(e.sd, 2), "interval_level": 80,
        "elasticity_low80": round(lo, 2),
        "elasticity_high80": round(hi, 2), "elasticity_source": e.source, "months_of_data": e.n,
        "price_changes_seen": e.price_changes, "horizon_months": len(r.months),
        "baseline_revenue": round(r.baseline_revenue, 2), "expected_revenue": round(r.expected_revenue, 2),
        "revenue_uplift_pct": None if r.revenue_uplift is None else round(r.revenue_uplift * 100, 1),
        "margin_uplift_pct": None if r.margin_uplift is None else round(r.margin_uplift * 100, 1),
        "confidence_pct": round(r.confidence * 100, 1),
    }


def template(f: dict[str, Any], rule: str) -> str:
    held = f["price_change_pct"] == 0
    source = {"prior": "a prior assumption (the price never changed in the data)",
              "regression": f"{f['months_of_data']} months of data with {f['price_changes_seen']} price change(s)",
              "regression+prior": f"{f['months_of_data']} months of data with {f['price_changes_seen']} price "
                                  "change(s), combined with a prior"}[f["elasticity_source"]]
    if held:
        text = f"For {f['segment']} on {f['plan']}, hold the price at {f['current_price']:.2f} {f['currency']}. "
    else:
        move = "raise" if f["price_change_pct"] > 0 else "lower"
        text = (f"For {f['segment']} on {f['plan']}, {move} the price to {f['recommended_price']:.2f} "
                f"{f['currency']} (from {f['current_price']:.2f}, {f['price_change_pct']:+.1f}%). ")
    text += (f"Price elasticity is {f['elasticity']} ({f['interval_level']}% range {f['elasticity_low80']} to "
             f"{f['elasticity_high80']}), from {source}. ")
    if f["revenue_uplift_pct"] is not None and not held:
        text += (f"Over {f['horizon_months']} months revenue is expected at {f['expected_revenue']:.2f} against "
                 f"{f['baseline_revenue']:.2f} at today's price ({f['revenue_uplift_pct']:+.1f}%). ")
    elif f["revenue_uplift_pct"] is not None:
        text += f"Over {f['horizon_months']} months revenue is expected at {f['baseline_revenue']:.2f}. "
    if f["margin_uplift_pct"] is not None and not held:
        text += f"Contribution margin changes by {f['margin_uplift_pct']:+.1f}%. "
        text += f"Probability that the change improves margin: {f['confidence_pct']:.1f}%. "
    return text + f"Rule: {rule}."


async def generate(scope: Scope, llm: LLMClient | None, *, product_id: str | None, segment_id: str,
                   plan_id: str | None, prompt: str, horizon: int, guardrail: float) -> Recommendation:
    if product_id:
        await scope.get(Product, product_id, label="product")
    segment = await scope.get(CustomerSegment, segment_id, label="customer segment")
    if plan_id:
        plan = await scope.get(PricingPlan, plan_id, label="pricing plan")
    else:
        plan = await _pick_plan(scope, segment, product_id)
    data = await pair_data.load(scope, plan, segment.id)
    if not data.subscriptions.values:
        raise invalid("pricing_plan", f"plan {plan.id} has no subscription history for this segment")
    if data.current_price <= 0:
        raise invalid("pricing_plan", "a free plan (price 0) has no price response to optimise")
    base = pair_data.baseline(data, horizon)
    r = respond(data.subscriptions.values, data.prices, [m.month - 1 for m in data.subscriptions.months], base,
                data.current_price, data.unit_cost, guardrail)
    f = facts(r, plan, segment)
    story: Narrative = await narrate(llm, kind="recommendation", facts=f, template=template(f, r.choice.rule),
                                     steer=prompt or None)
    rec = scope.add(Recommendation(
        product_id=product_id or segment.product_id or plan.product_id, segment_id=segment.id, plan_id=plan.id,
        current_price=r.current_price, recommended_price=r.choice.price, analysis_prompt=prompt,
        model={"elasticity": {"value": r.elasticity.value, "sd": r.elasticity.sd, "source": r.elasticity.source,
                              "n": r.elasticity.n, "price_changes": r.elasticity.price_changes,
                              "interval80": list(r.elasticity.interval())},
               "rule": r.choice.rule, "bound": r.choice.bound, "unconstrained_price": r.choice.unconstrained,
               "guardrail": guardrail, "unit_cost": r.unit_cost, "baseline_revenue": r.baseline_revenue,
               "expected_revenue": r.expected_revenue, "revenue_uplift": r.revenue_uplift,
               "margin_uplift": r.margin_uplift, "confidence": r.confidence, "narrative_note": story.note},
        assumptions=r.assumptions, narrative=story.text, narrator=story.source,
        forecast=[{"date": f"{m.isoformat()}T00:00:00Z", "value": r.revenue[i], "lower80": r.lo80[i],
                   "upper80": r.hi80[i], "lower95": r.lo95[i], "upper95": r.hi95[i],
                   "subscriptions": r.subscriptions[i]} for i, m in enumerate(r.months)]))
    await scope.session.flush()
    emit(scope.session, scope.tenant_id, "ai_analysis_completed",
         {"kind": "recommendation", "id": rec.id, "segment_id": segment.id, "plan_id": plan.id})
    return rec


def recommendation_out(r: Recommendation) -> dict[str, Any]:
    m = r.model
    return {
        "_id": r.id, "product": r.product_id, "customer_segment": r.segment_id, "pricing_plan": r.plan_id,
        "new_revenue_forecast_ts_data": [{"date": p["date"], "value": p["value"]} for p in r.forecast],
        "current_price": r.current_price, "recommended_price": r.recommended_price,
        "price_change": r.recommended_price / r.current_price - 1 if r.current_price else None,
        "elasticity": m.get("elasticity"), "rule": m.get("rule"), "guardrail": m.get("guardrail"),
        "expected_uplift": {"revenue": m.get("revenue_uplift"), "margin": m.get("margin_uplift"),
                            "baseline_revenue": m.get("baseline_revenue"),
                            "expected_revenue": m.get("expected_revenue")},
        "confidence": m.get("confidence"), "assumptions": r.assumptions, "forecast_intervals": r.forecast,
        "narrative": r.narrative, "narrator": r.narrator, "narrative_note": m.get("narrative_note"),
        "analysis_prompt": r.analysis_prompt, "created_at": _iso_z(r.created_at),
    }


async def listing(scope: Scope, product_id: str | None, segment_id: str | None, limit: int,
                  offset: int) -> tuple[list[Recommendation], int]:
    filters = []
    if product_id:
        filters.append(Recommendation.product_id == product_id)
    if segment_id:
        filters.append(Recommendation.segment_id == segment_id)
    rows = await scope.list(Recommendation, *filters, order_by=Recommendation.created_at.desc(), limit=limit,
                            offset=offset)
    return list(rows), await scope.count(Recommendation, *filters)
