"""Outcomes of estimated projects: magic links to the customer, feedback from customer and
contractor, the calibration fitted on them, and the accuracy summaries."""

from __future__ import annotations

import asyncio
import logging
import math
import re
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.db import after_commit
from pricewise.core.errors import Conflict, Unauthorized, invalid
from pricewise.core.security import decode_jwt, encode_jwt
from pricewise.core.tenancy import TENANT, Scope, system_scope
from pricewise.estimation.calibration import (
    MIN_OUTCOMES,
    CalibrationModel,
    ClassFit,
    MeasureFit,
    Outcome,
    calibrate,
    variance_pct,
)
from pricewise.estimation.compute import Calibration, ClassView
from pricewise.estimation.models import Estimation, Feedback, FeedbackLink, PlatformCalibration

log = logging.getLogger("pricewise.estimation")
LINK_PURPOSE = "feedback"
_cache: dict[str, tuple[Any, CalibrationModel, CalibrationModel | None]] = {}


# --- calibration -----------------------------------------------------------------------------

def _outcome(f: Feedback) -> Outcome:
    return Outcome(class_id=f.reference_class_id or "", subcategory=f.subcategory, region=f.region,
                   base_cost_p50=f.base_cost_p50, actual_cost=f.actual_cost, cost_sigma=f.cost_sigma,
                   base_timeline_p50=f.base_timeline_p50 or None, actual_weeks=f.actual_timeline_weeks,
                   timeline_sigma=f.timeline_sigma or None)


def one_per_estimate(rows: list[Feedback]) -> list[Feedback]:
    """The contractor's figures when there are both (they have the invoices), else the latest."""
    best: dict[str, Feedback] = {}
    for f in sorted(rows, key=lambda r: (r.feedback_type == "contractor", r.submitted_at)):
        best[f.estimation_id] = f
    return list(best.values())


async def outcomes(scope: Scope) -> list[Feedback]:
    return one_per_estimate(list(await scope.list(Feedback, order_by=Feedback.submitted_at)))


async def platform_model(session: AsyncSession) -> CalibrationModel | None:
    rows = (await session.execute(select(PlatformCalibration))).scalars().all()
    mean = next((r for r in rows if r.key == "*"), None)
    if mean is None:
        return None

    def fit(attr: str) -> MeasureFit:
        classes = {r.key: ClassFit(getattr(r, attr), r.n, 1.0, 0.0, 0.0) for r in rows if r.key != "*"}
        return MeasureFit(getattr(mean, attr), 0.0, classes, {}, {})

    return CalibrationModel(fit("cost_log_bias"), fit("timeline_log_bias"))


# Changes whenever the tenant's outcomes or the platform's evidence change (the cached fit's key);
# it ends with "|" when there is no platform evidence yet.
STAMP = select(
    func.count(Feedback.id).cast(String) + "|" + func.coalesce(func.max(Feedback.submitted_at).cast(String), "")
    + "|" + func.coalesce(select(func.max(PlatformCalibration.updated_at)).scalar_subquery().cast(String), "")
).where(Feedback.tenant_id == TENANT, Feedback.deleted_at.is_(None)).scalar_subquery()


async def model_for(scope: Scope, key: Any = None) -> tuple[CalibrationModel, CalibrationModel | None]:
    """The tenant's calibration and the platform's evidence, refitted only when the tenant's
    outcomes or the platform's evidence changed."""
    if key is None:
        key = str(await scope.scalar(select(STAMP)))
    hit = _cache.get(scope.tenant_id)
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    rows = await outcomes(scope)
    base = await platform_model(scope.session) if not str(key).endswith("|") else None
    model = await asyncio.to_thread(calibrate, [_outcome(f) for f in rows], base)
    _cache[scope.tenant_id] = (key, model, base)
    return model, base


def _platform_only(base: CalibrationModel | None, class_id: str) -> Calibration | None:
    """A platform class's bias from every tenant's outcomes, for a tenant with too few of its own."""
    fit = base.cost.classes.get(class_id) if base else None
    if base is None or fit is None or fit.n < MIN_OUTCOMES:
        return None
    timeline = base.timeline.classes.get(class_id)
    return Calibration(cost_bias=math.exp(fit.log_bias),
                       timeline_bias=math.exp(timeline.log_bias) if timeline else 1.0, n=fit.n)


