"""Dual authentication of MCP calls: an HMAC over the request plus a short-lived JWT.

The API (or any holder of the app's secret) signs every HTTP request to /mcp with
  X-MCP-Timestamp  unix seconds
  X-MCP-Nonce      random, used once
  X-MCP-Signature  hex HMAC-SHA256 over method, path(+query), timestamp, nonce, sha256(body)
and sends `Authorization: Bearer <JWT>` (audience "mcp", claim `tenant`, lifetime <= 60 s).
The HMAC proves the request itself was not altered or replayed; the JWT says for which tenant it
acts and expires quickly. Both keys are derived for MCP only, so neither a user's access token
nor another HMAC of the app verifies here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from redis.asyncio import Redis
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pricewise.accounts.models import Tenant
from pricewise.core.crypto import derive
from pricewise.core.db import Database
from pricewise.core.errors import TooMany
from pricewise.core.keys import Keys
from pricewise.core.security import decode_jwt, encode_jwt, hmac_sign, hmac_verify

AUDIENCE = "mcp"
TOKEN_TYPE = "mcp"  # noqa: S105 (a JWT "typ", not a secret)
MAX_TOKEN_SECONDS = 60
TS_HEADER, NONCE_HEADER, SIG_HEADER = "x-mcp-timestamp", "x-mcp-nonce", "x-mcp-signature"
TENANT_KEY = "pricewise.mcp.tenant"  # where a verified request carries its tenant id in the ASGI scope


@dataclass(frozen=True)
class McpKeys:
    hmac: bytes
    jwt: bytes

    @classmethod
    def of(cls, keys: Keys) -> McpKeys:
        # Derived again from the app's own keys: same secret, same keys, on every machine.
        return cls(hmac=derive(keys.hmac, "mcp-hmac"), jwt=derive(keys.jwt, "mcp-jwt"))


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def signature(key: bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac_sign(key, method.upper(), path, timestamp, nonce, body_hash(body))


def sign_headers(keys: McpKeys, tenant_id: str, method: str, path: str, body: bytes,
                 *, ttl_seconds: int = 30, now: float | None = None) -> dict[str, str]:
    """The headers one request needs: a fresh nonce, the HMAC and a JWT for the tenant."""
    ts = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    token = encode_jwt(keys.jwt, {"sub": "pricewise-api", "typ": TOKEN_TYPE, "aud": AUDIENCE,
                                  "tenant": tenant_id}, timedelta(seconds=ttl_seconds))
    return {TS_HEADER: ts, NONCE_HEADER: nonce,
            SIG_HEADER: signature(keys.hmac, method, path, ts, nonce, body),
            "authorization": f"Bearer {token}"}


class NonceStore:
    """Nonces seen within the replay window: Redis (shared by every process) when configured,
    else this process's memory. `claim` is true only the first time a nonce is seen."""

    def __init__(self, redis_url: str | None, window_seconds: int) -> None:
        self.window = window_seconds
        self._redis: Redis | None = Redis.from_url(redis_url) if redis_url else None
        self._seen: dict[str, float] = {}

    async def claim(self, nonce: str) -> bool:
        if self._redis is not None:
            return bool(await self._redis.set(f"pricewise:mcp:nonce:{nonce}", b"1", nx=True, ex=self.window))
        now = time.monotonic()
        if len(self._seen) > 1024:  # forget what left the window, now and then
            self._seen = {n: t for n, t in self._seen.items() if t > now}
        expires = self._seen.get(nonce)
        if expires is not None and expires > now:
            return False
        self._seen[nonce] = now + self.window
        return True

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


class Refused(Exception):
    """A request that failed one of the checks; its message says which."""


TenantCheck = Callable[[str], Awaitable[bool]]
RateCheck = Callable[[str], Awaitable[object]]  # raises TooMany past the tenant's limit


