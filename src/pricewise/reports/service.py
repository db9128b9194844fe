"""Scheduled reports: stored with their next run computed in the report's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from pricewise.catalog.models import Product
from pricewise.core.base import utcnow
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope
from pricewise.reports.models import ScheduledReport
from pricewise.reports.schemas import ScheduledReportIn, cron_of


def next_run(cron: str, tz: str, after: datetime | None = None) -> datetime:
    local = (after or utcnow()).astimezone(ZoneInfo(tz))
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(UTC)


def report_out(r: ScheduledReport) -> dict[str, Any]:
    return {"_id": r.id, "name": r.name, "schedule_type": r.schedule_type, "schedule_config": r.schedule_config,
            "timezone": r.timezone, "report_sections": r.report_sections, "recipients": r.recipients,
            "created_at": _iso_z(r.created_at), "status": r.status, "next_run_at": _iso_z(r.next_run_at),
            "last_run_at": _iso_z(r.last_run_at), "last_delivery_status": r.last_delivery_status,
            "product_id": r.product_id}


async def create(scope: Scope, body: ScheduledReportIn) -> ScheduledReport:
    if body.product_id:
        await scope.get(Product, body.product_id, label="product")
    cron = cron_of(body.schedule_type, body.schedule_config)
    row = scope.add(ScheduledReport(
        name=body.name, product_id=body.product_id, schedule_type=body.schedule_type,
        schedule_config=body.schedule_config.model_dump(exclude_none=True), timezone=body.timezone, cron=cron,
        report_sections=[sec.model_dump(exclude_none=True) for sec in body.sections],
        recipients=list(dict.fromkeys(r.lower() for r in body.recipients)), status="active",
        next_run_at=next_run(cron, body.timezone)))
    await scope.session.flush()
    return row


async def delete(scope: Scope, report_id: str) -> None:
    scope.soft_delete(await scope.get(ScheduledReport, report_id, label="scheduled report"))


async def set_status(scope: Scope, report_id: str, status: str) -> ScheduledReport:
    row = await scope.get(ScheduledReport, report_id, label="scheduled report")
    row.status = status
    row.next_run_at = next_run(row.cron, row.timezone) if status == "active" else None
    row.updated_at = utcnow()
    await scope.session.flush()
    return row
