"""Accounts jobs: purge tenants whose retention window after deactivation has passed."""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import Any

from huey import crontab

from pricewise.accounts.lifecycle import purge_expired
from pricewise.core.db import commit
from pricewise.core.jobs import huey, run_async

log = logging.getLogger("pricewise.accounts.tasks")


async def _purge(ctx: Any) -> list[str]:
    async with ctx.db.session() as session:
        session.info["actor"] = "system:retention"
        ids = await purge_expired(session, ctx.settings.tenant_retention_days)
        await commit(session)
    for tid in ids:  # files of uploads still waiting for ingestion: they go with the rows
        await asyncio.to_thread(shutil.rmtree, ctx.settings.var_dir / "uploads" / tid, True)
    if ids:
        log.info("purged %d tenant(s) past retention", len(ids))
    return ids


@huey.periodic_task(crontab(minute="17", hour="3"))  # type: ignore[untyped-decorator]
def purge_deactivated_tenants() -> list[str]:
    return run_async(_purge)
