"""Customer usage analyses: recorded entries, and satisfaction predictions stored as entries.

The numbers come from analytics/satisfaction.py; this module gathers its inputs (the product's
documented text, the customer's usage, the product's recorded feedback) and stores the result.
Services flush; the request boundary commits.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, case, distinct, func, or_, select

from pricewise.analytics import satisfaction as sat
from pricewise.analytics.models import Customer, CustomerFeedback, UsageAnalysis, UsageRecord
from pricewise.analytics.narrator import narrate
from pricewise.catalog.models import CustomerSegment, Product, SearchDoc
from pricewise.core.base import utcnow
from pricewise.core.embeddings import DIM, get_embedder
from pricewise.core.errors import invalid
from pricewise.core.llm import LLMClient
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope

# wire name -> column
FIELDS = {"product": "product_id", "customer_segment": "segment_id", "customer_uid": "customer_uid",
          "customer_task_to_agent": "task", "predicted_customer_satisfaction_response": "predicted_satisfaction",
          "predicted_customer_satisfaction_response_reasoning": "reasoning"}
NOT_NULL = ("product", "customer_uid", "customer_task_to_agent", "predicted_customer_satisfaction_response",
            "predicted_customer_satisfaction_response_reasoning")
MAX_FEEDBACK = 1000  # the most recent scored feedback rows a calibration reads
CHUNK = 500


def analysis_out(a: UsageAnalysis) -> dict[str, Any]:
    modelled = a.method != "recorded" and bool(a.features)
    return {"_id": a.id, "product": a.product_id, "customer_segment": a.segment_id, "customer_uid": a.customer_uid,
            "customer_task_to_agent": a.task, "predicted_customer_satisfaction_response": a.predicted_satisfaction,
            "predicted_customer_satisfaction_response_reasoning": a.reasoning, "method": a.method,
            "prediction": a.features if modelled else None,
            "created_at": _iso_z(a.created_at), "updated_at": _iso_z(a.updated_at)}


async def _check_segment(scope: Scope, product_id: str | None, segment_id: str | None) -> None:
    if segment_id is not None:
        seg = await scope.get(CustomerSegment, segment_id, label="customer segment")
        if seg.product_id is not None and product_id is not None and seg.product_id != product_id:
            raise invalid("customer_segment", f"segment {segment_id} belongs to another product "
                                              f"({seg.product_id}), not {product_id}")


async def _check_refs(scope: Scope, product_id: str | None, segment_id: str | None) -> None:
    """Unknown or foreign ids are 404; a segment of another product is refused by name."""
    if product_id is not None:
        await scope.get(Product, product_id, label="product")
    await _check_segment(scope, product_id, segment_id)


# --- recorded entries ---------------------------------------------------------------------

async def create(scope: Scope, data: dict[str, Any]) -> UsageAnalysis:
    await _check_refs(scope, data["product"], data.get("customer_segment"))
    row = scope.add(UsageAnalysis(**{FIELDS[k]: v for k, v in data.items() if k in FIELDS}, method="recorded",
                                  features={}))
    await scope.session.flush()
    return row


async def update(scope: Scope, analysis_id: str, changes: dict[str, Any]) -> UsageAnalysis:
    row = await scope.get(UsageAnalysis, analysis_id, label="usage analysis")
    for key in NOT_NULL:
        if key in changes and changes[key] is None:
            raise invalid(key, "may not be null")
    product_id = changes.get("product", row.product_id)
    segment_id = changes.get("customer_segment", row.segment_id)
    if "product" in changes or "customer_segment" in changes:
        await _check_refs(scope, product_id, segment_id)
    for key, value in changes.items():
        setattr(row, FIELDS[key], value)
    if "predicted_customer_satisfaction_response" in changes:
        row.method = "recorded"  # an edited score is no longer the model's
    row.updated_at = utcnow()
    await scope.session.flush()
    return row


async def delete(scope: Scope, analysis_id: str) -> None:
    scope.soft_delete(await scope.get(UsageAnalysis, analysis_id, label="usage analysis"))
    await scope.session.flush()


async def list_analyses(scope: Scope, product_id: str | None, segment_id: str | None, customer_uid: str | None,
                        limit: int, offset: int) -> tuple[list[UsageAnalysis], int]:
    filters = []
    if product_id:
        filters.append(UsageAnalysis.product_id == product_id)
    if segment_id:
        filters.append(UsageAnalysis.segment_id == segment_id)
    if customer_uid:
        filters.append(UsageAnalysis.customer_uid == customer_uid)
    rows = await scope.list(UsageAnalysis, *filters, order_by=UsageAnalysis.created_at.desc(), limit=limit,
                            offset=offset)
    return list(rows), await scope.count(UsageAnalysis, *filters)


# --- the model's inputs ---------------------------------------------------------------------

def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


@dataclass
class Documents:
    """The product's documented text: whole documents (its search entries, with their stored
    vectors) and the feature-sized passages cut from its description."""

    whole: list[str]
    vectors: list[np.ndarray[Any, Any] | None]
    features: list[str]

    @property
    def count(self) -> int:
        return len(self.whole) + len(self.features)


async def _documents(scope: Scope, product: Product) -> Documents:
    features = sat.passages(product.features_description_summary, product.icp_description)
    docs = Documents([], [], features)
    rows = (await scope.session.execute(scope.select(SearchDoc).where(SearchDoc.entity_id == product.id))).scalars()
    for d in rows:
        docs.whole.append(f"{d.title}. {d.body}"[:2000])
        docs.vectors.append(np.frombuffer(d.embedding, dtype=np.float32) if len(d.embedding) == DIM * 4 else None)
    if not docs.whole:  # not indexed (yet): the same text, embedded here
        text = " ".join(filter(None, [product.features_description_summary, product.icp_description]))
        docs.whole.append(f"{product.name}. {text}"[:2000])
        docs.vectors.append(None)
    return docs


async def _usage(scope: Scope, uids: Sequence[str], product_id: str, as_of: date) -> dict[str, sat.UsageStats]:
    """Per customer: records, last use, quantity in the last and previous 30 days, metrics in 90.
    Records of the product and records without a product both count."""
    d30, d60, d90 = (as_of - timedelta(days=n) for n in (30, 60, 90))
    q = UsageRecord.quantity
    cols = (UsageRecord.customer_uid, func.count(), func.max(UsageRecord.date),
            func.sum(case((UsageRecord.date > d30, q), else_=0.0)),
            func.sum(case((and_(UsageRecord.date > d60, UsageRecord.date <= d30), q), else_=0.0)),
            func.count(distinct(case((UsageRecord.date > d90, UsageRecord.metric), else_=None))))
    out: dict[str, sat.UsageStats] = {}
    for chunk in _chunks(uids):
        stmt = scope.where(select(*cols).where(
            UsageRecord.customer_uid.in_(chunk), UsageRecord.date <= as_of,
            or_(UsageRecord.product_id == product_id, UsageRecord.product_id.is_(None))), UsageRecord)
        for uid, n, last, l30, p30, m90 in (await scope.session.execute(stmt.group_by(UsageRecord.customer_uid))):
            out[uid] = sat.UsageStats(int(n), last, float(l30 or 0), float(p30 or 0), int(m90 or 0))
    return out


async def _feedback(scope: Scope, product_id: str) -> list[tuple[str, float]]:
    """Scored feedback of the product: rows naming it, and rows without a product from customers
    of the product (matched by customer_uid)."""
    customers = scope.where(select(Customer.customer_uid).where(Customer.product_id == product_id,
                                                                Customer.deleted_at.is_(None)), Customer)
    stmt = scope.where(select(CustomerFeedback.customer_uid, CustomerFeedback.satisfaction_score).where(
        CustomerFeedback.deleted_at.is_(None), CustomerFeedback.satisfaction_score.is_not(None),
        or_(CustomerFeedback.product_id == product_id,
            and_(CustomerFeedback.product_id.is_(None), CustomerFeedback.customer_uid.in_(customers)))),
        CustomerFeedback).order_by(CustomerFeedback.created_at.desc(), CustomerFeedback.id).limit(MAX_FEEDBACK)
    return [(uid, float(s)) for uid, s in await scope.session.execute(stmt) if s is not None and math.isfinite(s)]


async def _tasks(scope: Scope, uids: Sequence[str], product_id: str) -> dict[str, str]:
    """Each customer's latest recorded task for the product."""
    out: dict[str, str] = {}
    for chunk in _chunks(uids):
        stmt = scope.where(select(UsageAnalysis.customer_uid, UsageAnalysis.task).where(
            UsageAnalysis.product_id == product_id, UsageAnalysis.customer_uid.in_(chunk),
            UsageAnalysis.deleted_at.is_(None), UsageAnalysis.task != ""), UsageAnalysis)
        for uid, task in await scope.session.execute(stmt.order_by(UsageAnalysis.created_at, UsageAnalysis.id)):
            out[uid] = task
    return out


