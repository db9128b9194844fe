"""Widget jobs: forget expired widget sessions (their estimates and leads stay)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from huey import crontab
from sqlalchemy import delete

from pricewise.core.base import utcnow
from pricewise.core.db import commit
from pricewise.core.jobs import huey, run_async
from pricewise.widget.models import WidgetSession

log = logging.getLogger("pricewise.widget.tasks")
KEEP_EXPIRED = timedelta(days=7)  # an expired token still says "expired" (not "unknown") for a week


async def purge_sessions(ctx: Any) -> int:
    async with ctx.db.session() as session:
        result = await session.execute(delete(WidgetSession).where(WidgetSession.expires_at < utcnow() - KEEP_EXPIRED))
        await commit(session)
    n = int(getattr(result, "rowcount", 0) or 0)
    if n:
        log.info("forgot %d expired widget session(s)", n)
    return n


@huey.periodic_task(crontab(minute="41", hour="*/6"))  # type: ignore[untyped-decorator]
def purge_expired_widget_sessions() -> int:
    return run_async(purge_sessions)
