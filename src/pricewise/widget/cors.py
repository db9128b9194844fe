"""CORS for the widget-capable routes, per tenant: a page may call them only from an origin its
tenant allowed. Sits outside the app's global CORSMiddleware (which knows only the console's
fixed origins) and leaves every other route to it.

A preflight carries no credentials, so the widget puts its publishable key in the query string
(`?api_key=efofx_pk_...`, public by design): the preflight is granted only to an origin that
key's tenant allowed. The actual response is made readable (Access-Control-Allow-Origin) only
when the route itself checked the origin (widget.access.grant_origin): never by default.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pricewise.core.context import AppContext
from pricewise.core.errors import AppError
from pricewise.widget import service
from pricewise.widget.schemas import normalize_origin

ALLOW_METHODS = b"GET, POST"
ALLOW_HEADERS = b"Content-Type, X-Widget-Session, X-Request-ID"
EXPOSE = b"X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"


def widget_path(path: str) -> bool:
    return (path.startswith("/widget/") or path == "/chat/send"
            or (path.startswith("/chat/") and path.endswith("/history")))


class WidgetCors:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not widget_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if scope["method"] == "OPTIONS" and origin and b"access-control-request-method" in headers:
            key = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key", [None])[0]
            if key is None and not scope["path"].startswith("/widget/"):
                await self.app(scope, receive, send)  # an API client's preflight: global CORS decides
                return
            await self._preflight(scope, send, origin.decode("latin-1"), key)
            return
        if not scope["path"].startswith("/widget/") and b"x-widget-session" not in headers:
            await self.app(scope, receive, send)  # the chat routes called by an API client
            return
        await self.app(scope, receive, self._granting(scope, send))

    async def _preflight(self, scope: Scope, send: Send, origin: str, key: str | None) -> None:
        ctx: AppContext = scope["app"].state.ctx
        granted: str | None = None
        reason = "this origin is not allowed for this widget"
        try:
            async with ctx.db.session() as session:
                row = await service.key_tenant(session, key)
            granted = service.check_origin(origin, service.allowed_origins(row.settings))
        except AppError as exc:
            reason = exc.message
        if granted is None:
            body = json.dumps({"error": {"code": "origin_not_allowed", "message": reason, "fields": []}}).encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"), (b"vary", b"Origin"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 204, "headers": [
            (b"access-control-allow-origin", granted.encode("latin-1")),
            (b"access-control-allow-methods", ALLOW_METHODS), (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", b"600"), (b"vary", b"Origin")]})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _granting(scope: Scope, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                granted = (scope.get("state") or {}).get("widget_origin")
                drop = {b"access-control-allow-origin", b"access-control-allow-credentials",
                        b"access-control-expose-headers"}
                # Whatever the global middleware decided, a widget response is readable only by
                # the origin the route checked.
                hdrs = [(k, v) for k, v in message.get("headers", []) if k.lower() not in drop]
                if granted:
                    hdrs += [(b"access-control-allow-origin", granted.encode("latin-1")),
                             (b"access-control-expose-headers", EXPOSE)]
                if not any(k.lower() == b"vary" for k, _ in hdrs):
                    hdrs.append((b"vary", b"Origin"))
                message = {**message, "headers": hdrs}
            await send(message)
        return wrapped


__all__ = ["WidgetCors", "normalize_origin", "widget_path"]
