"""Configuration, data sources, integrations and automation routes of the pricing workspace."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pricewise.accounts.deps import Admin, ScopeDep, Writer
from pricewise.catalog import schemas as s
from pricewise.catalog import sources, workspace
from pricewise.catalog.models import AutomationConfig, ProductIntegration
from pricewise.core.context import CtxDep

router = APIRouter(tags=["workspace"])


@router.get("/envs/get")
async def envs(scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    return await workspace.environment(scope, ctx)


@router.get("/llmstxt/get")
async def llmstxt(scope: ScopeDep) -> dict[str, Any]:
    return await workspace.llm_text(scope)


@router.put("/llmstxt/update", dependencies=[Admin])
async def llmstxt_update(body: s.LlmTextUpdate, scope: ScopeDep) -> dict[str, Any]:
    return await workspace.update_llm_text(scope, body.model_dump(exclude_none=True))


@router.get("/automation/get")
async def automation_get(scope: ScopeDep) -> list[dict[str, Any]]:
    return [workspace.automation_out(a) for a in await scope.list(AutomationConfig)]


@router.post("/automation/push", dependencies=[Writer])
async def automation_push(body: s.AutomationIn, scope: ScopeDep) -> dict[str, Any]:
    row = await workspace.push_automation(scope, body.model_dump())
    return {"success": True, "_id": row.id}


@router.get("/productsources/list")
async def product_sources(scope: ScopeDep) -> list[dict[str, Any]]:
    return await sources.list_sources(scope, "product")


@router.get("/revenuesources/list")
async def revenue_sources(scope: ScopeDep) -> list[dict[str, Any]]:
    return await sources.list_sources(scope, "revenue")


@router.get("/customersegmentsources/list")
async def segment_sources(scope: ScopeDep) -> list[dict[str, Any]]:
    return await sources.list_sources(scope, "customer_segment")


@router.post("/datasources/create", dependencies=[Writer])
async def source_create(body: s.DataSourceIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    return sources.source_out(await sources.create_source(scope, ctx, body.model_dump()))


@router.delete("/datasources/delete", dependencies=[Writer])
async def source_delete(body: s.IdBody, scope: ScopeDep) -> dict[str, bool]:
    await sources.delete_source(scope, body.id)
    return {"success": True}


@router.post("/productintegration/create", dependencies=[Writer])
async def integration_create(body: s.IntegrationIn, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    row = await sources.create_integration(scope, ctx, body.model_dump())
    return sources.integration_out(ctx, row)


@router.get("/productintegration/list")
async def integration_list(scope: ScopeDep, ctx: CtxDep, product_id: str | None = None) -> list[dict[str, Any]]:
    filters = [ProductIntegration.product_id == product_id] if product_id else []
    return [sources.integration_out(ctx, r) for r in await scope.list(ProductIntegration, *filters)]


@router.delete("/productintegration/delete", dependencies=[Writer])
async def integration_delete(body: s.IdBody, scope: ScopeDep) -> dict[str, bool]:
    await sources.delete_integration(scope, body.id)
    return {"success": True}
