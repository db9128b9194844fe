"""Estimation jobs: the feedback e-mail with its magic link, and the platform-wide calibration.

The platform refit reads every tenant's outcomes of platform classes (outside any tenant's scope:
a job, not a request) and stores only per-class biases: no tenant's rows leave its scope.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from huey import crontab
from sqlalchemy import delete, select

from pricewise.core.base import utcnow
from pricewise.core.db import commit
from pricewise.core.jobs import huey, run_async
from pricewise.core.tenancy import system_scope
from pricewise.estimation import feedback_service
from pricewise.estimation.calibration import MIN_OUTCOMES, calibrate
from pricewise.estimation.models import Estimation, Feedback, PlatformCalibration, ReferenceClass

log = logging.getLogger("pricewise.estimation.tasks")
ACTOR = "system:feedback"


def _mail(est: Estimation, link: str) -> tuple[str, str]:
    e = est.estimate or {}
    subject = f"How did your {est.matched_class_name or 'project'} turn out?"
    body = (f"Hello{(' ' + est.customer_name) if est.customer_name else ''},\n\n"
            f"You asked us for an estimate of your project ({est.matched_class_name}): about "
            f"${float(e.get('cost_p50') or 0):,.0f}, and up to ${float(e.get('cost_p80') or 0):,.0f} for four "
            "projects in five.\n\nOnce it is done, telling us what it actually cost and how long it took makes "
            "the next estimates more accurate for everyone. It takes a minute:\n\n"
            f"{link}\n\nThe link works once. You received this because you agreed to be asked.\n")
    return subject, body


async def request_feedback(ctx: Any, tenant_id: str, estimation_id: str) -> bool:
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, ACTOR)
        est = (await session.execute(scope.select(Estimation).where(
            Estimation.id == estimation_id))).scalar_one_or_none()
        if (est is None or not est.feedback_consent or not est.customer_email
                or est.feedback_requested_at is not None or est.status == "feedback_submitted"):
            return False
        link = await feedback_service.issue_link(ctx, scope, est)
        subject, body = _mail(est, link)
        to = est.customer_email
        # The link must exist before anyone can click it: commit first, then send.
        est.feedback_requested_at = utcnow()
        await commit(session)
    if not await ctx.mailer.send([to], subject, body):
        async with ctx.db.session() as session:
            scope = await system_scope(session, tenant_id, ACTOR)
            est = (await session.execute(scope.select(Estimation).where(Estimation.id == estimation_id))).scalar_one()
            est.feedback_requested_at = None  # the sweep or huey's retry tries again
            await commit(session)
        raise RuntimeError("the feedback e-mail could not be sent")
    return True


@huey.task(retries=3, retry_delay=60)  # type: ignore[untyped-decorator]
def send_feedback_request(tenant_id: str, estimation_id: str) -> bool:
    return run_async(lambda ctx: request_feedback(ctx, tenant_id, estimation_id))


async def due_requests(ctx: Any) -> int:
    """Consented estimates whose e-mail is due but was never sent (the queue was down, a retry gave up)."""
    due = utcnow() - timedelta(days=ctx.settings.feedback_request_delay_days, minutes=30)
    async with ctx.db.session() as session:
        rows = (await session.execute(select(Estimation.tenant_id, Estimation.id).where(
            Estimation.feedback_consent.is_(True), Estimation.feedback_requested_at.is_(None),
            Estimation.customer_email.is_not(None), Estimation.status != "feedback_submitted",
            Estimation.deleted_at.is_(None), Estimation.created_at <= due).limit(500))).all()
    sent = 0
    for tenant_id, est_id in rows:
        try:
            sent += await request_feedback(ctx, tenant_id, est_id)
        except Exception as exc:
            log.warning("feedback request for %s not sent (%s)", est_id, type(exc).__name__)
    return sent


@huey.periodic_task(crontab(minute="*/30"))  # type: ignore[untyped-decorator]
def send_due_feedback_requests() -> int:
    return run_async(due_requests)


async def refit_platform(ctx: Any) -> int:
    """Fit the calibration on every tenant's outcomes of platform classes; store each class's bias."""
    async with ctx.db.session() as session:
        session.info["actor"] = "system:calibration"
        platform_ids = set((await session.execute(select(ReferenceClass.id).where(
            ReferenceClass.tenant_id.is_(None)))).scalars())
        rows = [f for f in (await session.execute(select(Feedback).where(
            Feedback.deleted_at.is_(None)))).scalars() if f.reference_class_id in platform_ids]
        model = calibrate([feedback_service._outcome(f) for f in feedback_service.one_per_estimate(rows)])
        await session.execute(delete(PlatformCalibration))
        now = utcnow()
        session.add(PlatformCalibration(key="*", n=len(rows), cost_log_bias=model.cost.mean,
                                        timeline_log_bias=model.timeline.mean, updated_at=now))
        for class_id, fit in model.cost.classes.items():
            if fit.n >= MIN_OUTCOMES:
                t = model.timeline.classes.get(class_id)
                session.add(PlatformCalibration(key=class_id, n=fit.n, cost_log_bias=fit.log_bias,
                                                timeline_log_bias=t.log_bias if t else 0.0, updated_at=now))
        await commit(session)
    return len(rows)


@huey.task(retries=2, retry_delay=30)  # type: ignore[untyped-decorator]
def refit_platform_calibration() -> int:
    return run_async(refit_platform)


@huey.periodic_task(crontab(minute="7"))  # type: ignore[untyped-decorator]
def hourly_platform_refit() -> int:
    return run_async(refit_platform)
