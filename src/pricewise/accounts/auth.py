"""Credentials: API keys, JWT access tokens and rotating refresh tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.models import ApiKey, RefreshToken, Tenant, User
from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.errors import Unauthorized
from pricewise.core.ids import new_id
from pricewise.core.security import (
    API_KEY_PREFIX,
    DUMMY_HASH,
    decode_jwt,
    encode_jwt,
    new_api_key,
    new_token,
    sha256,
    verify_password,
)
from pricewise.core.tenancy import APP_ROLE, Principal, mark_bound

BAD_CREDENTIALS = "invalid credentials"


# Every authenticated request runs one of these two lookups, so they select only the columns a
# Principal needs, as plain rows on the session's connection (same transaction): no ORM objects
# in the identity map, no JSON columns of the tenant decoded, and the statements are built once.
_TENANT_COLUMNS = (Tenant.id.label("tenant_id"), Tenant.is_active.label("tenant_active"),
                   Tenant.deleted_at.label("tenant_deleted_at"), Tenant.email_verified_at, Tenant.tier,
                   Tenant.openai_key_encrypted.is_not(None).label("has_llm_key"))
_API_KEY_LOOKUP = (
    select(ApiKey.id, ApiKey.role, ApiKey.revoked_at, ApiKey.expires_at, *_TENANT_COLUMNS)
    .join_from(ApiKey, Tenant, Tenant.id == ApiKey.tenant_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.kind == "secret")
)
_USER_LOOKUP = (
    select(User.id, User.role, User.is_active, User.deleted_at, *_TENANT_COLUMNS)
    .join_from(User, Tenant, Tenant.id == User.tenant_id)
    .where(User.id == bindparam("user_id"), Tenant.id == bindparam("tenant_id"))
)
# PostgreSQL: the same look-ups also run tenancy.bind's set_config calls for the row's tenant, so
# finding the caller and binding the transaction to its tenant take one round trip. The calls run
# only for a row that was found; a refused credential's request is rolled back.
_RLS_COLUMNS = (func.set_config("role", APP_ROLE, True).label("rls_role"),
                func.set_config("app.tenant_id", Tenant.id, True).label("rls_tenant"))
_API_KEY_LOOKUP_PG = _API_KEY_LOOKUP.add_columns(*_RLS_COLUMNS)
_USER_LOOKUP_PG = _USER_LOOKUP.add_columns(*_RLS_COLUMNS)


def _principal_from(row: Any, kind: str, *, user_id: str | None = None,
                    api_key_id: str | None = None) -> Principal:
    return Principal(tenant_id=row.tenant_id, role=row.role, kind=kind, user_id=user_id,
                     api_key_id=api_key_id, verified=row.email_verified_at is not None, tier=row.tier,
                     has_llm_key=bool(row.has_llm_key))


async def authenticate(session: AsyncSession, ctx: AppContext, token: str) -> Principal:
    """An API key (efofx_...) or a JWT access token; the same 401 for every failure.

    On SQLite a successful look-up is remembered for a few seconds (core.principals says how it
    is forgotten); on PostgreSQL it also binds the transaction to the tenant (tenancy.bind)."""
    cache = ctx.principals
    is_api_key = token.startswith(API_KEY_PREFIX)
    if is_api_key:
        key_hash = sha256(token)
        cache_key = "k:" + key_hash  # the key itself is never kept
    else:
        try:
            claims = decode_jwt(ctx.keys.jwt, token, purpose="access")
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid or expired token") from None
        cache_key = f"u:{claims['sub']}:{claims.get('tid')}"
    version = cache.version() if cache.enabled else None
    if version is not None:
        cached = cache.get(cache_key, version)
        if cached is not None:
            return cached
    conn = await session.connection()
    pg = conn.dialect.name == "postgresql"
    now = utcnow()
    if is_api_key:
        key = (await conn.execute(_API_KEY_LOOKUP_PG if pg else _API_KEY_LOOKUP,
                                  {"key_hash": key_hash})).first()
        if key is None:
            raise Unauthorized(BAD_CREDENTIALS)
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            raise Unauthorized("API key revoked or expired")
        if not key.tenant_active or key.tenant_deleted_at is not None:
            raise Unauthorized("tenant is deactivated")
        principal = _principal_from(key, "api_key", api_key_id=key.id)
        expires_at = key.expires_at
    else:
        user = (await conn.execute(_USER_LOOKUP_PG if pg else _USER_LOOKUP,
                                   {"user_id": claims["sub"], "tenant_id": claims.get("tid")})).first()
        if user is None:
            raise Unauthorized(BAD_CREDENTIALS)
        if not user.is_active or user.deleted_at is not None:
            raise Unauthorized("user is deactivated")
        if not user.tenant_active or user.tenant_deleted_at is not None:
            raise Unauthorized("tenant is deactivated")
        principal = _principal_from(user, "user", user_id=user.id)
        expires_at = None
    if pg:
        mark_bound(session, principal.tenant_id)
    if version is not None:
        cache.put(cache_key, principal, version, expires_at)
    return principal


def access_token(ctx: AppContext, user: User) -> str:
    return encode_jwt(ctx.keys.jwt, {"typ": "access", "sub": user.id, "tid": user.tenant_id,
                                     "role": user.role},
                      timedelta(minutes=ctx.settings.access_token_minutes))


async def issue_tokens(session: AsyncSession, ctx: AppContext, user: User,
                       family_id: str | None = None) -> dict[str, object]:
    raw = new_token()
    session.add(RefreshToken(tenant_id=user.tenant_id, user_id=user.id, family_id=family_id or new_id(),
                             token_hash=sha256(raw),
                             expires_at=utcnow() + timedelta(days=ctx.settings.refresh_token_days)))
    return {"access_token": access_token(ctx, user), "refresh_token": raw, "token_type": "bearer",
            "expires_in": ctx.settings.access_token_minutes * 60, "tenant_id": user.tenant_id,
            "user_id": user.id, "role": user.role}


async def login(session: AsyncSession, ctx: AppContext, email: str, password: str) -> dict[str, object]:
    row = (await session.execute(
        select(User, Tenant).join(Tenant, Tenant.id == User.tenant_id)
        .where(User.email == email.lower())
    )).first()
    if row is None:
        verify_password(password, DUMMY_HASH)  # same time as a real check
        raise Unauthorized(BAD_CREDENTIALS)
    user, tenant = row
    if not verify_password(password, user.password_hash):
        raise Unauthorized(BAD_CREDENTIALS)
    if not user.is_active or user.deleted_at is not None or not tenant.is_active:
        raise Unauthorized("account is deactivated")
    user.last_login_at = utcnow()
    return await issue_tokens(session, ctx, user)


async def refresh(session: AsyncSession, ctx: AppContext, raw: str) -> dict[str, object]:
    """Rotate: each refresh token works once. Reuse of a spent one revokes its whole family,
    since only a thief would replay it."""
    now = utcnow()
    tok = (await session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == sha256(raw)))).scalar_one_or_none()
    if tok is None or tok.expires_at <= now:
        raise Unauthorized("invalid or expired refresh token")
    if tok.used_at is not None or tok.revoked_at is not None:
        await session.execute(update(RefreshToken).where(RefreshToken.family_id == tok.family_id)
                              .values(revoked_at=now))
        session.info["commit_even_on_error"] = True
        raise Unauthorized("refresh token already used; the session is revoked")
    user = (await session.execute(select(User).where(User.id == tok.user_id))).scalar_one()
    tenant = (await session.execute(select(Tenant).where(Tenant.id == user.tenant_id))).scalar_one()
    if not user.is_active or user.deleted_at is not None or not tenant.is_active:
        raise Unauthorized("account is deactivated")
    tok.used_at = now
    return await issue_tokens(session, ctx, user, family_id=tok.family_id)


async def logout(session: AsyncSession, raw: str) -> None:
    tok = (await session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == sha256(raw)))).scalar_one_or_none()
    if tok is not None:
        await session.execute(update(RefreshToken).where(RefreshToken.family_id == tok.family_id)
                              .values(revoked_at=utcnow()))


def make_api_key(tenant_id: str, name: str, role: str, kind: str = "secret",
                 prefix: str = API_KEY_PREFIX) -> tuple[ApiKey, str]:
    raw = new_api_key(prefix)
    return ApiKey(id=new_id(), tenant_id=tenant_id, name=name, role=role, kind=kind,
                  key_hash=sha256(raw), prefix=prefix, last4=raw[-4:]), raw
