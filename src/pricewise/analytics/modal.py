"""The segment and plan modals of the client, computed from stored data only.

Where a figure has no data behind it yet, the field is present and null (or an empty list):
nothing is invented.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from pricewise.analytics import stats
from pricewise.analytics.gap_service import diagnosis_out, latest_for
from pricewise.analytics.models import Contribution, Customer, SeriesPoint, UsageRecord
from pricewise.analytics.series import to_monthly
from pricewise.catalog.links import link_out
from pricewise.catalog.models import CustomerSegment, PricingPlan, SegmentPlanLink
from pricewise.catalog.service import plan_out, price_history, segment_out
from pricewise.core.base import utcnow
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope

Series = dict[str, list[tuple[date, float]]]  # metric -> monthly totals


async def _pair_series(scope: Scope, *, segment_id: str | None = None,
                       plan_id: str | None = None) -> dict[tuple[str, str], Series]:
    stmt = scope.where(select(Contribution.segment_id, Contribution.plan_id, SeriesPoint.metric, SeriesPoint.date,
                              SeriesPoint.value)
                       .join(SeriesPoint, SeriesPoint.contribution_id == Contribution.id)
                       .where(Contribution.deleted_at.is_(None)), Contribution)
    if segment_id:
        stmt = stmt.where(Contribution.segment_id == segment_id)
    if plan_id:
        stmt = stmt.where(Contribution.plan_id == plan_id)
    raw: dict[tuple[str, str], dict[str, list[tuple[date, float]]]] = defaultdict(lambda: defaultdict(list))
    for seg, plan, metric, d, v in (await scope.session.execute(stmt)).all():
        raw[(seg, plan)][metric].append((d, float(v)))
    # Per pair, months by the series rules: revenue summed, subscriptions their last observation.
    return {k: {m: _monthly(pts, m) for m, pts in series.items()} for k, series in raw.items()}


def _monthly(points: list[tuple[date, float]], metric: str) -> list[tuple[date, float]]:
    m = to_monthly(points, metric)
    return list(zip(m.months, m.values, strict=True))


def _latest(series: Series, metric: str) -> float | None:
    pts = series.get(metric) or []
    return pts[-1][1] if pts else None


def _sum_metric(all_series: list[Series], metric: str) -> list[tuple[date, float]]:
    """Across pairs, months add up (a segment's subscriptions are the sum of its plans')."""
    return stats.monthly_totals(p for s in all_series for p in s.get(metric, []))


def _last_n(pts: list[tuple[date, float]], n: int) -> float | None:
    return sum(v for _, v in pts[-n:]) if pts else None


async def _churn(scope: Scope, *filters: Any) -> float | None:
    rows = (await scope.session.execute(scope.select(Customer).where(*filters))).scalars().all()
    return stats.churn_rate([r.signup_date for r in rows], [r.churned_at for r in rows], utcnow().date())


async def _recent_signup_plans(scope: Scope, segment_id: str) -> list[str | None]:
    since = utcnow().date() - timedelta(days=90)
    stmt = scope.where(select(Customer.plan_id).where(Customer.segment_id == segment_id, Customer.deleted_at.is_(None),
                                                      Customer.signup_date >= since), Customer)
    return list((await scope.session.execute(stmt)).scalars())


def _segment_uids(scope: Scope, segment_id: str, *filters: Any) -> Any:
    """The segment's customer uids as a subquery: a large segment never becomes a bind list."""
    return scope.where(select(Customer.customer_uid).where(Customer.segment_id == segment_id,
                                                           Customer.deleted_at.is_(None), *filters), Customer)


async def _engagement(scope: Scope, segment_id: str) -> float | None:
    live = _segment_uids(scope, segment_id, Customer.churned_at.is_(None))
    total = (await scope.session.execute(select(func.count()).select_from(live.subquery()))).scalar_one()
    if not total:
        return None
    since = utcnow().date() - timedelta(days=30)
    active = scope.where(select(func.count(UsageRecord.customer_uid.distinct())).where(
        UsageRecord.customer_uid.in_(live), UsageRecord.date >= since), UsageRecord)
    return stats.engagement(int((await scope.session.execute(active)).scalar_one()), int(total))


def _plan_data(plan: PricingPlan, link: SegmentPlanLink, series: Series | None, seg_revenue: float | None,
               churn: float | None, exp_total: float, conversion: float | None) -> dict[str, Any]:
    users = _latest(series or {}, "subscriptions")
    revenue_last = _latest(series or {}, "revenue")
    cogs = None if plan.cogs_per_unit is None else float(plan.cogs_per_unit)
    roi = None
    if cogs is not None and cogs > 0 and users:
        cost = cogs * users * plan.min_unit_count
        roi = (revenue_last - cost) / cost if revenue_last is not None else None
    pct = link.percentage if link.connection_type == "experimental" else max(0.0, 100.0 - exp_total)
    pair_rev = _last_n((series or {}).get("revenue", []), 12)
    return {"name": plan.plan_name, "percentage": pct, "users": int(users) if users is not None else None,
            "roi": stats.pct(roi), "avgRevenue": stats.money(revenue_last / users if users and revenue_last else None,
                                                              plan.currency),
            "conversionRate": stats.pct(conversion, signed=False), "churnRate": stats.pct(churn, signed=False),
            "weightage": stats.pct(pair_rev / seg_revenue if pair_rev and seg_revenue else None, signed=False)}


