"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput): request id, body limit,
rate-limit headers, access log."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("pricewise.access")
_RID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")


def _error(status: int, code: str, message: str, rid: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "fields": []},
                       "request_id": rid}).encode()


class RequestContext:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _RID.match(incoming) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        start = time.perf_counter()
        status_box = [0]

        async def reply(status: int, code: str, message: str) -> None:
            body = _error(status, code, message, rid)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()),
                                    (b"x-request-id", rid.encode())]})
            await send({"type": "http.response.body", "body": body})

        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_body
            except ValueError:
                await reply(400, "bad_request", "Content-Length is not a number")
                return
            if too_big:
                await reply(413, "payload_too_large", f"request body over {self.max_body} bytes")
                return

        received = [0]

        async def limited_receive() -> Message:
            msg = await receive()
            if msg["type"] == "http.request":
                received[0] += len(msg.get("body", b""))
                if received[0] > self.max_body:
                    raise _BodyTooLarge()
            return msg

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                extra = [(b"x-request-id", rid.encode())]
                for k, v in (state.get("rate_headers") or {}).items():
                    extra.append((k.lower().encode(), v.encode()))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if status_box[0] == 0:
                await reply(413, "payload_too_large", f"request body over {self.max_body} bytes")
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info("%s %s %s", scope["method"], scope["path"], status_box[0],
                         extra={"request_id": rid, "method": scope["method"], "path": scope["path"],
                                "status": status_box[0],
                                "ms": round((time.perf_counter() - start) * 1000, 2)})


class _BodyTooLarge(HTTPException):
    """Raised from receive(); FastAPI's body parsing re-raises HTTPExceptions as they are."""

    def __init__(self) -> None:
        super().__init__(413, "request body too large")
