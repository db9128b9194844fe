"""Dual auth on /mcp: every check refuses with a 401 that names the reason, before the SDK sees the
request; and a refused SDK client gets the reason back."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from pricewise.core.crypto import derive
from pricewise.core.errors import AppError
from pricewise.core.security import encode_jwt
from pricewise.mcp.auth import NONCE_HEADER, SIG_HEADER, TS_HEADER, McpKeys, NonceStore, sign_headers, signature
from pricewise.mcp.client import call_tool
from tests.conftest import REDIS_UP, REDIS_URL
from tests.mcp.conftest import keys_of
from tests.support import signup

INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}).encode()
BASE = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def _token(keys: McpKeys, tenant: str, ttl: float, **claims: Any) -> str:
    return encode_jwt(keys.jwt, {"sub": "pricewise-api", "typ": "mcp", "aud": "mcp", "tenant": tenant, **claims},
                      timedelta(seconds=ttl))


async def _post(url: str, headers: dict[str, str], body: bytes = INIT) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(url, content=body, headers={**BASE, **headers})


def _reason(r: httpx.Response) -> str:
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    return str(r.json()["error"]["message"])


@pytest.fixture
async def app(served, mailbox):
    client, url = await served(auth_mode="required")
    acct = await signup(client, mailbox, "mcp@example.com")
    return client, url, keys_of(client), acct


async def test_a_signed_request_passes_and_each_broken_part_is_refused(app):
    _, url, keys, acct = app
    tenant = acct.tenant_id
    ok = await _post(url, sign_headers(keys, tenant, "POST", "/mcp", INIT))
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"]["serverInfo"]["name"] == "pricewise"

    # bad HMAC: signed for another body, or with another key
    h = sign_headers(keys, tenant, "POST", "/mcp", INIT)
    assert _reason(await _post(url, h, INIT.replace(b'"test"', b'"evil"'))) == "bad request signature"
    other = McpKeys(hmac=derive(b"another secret", "mcp-hmac"), jwt=keys.jwt)
    assert _reason(await _post(url, sign_headers(other, tenant, "POST", "/mcp", INIT))) == "bad request signature"
    h = sign_headers(keys, tenant, "POST", "/mcp/other", INIT)  # signed for another path
    assert _reason(await _post(url, h)) == "bad request signature"

    # replayed nonce: the very same signed request, twice
    h = sign_headers(keys, tenant, "POST", "/mcp", INIT)
    assert (await _post(url, h)).status_code == 200
    assert "replayed" in _reason(await _post(url, h))

    # timestamp out of the skew window (correctly signed, but 2 minutes old or ahead)
    for shift in (-120, 120):
        h = sign_headers(keys, tenant, "POST", "/mcp", INIT, now=time.time() + shift)
        assert "clock skew" in _reason(await _post(url, h))

    def with_token(token: str) -> dict[str, str]:
        return {**sign_headers(keys, tenant, "POST", "/mcp", INIT), "authorization": f"Bearer {token}"}

    # expired JWT
    assert _reason(await _post(url, with_token(_token(keys, tenant, -60)))) == "token expired"
    # a valid JWT that lives longer than 60 s
    assert "exceeds 60 s" in _reason(await _post(url, with_token(_token(keys, tenant, 120))))
    # another audience, another token type, another signing key (a user's access token)
    assert "audience" in _reason(await _post(url, with_token(_token(keys, tenant, 30, aud="api"))))
    assert "invalid token" in _reason(await _post(url, with_token(_token(keys, tenant, 30, typ="access"))))
    assert "invalid token" in _reason(await _post(url, with_token(acct.access_token)))
    # unknown tenant
    assert _reason(await _post(url, with_token(_token(keys, "f" * 24, 30)))) == "unknown or inactive tenant"
    # no bearer token, no signature headers
    h = sign_headers(keys, tenant, "POST", "/mcp", INIT)
    del h["authorization"]
    assert _reason(await _post(url, h)) == "missing bearer token"
    assert "missing signature headers" in _reason(await _post(url, {}))
    h = sign_headers(keys, tenant, "POST", "/mcp", INIT)
    h[TS_HEADER] = "yesterday"
    assert "unix seconds" in _reason(await _post(url, h))


async def test_a_forged_request_does_not_burn_the_nonce(app):
    _, url, keys, acct = app
    h = sign_headers(keys, acct.tenant_id, "POST", "/mcp", INIT)
    forged = {**h, SIG_HEADER: "0" * 64}
    assert _reason(await _post(url, forged)) == "bad request signature"
    assert (await _post(url, h)).status_code == 200  # the real request with that nonce still passes


async def test_the_sdk_client_is_refused_with_the_reason(app):
    _, url, keys, acct = app
    assert (await call_tool(url, keys, acct.tenant_id, "calibration_summary", {}))["total_estimates"] == 0
    wrong = McpKeys(hmac=derive(b"another secret", "mcp-hmac"), jwt=keys.jwt)
    with pytest.raises(AppError) as caught:
        await call_tool(url, wrong, acct.tenant_id, "calibration_summary", {})
    assert caught.value.status == 503 and "bad request signature" in caught.value.message
    with pytest.raises(AppError) as caught:
        await call_tool(url, keys, "f" * 24, "calibration_summary", {})
    assert "unknown or inactive tenant" in caught.value.message


async def test_the_signature_covers_method_path_timestamp_nonce_and_body():
    key = b"k" * 32
    base = signature(key, "POST", "/mcp", "100", "n" * 16, b"{}")
    assert base == signature(key, "post", "/mcp", "100", "n" * 16, b"{}")
    for changed in (signature(key, "GET", "/mcp", "100", "n" * 16, b"{}"),
                    signature(key, "POST", "/mcp?x=1", "100", "n" * 16, b"{}"),
                    signature(key, "POST", "/mcp", "101", "n" * 16, b"{}"),
                    signature(key, "POST", "/mcp", "100", "m" * 16, b"{}"),
                    signature(key, "POST", "/mcp", "100", "n" * 16, b"{ }")):
        assert changed != base
    assert NONCE_HEADER in sign_headers(McpKeys(key, key), "t", "POST", "/mcp", b"")


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_nonces_are_refused_within_the_window_in_memory_and_in_redis(backend):
    if backend == "redis" and not REDIS_UP:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    store = NonceStore(REDIS_URL if backend == "redis" else None, window_seconds=60)
    nonce = f"nonce-{time.time_ns()}"
    try:
        assert await store.claim(nonce) is True
        assert await store.claim(nonce) is False
        assert await store.claim(nonce + "-other") is True
    finally:
        await store.close()


async def test_nonces_are_shared_by_processes_through_redis():
    if not REDIS_UP:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    one, two = NonceStore(REDIS_URL, 60), NonceStore(REDIS_URL, 60)
    nonce = f"shared-{time.time_ns()}"
    try:
        assert await one.claim(nonce) is True
        assert await two.claim(nonce) is False  # another process (another store) sees it used
    finally:
        await one.close()
        await two.close()


async def test_a_request_replayed_to_another_api_process_is_refused_through_redis(served, mailbox):
    if not REDIS_UP:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    client, url_one = await served(auth_mode="required", redis_url=REDIS_URL)
    _, url_two = await served(auth_mode="required", redis_url=REDIS_URL)  # a second process, same Redis
    acct = await signup(client, mailbox, "twice@example.com")
    h = sign_headers(keys_of(client), acct.tenant_id, "POST", "/mcp", INIT)
    assert (await _post(url_one, h)).status_code == 200
    assert "replayed" in _reason(await _post(url_two, h))


async def test_each_tenant_has_its_own_mcp_rate_limit(served, mailbox):
    client, url = await served(auth_mode="required", rate_limit_requests_per_minute=3)
    a = await signup(client, mailbox, "mcp-limit-a@example.com")
    b = await signup(client, mailbox, "mcp-limit-b@example.com")
    keys = keys_of(client)
    codes = [(await _post(url, sign_headers(keys, a.tenant_id, "POST", "/mcp", INIT))).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    over = await _post(url, sign_headers(keys, a.tenant_id, "POST", "/mcp", INIT))
    assert over.status_code == 429, over.text
    assert over.json()["error"]["code"] == "rate_limited"
    assert int(over.headers["retry-after"]) >= 1
    # another tenant's budget is its own
    assert (await _post(url, sign_headers(keys, b.tenant_id, "POST", "/mcp", INIT))).status_code == 200
    # the HTTP API's budget is separate: the API may call /mcp for the same tenant's estimates
    assert (await client.get("/tenants/me", headers=a.key_headers)).status_code == 200
