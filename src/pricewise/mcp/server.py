"""The MCP server (the official SDK over streamable HTTP) behind the dual-auth middleware.

Stateless and with JSON responses: every call is one signed HTTP request that any API process
can answer, so `serve --workers N` and several machines need no sticky sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import ToolAnnotations
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from pricewise.accounts.models import Tenant
from pricewise.core.context import AppContext
from pricewise.core.errors import AppError
from pricewise.core.tenancy import Principal, Scope, bind
from pricewise.estimation.classes_service import seed_platform
from pricewise.mcp import tools
from pricewise.mcp.auth import TENANT_KEY, DualAuth, McpKeys, NonceStore, active_tenant_check

PATH = "/mcp"
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
INSTRUCTIONS = ("pricewise: reference-class estimates (P50/P80/P95 cost and timeline) and pricing analytics "
                "for one tenant, the one named by the caller's token. Every tool only reads.")


def _tenant(mcp_ctx: Context) -> str:
    request = mcp_ctx.request_context.request
    tenant = getattr(request, "scope", {}).get(TENANT_KEY)
    if not isinstance(tenant, str):  # only DualAuth sets it: unreachable behind it
        raise ToolError("401 unauthorized: no verified tenant")
    return tenant


async def _in_scope(ctx: AppContext, mcp_ctx: Context, fn: Callable[[Scope], Awaitable[dict[str, Any]]]
                    ) -> dict[str, Any]:
    """Run a tool in the verified tenant's scope; it commits nothing (the session rolls back)."""
    principal = Principal(tenant_id=_tenant(mcp_ctx), role="viewer", kind="mcp", verified=True)
    async with ctx.db.session() as session:
        await bind(session, principal)
        tenant = await session.get(Tenant, principal.tenant_id)
        if tenant is not None:  # tier and BYOK decide which LLM writes the narrative, as in the API
            principal = Principal(tenant_id=tenant.id, role="viewer", kind="mcp", verified=True, tier=tenant.tier,
                                  has_llm_key=tenant.openai_key_encrypted is not None)
        try:
            return await fn(Scope(session, principal))
        except AppError as exc:
            # "<status> <code>: <message>": readable by any client, and mapped back by ours.
            raise ToolError(f"{exc.status} {exc.code}: {exc.message}") from None
        finally:
            await session.rollback()


def build_server(ctx: AppContext) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("pricewise", instructions=INSTRUCTIONS, version="0.1.0")
    tool = functools.partial(server.tool, annotations=READ_ONLY)  # every tool only reads

    @tool(description="Best reference classes for a project description, with the confidence that each "
                      "is the right kind of project.")
    async def match_reference_class(description: str, mcp_ctx: Context, region: str | None = None,
                                    limit: int = 5) -> dict[str, Any]:
        return await _in_scope(ctx, mcp_ctx, lambda s: tools.match_reference_class(
            s, description, region, max(1, min(limit, 50))))

    @tool(description="P50/P80/P95 cost and timeline, breakdown, assumptions and risks for a project, "
                      "calibrated on the tenant's outcomes. Nothing is stored.")
    async def compute_estimate(description: str, mcp_ctx: Context, region: str | None = None,
                               attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        return await _in_scope(ctx, mcp_ctx, lambda s: tools.compute_estimate(ctx, s, description, region,
                                                                              attributes))

    @tool(description="Calibration of the tenant's estimates against reported outcomes: within-20% "
                      "accuracy, P80 coverage, per reference class.")
    async def calibration_summary(mcp_ctx: Context) -> dict[str, Any]:
        return await _in_scope(ctx, mcp_ctx, tools.calibration_summary)

    @tool(description="Stored revenue and subscription forecasts of a product's segment contributions.")
    async def forecast_revenue(product_id: str, mcp_ctx: Context) -> dict[str, Any]:
        return await _in_scope(ctx, mcp_ctx, lambda s: tools.forecast_revenue(s, product_id))

    @tool(description="Revenue attributed to segment/plan pairs over a time range (e.g. 30d, 90d, 12m).")
    async def revenue_attribution(mcp_ctx: Context, product_id: str | None = None,
                                  time_range: str | None = None) -> dict[str, Any]:
        return await _in_scope(ctx, mcp_ctx, lambda s: tools.revenue_attribution(s, product_id, time_range))

    @tool(description="Pricing gaps of a plan: its metrics and findings, computed now, not stored.")
    async def gap_diagnosis(plan_id: str, mcp_ctx: Context) -> dict[str, Any]:
        return await _in_scope(ctx, mcp_ctx, lambda s: tools.gap_diagnosis(s, plan_id))

    return server


class McpApp:
    """The signed MCP endpoint of one app, and the SDK session manager it needs running."""

    def __init__(self, ctx: AppContext) -> None:
        self.server = build_server(ctx)
        settings = ctx.settings
        sdk_app = self.server.streamable_http_app(
            streamable_http_path=PATH, stateless_http=True, json_response=True,
            max_request_body_size=settings.max_body_bytes,
            # Host/Origin checks guard unauthenticated local servers from browsers; every request
            # here carries an HMAC no browser page can compute.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self.nonces = NonceStore(settings.redis_url, 2 * settings.mcp_skew_seconds)
        self.asgi: ASGIApp = DualAuth(sdk_app, McpKeys.of(ctx.keys), self.nonces, active_tenant_check(ctx.db),
                                      skew_seconds=settings.mcp_skew_seconds, max_body_bytes=settings.max_body_bytes,
                                      limit=ctx.limiter.mcp)
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The session manager's task group lives in a task of its own, so the app's lifespan may
        # be entered and left from different tasks (as test fixtures do).
        started, self._stop = asyncio.Event(), asyncio.Event()

        async def run() -> None:
            assert self._stop is not None
            async with self.server.session_manager.run():
                started.set()
                await self._stop.wait()

        self._task = asyncio.create_task(run(), name="mcp-session-manager")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._task.done():
            self._task.result()  # it failed to start: say why

    async def stop(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.nonces.close()


def mount(app: Any, ctx: AppContext) -> McpApp:
    """Serve MCP at /mcp of `app` (a route, not a Mount: no redirect from /mcp to /mcp/)."""
    mcp_app = McpApp(ctx)
    app.add_route(PATH, mcp_app.asgi, methods=["GET", "POST", "DELETE"], include_in_schema=False)
    return mcp_app


def standalone_app(ctx: AppContext) -> Starlette:
    """Only /mcp, for `pricewise mcp`: an MCP server on machines of its own, same database and secret."""
    mcp_app = McpApp(ctx)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await seed_platform(ctx.db)
        await mcp_app.start()
        try:
            yield
        finally:
            await mcp_app.stop()
            await ctx.db.dispose()

    return Starlette(routes=[Route(PATH, mcp_app.asgi, methods=["GET", "POST", "DELETE"])], lifespan=lifespan)

