"""Analytics routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pricewise.accounts.deps import ScopeDep
from pricewise.analytics import modal

router = APIRouter(tags=["analytics"])


@router.get("/api/customer-segments/{segment_id}")
async def segment_detail(segment_id: str, scope: ScopeDep) -> dict[str, Any]:
    return await modal.segment_modal(scope, segment_id)


@router.get("/api/pricing-models/{plan_id}")
async def plan_detail(plan_id: str, scope: ScopeDep) -> dict[str, Any]:
    return await modal.plan_modal(scope, plan_id)
