"""Publishable keys, allowed origins, branding and GET /widget/config."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from pricewise.accounts.models import ApiKey
from pricewise.core.base import utcnow
from pricewise.core.security import sha256
from pricewise.widget.models import WidgetSession
from tests.support import signup
from tests.widget.support import SITE, as_widget, open_session, widget_tenant


async def test_config_gives_branding_and_a_hashed_24h_session(client, mailbox):
    t = await widget_tenant(client, mailbox, "pro@example.com", tier="pro")
    r = await client.get("/widget/config", params={"api_key": t.publishable_key}, headers={"Origin": SITE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["branding"] == {"logo_url": "https://cdn.example.com/logo.png", "primary_color": "#FF5733",
                                "button_text": "Price my project", "badge": False}
    assert r.headers["access-control-allow-origin"] == SITE and r.headers["cache-control"] == "no-store"
    token = body["session_token"]
    async with client.app.state.ctx.db.session() as s:
        rows = (await s.execute(select(WidgetSession))).scalars().all()
    assert len(rows) == 1 and rows[0].token_hash == sha256(token) and token not in repr(rows[0].__dict__)
    row = rows[0]
    assert row.origin == SITE and row.tenant_id == t.account.tenant_id
    assert row.widget_config_snapshot["primary_color"] == "#FF5733"
    assert timedelta(hours=23, minutes=59) < row.expires_at - row.created_at <= timedelta(hours=24, minutes=1)


async def test_trial_tenants_get_their_branding_with_the_badge(client, mailbox):
    t = await widget_tenant(client, mailbox, "trial@example.com", tier="trial")
    r = await client.get("/widget/config", params={"api_key": t.publishable_key}, headers={"Origin": SITE})
    assert r.json()["branding"]["badge"] is True and r.json()["branding"]["button_text"] == "Price my project"


async def test_config_refusals_are_clear_and_never_echo_a_key(client, mailbox):
    t = await widget_tenant(client, mailbox, "refuse@example.com")
    cases = [
        ({}, {"Origin": SITE}, 401, "widget_key_missing"),
        ({"api_key": t.account.api_key}, {"Origin": SITE}, 422, "secret_key_refused"),
        ({"api_key": "efofx_pk_" + "x" * 43}, {"Origin": SITE}, 401, "widget_key_unknown"),
        ({"api_key": t.publishable_key}, {}, 403, "origin_missing"),
        ({"api_key": t.publishable_key}, {"Origin": "https://evil.example.com"}, 403, "origin_not_allowed"),
        ({"api_key": t.publishable_key}, {"Origin": "http://shop.example.com"}, 403, "origin_not_allowed"),
    ]
    for params, headers, status, code in cases:
        r = await client.get("/widget/config", params=params, headers=headers)
        assert r.status_code == status, (params, r.text)
        assert r.json()["error"]["code"] == code
        assert t.account.api_key not in r.text and t.publishable_key not in r.text
        assert "access-control-allow-origin" not in r.headers
    async with client.app.state.ctx.db.session() as s:
        assert (await s.execute(select(WidgetSession))).first() is None


async def test_revoked_key_and_deactivated_tenant_are_refused(client, mailbox):
    t = await widget_tenant(client, mailbox, "gone@example.com")
    token = await open_session(client, t.publishable_key)
    r = await client.delete(f"/tenants/widget/keys/{t.key_id}", headers=t.admin)
    assert r.status_code == 200 and r.json()["revoked_at"].endswith("Z")
    r = await client.get("/widget/config", params={"api_key": t.publishable_key}, headers={"Origin": SITE})
    assert r.status_code == 401 and r.json()["error"]["code"] == "widget_key_revoked"
    key = (await client.post("/tenants/widget/keys", headers=t.admin)).json()["api_key"]
    assert (await client.post("/tenants/deactivate", headers=t.admin)).status_code == 200
    r = await client.get("/widget/config", params={"api_key": key}, headers={"Origin": SITE})
    assert r.status_code == 403 and r.json()["error"]["code"] == "tenant_deactivated"
    # A session opened before the deactivation stops working too.
    r = await client.post("/chat/send", json={"message": "a pool"}, headers=as_widget(token))
    assert r.status_code == 403 and r.json()["error"]["code"] == "tenant_deactivated"


async def test_rotation_keeps_the_old_key_for_the_overlap_only(make_client, mailbox):
    client = await make_client(api_key_rotation_overlap_hours=1)
    t = await widget_tenant(client, mailbox, "rot@example.com")
    r = await client.post(f"/tenants/widget/keys/{t.key_id}/rotate", headers=t.admin)
    assert r.status_code == 201, r.text
    new = r.json()["api_key"]
    assert new.startswith("efofx_pk_") and new != t.publishable_key
    for key in (t.publishable_key, new):
        await open_session(client, key)
    async with client.app.state.ctx.db.session() as s:
        old = (await s.execute(select(ApiKey).where(ApiKey.id == t.key_id))).scalar_one()
        old.expires_at = utcnow() - timedelta(seconds=1)
        await s.commit()
    r = await client.get("/widget/config", params={"api_key": t.publishable_key}, headers={"Origin": SITE})
    assert r.status_code == 401
    keys = (await client.get("/tenants/widget/keys", headers=t.admin)).json()
    assert {k["masked_key"][:9] for k in keys} == {"efofx_pk_"} and len(keys) == 2
    assert all(new not in k["masked_key"] for k in keys)
    # Publishable keys are not among the secret API keys, and the secret-key routes leave them alone.
    secret = (await client.get("/api-keys", headers=t.admin)).json()
    assert all(not k["masked_key"].startswith("efofx_pk_") for k in secret)
    r = await client.post(f"/api-keys/{keys[1]['id']}/rotate", headers=t.admin)
    assert r.status_code == 409


async def test_a_publishable_key_or_a_session_token_authenticates_nothing_else(client, mailbox):
    t = await widget_tenant(client, mailbox, "nothing@example.com")
    token = await open_session(client, t.publishable_key)
    for headers in ({"X-API-Key": t.publishable_key}, {"Authorization": f"Bearer {t.publishable_key}"},
                    {"X-API-Key": token}, {"Authorization": f"Bearer {token}"}, as_widget(token)):
        for path in ("/tenants/me", "/estimates", "/leads", "/tenants/widget/keys"):
            r = await client.get(path, headers=headers)
            assert r.status_code == 401, (path, headers, r.text)
    r = await client.post("/estimate/start", json={"description": "a pool"}, headers=as_widget(token))
    assert r.status_code == 401


async def test_settings_are_validated_and_admin_only(client, mailbox):
    t = await widget_tenant(client, mailbox, "valid@example.com")
    bad = [{"allowed_origins": ["https://shop.example.com/path"]}, {"allowed_origins": ["*"]},
           {"allowed_origins": ["https://*.example.com"]}, {"allowed_origins": ["ftp://shop.example.com"]},
           {"allowed_origins": ["https://user@shop.example.com"]}, {"allowed_origins": ["https://x.com?a=1"]},
           {"allowed_origins": [f"https://s{i}.example.com" for i in range(21)]},
           {"branding": {"primary_color": "red"}}, {"branding": {"logo_url": "javascript:alert(1)"}},
           {"branding": {"button_text": "x" * 41}}, {"branding": {"button_text": "a\x00b"}}, {"other": 1}]
    for body in bad:
        r = await client.put("/tenants/widget", json=body, headers=t.admin)
        assert r.status_code == 422, (body, r.text)
    r = await client.put("/tenants/widget", headers=t.admin, json={
        "allowed_origins": ["HTTPS://Shop.Example.com:443", "http://localhost:8080/", "http://127.0.0.1:8080"]})
    assert r.status_code == 200, r.text
    assert r.json()["allowed_origins"] == ["https://shop.example.com", "http://localhost:8080",
                                           "http://127.0.0.1:8080"]
    assert r.json()["branding"]["button_text"] == "Price my project"  # untouched
    # 'localhost' and '127.0.0.1' are different origins: each must be listed.
    await open_session(client, t.publishable_key, "http://localhost:8080")
    r = await client.get("/widget/config", params={"api_key": t.publishable_key},
                         headers={"Origin": "http://localhost:8081"})
    assert r.status_code == 403
    analyst = (await client.post("/api-keys", json={"name": "ci", "role": "analyst"}, headers=t.admin)).json()
    for method in ("GET", "PUT"):
        r = await client.request(method, "/tenants/widget", json={"allowed_origins": []},
                                 headers={"X-API-Key": analyst["api_key"]})
        assert r.status_code == 403, r.text
    assert (await client.post("/tenants/widget/keys", headers={"X-API-Key": analyst["api_key"]})).status_code == 403
    assert (await client.get("/tenants/widget")).status_code == 401
    # Another tenant's admin sees only its own (empty) settings.
    other = await signup(client, mailbox, "other-tenant@example.com")
    assert (await client.get("/tenants/widget", headers=other.key_headers)).json()["allowed_origins"] == []
    r = await client.delete(f"/tenants/widget/keys/{t.key_id}", headers=other.key_headers)
    assert r.status_code == 404
