"""Writing validated CSV rows: upserts by each kind's natural key, in chunks.

revenue/subscriptions: a series point per (contribution, metric, date), the contribution per
(product, segment, plan) created when missing. customers: by customer_uid. usage: by (customer,
product, date, metric). feedback: by (customer, product, feedback_date, source) when dated, else
added. A present column replaces the stored value (an empty cell clears it); an absent column
leaves it as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update

from pricewise.analytics.models import Contribution, Customer, CustomerFeedback, SeriesPoint, UsageRecord
from pricewise.core.base import utcnow
from pricewise.core.tenancy import Scope

Rows = Sequence[tuple[int, dict[str, Any]]]
Tick = Callable[[int], None]
CHUNK = 500


def _chunks(seq: Sequence[Any], n: int = CHUNK) -> list[Sequence[Any]]:
    return [seq[i:i + n] for i in range(0, len(seq), n)]


async def _contributions(scope: Scope, triples: set[tuple[str | None, str, str]]) -> dict[Any, str]:
    """(product, segment, plan) -> contribution id, creating the missing ones (oldest wins)."""
    found: dict[Any, str] = {}
    segments = sorted({t[1] for t in triples})
    for chunk in _chunks(segments):
        for c in await scope.list(Contribution, Contribution.segment_id.in_(chunk)):
            found.setdefault((c.product_id, c.segment_id, c.plan_id), c.id)
    created = []
    for product_id, segment_id, plan_id in sorted(triples - found.keys(), key=str):
        created.append(scope.add(Contribution(product_id=product_id, segment_id=segment_id, plan_id=plan_id)))
    if created:
        await scope.session.flush()
        found.update({(c.product_id, c.segment_id, c.plan_id): c.id for c in created})
    return found


async def write_series(scope: Scope, metric: str, rows: Rows, tick: Tick) -> list[str]:
    """Upsert the points; returns the ids of the contributions written to."""
    pair = {(v["product_id"], v["segment_id"], v["plan_id"]) for _, v in rows}
    contribution = await _contributions(scope, pair)
    ids = sorted(set(contribution.values()))
    existing: dict[tuple[str, date], int] = {}
    for chunk in _chunks(ids):
        stmt = scope.where(select(SeriesPoint.id, SeriesPoint.contribution_id, SeriesPoint.date)
                           .where(SeriesPoint.contribution_id.in_(chunk), SeriesPoint.metric == metric), SeriesPoint)
        existing.update({(cid, d): pid for pid, cid, d in (await scope.session.execute(stmt)).all()})
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for _, v in rows:
        cid = contribution[(v["product_id"], v["segment_id"], v["plan_id"])]
        point_id = existing.get((cid, v["date"]))
        if point_id is None:
            inserts.append({"tenant_id": scope.tenant_id, "contribution_id": cid, "metric": metric,
                            "date": v["date"], "value": float(v["value"])})
        else:
            updates.append({"id": point_id, "value": float(v["value"])})
    done = 0
    for batch in _chunks(inserts, 2000):
        await scope.session.execute(insert(SeriesPoint), list(batch))
        done += len(batch)
        tick(done)
    for batch in _chunks(updates, 2000):
        await scope.session.execute(update(SeriesPoint), list(batch))
        done += len(batch)
        tick(done)
    now = utcnow()  # the series changed: their forecasts are due (see analytics.forecast_service)
    for chunk in _chunks(ids):
        await scope.session.execute(update(Contribution).where(Contribution.tenant_id == scope.tenant_id,
                                                              Contribution.id.in_(chunk))
                                    .values(updated_at=now).execution_options(synchronize_session=False))
    return ids


CUSTOMER_FIELDS = ("name", "segment_id", "plan_id", "product_id", "monthly_revenue", "seats", "signup_date",
                   "churned_at")


async def write_customers(scope: Scope, rows: Rows, tick: Tick) -> None:
    uids = [v["customer_uid"] for _, v in rows]
    existing: dict[str, Customer] = {}
    for chunk in _chunks(uids):
        stmt = scope.select(Customer, include_deleted=True).where(Customer.customer_uid.in_(chunk))
        existing.update({c.customer_uid: c for c in (await scope.session.execute(stmt)).scalars()})
    now = utcnow()
    for i, (_, v) in enumerate(rows, start=1):
        fields = {k: v[k] for k in CUSTOMER_FIELDS if k in v}
        if "name" in fields and fields["name"] is None:
            fields["name"] = ""
        customer = existing.get(v["customer_uid"])
        if customer is None:
            scope.add(Customer(customer_uid=v["customer_uid"], **fields))
        else:
            for key, value in fields.items():
                setattr(customer, key, value)
            customer.deleted_at = None
            customer.updated_at = now
        if i % CHUNK == 0:
            await scope.session.flush()
            tick(i)
    await scope.session.flush()
    tick(len(rows))


async def write_usage(scope: Scope, rows: Rows, tick: Tick) -> None:
    uids = sorted({v["customer_uid"] for _, v in rows})
    existing: dict[tuple[Any, ...], int] = {}
    for chunk in _chunks(uids):
        stmt = scope.where(select(UsageRecord.id, UsageRecord.customer_uid, UsageRecord.product_id,
                                  UsageRecord.date, UsageRecord.metric)
                           .where(UsageRecord.customer_uid.in_(chunk)), UsageRecord)
        existing.update({(u, p, d, m): rid for rid, u, p, d, m in (await scope.session.execute(stmt)).all()})
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for _, v in rows:
        product_id = v.get("product_id")
        rid = existing.get((v["customer_uid"], product_id, v["date"], v["metric"]))
        if rid is None:
            inserts.append({"tenant_id": scope.tenant_id, "customer_uid": v["customer_uid"],
                            "product_id": product_id, "date": v["date"], "metric": v["metric"],
                            "quantity": float(v["quantity"])})
        else:
            updates.append({"id": rid, "quantity": float(v["quantity"])})
    done = 0
    for batch in _chunks(inserts, 2000):
        await scope.session.execute(insert(UsageRecord), list(batch))
        done += len(batch)
        tick(done)
    for batch in _chunks(updates, 2000):
        await scope.session.execute(update(UsageRecord), list(batch))
        done += len(batch)
        tick(done)


FEEDBACK_FIELDS = ("segment_id", "product_id", "satisfaction_score", "price_perception", "feature_requests",
                   "churn_risk", "feedback_source", "feedback_date", "tags", "comments")
_EMPTY: dict[str, Any] = {"feature_requests": [], "tags": [], "comments": ""}


async def write_feedback(scope: Scope, rows: Rows, tick: Tick) -> None:
    uids = sorted({v["customer_uid"] for _, v in rows if v.get("feedback_date") is not None})
    existing: dict[tuple[Any, ...], CustomerFeedback] = {}
    for chunk in _chunks(uids):
        stmt = scope.select(CustomerFeedback).where(CustomerFeedback.customer_uid.in_(chunk),
                                                    CustomerFeedback.feedback_date.is_not(None))
        for f in (await scope.session.execute(stmt)).scalars():
            existing.setdefault((f.customer_uid, f.product_id, f.feedback_date, f.feedback_source), f)
    now = utcnow()
    for i, (_, v) in enumerate(rows, start=1):
        fields = {k: (_EMPTY.get(k) if v[k] is None else v[k]) for k in FEEDBACK_FIELDS if k in v}
        key = (v["customer_uid"], v.get("product_id"), v.get("feedback_date"), v.get("feedback_source"))
        found = existing.get(key) if v.get("feedback_date") is not None else None
        if found is None:
            scope.add(CustomerFeedback(customer_uid=v["customer_uid"], **fields))
        else:
            for k, value in fields.items():
                setattr(found, k, value)
            found.updated_at = now
        if i % CHUNK == 0:
            await scope.session.flush()
            tick(i)
    await scope.session.flush()
    tick(len(rows))
