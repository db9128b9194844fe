"""What the MCP tools do, each in one tenant's scope: the estimation and analytics functions, read
only (nothing is stored; a gap diagnosis is computed, not saved)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from pricewise.analytics import contributions, forecast_service, gap, gap_service
from pricewise.analytics.attribution import RANGES
from pricewise.analytics.attribution_service import revenue_attribution as attribution
from pricewise.catalog.models import PricingPlan, Product
from pricewise.core.context import AppContext
from pricewise.core.embeddings import static_embedder
from pricewise.core.errors import invalid
from pricewise.core.tenancy import Scope
from pricewise.estimation import extract, feedback_service, service
from pricewise.estimation.compute import ClassView, Estimate, Factor
from pricewise.estimation.llm_extract import llm_client
from pricewise.estimation.matching import LOW_CONFIDENCE, Match
from pricewise.estimation.priors import Quantiles


async def match_reference_class(scope: Scope, description: str, region: str | None, limit: int) -> dict[str, Any]:
    region = service.canonical_region(region)
    classes = await service.class_set(scope)
    attrs = extract.extract(description)
    region = region or attrs.get("region")
    if static_embedder().unseen(description):  # first sight of a word: the transformer, off the loop (as compute)
        matches = await asyncio.to_thread(classes.matcher.match, description, region, attrs)
    else:
        matches = classes.matcher.match(description, region, attrs)
    return {"region": region, "low_confidence_below": LOW_CONFIDENCE,
            "matches": [{"id": m.id, "name": classes.views[m.id].name, "category": classes.views[m.id].category,
                         "subcategory": m.subcategory, "confidence": round(m.confidence, 4),
                         "score": round(m.score, 4)} for m in matches[:limit]]}


async def compute_estimate(ctx: AppContext, scope: Scope, description: str, region: str | None,
                           attributes: dict[str, Any] | None) -> dict[str, Any]:
    """The same computation as POST /estimate/start, without storing anything. Without
    `attributes` the details are read from the description as the API does."""
    keys = await service.stamps(scope)
    llm = await llm_client(ctx, scope, keys.own_llm_key)
    attrs = attributes if attributes is not None else await service.details_of(llm, description)
    region = service.canonical_region(region) or attrs.get("region")
    return computed_out(await service.compute(scope, llm, keys, description, region, attrs))


def computed_out(c: service.Computed) -> dict[str, Any]:
    # Every field of the computation, so a caller can rebuild it exactly (computed_in).
    return {"matched_reference_class": asdict(c.match), "reference_class": asdict(c.view),
            "estimate": {**asdict(c.result), "currency": "USD"}, "calibration": c.calibration,
            "narrative": c.narrative, "extracted_attributes": c.attrs, "region": c.region}


def computed_in(data: dict[str, Any]) -> service.Computed:
    v = dict(data["reference_class"])
    view = ClassView(**{**v, "cost": Quantiles(**v["cost"]), "timeline": Quantiles(**v["timeline"])})
    e = {k: x for k, x in data["estimate"].items() if k != "currency"}
    result = Estimate(**{**e, "factors": [Factor(**f) for f in e["factors"]]})
    return service.Computed(Match(**data["matched_reference_class"]), view, result, dict(data["calibration"]),
                            str(data["narrative"]), dict(data["extracted_attributes"]), data["region"])


async def calibration_summary(scope: Scope) -> dict[str, Any]:
    return await feedback_service.summary(scope)


async def forecast_revenue(scope: Scope, product_id: str) -> dict[str, Any]:
    """The stored forecasts of a product's segment contributions (recomputed in the background
    whenever their series change; `status` says whether each is current)."""
    product = await scope.get(Product, product_id, label="product")
    rows = await contributions.list_contributions(scope, product.id, None, None)
    ids = [c.id for c in rows]
    series = await contributions.series_of(scope, ids)
    stored = await forecast_service.stored(scope, ids)
    out = []
    for c in rows:
        wire = contributions.contribution_out(c, series[c.id], stored.get(c.id))
        out.append({"contribution_id": c.id, "segment_id": c.segment_id, "plan_id": c.plan_id,
                    "forecasts": wire["forecast_details"]})
    return {"product_id": product.id, "product": product.name, "contributions": out}


async def revenue_attribution(scope: Scope, product_id: str | None, time_range: str | None) -> dict[str, Any]:
    if time_range is not None and time_range not in RANGES:
        raise invalid("time_range", f"must be one of {', '.join(RANGES)}")
    if product_id:
        await scope.get(Product, product_id, label="product")
    return await attribution(scope, product_id, time_range, None, None)


async def gap_diagnosis(scope: Scope, plan_id: str) -> dict[str, Any]:
    """A plan's gap metrics and findings, computed now and not stored (POST /ai/gap-diagnosis
    stores one with its narrative)."""
    plan = await scope.get(PricingPlan, plan_id, label="pricing model")
    m = await gap_service.plan_metrics(scope, plan)
    found = gap.findings(m)
    return {"pricing_model": plan.id, "plan_name": plan.plan_name, "metrics": m,
            "gaps": [{"metric": f.metric, "text": f.text, "figures": f.figures} for f in found],
            "summary": gap_service.summary_text(plan, found, m), "reasoning": gap_service.reasoning_text(m)}
