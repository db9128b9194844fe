"""Typed dependencies: who is calling (PrincipalDep), their scope (ScopeDep), role gates."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request

from pricewise.accounts.auth import authenticate
from pricewise.core.context import AppContext, CtxDep, SessionDep
from pricewise.core.errors import Forbidden, Unauthorized
from pricewise.core.tenancy import Principal, Scope, bind


def _credential(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("Authorization must be 'Bearer <token or API key>'")
        return value.strip()
    key = request.headers.get("x-api-key")
    return key.strip() if key else None


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "testserver"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _local_request_guard(request: Request, origins: list[str]) -> None:
    """Credential-less local mode trusts the machine, not the web: a page on another site may
    not write through the browser (no preflight for form posts), and a rebound DNS name may not
    reach the API at all."""
    host = (request.headers.get("host") or "").lower()
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    if name not in _LOOPBACK_HOSTS:
        raise Forbidden("local mode answers only requests addressed to localhost")
    origin = request.headers.get("origin")
    if request.method not in _SAFE_METHODS and origin and origin.rstrip("/") not in origins \
            and not _loopback_origin(origin):
        raise Forbidden(f"local mode refuses writes from the origin {origin}")


def _loopback_origin(origin: str) -> bool:
    """http(s)://localhost, 127.0.0.1 or [::1], any port: compared by host name, not prefix
    (http://localhost.example.com is not local)."""
    try:
        parsed = urlsplit(origin)
        host = parsed.hostname
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and host in ("localhost", "127.0.0.1", "::1")


async def get_principal(request: Request, session: SessionDep) -> Principal:
    ctx: AppContext = request.app.state.ctx  # not CtxDep: each dependency costs ~10 µs a request
    token = _credential(request)
    if token is not None:
        principal = await authenticate(session, ctx, token)
    elif ctx.auth_mode == "local" and ctx.local_principal is not None:
        _local_request_guard(request, ctx.settings.cors_origins)
        principal = ctx.local_principal
    else:
        raise Unauthorized("credentials required: Authorization: Bearer <token> or X-API-Key",
                           headers={"WWW-Authenticate": "Bearer"})
    await bind(session, principal)
    request.state.principal = principal
    decision = await ctx.limiter.tenant(principal.tenant_id)
    request.scope.setdefault("state", {})["rate_headers"] = decision.headers()
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_scope(principal: PrincipalDep, session: SessionDep) -> Scope:
    return Scope(session, principal)


ScopeDep = Annotated[Scope, Depends(get_scope)]


_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def _role(role: str) -> Any:
    async def check(principal: PrincipalDep, request: Request) -> Principal:
        principal.require(role, writes=request.method not in _SAFE)
        return principal
    return Depends(check)


# Route-level gates: `dependencies=[Writer]` on anything that changes data.
Writer = _role("analyst")
Admin = _role("admin")


async def ai_limit(request: Request, ctx: CtxDep, principal: PrincipalDep) -> None:
    decision = await ctx.limiter.ai(principal.tenant_id)
    request.scope.setdefault("state", {})["rate_headers"] = decision.headers()


async def estimate_limit(request: Request, ctx: CtxDep, principal: PrincipalDep) -> None:
    decision = await ctx.limiter.estimates(principal.tenant_id, principal.tier)
    request.scope.setdefault("state", {})["rate_headers"] = decision.headers()


AILimit = Depends(ai_limit)
EstimateLimit = Depends(estimate_limit)
AdminDep = Annotated[Principal, Admin]
