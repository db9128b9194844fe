"""Products, segments and plans. Services flush; the request boundary commits."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func

from pricewise.alerts.service import check_competitors, check_price
from pricewise.catalog import search
from pricewise.catalog.models import CustomerSegment, PriceChange, PricingPlan, Product, SegmentPlanLink
from pricewise.core import audit
from pricewise.core.base import utcnow
from pricewise.core.errors import Conflict, invalid
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope
from pricewise.knowledge import service as knowledge


def _f(v: Decimal | None) -> float | None:
    return None if v is None else float(v)


# --- wire shapes -------------------------------------------------------------------------

def product_out(p: Product) -> dict[str, Any]:
    return {"_id": p.id, "name": p.name, "icp_description": p.icp_description,
            "unit_level_cogs": p.unit_level_cogs,
            "features_description_summary": p.features_description_summary,
            "competitors": p.competitors or [], "product_documentations": p.product_documentations or [],
            "vector_store_id": p.vector_store_id, "category": p.category,
            "pricing_objective": p.pricing_objective, "archived": p.deleted_at is not None,
            "created_at": _iso_z(p.created_at), "updated_at": _iso_z(p.updated_at)}


def segment_out(s: CustomerSegment) -> dict[str, Any]:
    return {"_id": s.id, "product": s.product_id, "customer_segment_uid": s.customer_segment_uid,
            "customer_segment_name": s.customer_segment_name,
            "customer_segment_description": s.customer_segment_description,
            "created_at": _iso_z(s.created_at), "updated_at": _iso_z(s.updated_at)}


def plan_out(p: PricingPlan) -> dict[str, Any]:
    return {"_id": p.id, "plan_name": p.plan_name, "unit_price": float(p.unit_price),
            "min_unit_count": p.min_unit_count, "unit_calculation_logic": p.unit_calculation_logic,
            "min_unit_utilization_period": p.min_unit_utilization_period, "currency": p.currency,
            "cogs_per_unit": _f(p.cogs_per_unit), "product": p.product_id,
            "created_at": _iso_z(p.created_at), "updated_at": _iso_z(p.updated_at)}


# --- products ----------------------------------------------------------------------------

def _apply(obj: Any, changes: dict[str, Any], mapping: dict[str, str] | None = None) -> None:
    for key, value in changes.items():
        setattr(obj, (mapping or {}).get(key, key), value)
    obj.updated_at = utcnow()


async def create_product(scope: Scope, data: dict[str, Any]) -> Product:
    product = scope.add(Product(**data))
    await search.index_product(scope, product)
    if product.product_documentations:  # ingested after commit
        await knowledge.sync_product_urls(scope, product)
    return product


async def update_product(scope: Scope, pid: str, changes: dict[str, Any]) -> Product:
    product = await scope.get(Product, pid, label="product")
    competitors = list(product.competitors or [])
    _apply(product, changes)
    await search.index_product(scope, product)
    if "product_documentations" in changes:  # new URLs ingested after commit, dropped ones removed
        await knowledge.sync_product_urls(scope, product)
    if "competitors" in changes:  # a competitor's known price that moved is an alert
        await check_competitors(scope, product, competitors)
    return product


async def archive_product(scope: Scope, pid: str) -> None:
    product = await scope.get(Product, pid, label="product")
    scope.soft_delete(product)
    await search.remove(scope, "product", pid)


async def restore_product(scope: Scope, pid: str) -> Product:
    product = await scope.get(Product, pid, include_deleted=True, label="product")
    product.deleted_at = None
    product.updated_at = utcnow()
    await search.index_product(scope, product)
    return product


async def list_products(scope: Scope, *, include_archived: bool, limit: int, offset: int) -> tuple[list[Product], int]:
    rows = await scope.list(Product, include_deleted=include_archived, limit=limit, offset=offset)
    return list(rows), await scope.count(Product, include_deleted=include_archived)


# --- segments ----------------------------------------------------------------------------

async def _check_product(scope: Scope, product_id: str | None) -> None:
    if product_id is not None:
        await scope.get(Product, product_id, label="product")


async def _check_uid(scope: Scope, uid: str, product_id: str | None, exclude: str | None = None) -> None:
    stmt = scope.select(CustomerSegment).where(
        CustomerSegment.customer_segment_uid == uid,
        func.coalesce(CustomerSegment.product_id, "") == (product_id or ""))
    if exclude:
        stmt = stmt.where(CustomerSegment.id != exclude)
    if (await scope.session.execute(stmt.limit(1))).first() is not None:
        where = f"product {product_id}" if product_id else "this workspace"
        raise Conflict(f"customer_segment_uid '{uid}' is already used by another segment of {where}",
                       fields=[{"field": "customer_segment_uid", "message": "already in use"}])


SEGMENT_FIELDS = {"product": "product_id"}


async def create_segment(scope: Scope, data: dict[str, Any]) -> CustomerSegment:
    product_id = data.pop("product", None)
    await _check_product(scope, product_id)
    await _check_uid(scope, data["customer_segment_uid"], product_id)
    fields = {"customer_segment_description": "", **{k: v for k, v in data.items() if v is not None}}
    seg = scope.add(CustomerSegment(product_id=product_id, **fields))
    await search.index_segment(scope, seg)
    return seg


async def update_segment(scope: Scope, sid: str, changes: dict[str, Any]) -> CustomerSegment:
    seg = await scope.get(CustomerSegment, sid, label="customer segment")
    product_id = changes.get("product", seg.product_id)
    if "product" in changes:
        await _check_product(scope, product_id)
    uid = changes.get("customer_segment_uid") or seg.customer_segment_uid
    if "product" in changes or "customer_segment_uid" in changes:
        await _check_uid(scope, uid, product_id, exclude=seg.id)
    _apply(seg, {k: v for k, v in changes.items() if v is not None or k == "product"}, SEGMENT_FIELDS)
    await search.index_segment(scope, seg)
    return seg


async def _archive_links(scope: Scope, column: Any, entity_id: str) -> None:
    """Deleting a segment or plan archives its links (soft, audited row by row)."""
    links = await scope.list(SegmentPlanLink, column == entity_id)
    now = utcnow()
    for link in links:
        link.deleted_at = now
        link.is_active = False


async def delete_segment(scope: Scope, sid: str) -> None:
    seg = await scope.get(CustomerSegment, sid, label="customer segment")
    scope.soft_delete(seg)
    await _archive_links(scope, SegmentPlanLink.segment_id, sid)
    await search.remove(scope, "customer_segment", sid)


# --- plans -------------------------------------------------------------------------------

async def create_plan(scope: Scope, data: dict[str, Any]) -> PricingPlan:
    product_id = data.pop("product", None)
    await _check_product(scope, product_id)
    clean = {k: v for k, v in data.items() if v is not None}
    price = Decimal(str(clean.pop("unit_price")))
    cogs = clean.pop("cogs_per_unit", None)
    fields = {"unit_calculation_logic": "", "min_unit_utilization_period": "", **clean}
    plan = scope.add(PricingPlan(product_id=product_id, unit_price=price,
                                 cogs_per_unit=None if cogs is None else Decimal(str(cogs)), **fields))
    await search.index_plan(scope, plan)  # flushes the plan: its price history row refers to it
    scope.add(PriceChange(plan_id=plan.id, unit_price=price, currency=plan.currency, effective_at=utcnow()))
    await check_price(scope, plan, None)
    return plan


async def update_plan(scope: Scope, pid: str, changes: dict[str, Any]) -> PricingPlan:
    plan = await scope.get(PricingPlan, pid, label="pricing plan")
    previous = plan.unit_price
    if "product" in changes:
        await _check_product(scope, changes["product"])
    clean = {k: v for k, v in changes.items() if v is not None or k in ("product", "cogs_per_unit")}
    if "unit_price" in clean:
        price = Decimal(str(clean.pop("unit_price")))
        if price != plan.unit_price:
            plan.unit_price = price
            scope.add(PriceChange(plan_id=plan.id, unit_price=price,
                                  currency=clean.get("currency") or plan.currency, effective_at=utcnow()))
    if "cogs_per_unit" in clean:
        cogs = clean.pop("cogs_per_unit")
        plan.cogs_per_unit = None if cogs is None else Decimal(str(cogs))
    _apply(plan, clean, {"product": "product_id"})
    await search.index_plan(scope, plan)
    await check_price(scope, plan, previous)
    return plan


async def delete_plan(scope: Scope, pid: str) -> None:
    plan = await scope.get(PricingPlan, pid, label="pricing plan")
    scope.soft_delete(plan)
    await _archive_links(scope, SegmentPlanLink.plan_id, pid)
    await search.remove(scope, "pricing_plan", pid)


async def add_price(scope: Scope, plan_id: str, price: float, effective_at: datetime) -> PricingPlan:
    """Record a past list price. The latest price in the history is the plan's current one."""
    plan = await scope.get(PricingPlan, plan_id, label="pricing plan")
    when = effective_at if effective_at.tzinfo else effective_at.replace(tzinfo=UTC)
    if when > utcnow():
        raise invalid("effective_at", "is in the future; schedule price changes by updating the plan then")
    if when.year < 1900:
        raise invalid("effective_at", "is before 1900")
    same = [r for r in await scope.list(PriceChange, PriceChange.plan_id == plan.id) if r.effective_at == when]
    if same:
        same[0].unit_price = Decimal(str(price))
    else:
        scope.add(PriceChange(plan_id=plan.id, unit_price=Decimal(str(price)), currency=plan.currency,
                              effective_at=when))
    await scope.session.flush()
    latest = (await scope.list(PriceChange, PriceChange.plan_id == plan.id, order_by=PriceChange.effective_at))[-1]
    previous = plan.unit_price
    if latest.unit_price != plan.unit_price:
        plan.unit_price = latest.unit_price
    audit.record(scope.session, scope.tenant_id, "add_price", "PricingPlan", plan.id,
                 {"unit_price": price, "effective_at": _iso_z(when)})
    await search.index_plan(scope, plan)
    await check_price(scope, plan, previous)
    return plan


async def price_history(scope: Scope, plan_id: str) -> list[dict[str, Any]]:
    await scope.get(PricingPlan, plan_id, include_deleted=True, label="pricing plan")
    rows = await scope.list(PriceChange, PriceChange.plan_id == plan_id, order_by=PriceChange.effective_at)
    return [{"unit_price": float(r.unit_price), "currency": r.currency,
             "effective_at": _iso_z(r.effective_at)} for r in rows]