async def _segment_of(scope: Scope, customer_uid: str, product_id: str) -> str | None:
    """The customer's segment from the imported customers, when it fits the product."""
    stmt = scope.where(select(CustomerSegment.id, CustomerSegment.product_id).join(
        Customer, Customer.segment_id == CustomerSegment.id).where(
        Customer.customer_uid == customer_uid, Customer.deleted_at.is_(None), CustomerSegment.deleted_at.is_(None)),
        Customer)
    row = (await scope.session.execute(stmt.limit(1))).first()
    return str(row[0]) if row is not None and row[1] in (None, product_id) else None


def _fits(tasks: list[str], docs: Documents) -> list[tuple[sat.Fit, str | None]]:
    """Embeds (CPU-bound: run in a thread) and scores each task against all the documented text;
    also names the closest feature passage, which the reasoning quotes."""
    emb = get_embedder()
    todo = [t for t, v in zip(docs.whole, docs.vectors, strict=True) if v is None]
    fresh = iter(emb.embed(todo)) if todo else iter(())
    whole = [v if v is not None else next(fresh) for v in docs.vectors]
    feats = emb.embed(docs.features) if docs.features else np.zeros((0, DIM), dtype=np.float32)
    matrix = np.concatenate([np.stack(whole), feats]) if whole else feats
    out: list[tuple[sat.Fit, str | None]] = []
    for v in emb.embed(tasks):
        best = sat.task_fit(v, feats).best
        out.append((sat.task_fit(v, matrix), docs.features[best] if best >= 0 else None))
    return out