async def segment_modal(scope: Scope, segment_id: str) -> dict[str, Any]:
    seg = await scope.get(CustomerSegment, segment_id, label="customer segment")
    pairs = await _pair_series(scope, segment_id=seg.id)
    revenue = _sum_metric(list(pairs.values()), "revenue")
    subs = _sum_metric(list(pairs.values()), "subscriptions")
    customers = int((await scope.session.execute(select(func.count()).select_from(
        _segment_uids(scope, seg.id).subquery()))).scalar_one())
    usage = stats.monthly_totals((d, float(q)) for d, q in (await scope.session.execute(scope.where(
        select(UsageRecord.date, UsageRecord.quantity).where(
            UsageRecord.customer_uid.in_(_segment_uids(scope, seg.id))), UsageRecord))).all())
    links = [x for x in await scope.list(SegmentPlanLink, SegmentPlanLink.segment_id == seg.id) if x.is_active]
    plans = {p.id: p for p in await scope.list(PricingPlan, PricingPlan.id.in_({x.plan_id for x in links}))}
    exp_total = sum(x.percentage or 0 for x in links if x.connection_type == "experimental")
    seg_rev12 = _last_n(revenue, 12)
    churn = await _churn(scope, Customer.segment_id == seg.id)
    ranked = sorted((x for x in links if x.plan_id in plans),
                    key=lambda x: (x.connection_type != "finalized", -(x.percentage or 0)))
    finalized = [x for x in ranked if x.connection_type == "finalized"]
    experimental = [x for x in ranked if x.connection_type == "experimental"]
    plan_a = finalized[0] if finalized else (experimental[0] if experimental else None)
    plan_b = next((x for x in experimental if x is not plan_a), None)

    recent = await _recent_signup_plans(scope, seg.id)
    engagement = await _engagement(scope, seg.id)
    ab: dict[str, dict[str, Any] | None] = {}
    for label, link in (("planA", plan_a), ("planB", plan_b)):
        if link is None:
            ab[label] = None
            continue
        plan_churn = await _churn(scope, Customer.segment_id == seg.id, Customer.plan_id == link.plan_id)
        ab[label] = _plan_data(plans[link.plan_id], link, pairs.get((seg.id, link.plan_id)), seg_rev12,
                               plan_churn, exp_total, stats.conversion(recent, link.plan_id))
    total_users = subs[-1][1] if subs else (float(customers) if customers else None)
    last_rev = revenue[-1][1] if revenue else None
    modal = {
        "name": seg.customer_segment_name,
        "filterQuery": f'customer_segment_uid = "{seg.customer_segment_uid}"',
        "totalUsers": int(total_users) if total_users is not None else None,
        "growthData": {"userGrowth": stats.pct(stats.growth([v for _, v in subs])),
                       "usageGrowth": stats.pct(stats.growth([v for _, v in usage])),
                       "revenueGrowth": stats.pct(stats.growth([v for _, v in revenue]))},
        "abTest": ab,
        "metrics": {"avgRevenue": stats.money(last_rev / total_users if last_rev and total_users else None),
                    "engagementScore": stats.pct(engagement, signed=False),
                    "churnRate": stats.pct(churn, signed=False)},
    }
    return {**segment_out(seg), "modal": modal,
            "links": [link_out(x) for x in links],
            "revenue_ts_data": [{"date": _iso_z_date(d), "value": v} for d, v in revenue],
            "active_subscriptions": [{"date": _iso_z_date(d), "value": v} for d, v in subs]}


def _iso_z_date(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


async def plan_modal(scope: Scope, plan_id: str) -> dict[str, Any]:
    plan = await scope.get(PricingPlan, plan_id, label="pricing plan")
    links = [x for x in await scope.list(SegmentPlanLink, SegmentPlanLink.plan_id == plan.id)]
    segs = {s.id: s for s in await scope.list(CustomerSegment, CustomerSegment.id.in_({x.segment_id for x in links}))}
    pairs = await _pair_series(scope, plan_id=plan.id)
    cogs = None if plan.cogs_per_unit is None else float(plan.cogs_per_unit)
    margin = stats.gross_margin(float(plan.unit_price), cogs)
    recent = {sid: await _recent_signup_plans(scope, sid) for sid in segs}
    experiments = [{
        "id": x.id, "name": f"{segs[x.segment_id].customer_segment_name} on {plan.plan_name}",
        "hypothesis": None, "status": "running" if x.is_active else "paused",
        "rollout": f"{(x.percentage or 0):g}%",
        "conversion": stats.pct(stats.conversion(recent[x.segment_id], plan.id), signed=False),
        "activeSince": _iso_z(x.created_at),
        "grossMargin": stats.pct(margin, signed=False), "price": stats.money(float(plan.unit_price), plan.currency),
        "description": segs[x.segment_id].customer_segment_description,
    } for x in links if x.connection_type == "experimental" and x.segment_id in segs]
    by_segment: dict[str, float] = {}
    for (seg_id, _), series in pairs.items():
        if seg_id in segs:
            name = segs[seg_id].customer_segment_name
            by_segment[name] = by_segment.get(name, 0.0) + (_last_n(series.get("revenue", []), 12) or 0.0)
    share = stats.shares(by_segment)
    contribution = [{"segment": name, "revenue": round(rev, 2), "percentage": round(share[name] * 100, 1),
                     "color": stats.PALETTE[i % len(stats.PALETTE)]}
                    for i, (name, rev) in enumerate(sorted(by_segment.items(), key=lambda kv: -kv[1]))]
    diagnosis = await latest_for(scope, plan.id)
    return {**plan_out(plan), "experiments": experiments, "segmentRevenueContribution": contribution,
            "price_history": await price_history(scope, plan.id), "gross_margin": stats.pct(margin, signed=False),
            "ai_gap_diagnosis": diagnosis_out(diagnosis) if diagnosis else None}
