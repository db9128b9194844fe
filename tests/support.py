"""Real peers for tests: an SMTP server (aiosmtpd) and an OpenAI-compatible HTTP server."""

from __future__ import annotations

import asyncio
import email
import json
import re
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import uvicorn
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackServers:
    """Apps behind real uvicorn servers on free loopback ports, in the test's own event loop (the
    apps' lifespans are the caller's: make_client has entered them)."""

    def __init__(self) -> None:
        self._running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def serve(self, app: Any, port: int | None = None) -> int:
        port = port or free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                               log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()  # it could not start: say why
            await asyncio.sleep(0.01)
        self._running.append((server, task))
        return port

    async def close(self) -> None:
        for server, task in self._running:
            server.should_exit = True
            await task


class _Collect:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = free_port()
        self._ctl = Controller(_Collect(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._ctl.start()

    def stop(self) -> None:
        self._ctl.stop()

    def body(self, msg: Message) -> str:
        if msg.is_multipart():
            for part in msg.walk():
                if part.get_content_type() == "text/plain":
                    return str(part.get_payload(decode=True).decode())
        return str(msg.get_payload(decode=True).decode())

    def wait_for(self, to: str, timeout: float = 5.0) -> Message:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in self.messages:
                if to in str(m["To"]):
                    return m
            time.sleep(0.02)
        raise AssertionError(f"no mail to {to}; got {[m['To'] for m in self.messages]}")

    def link(self, to: str, path: str) -> str:
        body = self.body(self.wait_for(to))
        match = re.search(rf"https?://\S+{re.escape(path)}\S*", body)
        assert match, body
        return match.group(0)


@dataclass
class Reply:
    """One scripted answer of the stub: a status with a JSON body (or raw text), after a delay."""

    status: int = 200
    body: Any = None  # JSON-encoded when `text` is None
    text: str | None = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def chat(cls, content: str, prompt_tokens: int = 5, completion_tokens: int = 3, delay: float = 0.0,
             model: str = "gpt-test") -> Reply:
        return cls(200, completion(content, prompt_tokens, completion_tokens, model), delay=delay)


def completion(content: str, prompt_tokens: int = 5, completion_tokens: int = 3,
               model: str = "gpt-test") -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


_STORE_PATH = re.compile(r"^/v1/(files|vector_stores)(/|$|\?)")


def _form(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body as {field: text}; a file part also gives "filename" and its text
    under "content"."""
    msg = BytesParser(policy=default_policy).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    out: dict[str, Any] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            out["filename"] = part.get_filename()
            out["content"] = data.decode()
        elif name:
            out[str(name)] = data.decode()
    return out


@dataclass
class OpenAIStub:
    """Answers /v1/models for keys in `valid_keys`; records every request it saw.

    POSTs from a valid key get the next scripted `Reply` (see `script`), else a chat completion
    of `chat_reply`. Each recorded POST also carries its JSON body under "json".

    Files and vector stores (/v1/files, /v1/vector_stores...) are kept for real in `files` and
    `vector_stores`: upload (multipart, recorded under "json" as its form fields with the file's
    text under "content"), create, attach, detach, delete; an unknown id is a 404. Their requests
    take the next scripted `Reply` of `script_stores` first, if any (None: answered as usual).
    DELETEs are recorded with "method": "DELETE"."""

    valid_keys: set[str] = field(default_factory=lambda: {"sk-test-good-key-1234"})
    requests: list[dict[str, Any]] = field(default_factory=list)
    chat_reply: str = "ok"
    port: int = field(default_factory=free_port)
    replies: deque[Reply] = field(default_factory=deque)
    store_replies: deque[Reply | None] = field(default_factory=deque)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> filename, purpose, content
    vector_stores: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> name, metadata, file_ids

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def script_stores(self, *replies: Reply | None) -> None:
        self.store_replies.extend(replies)

    def _stores(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """The files and vector stores endpoints, on the stub's own state."""
        parts = path.split("?")[0].strip("/").split("/")[1:]  # without "v1"
        not_found = (404, {"error": {"message": f"No such object: {path}", "type": "invalid_request_error"}})
        with self._lock:
            if parts == ["files"] and method == "POST":
                if not isinstance(body, dict) or body.get("purpose") != "assistants" or "content" not in body:
                    return 400, {"error": {"message": "a file and purpose=assistants are required"}}
                fid = f"file-{uuid.uuid4().hex[:24]}"
                self.files[fid] = {"filename": body.get("filename"), "purpose": body["purpose"],
                                   "content": body["content"]}
                return 200, {"id": fid, "object": "file", "bytes": len(body["content"].encode()),
                             "filename": body.get("filename"), "purpose": "assistants"}
            if len(parts) == 2 and parts[0] == "files":
                if parts[1] not in self.files:
                    return not_found
                if method == "DELETE":
                    del self.files[parts[1]]
                    return 200, {"id": parts[1], "object": "file", "deleted": True}
                return 200, {"id": parts[1], "object": "file", **self.files[parts[1]]}
            if parts == ["vector_stores"] and method == "POST":
                vid = f"vs_{uuid.uuid4().hex[:24]}"
                body = body if isinstance(body, dict) else {}
                self.vector_stores[vid] = {"name": body.get("name"), "metadata": body.get("metadata") or {},
                                           "file_ids": []}
                return 200, {"id": vid, "object": "vector_store", "name": body.get("name")}
            if not parts or parts[0] != "vector_stores" or len(parts) < 2 or parts[1] not in self.vector_stores:
                return not_found
            store = self.vector_stores[parts[1]]
            if len(parts) == 2:
                if method == "DELETE":
                    del self.vector_stores[parts[1]]
                    return 200, {"id": parts[1], "object": "vector_store.deleted", "deleted": True}
                return 200, {"id": parts[1], "object": "vector_store", "name": store["name"]}
            if parts[2:] == ["files"] and method == "POST":
                fid = str(body.get("file_id")) if isinstance(body, dict) else ""
                if fid not in self.files:
                    return not_found
                if fid not in store["file_ids"]:
                    store["file_ids"].append(fid)
                return 200, {"id": fid, "object": "vector_store.file", "status": "completed",
                             "vector_store_id": parts[1]}
            if parts[2:] == ["files"]:
                return 200, {"object": "list", "data": [{"id": f, "object": "vector_store.file"}
                                                        for f in store["file_ids"]]}
            if len(parts) == 4 and parts[2] == "files" and method == "DELETE":
                if parts[3] not in store["file_ids"]:
                    return not_found
                store["file_ids"].remove(parts[3])
                return 200, {"id": parts[3], "object": "vector_store.file.deleted", "deleted": True}
            return not_found

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if "json" in r]

    def start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _auth_ok(self, body: Any = None, posted: bool = False) -> bool:
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                entry: dict[str, Any] = {"path": self.path, "key": key}
                if posted:
                    entry["json"] = body
                stub.requests.append(entry)
                return key in stub.valid_keys

            def _send(self, status: int, body: Any, raw: bytes | None = None,
                      headers: dict[str, str] | None = None) -> None:
                data = raw if raw is not None else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json" if raw is None else "text/plain")
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout); nothing to answer

            def do_GET(self) -> None:
                if not self._auth_ok():
                    self._send(401, {"error": {"message": "Incorrect API key provided"}})
                elif self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "gpt-test", "object": "model"}]})
                elif _STORE_PATH.match(self.path):
                    self._send(*stub._stores("GET", self.path, None))
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def _store_call(self, method: str, body: Any) -> None:
                try:
                    reply = stub.store_replies.popleft()
                except IndexError:
                    reply = None
                if reply is None:
                    self._send(*stub._stores(method, self.path, body))
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                self._send(reply.status, reply.body, None if reply.text is None else reply.text.encode(),
                           reply.headers)

            def do_DELETE(self) -> None:
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                stub.requests.append({"path": self.path, "key": key, "method": "DELETE"})
                if key not in stub.valid_keys:
                    self._send(401, {"error": {"message": "Incorrect API key provided"}})
                else:
                    self._store_call("DELETE", None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("multipart/form-data"):
                    body: Any = _form(ctype, raw)
                else:
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        body = raw.decode(errors="replace")
                if not self._auth_ok(body, posted=True):
                    self._send(401, {"error": {"message": "Incorrect API key provided"}})
                    return
                if _STORE_PATH.match(self.path):
                    self._store_call("POST", body)
                    return
                try:
                    reply = stub.replies.popleft()
                except IndexError:
                    self._send(200, completion(stub.chat_reply))
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                self._send(reply.status, reply.body,
                           None if reply.text is None else reply.text.encode(), reply.headers)

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Account:
    tenant_id: str
    api_key: str
    email: str
    password: str
    access_token: str = ""
    refresh_token: str = ""

    @property
    def key_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


PASSWORD = "Correct-Horse-42"


async def signup(client: httpx.AsyncClient, mailbox: Mailbox | None, email_addr: str,
                 tier: str = "trial", verify: bool = True, name: str = "Acme Pools") -> Account:
    r = await client.post("/tenants/register", json={"name": name, "email": email_addr,
                                                      "password": PASSWORD, "tier": tier})
    assert r.status_code == 201, r.text
    body = r.json()
    acct = Account(body["tenant_id"], body["api_key"], email_addr, PASSWORD)
    if verify:
        assert mailbox is not None
        link = mailbox.link(email_addr, "/auth/verify-email")
        v = await client.get(link.replace("http://testserver", ""))
        assert v.status_code == 200, v.text
    login = await client.post("/auth/login", json={"email": email_addr, "password": PASSWORD})
    assert login.status_code == 200, login.text
    acct.access_token = login.json()["access_token"]
    acct.refresh_token = login.json()["refresh_token"]
    return acct


async def row_counts(url: str) -> dict[str, int]:
    """Rows per table of the database at url: what a refused import must leave unchanged."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import create_async_engine

    from pricewise.models import Base

    engine = create_async_engine(url)
    async with engine.connect() as conn:
        counts = {t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
                  for t in Base.metadata.sorted_tables}
    await engine.dispose()
    return counts
