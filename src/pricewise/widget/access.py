"""Who may use the widget-capable routes: a widget session (X-Widget-Session or the body's
session_token), scoped to what it created. Kept apart from accounts.deps.get_principal on
purpose: a widget token authenticates these routes and nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItemPerMinute
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.deps import get_principal
from pricewise.core.context import AppContext, SessionDep
from pricewise.core.errors import Forbidden, NotFound, Unauthorized
from pricewise.core.tenancy import Principal, Scope, bind
from pricewise.estimation.models import ChatSession
from pricewise.widget import service
from pricewise.widget.models import WidgetSession

HEADER = "x-widget-session"


class WidgetScope(Scope):
    """A tenant scope that also knows the widget session it acts for."""

    def __init__(self, session: AsyncSession, principal: Principal, widget: WidgetSession) -> None:
        super().__init__(session, principal)
        self.widget = widget


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def grant_origin(request: Request, origin: str) -> None:
    """Tell widget.cors.WidgetCors this response may be read by that page."""
    request.scope.setdefault("state", {})["widget_origin"] = origin


async def limit(request: Request, ctx: AppContext, key: str, per_minute: int, what: str) -> None:
    decision = await ctx.limiter.key(RateLimitItemPerMinute(per_minute), key, what)
    request.scope.setdefault("state", {})["rate_headers"] = decision.headers()


async def widget_scope(request: Request, session: SessionDep, token: str | None) -> WidgetScope:
    """The session behind a widget token, checked (origin, expiry, tenant) and rate-limited."""
    ctx: AppContext = request.app.state.ctx
    if not token:
        raise Unauthorized("a widget session token is required (X-Widget-Session)", code="widget_session_missing")
    row = await service.find_session(session, token)
    ws: WidgetSession = row.WidgetSession
    origin = request.headers.get("origin")
    # The token was issued to one page's origin; elsewhere it is refused (and unreadable by the page).
    if origin is None or origin.rstrip("/") != ws.origin or ws.origin not in service.allowed_origins(row.settings):
        raise Forbidden("this widget session belongs to another origin", code="origin_not_allowed")
    grant_origin(request, ws.origin)
    service.check_session(row)
    settings = ctx.settings
    await limit(request, ctx, f"widget-addr:{client_address(request)}", settings.widget_address_per_minute,
                "widget requests per minute from this address")
    await limit(request, ctx, f"widget-session:{ws.id}", settings.widget_session_per_minute,
                "requests per minute in this widget session")
    await ctx.limiter.tenant(ws.tenant_id)
    principal = Principal(tenant_id=ws.tenant_id, role="analyst", kind="widget", tier=row.tier,
                          verified=row.email_verified_at is not None)
    await bind(session, principal)
    request.state.principal = principal
    return WidgetScope(session, principal, ws)


async def header_scope(request: Request, session: SessionDep) -> WidgetScope:
    return await widget_scope(request, session, request.headers.get(HEADER))


WidgetScopeDep = Annotated[WidgetScope, Depends(header_scope)]


async def chat_scope(request: Request, session: SessionDep) -> Scope:
    """The chat routes: a widget session when X-Widget-Session is sent, else the usual principal
    (an analyst for writes, as the route's Writer gate required before)."""
    if request.headers.get(HEADER) is not None:
        return await widget_scope(request, session, request.headers.get(HEADER))
    principal = await get_principal(request, session)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        principal.require("analyst")
    return Scope(session, principal)


ChatScopeDep = Annotated[Scope, Depends(chat_scope)]


def own_conversation(scope: Scope, conversation_id: str | None) -> bool:
    """A widget session reaches only the conversation it started (another one: not found).
    Returns whether the caller is a widget session."""
    if not isinstance(scope, WidgetScope):
        return False
    if conversation_id is not None and conversation_id != scope.widget.chat_session_id:
        raise NotFound(f"conversation {conversation_id} not found")
    return True


def adopt_conversation(scope: Scope, row: ChatSession) -> None:
    """Link a conversation a widget session started to that session."""
    if isinstance(scope, WidgetScope):
        scope.widget.chat_session_id = row.session_id
