"""Report routes: templates, generation (a job), status, download and history; scheduled reports
and their deliveries."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from pricewise.accounts.deps import AILimit, ScopeDep, Writer, get_principal
from pricewise.catalog.schemas import IdBody
from pricewise.core.context import CtxDep
from pricewise.core.schemas import MAX_OFFSET
from pricewise.reports import service
from pricewise.reports.models import GeneratedReport, ScheduledReport
from pricewise.reports.schemas import ReportGenerateIn, ScheduledReportIn
from pricewise.reports.templates import TEMPLATES

router = APIRouter(tags=["reports"])
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@router.get("/api/reports", dependencies=[Depends(get_principal)])
async def templates() -> list[dict[str, Any]]:
    return [t.out() for t in TEMPLATES.values()]


@router.post("/api/reports/generate", dependencies=[Writer, AILimit])
async def generate(body: ReportGenerateIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    row = await service.create_report(
        scope, ctx, body.name, body.product_id,
        [s.model_dump(exclude_none=True) for s in body.sections] if body.sections else None,
        body.time_range.model_dump(mode="json") if body.time_range else None, template_id=body.template_id)
    return {"report_id": row.id, "generation_status": "started"}


@router.get("/api/reports/history")
async def history(scope: ScopeDep, response: Response, limit: Limit = 50, offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await service.history(scope, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return [service.history_out(r) for r in rows]


@router.get("/api/reports/{report_id}/status")
async def status(report_id: str, scope: ScopeDep) -> dict[str, Any]:
    return service.report_status_out(await scope.get(GeneratedReport, report_id, label="report"))


@router.get("/api/reports/{report_id}/download", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
async def download(report_id: str, scope: ScopeDep) -> Response:
    row, pdf = await service.pdf_of(scope, report_id)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{service.filename(row)}"'})


@router.post("/scheduled-reporting/create", dependencies=[Writer])
async def create(body: ScheduledReportIn, scope: ScopeDep) -> dict[str, Any]:
    return service.report_out(await service.create(scope, body))


@router.get("/scheduled-reporting/list")
async def list_reports(scope: ScopeDep) -> list[dict[str, Any]]:
    return [service.report_out(r) for r in await scope.list(ScheduledReport)]


@router.get("/scheduled-reporting/{schedule_id}/deliveries")
async def deliveries(schedule_id: str, scope: ScopeDep, response: Response, limit: Limit = 50,
                     offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await service.deliveries(scope, schedule_id, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return [service.delivery_out(d) for d in rows]


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