def active_tenant_check(db: Database) -> TenantCheck:
    async def check(tenant_id: str) -> bool:
        async with db.session() as session:
            row = (await session.execute(select(Tenant.is_active, Tenant.deactivated_at, Tenant.deleted_at).where(
                Tenant.id == tenant_id))).one_or_none()
        return row is not None and bool(row[0]) and row[1] is None and row[2] is None

    return check


class DualAuth:
    """ASGI middleware in front of the SDK's transport: nothing reaches it unverified."""

    def __init__(self, app: ASGIApp, keys: McpKeys, nonces: NonceStore, tenant_ok: TenantCheck,
                 *, skew_seconds: int, max_body_bytes: int, limit: RateCheck | None = None) -> None:
        self.app, self.keys, self.nonces, self.tenant_ok = app, keys, nonces, tenant_ok
        self.skew = skew_seconds
        self.max_body = max_body_bytes
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, more = await self._read(receive)
        if more:
            await _refuse(send, 413, "request body too large")
            return
        try:
            scope[TENANT_KEY] = tenant = await self.verify(scope, body)
        except Refused as exc:
            await _refuse(send, 401, str(exc))
            return
        if self.limit is not None:  # the tenant's requests-per-minute budget, as on the HTTP API
            try:
                await self.limit(tenant)
            except TooMany as exc:
                await _refuse(send, 429, exc.message, exc.headers or {})
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # afterwards: the disconnect, when it comes

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    async def verify(self, scope: Scope, body: bytes) -> str:
        """The tenant the request acts for, or Refused with the reason. Cheap checks first; the
        nonce is claimed only once the signature is known good, so forged requests burn none."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ts, nonce, sig = headers.get(TS_HEADER), headers.get(NONCE_HEADER), headers.get(SIG_HEADER)
        if not ts or not nonce or not sig:
            raise Refused(f"missing signature headers ({TS_HEADER}, {NONCE_HEADER}, {SIG_HEADER} are required)")
        if not ts.isdigit():
            raise Refused(f"{TS_HEADER} must be unix seconds")
        if abs(time.time() - int(ts)) > self.skew:
            raise Refused(f"timestamp outside the {self.skew} s clock skew window")
        if not 16 <= len(nonce) <= 128:
            raise Refused("nonce must be 16 to 128 characters")
        path = scope.get("root_path", "") + scope["path"]
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        if not hmac_verify(self.keys.hmac, sig, scope["method"].upper(), path, ts, nonce, body_hash(body)):
            raise Refused("bad request signature")
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise Refused("missing bearer token")
        claims = self._claims(auth[7:].strip())
        if not await self.nonces.claim(nonce):
            raise Refused("nonce already used (replayed request)")
        tenant = claims.get("tenant")
        if not isinstance(tenant, str) or not tenant or not await self.tenant_ok(tenant):
            raise Refused("unknown or inactive tenant")
        return tenant

    def _claims(self, token: str) -> dict[str, Any]:
        try:
            claims = decode_jwt(self.keys.jwt, token, purpose=TOKEN_TYPE, audience=AUDIENCE)
        except jwt.ExpiredSignatureError:
            raise Refused("token expired") from None
        except jwt.InvalidAudienceError:
            raise Refused(f"token audience must be {AUDIENCE!r}") from None
        except jwt.InvalidTokenError as exc:
            raise Refused(f"invalid token: {exc}") from None
        lifetime = int(claims["exp"]) - int(claims["iat"])
        if lifetime > MAX_TOKEN_SECONDS:
            # A valid but long-lived token is refused: a leaked one must be worthless within a minute.
            raise Refused(f"token lifetime {lifetime} s exceeds {MAX_TOKEN_SECONDS} s")
        return claims


_CODES = {401: "unauthorized", 413: "payload_too_large", 429: "rate_limited"}


async def _refuse(send: Send, status: int, reason: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": {"code": _CODES[status], "message": reason, "fields": []}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mcp"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