async def calibration_for(scope: Scope, view: ClassView, region: str | None,
                          key: Any = None) -> tuple[Calibration, dict[str, Any]]:
    model, base = await model_for(scope, key)
    cal = model.for_estimate(view.id, view.subcategory, region)
    fit = model.cost.classes.get(view.id)
    info: dict[str, Any] = {"applied": cal is not None, "class_outcomes": fit.n if fit else 0,
                            "min_outcomes": MIN_OUTCOMES, "source": "tenant"}
    if cal is None:
        cal = _platform_only(base, view.id)
        if cal is None:
            return Calibration(), info
        info.update(applied=True, source="platform", platform_outcomes=cal.n)
    info.update(cost_factor=round(cal.cost_bias, 4), timeline_factor=round(cal.timeline_bias, 4),
                cost_log_sd=None if cal.cost_sigma is None else round(cal.cost_sigma, 4))
    return cal, info


# --- magic links -----------------------------------------------------------------------------

async def issue_link(ctx: AppContext, scope: Scope, est: Estimation) -> str:
    link = FeedbackLink(estimation_id=est.id,
                        expires_at=utcnow() + timedelta(days=ctx.settings.feedback_link_days))
    scope.add(link)
    await scope.session.flush()
    token = encode_jwt(ctx.keys.jwt, {"typ": LINK_PURPOSE, "sub": link.id, "tid": scope.tenant_id,
                                      "eid": est.id}, timedelta(days=ctx.settings.feedback_link_days))
    return f"{ctx.settings.public_url.rstrip('/')}/feedback/customer?token={token}"


