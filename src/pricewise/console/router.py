"""Tenant console: server-rendered pages under /console over the API's own services.

Reads need the viewer role, lead changes the analyst role, settings the admin role, exactly as the
corresponding API routes. Every form POST carries a CSRF token (console.web)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from limits import RateLimitItemPerMinute
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts import auth
from pricewise.accounts import service as accounts
from pricewise.accounts.models import ApiKey, Invitation, User
from pricewise.accounts.schemas import ApiKeyIn, Branding, InviteIn, UserPatch
from pricewise.console import classes_section, service, widget_section
from pricewise.console.web import (
    PREFIX,
    REFRESH_COOKIE,
    ConsoleRoute,
    Viewer,
    ViewerDep,
    check_csrf,
    clear_session,
    csrf_id,
    csrf_token,
    form_of,
    render,
    set_session,
)
from pricewise.core.context import AppContext, CtxDep, SessionDep
from pricewise.core.errors import Unauthorized, invalid
from pricewise.core.schemas import Limit, Offset
from pricewise.estimation import leads_service
from pricewise.estimation.schemas import LeadPatch, LeadStatus

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
_STATIC = FilePath(__file__).parent / "static"
_STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
_LOGIN_PER_MINUTE = RateLimitItemPerMinute(20)
# Fixed notices after a redirect: the query names one, so a crafted link cannot put text on the page.
NOTICES = {"lead": "Lead updated.", "branding": "Branding saved.", "openai_set": "OpenAI key saved.",
           "openai_cleared": "OpenAI key removed.", "key_revoked": "API key revoked.",
           "user": "User updated.", "invited": "Invitation sent.",
           "invite_revoked": "Invitation revoked: its link no longer works."}


def _back(path: str, done: str, **params: str | None) -> RedirectResponse:
    query = urlencode({**{k: v for k, v in params.items() if v}, "done": done})
    return RedirectResponse(f"{PREFIX}{path}?{query}", status_code=303)


def _notice(done: str | None) -> str | None:
    return NOTICES.get(done or "")


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in _STATIC_FILES:
        return Response(status_code=404)
    return FileResponse(_STATIC / name, media_type=_STATIC_FILES[name],
                        headers={"Cache-Control": "public, max-age=300"})


@router.get("")
@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse(f"{PREFIX}/leads", status_code=303)


# --- login -------------------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    """Only a console path (never another host, nor //host) after login."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/leads"


@router.get("/login")
async def login_form(request: Request, ctx: CtxDep, next: Annotated[str | None, Query(max_length=300)] = None,
                     ) -> Response:
    return render(request, "login.html", viewer=None, next=_safe_next(next), error=None, email="",
                  csrf=csrf_token(ctx, csrf_id(request), "login"))


@router.post("/login")
async def login(request: Request, ctx: CtxDep, session: SessionDep) -> Response:
    client = request.client.host if request.client else "unknown"
    await ctx.limiter.key(_LOGIN_PER_MINUTE, f"login:{client}", "login attempts per minute")
    data = await check_csrf(request, ctx, "login")
    email, password = data.get("email", "").strip()[:320], data.get("password", "")[:256]
    target = _safe_next(data.get("next"))
    try:
        tokens = await auth.login(session, ctx, email, password)  # the same check as POST /auth/login
    except Unauthorized as exc:
        return render(request, "login.html", status_code=401, viewer=None, next=target, error=exc.message,
                      email=email, csrf=csrf_token(ctx, csrf_id(request), "login"))
    set_session(request, ctx, tokens)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    await form_of(request, viewer)
    raw = request.cookies.get(REFRESH_COOKIE)
    if raw:
        await auth.logout(session, raw)  # revokes the refresh family, as POST /auth/logout
    clear_session(request)
    return RedirectResponse(f"{PREFIX}/login", status_code=303)


# --- leads -------------------------------------------------------------------------------------

@router.get("/leads")
async def leads(request: Request, viewer: ViewerDep, status: LeadStatus | None = None,
                q: Annotated[str | None, Query(max_length=100)] = None, limit: Limit = 50, offset: Offset = 0,
                done: str | None = None) -> Response:
    rows, total = await leads_service.listing(viewer.scope, status=status, since=None, until=None, q=q,
                                              limit=limit, offset=offset)
    csv_query = urlencode({k: v for k, v in {"status": status, "q": q}.items() if v})
    return render(request, "leads.html", viewer=viewer, page="leads", notice=_notice(done),
                  leads=[leads_service.lead_out(r) for r in rows], total=total, status=status, q=q or "",
                  limit=limit, offset=offset, statuses=["new", "contacted", "won", "lost"],
                  csv_url=f"{PREFIX}/leads.csv" + (f"?{csv_query}" if csv_query else ""))


@router.get("/leads.csv")
async def leads_csv(viewer: ViewerDep, status: LeadStatus | None = None,
                    q: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """The same file as GET /leads?format=csv."""
    rows, total = await leads_service.listing(viewer.scope, status=status, since=None, until=None, q=q,
                                              limit=None, offset=0)
    return Response(leads_service.to_csv(rows), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="leads.csv"', "X-Total-Count": str(total)})


@router.post("/leads/{lead_id}/status")
async def lead_status(lead_id: str, request: Request, viewer: ViewerDep) -> Response:
    data = await form_of(request, viewer)
    viewer.require("analyst")
    patch = LeadPatch.model_validate({"status": data.get("status") or None})
    await leads_service.patch(viewer.scope, lead_id, patch.model_dump())
    return _back("/leads", "lead", status=data.get("filter"))


# --- estimates ---------------------------------------------------------------------------------

@router.get("/estimates")
async def estimates(request: Request, viewer: ViewerDep, limit: Limit = 50, offset: Offset = 0) -> Response:
    rows, total = await service.recent_estimates(viewer.scope, limit, offset)
    return render(request, "estimates.html", viewer=viewer, page="estimates", estimates=rows, total=total,
                  limit=limit, offset=offset)


@router.get("/estimates/{ref}")
async def estimate(ref: Annotated[str, Path(max_length=40)], request: Request, viewer: ViewerDep) -> Response:
    detail = await service.estimate_detail(viewer.scope, ref)
    return render(request, "estimate.html", viewer=viewer, page="estimates", **detail)


# --- calibration (the reference classes page is classes_section) ------------------------------

@router.get("/calibration")
async def calibration(request: Request, viewer: ViewerDep) -> Response:
    return render(request, "calibration.html", viewer=viewer, page="calibration",
                  **await service.calibration(viewer.scope))



# --- settings (admin) --------------------------------------------------------------------------

async def settings_page(request: Request, viewer: Viewer, session: AsyncSession, **extra: Any) -> Response:
    """The settings page (admin), also the answer to its forms that show something once (a new key)."""
    viewer.require("admin")
    scope = viewer.scope
    ctx: AppContext = request.app.state.ctx
    tenant = accounts.tenant_out(await accounts.get_tenant(session, viewer.principal))
    keys = [accounts.key_out(k) for k in await scope.list(ApiKey, ApiKey.kind == "secret")]
    users = [accounts.user_out(u) for u in await scope.list(User)]
    invites = list(await scope.list(Invitation))
    widget = await widget_section.state(scope, ctx.settings.public_url)
    new_widget_key = extra.get("new_widget_key")
    if new_widget_key:
        extra["embed_tag"] = widget_section.embed_tag(widget["script_url"], new_widget_key["api_key"])
    return render(request, "settings.html", viewer=viewer, page="settings", tenant=tenant, keys=keys,
                  users=users, invites=invites, roles=["viewer", "analyst", "admin"], widget=widget, **extra)


@router.get("/settings")
async def settings(request: Request, viewer: ViewerDep, session: SessionDep, done: str | None = None) -> Response:
    return await settings_page(request, viewer, session, notice=_notice(done))


@router.post("/settings/branding")
async def branding(request: Request, viewer: ViewerDep, ctx: CtxDep, session: SessionDep) -> Response:
    data = await form_of(request, viewer)
    viewer.require("admin")
    fields = {k: data.get(k, "").strip() or None for k in ("logo_url", "primary_color", "widget_button_text")}
    body = Branding.model_validate(fields)
    await accounts.update_settings(session, ctx, viewer.principal, {"branding": body.model_dump()})
    return _back("/settings", "branding")


@router.post("/settings/openai-key")
async def openai_key(request: Request, viewer: ViewerDep, ctx: CtxDep, session: SessionDep) -> Response:
    """Set (validated against the provider first) or clear the tenant's own key: only its last four
    characters are ever shown again."""
    data = await form_of(request, viewer)
    viewer.require("admin")
    clear = data.get("action") == "clear"
    key = "" if clear else data.get("openai_api_key", "").strip()
    if not clear and not key:
        raise invalid("openai_api_key", "enter a key, or use Remove")
    if len(key) > 512:
        raise invalid("openai_api_key", "is too long to be a key")
    await accounts.update_settings(session, ctx, viewer.principal, {"openai_api_key": key or None})
    return _back("/settings", "openai_cleared" if clear else "openai_set")


@router.post("/settings/api-keys")
async def create_key(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    data = await form_of(request, viewer)
    viewer.require("admin")
    body = ApiKeyIn.model_validate({"name": data.get("name") or "default", "role": data.get("role") or "admin"})
    key, raw = await accounts.create_key(viewer.scope, body.name, body.role)
    # Shown once, on this response only (never in a URL, never stored in clear).
    return await settings_page(request, viewer, session, new_key={**accounts.key_out(key), "api_key": raw},
                                notice="API key created: copy it now, it will not be shown again.")


@router.post("/settings/api-keys/{key_id}/rotate")
async def rotate_key(key_id: str, request: Request, viewer: ViewerDep, ctx: CtxDep, session: SessionDep) -> Response:
    await form_of(request, viewer)
    viewer.require("admin")
    overlap = timedelta(hours=ctx.settings.api_key_rotation_overlap_hours)
    key, raw = await accounts.rotate_key(viewer.scope, key_id, overlap)
    return await settings_page(request, viewer, session, new_key={**accounts.key_out(key), "api_key": raw},
                                notice=f"Key rotated: the old key keeps working for "
                                       f"{ctx.settings.api_key_rotation_overlap_hours} h. Copy the new one now.")


@router.post("/settings/api-keys/{key_id}/revoke")
async def revoke_key(key_id: str, request: Request, viewer: ViewerDep) -> Response:
    await form_of(request, viewer)
    viewer.require("admin")
    await accounts.revoke_key(viewer.scope, key_id)
    return _back("/settings", "key_revoked")


@router.post("/settings/users/{user_id}")
async def patch_user(user_id: str, request: Request, viewer: ViewerDep) -> Response:
    data = await form_of(request, viewer)
    viewer.require("admin")
    active = {"true": True, "false": False}.get(data.get("is_active", ""))
    body = UserPatch.model_validate({"role": data.get("role") or None, "is_active": active})
    await accounts.patch_user(viewer.scope, user_id, body.model_dump(exclude_none=True))
    return _back("/settings", "user")


@router.post("/settings/invitations")
async def invite(request: Request, viewer: ViewerDep, ctx: CtxDep, session: SessionDep) -> Response:
    data = await form_of(request, viewer)
    viewer.require("admin")
    body = InviteIn.model_validate({"email": data.get("email", "").strip(), "role": data.get("role") or "viewer"})
    await accounts.invite(session, ctx, viewer.scope, str(body.email), body.role)
    return _back("/settings", "invited")


@router.post("/settings/invitations/{invite_id}/revoke")
async def revoke_invite(invite_id: str, request: Request, viewer: ViewerDep) -> Response:
    await form_of(request, viewer)
    viewer.require("admin")
    await accounts.revoke_invite(viewer.scope, invite_id)
    return _back("/settings", "invite_revoked")


router.include_router(classes_section.router)
router.include_router(widget_section.router)
