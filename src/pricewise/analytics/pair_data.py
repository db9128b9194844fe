"""What the pricing models read for one segment x plan: monthly series, the list price in force
each month, and the baseline forecast at today's price (computed on the spot over the pair's
series, which may span several contributions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from pricewise.analytics import forecast as fc
from pricewise.analytics import forecast_service
from pricewise.analytics.models import Contribution, SeriesPoint
from pricewise.analytics.price_response import Baseline, price_by_month
from pricewise.analytics.series import Monthly, to_monthly
from pricewise.catalog.models import PriceChange, PricingPlan
from pricewise.core.errors import invalid
from pricewise.core.tenancy import Scope


@dataclass(frozen=True)
class PairData:
    plan: PricingPlan
    contribution_ids: list[str]
    revenue: Monthly
    subscriptions: Monthly
    prices: list[float]  # the list price in force each month of `subscriptions`

    @property
    def current_price(self) -> float:
        return float(self.plan.unit_price)

    def last_common(self) -> tuple[float, float] | None:
        """(revenue, subscriptions) of the latest month both series have: per-subscription figures
        never divide one month's revenue by another month's count."""
        subs = dict(zip(self.subscriptions.months, self.subscriptions.values, strict=True))
        for m, rev in zip(reversed(self.revenue.months), reversed(self.revenue.values), strict=True):
            if m in subs:
                return rev, subs[m]
        return None

    @property
    def unit_cost(self) -> float | None:
        return None if self.plan.cogs_per_unit is None else float(self.plan.cogs_per_unit)


async def price_changes(scope: Scope, plan_id: str) -> list[tuple[date, float]]:
    rows = await scope.list(PriceChange, PriceChange.plan_id == plan_id, order_by=PriceChange.effective_at)
    return [(r.effective_at.date(), float(r.unit_price)) for r in rows]


async def load(scope: Scope, plan: PricingPlan, segment_id: str | None, product_id: str | None = None) -> PairData:
    """Series of the plan within one segment (or across all its segments when segment_id is None)."""
    stmt = scope.where(select(Contribution.id).where(Contribution.plan_id == plan.id,
                                                     Contribution.deleted_at.is_(None)), Contribution)
    if segment_id:
        stmt = stmt.where(Contribution.segment_id == segment_id)
    if product_id:
        stmt = stmt.where(Contribution.product_id == product_id)
    ids = list((await scope.session.execute(stmt)).scalars())
    raw: dict[str, dict[date, float]] = {"revenue": {}, "subscriptions": {}}
    if ids:
        pts = scope.where(select(SeriesPoint.contribution_id, SeriesPoint.metric, SeriesPoint.date,
                                 SeriesPoint.value).where(SeriesPoint.contribution_id.in_(ids)), SeriesPoint)
        per: dict[tuple[str, str], list[tuple[date, float]]] = {}
        for cid, metric, d, v in (await scope.session.execute(pts)).all():
            per.setdefault((cid, metric), []).append((d, float(v)))
        # Each contribution is resampled by the metric's rule, then months add up across them.
        for (_, metric), series in per.items():
            m = to_monthly(series, metric)
            for d, v in zip(m.months, m.values, strict=True):
                raw[metric][d] = raw[metric].get(d, 0.0) + v
    revenue = Monthly(sorted(raw["revenue"]), [raw["revenue"][d] for d in sorted(raw["revenue"])], [])
    subs = Monthly(sorted(raw["subscriptions"]), [raw["subscriptions"][d] for d in sorted(raw["subscriptions"])], [])
    prices = price_by_month(subs.months, await price_changes(scope, plan.id), float(plan.unit_price))
    return PairData(plan, ids, revenue, subs, prices)


def baseline(data: PairData, horizon: int) -> Baseline:
    """Forecasts at today's price. Revenue without its own history is subscriptions x price."""
    try:
        subs = fc.forecast(data.subscriptions.values, h=horizon)
        rev = fc.forecast(data.revenue.values, h=horizon) if data.revenue.values else None
    except ValueError as exc:
        raise invalid("pricing_plan", f"the series of plan {data.plan.id} cannot be forecast: {exc}") from None
    if rev is None:
        p = data.current_price * data.plan.min_unit_count
        rev = fc.Forecast(subs.model, [v * p for v in subs.mean], [v * p for v in subs.lo80],
                          [v * p for v in subs.hi80], [v * p for v in subs.lo95], [v * p for v in subs.hi95],
                          subs.mase, fallback="revenue estimated as subscriptions x list price")
    last = max(data.subscriptions.months[-1], data.revenue.months[-1] if data.revenue.months else date.min)
    months = forecast_service.future_months(last, horizon)
    return Baseline(months, subs.mean, rev.mean, rev.lo80, rev.hi80, rev.lo95, rev.hi95)
