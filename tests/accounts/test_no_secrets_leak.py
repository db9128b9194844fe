"""No planted secret (password, API keys, BYOK key, JWT secret, master secret) appears in any log
record, any response of the auth suite or the database; each API key is shown once, when issued."""

from __future__ import annotations

import io
import logging

import httpx
from sqlalchemy import select, text

from pricewise.accounts.models import Tenant
from pricewise.core.logs import JsonFormatter
from pricewise.models import Base
from tests.conftest import SECRET_KEY
from tests.secret_scan import plant

# Also looked for in every log record and response of the run (tests/secret_scan.py).
PASSWORD = plant("password", "Planted-Pa55word-Q7zX")
WRONG_PASSWORD = plant("password", "Planted-Wrong-Guess-81")
JWT_SECRET = plant("JWT secret", "planted-jwt-secret-6f1d9c0b2e7a4d58")
BYOK = plant("BYOK key", "sk-planted-byok-key-5e2f8a91c3d74b60Zq")
REJECTED_BYOK = plant("BYOK key", "sk-planted-rejected-key-0c4b7e2d19a3Wv")
EMAIL = "leak-owner@acme.example"


class Recorder:
    """Every response the client sees: status line, headers and body."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)

    @staticmethod
    def dump(r: httpx.Response) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in r.headers.multi_items())
        return f"{r.request.method} {r.request.url.path} {r.status_code}\n{head}\n\n{r.text}"


def _record_text(record: logging.LogRecord) -> str:
    """Everything a handler could print: message, arguments, extras, exception and stack."""
    parts = [record.getMessage(), repr(record.args)]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in ("msg", "args")]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


async def _db_text(client: httpx.AsyncClient) -> str:
    rows: list[str] = []
    async with client.app.state.ctx.db.session() as s:
        for table in Base.metadata.sorted_tables:
            for row in (await s.execute(select(table))).all():
                rows.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(rows)


async def test_auth_suite_leaks_no_secret(make_client, mailbox, openai_stub, caplog):
    openai_stub.valid_keys = {BYOK}
    json_out = io.StringIO()
    json_handler = logging.StreamHandler(json_out)
    json_handler.setFormatter(JsonFormatter())
    json_handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(json_handler)  # before the app exists, so its log set-up keeps our handlers
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # every statement, its parameters and rows
    rec = Recorder()
    try:
        client = await make_client(jwt_secret=JWT_SECRET, openai_base_url=openai_stub.base_url,
                                   log_level="DEBUG")
        client.event_hooks["response"].append(rec)
        issued: dict[str, httpx.Response] = {}  # raw API key -> the one response that returned it

        # register, verify through the mailbox, log in, refresh
        reg = await client.post("/tenants/register", json={"name": "Leak Check Pools", "email": EMAIL,
                                                           "password": PASSWORD, "tier": "pro"})
        assert reg.status_code == 201, reg.text
        first_key = reg.json()["api_key"]
        issued[first_key] = reg
        link = mailbox.link(EMAIL, "/auth/verify-email")
        assert (await client.get(link.replace("http://testserver", ""))).status_code == 200
        login = await client.post("/auth/login", json={"email": EMAIL.upper(), "password": PASSWORD})
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        refreshed = await client.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
        assert refreshed.status_code == 200
        bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}

        # bad logins
        for body in ({"email": EMAIL, "password": WRONG_PASSWORD},
                     {"email": "nobody@acme.example", "password": PASSWORD}):
            bad = await client.post("/auth/login", json=body)
            assert bad.status_code == 401

        # API keys: create, rotate, revoke, list
        created = await client.post("/api-keys", json={"name": "ci", "role": "analyst"}, headers=bearer)
        assert created.status_code == 201, created.text
        issued[created.json()["api_key"]] = created
        rotated = await client.post(f"/api-keys/{created.json()['id']}/rotate", headers=bearer)
        assert rotated.status_code == 201, rotated.text
        issued[rotated.json()["api_key"]] = rotated
        revoked = await client.delete(f"/api-keys/{rotated.json()['id']}", headers=bearer)
        assert revoked.status_code == 200
        listed = await client.get("/api-keys", headers={"X-API-Key": first_key})
        assert listed.status_code == 200 and len(listed.json()) == 3
        assert all(k["masked_key"].startswith("efofx_…") for k in listed.json())

        # BYOK: a good key is validated against the provider and kept; a rejected one is not
        good = await client.put("/tenants/settings", json={"openai_api_key": BYOK}, headers=bearer)
        assert good.status_code == 200, good.text
        assert good.json()["openai_api_key"] == {"configured": True, "last4": BYOK[-4:]}
        rejected = await client.put("/tenants/settings", json={"openai_api_key": REJECTED_BYOK},
                                    headers={"X-API-Key": first_key})
        assert rejected.status_code == 422
        assert [f["field"] for f in rejected.json()["error"]["fields"]] == ["openai_api_key"]
        assert [r["key"] for r in openai_stub.requests] == [BYOK, REJECTED_BYOK]
        me = await client.get("/tenants/me", headers=bearer)
        assert me.json()["openai_api_key"] == {"configured": True, "last4": BYOK[-4:]}

        # wrong-type and malformed bodies that carry the secrets
        wrong_bodies = [
            ("POST", "/tenants/register", {"name": [PASSWORD], "email": PASSWORD, "password": [PASSWORD],
                                           "tier": first_key}),
            ("POST", "/tenants/register", {"name": "X", "email": f"{PASSWORD}@", "password": PASSWORD,
                                           "api_key": first_key}),
            ("POST", "/auth/login", {"email": first_key, "password": {"value": PASSWORD}}),
            ("POST", "/auth/login", {"email": EMAIL, "password": PASSWORD * 20}),
            ("POST", "/auth/refresh", {"refresh_token": [JWT_SECRET, first_key]}),
            ("PUT", "/tenants/settings", {"openai_api_key": [BYOK]}),
            ("PUT", "/tenants/settings", {"openai_api_key": BYOK * 20}),
            ("PUT", "/tenants/settings", {"openai_api_key": BYOK, "jwt_secret": JWT_SECRET}),
            ("PUT", "/tenants/settings", {"branding": {"logo_url": BYOK, "primary_color": PASSWORD}}),
        ]
        for method, path, body in wrong_bodies:
            r = await client.request(method, path, json=body, headers=bearer)
            assert r.status_code == 422, (path, r.text)
        for raw in (f'{{"email": "{EMAIL}", "password": "{PASSWORD}"', f'{{"openai_api_key": {BYOK}}}'):
            r = await client.post("/auth/login", content=raw, headers={"Content-Type": "application/json"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"

        # 401s with bad, revoked or misplaced credentials
        for headers in ({"X-API-Key": rotated.json()["api_key"]},  # revoked
                        {"X-API-Key": first_key[:-3] + "zzz"},
                        {"Authorization": f"Bearer {BYOK}"},
                        {"Authorization": f"Bearer {JWT_SECRET}"},
                        {"Authorization": f"Basic {PASSWORD}"},
                        {"Authorization": f"Token {first_key}"}):
            r = await client.get("/tenants/me", headers=headers)
            assert r.status_code == 401, (headers, r.text)

        # the stored BYOK key is ciphertext that only the key ring opens
        async with client.app.state.ctx.db.session() as s:
            tenant = (await s.execute(select(Tenant).where(Tenant.email == EMAIL))).scalar_one()
            assert tenant.openai_key_encrypted and BYOK not in tenant.openai_key_encrypted
            assert tenant.openai_key_encrypted.startswith("k0:")
            assert client.app.state.ctx.keys.box.decrypt(tenant.openai_key_encrypted, aad=tenant.id) == BYOK
            assert tenant.openai_key_last4 == BYOK[-4:]
            raw_column = (await s.execute(text("SELECT openai_key_encrypted FROM tenants WHERE id = :i"),
                                          {"i": tenant.id})).scalar_one()
            assert raw_column == tenant.openai_key_encrypted
        db_text = await _db_text(client)
    finally:
        root.removeHandler(json_handler)

    planted = {"password": PASSWORD, "wrong password": WRONG_PASSWORD, "JWT secret": JWT_SECRET,
               "master secret": SECRET_KEY, "BYOK key": BYOK, "rejected BYOK key": REJECTED_BYOK}
    planted.update({f"API key …{k[-4:]}": k for k in issued})
    assert len(issued) == 3

    log_text = "\n".join(_record_text(r) for r in caplog.records)
    json_text = json_out.getvalue()
    mail_text = "\n".join(m.as_string() for m in mailbox.messages)
    # the capture is real: every request was logged, SQL at DEBUG included, and seen as JSON
    assert len(rec.responses) >= 30
    assert log_text.count("pricewise.access") >= len(rec.responses)
    assert "PUT /tenants/settings 422" in log_text and "GET /tenants/me 401" in log_text
    assert "INSERT INTO api_keys" in log_text and "UPDATE tenants SET openai_key_encrypted" in log_text
    assert json_text.count('"logger": "pricewise.access"') == len(rec.responses)
    assert not [r for r in rec.responses if r.status_code >= 500]

    for label, secret in planted.items():
        assert secret not in log_text, f"{label} found in a log record"
        assert secret not in json_text, f"{label} found in the JSON log"
        assert secret not in mail_text, f"{label} found in an e-mail"
        assert secret not in db_text, f"{label} found in the database"
        shown = [Recorder.dump(r) for r in rec.responses if secret in Recorder.dump(r)]
        if secret in issued:  # an API key is shown once, in the body of the response that issued it
            assert shown == [Recorder.dump(issued[secret])], f"{label} shown {len(shown)} times"
            assert secret in issued[secret].text and secret not in str(issued[secret].headers)
        else:
            assert not shown, f"{label} found in a response: {shown[0][:300]}"
