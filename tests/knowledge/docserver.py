"""A documentation site on loopback for fetch and ingestion tests: fixed pages, redirects, bodies
produced lazily (a 200 MB one is never built in memory), slow answers; it counts what it sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port


@dataclass
class Page:
    body: bytes | Callable[[], Iterator[bytes]] = b""
    content_type: str | None = "text/plain"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None  # Content-Length to announce; None: the body's length when known
    delay: float = 0.0


class DocServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.pages: dict[str, Page] = {}
        self.hits: list[dict[str, Any]] = []
        self.sent = 0  # body bytes written, over all requests
        self._lock = threading.Lock()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def host_port(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                with server._lock:
                    server.hits.append({"path": self.path, "host": self.headers.get("Host")})
                page = server.pages.get(self.path.split("?", 1)[0])
                if page is None:
                    page = Page(b"not found", status=404)
                if page.delay:
                    time.sleep(page.delay)
                try:
                    self.send_response(page.status)
                    if page.content_type:
                        self.send_header("Content-Type", page.content_type)
                    for k, v in page.headers.items():
                        self.send_header(k, v)
                    if isinstance(page.body, bytes):
                        self.send_header("Content-Length", str(page.length if page.length is not None
                                                               else len(page.body)))
                        self.end_headers()
                        self._write(page.body)
                    else:
                        if page.length is not None:
                            self.send_header("Content-Length", str(page.length))
                        self.send_header("Connection", "close")
                        self.end_headers()
                        for piece in page.body():
                            self._write(piece)
                    self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: what a limit does

            def _write(self, data: bytes) -> None:
                self.wfile.write(data)
                with server._lock:
                    server.sent += len(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def endless(total: int, piece: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    """A body of `total` bytes of text, made as it is sent."""
    def gen() -> Iterator[bytes]:
        block = (b"lorem ipsum dolor sit amet " * (piece // 27 + 1))[:piece]
        left = total
        while left > 0:
            yield block[:min(piece, left)]
            left -= piece
    return gen
