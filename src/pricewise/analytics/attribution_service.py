"""Revenue attribution read from the series rows: SQL sums each contribution's revenue per month
and finds the subscriptions that go with it, then the pure module shapes the result.

Sized for millions of daily points (bench/attribution_scale.py): only monthly sums leave the
database, and the points are read from the covering index ix_series_points_cover (contribution_id,
metric, date, value, tenant_id) alone, in whatever order they were written. On PostgreSQL each
contribution's months are summed in a LATERAL subquery (an index-only range scan), so the plan
neither depends on group-count estimates nor sorts every point on disk.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import TIMESTAMP, Select, cast, func, literal_column, select, text, true

from pricewise.analytics.attribution import Row, add_months, attribute, resolve_range
from pricewise.analytics.models import Contribution, SeriesPoint
from pricewise.catalog.models import CustomerSegment, PricingPlan
from pricewise.core.tenancy import Scope

Key = tuple[str, str, date]  # segment id, plan id, month


def _month_key(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.date_trunc(literal_column("'month'"), cast(SeriesPoint.date, TIMESTAMP))
    # SQLite stores dates as YYYY-MM-DD text; the constants are inlined so that GROUP BY and the
    # select list hold the same expression
    return func.substr(SeriesPoint.date, literal_column("1"), literal_column("7"))


def _month(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date().replace(day=1)
    if isinstance(value, date):
        return value.replace(day=1)
    return date(int(value[:4]), int(value[5:7]), 1)


async def revenue_attribution(scope: Scope, product_id: str | None, time_range: str | None,
                              start: date | None, end: date | None) -> dict[str, Any]:
    contribs = scope.where(select(Contribution.id).where(Contribution.deleted_at.is_(None)), Contribution)
    if product_id:
        contribs = contribs.where(Contribution.product_id == product_id)
    pairs = {cid: (seg, plan) for cid, seg, plan in (await scope.session.execute(
        contribs.add_columns(Contribution.segment_id, Contribution.plan_id))).all()}
    empty: dict[str, Any] = {"items": [], "totalRevenue": 0.0, "timeSeries": [], "range": None}
    if not pairs:
        return empty
    # Each contribution's latest revenue day is one backward step in the unique index.
    last_day = scope.where(select(func.max(SeriesPoint.date)).where(
        SeriesPoint.contribution_id == Contribution.id, SeriesPoint.metric == "revenue"), SeriesPoint)
    latest = (await scope.session.execute(
        contribs.with_only_columns(func.max(last_day.scalar_subquery())))).scalar_one_or_none()
    bounds = resolve_range(time_range, latest, start, end)
    if bounds is None:
        return empty
    first, last = bounds
    until = add_months(last, 1)
    dialect = scope.session.get_bind().dialect.name
    if dialect == "postgresql":
        # JIT compiling costs more than it saves on these plans (100+ ms, paid on every request).
        await scope.session.execute(text("SET LOCAL jit = off"))
    # Core execution: plain tuples, without the ORM's per-row work (33,000 rows at 1M points).
    conn = await scope.session.connection()
    months: dict[Any, date] = {}  # the driver's month value -> first day, converted once
    revenue: dict[Key, float] = {}
    for cid, m, total in await conn.execute(_revenue_by_month(scope, contribs, dialect, first, until)):
        seg, plan = pairs[cid]
        key = (seg, plan, months[m] if m in months else months.setdefault(m, _month(m)))
        revenue[key] = revenue.get(key, 0.0) + float(total or 0.0)
    range_out = {"start": max(first, date(1900, 1, 1)).isoformat(), "end": last.isoformat()}
    if not revenue:
        return {**empty, "range": range_out}
    users = await _users(scope, contribs, pairs, set(revenue), first, until)
    seg_names = {s.id: s.customer_segment_name for s in await scope.list(
        CustomerSegment, CustomerSegment.id.in_({k[0] for k in revenue}), include_deleted=True)}
    plan_names = {p.id: p.plan_name for p in await scope.list(
        PricingPlan, PricingPlan.id.in_({k[1] for k in revenue}), include_deleted=True)}
    rows = [Row(seg_names.get(s, s), plan_names.get(p, p), m, v, users.get((s, p, m)))
            for (s, p, m), v in revenue.items()]
    return {**attribute(rows), "range": range_out}


def _revenue_by_month(scope: Scope, contribs: Select[Any], dialect: str, first: date,
                      until: date) -> Select[Any]:
    """(contribution id, month, revenue) for the contributions of `contribs` within the range."""
    month = _month_key(dialect)
    in_range = (SeriesPoint.metric == "revenue", SeriesPoint.date >= first, SeriesPoint.date < until)
    if dialect == "postgresql":
        per_month = scope.where(
            select(month.label("month"), func.sum(SeriesPoint.value).label("total"))
            .where(SeriesPoint.contribution_id == Contribution.id, *in_range).group_by(month),
            SeriesPoint).lateral("per_month")
        return contribs.add_columns(per_month.c.month, per_month.c.total).join(per_month, true())
    # SQLite has no LATERAL; it walks the IN list through the same index, then sorts to group.
    return scope.where(
        select(SeriesPoint.contribution_id, month, func.sum(SeriesPoint.value))
        .where(SeriesPoint.contribution_id.in_(contribs), *in_range)
        .group_by(SeriesPoint.contribution_id, month), SeriesPoint)


async def _users(scope: Scope, contribs: Select[Any], pairs: dict[str, tuple[str, str]], with_revenue: set[Key],
                 first: date, until: date) -> dict[Key, float]:
    """Subscriptions of each pair in the latest month of the range where it has both revenue and
    subscriptions: the last observation of that month (over the pair's contributions when it
    has several), keyed by that month. Subscriptions are a stock, not summed."""
    def last_obs(column: Any) -> Any:
        return scope.where(select(column).where(
            SeriesPoint.contribution_id == Contribution.id, SeriesPoint.metric == "subscriptions",
            SeriesPoint.date >= first, SeriesPoint.date < until).order_by(SeriesPoint.date.desc()).limit(1),
            SeriesPoint).scalar_subquery()

    conn = await scope.session.connection()
    # Usually a pair's last observation falls in a month with revenue: one index step per contribution.
    latest: dict[tuple[str, str], tuple[date, float]] = {}
    for cid, day, value in await conn.execute(contribs.add_columns(last_obs(SeriesPoint.date),
                                                                   last_obs(SeriesPoint.value))):
        pair = pairs[cid]
        if day is not None and (pair not in latest or day >= latest[pair][0]):
            latest[pair] = (day, float(value))
    out: dict[Key, float] = {}
    others: set[tuple[str, str]] = set()
    for (seg, plan), (day, value) in latest.items():
        key = (seg, plan, day.replace(day=1))
        if key in with_revenue:
            out[key] = value
        else:
            others.add((seg, plan))
    if not others:
        return out
    # Otherwise the last observation of every month, for those pairs only.
    dialect = scope.session.get_bind().dialect.name
    month = _month_key(dialect)
    ids = [cid for cid, pair in pairs.items() if pair in others]
    ranked = scope.where(
        select(SeriesPoint.contribution_id, month.label("month"), SeriesPoint.date, SeriesPoint.value,
               func.row_number().over(partition_by=(SeriesPoint.contribution_id, month),
                                      order_by=SeriesPoint.date.desc()).label("n"))
        .where(SeriesPoint.contribution_id.in_(ids), SeriesPoint.metric == "subscriptions",
               SeriesPoint.date >= first, SeriesPoint.date < until), SeriesPoint).subquery()
    best: dict[Key, tuple[date, float]] = {}
    for cid, m, day, value in await conn.execute(
            select(ranked.c.contribution_id, ranked.c.month, ranked.c.date, ranked.c.value).where(ranked.c.n == 1)):
        seg, plan = pairs[cid]
        key = (seg, plan, _month(m))
        if key in with_revenue and (key not in best or day >= best[key][0]):
            best[key] = (day, float(value))
    latest_month: dict[tuple[str, str], date] = {}
    for seg, plan, m in best:
        latest_month[(seg, plan)] = max(m, latest_month.get((seg, plan), m))
    out.update({(s, p, m): best[(s, p, m)][1] for (s, p), m in latest_month.items()})
    return out
