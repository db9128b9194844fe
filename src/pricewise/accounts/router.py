"""Accounts routes: registration, e-mail verification, login, API keys, settings, users."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from limits import RateLimitItemPerHour, RateLimitItemPerMinute

from pricewise.accounts import auth, lifecycle, service
from pricewise.accounts import schemas as s
from pricewise.accounts.deps import Admin, AdminDep, PrincipalDep, ScopeDep
from pricewise.accounts.models import ApiKey, Invitation, User
from pricewise.core.context import CtxDep, SessionDep
from pricewise.core.schemas import PathId
from pricewise.core.tenancy import Prepared

router = APIRouter(tags=["accounts"])
_AUTH_PER_MINUTE = RateLimitItemPerMinute(20)
_RESEND_PER_HOUR = RateLimitItemPerHour(3)


async def _throttle(ctx: CtxDep, request: Request, what: str) -> None:
    """Public credential routes are limited per client address (password guessing)."""
    client = request.client.host if request.client else "unknown"
    await ctx.limiter.key(_AUTH_PER_MINUTE, f"{what}:{client}", f"{what} attempts per minute")


@router.post("/tenants/register", status_code=201, response_model=s.RegisterOut)
async def register(body: s.RegisterIn, ctx: CtxDep, session: SessionDep, request: Request) -> dict[str, Any]:
    await _throttle(ctx, request, "register")
    tenant, raw = await service.register(session, ctx, name=body.name, email=str(body.email),
                                         password=body.password, tier=body.tier)
    return {"tenant_id": tenant.id, "api_key": raw,
            "message": "Account created. Verify email to activate."}


@router.get("/auth/verify-email")
async def verify_email(ctx: CtxDep, session: SessionDep,
                       token: str = Query(min_length=10, max_length=2000)) -> dict[str, Any]:
    tenant = await service.verify_email(session, ctx, token)
    return {"verified": True, "tenant_id": tenant.id}


@router.post("/auth/resend-verification", status_code=202)
async def resend_verification(principal: PrincipalDep, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    await ctx.limiter.key(_RESEND_PER_HOUR, f"resend:{principal.tenant_id}", "verification e-mails per hour")
    return {"sent": await service.resend_verification(session, ctx, principal)}


@router.post("/auth/login", response_model=s.TokenOut)
async def login(body: s.LoginIn, ctx: CtxDep, session: SessionDep, request: Request) -> dict[str, Any]:
    await _throttle(ctx, request, "login")
    return await auth.login(session, ctx, str(body.email), body.password)


@router.post("/auth/refresh", response_model=s.TokenOut)
async def refresh(body: s.RefreshIn, ctx: CtxDep, session: SessionDep, request: Request) -> dict[str, Any]:
    await _throttle(ctx, request, "refresh")
    return await auth.refresh(session, ctx, body.refresh_token)


@router.post("/auth/logout")
async def logout(body: s.RefreshIn, session: SessionDep) -> dict[str, bool]:
    await auth.logout(session, body.refresh_token)
    return {"success": True}


@router.post("/auth/accept-invite", status_code=201, response_model=s.UserOut)
async def accept_invite(body: s.AcceptInviteIn, ctx: CtxDep, session: SessionDep,
                        request: Request) -> dict[str, Any]:
    await _throttle(ctx, request, "invite")
    user = await service.accept_invite(session, body.token, body.password, body.name)
    return service.user_out(user)


@router.get("/tenants/me", response_model=s.TenantOut)
async def me(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    return service.tenant_out(await service.get_tenant(session, principal))


@router.put("/tenants/settings", response_model=s.TenantOut)
async def update_settings(body: s.SettingsIn, principal: AdminDep, ctx: CtxDep,
                          session: SessionDep) -> dict[str, Any]:
    tenant = await service.update_settings(session, ctx, principal, body.model_dump(exclude_unset=True))
    return service.tenant_out(tenant)


@router.post("/tenants/deactivate", dependencies=[Admin])
async def deactivate(principal: PrincipalDep, ctx: CtxDep, session: SessionDep) -> dict[str, Any]:
    tenant = await service.get_tenant(session, principal)
    purge_after = await lifecycle.deactivate(session, tenant, ctx.settings.tenant_retention_days)
    return {"success": True, "purge_after": purge_after.isoformat().replace("+00:00", "Z")}


# --- API keys -------------------------------------------------------------------------

# Built once: the columns key_out reads, as plain rows (no ORM objects for a read-only list).
_LIST_KEYS = Prepared(ApiKey, ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.prefix, ApiKey.last4,
                      ApiKey.created_at, ApiKey.expires_at, ApiKey.revoked_at, ApiKey.last_used_at,
                      where=[ApiKey.kind == "secret"])


@router.get("/api-keys", response_model=list[s.ApiKeyOut], dependencies=[Admin])
async def list_keys(scope: ScopeDep) -> list[dict[str, Any]]:
    return [service.key_out(k) for k in await scope.rows(_LIST_KEYS)]


@router.post("/api-keys", status_code=201, response_model=s.ApiKeyCreated, dependencies=[Admin])
async def create_key(body: s.ApiKeyIn, scope: ScopeDep) -> dict[str, Any]:
    key, raw = await service.create_key(scope, body.name, body.role)
    return {**service.key_out(key), "api_key": raw}


@router.post("/api-keys/{key_id}/rotate", status_code=201, response_model=s.ApiKeyCreated,
             dependencies=[Admin])
async def rotate_key(key_id: str, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    overlap = timedelta(hours=ctx.settings.api_key_rotation_overlap_hours)
    key, raw = await service.rotate_key(scope, key_id, overlap)
    return {**service.key_out(key), "api_key": raw}


@router.delete("/api-keys/{key_id}", response_model=s.ApiKeyOut, dependencies=[Admin])
async def revoke_key(key_id: str, scope: ScopeDep) -> dict[str, Any]:
    return service.key_out(await service.revoke_key(scope, key_id))


# --- users and invitations ------------------------------------------------------------

@router.get("/users", response_model=list[s.UserOut])
async def list_users(scope: ScopeDep) -> list[dict[str, Any]]:
    return [service.user_out(u) for u in await scope.list(User)]


@router.patch("/users/{user_id}", response_model=s.UserOut, dependencies=[Admin])
async def patch_user(user_id: str, body: s.UserPatch, scope: ScopeDep) -> dict[str, Any]:
    return service.user_out(await service.patch_user(scope, user_id, body.model_dump(exclude_unset=True)))


@router.delete("/users/{user_id}", dependencies=[Admin])
async def delete_user(user_id: str, scope: ScopeDep) -> dict[str, bool]:
    await service.delete_user(scope, user_id)
    return {"success": True}


@router.get("/invitations", response_model=list[s.InviteOut], dependencies=[Admin])
async def list_invites(scope: ScopeDep) -> list[Invitation]:
    return list(await scope.list(Invitation))


@router.post("/invitations", status_code=201, response_model=s.InviteOut, dependencies=[Admin])
async def create_invite(body: s.InviteIn, scope: ScopeDep, ctx: CtxDep) -> Invitation:
    return await service.invite(scope.session, ctx, scope, str(body.email), body.role)


@router.delete("/invitations/{invite_id}", response_model=s.InviteOut, dependencies=[Admin])
async def revoke_invite(invite_id: PathId, scope: ScopeDep) -> Invitation:
    return await service.revoke_invite(scope, invite_id)


