"""Estimates: a description (and what the chat learnt) -> the best reference class -> P50/P80/P95
cost and timeline from the class, the region, the details and the tenant's calibration. Every
estimate and each of its versions is stored."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, func, select

from pricewise.accounts.models import Tenant
from pricewise.analytics.narrator import narrate
from pricewise.core.context import AppContext
from pricewise.core.embeddings import get_embedder, static_embedder
from pricewise.core.errors import NotFound, invalid
from pricewise.core.ids import new_id
from pricewise.core.llm import LLMClient
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import TENANT, Scope
from pricewise.estimation import classes_service, extract, feedback_service
from pricewise.estimation.compute import ClassView, Estimate, estimate
from pricewise.estimation.llm_extract import llm_client, llm_details
from pricewise.estimation.matching import LOW_CONFIDENCE, Candidate, Match, Matcher
from pricewise.estimation.models import Estimation, EstimationVersion, ReferenceClass
from pricewise.estimation.priors import SUBCATEGORIES

log = logging.getLogger("pricewise.estimation")


@dataclass(frozen=True)
class ClassSet:
    matcher: Matcher
    views: dict[str, ClassView]


_cache: dict[str, tuple[Any, ClassSet]] = {}
_lock = asyncio.Lock()


def _view(c: ReferenceClass) -> ClassView:
    return ClassView(id=c.id, name=c.name, category=c.category, subcategory=c.subcategory,
                     cost=classes_service.cost_of(c), timeline=classes_service.timeline_of(c),
                     breakdown=dict(c.cost_breakdown_template or {}),
                     regional_multipliers=dict(c.regional_multipliers or {}), attributes=dict(c.attributes or {}))


def _candidate(c: ReferenceClass) -> Candidate:
    return Candidate(id=c.id, name=c.name, category=c.category, subcategory=c.subcategory,
                     description=c.description, keywords=list(c.keywords or []), regions=list(c.regions or []),
                     attributes=dict(c.attributes or {}))


async def class_set(scope: Scope, key: Any = None) -> ClassSet:
    """The tenant's matcher, rebuilt only when its visible classes changed (`key`: their stamp)."""
    if key is None:
        key = (await stamps(scope)).classes
    hit = _cache.get(scope.tenant_id)
    if hit is not None and hit[0] == key:
        return hit[1]
    rows = await classes_service.visible(scope)
    async with _lock:  # one build at a time: the embedder's first use distils token rows
        built = ClassSet(await asyncio.to_thread(Matcher, [_candidate(r) for r in rows], get_embedder()),
                         {r.id: _view(r) for r in rows})
    _cache[scope.tenant_id] = (key, built)
    return built


@dataclass(frozen=True)
class Stamps:
    classes: str  # the cached matcher's key
    feedback: str  # the cached calibration's key
    own_llm_key: bool  # the tenant stored an LLM key of its own


# What an estimate's caches depend on, and whether the tenant has its own LLM key: one round
# trip, one statement built once.
_STAMPS = select(classes_service.STAMP + "#" + feedback_service.STAMP + "#" + select(
    func.count(Tenant.id).cast(String)).where(
        Tenant.id == TENANT, Tenant.openai_key_encrypted.is_not(None)).scalar_subquery())


async def stamps(scope: Scope) -> Stamps:
    classes, feedback, own = str(await scope.scalar(_STAMPS)).split("#")
    return Stamps(classes, feedback, own == "1")


def canonical_region(value: str | None, field: str = "region") -> str | None:
    if value is None or not value.strip():
        return None
    region = extract.canonical_region(value)
    if region is None:
        raise invalid(field, f"unknown region {value.strip()[:60]!r}; known regions: {', '.join(extract.REGIONS)}")
    return region


def _template(view: ClassView, e: Estimate, region: str | None, n: int) -> str:
    basis = (f"the {view.name} reference class, calibrated on {n} completed projects" if n
             else f"the {view.name} reference class")
    where = f" in {region}" if region else ""
    return (f"Based on {basis}, a project like this{where} typically costs about ${e.cost_p50:,.0f} (P50); "
            f"four in five come in under ${e.cost_p80:,.0f} (P80) and nineteen in twenty under "
            f"${e.cost_p95:,.0f} (P95). Expect about {e.timeline_weeks_p50:g} weeks of work "
            f"({e.timeline_weeks_p80:g} weeks at P80). These are ranges from comparable projects, not a quote.")


