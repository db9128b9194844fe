"""The app behind a real uvicorn server on a loopback port, and an SDK client session for a tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from pricewise.mcp.auth import McpKeys
from tests.support import LoopbackServers, free_port


@pytest.fixture
async def served(make_client: Callable[..., Awaitable[httpx.AsyncClient]]) -> AsyncIterator[Any]:
    """served(**make_client args) -> (http client on the app, its MCP url). The port is chosen
    first so the app's own mcp_url can point at itself (estimation through MCP)."""
    servers = LoopbackServers()

    async def factory(**kw: Any) -> tuple[httpx.AsyncClient, str]:
        port = free_port()
        url = f"http://127.0.0.1:{port}/mcp"
        kw.setdefault("mcp_url", url)
        client = await make_client(**kw)
        await servers.serve(client.app, port)  # type: ignore[attr-defined]
        return client, url

    yield factory
    await servers.close()


def keys_of(client: httpx.AsyncClient) -> McpKeys:
    return McpKeys.of(client.app.state.ctx.keys)  # type: ignore[attr-defined]
