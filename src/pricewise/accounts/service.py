"""Tenants, users, invitations and settings. Services flush; the request boundary commits."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import jwt
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.auth import make_api_key
from pricewise.accounts.models import ApiKey, Invitation, Tenant, User
from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.db import after_commit
from pricewise.core.errors import Conflict, Invalid, NotFound, invalid
from pricewise.core.ids import new_id
from pricewise.core.security import (
    decode_jwt,
    encode_jwt,
    hash_password,
    new_token,
    password_problem,
    sha256,
)
from pricewise.core.tenancy import Principal, Scope

log = logging.getLogger("pricewise.accounts")
LOCAL_EMAIL = "local@pricewise.localhost"


def _check_password(password: str, email: str) -> None:
    problem = password_problem(password, email)
    if problem:
        raise invalid("password", problem)


async def _email_taken(session: AsyncSession, email: str) -> bool:
    t = await session.execute(select(Tenant.id).where(Tenant.email == email))
    u = await session.execute(select(User.id).where(User.email == email))
    return t.first() is not None or u.first() is not None


async def register(session: AsyncSession, ctx: AppContext, *, name: str, email: str, password: str,
                   tier: str) -> tuple[Tenant, str]:
    email = email.lower()
    _check_password(password, email)
    if await _email_taken(session, email):
        raise Conflict("an account with this e-mail already exists",
                       fields=[{"field": "email", "message": "already registered"}])
    tenant = Tenant(id=new_id(), name=name, email=email, tier=tier, region_preferences=[], branding={})
    session.add(tenant)
    await session.flush()  # parent row first: no ORM relationship orders these inserts
    user = User(id=new_id(), tenant_id=tenant.id, email=email, name=name,
                password_hash=hash_password(password), role="admin")
    session.add(user)
    key, raw = make_api_key(tenant.id, "default", "admin")
    session.add(key)
    await session.flush()
    link = verification_link(ctx, user)
    after_commit(session, lambda: ctx.mailer.send(
        [email], "Verify your pricewise account",
        f"Welcome to pricewise, {name}.\n\nConfirm this address to activate your account:\n{link}\n\n"
        "The link is valid for 48 hours."))
    return tenant, raw


async def resend_verification(session: AsyncSession, ctx: AppContext, principal: Principal) -> bool:
    """Send the verification link again (after commit); False when already verified."""
    tenant = await get_tenant(session, principal)
    if tenant.email_verified_at is not None:
        return False
    user = (await session.execute(select(User).where(User.email == tenant.email))).scalar_one()
    link = verification_link(ctx, user)
    after_commit(session, lambda: ctx.mailer.send([tenant.email], "Verify your pricewise account",
                                                  f"Confirm this address:\n{link}\n"))
    return True


def verification_link(ctx: AppContext, user: User) -> str:
    token = encode_jwt(ctx.keys.jwt, {"typ": "verify", "sub": user.id, "tid": user.tenant_id},
                       timedelta(hours=48))
    return f"{ctx.settings.public_url.rstrip('/')}/auth/verify-email?token={token}"


async def verify_email(session: AsyncSession, ctx: AppContext, token: str) -> Tenant:
    try:
        claims = decode_jwt(ctx.keys.jwt, token, purpose="verify")
    except jwt.InvalidTokenError:
        raise invalid("token", "invalid or expired verification link") from None
    user = (await session.execute(select(User).where(User.id == claims["sub"]))).scalar_one_or_none()
    tenant = (await session.execute(
        select(Tenant).where(Tenant.id == claims.get("tid")))).scalar_one_or_none()
    if user is None or tenant is None:
        raise invalid("token", "invalid or expired verification link")
    now = utcnow()
    user.email_verified_at = user.email_verified_at or now
    if user.email == tenant.email:
        tenant.email_verified_at = tenant.email_verified_at or now
    return tenant


async def ensure_local_tenant(session: AsyncSession) -> Tenant:
    """The tenant that credential-less requests act in when the server runs in local mode."""
    tenant = (await session.execute(select(Tenant).where(Tenant.is_local.is_(True)))).scalars().first()
    if tenant is not None:
        if not tenant.is_active:
            tenant.is_active, tenant.deactivated_at, tenant.deleted_at = True, None, None
        return tenant
    session.info["actor"] = "system"
    tenant = Tenant(id=new_id(), name="Local workspace", email=LOCAL_EMAIL, tier="enterprise",
                    is_local=True, email_verified_at=utcnow(), region_preferences=[], branding={})
    session.add(tenant)
    await session.flush()
    return tenant


def tenant_out(t: Tenant) -> dict[str, Any]:
    return {"tenant_id": t.id, "name": t.name, "email": t.email, "tier": t.tier,
            "rate_limit_tier": t.rate_limit_tier, "region_preferences": t.region_preferences or [],
            "branding": t.branding or {}, "is_active": t.is_active,
            "email_verified": t.email_verified_at is not None,
            "openai_api_key": {"configured": t.openai_key_encrypted is not None,
                               "last4": t.openai_key_last4},
            "created_at": t.created_at, "updated_at": t.updated_at}


async def get_tenant(session: AsyncSession, principal: Principal) -> Tenant:
    t = (await session.execute(select(Tenant).where(Tenant.id == principal.tenant_id))).scalar_one_or_none()
    if t is None:
        raise NotFound("tenant not found")
    return t


async def validate_openai_key(ctx: AppContext, key: str) -> None:
    """A test call to the configured OpenAI-compatible endpoint; the key is never echoed."""
    url = ctx.settings.openai_base_url.rstrip("/") + "/models"
    try:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
            resp = await client.get(url, headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as exc:
        reason = f"could not reach the model provider ({type(exc).__name__})"
        raise invalid("openai_api_key", reason) from None
    if resp.status_code in (401, 403):
        raise invalid("openai_api_key", f"the provider rejected the key ({resp.status_code})")
    if resp.status_code >= 400:
        raise invalid("openai_api_key", f"the provider answered {resp.status_code}; key not saved")


async def update_settings(session: AsyncSession, ctx: AppContext, principal: Principal,
                          changes: dict[str, Any]) -> Tenant:
    tenant = await get_tenant(session, principal)
    if "openai_api_key" in changes:
        key = changes["openai_api_key"]
        if key is None or key == "":
            tenant.openai_key_encrypted, tenant.openai_key_last4 = None, None
        else:
            key = key.strip()
            if len(key) < 8:
                raise invalid("openai_api_key", "is too short to be a key")
            if not (key.isascii() and key.isprintable()) or " " in key:
                # It travels in an HTTP header: anything else could not even be sent to the provider.
                raise invalid("openai_api_key", "must be printable ASCII without spaces")
            await validate_openai_key(ctx, key)
            tenant.openai_key_encrypted = ctx.keys.box.encrypt(key, aad=tenant.id)
            tenant.openai_key_last4 = key[-4:]
    if changes.get("region_preferences") is not None:
        tenant.region_preferences = list(dict.fromkeys(changes["region_preferences"]))
    if changes.get("branding") is not None:
        tenant.branding = {**(tenant.branding or {}),
                           **{k: v for k, v in changes["branding"].items() if v is not None}}
    if changes.get("name"):
        tenant.name = changes["name"]
    tenant.updated_at = utcnow()
    return tenant


def tenant_openai_key(ctx: AppContext, tenant: Tenant) -> str | None:
    """Decrypted only here, at call time."""
    if tenant.openai_key_encrypted is None:
        return None
    return ctx.keys.box.decrypt(tenant.openai_key_encrypted, aad=tenant.id)


# --- users and invitations -------------------------------------------------------------

async def invite(session: AsyncSession, ctx: AppContext, scope: Scope, email: str, role: str) -> Invitation:
    email = email.lower()
    # Only this workspace is checked here (other tenants' users are invisible, by design): an
    # address registered elsewhere is refused when the invitation is accepted, telling no admin.
    if await scope.count(User, User.email == email):
        raise Conflict("a user with this e-mail is already in this workspace",
                       fields=[{"field": "email", "message": "already a member"}])
    raw = new_token()
    inv = scope.add(Invitation(email=email, role=role, token_hash=sha256(raw),
                               invited_by=scope.principal.user_id,
                               expires_at=utcnow() + timedelta(days=7)))
    await session.flush()
    link = f"{ctx.settings.public_url.rstrip('/')}/auth/accept-invite?token={raw}"
    after_commit(session, lambda: ctx.mailer.send(
        [email], "You are invited to pricewise",
        f"You were invited as {role}. Choose a password here (valid 7 days):\n{link}\n"))
    return inv


async def revoke_invite(scope: Scope, invite_id: str) -> Invitation:
    """A pending invitation's link stops working (kept, audited); an accepted one cannot be revoked."""
    inv = await scope.get(Invitation, invite_id, label="invitation")
    if inv.accepted_at is not None:
        raise Conflict("this invitation was already accepted: remove the user instead")
    if inv.revoked_at is None:
        inv.revoked_at = utcnow()
        await scope.session.flush()
    return inv