@dataclass
class Predicted:
    row: UsageAnalysis | None
    prediction: dict[str, Any]
    reasoning: str
    segment_id: str | None


async def predict(scope: Scope, llm: LLMClient | None, *, product_id: str, segment_id: str | None,
                  customer_uid: str, task: str, save: bool) -> Predicted:
    product = await scope.get(Product, product_id, label="product")
    await _check_segment(scope, product_id, segment_id)
    segment_id = segment_id or await _segment_of(scope, customer_uid, product_id)
    as_of = utcnow().date()
    docs = await _documents(scope, product)
    feedback = await _feedback(scope, product_id)
    uids = sorted({customer_uid, *(u for u, _ in feedback)})
    usage = await _usage(scope, uids, product_id, as_of)
    # A feedback customer's fit uses their latest recorded task; without one, the task predicted.
    recorded_tasks = await _tasks(scope, sorted({u for u, _ in feedback}), product_id)
    distinct_tasks = sorted(set(recorded_tasks.values()) - {task})
    fits = await asyncio.to_thread(_fits, [task, *distinct_tasks], docs)
    fit_of = {t: f for t, (f, _) in zip([task, *distinct_tasks], fits, strict=True)}
    raw = [sat.raw_score(fit_of[recorded_tasks.get(u, task)], sat.usage_features(usage.get(u), as_of))[0]
           for u, _ in feedback]
    calibration = sat.calibrate(raw, [s for _, s in feedback])
    p = sat.predict(fit_of[task], sat.usage_features(usage.get(customer_uid), as_of), calibration)
    best = fits[0][1]
    template = sat.reasoning(p, best)
    features = {"fit": {"score": round(p.fit.score, 3), "max_cosine": round(p.fit.max_cos, 3),
                        f"mean_top{sat.TOP_K}_cosine": round(p.fit.mean_top, 3), "passages": docs.count,
                        "best_match": best[:300] if best else None},
                "usage": {**p.usage, "as_of": as_of.isoformat()},
                "raw_score": round(p.raw, 3), "logit": round(p.z, 3), "terms": p.terms}
    calib = calibration.as_dict() if calibration else None
    narrative = await narrate(llm, kind="usage_prediction", template=template, steer=None, facts={
        "score": p.score, "interval": list(p.interval), "raw_score": round(p.raw, 1),
        "fit": features["fit"], "usage": p.usage, "calibration": calib})
    method = "model+llm" if narrative.source == "llm" else "model"
    prediction = {"score": p.score, "interval": list(p.interval), "method": method, "features": features,
                  "calibration": calib, "note": narrative.note}
    row = None
    if save:
        row = scope.add(UsageAnalysis(product_id=product_id, segment_id=segment_id, customer_uid=customer_uid,
                                      task=task, predicted_satisfaction=p.score, reasoning=narrative.text,
                                      method=method, features=prediction))
        await scope.session.flush()
    return Predicted(row, prediction, narrative.text, segment_id)
