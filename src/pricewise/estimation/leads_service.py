"""Leads: estimates that came with the customer's contact details."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from pricewise.core.errors import NotFound
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope
from pricewise.estimation.models import Estimation

CSV_FIELDS = ["_id", "created_at", "status", "customer_name", "customer_email", "customer_phone", "region",
              "reference_class", "cost_p50", "cost_p80", "timeline_weeks_p50", "estimate_status", "description",
              "notes"]


def lead_out(e: Estimation) -> dict[str, Any]:
    est = e.estimate or {}
    return {"_id": e.id, "session_id": e.session_id, "status": e.lead_status, "notes": e.lead_notes,
            "customer_email": e.customer_email, "customer_name": e.customer_name,
            "customer_phone": e.customer_phone, "region": e.region, "reference_class": e.matched_class_name,
            "cost_p50": est.get("cost_p50"), "cost_p80": est.get("cost_p80"),
            "timeline_weeks_p50": est.get("timeline_weeks_p50"), "estimate_status": e.status,
            "description": e.user_description[:500], "created_at": _iso_z(e.created_at),
            "updated_at": _iso_z(e.updated_at)}


async def listing(scope: Scope, *, status: str | None, since: datetime | None, until: datetime | None,
                  q: str | None, limit: int | None, offset: int) -> tuple[Sequence[Estimation], int]:
    stmt = scope.select(Estimation).where(Estimation.customer_email.is_not(None))
    if status:
        stmt = stmt.where(Estimation.lead_status == status)
    if since:
        stmt = stmt.where(Estimation.created_at >= since)
    if until:
        stmt = stmt.where(Estimation.created_at < until)
    if q:
        like = f"%{q.lower().replace('%', '').replace('_', '')}%"
        stmt = stmt.where(func.lower(Estimation.customer_email).like(like)
                          | func.lower(func.coalesce(Estimation.customer_name, "")).like(like))
    total = int((await scope.session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one())
    stmt = stmt.order_by(Estimation.created_at.desc(), Estimation.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return (await scope.session.execute(stmt)).scalars().all(), total


async def patch(scope: Scope, lead_id: str, data: dict[str, Any]) -> Estimation:
    row = await scope.get(Estimation, lead_id, label="lead")
    if row.customer_email is None:
        raise NotFound(f"lead {lead_id} not found")
    if data.get("status") is not None:
        row.lead_status = data["status"]
    if data.get("notes") is not None:
        row.lead_notes = data["notes"]
    await scope.session.flush()
    return row


def _cell(v: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: customers type these fields.
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return "" if v is None else v


def to_csv(rows: Sequence[Estimation]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for e in rows:
        w.writerow({k: v if k == "customer_phone" else _cell(v) for k, v in lead_out(e).items()})
    return buf.getvalue()
