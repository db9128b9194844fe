"""Admission: which queued runs may start, within MAX_CONCURRENT_ORCHESTRATIONS per tenant and
max_concurrent_orchestrations_total overall. Runs past a limit wait as "queued" (oldest first) and
start when a running one ends, pauses or is cancelled.

Admissions are serialised, so two of them never fill the same free slot: on PostgreSQL by a
transaction-level advisory lock, on SQLite by taking the database's write lock before counting.
They read across tenants, so they run on the service's own connection, not a tenant's scope.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from pricewise.core.base import utcnow
from pricewise.orchestration.models import OrchestrationRun
from pricewise.orchestration.records import RunRef, add_log, updated

Run = OrchestrationRun
ADMISSION_LOCK = 0x6F726368  # "orch"


def queue_grace(settings: Any) -> timedelta:
    """How long a run between steps may wait for its queued task before `recover` re-queues it."""
    return timedelta(seconds=max(4 * settings.orchestration_lease_seconds, 60.0))


async def admit(ctx: Any) -> list[str]:
    """Start as many queued runs as the limits allow; returns their ids, to be queued as tasks."""
    settings = ctx.settings
    per_tenant, overall = settings.max_concurrent_orchestrations, settings.max_concurrent_orchestrations_total
    async with ctx.db.session() as s:
        if ctx.db.is_postgres:
            await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADMISSION_LOCK})
        else:  # a write first: SQLite's lock is then held until commit, so the counts stay true
            await s.execute(update(Run).where(Run.id == "").values(status=Run.status)
                            .execution_options(synchronize_session=False))
        running: dict[str, int] = {t: int(n) for t, n in (await s.execute(
            select(Run.tenant_id, func.count()).where(Run.status == "running").group_by(Run.tenant_id))).all()}
        free = overall - sum(running.values())
        if free <= 0:
            await s.rollback()
            return []
        queued = (await s.execute(
            select(Run.id, Run.tenant_id, Run.invocation_id, Run.product_id, Run.completed_steps, Run.total_steps,
                   Run.started_at, Run.current_step)
            .where(Run.status == "queued").order_by(Run.created_at, Run.id).limit(1000))).all()
        chosen: list[Any] = []
        for r in queued:
            if len(chosen) >= free:
                break
            if running.get(r.tenant_id, 0) >= per_tenant:
                continue
            running[r.tenant_id] = running.get(r.tenant_id, 0) + 1
            chosen.append(r)
        if not chosen:
            await s.rollback()
            return []
        now = utcnow()
        await s.execute(update(Run).where(Run.id.in_([r.id for r in chosen]), Run.status == "queued").values(
            status="running", started_at=func.coalesce(Run.started_at, now),
            deadline_at=now + timedelta(minutes=settings.orchestration_timeout_minutes), worker=None,
            lease_until=now + queue_grace(settings)).execution_options(synchronize_session=False))
        for r in chosen:
            ref = RunRef(r.tenant_id, r.id, r.invocation_id, r.product_id)
            what = "Run resumed" if r.started_at is not None else "Run started"
            await add_log(s, ref, "INFO", f"{what}: {r.completed_steps} of {r.total_steps} step(s) done")
            updated(s, ref, "running", r.completed_steps, r.total_steps, r.current_step)
        await s.commit()
        await ctx.events.publish_all(s.info.pop("events", []))
    return [r.id for r in chosen]
