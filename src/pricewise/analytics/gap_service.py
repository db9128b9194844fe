"""Gap diagnoses of pricing plans: the metrics of analytics.gap from stored data, written up and kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from pricewise.analytics import gap, pair_data, stats
from pricewise.analytics.models import Contribution, Customer, GapDiagnosis, SeriesPoint, UsageRecord
from pricewise.analytics.narrator import narrate
from pricewise.analytics.series import to_monthly
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
from pricewise.core.base import utcnow
from pricewise.core.events import emit
from pricewise.core.llm import LLMClient
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope


async def segment_revenue(scope: Scope, plan_id: str) -> dict[str, float]:
    stmt = scope.where(select(CustomerSegment.customer_segment_name, SeriesPoint.date, SeriesPoint.value)
                       .join(Contribution, Contribution.id == SeriesPoint.contribution_id)
                       .join(CustomerSegment, CustomerSegment.id == Contribution.segment_id)
                       .where(Contribution.plan_id == plan_id, Contribution.deleted_at.is_(None),
                              SeriesPoint.metric == "revenue"), SeriesPoint)
    per: dict[str, list[tuple[Any, float]]] = {}
    for name, d, v in (await scope.session.execute(stmt)).all():
        per.setdefault(name, []).append((d, float(v)))
    return {name: sum(to_monthly(pts, "revenue").values[-12:]) for name, pts in per.items()}


async def _usage_vs_revenue(scope: Scope, plan_id: str) -> list[tuple[float, float]]:
    on_plan = scope.where(select(Customer.customer_uid).where(
        Customer.plan_id == plan_id, Customer.deleted_at.is_(None), Customer.monthly_revenue.is_not(None)), Customer)
    since = utcnow().date() - timedelta(days=90)
    used = scope.where(select(UsageRecord.customer_uid, func.sum(UsageRecord.quantity).label("q"))
                       .where(UsageRecord.customer_uid.in_(on_plan), UsageRecord.date >= since)
                       .group_by(UsageRecord.customer_uid), UsageRecord).subquery()
    stmt = scope.where(select(Customer.monthly_revenue, func.coalesce(used.c.q, 0.0))
                       .outerjoin(used, used.c.customer_uid == Customer.customer_uid)
                       .where(Customer.plan_id == plan_id, Customer.deleted_at.is_(None),
                              Customer.monthly_revenue.is_not(None)), Customer)
    rows = [(float(q), float(rev)) for rev, q in (await scope.session.execute(stmt)).all()]
    return rows if any(q for q, _ in rows) else []


async def plan_metrics(scope: Scope, plan: PricingPlan) -> dict[str, Any]:
    data = await pair_data.load(scope, plan, None)
    units = max(plan.min_unit_count, 1)
    competitors: list[float] = []
    if plan.product_id:
        product = (await scope.session.execute(scope.select(Product).where(Product.id == plan.product_id))).scalar()
        for c in (product.competitors if product else []) or []:
            if isinstance(c, dict) and isinstance(c.get("unit_price"), int | float) and c["unit_price"] > 0:
                competitors.append(float(c["unit_price"]))
    rows = await scope.list(Customer, Customer.plan_id == plan.id)
    today = utcnow().date()
    signups, churns = [r.signup_date for r in rows], [r.churned_at for r in rows]
    facts = gap.PlanFacts(
        list_price=float(plan.unit_price) * units, revenue=data.revenue.values, subscriptions=data.subscriptions.values,
        cogs=None if plan.cogs_per_unit is None else float(plan.cogs_per_unit) * units,
        competitor_prices=[p * units for p in competitors], last_common=data.last_common(),
        churn=stats.churn_rate(signups, churns, today),
        churn_previous=stats.churn_rate(signups, churns, today - timedelta(days=91)),
        segment_revenue=await segment_revenue(scope, plan.id),
        usage_vs_revenue=await _usage_vs_revenue(scope, plan.id))
    return gap.metrics(facts)


def summary_text(plan: PricingPlan, found: list[gap.Finding], m: dict[str, Any]) -> str:
    if not m.get("months_of_data"):
        return (f"{plan.plan_name}: no revenue or subscription history yet, so only price, margin and market "
                f"were checked; {len(found)} gap(s) found" + (": " + "; ".join(f.text for f in found) if found
                                                               else "."))
    if not found:
        return f"{plan.plan_name}: no gaps found against the thresholds over {m['months_of_data']} months of data."
    return f"{plan.plan_name}: {len(found)} gap(s) found: " + "; ".join(f.text for f in found) + "."


def reasoning_text(m: dict[str, Any]) -> str:
    labels = {"list_price": "list price", "arpu": "revenue per subscription (last month)",
              "arpu_to_list": "revenue per subscription / list price", "competitor_median_price":
              "competitors' median price", "price_vs_competitors": "list price vs competitors",
              "gross_margin": "gross margin", "subscription_growth": "subscription growth (3 months)",
              "revenue_growth": "revenue growth (3 months)", "churn_rate": "churn (3 months)",
              "churn_trend": "churn change vs the 3 months before", "segment_hhi": "segment concentration (HHI)",
              "value_metric_fit": "usage-revenue rank correlation"}
    shown = [f"{label}: {m[k]}" for k, label in labels.items() if m.get(k) is not None]
    missing = [label for k, label in labels.items() if m.get(k) is None]
    text = "Metrics: " + ("; ".join(shown) if shown else "none computable yet") + "."
    if missing:
        text += " Not computable from the data held: " + ", ".join(missing) + "."
    return text


async def diagnose(scope: Scope, llm: LLMClient | None, plan_id: str, context: str) -> GapDiagnosis:
    plan = await scope.get(PricingPlan, plan_id, label="pricing model")
    m = await plan_metrics(scope, plan)
    found = gap.findings(m)
    summary = summary_text(plan, found, m)
    figures = {k: v for f in found for k, v in f.figures.items()}
    story = await narrate(llm, kind="gap_diagnosis", facts={**m, **figures, "plan": plan.plan_name,
                                                             "gaps": len(found)},
                          template=summary, steer=context or None)
    row = scope.add(GapDiagnosis(plan_id=plan.id, summary=story.text, reasoning=reasoning_text(m), context=context,
                                 metrics={**m, "gaps": [{"metric": f.metric, "text": f.text} for f in found],
                                          "narrative_note": story.note}, narrator=story.source))
    await scope.session.flush()
    emit(scope.session, scope.tenant_id, "ai_analysis_completed", {"kind": "gap_diagnosis", "id": row.id,
                                                                   "plan_id": plan.id})
    return row


def diagnosis_out(d: GapDiagnosis) -> dict[str, Any]:
    metrics = {k: v for k, v in d.metrics.items() if k not in ("gaps", "narrative_note")}
    return {"_id": d.id, "pricing_model": d.plan_id, "ai_gap_diagnosis_summary": d.summary,
            "ai_gap_diagnosis_reasoning": d.reasoning, "metrics": metrics, "gaps": d.metrics.get("gaps", []),
            "narrator": d.narrator, "narrative_note": d.metrics.get("narrative_note"), "context": d.context,
            "created_at": _iso_z(d.created_at)}


async def listing(scope: Scope, plan_id: str | None, limit: int, offset: int) -> tuple[list[GapDiagnosis], int]:
    filters = [GapDiagnosis.plan_id == plan_id] if plan_id else []
    rows = await scope.list(GapDiagnosis, *filters, order_by=GapDiagnosis.created_at.desc(), limit=limit,
                            offset=offset)
    return list(rows), await scope.count(GapDiagnosis, *filters)


async def latest_for(scope: Scope, plan_id: str) -> GapDiagnosis | None:
    rows, _ = await listing(scope, plan_id, 1, 0)
    return rows[0] if rows else None