def _facts(view: ClassView, e: Estimate, region: str | None, n: int) -> dict[str, Any]:
    return {"reference_class": view.name, "region": region, "calibration_outcomes": n,
            "cost_p50": e.cost_p50, "cost_p80": e.cost_p80, "cost_p95": e.cost_p95,
            "timeline_weeks_p50": e.timeline_weeks_p50, "timeline_weeks_p80": e.timeline_weeks_p80,
            "timeline_weeks_p95": e.timeline_weeks_p95, "cost_breakdown": e.cost_breakdown}


@dataclass
class Computed:
    match: Match
    view: ClassView
    result: Estimate
    calibration: dict[str, Any]
    narrative: str
    attrs: dict[str, Any]
    region: str | None


async def compute(scope: Scope, llm: LLMClient | None, keys: Stamps, description: str, region: str | None,
                  attrs: dict[str, Any], ctx: AppContext | None = None) -> Computed:
    if ctx is not None and ctx.settings.estimation_via_mcp:  # through the MCP compute_estimate tool
        from pricewise.mcp.client import compute_remote

        return await compute_remote(ctx, scope, description, region, attrs)
    classes = await class_set(scope, keys.classes)
    if static_embedder().unseen(description):  # first sight of a word: the transformer, off the loop
        matches = await asyncio.to_thread(classes.matcher.match, description, region, attrs)
    else:
        matches = classes.matcher.match(description, region, attrs)
    if not matches:
        raise NotFound("no reference classes are available to estimate with")
    best = matches[0]
    view = classes.views[best.id]
    cal, cal_info = await feedback_service.calibration_for(scope, view, region, keys.feedback)
    result = estimate(view, region, attrs, cal)
    story = await narrate(llm, kind="estimate", facts=_facts(view, result, region, cal.n),
                          template=_template(view, result, region, cal.n), budget_seconds=10.0)
    return Computed(best, view, result, cal_info, story.text, attrs, region)


def _estimate_json(c: Computed) -> dict[str, Any]:
    e = c.result
    return {"cost_p50": e.cost_p50, "cost_p80": e.cost_p80, "cost_p95": e.cost_p95,
            "timeline_weeks_p50": e.timeline_weeks_p50, "timeline_weeks_p80": e.timeline_weeks_p80,
            "timeline_weeks_p95": e.timeline_weeks_p95, "cost_breakdown": e.cost_breakdown, "currency": "USD",
            "factors": [{"label": f.label, "multiplier": round(f.multiplier, 4), "source": f.source}
                        for f in e.factors]}


def _status(c: Computed) -> str:
    return "draft" if c.match.confidence < LOW_CONFIDENCE else "completed"


def _apply(row: Estimation, c: Computed) -> None:
    row.region = c.region
    row.extracted_attributes = {"category": c.view.category, "subcategory": c.view.subcategory, **c.attrs}
    row.matched_reference_class_id = c.view.id
    row.matched_class_name = c.view.name
    row.confidence_score = round(c.match.confidence, 4)
    row.estimate = _estimate_json(c)
    row.base_cost_p50, row.base_timeline_p50 = c.result.base_cost_p50, c.result.base_timeline_p50
    row.cost_sigma, row.timeline_sigma = c.result.cost_sigma, c.result.timeline_sigma
    row.calibration = c.calibration
    row.assumptions, row.risks = list(c.result.assumptions), list(c.result.risks)
    row.llm_narrative = c.narrative
    if row.status != "feedback_submitted":
        row.status = _status(c)


def _version(row: Estimation) -> EstimationVersion:
    return EstimationVersion(estimation_id=row.id, version=row.version, additional_info=row.refinement,
                             extracted_attributes=row.extracted_attributes,
                             matched_reference_class_id=row.matched_reference_class_id,
                             matched_class_name=row.matched_class_name, confidence_score=row.confidence_score,
                             estimate=row.estimate, assumptions=row.assumptions, risks=row.risks,
                             narrative=row.llm_narrative, created_at=row.updated_at)


async def details_of(llm: LLMClient | None, text: str) -> dict[str, Any]:
    """Rule-based extraction; the LLM (when the tenant has one) fills only what rules missed."""
    found = extract.extract(text)
    if llm is not None:
        extra = await llm_details(llm, text)
        found = {**extra, **found}
    return found


