"""Analytics routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pricewise.accounts.deps import ScopeDep, Writer
from pricewise.analytics import contributions, modal
from pricewise.analytics.schemas import ContributionIn

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
    return contributions.contribution_out(c, series[c.id])


@router.get("/api/analytics/segment-contribution")
async def list_contribution(scope: ScopeDep, product_id: str | None = None, segment_id: str | None = None,
                            plan_id: str | None = None) -> list[dict[str, Any]]:
    rows = await contributions.list_contributions(scope, product_id, segment_id, plan_id)
    series = await contributions.series_of(scope, [c.id for c in rows])
    return [contributions.contribution_out(c, series[c.id]) for c in rows]
