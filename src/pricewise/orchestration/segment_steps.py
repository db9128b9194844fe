"""The steps of customer_segmentation: cluster the product's imported customers, then write draft
segments for review (they are not added to the catalog)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select

from pricewise.analytics.models import Customer, UsageRecord
from pricewise.analytics.narrator import narrate
from pricewise.core.base import utcnow
from pricewise.orchestration import product_scope, segmentation
from pricewise.orchestration.workflows import StepEnv, StepInput

MAX_CUSTOMERS = 50_000


async def _features(env: StepEnv, inp: StepInput) -> list[segmentation.CustomerFeatures]:
    ps = await product_scope.load(env.scope, inp)
    scope, pid = env.scope, ps.product.id
    today = utcnow().date()
    mine = [Customer.product_id == pid]
    if ps.segments:
        mine.append(Customer.segment_id.in_(list(ps.segments)))
    if ps.plans and not ps.targeted:
        mine.append(Customer.plan_id.in_(list(ps.plans)))
    stmt = scope.select(Customer).where(or_(*mine), or_(Customer.churned_at.is_(None), Customer.churned_at > today))
    if ps.targeted:
        stmt = stmt.where(Customer.segment_id.in_(list(ps.segments)))
    customers = list((await scope.session.execute(stmt.order_by(Customer.customer_uid).limit(MAX_CUSTOMERS)))
                     .scalars())
    uids = [c.customer_uid for c in customers]
    usage: dict[str, tuple[float, int]] = {}
    for i in range(0, len(uids), 1000):
        chunk = uids[i:i + 1000]
        rows = await scope.session.execute(scope.where(
            select(UsageRecord.customer_uid, func.sum(UsageRecord.quantity),
                   func.count(func.distinct(UsageRecord.metric)))
            .where(UsageRecord.customer_uid.in_(chunk), UsageRecord.date >= today - timedelta(days=90),
                   or_(UsageRecord.product_id == pid, UsageRecord.product_id.is_(None)))
            .group_by(UsageRecord.customer_uid), UsageRecord))
        usage.update({u: (float(q or 0.0), int(b)) for u, q, b in rows.all()})
    return [segmentation.CustomerFeatures(
        c.customer_uid, c.monthly_revenue, c.seats, usage.get(c.customer_uid, (0.0, 0))[0],
        usage.get(c.customer_uid, (0.0, 0))[1],
        None if c.signup_date is None else max((today - c.signup_date).days, 0) / 30.44) for c in customers]


async def customer_clustering(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    rows = await _features(env, inp)
    result = segmentation.cluster(rows)
    return {"customers": result.customers, "features": list(segmentation.FEATURES), "k": result.k,
            "silhouette": {str(k): v for k, v in result.silhouette.items()},
            "clusters": [{"cluster": i + 1, "size": c.size, "medians": {k: round(v, 2) for k, v in c.medians.items()},
                          "examples": c.members[:5]} for i, c in enumerate(result.clusters)],
            "overall_medians": {k: round(v, 2) for k, v in result.overall.items()}, "imputed": result.imputed,
            "note": result.note,
            "summary": result.note or (f"{result.customers} customers in {result.k} clusters (silhouette "
                                       f"{result.silhouette[result.k]:.4f}, the best of k = 2 to "
                                       f"{max(result.silhouette)}).")}


async def draft_segments(env: StepEnv, inp: StepInput) -> dict[str, Any]:
    found = inp.previous.get("customer_clustering", {})
    clusters = [segmentation.Cluster(c["size"], c["medians"], c["examples"]) for c in found.get("clusters", [])]
    if not clusters:
        return {"drafts": [], "summary": found.get("note") or "no clusters to describe",
                "note": "draft segments are for review: nothing was added to the catalog"}
    result = segmentation.Clustering(found["customers"], found["k"], {}, clusters, found["overall_medians"])
    llm = await env.llm()
    out = []
    for d in segmentation.drafts(result):
        story = await narrate(llm, kind="customer segment description", template=d.description,
                              facts={"name": d.name, "customers": d.size, "share": d.share, **d.medians})
        out.append({"customer_segment_name": d.name, "customer_segment_uid": d.uid,
                    "customer_segment_description": story.text, "narrator": story.source, "size": d.size,
                    "share": d.share, "medians": d.medians, "example_customers": d.examples, "status": "draft"})
    return {"drafts": out, "summary": f"{len(out)} draft segment(s) for review.",
            "note": "draft segments are for review: nothing was added to the catalog"}