async def redeem(ctx: AppContext, session: AsyncSession, token: str) -> tuple[Scope, FeedbackLink]:
    """The scope and the link a magic-link token stands for; expired, forged or used: 4xx."""
    try:
        claims = decode_jwt(ctx.keys.jwt, token, purpose=LINK_PURPOSE)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("this feedback link has expired", code="link_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("this feedback link is not valid", code="link_invalid") from exc
    scope = await system_scope(session, str(claims["tid"]), kind="magic_link")
    link = (await session.execute(scope.select(FeedbackLink).where(
        FeedbackLink.id == claims["sub"]))).scalar_one_or_none()
    if link is None:
        raise Unauthorized("this feedback link is not valid", code="link_invalid")
    if link.used_at is not None:
        raise Conflict("this feedback link has already been used", code="link_used")
    if link.expires_at < utcnow():
        raise Unauthorized("this feedback link has expired", code="link_expired")
    return scope, link


def schedule_request(ctx: AppContext, session: AsyncSession, tenant_id: str, estimation_id: str) -> None:
    """Queue the feedback e-mail once the estimate is committed (after the configured delay)."""
    from pricewise.estimation.tasks import send_feedback_request

    delay = ctx.settings.feedback_request_delay_days * 86400

    async def enqueue() -> None:
        try:
            await asyncio.to_thread(send_feedback_request.schedule, (tenant_id, estimation_id), delay=delay)
        except Exception as exc:  # the queue is down: the periodic sweep sends it later
            log.warning("could not queue the feedback request (%s)", type(exc).__name__)

    after_commit(session, enqueue)


def schedule_refit(session: AsyncSession) -> None:
    from pricewise.estimation.tasks import refit_platform_calibration

    async def enqueue() -> None:
        try:
            await asyncio.to_thread(refit_platform_calibration)
        except Exception as exc:  # the periodic refit catches up
            log.warning("could not queue the platform calibration refit (%s)", type(exc).__name__)

    after_commit(session, enqueue)


# --- feedback --------------------------------------------------------------------------------

_SCOPE_WORDS = re.compile(r"\b(added|extra|additional|upgrade[ds]?|change order|expanded|scope)\b", re.I)
_MARKET_WORDS = re.compile(r"\b(price increase|prices? (went|rose|increased)|inflation|tariffs?|shortage|"
                           r"lumber prices|material costs? (went|rose|increased))\b", re.I)


def flags(est: Estimation, actual: float, text: str, breakdown: dict[str, float]) -> dict[str, bool]:
    """Why an outcome may differ from the estimate: over P80 (hidden costs), scope words or cost
    categories the template does not have (scope creep), market words (market changes)."""
    template = set((est.estimate or {}).get("cost_breakdown", {}))
    return {"scope_creep": bool(_SCOPE_WORDS.search(text)) or bool(template and set(breakdown) - template),
            "hidden_costs": actual > float((est.estimate or {}).get("cost_p80", math.inf)),
            "market_changes": bool(_MARKET_WORDS.search(text))}


async def submit(scope: Scope, est: Estimation, data: dict[str, Any], *, kind: str, by: str) -> Feedback:
    if est.deleted_at is not None:
        raise Conflict("this estimate was deleted")
    taken = await scope.count(Feedback, Feedback.estimation_id == est.id, Feedback.feedback_type == kind)
    if taken:
        raise Conflict(f"{kind} feedback for this estimate was already submitted", code="feedback_exists")
    breakdown = data.get("actual_breakdown") or {}
    actual = float(data["actual_cost"])
    if breakdown and abs(sum(breakdown.values()) - actual) > max(1.0, 0.01 * actual):
        raise invalid("actual_breakdown", f"the parts sum to {sum(breakdown.values()):,.0f} but actual_cost is "
                                          f"{actual:,.0f}; they must agree within 1%")
    e = est.estimate or {}
    p50, w50 = float(e.get("cost_p50") or 0), float(e.get("timeline_weeks_p50") or 0)
    weeks = data.get("actual_timeline_weeks")
    text = " ".join(str(data.get(k) or "") for k in ("comments", "discrepancy_explanation"))
    row = Feedback(
        estimation_id=est.id, feedback_type=kind, actual_cost=actual, actual_timeline_weeks=weeks,
        variance_cost_pct=round((actual - p50) / p50 * 100, 1) if p50 else 0.0,
        variance_timeline_pct=round((weeks - w50) / w50 * 100, 1) if weeks and w50 else None,
        accuracy_rating=data.get("accuracy_rating"), comments=data.get("comments") or "",
        actual_breakdown=breakdown, discrepancy_explanation=data.get("discrepancy_explanation") or "",
        discrepancy_flags={**flags(est, actual, text, breakdown), **(data.get("discrepancy_flags") or {})},
        submitted_by=by, reference_class_id=est.matched_reference_class_id,
        subcategory=str((est.extracted_attributes or {}).get("subcategory", "")), region=est.region,
        estimate_cost_p50=p50, estimate_cost_p80=float(e.get("cost_p80") or 0),
        base_cost_p50=est.base_cost_p50, base_timeline_p50=est.base_timeline_p50,
        cost_sigma=est.cost_sigma, timeline_sigma=est.timeline_sigma)
    scope.add(row)
    est.status = "feedback_submitted"
    await scope.session.flush()
    schedule_refit(scope.session)
    return row


def feedback_out(f: Feedback) -> dict[str, Any]:
    from pricewise.core.schemas import _iso_z

    return {"_id": f.id, "estimation_id": f.estimation_id, "feedback_type": f.feedback_type,
            "actual_cost": f.actual_cost, "actual_timeline_weeks": f.actual_timeline_weeks,
            "variance_cost_pct": f.variance_cost_pct, "variance_timeline_pct": f.variance_timeline_pct,
            "accuracy_rating": f.accuracy_rating, "comments": f.comments, "actual_breakdown": f.actual_breakdown,
            "discrepancy_explanation": f.discrepancy_explanation, "discrepancy_flags": f.discrepancy_flags,
            "submitted_by": f.submitted_by, "submitted_at": _iso_z(f.submitted_at)}


def _accuracy(rows: list[Feedback]) -> dict[str, Any]:
    cost = [abs(f.variance_cost_pct) for f in rows]
    time = [abs(f.variance_timeline_pct) for f in rows if f.variance_timeline_pct is not None]
    within = [variance_pct(f.actual_cost, f.estimate_cost_p50) <= 20 for f in rows if f.estimate_cost_p50]
    return {"avg_cost_variance_pct": round(sum(cost) / len(cost), 1) if cost else None,
            "avg_timeline_variance_pct": round(sum(time) / len(time), 1) if time else None,
            "within_20_pct": round(sum(within) / len(within), 2) if within else None,
            "p80_coverage": round(sum(f.actual_cost <= f.estimate_cost_p80 for f in rows) / len(rows), 2)
            if rows else None}


async def summary(scope: Scope) -> dict[str, Any]:
    total = await scope.count(Estimation)
    rows = await outcomes(scope)
    names = dict((await scope.session.execute(scope.select(Estimation).with_only_columns(
        Estimation.matched_reference_class_id, Estimation.matched_class_name).distinct())).all())
    by_class: dict[str, list[Feedback]] = {}
    for f in rows:
        by_class.setdefault(names.get(f.reference_class_id) or "Unmatched", []).append(f)
    return {
        "total_estimates": total, "feedback_submissions": len(rows),
        "feedback_rate": round(len(rows) / total, 2) if total else 0.0,
        "accuracy_metrics": _accuracy(rows),
        "by_reference_class": {name: {"count": len(fs),
                                      "avg_variance_pct": _accuracy(fs)["avg_cost_variance_pct"],
                                      "within_20_pct": _accuracy(fs)["within_20_pct"],
                                      "p80_coverage": _accuracy(fs)["p80_coverage"]}
                               for name, fs in sorted(by_class.items())},
    }


# --- validation of the (synthetic) classes on real outcomes ----------------------------------

async def validate(scope: Scope) -> dict[str, Any]:
    from pricewise.estimation import classes_service
    from pricewise.estimation.calibration import tuning

    classes = {c.id: c for c in await classes_service.visible(scope)}
    rows = [f for f in await outcomes(scope) if f.reference_class_id in classes]
    tunings = tuning([_outcome(f) for f in rows])
    synthetic = [c for c in classes.values() if c.is_synthetic]
    validated = [t for t in tunings if classes[t.class_id].is_synthetic]
    variances = [variance_pct(f.actual_cost, f.base_cost_p50) for f in rows
                 if f.base_cost_p50 and classes[str(f.reference_class_id)].is_synthetic]
    return {
        "synthetic_classes": len(synthetic),
        "validated_by_feedback": len(validated),
        "avg_variance_from_real": round(sum(variances) / len(variances), 1) if variances else None,
        "classes_needing_tuning": [
            {"id": t.class_id, "name": classes[t.class_id].name, "variance": t.variance_pct,
             "recommendation": t.recommendation, "outcomes": t.n, "p50_coverage": t.p50_coverage,
             "p80_coverage": t.p80_coverage, "p50_factor": t.p50_factor if t.adjust_p50 else 1.0,
             "p80_factor": t.p80_factor if t.adjust_p80 else 1.0}
            for t in sorted(tunings, key=lambda t: -t.variance_pct) if t.needs_tuning],
    }


async def apply_recommendation(scope: Scope, class_id: str) -> tuple[Any, str]:
    """Apply the validation's recommendation to a class; a platform class gets a tuned copy of the
    tenant's own (it then overrides the platform one for this tenant)."""
    from pricewise.estimation import classes_service
    from pricewise.estimation.calibration import apply_tuning, tuning

    row = await classes_service.get_visible(scope, class_id)
    rows = [f for f in await outcomes(scope) if f.reference_class_id == row.id]
    found = [t for t in tuning([_outcome(f) for f in rows]) if t.class_id == row.id and t.needs_tuning]
    if not found:
        raise Conflict(f"{row.name} needs no tuning on its {len(rows)} outcome(s)", code="nothing_to_apply")
    t = found[0]
    cost = apply_tuning(classes_service.cost_of(row), t)
    target = row if row.tenant_id is not None else await classes_service.copy_for_tenant(scope, row)
    target.cost_p50, target.cost_p80, target.cost_p95 = cost.p50, cost.p80, cost.p95
    target.validation_source = f"Tuned on {t.n} outcomes: {t.recommendation}"[:300]
    await scope.session.flush()
    return target, str(t.recommendation)
