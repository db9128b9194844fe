"""/ws: the caller's tenant's live events over a WebSocket (the spec's "WebSocket Events").

A socket belongs to one principal: the local one in local mode, otherwise the owner of a token
given in the URL (?token=), a header, or a first {"type": "auth"} message. It receives the
tenant's events from the event bus (Redis pub/sub across processes when configured):

- orchestration_* events only for the runs it subscribed to (subscribe_orchestration), or for
  the products it subscribed to (subscribe_product_updates);
- every other event (revenue_data_updated, ai_analysis_completed, alert_created, ...) always,
  except that a socket with product subscriptions skips events about its other products.

Each socket has a bounded queue: a client that does not read loses its oldest events (and is
told how many in a {"type": "dropped"} frame) instead of holding anything up. docs/architecture.md
("Live updates") is the client's reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.types import Message
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected

from pricewise.accounts.auth import authenticate
from pricewise.catalog.models import Product
from pricewise.core.base import Base
from pricewise.core.context import AppContext
from pricewise.core.errors import AppError, Invalid, NotFound, Unauthorized, invalid
from pricewise.core.events import Event
from pricewise.core.ids import is_id
from pricewise.core.tenancy import Principal, Scope, bind
from pricewise.orchestration.models import OrchestrationRun

log = logging.getLogger("pricewise.ws")
router = APIRouter()

MAX_MESSAGE_BYTES = 64 * 1024
MAX_SUBSCRIPTIONS = 100  # per socket and kind: every event is checked against them
AUTH_SECONDS = 5.0  # to send the auth message (or the heartbeat period, if shorter)
IDLE_HEARTBEATS = 3  # a socket silent for this many heartbeats is closed
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN, CLOSE_IDLE, CLOSE_RATE_LIMITED = 4401, 4403, 4408, 4429
_INVOCATION_ID = re.compile(r"^[A-Za-z0-9-]{1,36}$")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_LOCAL_HOSTS = _LOOPBACK | {"testserver"}
_GONE = (WebSocketDisconnect, WebSocketDisconnected, OSError)  # the peer has left


class Refused(Exception):
    """End the connection with this close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _error(message: str, field: str | None = None, request: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"message": message}
    if field:
        data["field"] = field
    if request:
        data["request"] = request
    return {"type": "error", "data": data}


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    # A client that stopped reading cannot take a close frame either: give up after a second.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code, reason.encode()[:123].decode(errors="ignore")), 1.0)


def _check_origin(ws: WebSocket, ctx: AppContext) -> None:
    """Browsers send Origin and let any page open a socket anywhere: only the configured front
    ends (and, in local mode, pages served from this machine) may connect."""
    origin = ws.headers.get("origin")
    if origin is None:
        return
    if origin.rstrip("/") in ctx.settings.cors_origins:
        return
    parts = urlsplit(origin)
    if ctx.auth_mode == "local" and parts.scheme in ("http", "https") and parts.hostname in _LOOPBACK:
        return
    raise Refused(CLOSE_FORBIDDEN, f"origin {origin} is not allowed (PRICEWISE_WS_CORS_ORIGINS)")


def _handshake_token(ws: WebSocket) -> str | None:
    token = ws.query_params.get("token")
    if token:
        return token.strip()
    auth = ws.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Refused(CLOSE_UNAUTHORIZED, "Authorization must be 'Bearer <token or API key>'")
        return value.strip()
    key = ws.headers.get("x-api-key")
    return key.strip() if key else None


async def _authenticate(ctx: AppContext, token: str) -> Principal:
    async with ctx.db.session() as session:
        try:
            return await authenticate(session, ctx, token)
        except Unauthorized as exc:
            raise Refused(CLOSE_UNAUTHORIZED, exc.message) from None