async def accept_invite(session: AsyncSession, token: str, password: str, name: str | None) -> User:
    inv = (await session.execute(
        select(Invitation).where(Invitation.token_hash == sha256(token)))).scalar_one_or_none()
    if inv is None or inv.accepted_at or inv.revoked_at or inv.expires_at <= utcnow():
        raise invalid("token", "invalid, used or expired invitation")
    tenant = (await session.execute(select(Tenant).where(Tenant.id == inv.tenant_id))).scalar_one()
    if not tenant.is_active:
        raise invalid("token", "the workspace of this invitation is deactivated")
    _check_password(password, inv.email)
    if await _email_taken(session, inv.email):
        raise Conflict("a user with this e-mail already exists")
    now = utcnow()
    inv.accepted_at = now
    user = User(id=new_id(), tenant_id=inv.tenant_id, email=inv.email, name=name or "",
                password_hash=hash_password(password), role=inv.role, email_verified_at=now)
    session.add(user)
    await session.flush()
    return user


async def patch_user(scope: Scope, user_id: str, changes: dict[str, Any]) -> User:
    user = await scope.get(User, user_id, label="user")
    if user.id == scope.principal.user_id and (changes.get("role") not in (None, "admin")
                                               or changes.get("is_active") is False):
        raise Invalid("you cannot demote or deactivate yourself",
                      fields=[{"field": "role", "message": "ask another admin"}])
    demoted = changes.get("role") not in (None, "admin") or changes.get("is_active") is False
    if user.role == "admin" and user.is_active and demoted:
        admins = await scope.count(User, User.role == "admin", User.is_active.is_(True))
        if admins <= 1:
            raise Invalid("a workspace keeps at least one active admin",
                          fields=[{"field": "role", "message": "this is the last active admin"}])
    if changes.get("role") is not None:
        user.role = changes["role"]
    if changes.get("is_active") is not None:
        user.is_active = changes["is_active"]
    return user


