"""Data loaded on first start of an embedded server."""

from __future__ import annotations

from typing import Any

from pricewise.accounts.service import ensure_local_tenant
from pricewise.core.db import commit


async def load_demo(ctx: Any) -> bool:
    """Create the local workspace; True when it was created now."""
    from sqlalchemy import select

    from pricewise.accounts.models import Tenant

    async with ctx.db.session() as session:
        existed = (await session.execute(select(Tenant.id).where(Tenant.is_local.is_(True)))).first()
        await ensure_local_tenant(session)
        await commit(session)
    return existed is None
