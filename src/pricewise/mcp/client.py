"""Calling the MCP tools from the API (or any holder of the app's secret), with the dual auth:
every HTTP request the SDK's transport makes is signed afresh (HMAC over its own body, new
nonce, new JWT), by an httpx Auth the transport's client carries."""

from __future__ import annotations

import functools
import re
import ssl
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, DiscoverResult, ServerCapabilities, TextContent
from mcp_types.version import LATEST_MODERN_VERSION

from pricewise.core.context import AppContext
from pricewise.core.errors import AppError, Unavailable
from pricewise.core.tenancy import Scope
from pricewise.estimation.service import Computed
from pricewise.mcp.auth import McpKeys, sign_headers
from pricewise.mcp.tools import computed_in

TIMEOUT = httpx2.Timeout(30.0, read=120.0)
_TOOL_ERROR = re.compile(r"\b(?P<status>[45]\d\d) (?P<code>[a-z_]+): (?P<message>.*)", re.S)


@functools.cache
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~20 ms of CPU: once per process, not once per call.
    return ssl.create_default_context()


class McpSigner(httpx2.Auth):
    """Signs each request: method, path and query, timestamp, nonce and the hash of its body."""

    def __init__(self, keys: McpKeys, tenant_id: str, ttl_seconds: int = 30) -> None:
        self.keys, self.tenant_id, self.ttl = keys, tenant_id, ttl_seconds
        self.refusal: str | None = None  # the server's reason, when it answered 401

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        await request.aread()
        path = request.url.path + (f"?{request.url.query.decode()}" if request.url.query else "")
        request.headers.update(sign_headers(self.keys, self.tenant_id, request.method, path, request.content,
                                            ttl_seconds=self.ttl))
        response = yield request
        if response.status_code == 401:
            await response.aread()
            try:
                self.refusal = str(response.json()["error"]["message"])
            except (ValueError, KeyError, TypeError):
                self.refusal = response.text[:200]


class McpCallError(AppError):
    status = 502
    code = "mcp_error"


def mcp_url(ctx: AppContext) -> str:
    return ctx.settings.mcp_url or ctx.settings.public_url.rstrip("/") + "/mcp"


@asynccontextmanager
async def connect(url: str, keys: McpKeys, tenant_id: str, signer: McpSigner | None = None
                  ) -> AsyncIterator[ClientSession]:
    """An initialized SDK client session whose every request carries the tenant's dual auth."""
    async with (httpx2.AsyncClient(auth=signer or McpSigner(keys, tenant_id), timeout=TIMEOUT,
                                   verify=_tls()) as http,
                streamable_http_client(url, http_client=http) as (read, write),
                ClientSession(read, write) as session):
        # The current protocol needs no handshake: each call is one request (plus, once per
        # session, the tools/list the SDK makes to validate structured results).
        session.adopt(DiscoverResult(supported_versions=[LATEST_MODERN_VERSION], capabilities=ServerCapabilities(),
                                     result_type="complete", ttl_ms=0, cache_scope="public"))
        yield session


def tool_error(result: CallToolResult) -> AppError:
    """Our tools' error text ("<status> <code>: <message>") back into the API's error."""
    text = " ".join(c.text for c in result.content if isinstance(c, TextContent)) or "the MCP tool failed"
    found = _TOOL_ERROR.search(text)  # the SDK puts "Error executing tool <name>: " in front
    if found is None:
        return McpCallError(text)
    err = AppError(found["message"], code=found["code"])
    err.status = int(found["status"])
    return err


async def call_tool(url: str, keys: McpKeys, tenant_id: str, name: str, arguments: dict[str, Any]
                    ) -> dict[str, Any]:
    """One tool call for one tenant: its structured result, or the tool's error raised as an AppError."""
    signer = McpSigner(keys, tenant_id)
    try:
        async with connect(url, keys, tenant_id, signer) as session:
            result = await session.call_tool(name, arguments)
    except AppError:
        raise
    except Exception as exc:  # the server is down or refused us: the API answers 503, not 500
        why = (f"refused the call ({signer.refusal})" if signer.refusal
               else f"could not be reached ({type(exc).__name__})")
        raise Unavailable(f"the MCP server at {url} {why}") from None
    if result.is_error:
        raise tool_error(result)
    data = result.structured_content
    if not isinstance(data, dict):
        raise McpCallError(f"the MCP tool {name} returned no structured result")
    return data


async def compute_remote(ctx: AppContext, scope: Scope, description: str, region: str | None,
                         attrs: dict[str, Any]) -> Computed:
    """estimation.service.compute through the MCP `compute_estimate` tool (PRICEWISE_ESTIMATION_VIA_MCP)."""
    data = await call_tool(mcp_url(ctx), McpKeys.of(ctx.keys), scope.tenant_id, "compute_estimate",
                           {"description": description, "region": region, "attributes": attrs})
    return computed_in(data)
