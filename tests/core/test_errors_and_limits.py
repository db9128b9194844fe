"""Bad input over HTTP: a clear 4xx naming what is wrong, the one error shape, and nothing written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sqlalchemy import func, select

from pricewise.accounts.models import ApiKey, AuditLog, Tenant, User
from tests.support import PASSWORD, signup

REGISTER = "/tenants/register"


async def _counts(client) -> dict[str, int]:
    async with client.app.state.ctx.db.session() as s:
        return {m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one()
                for m in (Tenant, User, ApiKey, AuditLog)}


def _fields(r) -> list[str]:
    return [f["field"] for f in r.json()["error"]["fields"]]


def _assert_error_shape(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["request_id"] == r.headers["X-Request-ID"]
    return body


def _register_body(**over: object) -> dict:
    body: dict[str, object] = {"name": "Acme Pools", "email": "owner@acme.example",
                               "password": PASSWORD, "tier": "trial"}
    body.update(over)
    return body


async def test_malformed_json_is_400_and_writes_nothing(make_client):
    client = await make_client()
    before = await _counts(client)
    for raw in (b'{"name": "Acme", "email": "a@b.example",', b"{'name': 'Acme'}", b"\xff\xfe not json"):
        r = await client.post(REGISTER, content=raw, headers={"Content-Type": "application/json"})
        body = _assert_error_shape(r, 400, "malformed_json")
        assert body["error"]["fields"][0]["field"] == "body"
    assert await _counts(client) == before


async def test_wrong_types_are_422_naming_each_field(make_client):
    client = await make_client()
    before = await _counts(client)
    r = await client.post(REGISTER, json={"name": ["x"], "email": "owner@acme.example",
                                          "password": 123, "tier": 5})
    _assert_error_shape(r, 422, "validation_error")
    assert sorted(set(_fields(r))) == ["name", "password", "tier"]
    # strict types: a number written as a string is not a number, nor a string a list
    r = await client.post(REGISTER, json=_register_body(tier="gold", email=["owner@acme.example"]))
    _assert_error_shape(r, 422, "validation_error")
    assert sorted(set(_fields(r))) == ["email", "tier"]
    # unknown fields are refused by name
    r = await client.post(REGISTER, json=_register_body(is_admin=True))
    _assert_error_shape(r, 422, "validation_error")
    assert _fields(r) == ["is_admin"]
    # a body that is not an object at all
    r = await client.post(REGISTER, json=["owner@acme.example", PASSWORD])
    _assert_error_shape(r, 422, "validation_error")
    assert await _counts(client) == before


async def test_missing_fields_are_422_naming_them(make_client):
    client = await make_client()
    before = await _counts(client)
    r = await client.post(REGISTER, json={})
    body = _assert_error_shape(r, 422, "validation_error")
    assert sorted(_fields(r)) == ["email", "name", "password"]  # tier has a default
    assert "email" in body["error"]["message"] and "password" in body["error"]["message"]
    r = await client.post(REGISTER, json={"name": "Acme Pools"})
    assert sorted(_fields(r)) == ["email", "password"]
    r = await client.post("/auth/login", json={"email": "owner@acme.example"})
    _assert_error_shape(r, 422, "validation_error")
    assert _fields(r) == ["password"]
    assert await _counts(client) == before


async def _chunks(total: int, size: int = 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


async def test_body_over_the_limit_is_413(make_client):
    client = await make_client(max_body_kb=4)
    before = await _counts(client)
    padded = json.dumps(_register_body(name="x" * 10_000)).encode()
    assert len(padded) > 10 * 1024 - 200
    r = await client.post(REGISTER, content=padded, headers={"Content-Type": "application/json"})
    _assert_error_shape(r, 413, "payload_too_large")

    # no Content-Length: the body is counted as it streams in
    async def chunked() -> AsyncIterator[bytes]:
        yield padded[:100]
        async for chunk in _chunks(10 * 1024):
            yield chunk

    r = await client.post(REGISTER, content=chunked(), headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    _assert_error_shape(r, 413, "payload_too_large")
    assert await _counts(client) == before
    # a body under the limit still goes through, chunked or not
    small = json.dumps(_register_body()).encode()

    async def small_chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(small), 16):
            yield small[i:i + 16]

    ok = await client.post(REGISTER, content=small_chunks(), headers={"Content-Type": "application/json"})
    assert ok.status_code == 201, ok.text
    after = await _counts(client)
    assert after["tenants"] == before["tenants"] + 1 and after["api_keys"] == before["api_keys"] + 1


async def test_non_numeric_content_length_is_400(make_client):
    client = await make_client()
    before = await _counts(client)
    r = await client.post(REGISTER, content=b"{}",
                          headers={"Content-Type": "application/json", "Content-Length": "lots"})
    _assert_error_shape(r, 400, "bad_request")
    assert await _counts(client) == before


UNICODE_NAMES = [
    "Piscines 🏊‍♀️ 泳池建設 בריכות אקמה شركة المسابح ١٢٣",  # emoji (ZWJ sequence), CJK, Hebrew, Arabic
    "Ünïcødé Pööls — “quoted” 𝔄𝔠𝔪𝔢 \uff50\uff4f\uff4f\uff4c\uff53 🇯🇵 e\u0301 (Ω≈ç√)",
]


async def test_unicode_names_are_kept_intact(make_client):
    client = await make_client()
    for i, name in enumerate(UNICODE_NAMES):
        r = await client.post(REGISTER, json=_register_body(name=name, email=f"uni{i}@pools.example"))
        assert r.status_code == 201, r.text
        me = await client.get("/tenants/me", headers={"X-API-Key": r.json()["api_key"]})
        assert me.status_code == 200
        assert me.json()["name"] == name
        async with client.app.state.ctx.db.session() as s:
            assert (await s.get(Tenant, r.json()["tenant_id"])).name == name


async def test_control_characters_in_names_are_422(make_client, mailbox):
    client = await make_client()
    before = await _counts(client)
    for name in ("Acme\x00Pools", "Acme\x07Pools", "Acme\x1b[31mPools", "\x7fAcme", "Acme\x0bPools"):
        r = await client.post(REGISTER, json=_register_body(name=name))
        body = _assert_error_shape(r, 422, "validation_error")
        assert _fields(r) == ["name"] and "control" in body["error"]["fields"][0]["message"]
    assert await _counts(client) == before
    # on settings too
    key = (await signup(client, mailbox, "ctl@acme.example")).key_headers
    before = await _counts(client)
    bad = await client.put("/tenants/settings", json={"name": "Acme\x00"}, headers=key)
    _assert_error_shape(bad, 422, "validation_error")
    assert _fields(bad) == ["name"]
    assert await _counts(client) == before
    me = await client.get("/tenants/me", headers=key)
    assert me.json()["name"] == "Acme Pools"


async def test_duplicate_email_is_409_whatever_the_case(make_client):
    client = await make_client()
    first = await client.post(REGISTER, json=_register_body(email="Owner@Acme.example"))
    assert first.status_code == 201
    before = await _counts(client)
    for email in ("owner@acme.example", "OWNER@ACME.EXAMPLE", "owner@ACME.example"):
        r = await client.post(REGISTER, json=_register_body(email=email, name="Someone Else"))
        body = _assert_error_shape(r, 409, "conflict")
        assert _fields(r) == ["email"]
        assert "owner@acme.example" not in body["error"]["message"].lower()
    assert await _counts(client) == before


WEAK = [
    ("weak@acme.example", "short", "at least 10"),
    ("weak@acme.example", "alllowercaseletters", "too easy"),
    ("weak@acme.example", "1111111111", "too easy"),
    ("Pat.Jones@Acme.example", "pat.jones@acme.example", "e-mail"),
    ("pat.jones@acme.example", "Pat.Jones@Acme.Example", "e-mail"),
    ("weak@acme.example", "x" * 300, "256"),
]


async def test_weak_passwords_are_422_naming_password(make_client):
    client = await make_client()
    before = await _counts(client)
    for email, password, why in WEAK:
        r = await client.post(REGISTER, json=_register_body(email=email, password=password))
        body = _assert_error_shape(r, 422, "validation_error")
        assert _fields(r) == ["password"], (password, r.text)
        assert why in body["error"]["fields"][0]["message"], (password, r.text)
        assert password not in r.text
    assert await _counts(client) == before


async def test_every_response_carries_a_request_id(make_client, mailbox):
    client = await make_client(max_body_kb=4)
    acct = await signup(client, mailbox, "rid@acme.example", verify=False)
    responses = [
        await client.get("/health"),
        await client.get("/tenants/me", headers=acct.key_headers),
        await client.get("/tenants/me"),  # 401
        await client.get("/no/such/route"),  # 404
        await client.delete("/health"),  # 405
        await client.post(REGISTER, content=b"{", headers={"Content-Type": "application/json"}),
        await client.post(REGISTER, json={}),
        await client.post(REGISTER, content=b"x" * 5000),  # 413 from the middleware
        await client.options("/tenants/me"),
    ]
    ids = [r.headers.get("X-Request-ID") for r in responses]
    assert all(ids), [(r.request.url.path, r.status_code) for r in responses]
    assert len(set(ids)) == len(ids)  # one per request
    for r in responses:
        if r.headers.get("content-type", "").startswith("application/json") and r.status_code >= 400:
            assert r.json()["request_id"] == r.headers["X-Request-ID"]

    # a valid incoming id is echoed, on success and on failure
    for rid in ("req-1234abcd", "2f1c8a9e-0d7b-4c1e-9a51-6a7f0e3b2c10", "A" * 64):
        ok = await client.get("/tenants/me", headers={**acct.key_headers, "X-Request-ID": rid})
        assert ok.headers["X-Request-ID"] == rid
        bad = await client.post(REGISTER, json={}, headers={"X-Request-ID": rid})
        assert bad.headers["X-Request-ID"] == rid and bad.json()["request_id"] == rid
    # an unusable one is replaced, never reflected
    for rid in ("short", "A" * 65, "bad id with spaces", "<script>alert(1)</script>"):
        r = await client.get("/health", headers={"X-Request-ID": rid})
        assert r.headers["X-Request-ID"] != rid and len(r.headers["X-Request-ID"]) >= 8


async def test_offsets_past_any_table_are_422_not_an_overflow(make_client, mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "offsets@acme.example")
    huge = str(2**88)  # no database integer holds it: SQLite used to raise OverflowError, a 500
    for path, param in (("/api/usage-analysis", "offset"), ("/product/list", "offset"),
                        ("/api/reports/history", "offset"), ("/api/recommendations/pricing", "offset"),
                        ("/imports", "offset"), ("/api/orchestration/runs", "offset"),
                        ("/api/orchestration/runs/0123456789abcdef01234567/logs", "after")):
        r = await client.get(path, params={param: huge}, headers=acct.key_headers)
        _assert_error_shape(r, 422, "validation_error")
        assert _fields(r) == [param], (path, r.text)
    ok = await client.get("/api/usage-analysis", params={"offset": 2**31 - 1}, headers=acct.key_headers)
    assert ok.status_code == 200 and ok.json() == [], ok.text


async def test_openapi_declares_the_error_shape_every_route_answers_with(make_client, mailbox):
    client = await make_client()
    spec = (await client.get("/openapi.json")).json()
    error = spec["components"]["schemas"]["ErrorResponse"]
    assert set(error["required"]) == {"error", "request_id"}
    for path, method in (("/product/read", "get"), ("/tenants/register", "post"), ("/api/usage-analysis", "get")):
        responses = spec["paths"][path][method]["responses"]
        for status in ("400", "401", "403", "404", "409", "422", "429"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"}, (path, status)
    # the declared 422 is what a validation failure really looks like
    r = await client.post(REGISTER, json={})
    assert set(r.json()) == set(error["properties"]) and "detail" not in r.json()
    # GET /leads?format=csv and report downloads declare their media types
    assert "text/csv" in spec["paths"]["/leads"]["get"]["responses"]["200"]["content"]
    assert list(spec["paths"]["/api/reports/{report_id}/download"]["get"]["responses"]["200"]["content"]) == [
        "application/pdf"]


async def test_a_value_postgresql_refuses_is_422_not_database_unavailable(make_client):
    client = await make_client(auth_mode="local")
    before = (await client.get("/llmstxt/get")).json()
    r = await client.put("/llmstxt/update", json={"system_prompts": {"narrator": "Be brief.\x00"}})
    if client.app.state.ctx.db.is_postgres:
        # PostgreSQL's text and JSON cannot hold NUL: asyncpg reports it as a bare DBAPIError, which
        # read as "database unavailable, retry" (503) though no retry could succeed.
        body = _assert_error_shape(r, 422, "invalid_value")
        assert "NUL" in body["error"]["message"] and "Retry-After" not in r.headers
        assert (await client.get("/llmstxt/get")).json() == before
    else:
        assert r.status_code == 200, r.text  # SQLite stores it as given
