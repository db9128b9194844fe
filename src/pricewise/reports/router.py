"""Scheduled report routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pricewise.accounts.deps import ScopeDep, Writer
from pricewise.catalog.schemas import IdBody
from pricewise.reports import service
from pricewise.reports.models import ScheduledReport
from pricewise.reports.schemas import ScheduledReportIn

router = APIRouter(tags=["reports"])


@router.post("/scheduled-reporting/create", dependencies=[Writer])
async def create(body: ScheduledReportIn, scope: ScopeDep) -> dict[str, Any]:
    return service.report_out(await service.create(scope, body))


@router.get("/scheduled-reporting/list")
async def list_reports(scope: ScopeDep) -> list[dict[str, Any]]:
    return [service.report_out(r) for r in await scope.list(ScheduledReport)]


@router.post("/scheduled-reporting/pause", dependencies=[Writer])
async def pause(body: IdBody, scope: ScopeDep) -> dict[str, Any]:
    return service.report_out(await service.set_status(scope, body.id, "paused"))


@router.post("/scheduled-reporting/resume", dependencies=[Writer])
async def resume(body: IdBody, scope: ScopeDep) -> dict[str, Any]:
    return service.report_out(await service.set_status(scope, body.id, "active"))


@router.delete("/scheduled-reporting/delete", dependencies=[Writer])
async def delete(body: IdBody, scope: ScopeDep) -> dict[str, bool]:
    await service.delete(scope, body.id)
    return {"success": True}
