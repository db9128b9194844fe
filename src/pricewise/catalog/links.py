"""Segment-plan links, suggested links, and the canvas (nodes, edges, saved positions)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func, select

from pricewise.catalog.models import CanvasPosition, CustomerSegment, PricingPlan, SegmentPlanLink
from pricewise.catalog.service import plan_out, segment_out
from pricewise.core.base import utcnow
from pricewise.core.embeddings import get_embedder
from pricewise.core.errors import Conflict, Invalid
from pricewise.core.events import emit
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope

EXPERIMENT_CAP = 100.0


def link_out(link: SegmentPlanLink) -> dict[str, Any]:
    return {"_id": link.id, "customer_segment_id": link.segment_id, "pricing_plan_id": link.plan_id,
            "connection_type": link.connection_type, "percentage": link.percentage,
            "is_active": link.is_active, "created_at": _iso_z(link.created_at),
            "updated_at": _iso_z(link.updated_at)}


async def _check_experiment_total(scope: Scope, segment_id: str, exclude: str | None, adding: float) -> None:
    """Active experimental rollouts of one segment share its traffic: at most 100% in total."""
    stmt = scope.where(select(func.coalesce(func.sum(SegmentPlanLink.percentage), 0.0)), SegmentPlanLink).where(
        SegmentPlanLink.segment_id == segment_id, SegmentPlanLink.deleted_at.is_(None),
        SegmentPlanLink.is_active.is_(True), SegmentPlanLink.connection_type == "experimental")
    if exclude:
        stmt = stmt.where(SegmentPlanLink.id != exclude)
    current = float((await scope.session.execute(stmt)).scalar_one() or 0.0)
    if current + adding > EXPERIMENT_CAP + 1e-9:
        raise Invalid(
            f"percentage: active experimental links of this segment would total {current + adding:g}% "
            f"(already {current:g}%); the total may not exceed 100%",
            fields=[{"field": "percentage", "message": f"total would be {current + adding:g}% > 100%"}])


def _publish(scope: Scope, action: str, link: SegmentPlanLink) -> None:
    emit(scope.session, scope.tenant_id, "canvas_connection_updated", {"action": action, "link": link_out(link)})


async def create_link(scope: Scope, data: dict[str, Any]) -> SegmentPlanLink:
    seg = await scope.get(CustomerSegment, data["customer_segment_id"], label="customer segment")
    plan = await scope.get(PricingPlan, data["pricing_plan_id"], label="pricing plan")
    pct = data.get("percentage")
    dup = (await scope.session.execute(scope.select(SegmentPlanLink).where(
        SegmentPlanLink.segment_id == seg.id, SegmentPlanLink.plan_id == plan.id,
        SegmentPlanLink.is_active.is_(True)).limit(1))).first()
    if dup is not None:
        raise Conflict("this segment is already linked to this plan; update that link instead",
                       fields=[{"field": "pricing_plan_id", "message": "already linked"}])
    if data["connection_type"] == "experimental" and data.get("is_active", True):
        await _check_experiment_total(scope, seg.id, None, pct or 0.0)
    link = scope.add(SegmentPlanLink(segment_id=seg.id, plan_id=plan.id, connection_type=data["connection_type"],
                                     percentage=pct, is_active=data.get("is_active", True)))
    await scope.session.flush()
    _publish(scope, "created", link)
    return link


async def update_link(scope: Scope, link_id: str, changes: dict[str, Any]) -> SegmentPlanLink:
    link = await scope.get(SegmentPlanLink, link_id, label="link")
    ctype = changes.get("connection_type") or link.connection_type
    pct = changes.get("percentage", link.percentage)
    active = changes["is_active"] if changes.get("is_active") is not None else link.is_active
    if ctype == "experimental" and active:
        await _check_experiment_total(scope, link.segment_id, link.id, pct or 0.0)
    link.connection_type, link.percentage, link.is_active = ctype, pct, active
    link.updated_at = utcnow()
    await scope.session.flush()
    _publish(scope, "updated", link)
    return link


async def delete_link(scope: Scope, link_id: str) -> None:
    link = await scope.get(SegmentPlanLink, link_id, label="link")
    scope.soft_delete(link)
    link.is_active = False
    _publish(scope, "deleted", link)


async def list_links(scope: Scope, *, embed: bool, limit: int, offset: int) -> list[dict[str, Any]]:
    links = await scope.list(SegmentPlanLink, limit=limit, offset=offset)
    if not embed:
        return [link_out(x) for x in links]
    segs = {s.id: s for s in await scope.list(CustomerSegment, CustomerSegment.id.in_({x.segment_id for x in links}),
                                               include_deleted=True)}
    plans = {p.id: p for p in await scope.list(PricingPlan, PricingPlan.id.in_({x.plan_id for x in links}),
                                                include_deleted=True)}
    out = []
    for x in links:
        row = link_out(x)
        if x.segment_id in segs:
            row["customer_segment"] = segment_out(segs[x.segment_id])
        if x.plan_id in plans:
            row["pricing_plan"] = plan_out(plans[x.plan_id])
        out.append(row)
    return out


async def suggestions(scope: Scope, evidence: dict[tuple[str, str], float] | None = None,
                      limit: int = 10) -> list[dict[str, Any]]:
    """Unlinked segment x plan pairs ranked by text similarity (the local embedding model) and,
    where revenue data exists, the pair's share of recorded revenue."""
    segs = list(await scope.list(CustomerSegment, limit=500))
    plans = list(await scope.list(PricingPlan, limit=500))
    if not segs or not plans:
        return []
    linked = {(x.segment_id, x.plan_id) for x in await scope.list(SegmentPlanLink)}
    emb = get_embedder()
    sv = emb.embed([f"{s.customer_segment_name}. {s.customer_segment_description}" for s in segs])
    pv = emb.embed([f"{p.plan_name}. {p.unit_calculation_logic} {p.min_unit_utilization_period}" for p in plans])
    sim = sv @ pv.T
    evidence = evidence or {}
    total_rev = sum(evidence.values()) or 1.0
    out: list[dict[str, Any]] = []
    for i, s in enumerate(segs):
        for j, p in enumerate(plans):
            if (s.id, p.id) in linked:
                continue
            share = evidence.get((s.id, p.id), 0.0) / total_rev
            score = float(np.clip(0.7 * max(sim[i, j], 0.0) + 0.3 * min(share * 4, 1.0), 0, 1))
            reason = f"text similarity {sim[i, j]:.2f} between segment and plan descriptions"
            if share > 0:
                reason += f"; {share:.0%} of recorded revenue comes from this pair"
            out.append({"_id": f"suggested-{s.id}-{p.id}", "customer_segment_id": s.id, "pricing_plan_id": p.id,
                        "connection_type": "experimental", "percentage": None, "is_active": False,
                        "suggested": True, "score": round(score, 4), "reason": reason,
                        "customer_segment": segment_out(s), "pricing_plan": plan_out(p)})
    out.sort(key=lambda r: -r["score"])
    return out[:limit]


