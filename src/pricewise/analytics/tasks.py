"""Analytics jobs: recompute forecasts when series change, and a sweep that catches up on any
series left without a forecast (a queue that was down, a crash between commit and enqueue)."""

from __future__ import annotations

import logging
from typing import Any

from huey import crontab

from pricewise.alerts.tasks import revenue_checks
from pricewise.analytics import forecast_service
from pricewise.core.db import commit
from pricewise.core.errors import NotFound
from pricewise.core.events import emit
from pricewise.core.jobs import huey, run_async
from pricewise.core.tenancy import system_scope

log = logging.getLogger("pricewise.analytics.tasks")


async def recompute_for(ctx: Any, tenant_id: str, contribution_ids: list[str]) -> int:
    """Recompute each contribution in its own transaction, so one bad series does not hold back
    the others and finished work is kept if the job dies part way."""
    done = 0
    for cid in contribution_ids:
        async with ctx.db.session() as session:
            scope = await system_scope(session, tenant_id, "system:forecast")
            try:
                rows = await forecast_service.recompute(scope, cid, ctx.settings.forecast_horizon_months)
            except NotFound:  # deleted since the change was queued
                continue
            except Exception:  # one contribution's failure must not hold back the others
                log.exception("forecast recompute failed for contribution %s of tenant %s", cid, tenant_id)
                await session.rollback()
                continue
            if rows:
                emit(session, tenant_id, "revenue_data_updated", {
                    "contribution_id": cid, "forecasts": {r.metric: {"model": r.model, "mase": r.mase}
                                                          for r in rows}})
            await commit(session)
            await ctx.events.publish_all(session.info.pop("events", []))
            done += len(rows)
    await revenue_checks(ctx, tenant_id, contribution_ids)  # alerts on the series just forecast
    return done


@huey.task(retries=2, retry_delay=5)  # type: ignore[untyped-decorator]
def recompute_forecasts(tenant_id: str, contribution_ids: list[str]) -> int:
    return run_async(lambda ctx: recompute_for(ctx, tenant_id, contribution_ids))


async def _sweep(ctx: Any) -> int:
    async with ctx.db.session() as session:
        pending = await forecast_service.tenants_with_stale(session)
    by_tenant: dict[str, list[str]] = {}
    for tenant_id, cid in pending:
        by_tenant.setdefault(tenant_id, []).append(cid)
    total = 0
    for tenant_id, ids in by_tenant.items():
        total += await recompute_for(ctx, tenant_id, ids)
    if total:
        log.info("forecast sweep computed %d forecast(s)", total)
    return total


@huey.periodic_task(crontab(minute="*/15"))  # type: ignore[untyped-decorator]
def sweep_forecasts() -> int:
    return run_async(_sweep)
