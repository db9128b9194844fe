"""Report jobs: generating a report (its PDF), and the scheduler that e-mails scheduled reports.

A due run of a schedule is claimed by inserting its delivery row, whose run_key (schedule id and
due time) is unique: two schedulers racing, or a job retried, send it once. The claim also moves
the schedule to its next run, in the same transaction. A claim whose sender died (pending past
CLAIM_LEASE) is taken over by the next tick, so a crash delays a delivery rather than losing it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from huey import crontab
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pricewise.core.base import utcnow
from pricewise.core.db import commit
from pricewise.core.errors import AppError, NotFound
from pricewise.core.events import emit
from pricewise.core.jobs import huey, run_async
from pricewise.core.mail import Attachment
from pricewise.core.tenancy import Scope, system_scope
from pricewise.reports import service
from pricewise.reports.models import GeneratedReport, ReportDelivery, ScheduledReport

log = logging.getLogger("pricewise.reports.tasks")
CLAIM_LEASE = timedelta(minutes=15)  # a pending delivery older than this lost its sender
REQUEUE_AFTER = timedelta(minutes=10)  # a report still generating after this lost its job
GIVE_UP_AFTER = timedelta(hours=1)
BATCH = 200


# --- generating a report -----------------------------------------------------------------------

async def _report(scope: Scope, report_id: str) -> GeneratedReport | None:
    try:
        return await scope.get(GeneratedReport, report_id, label="report")
    except NotFound:  # deleted since it was queued, or a job of another database's queue
        return None


async def generate(ctx: Any, tenant_id: str, report_id: str) -> str:
    """Gather, narrate and draw one report; returns its final status. Only a report still
    "generating" is worked on, so a job run twice writes once."""
    from pricewise.reports.render import render_report  # matplotlib and reportlab: only here

    pdf: bytes | None = None
    error: str | None = None
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:report")
        row = await _report(scope, report_id)
        if row is None or row.status != "generating":
            return row.status if row else "missing"
        try:
            data = await service.build_report_data(scope, ctx, row.product_id, row.sections, row.time_range,
                                                   name=row.name)
            pdf = await asyncio.to_thread(render_report, data)
        except AppError as exc:  # e.g. the product was deleted after the report was asked for
            error = exc.message
        except Exception as exc:
            log.exception("report %s of tenant %s failed", report_id, tenant_id)
            error = f"internal error while generating the report ({type(exc).__name__})"
        await session.rollback()  # only read so far: no transaction held while writing below
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:report")
        row = await _report(scope, report_id)
        if row is None or row.status != "generating":
            return row.status if row else "missing"
        if pdf is not None:
            row.pdf, row.size_bytes, row.status = pdf, len(pdf), "completed"
        else:
            row.status, row.error = "failed", (error or "failed")[:2000]
        row.completed_at = utcnow()
        emit(session, tenant_id, "report_ready", {"report_id": row.id, "status": row.status,
                                                  "product_id": row.product_id})
        status = row.status
        await commit(session)
        await ctx.events.publish_all(session.info.pop("events", []))
    return status


@huey.task(retries=1, retry_delay=30)  # type: ignore[untyped-decorator]
def generate_report(tenant_id: str, report_id: str) -> str:
    return run_async(lambda ctx: generate(ctx, tenant_id, report_id))


# --- scheduled reports ---------------------------------------------------------------------------

def run_key(schedule_id: str, due: datetime) -> str:
    return f"{schedule_id}:{due.strftime('%Y%m%dT%H%M')}Z"


async def _claim(ctx: Any, tenant_id: str, schedule_id: str, now: datetime) -> str | None:
    """Record the due run as pending and move the schedule on; None when another scheduler has it."""
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:scheduler")
        try:
            sched = await scope.get(ScheduledReport, schedule_id)
        except NotFound:
            return None
        due, cron, tz = sched.next_run_at, sched.cron, sched.timezone
        if sched.status != "active" or due is None or due > now:  # paused, or moved on by another
            return None
        delivery = scope.add(ReportDelivery(scheduled_report_id=sched.id, run_key=run_key(sched.id, due),
                                            recipients=list(sched.recipients), status="pending", attempted_at=now))
        sched.next_run_at = service.next_run(cron, tz, after=now)
        sched.last_run_at = now
        try:
            await session.flush()
            delivery_id = delivery.id
            await commit(session)
        except IntegrityError:  # the same run_key: this due run is claimed already
            await session.rollback()
        else:
            return delivery_id
        # Whoever claimed it moved the schedule on; if it still reads as due, move it on here, or
        # it would stay due (and unsent) for good.
        await system_scope(session, tenant_id, "system:scheduler")
        await session.execute(update(ScheduledReport).where(
            ScheduledReport.id == schedule_id, ScheduledReport.tenant_id == tenant_id,
            ScheduledReport.next_run_at <= now).values(next_run_at=service.next_run(cron, tz, after=now)))
        await commit(session)
        return None


async def _take_over(ctx: Any, tenant_id: str, delivery_id: str, now: datetime) -> bool:
    async with ctx.db.session() as session:
        await system_scope(session, tenant_id, "system:scheduler")
        result = await session.execute(
            update(ReportDelivery).where(ReportDelivery.id == delivery_id, ReportDelivery.tenant_id == tenant_id,
                                         ReportDelivery.status == "pending",
                                         ReportDelivery.attempted_at < now - CLAIM_LEASE)
            .values(attempted_at=now))
        await commit(session)
    return bool(getattr(result, "rowcount", 0) == 1)


def _mail_body(sched: ScheduledReport, report: GeneratedReport, public_url: str) -> str:
    names = "\n".join(f"- {s.get('name', '')}" for s in report.sections)
    return (f"Your scheduled report \"{sched.name}\" is attached as a PDF.\n\nSections:\n{names}\n\n"
            f"It can also be downloaded at {public_url.rstrip('/')}/api/reports/{report.id}/download\n\n"
            "To stop these e-mails, pause or delete the schedule under Scheduled reports.\n")


async def deliver(ctx: Any, tenant_id: str, delivery_id: str) -> bool:
    """Generate the claimed run's report and e-mail it; True when the SMTP server took it."""
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:scheduler")
        d = await scope.get(ReportDelivery, delivery_id)
        sched = await scope.get(ScheduledReport, d.scheduled_report_id, include_deleted=True)
        if d.status != "pending":
            return False
        if d.report_id is None:
            report = scope.add(GeneratedReport(
                name=sched.name, product_id=sched.product_id, sections=list(sched.report_sections),
                time_range={}, scheduled_report_id=sched.id, status="generating", created_by="system:scheduler"))
            await session.flush()
            d.report_id = report.id
            await commit(session)
        report_id = d.report_id
    status = await generate(ctx, tenant_id, report_id)
    sent, error = False, None
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:scheduler")
        d = await scope.get(ReportDelivery, delivery_id)
        sched = await scope.get(ScheduledReport, d.scheduled_report_id, include_deleted=True)
        if status != "completed":
            report = await scope.get(GeneratedReport, report_id)
            error = f"the report could not be generated: {report.error}"
        elif not d.recipients:  # kept in the history all the same
            error = "no recipients"
        else:
            report, pdf = await service.pdf_of(scope, report_id)
            sent = await ctx.mailer.send(
                d.recipients, f"{sched.name}: report of {report.created_at.date().isoformat()}",
                _mail_body(sched, report, ctx.settings.public_url),
                (Attachment(service.filename(report), pdf, "application/pdf"),))
            if not sent:
                error = "the SMTP server did not accept the message (or SMTP is not configured)"
        if sent:
            d.status, d.error = "sent", None
            sched.last_delivery_status = f"sent to {len(d.recipients)} recipient(s)"
        else:
            d.status = "skipped" if status == "completed" and not d.recipients else "failed"
            d.error = error
            sched.last_delivery_status = f"{d.status}: {error}"[:200]
        await commit(session)
    return sent


