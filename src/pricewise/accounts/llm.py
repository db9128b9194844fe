"""Which key a tenant's LLM calls use, and the tokens they spend (the `llm_usage` table).

Trial tenants use the platform key. Pro and Enterprise tenants are billed on their own key (BYOK):
without one they get the template narrator, never the platform key. The local workspace of an
embedded install is the machine owner's own, so it may use the platform key when it has none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.models import LlmUsage, Tenant
from pricewise.accounts.service import tenant_openai_key
from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.crypto import CryptoError
from pricewise.core.llm import KeySource, LLMClient, UsageHook
from pricewise.core.tenancy import Principal, bind

log = logging.getLogger("pricewise.llm")

# SQLite has one writer: a caller that has already written in its own open transaction holds the
# lock, and waiting for it from inside that caller would stall until the busy timeout. So the
# usage row is tried with a short wait and, if the file is locked, written once the lock is free.
_SQLITE_QUICK_WAIT_MS = 200
_pending: set[asyncio.Task[None]] = set()


def _system(tenant_id: str) -> Principal:
    return Principal(tenant_id=tenant_id, role="viewer", kind="system")


@dataclass(frozen=True)
class OpenAIAccess:
    """The endpoint and key a tenant's OpenAI calls use (chat, vector stores)."""

    base_url: str
    key: str = field(repr=False)
    source: KeySource


async def openai_access(ctx: AppContext, tenant_id: str) -> OpenAIAccess | None:
    """The tenant's key by its tier (see the module's docstring), or None when it has no usable one."""
    async with ctx.db.session() as session:
        await bind(session, _system(tenant_id))
        tenant = (await session.execute(select(Tenant).where(
            Tenant.id == tenant_id, Tenant.deleted_at.is_(None)))).scalar_one_or_none()
    return None if tenant is None else tenant_access(ctx, tenant)


def tenant_access(ctx: AppContext, tenant: Tenant) -> OpenAIAccess | None:
    """openai_access for a tenant row already loaded."""
    if not tenant.is_active or tenant.deleted_at is not None:
        return None
    tenant_id = tenant.id
    settings = ctx.settings
    platform = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    key: str | None
    source: KeySource
    if tenant.tier == "trial":
        key, source = platform, "platform"
    else:
        try:
            key, source = tenant_openai_key(ctx, tenant), "tenant"
        except CryptoError:
            log.warning("tenant %s: stored OpenAI key cannot be decrypted with the current key ring", tenant_id)
            key, source = None, "tenant"
        if key is None and tenant.is_local:
            key, source = platform, "platform"
    if not key:
        return None
    return OpenAIAccess(settings.openai_base_url, key, source)


async def llm_for(ctx: AppContext, tenant_id: str) -> LLMClient | None:
    """The tenant's LLM client, or None when it has no usable key (then: template narratives)."""
    access = await openai_access(ctx, tenant_id)
    if access is None:
        return None
    settings = ctx.settings
    return LLMClient(base_url=access.base_url, api_key=access.key, model=settings.llm_model,
                     timeout=settings.llm_timeout_seconds, retries=settings.llm_max_retries,
                     key_source=access.source, on_usage=usage_recorder(ctx, tenant_id, access.source))


def usage_recorder(ctx: AppContext, tenant_id: str, key_source: str) -> UsageHook:
    """The on_usage callback: one row per call, committed in its own short transaction."""

    async def record(purpose: str, model: str, prompt_tokens: int, completion_tokens: int, ok: bool,
                     error: str | None) -> None:
        values: dict[str, Any] = {
            "tenant_id": tenant_id, "created_at": utcnow(), "purpose": purpose[:60], "model": model[:100],
            "key_source": key_source, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "ok": ok, "error": None if error is None else error[:200]}
        if not ctx.db.is_postgres:
            try:
                await _insert(ctx, values, busy_ms=_SQLITE_QUICK_WAIT_MS)
            except OperationalError:
                _later(_insert_eventually(ctx, values))
            return
        await _insert(ctx, values, busy_ms=None)

    return record


async def _insert(ctx: AppContext, values: dict[str, Any], *, busy_ms: int | None) -> None:
    async with ctx.db.session() as session:
        await bind(session, _system(values["tenant_id"]))  # on PostgreSQL: RLS checks the row's tenant
        previous = None
        if busy_ms is not None:
            previous = (await session.execute(text("PRAGMA busy_timeout"))).scalar()
            await session.execute(text(f"PRAGMA busy_timeout={int(busy_ms)}"))
        try:
            session.add(LlmUsage(**values))
            await session.commit()
        finally:
            if previous is not None:
                await session.rollback()
                await session.execute(text(f"PRAGMA busy_timeout={int(previous)}"))


async def _insert_eventually(ctx: AppContext, values: dict[str, Any]) -> None:
    for attempt in range(3):
        try:
            await _insert(ctx, values, busy_ms=None)
            return
        except OperationalError:
            await asyncio.sleep(0.5 * (attempt + 1))
    log.warning("tenant %s: LLM usage row for %s not recorded (database locked)", values["tenant_id"],
                values["purpose"])


def _later(coro: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _pending.add(task)  # a strong reference until done, or the task may be collected
    task.add_done_callback(_pending.discard)


async def drain_usage() -> None:
    """Wait for usage rows deferred by a locked SQLite file (shutdown, tests)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)


async def usage_summary(session: AsyncSession, tenant_id: str, since: datetime) -> dict[str, Any]:
    """Calls and tokens of one tenant since a moment, in total and by purpose."""
    rows = (await session.execute(
        select(LlmUsage.purpose, func.count(), func.sum(case((LlmUsage.ok, 1), else_=0)),
               func.coalesce(func.sum(LlmUsage.prompt_tokens), 0),
               func.coalesce(func.sum(LlmUsage.completion_tokens), 0))
        .where(LlmUsage.tenant_id == tenant_id, LlmUsage.created_at >= since)
        .group_by(LlmUsage.purpose).order_by(LlmUsage.purpose))).all()
    by_purpose = {
        purpose: {"calls": int(calls), "failed": int(calls) - int(ok or 0), "prompt_tokens": int(pt),
                  "completion_tokens": int(ct)}
        for purpose, calls, ok, pt, ct in rows}
    total = {k: sum(p[k] for p in by_purpose.values())
             for k in ("calls", "failed", "prompt_tokens", "completion_tokens")}
    return {"since": since, **total, "total_tokens": total["prompt_tokens"] + total["completion_tokens"],
            "by_purpose": by_purpose}
