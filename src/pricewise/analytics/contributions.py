"""Segment x plan contributions and their revenue and subscription series (rows, upserted by date)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from pricewise.analytics import forecast_service
from pricewise.analytics.models import Contribution, ForecastPoint, SeriesPoint, StoredForecast
from pricewise.analytics.series import check_points
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
from pricewise.core import audit
from pricewise.core.base import utcnow
from pricewise.core.errors import Invalid
from pricewise.core.events import emit
from pricewise.core.schemas import as_day, iso_day
from pricewise.core.tenancy import Scope

WIRE_METRICS = {"revenue_ts_data": "revenue", "active_subscriptions": "subscriptions"}


async def find_or_create(scope: Scope, product_id: str | None, segment_id: str, plan_id: str) -> Contribution:
    if product_id:
        await scope.get(Product, product_id, label="product")
    seg = await scope.get(CustomerSegment, segment_id, label="customer segment")
    plan = await scope.get(PricingPlan, plan_id, label="pricing plan")
    # As the CSV import does: without a product, the pair belongs to its segment's (or plan's).
    product_id = product_id or seg.product_id or plan.product_id
    stmt = scope.select(Contribution).where(Contribution.segment_id == segment_id, Contribution.plan_id == plan_id)
    stmt = stmt.where(Contribution.product_id == product_id if product_id else Contribution.product_id.is_(None))
    row = (await scope.session.execute(stmt)).scalars().first()
    if row is None:
        row = scope.add(Contribution(product_id=product_id, segment_id=segment_id, plan_id=plan_id))
        await scope.session.flush()
    return row


async def upsert_points(scope: Scope, contribution: Contribution, metric: str,
                        points: list[tuple[date, float]]) -> int:
    if not points:
        return 0
    rows = [{"tenant_id": scope.tenant_id, "contribution_id": contribution.id, "metric": metric, "date": d,
             "value": float(v)} for d, v in points]
    dialect = scope.session.get_bind().dialect.name
    ins = pg_insert(SeriesPoint) if dialect == "postgresql" else sqlite_insert(SeriesPoint)
    stmt = ins.on_conflict_do_update(index_elements=["contribution_id", "metric", "date"],
                                     set_={"value": ins.excluded.value})
    for i in range(0, len(rows), 1000):
        await scope.session.execute(stmt, rows[i:i + 1000])
    return len(rows)


async def save(scope: Scope, data: dict[str, Any]) -> Contribution:
    today = utcnow().date()
    series: dict[str, list[tuple[date, float]]] = {}
    fields: list[dict[str, str]] = []
    for wire, metric in WIRE_METRICS.items():
        pts = [(as_day(p["date"]), p["value"]) for p in data.get(wire) or []]
        for err in check_points(pts, metric, today):
            fields.append({"field": f"{wire}.{err.index}", "message": err.message})
        series[metric] = pts
    if fields:
        raise Invalid("; ".join(f"{f['field']}: {f['message']}" for f in fields[:10]), fields=fields[:50])
    contribution = await find_or_create(scope, data.get("product"), data["customer_segment"], data["pricing_plan"])
    written = sum([await upsert_points(scope, contribution, m, pts) for m, pts in series.items()])
    contribution.updated_at = utcnow()
    if written:
        # The points are written in bulk (not row by row through the ORM): one audit row says what.
        audit.record(scope.session, scope.tenant_id, "upsert_points", "Contribution", contribution.id,
                     {m: {"points": len(p), "first": min(p)[0].isoformat(), "last": max(p)[0].isoformat()}
                      for m, p in series.items() if p})
        emit(scope.session, scope.tenant_id, "revenue_data_updated",
             {"contribution_id": contribution.id, "segment_id": contribution.segment_id,
              "plan_id": contribution.plan_id, "points": written})
        forecast_service.schedule(scope.session, scope.tenant_id, [contribution.id])
    return contribution


async def series_of(scope: Scope, ids: list[str]) -> dict[str, dict[str, list[tuple[date, float]]]]:
    out: dict[str, dict[str, list[tuple[date, float]]]] = defaultdict(lambda: defaultdict(list))
    if not ids:
        return out
    stmt = scope.where(select(SeriesPoint.contribution_id, SeriesPoint.metric, SeriesPoint.date, SeriesPoint.value)
                       .where(SeriesPoint.contribution_id.in_(ids)).order_by(SeriesPoint.date), SeriesPoint)
    for cid, metric, d, v in (await scope.session.execute(stmt)).all():
        out[cid][metric].append((d, float(v)))
    return out


def _wire(points: list[tuple[date, float]]) -> list[dict[str, Any]]:
    return [{"date": iso_day(d), "value": v} for d, v in points]


def contribution_out(c: Contribution, series: dict[str, list[tuple[date, float]]],
                     forecasts: dict[str, tuple[StoredForecast, list[ForecastPoint]]] | None = None) -> dict[str, Any]:
    """The spec's shape; `forecast_details` adds each forecast's model, MASE, fallback and intervals."""
    forecasts = forecasts or {}
    means = {m: [(p.date, p.mean) for p in pts] for m, (_, pts) in forecasts.items()}
    details = {m: forecast_service.forecast_out(row, pts, forecast_service.is_current(row, series.get(m, [])))
               for m, (row, pts) in forecasts.items()}
    return {"_id": c.id, "product": c.product_id, "customer_segment": c.segment_id, "pricing_plan": c.plan_id,
            "revenue_ts_data": _wire(series.get("revenue", [])),
            "active_subscriptions": _wire(series.get("subscriptions", [])),
            "revenue_forecast_ts_data": _wire(means.get("revenue", [])),
            "active_subscriptions_forecast": _wire(means.get("subscriptions", [])),
            "forecast_details": details}


async def list_contributions(scope: Scope, product_id: str | None, segment_id: str | None,
                             plan_id: str | None) -> list[Contribution]:
    filters = []
    if product_id:
        filters.append(Contribution.product_id == product_id)
    if segment_id:
        filters.append(Contribution.segment_id == segment_id)
    if plan_id:
        filters.append(Contribution.plan_id == plan_id)
    return list(await scope.list(Contribution, *filters))
