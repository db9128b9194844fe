"""create_app(): routers, middleware, lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from pricewise.accounts.router import router as accounts_router
from pricewise.accounts.service import ensure_local_tenant
from pricewise.alerts.router import router as alerts_router
from pricewise.analytics.ai_router import router as ai_router
from pricewise.analytics.plans_router import router as plans_router
from pricewise.analytics.router import router as analytics_router
from pricewise.analytics.usage_router import router as usage_router
from pricewise.catalog.config_router import router as workspace_router
from pricewise.catalog.imports_router import router as imports_router
from pricewise.catalog.router import router as catalog_router
from pricewise.console.router import router as console_router
from pricewise.core import errors, logs
from pricewise.core.context import AppContext, CtxDep
from pricewise.core.db import commit
from pricewise.core.middleware import RequestContext
from pricewise.core.tenancy import Principal
from pricewise.core.threads import single_threaded_blas
from pricewise.estimation.classes_service import seed_platform
from pricewise.estimation.router import router as estimation_router
from pricewise.knowledge.router import router as knowledge_router
from pricewise.mcp import server as mcp_server
from pricewise.models import load_tasks
from pricewise.orchestration.router import router as orchestration_router
from pricewise.orchestration.ws import router as ws_router
from pricewise.reports.router import router as reports_router
from pricewise.settings import Settings, SettingsError, get_settings, is_loopback
from pricewise.widget.cors import WidgetCors
from pricewise.widget.router import router as widget_router

log = logging.getLogger("pricewise.app")


def resolve_auth_mode(settings: Settings, host: str | None) -> str:
    """Local mode only on loopback: anything reachable from outside demands credentials."""
    # Unknown host (a bare factory under some other server): credentials, to be safe.
    mode = settings.auth_mode or ("local" if host is not None and is_loopback(host) else "required")
    if mode == "local" and host is not None and not is_loopback(host):
        raise SettingsError(
            f"invalid setting PRICEWISE_AUTH_MODE: local mode refuses to bind to {host}; "
            "use PRICEWISE_AUTH_MODE=required or a loopback address")
    return mode


async def _ensure_local(ctx: AppContext) -> None:
    for attempt in (1, 2):
        try:
            async with ctx.db.session() as session:
                tenant = await ensure_local_tenant(session)
                await commit(session)
            break
        except IntegrityError:
            # `serve --workers N` on a fresh database: another worker created it first; read it.
            if attempt == 2:
                raise
    ctx.local_principal = Principal(tenant_id=tenant.id, role="admin", kind="local",
                                    verified=True, tier=tenant.tier)


def create_app(settings: Settings | None = None, *, host: str | None = None,
               auth_mode: str | None = None, embedded_jobs: bool = False) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    single_threaded_blas()
    ctx = AppContext.build(settings, auth_mode or resolve_auth_mode(settings, host))
    load_tasks()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        consumer = None
        await ctx.events.start()
        if settings.embedding_table:
            from pricewise.core.embedding_table import start_background

            start_background(settings.var_dir)
        await seed_platform(ctx.db)
        if ctx.auth_mode == "local":
            await _ensure_local(ctx)
        if embedded_jobs:
            from pricewise.core import jobs

            jobs.configure(ctx)
            consumer = jobs.start_embedded()
        log.info("pricewise ready (auth mode %s, database %s)", ctx.auth_mode, ctx.db.engine.dialect.name)
        await mcp.start()
        gc.freeze()  # start-up objects live for good: keep them out of every collection
        try:
            yield {}
        finally:
            await mcp.stop()
            if consumer is not None:
                consumer.stop(graceful=True)
            from pricewise.accounts.llm import drain_usage

            await drain_usage()  # LLM usage rows deferred behind a SQLite write lock
            await ctx.events.stop()
            await ctx.db.dispose()

    app = FastAPI(title="pricewise", version="0.1.0", lifespan=lifespan, responses=errors.ERROR_RESPONSES)
    app.state.ctx = ctx
    errors.install(app)
    _health_routes(app)  # first: probes are matched before every feature route
    app.include_router(accounts_router)
    app.include_router(catalog_router)
    app.include_router(workspace_router)
    app.include_router(imports_router)
    app.include_router(reports_router)
    app.include_router(analytics_router)
    app.include_router(ai_router)
    app.include_router(plans_router)
    app.include_router(usage_router)
    app.include_router(alerts_router)
    app.include_router(orchestration_router)
    app.include_router(knowledge_router)
    app.include_router(ws_router)
    app.include_router(estimation_router)
    app.include_router(widget_router)
    app.include_router(console_router)
    mcp = mcp_server.mount(app, ctx)  # /mcp: the MCP tools, behind their own dual auth
    # Outermost first: request id and body limit, then CORS (answers preflights itself).
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                       allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                       allow_headers=["Content-Type", "Authorization", "X-API-Key", "X-Request-ID"],
                       expose_headers=["X-Request-ID", "X-Total-Count", "X-RateLimit-Limit",
                                       "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"],
                       max_age=600)
    app.add_middleware(WidgetCors)  # outside the global CORS: the widget routes' origins are per tenant
    app.add_middleware(RequestContext, max_body_bytes=settings.max_body_bytes,
                       max_upload_bytes=settings.max_file_size_mb * 1024 * 1024)
    return app


def _health_routes(app: FastAPI) -> None:
    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}

    @app.get("/health/ready", tags=["health"])
    async def ready(ctx: CtxDep) -> JSONResponse:
        from pricewise.core import jobs

        checks: dict[str, str] = {"database": "ok" if await ctx.db.ping() else "error"}
        redis = await ctx.redis_ok()
        checks["redis"] = "not_configured" if redis is None else ("ok" if redis else "error")
        checks["job_queue"] = "ok" if jobs.queue_ok() else "error"
        ok = all(v in ("ok", "not_configured") for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "checks": checks},
                            status_code=200 if ok else 503)


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn --workers: the CLI has already put the resolved settings in env."""
    return create_app(embedded_jobs=False)
