"""Publishable keys, allowed origins and branding, widget sessions and what a session may do.

A publishable key (efofx_pk_...) is public by design: it sits in the tenant's web pages. It can
only open a widget session, only for a page on one of the tenant's allowed origins; the session
token it yields can only chat, estimate and leave a contact, and sees nothing but what it
created itself. A secret key (efofx_...) is refused here and never leaves the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.auth import make_api_key
from pricewise.accounts.models import ApiKey, Tenant
from pricewise.accounts.service import key_out
from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from pricewise.core.schemas import _iso_z
from pricewise.core.security import API_KEY_PREFIX, new_token, sha256
from pricewise.core.tenancy import Prepared, Scope
from pricewise.estimation import feedback_service
from pricewise.estimation import service as estimates
from pricewise.estimation.chat_service import by_session as conversation
from pricewise.estimation.models import Estimation
from pricewise.widget.models import WidgetSession
from pricewise.widget.schemas import normalize_origin

PK_PREFIX = "efofx_pk_"
TOKEN_PREFIX = "wst_"  # noqa: S105  (a prefix, not a secret)
DEFAULT_COLOR = "#1F6FEB"
DEFAULT_BUTTON = "Get your estimate"
BADGE_TIERS = frozenset({"trial"})  # white-label from pro up: no pricewise badge


# --- keys --------------------------------------------------------------------------------------

LIST_KEYS = Prepared(ApiKey, ApiKey.id, ApiKey.name, ApiKey.role, ApiKey.prefix, ApiKey.last4,
                     ApiKey.created_at, ApiKey.expires_at, ApiKey.revoked_at, ApiKey.last_used_at,
                     where=[ApiKey.kind == "publishable"])


def widget_key_out(k: ApiKey | Row[Any]) -> dict[str, Any]:
    out = key_out(k)
    out.pop("role", None)  # a publishable key has no role: it is not a credential of the API
    return {k: _iso_z(v) if k.endswith("_at") else v for k, v in out.items()}


async def create_key(scope: Scope, name: str) -> tuple[ApiKey, str]:
    # role "viewer": never used (auth.py accepts only kind "secret"), the lowest anyway.
    key, raw = make_api_key(scope.tenant_id, name, "viewer", kind="publishable", prefix=PK_PREFIX)
    scope.add(key)
    await scope.session.flush()
    return key, raw


async def _own_key(scope: Scope, key_id: str) -> ApiKey:
    key = await scope.get(ApiKey, key_id, label="widget key")
    if key.kind != "publishable":
        raise NotFound(f"widget key {key_id} not found")
    return key


async def rotate_key(scope: Scope, key_id: str, overlap: timedelta) -> tuple[ApiKey, str]:
    """A new key now; the old one keeps opening sessions for the overlap, while pages are updated."""
    old = await _own_key(scope, key_id)
    if old.revoked_at is not None:
        raise Conflict("this widget key is revoked and cannot be rotated")
    new, raw = await create_key(scope, old.name)
    expiry = utcnow() + overlap
    old.expires_at = min(old.expires_at, expiry) if old.expires_at else expiry
    old.rotated_to_id = new.id
    await scope.session.flush()
    return new, raw


async def revoke_key(scope: Scope, key_id: str) -> ApiKey:
    key = await _own_key(scope, key_id)
    key.revoked_at = key.revoked_at or utcnow()
    return key


# --- origins and branding ----------------------------------------------------------------------

def allowed_origins(settings: dict[str, Any] | None) -> list[str]:
    return list(((settings or {}).get("widget") or {}).get("allowed_origins") or [])


def branding_of(branding: dict[str, Any] | None, tier: str) -> dict[str, Any]:
    b = branding or {}
    return {"logo_url": b.get("logo_url") or None, "primary_color": b.get("primary_color") or DEFAULT_COLOR,
            "button_text": b.get("widget_button_text") or DEFAULT_BUTTON, "badge": tier in BADGE_TIERS}


async def tenant_of(scope: Scope) -> Tenant:
    t = (await scope.session.execute(select(Tenant).where(Tenant.id == scope.tenant_id))).scalar_one()
    return t


def settings_out(t: Tenant) -> dict[str, Any]:
    return {"allowed_origins": allowed_origins(t.settings), "branding": branding_of(t.branding, t.tier)}


async def update_settings(scope: Scope, changes: dict[str, Any]) -> Tenant:
    t = await tenant_of(scope)
    if changes.get("allowed_origins") is not None:
        settings = dict(t.settings or {})
        settings["widget"] = {**(settings.get("widget") or {}), "allowed_origins": changes["allowed_origins"]}
        t.settings = settings
    if changes.get("branding") is not None:
        b = dict(t.branding or {})
        names = {"logo_url": "logo_url", "primary_color": "primary_color", "button_text": "widget_button_text"}
        for field, value in changes["branding"].items():
            if value is not None:
                b[names[field]] = value or None  # "" clears
        t.branding = b
    t.updated_at = utcnow()
    await scope.session.flush()
    return t


# --- sessions ----------------------------------------------------------------------------------

_KEY_LOOKUP = (
    select(ApiKey.id, ApiKey.revoked_at, ApiKey.expires_at, Tenant.id.label("tenant_id"), Tenant.tier,
           Tenant.is_active, Tenant.deleted_at, Tenant.branding, Tenant.settings, Tenant.name)
    .join_from(ApiKey, Tenant, Tenant.id == ApiKey.tenant_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.kind == "publishable")
)


async def key_tenant(session: AsyncSession, raw_key: str | None) -> Row[Any]:
    """The tenant behind a publishable key, with every refusal a clear 4xx that never echoes the key."""
    if not raw_key:
        raise Unauthorized("api_key is required: the tenant's publishable widget key (efofx_pk_...)",
                           code="widget_key_missing")
    if not raw_key.startswith(PK_PREFIX):
        if raw_key.startswith(API_KEY_PREFIX):
            # Said plainly, since a secret key in a web page is a leak its owner must fix (rotate it).
            raise Invalid("a secret API key must never be put in a web page; the widget takes the "
                          "publishable widget key (efofx_pk_...). Rotate the exposed secret key.",
                          code="secret_key_refused")
        raise Unauthorized("unknown widget key", code="widget_key_unknown")
    row = (await session.execute(_KEY_LOOKUP, {"key_hash": sha256(raw_key)})).first()
    if row is None:
        raise Unauthorized("unknown widget key", code="widget_key_unknown")
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise Unauthorized("this widget key is revoked or expired", code="widget_key_revoked")
    if not row.is_active or row.deleted_at is not None:
        raise Forbidden("this widget's account is deactivated", code="tenant_deactivated")
    return row


def check_origin(origin: str | None, allowed: Sequence[str]) -> str:
    """The page's origin, if the tenant allows it; browsers always send Origin on these calls."""
    if not origin:
        raise Forbidden("the widget answers only web pages on the site's allowed origins (no Origin header)",
                        code="origin_missing")
    try:
        normal = normalize_origin(origin)
    except ValueError:
        raise Forbidden("the Origin header is not a valid origin", code="origin_not_allowed") from None
    if normal not in allowed:
        raise Forbidden(f"the origin {normal} is not allowed for this widget; add it to the widget's "
                        "allowed origins", code="origin_not_allowed")
    return normal


