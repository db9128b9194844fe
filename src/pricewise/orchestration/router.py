"""Analysis runs: start, list, detail, logs, cancel / pause / resume, and the client's
/historical routes (ui-client-contract.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from pricewise.accounts.deps import ScopeDep, Writer
from pricewise.core.context import CtxDep
from pricewise.core.schemas import MAX_OFFSET, Limit, Offset
from pricewise.orchestration import service
from pricewise.orchestration.schemas import StartIn

router = APIRouter(tags=["orchestration"])
RunLimit = Annotated[int, Query(ge=1, le=200)]
InvocationId = Annotated[str, Query(min_length=1, max_length=36)]


# Not under the per-minute AI limit: a run is queued, and MAX_CONCURRENT_ORCHESTRATIONS bounds
# how many of a tenant's runs (and so their LLM calls) go at once.
@router.post("/orchestration", dependencies=[Writer])
@router.post("/api/orchestration/start", dependencies=[Writer])
async def start_run(body: StartIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    return await service.start(scope, ctx, body)


@router.get("/api/orchestration/runs")
async def list_runs(scope: ScopeDep, response: Response, invocation_id: str | None = None,
                    product_id: str | None = None, status: str | None = None, limit: RunLimit = 50,
                    offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await service.listing(scope, invocation_id, product_id, status, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return rows


@router.get("/api/orchestration/runs/{invocation_id}")
async def run_detail(invocation_id: str, scope: ScopeDep) -> dict[str, Any]:
    return await service.detail(scope, invocation_id)


@router.get("/api/orchestration/runs/{invocation_id}/logs")
async def run_logs(invocation_id: str, scope: ScopeDep, after: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
                   limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> list[dict[str, Any]]:
    """The run's log lines in order; `after` (a line's _id) returns only the lines since, for polling."""
    _, rows = await service.logs(scope, invocation_id, after, limit)
    return [service.log_out(r) for r in rows]


@router.post("/api/orchestration/runs/{invocation_id}/cancel", dependencies=[Writer])
async def cancel_run(invocation_id: str, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    return await service.control(scope, ctx, invocation_id, "cancel")


@router.post("/api/orchestration/runs/{invocation_id}/pause", dependencies=[Writer])
async def pause_run(invocation_id: str, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    return await service.control(scope, ctx, invocation_id, "pause")


@router.post("/api/orchestration/runs/{invocation_id}/resume", dependencies=[Writer])
async def resume_run(invocation_id: str, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    return await service.control(scope, ctx, invocation_id, "resume")


@router.get("/historical/allruns")
async def all_runs(scope: ScopeDep, response: Response, limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await service.historical(scope, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return rows


@router.get("/historical/runlogs")
async def historical_logs(scope: ScopeDep, invocation_id: InvocationId,
                          limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> dict[str, Any]:
    return await service.run_logs(scope, invocation_id, limit)
