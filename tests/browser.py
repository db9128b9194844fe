"""Browser tests' harness: the test's app behind a real uvicorn on a loopback port, pages of
another origin from a tiny static server, and Debian's Chromium driven by Playwright.

Use from a test module or conftest: `from tests.browser import browser, served_app, site  # noqa: F401`.
Chromium is the system's (/usr/bin/chromium, `apt-get install chromium`); Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from tests.support import LoopbackServers

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def served_app(make_client: Callable[..., Awaitable[httpx.AsyncClient]]) -> AsyncIterator[Any]:
    """served_app(**make_client args) -> (httpx client, "http://127.0.0.1:PORT"): the test's app
    (lifespan running in this loop) behind uvicorn on a free loopback port."""
    servers = LoopbackServers()

    async def factory(**kw: Any) -> tuple[httpx.AsyncClient, str]:
        client = await make_client(**kw)
        port = await servers.serve(client.app)  # type: ignore[attr-defined]
        return client, f"http://127.0.0.1:{port}"

    yield factory
    await servers.close()


class Site:
    """Static pages on their own port: http://127.0.0.1:PORT and http://localhost:PORT are two
    different origins of the same server."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def origin(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}"


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (make test installs it)")
    async with async_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


def keep_screenshot(path: Path) -> Path:
    """Copy a screenshot out of the test's tmp_path to a stable place, and say where."""
    out = Path(tempfile.gettempdir()) / "pricewise-screenshots"
    out.mkdir(exist_ok=True)
    dest = out / path.name
    shutil.copy(path, dest)
    print(f"screenshot: {dest}")
    return dest