async def _requeue_stale(ctx: Any, now: datetime) -> None:
    """Reports left "generating" by a lost job (a crash, a queue that was down): queued again,
    and failed after GIVE_UP_AFTER. Scheduled runs are handled by their deliveries instead."""
    async with ctx.db.session() as session:
        stale = (await session.execute(
            select(GeneratedReport.tenant_id, GeneratedReport.id, GeneratedReport.created_at).where(
                GeneratedReport.status == "generating", GeneratedReport.deleted_at.is_(None),
                GeneratedReport.scheduled_report_id.is_(None), GeneratedReport.updated_at < now - REQUEUE_AFTER)
            .limit(BATCH))).all()
    for tenant_id, report_id, created_at in stale:
        async with ctx.db.session() as session:
            scope = await system_scope(session, tenant_id, "system:report")
            row = await _report(scope, report_id)
            if row is None or row.status != "generating":
                continue
            row.updated_at = now
            if created_at < now - GIVE_UP_AFTER:
                row.status, row.error, row.completed_at = "failed", "generation did not finish; ask for it again", now
                emit(session, tenant_id, "report_ready", {"report_id": row.id, "status": "failed",
                                                          "product_id": row.product_id})
            else:
                service.enqueue_after_commit(session, tenant_id, report_id)
            await commit(session)
            await ctx.events.publish_all(session.info.pop("events", []))


async def run_due(ctx: Any, now: datetime | None = None) -> int:
    """One scheduler tick over every tenant: claim the due runs, take over abandoned claims, deliver
    them. Returns how many e-mails went out."""
    now = now or utcnow()
    async with ctx.db.session() as session:  # across tenants: no scope, ids only
        due = (await session.execute(
            select(ScheduledReport.tenant_id, ScheduledReport.id).where(
                ScheduledReport.status == "active", ScheduledReport.deleted_at.is_(None),
                ScheduledReport.next_run_at <= now).order_by(ScheduledReport.next_run_at).limit(BATCH))).all()
        abandoned = (await session.execute(
            select(ReportDelivery.tenant_id, ReportDelivery.id).where(
                ReportDelivery.status == "pending", ReportDelivery.attempted_at < now - CLAIM_LEASE)
            .limit(BATCH))).all()
    claimed: list[tuple[str, str]] = []
    for tenant_id, schedule_id in due:
        delivery_id = await _claim(ctx, tenant_id, schedule_id, now)
        if delivery_id:
            claimed.append((tenant_id, delivery_id))
    for tenant_id, delivery_id in abandoned:
        if await _take_over(ctx, tenant_id, delivery_id, now):
            claimed.append((tenant_id, delivery_id))
    sent = 0
    for tenant_id, delivery_id in claimed:
        try:
            sent += await deliver(ctx, tenant_id, delivery_id)
        except Exception:  # one schedule's failure must not hold back the others
            log.exception("scheduled delivery %s of tenant %s failed", delivery_id, tenant_id)
    await _requeue_stale(ctx, now)
    return sent


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def deliver_scheduled_reports() -> int:
    return run_async(run_due)