async def open_session(session: AsyncSession, ctx: AppContext, key: Row[Any], origin: str) -> dict[str, Any]:
    raw = TOKEN_PREFIX + new_token()
    branding = branding_of(key.branding, key.tier)
    expires = utcnow() + timedelta(hours=ctx.settings.widget_session_hours)
    session.add(WidgetSession(tenant_id=key.tenant_id, token_hash=sha256(raw), api_key_id=key.id, origin=origin,
                              widget_config_snapshot={**branding, "name": key.name}, expires_at=expires))
    return {"branding": branding, "name": key.name, "session_token": raw, "expires_at": _iso_z(expires)}


_SESSION_LOOKUP = (
    select(WidgetSession, Tenant.tier, Tenant.is_active, Tenant.deleted_at, Tenant.settings,
           Tenant.email_verified_at)
    .join_from(WidgetSession, Tenant, Tenant.id == WidgetSession.tenant_id)
    .where(WidgetSession.token_hash == bindparam("token_hash"))
)


async def find_session(session: AsyncSession, token: str) -> Row[Any]:
    row = (await session.execute(_SESSION_LOOKUP, {"token_hash": sha256(token)})).first()
    if row is None:
        raise Unauthorized("unknown widget session; reload the widget", code="widget_session_unknown")
    return row


def check_session(row: Row[Any]) -> None:
    if not row.is_active or row.deleted_at is not None:
        raise Forbidden("this widget's account is deactivated", code="tenant_deactivated")
    if row.WidgetSession.expires_at <= utcnow():
        raise Unauthorized("this widget session has expired; reload the widget", code="widget_session_expired")


# --- what a session does -----------------------------------------------------------------------

async def estimate(ctx: AppContext, scope: Scope, ws: WidgetSession, data: dict[str, Any]) -> Estimation:
    chat = await conversation(scope, ws.chat_session_id) if ws.chat_session_id else None
    row = await estimates.start(ctx, scope, data, chat=chat, widget=True)
    ws.estimation_id = row.id
    if data.get("customer_email"):
        ws.customer_info = {"email": data["customer_email"], "name": data.get("customer_name"),
                            "phone": data.get("customer_phone"), "consent": bool(data.get("feedback_consent")),
                            "captured_at": _iso_z(utcnow())}
    await scope.session.flush()
    return row


async def own_estimate(scope: Scope, ws: WidgetSession) -> Estimation:
    if ws.estimation_id is None:
        raise NotFound("this widget session has no estimate yet")
    return await scope.get(Estimation, ws.estimation_id, label="estimate")


async def contact(ctx: AppContext, scope: Scope, ws: WidgetSession, data: dict[str, Any]) -> Estimation:
    """The customer's contact on the session's estimate: it becomes a lead (leads_service)."""
    if ws.estimation_id is None:
        raise Conflict("ask for the estimate first; the contact is attached to it", code="no_estimate")
    est = await own_estimate(scope, ws)
    est.customer_email = data["email"]
    est.customer_name = data.get("name") or est.customer_name
    est.customer_phone = data.get("phone") or est.customer_phone
    consented = bool(data.get("consent"))
    if consented and not est.feedback_consent and est.feedback_requested_at is None:
        feedback_service.schedule_request(ctx, scope.session, scope.tenant_id, est.id)
    est.feedback_consent = est.feedback_consent or consented
    ws.customer_info = {"email": data["email"], "name": data.get("name"), "phone": data.get("phone"),
                        "consent": consented, "captured_at": _iso_z(utcnow())}
    await scope.session.flush()
    return est