def _parse(message: Message) -> tuple[str, dict[str, Any]]:
    """A client frame -> (type, data); Invalid for anything else. {"type": t, ...fields} without a
    "data" object is read as if its fields were the data."""
    text = message.get("text")
    if text is None:
        raise invalid("frame", "send JSON text frames; binary frames are not understood")
    if len(text) > MAX_MESSAGE_BYTES or len(text.encode()) > MAX_MESSAGE_BYTES:
        raise invalid("frame", f"message over {MAX_MESSAGE_BYTES // 1024} KB")
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise invalid("frame", "invalid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise invalid("type", 'a message is a JSON object {"type": ..., "data": {...}}')
    data = body.get("data")
    if data is None:
        data = {k: v for k, v in body.items() if k != "type"}
    if not isinstance(data, dict):
        raise invalid("data", "must be an object")
    return body["type"], data


async def _first_message_token(ws: WebSocket, ctx: AppContext) -> str:
    wait = min(AUTH_SECONDS, ctx.settings.ws_heartbeat_seconds)
    hint = 'authenticate with ?token=, an Authorization header or {"type": "auth", "data": {"token": ...}}'
    try:
        message = await asyncio.wait_for(ws.receive(), wait)
    except TimeoutError:
        raise Refused(CLOSE_UNAUTHORIZED, f"no credentials within {wait:g} s: {hint}") from None
    if message["type"] == "websocket.disconnect":
        raise Refused(CLOSE_UNAUTHORIZED, "disconnected")
    try:
        kind, data = _parse(message)
    except Invalid:
        kind, data = "", {}
    token = data.get("token")
    if kind != "auth" or not isinstance(token, str) or not token.strip():
        raise Refused(CLOSE_UNAUTHORIZED, f"credentials required first: {hint}")
    return token.strip()


async def _open(ws: WebSocket, ctx: AppContext) -> Connection:
    _check_origin(ws, ctx)
    token = _handshake_token(ws)
    if token is None and ctx.auth_mode == "local" and ctx.local_principal is not None:
        host = urlsplit("//" + (ws.headers.get("host") or "")).hostname
        if host not in _LOCAL_HOSTS:  # a rebound DNS name must not reach the local workspace
            raise Refused(CLOSE_FORBIDDEN, "local mode answers only connections addressed to localhost")
        principal: Principal = ctx.local_principal
    else:
        if token is None:
            token = await _first_message_token(ws, ctx)
        principal = await _authenticate(ctx, token)
    try:
        await ctx.limiter.tenant(principal.tenant_id)
    except AppError as exc:
        raise Refused(CLOSE_RATE_LIMITED, exc.message) from None
    return Connection(ws, ctx, principal, token)


@router.websocket("/ws")
async def live_updates(websocket: WebSocket) -> None:
    ctx: AppContext = websocket.app.state.ctx
    await websocket.accept()  # first, so that a refusal can say why (close code and reason)
    try:
        conn = await _open(websocket, ctx)
    except Refused as exc:
        await _close(websocket, exc.code, exc.reason)
        return
    await conn.run()


class Connection:
    def __init__(self, ws: WebSocket, ctx: AppContext, principal: Principal, token: str | None) -> None:
        self.ws = ws
        self.ctx = ctx
        self.principal = principal
        self.token = token  # checked again at every heartbeat: revoked or expired ends the socket
        self.invocations: set[str] = set()
        self.products: set[str] = set()
        self.heartbeat = ctx.settings.ws_heartbeat_seconds
        self.idle_seconds = IDLE_HEARTBEATS * self.heartbeat
        self.loop = asyncio.get_running_loop()
        self.last_seen = self.loop.time()
        self.send_lock = asyncio.Lock()
        self.reported_drops = 0
        self.closing: tuple[int, str] | None = None
        self.sub = ctx.events.subscribe(principal.tenant_id, ctx.settings.ws_queue_size, self.wants)
        self.handlers: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]] = {
            "subscribe_orchestration": self.subscribe_orchestration,
            "unsubscribe_orchestration": self.unsubscribe_orchestration,
            "subscribe_product_updates": self.subscribe_product,
            "unsubscribe_product_updates": self.unsubscribe_product,
            "ping": self.ping, "pong": self.pong, "auth": self.auth,
        }

    def wants(self, event: Event) -> bool:
        """Runs on the bus's delivery path: must not raise whatever the event carries."""
        if event.tenant_id != self.principal.tenant_id:
            return False
        data = event.data if isinstance(event.data, dict) else {}
        product = data.get("product_id")
        product = product if isinstance(product, str) else None
        if event.type.startswith("orchestration_"):
            invocation = data.get("invocation_id")
            return ((isinstance(invocation, str) and invocation in self.invocations)
                    or (product is not None and product in self.products))
        return not self.products or product is None or product in self.products

    async def send(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, default=str)
        async with self.send_lock:  # one frame at a time; a stuck client times out
            await asyncio.wait_for(self.ws.send_text(text), self.idle_seconds)

    async def run(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            await self.send({"type": "connected", "data": {
                "tenant_id": self.principal.tenant_id, "role": self.principal.role,
                "heartbeat_seconds": self.heartbeat, "max_message_bytes": MAX_MESSAGE_BYTES}})
            tasks = [asyncio.create_task(self._guarded(p)) for p in (self._read, self._pump, self._beat)]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except (TimeoutError, *_GONE):
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.sub.close()
        if self.closing is not None:
            await _close(self.ws, *self.closing)

    async def _guarded(self, part: Callable[[], Awaitable[None]]) -> None:
        try:
            await part()
        except TimeoutError:
            self.closing = (CLOSE_IDLE, f"not reading: a frame waited over {self.idle_seconds:g} s")
        except _GONE:
            pass
        except Exception:
            log.exception("live updates socket of tenant %s failed", self.principal.tenant_id)
            self.closing = (1011, "internal error")

    async def _read(self) -> None:
        while self.closing is None:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            self.last_seen = self.loop.time()
            reply = await self._answer(message)
            if reply is not None:
                await self.send(reply)

    async def _answer(self, message: Message) -> dict[str, Any] | None:
        kind: str | None = None
        try:
            kind, data = _parse(message)
            kind = kind[:60]  # echoed back and logged: a bounded piece of what the client sent
            handler = self.handlers.get(kind)
            if handler is None:
                raise invalid("type", f"unknown message type {kind!r}; expected one of "
                                      + ", ".join(sorted(self.handlers)))
            return await handler(data)
        except AppError as exc:  # bad input, not found, rate limited: say so, keep the socket
            field = exc.fields[0]["field"] if exc.fields else None
            return _error(exc.message, field, kind)
        except Exception:  # the database hiccuped: this message failed, the socket lives on
            log.exception("live updates: %s of tenant %s failed", kind, self.principal.tenant_id)
            return _error("internal error: the message could not be handled; retry", None, kind)

    async def _pump(self) -> None:
        while True:
            event = await self.sub.get()
            if event is None:
                continue
            dropped = self.sub.dropped - self.reported_drops
            if dropped:  # said before the first event after the gap
                self.reported_drops += dropped
                await self.send({"type": "dropped", "data": {"count": dropped}})
            if self.wants(event):  # subscriptions may have changed since it was queued
                await self.send(event.frame())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            if self.loop.time() - self.last_seen > self.idle_seconds:
                self.closing = (CLOSE_IDLE, f"idle: no message or pong for {self.idle_seconds:g} s")
                return
            if self.token is not None:
                try:
                    self.principal = await _authenticate(self.ctx, self.token)
                except Refused as exc:
                    self.closing = (exc.code, exc.reason)
                    return
                except Exception as exc:  # database unreachable: keep the socket, check next time
                    log.warning("live updates: credential re-check failed (%s)", type(exc).__name__)
            await self.send({"type": "ping"})

    async def _find(self, model: type[Base], *where: Any) -> Any:
        async with self.ctx.db.session() as session:
            await bind(session, self.principal)
            scope = Scope(session, self.principal)
            return (await session.execute(scope.select(model).where(*where).limit(1))).scalar_one_or_none()

    async def subscribe_orchestration(self, data: dict[str, Any]) -> dict[str, Any]:
        invocation = data.get("invocation_id")
        if not isinstance(invocation, str) or not _INVOCATION_ID.match(invocation):
            raise invalid("invocation_id", "must be the invocation_id of an orchestration run")
        if invocation not in self.invocations and len(self.invocations) >= MAX_SUBSCRIPTIONS:
            raise invalid("invocation_id", f"at most {MAX_SUBSCRIPTIONS} run subscriptions per connection")
        await self.ctx.limiter.tenant(self.principal.tenant_id)
        run = await self._find(OrchestrationRun, OrchestrationRun.invocation_id == invocation)
        if run is None:
            raise NotFound(f"orchestration run {invocation} not found")
        self.invocations.add(invocation)
        # The run's state now: whatever happened before this subscription is not replayed.
        return {"type": "subscribed", "data": {
            "invocation_id": invocation, "run_id": run.id, "product_id": run.product_id,
            "status": run.status, "progress": {"completed_steps": run.completed_steps,
                                               "total_steps": run.total_steps,
                                               "current_step": run.current_step}}}

    async def unsubscribe_orchestration(self, data: dict[str, Any]) -> dict[str, Any]:
        invocation = data.get("invocation_id")
        if not isinstance(invocation, str):
            raise invalid("invocation_id", "must be a string")
        self.invocations.discard(invocation)
        return {"type": "unsubscribed", "data": {"invocation_id": invocation}}

    async def subscribe_product(self, data: dict[str, Any]) -> dict[str, Any]:
        product_id = data.get("product_id")
        if not isinstance(product_id, str) or not is_id(product_id):
            raise invalid("product_id", "must be a product id (24 hexadecimal characters)")
        if product_id not in self.products and len(self.products) >= MAX_SUBSCRIPTIONS:
            raise invalid("product_id", f"at most {MAX_SUBSCRIPTIONS} product subscriptions per connection")
        await self.ctx.limiter.tenant(self.principal.tenant_id)
        if await self._find(Product, Product.id == product_id) is None:
            raise NotFound(f"product {product_id} not found")
        self.products.add(product_id)
        return {"type": "subscribed", "data": {"product_id": product_id}}

    async def unsubscribe_product(self, data: dict[str, Any]) -> dict[str, Any]:
        product_id = data.get("product_id")
        if not isinstance(product_id, str):
            raise invalid("product_id", "must be a string")
        self.products.discard(product_id)
        return {"type": "unsubscribed", "data": {"product_id": product_id}}

    async def ping(self, _data: dict[str, Any]) -> dict[str, Any]:
        return {"type": "pong"}

    async def pong(self, _data: dict[str, Any]) -> None:
        return None

    async def auth(self, _data: dict[str, Any]) -> dict[str, Any]:
        if self.token is None:
            raise invalid("type", "connected as the local workspace; to act as another account, "
                                  "connect with ?token= or an Authorization header")
        raise invalid("type", "already authenticated")
