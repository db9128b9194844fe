"""Pricing workspace routes in the existing client's exact shapes (bare arrays, `_id`,
DELETE with a JSON body answering {"success": true})."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from pricewise.accounts.deps import ScopeDep, Writer
from pricewise.catalog import links as link_svc
from pricewise.catalog import schemas as s
from pricewise.catalog import search as search_svc
from pricewise.catalog import service as svc
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
from pricewise.core.schemas import MAX_OFFSET

router = APIRouter(tags=["catalog"])
IdQuery = Annotated[str, Query(pattern=r"^[0-9a-fA-F]{24}$", description="24-hex id")]
Limit = Annotated[int, Query(ge=1, le=5000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
OK = {"success": True}


def _total(response: Response, n: int) -> None:
    response.headers["X-Total-Count"] = str(n)


# --- products ----------------------------------------------------------------------------

@router.get("/product/list")
async def list_products(scope: ScopeDep, response: Response, limit: Limit = 1000,
                        offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await svc.list_products(scope, include_archived=False, limit=limit, offset=offset)
    _total(response, total)
    return [svc.product_out(p) for p in rows]


@router.get("/product/listall")
async def list_all_products(scope: ScopeDep, response: Response, limit: Limit = 1000,
                            offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await svc.list_products(scope, include_archived=True, limit=limit, offset=offset)
    _total(response, total)
    return [svc.product_out(p) for p in rows]


@router.get("/product/read")
async def read_product(id: IdQuery, scope: ScopeDep) -> dict[str, Any]:
    return svc.product_out(await scope.get(Product, id, label="product"))


@router.post("/product/create", dependencies=[Writer])
async def create_product(body: s.ProductCreate, scope: ScopeDep) -> dict[str, Any]:
    data = body.model_dump(exclude_none=True)
    return svc.product_out(await svc.create_product(scope, data))


@router.put("/product/update", dependencies=[Writer])
async def update_product(body: s.ProductUpdate, scope: ScopeDep) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"id"})
    if changes.get("name") is None:
        changes.pop("name", None)
    return svc.product_out(await svc.update_product(scope, body.id, changes))


@router.delete("/product/delete", dependencies=[Writer])
async def delete_product(body: s.IdBody, scope: ScopeDep) -> dict[str, bool]:
    await svc.archive_product(scope, body.id)
    return OK


@router.post("/product/restore", dependencies=[Writer])
async def restore_product(body: s.IdBody, scope: ScopeDep) -> dict[str, Any]:
    return svc.product_out(await svc.restore_product(scope, body.id))


# --- customer segments -------------------------------------------------------------------

@router.get("/customer-segment/list")
async def list_segments(scope: ScopeDep, response: Response, product_id: str | None = None,
                        limit: Limit = 1000, offset: Offset = 0) -> list[dict[str, Any]]:
    filters = [CustomerSegment.product_id == product_id] if product_id else []
    rows = await scope.list(CustomerSegment, *filters, limit=limit, offset=offset)
    _total(response, await scope.count(CustomerSegment, *filters))
    return [svc.segment_out(x) for x in rows]


@router.get("/customer-segment/read")
async def read_segment(id: IdQuery, scope: ScopeDep) -> dict[str, Any]:
    return svc.segment_out(await scope.get(CustomerSegment, id, label="customer segment"))


@router.post("/customer-segment/create", dependencies=[Writer])
async def create_segment(body: s.SegmentCreate, scope: ScopeDep) -> dict[str, Any]:
    return svc.segment_out(await svc.create_segment(scope, body.model_dump()))


@router.put("/customer-segment/update", dependencies=[Writer])
async def update_segment(body: s.SegmentUpdate, scope: ScopeDep) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"id"})
    return svc.segment_out(await svc.update_segment(scope, body.id, changes))


@router.delete("/customer-segment/delete", dependencies=[Writer])
async def delete_segment(body: s.IdBody, scope: ScopeDep) -> dict[str, bool]:
    await svc.delete_segment(scope, body.id)
    return OK


# --- pricing plans -----------------------------------------------------------------------

@router.get("/pricing-plan/list")
async def list_plans(scope: ScopeDep, response: Response, product_id: str | None = None,
                     limit: Limit = 1000, offset: Offset = 0) -> list[dict[str, Any]]:
    filters = [PricingPlan.product_id == product_id] if product_id else []
    rows = await scope.list(PricingPlan, *filters, limit=limit, offset=offset)
    _total(response, await scope.count(PricingPlan, *filters))
    return [svc.plan_out(x) for x in rows]


@router.get("/pricing-plan/read")
async def read_plan(id: IdQuery, scope: ScopeDep) -> dict[str, Any]:
    return svc.plan_out(await scope.get(PricingPlan, id, label="pricing plan"))


@router.get("/pricing-plan/price-history")
async def plan_price_history(id: IdQuery, scope: ScopeDep) -> list[dict[str, Any]]:
    return await svc.price_history(scope, id)


@router.post("/pricing-plan/price-history", dependencies=[Writer])
async def add_plan_price(body: s.PriceHistoryIn, scope: ScopeDep) -> list[dict[str, Any]]:
    plan = await svc.add_price(scope, body.id, body.unit_price, body.effective_at)
    return await svc.price_history(scope, plan.id)


@router.post("/pricing-plan/create", dependencies=[Writer])
async def create_plan(body: s.PlanCreate, scope: ScopeDep) -> dict[str, Any]:
    return svc.plan_out(await svc.create_plan(scope, body.model_dump()))


@router.put("/pricing-plan/update", dependencies=[Writer])
async def update_plan(body: s.PlanUpdate, scope: ScopeDep) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"id"})
    return svc.plan_out(await svc.update_plan(scope, body.id, changes))


@router.delete("/pricing-plan/delete", dependencies=[Writer])
async def delete_plan(body: s.IdBody, scope: ScopeDep) -> dict[str, bool]:
    await svc.delete_plan(scope, body.id)
    return OK


# --- links -------------------------------------------------------------------------------

@router.post("/customer-segment/pricing-plan/link/create", dependencies=[Writer])
async def create_link(body: s.LinkCreate, scope: ScopeDep) -> dict[str, Any]:
    return link_svc.link_out(await link_svc.create_link(scope, body.model_dump()))


@router.put("/customer-segment/pricing-plan/link/update", dependencies=[Writer])
async def update_link(body: s.LinkUpdate, scope: ScopeDep) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude={"id"})
    return link_svc.link_out(await link_svc.update_link(scope, body.id, changes))


@router.delete("/customer-segment/pricing-plan/link/delete", dependencies=[Writer])
async def delete_link(body: s.IdBody, scope: ScopeDep) -> dict[str, bool]:
    await link_svc.delete_link(scope, body.id)
    return OK


@router.get("/customer-segment/pricing-plan/link/listall")
async def list_links(scope: ScopeDep, suggestions: bool = False, limit: Limit = 1000,
                     offset: Offset = 0) -> list[dict[str, Any]]:
    rows = await link_svc.list_links(scope, embed=True, limit=limit, offset=offset)
    if suggestions:
        from pricewise.catalog.evidence import revenue_by_pair

        rows += await link_svc.suggestions(scope, await revenue_by_pair(scope))
    return rows


# --- canvas ------------------------------------------------------------------------------

@router.get("/api/canvas/data")
async def canvas_data(scope: ScopeDep) -> dict[str, Any]:
    return await link_svc.canvas(scope)


@router.post("/api/canvas/connections", dependencies=[Writer])
async def canvas_connect(body: s.CanvasConnectionIn, scope: ScopeDep) -> dict[str, Any]:
    link = await link_svc.create_link(scope, {
        "customer_segment_id": body.source[3:], "pricing_plan_id": body.target[3:],
        "connection_type": body.connectionType, "percentage": body.percentage, "is_active": True})
    return link_svc.link_out(link)


@router.delete("/api/canvas/connections/{link_id}", dependencies=[Writer])
async def canvas_disconnect(link_id: str, scope: ScopeDep) -> dict[str, bool]:
    await link_svc.delete_link(scope, link_id)
    return OK


@router.put("/api/canvas/positions", dependencies=[Writer])
async def canvas_positions(body: s.PositionsIn, scope: ScopeDep) -> dict[str, Any]:
    n = await link_svc.save_positions(scope, [p.model_dump() for p in body.positions])
    return {"success": True, "saved": n}


# --- search ------------------------------------------------------------------------------

@router.post("/search")
async def search(body: s.SearchIn, scope: ScopeDep) -> dict[str, Any]:
    results = await search_svc.search(scope, body.query, body.limit, body.types)
    return {"results": results, "total_count": len(results), "query": body.query}
