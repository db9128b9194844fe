"""CORS: the UI's origin may call the API from a browser, other origins may not."""

from __future__ import annotations

import pytest

from tests.conftest import REDIS_UP

UI = "http://localhost:3000"
EVIL = "http://evil.example"


def _preflight(origin: str, method: str, headers: str = "content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
async def test_preflight_from_the_ui_origin_is_allowed(make_client, method):
    client = await make_client()
    r = await client.options("/tenants/me", headers=_preflight(UI, method))
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == UI
    assert method in r.headers["access-control-allow-methods"]
    assert "content-type" in r.headers["access-control-allow-headers"].lower()
    assert r.headers["X-Request-ID"]


async def test_preflight_allows_the_credential_headers(make_client):
    client = await make_client()
    r = await client.options("/api-keys", headers=_preflight(
        UI, "POST", "content-type, authorization, x-api-key, x-request-id"))
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == UI
    # an unlisted header is refused, so the browser will not send it
    odd = await client.options("/api-keys", headers=_preflight(UI, "POST", "x-debug-override"))
    assert odd.status_code == 400


async def test_real_request_from_the_ui_origin_gets_the_header(make_client):
    client = await make_client()
    r = await client.get("/health", headers={"Origin": UI})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == UI
    # the browser may read the request id and the rate-limit headers
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "retry-after",
            "x-total-count"} <= exposed
    # errors carry it too, or the browser would hide them from the UI
    denied = await client.get("/tenants/me", headers={"Origin": UI})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == UI


async def test_other_origins_get_no_allow_origin(make_client):
    client = await make_client()
    for method in ("GET", "POST", "PUT", "DELETE"):
        pre = await client.options("/tenants/me", headers=_preflight(EVIL, method))
        assert "access-control-allow-origin" not in pre.headers
        assert pre.status_code == 400
    real = await client.get("/health", headers={"Origin": EVIL})
    assert real.status_code == 200  # the server answers; the browser withholds it from the page
    assert "access-control-allow-origin" not in real.headers
    # look-alikes of the allowed origin are other origins
    for origin in ("http://localhost:3001", "https://localhost:3000", "http://localhost:3000.evil.example",
                   "null"):
        r = await client.get("/health", headers={"Origin": origin})
        assert "access-control-allow-origin" not in r.headers, origin


async def test_configured_origins_are_all_allowed(make_client):
    client = await make_client(ws_cors_origins="http://a.example, http://b.example/")
    for origin in ("http://a.example", "http://b.example", UI):  # the frontend URL stays allowed
        pre = await client.options("/tenants/me", headers=_preflight(origin, "PUT"))
        assert pre.status_code == 200, (origin, pre.text)
        assert pre.headers["access-control-allow-origin"] == origin
        real = await client.get("/health", headers={"Origin": origin})
        assert real.headers["access-control-allow-origin"] == origin
    for origin in (EVIL, "http://c.example"):
        pre = await client.options("/tenants/me", headers=_preflight(origin, "PUT"))
        assert "access-control-allow-origin" not in pre.headers
        real = await client.get("/health", headers={"Origin": origin})
        assert "access-control-allow-origin" not in real.headers


async def test_local_mode_refuses_foreign_origins_and_rebound_hosts(make_client):
    client = await make_client(auth_mode="local")
    body = {"name": "From a web page"}
    evil = await client.post("/product/create", json=body, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "origin" in evil.text
    rebound = await client.get("/product/list", headers={"Host": "attacker.example"})
    assert rebound.status_code == 403
    ok = await client.post("/product/create", json=body, headers={"Origin": "http://localhost:3000"})
    assert ok.status_code == 200
    assert (await client.get("/product/list", headers={"Host": "127.0.0.1:5000"})).status_code == 200


@pytest.mark.skipif(not REDIS_UP, reason="Redis is unreachable at 127.0.0.1:6379")
async def test_readiness_reports_redis(make_client):
    up = await make_client(redis_url="redis://127.0.0.1:6379/15")
    r = await up.get("/health/ready")
    assert r.status_code == 200 and r.json()["checks"]["redis"] == "ok"
    down = await make_client(redis_url="redis://127.0.0.1:1/0")
    r = await down.get("/health/ready")
    assert r.status_code == 503 and r.json()["checks"]["redis"] == "error"
    plain = await make_client()
    assert (await plain.get("/health/ready")).json()["checks"]["redis"] == "not_configured"


async def test_local_mode_refuses_writes_from_lookalike_origins(make_client):
    local = await make_client(auth_mode="local")
    body = {"name": "P"}
    for origin in ("http://localhost.evil.example", "http://127.0.0.1.evil.example", "https://evil.example"):
        r = await local.post("/product/create", json=body, headers={"Origin": origin})
        assert r.status_code == 403, origin
    for origin in ("http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5000"):
        r = await local.post("/product/create", json=body, headers={"Origin": origin})
        assert r.status_code == 200, (origin, r.text)
    assert len((await local.get("/product/list")).json()) == 3