async def delete_user(scope: Scope, user_id: str) -> None:
    """Deactivate (same guards as a patch), then soft-delete."""
    scope.soft_delete(await patch_user(scope, user_id, {"is_active": False}))


def user_out(u: User) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "name": u.name, "role": u.role, "is_active": u.is_active,
            "email_verified": u.email_verified_at is not None, "created_at": u.created_at}


# --- API keys ------------------------------------------------------------------------

def key_out(k: ApiKey | Row[Any]) -> dict[str, Any]:
    return {"id": k.id, "name": k.name, "role": k.role, "masked_key": f"{k.prefix}…{k.last4}",
            "created_at": k.created_at, "expires_at": k.expires_at, "revoked_at": k.revoked_at,
            "last_used_at": k.last_used_at}


async def create_key(scope: Scope, name: str, role: str) -> tuple[ApiKey, str]:
    key, raw = make_api_key(scope.tenant_id, name, role)
    scope.add(key)
    await scope.session.flush()
    return key, raw


async def rotate_key(scope: Scope, key_id: str, overlap: timedelta) -> tuple[ApiKey, str]:
    """A new key now; the old one keeps working for the overlap window, then expires."""
    old = await scope.get(ApiKey, key_id, label="API key")
    if old.revoked_at is not None or old.kind != "secret":
        raise Conflict("this key is revoked and cannot be rotated")
    new, raw = make_api_key(scope.tenant_id, old.name, old.role)
    scope.add(new)
    expiry = utcnow() + overlap
    old.expires_at = min(old.expires_at, expiry) if old.expires_at else expiry
    old.rotated_to_id = new.id
    await scope.session.flush()
    return new, raw


async def revoke_key(scope: Scope, key_id: str) -> ApiKey:
    key = await scope.get(ApiKey, key_id, label="API key")
    key.revoked_at = key.revoked_at or utcnow()
    return key