async def start(ctx: AppContext, scope: Scope, data: dict[str, Any], *, chat: Any = None,
                widget: bool = False) -> Estimation:
    region = canonical_region(data.get("region"))
    keys = await stamps(scope)
    llm = await llm_client(ctx, scope, keys.own_llm_key)
    attrs = await details_of(llm, data["description"])
    if chat is not None:
        attrs = extract.merge({k: v for k, v in chat.extracted.items() if k not in ("category", "subcategory")},
                              attrs)
    region = region or attrs.get("region")
    c = await compute(scope, llm, keys, data["description"], region, attrs, ctx)
    row = Estimation(id=new_id(), session_id=str(uuid.uuid4()), version=1, user_description=data["description"],
                     widget_session=widget, customer_email=data.get("customer_email"),
                     customer_name=data.get("customer_name"), customer_phone=data.get("customer_phone"),
                     feedback_consent=bool(data.get("feedback_consent")) and bool(data.get("customer_email")),
                     created_by=scope.principal.actor,
                     chat_history=list(chat.messages) if chat is not None else [])
    _apply(row, c)
    scope.add(row)
    if chat is not None:
        chat.estimation_id = row.id
    if row.feedback_consent:
        feedback_service.schedule_request(ctx, scope.session, scope.tenant_id, row.id)
    return row


async def by_session(scope: Scope, session_id: str) -> Estimation:
    row: Estimation = await scope.one(scope.select(Estimation).where(Estimation.session_id == session_id),
                                      f"estimate {session_id}")
    return row


async def find(scope: Scope, ref: str) -> Estimation:
    """An estimate by its _id or its session_id."""
    row: Estimation = await scope.one(scope.select(Estimation).where(
        (Estimation.id == ref) | (Estimation.session_id == ref)), f"estimate {ref}")
    return row


async def refine(ctx: AppContext, scope: Scope, session_id: str, data: dict[str, Any]) -> Estimation:
    row = await by_session(scope, session_id)
    info = data["additional_info"]
    old = {k: v for k, v in (row.extracted_attributes or {}).items() if k not in ("category", "subcategory")}
    keys = await stamps(scope)
    llm = await llm_client(ctx, scope, keys.own_llm_key)
    new = await details_of(llm, info)
    attrs = extract.merge(old, new)
    region = canonical_region(data.get("region")) or new.get("region") or row.region
    description = f"{row.user_description}\n{info}"
    c = await compute(scope, llm, keys, description, region, attrs, ctx)
    scope.add(_version(row))  # the version being replaced; the current one is the row itself
    row.user_description = description[:20_000]
    row.version += 1
    row.refinement = info
    _apply(row, c)
    await scope.session.flush()
    return row


async def versions(scope: Scope, row: Estimation) -> list[EstimationVersion]:
    return list(await scope.list(EstimationVersion, EstimationVersion.estimation_id == row.id,
                                 order_by=EstimationVersion.version))


def clarifying_question(row: Estimation) -> str | None:
    if row.confidence_score >= LOW_CONFIDENCE:
        return None
    return ("We are not sure what kind of project this is, so this range is a rough guess from the closest "
            f"class ({row.matched_class_name}). What are you planning: a pool, an ADU, a kitchen or bathroom "
            "remodel, landscaping, roofing or flooring?")


def missing_details(row: Estimation) -> list[str]:
    attrs = row.extracted_attributes or {}
    prior = SUBCATEGORIES.get(str(attrs.get("subcategory")))
    return [a for a in (prior.required if prior else ()) if a not in attrs and not (a == "region" and row.region)]


def estimate_out(row: Estimation, history: list[EstimationVersion] | None = None) -> dict[str, Any]:
    est = dict(row.estimate or {})
    out: dict[str, Any] = {
        "session_id": row.session_id, "estimation_id": row.id, "_id": row.id, "version": row.version,
        "status": row.status,
        "matched_reference_class": {"id": row.matched_reference_class_id, "name": row.matched_class_name,
                                    "confidence": row.confidence_score},
        "estimate": est, "assumptions": list(row.assumptions or []), "risks": list(row.risks or []),
        "narrative": row.llm_narrative, "region": row.region,
        "extracted_attributes": dict(row.extracted_attributes or {}),
        "missing_details": missing_details(row),
        "low_confidence": row.confidence_score < LOW_CONFIDENCE,
        "clarifying_question": clarifying_question(row),
        "calibration": dict(row.calibration or {}),
        "customer_email": row.customer_email,
        "created_at": _iso_z(row.created_at), "updated_at": _iso_z(row.updated_at),
    }
    if history is not None:
        current = _version(row)
        out["history"] = [{"version": v.version, "additional_info": v.additional_info,
                           "matched_reference_class": {"id": v.matched_reference_class_id,
                                                       "name": v.matched_class_name,
                                                       "confidence": v.confidence_score},
                           "estimate": v.estimate, "created_at": _iso_z(v.created_at)}
                          for v in [*history, current]]
    return out