# --- canvas ------------------------------------------------------------------------------

COL_X = {"customerSegment": 120.0, "pricingPlan": 520.0}
ROW_H = 110.0


async def canvas(scope: Scope) -> dict[str, Any]:
    segs = list(await scope.list(CustomerSegment))
    plans = list(await scope.list(PricingPlan))
    links = [x for x in await scope.list(SegmentPlanLink) if x.is_active]
    saved = {p.node_id: p for p in await scope.list(CanvasPosition)}

    def pos(node_id: str, kind: str, row: int) -> dict[str, float]:
        p = saved.get(node_id)  # a saved position wins; otherwise a stable two-column layout
        return {"x": p.x, "y": p.y} if p else {"x": COL_X[kind], "y": 80.0 + row * ROW_H}

    nodes = [{"data": {"id": f"cs-{s.id}", "label": s.customer_segment_name, "type": "customerSegment",
                       "segment_id": s.id}, "position": pos(f"cs-{s.id}", "customerSegment", i)}
             for i, s in enumerate(segs)]
    nodes += [{"data": {"id": f"pp-{p.id}", "label": p.plan_name, "type": "pricingPlan", "plan_id": p.id},
               "position": pos(f"pp-{p.id}", "pricingPlan", i)} for i, p in enumerate(plans)]
    seg_ids, plan_ids = {s.id for s in segs}, {p.id for p in plans}
    edges = []
    for x in links:
        if x.segment_id not in seg_ids or x.plan_id not in plan_ids:
            continue
        data: dict[str, Any] = {"id": x.id, "source": f"cs-{x.segment_id}", "target": f"pp-{x.plan_id}",
                                "connectionType": x.connection_type}
        if x.percentage is not None:
            data["percentage"] = f"{x.percentage:g}%"
        edges.append({"data": data})
    return {"nodes": nodes, "edges": edges}


async def save_positions(scope: Scope, positions: list[dict[str, Any]]) -> int:
    saved = {p.node_id: p for p in await scope.list(CanvasPosition)}
    seg_ids = {s.id for s in await scope.list(CustomerSegment)}
    plan_ids = {p.id for p in await scope.list(PricingPlan)}
    for item in positions:
        kind, _, eid = item["id"].partition("-")
        if eid not in (seg_ids if kind == "cs" else plan_ids):
            raise Invalid(f"positions: unknown node {item['id']}",
                          fields=[{"field": "positions", "message": f"unknown node {item['id']}"}])
        row = saved.get(item["id"])
        if row is None:
            scope.add(CanvasPosition(node_id=item["id"], x=item["x"], y=item["y"]))
        else:
            row.x, row.y = item["x"], item["y"]
    await scope.session.flush()
    return len(positions)
