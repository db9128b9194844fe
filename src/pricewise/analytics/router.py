"""Analytics routes."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query

from pricewise.accounts.deps import ScopeDep, Writer
from pricewise.analytics import contributions, forecast_service, modal
from pricewise.analytics.attribution import RANGES
from pricewise.analytics.attribution_service import revenue_attribution
from pricewise.analytics.schemas import ContributionIn
from pricewise.core.errors import invalid

router = APIRouter(tags=["analytics"])


@router.get("/api/customer-segments/{segment_id}")
async def segment_detail(segment_id: str, scope: ScopeDep) -> dict[str, Any]:
    return await modal.segment_modal(scope, segment_id)


@router.get("/api/pricing-models/{plan_id}")
async def plan_detail(plan_id: str, scope: ScopeDep) -> dict[str, Any]:
    return await modal.plan_modal(scope, plan_id)


@router.post("/api/analytics/segment-contribution", dependencies=[Writer])
async def save_contribution(body: ContributionIn, scope: ScopeDep) -> dict[str, Any]:
    c = await contributions.save(scope, body.model_dump())
    series = await contributions.series_of(scope, [c.id])
    stored = await forecast_service.stored(scope, [c.id])
    return contributions.contribution_out(c, series[c.id], stored.get(c.id))


@router.get("/api/analytics/segment-contribution")
async def list_contribution(scope: ScopeDep, product_id: str | None = None, segment_id: str | None = None,
                            plan_id: str | None = None) -> list[dict[str, Any]]:
    rows = await contributions.list_contributions(scope, product_id, segment_id, plan_id)
    ids = [c.id for c in rows]
    series = await contributions.series_of(scope, ids)
    stored = await forecast_service.stored(scope, ids)
    return [contributions.contribution_out(c, series[c.id], stored.get(c.id)) for c in rows]


@router.get("/api/analytics/revenue-attribution")
async def attribution(scope: ScopeDep, product_id: str | None = None,
                      time_range: str | None = Query(None, alias="timeRange"),
                      start: date | None = None, end: date | None = None) -> dict[str, Any]:
    if time_range is not None and time_range not in RANGES:
        raise invalid("timeRange", f"must be one of {', '.join(RANGES)}, or give start/end dates")
    try:
        return await revenue_attribution(scope, product_id, time_range, start, end)
    except ValueError as exc:
        raise invalid("start", str(exc)) from None
