"""Workspace configuration: environment status, narrator prompts, automations."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import select

from pricewise.accounts.models import Tenant
from pricewise.catalog import prompts
from pricewise.catalog.models import AutomationConfig, PromptConfig
from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.errors import invalid
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope


@lru_cache(maxsize=1)
def embeddings_available() -> bool:
    """The local embedding model's files are installed (they ship in a package)."""
    try:
        from pricewise.core.embeddings import model_dir

        d = model_dir()
        return (d / "model.safetensors").exists() and (d / "tokenizer.json").exists()
    except ImportError:
        return False


PROBE_SECONDS = 2.0


async def _probe_services(ctx: AppContext) -> tuple[bool | None, bool]:
    """Redis and the job queue, probed at most every PROBE_SECONDS per process: the UI loads
    /envs/get on every page, and each probe is a connection and a round trip (the queue's is a
    blocking call, hence the thread)."""
    from pricewise.core import jobs

    now = time.monotonic()
    cached = ctx.extras.get("service_probe")
    if cached is not None and now - cached[0] < PROBE_SECONDS:
        return cast(tuple[bool | None, bool], cached[1])
    redis, queue = await asyncio.gather(ctx.redis_ok(), asyncio.to_thread(jobs.queue_ok))
    ctx.extras["service_probe"] = (now, (redis, queue))
    return redis, queue


async def environment(scope: Scope, ctx: AppContext) -> dict[str, Any]:
    """What is really configured and reachable right now. The database answered the tenant's
    read, or this would be a 503; the other services are probed (see _probe_services)."""
    from pricewise.accounts.llm import tenant_access

    tenant = (await scope.session.execute(select(Tenant).where(Tenant.id == scope.tenant_id))).scalar_one()
    redis, queue = await _probe_services(ctx)
    redis_state = "stopped" if redis is None else ("running" if redis else "error")
    platform_key = ctx.settings.openai_api_key is not None
    # The key this tenant's narratives would use under its tier's rule (trial: the platform's).
    llm_ready = tenant_access(ctx, tenant) is not None
    return {
        "openai_api_key_configured": platform_key or tenant.openai_key_encrypted is not None,
        "database_connected": True,
        "vector_store_enabled": embeddings_available(),
        "services_status": {
            "database": "running",
            "redis": redis_state,
            "job_queue": "running" if queue else "error",
            "email": "running" if ctx.mailer.configured else "stopped",
            "llm": "running" if llm_ready else "stopped",
            "embeddings": "running" if embeddings_available() else "error",
        },
    }


async def llm_text(scope: Scope) -> dict[str, Any]:
    row = (await scope.session.execute(scope.select(PromptConfig))).scalar_one_or_none()
    overrides = None if row is None else {"system_prompts": row.system_prompts,
                                          "analysis_templates": row.analysis_templates,
                                          "response_formats": row.response_formats}
    return prompts.merged(overrides)


async def update_llm_text(scope: Scope, changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    for section, values in changes.items():
        unknown = set(values) - set(prompts.DEFAULTS[section])
        if unknown:
            raise invalid(f"{section}.{sorted(unknown)[0]}",
                          f"unknown entry; known: {', '.join(sorted(prompts.DEFAULTS[section]))}")
    row = (await scope.session.execute(scope.select(PromptConfig))).scalar_one_or_none()
    if row is None:
        row = scope.add(PromptConfig(system_prompts={}, analysis_templates={}, response_formats={}))
    for section, values in changes.items():
        setattr(row, section, {**(getattr(row, section) or {}), **values})
    row.updated_at = utcnow()
    await scope.session.flush()
    return await llm_text(scope)


# --- automations -------------------------------------------------------------------------

def next_run(trigger: dict[str, Any], now: datetime | None = None) -> datetime | None:
    now = now or utcnow()
    if trigger["type"] == "cron":
        from pricewise.reports.service import next_run as next_cron

        return next_cron(trigger["cron"], "UTC", now)
    if trigger["type"] == "interval":
        from datetime import timedelta

        return now + timedelta(minutes=int(trigger["every_minutes"]))
    return None  # event triggers run when the event happens


def automation_out(a: AutomationConfig) -> dict[str, Any]:
    return {"_id": a.id, "name": a.name, "automation_type": a.automation_type,
            "trigger_config": a.trigger_config, "action_config": a.action_config, "is_active": a.is_active,
            "last_run": _iso_z(a.last_run), "next_run": _iso_z(a.next_run)}


async def push_automation(scope: Scope, data: dict[str, Any]) -> AutomationConfig:
    trigger, action = data["trigger_config"], data["action_config"]
    fields = {"name": data["name"], "automation_type": data["automation_type"], "trigger_config": trigger,
              "action_config": action, "is_active": data["is_active"],
              "next_run": next_run(trigger) if data["is_active"] else None}
    if data.get("id"):
        row = await scope.get(AutomationConfig, data["id"], label="automation")
        for k, v in fields.items():
            setattr(row, k, v)
        row.updated_at = utcnow()
    else:
        row = scope.add(AutomationConfig(**fields))
    await scope.session.flush()
    return row
