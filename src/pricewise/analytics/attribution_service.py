"""Revenue attribution read from the series rows: SQL groups by pair and month, then the pure
module shapes the result."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select

from pricewise.analytics.attribution import Row, add_months, attribute, resolve_range
from pricewise.analytics.models import Contribution, SeriesPoint
from pricewise.catalog.models import CustomerSegment, PricingPlan
from pricewise.core.tenancy import Scope


def _month_key(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(SeriesPoint.date, "YYYY-MM")
    return func.strftime("%Y-%m", SeriesPoint.date)


async def revenue_attribution(scope: Scope, product_id: str | None, time_range: str | None,
                              start: date | None, end: date | None) -> dict[str, Any]:
    base = scope.where(select(Contribution.id).where(Contribution.deleted_at.is_(None)), Contribution)
    if product_id:
        base = base.where(Contribution.product_id == product_id)
    contribs = base.subquery()
    latest = (await scope.session.execute(scope.where(
        select(func.max(SeriesPoint.date)).where(SeriesPoint.metric == "revenue",
                                                 SeriesPoint.contribution_id.in_(select(contribs.c.id))),
        SeriesPoint))).scalar_one_or_none()
    bounds = resolve_range(time_range, latest, start, end)
    empty: dict[str, Any] = {"items": [], "totalRevenue": 0.0, "timeSeries": [], "range": None}
    if bounds is None:
        return empty
    first, last = bounds
    month = _month_key(scope.session.get_bind().dialect.name).label("month")
    stmt = scope.where(
        select(Contribution.segment_id, Contribution.plan_id, SeriesPoint.metric, month,
               func.sum(SeriesPoint.value), func.max(SeriesPoint.date))
        .join(SeriesPoint, SeriesPoint.contribution_id == Contribution.id)
        .where(Contribution.id.in_(select(contribs.c.id)), SeriesPoint.date >= first,
               SeriesPoint.date < add_months(last, 1))
        .group_by(Contribution.segment_id, Contribution.plan_id, SeriesPoint.metric, month), Contribution)
    grouped = (await scope.session.execute(stmt)).all()
    if not grouped:
        return {**empty, "range": {"start": first.isoformat(), "end": last.isoformat()}}
    seg_names = {s.id: s.customer_segment_name for s in await scope.list(
        CustomerSegment, CustomerSegment.id.in_({g[0] for g in grouped}), include_deleted=True)}
    plan_names = {p.id: p.plan_name for p in await scope.list(
        PricingPlan, PricingPlan.id.in_({g[1] for g in grouped}), include_deleted=True)}
    revenue: dict[tuple[str, str, str], float] = {}
    subs: dict[tuple[str, str, str], float] = {}
    for seg, plan, metric, m, total, _ in grouped:
        (revenue if metric == "revenue" else subs)[(seg, plan, m)] = float(total or 0.0)
    # subscriptions are a stock: a month with several observations takes its last one
    last_subs = await _last_observations(scope, [(s, p, m) for (s, p, m) in subs], first, last)
    rows = [Row(seg_names.get(s, s), plan_names.get(p, p), date.fromisoformat(m + "-01"), v,
                last_subs.get((s, p, m))) for (s, p, m), v in revenue.items()]
    return {**attribute(rows), "range": {"start": max(first, date(1900, 1, 1)).isoformat(),
                                         "end": last.isoformat()}}


async def _last_observations(scope: Scope, keys: list[tuple[str, str, str]], first: date,
                             last: date) -> dict[tuple[str, str, str], float]:
    if not keys:
        return {}
    dialect = scope.session.get_bind().dialect.name
    month = _month_key(dialect).label("month")
    stmt = scope.where(
        select(Contribution.segment_id, Contribution.plan_id, month, SeriesPoint.date, SeriesPoint.value)
        .join(SeriesPoint, SeriesPoint.contribution_id == Contribution.id)
        .where(SeriesPoint.metric == "subscriptions", SeriesPoint.date >= first,
               SeriesPoint.date < add_months(last, 1))
        .order_by(SeriesPoint.date), Contribution)
    out: dict[tuple[str, str, str], float] = {}
    wanted = set(keys)
    for seg, plan, m, _, value in (await scope.session.execute(stmt)).all():
        if (seg, plan, m) in wanted:
            out[(seg, plan, m)] = float(value)  # ordered by date: the last one wins
    return out
