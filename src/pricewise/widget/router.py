"""Widget routes: the public ones a tenant's web page calls (widget.js, /widget/*), and the
tenant admin's settings for it (/tenants/widget...)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from pricewise.accounts.deps import Admin, ScopeDep
from pricewise.core.context import CtxDep, SessionDep
from pricewise.estimation import service as estimates
from pricewise.widget import access, service
from pricewise.widget.access import WidgetScopeDep
from pricewise.widget.schemas import WidgetContactIn, WidgetEstimateIn, WidgetKeyIn, WidgetSettingsIn

router = APIRouter(tags=["widget"])

_SCRIPT = (Path(__file__).parent / "static" / "widget.js").read_bytes()
_SCRIPT_ETAG = '"' + hashlib.sha256(_SCRIPT).hexdigest()[:20] + '"'
# Pages embed the script by a fixed URL, so caches keep it briefly and revalidate by ETag.
_SCRIPT_HEADERS = {"Cache-Control": "public, max-age=300, stale-while-revalidate=3600", "ETag": _SCRIPT_ETAG,
                   "Cross-Origin-Resource-Policy": "cross-origin", "X-Content-Type-Options": "nosniff"}
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/widget.js", include_in_schema=False)
async def widget_js(request: Request) -> Response:
    if _SCRIPT_ETAG in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=_SCRIPT_HEADERS)
    return Response(_SCRIPT, media_type="text/javascript; charset=utf-8", headers=_SCRIPT_HEADERS)


# --- what a page calls -------------------------------------------------------------------------

@router.get("/widget/config")
async def widget_config(request: Request, session: SessionDep, ctx: CtxDep,
                        api_key: Annotated[str | None, Query(max_length=200)] = None) -> JSONResponse:
    """Branding and a new session token (24 h) for a page on one of the tenant's allowed origins."""
    await access.limit(request, ctx, f"widget-new:{access.client_address(request)}",
                       ctx.settings.widget_new_sessions_per_minute, "new widget sessions per minute from this address")
    key = await service.key_tenant(session, api_key)
    origin = service.check_origin(request.headers.get("origin"), service.allowed_origins(key.settings))
    access.grant_origin(request, origin)
    return JSONResponse(await service.open_session(session, ctx, key, origin), headers=_NO_STORE)


@router.post("/widget/estimate")
async def widget_estimate(body: WidgetEstimateIn, request: Request, session: SessionDep, ctx: CtxDep) -> JSONResponse:
    """The spec's widget estimate (same answer as /estimate/start), from the session's conversation."""
    scope = await access.widget_scope(request, session, body.session_token or request.headers.get(access.HEADER))
    decision = await ctx.limiter.estimates(scope.tenant_id, scope.principal.tier)
    request.scope.setdefault("state", {})["rate_headers"] = decision.headers()
    row = await service.estimate(ctx, scope, scope.widget, body.model_dump(exclude={"session_token"}))
    return JSONResponse(estimates.estimate_out(row), headers=_NO_STORE)


@router.get("/widget/estimate")
async def widget_read_estimate(scope: WidgetScopeDep) -> JSONResponse:
    """The session's own estimate (a widget session reaches no other)."""
    return JSONResponse(estimates.estimate_out(await service.own_estimate(scope, scope.widget)), headers=_NO_STORE)


@router.post("/widget/contact")
async def widget_contact(body: WidgetContactIn, request: Request, session: SessionDep, ctx: CtxDep) -> JSONResponse:
    """The customer's contact for the session's estimate: it becomes a lead of the tenant."""
    scope = await access.widget_scope(request, session, body.session_token or request.headers.get(access.HEADER))
    est = await service.contact(ctx, scope, scope.widget, body.model_dump(exclude={"session_token"}))
    return JSONResponse({"captured": True, "estimation_id": est.id, "feedback_consent": est.feedback_consent},
                        headers=_NO_STORE)


# --- the tenant admin's settings ---------------------------------------------------------------

@router.get("/tenants/widget", dependencies=[Admin])
async def read_settings(scope: ScopeDep) -> dict[str, Any]:
    return service.settings_out(await service.tenant_of(scope))


@router.put("/tenants/widget", dependencies=[Admin])
async def update_settings(body: WidgetSettingsIn, scope: ScopeDep) -> dict[str, Any]:
    changes = body.model_dump()
    return service.settings_out(await service.update_settings(scope, changes))


@router.get("/tenants/widget/keys", dependencies=[Admin])
async def list_keys(scope: ScopeDep) -> list[dict[str, Any]]:
    return [service.widget_key_out(k) for k in await scope.rows(service.LIST_KEYS)]


@router.post("/tenants/widget/keys", status_code=201, dependencies=[Admin])
async def create_key(scope: ScopeDep, body: WidgetKeyIn | None = None) -> dict[str, Any]:
    """The key is shown in full here only (it is stored hashed): put it in the embed tag."""
    key, raw = await service.create_key(scope, body.name if body else "widget")
    return {**service.widget_key_out(key), "api_key": raw}


@router.post("/tenants/widget/keys/{widget_key_id}/rotate", status_code=201, dependencies=[Admin])
async def rotate_key(widget_key_id: str, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    overlap = timedelta(hours=ctx.settings.api_key_rotation_overlap_hours)
    key, raw = await service.rotate_key(scope, widget_key_id, overlap)
    return {**service.widget_key_out(key), "api_key": raw}


@router.delete("/tenants/widget/keys/{widget_key_id}", dependencies=[Admin])
async def revoke_key(widget_key_id: str, scope: ScopeDep) -> dict[str, Any]:
    return service.widget_key_out(await service.revoke_key(scope, widget_key_id))
