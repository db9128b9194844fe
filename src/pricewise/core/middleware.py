"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput): request id, body limit,
rate-limit headers, access log."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("pricewise.access")
_RID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
_HEADER_NAMES: dict[str, bytes] = {}  # "X-RateLimit-Limit" -> b"x-ratelimit-limit", computed once


def _new_request_id() -> str:
    """What uuid.uuid4().hex returns (random, version 4, RFC 4122 variant), a third of the cost."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return b.hex()


def _header_name(name: str) -> bytes:
    raw = _HEADER_NAMES.get(name)
    if raw is None:
        raw = _HEADER_NAMES[name] = name.lower().encode("latin-1")
    return raw


def _error(status: int, code: str, message: str, rid: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "fields": []},
                       "request_id": rid}).encode()


class RequestContext:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_json = max_body_bytes
        # Uploads (multipart) get a coarse guard at twice MAX_FILE_SIZE_MB: the route enforces the
        # exact limit on the file itself and records the refused import.
        self.max_upload = max(2 * (max_upload_bytes or 0), max_body_bytes) + 64 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = b""
        length: bytes | None = None
        ctype = b""
        for name, value in scope["headers"]:  # the last one wins, as in a dict of them
            if name == b"x-request-id":
                incoming = value
            elif name == b"content-length":
                length = value
            elif name == b"content-type":
                ctype = value
        rid = incoming.decode("latin-1") if incoming else ""
        if not (rid and _RID.match(rid)):
            rid = _new_request_id()
        rid_header = (b"x-request-id", rid.encode())
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        is_upload = ctype.startswith(b"multipart/form-data")
        max_body = self.max_upload if is_upload else self.max_json
        too_large = (f"upload body over {max_body} bytes (twice MAX_FILE_SIZE_MB)" if is_upload
                     else f"request body over {max_body} bytes")
        start = time.perf_counter()
        status_box = [0]

        async def reply(status: int, code: str, message: str) -> None:
            body = _error(status, code, message, rid)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()),
                                    rid_header]})
            await send({"type": "http.response.body", "body": body})

        if length is not None:
            try:
                too_big = int(length) > max_body
            except ValueError:
                await reply(400, "bad_request", "Content-Length is not a number")
                return
            if too_big:
                await reply(413, "payload_too_large", too_large)
                return

        received = [0]

        async def limited_receive() -> Message:
            msg = await receive()
            if msg["type"] == "http.request":
                received[0] += len(msg.get("body", b""))
                if received[0] > max_body:
                    raise _BodyTooLarge()
            return msg

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append(rid_header)
                rate = state.get("rate_headers")
                if rate:
                    headers.extend([(_header_name(k), v.encode()) for k, v in rate.items()])
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _BodyTooLarge:
            if status_box[0] == 0:
                await reply(413, "payload_too_large", too_large)
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
