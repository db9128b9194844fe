"""Tenant settings (BYOK OpenAI key checked against a real OpenAI-compatible server, branding,
regions), invitations, roles."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from pricewise.accounts.models import AuditLog, Tenant, User
from tests.support import PASSWORD, Account, free_port, signup

GOOD_KEY = "sk-test-good-key-1234"


async def _stored_key(client: Any, tenant_id: str) -> tuple[str | None, str | None]:
    async with client.app.state.ctx.db.session() as s:
        row = (await s.execute(select(Tenant.openai_key_encrypted, Tenant.openai_key_last4)
                               .where(Tenant.id == tenant_id))).one()
    return row[0], row[1]


def _field_error(r: Any, field: str) -> str:
    assert r.status_code == 422, r.text
    fields = {f["field"]: f["message"] for f in r.json()["error"]["fields"]}
    assert field in fields, r.json()
    return fields[field]


async def test_byok_key_is_validated_encrypted_and_never_shown(make_client, mailbox, openai_stub):
    client = await make_client(openai_base_url=openai_stub.base_url)
    acct = await signup(client, mailbox, "owner@byok.example")

    r = await client.put("/tenants/settings", json={"openai_api_key": GOOD_KEY}, headers=acct.bearer)
    assert r.status_code == 200, r.text
    assert r.json()["openai_api_key"] == {"configured": True, "last4": "1234"}
    assert GOOD_KEY not in r.text
    me = await client.get("/tenants/me", headers=acct.key_headers)
    assert me.json()["openai_api_key"] == {"configured": True, "last4": "1234"} and GOOD_KEY not in me.text
    # the provider saw exactly one check, with this key
    assert openai_stub.requests == [{"path": "/v1/models", "key": GOOD_KEY}]

    token, last4 = await _stored_key(client, acct.tenant_id)
    assert token is not None and GOOD_KEY not in token and last4 == "1234"
    box = client.app.state.ctx.keys.box
    assert token.startswith(f"{box.current_kid}:")
    assert box.decrypt(token, aad=acct.tenant_id) == GOOD_KEY
    async with client.app.state.ctx.db.session() as s:
        audit = (await s.execute(select(AuditLog).where(AuditLog.entity_type == "Tenant",
                                                        AuditLog.action == "update"))).scalars().all()
    assert audit and all(GOOD_KEY not in str(a.new_values) + str(a.old_values) for a in audit)
    assert any((a.new_values or {}).get("openai_key_encrypted") == "***" for a in audit)

    # a key the provider rejects: 422 on the field, nothing changed
    bad = await client.put("/tenants/settings", json={"openai_api_key": "sk-test-revoked-9999"},
                           headers=acct.bearer)
    assert "rejected" in _field_error(bad, "openai_api_key")
    assert "sk-test-revoked-9999" not in bad.text
    assert await _stored_key(client, acct.tenant_id) == (token, "1234")

    too_short = await client.put("/tenants/settings", json={"openai_api_key": "sk-1"}, headers=acct.bearer)
    _field_error(too_short, "openai_api_key")

    # provider unreachable: 422, key kept; nothing else in the same request is applied either
    closed = await make_client(openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    down = await closed.put("/tenants/settings", headers=acct.bearer,
                            json={"openai_api_key": "sk-test-other-key-5555", "name": "Renamed"})
    assert "could not reach" in _field_error(down, "openai_api_key")
    assert await _stored_key(client, acct.tenant_id) == (token, "1234")
    assert (await client.get("/tenants/me", headers=acct.bearer)).json()["name"] == "Acme Pools"

    # "" removes the key
    removed = await client.put("/tenants/settings", json={"openai_api_key": ""}, headers=acct.bearer)
    assert removed.status_code == 200
    assert removed.json()["openai_api_key"] == {"configured": False, "last4": None}
    assert await _stored_key(client, acct.tenant_id) == (None, None)


async def test_byok_key_that_cannot_travel_in_a_header_is_refused(make_client, mailbox, openai_stub):
    client = await make_client(openai_base_url=openai_stub.base_url)
    acct = await signup(client, mailbox, "owner@byok-text.example")
    for key in ("sk-test-\x80-key-1234", "sk-test-ключ-1234", "sk-test key-1234", "sk-test-\tkey-1234"):
        r = await client.put("/tenants/settings", json={"openai_api_key": key, "name": "Renamed"},
                             headers=acct.bearer)
        assert "printable ASCII" in _field_error(r, "openai_api_key"), key
    assert openai_stub.requests == []  # refused before any call to the provider
    assert await _stored_key(client, acct.tenant_id) == (None, None)
    assert (await client.get("/tenants/me", headers=acct.bearer)).json()["name"] == "Acme Pools"


async def test_branding_and_regions_are_validated_per_field(make_client, mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "owner@brand.example")
    ok = await client.put("/tenants/settings", headers=acct.bearer, json={
        "branding": {"primary_color": "#ff5733", "logo_url": "https://cdn.example/logo.png"},
        "region_preferences": ["US-CA", "US-TX", "US-CA"]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["branding"] == {"primary_color": "#FF5733", "logo_url": "https://cdn.example/logo.png"}
    assert ok.json()["region_preferences"] == ["US-CA", "US-TX"]

    cases: list[tuple[dict[str, Any], str]] = [
        ({"branding": {"primary_color": "red"}}, "branding.primary_color"),
        ({"branding": {"primary_color": "#12345G"}}, "branding.primary_color"),
        ({"branding": {"logo_url": "javascript:alert(1)"}}, "branding.logo_url"),
        ({"branding": {"logo_url": "ftp://cdn.example/logo.png"}}, "branding.logo_url"),
        ({"branding": {"font": "Comic Sans"}}, "branding.font"),
        ({"region_preferences": "US-CA"}, "region_preferences"),
        ({"region_preferences": ["US-CA", ""]}, "region_preferences.1"),
        ({"region_preferences": [f"R{i}" for i in range(51)]}, "region_preferences"),
        ({"tier": "enterprise"}, "tier"),  # a tenant does not upgrade itself here
    ]
    for body, field in cases:
        r = await client.put("/tenants/settings", json={**body, "name": "Changed"}, headers=acct.bearer)
        _field_error(r, field)
    me = (await client.get("/tenants/me", headers=acct.bearer)).json()
    assert me["name"] == "Acme Pools" and me["tier"] == "trial"
    assert me["branding"] == ok.json()["branding"] and me["region_preferences"] == ["US-CA", "US-TX"]

    # a partial branding update keeps the other fields
    r = await client.put("/tenants/settings", json={"branding": {"widget_button_text": "Get a quote"}},
                         headers=acct.bearer)
    assert r.json()["branding"] == {"primary_color": "#FF5733", "logo_url": "https://cdn.example/logo.png",
                                    "widget_button_text": "Get a quote"}


async def _invite_and_join(client: Any, mailbox: Any, admin: Account, email: str, role: str) -> Account:
    r = await client.post("/invitations", json={"email": email, "role": role}, headers=admin.bearer)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == role and r.json()["accepted_at"] is None
    link = mailbox.link(email, "/auth/accept-invite")
    token = parse_qs(urlsplit(link).query)["token"][0]
    joined = await client.post("/auth/accept-invite", json={"token": token, "password": PASSWORD})
    assert joined.status_code == 201, joined.text
    assert joined.json()["role"] == role and joined.json()["email"] == email
    login = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    assert login.json()["role"] == role and login.json()["tenant_id"] == admin.tenant_id
    return Account(admin.tenant_id, "", email, PASSWORD, access_token=login.json()["access_token"])


async def test_invitation_roles_and_role_changes(make_client, mailbox):
    client = await make_client()
    admin = await signup(client, mailbox, "owner@team.example")

    # the link is single-use and needs a strong password
    r = await client.post("/invitations", json={"email": "weak@team.example", "role": "analyst"},
                          headers=admin.bearer)
    assert r.status_code == 201
    token = parse_qs(urlsplit(mailbox.link("weak@team.example", "/auth/accept-invite")).query)["token"][0]
    weak = await client.post("/auth/accept-invite", json={"token": token, "password": "password"})
    _field_error(weak, "password")
    assert (await client.post("/auth/accept-invite",
                              json={"token": token, "password": PASSWORD})).status_code == 201
    reused = await client.post("/auth/accept-invite", json={"token": token, "password": PASSWORD})
    _field_error(reused, "token")
    dup = await client.post("/invitations", json={"email": "weak@team.example", "role": "viewer"},
                            headers=admin.bearer)
    assert dup.status_code == 409

    analyst = await _invite_and_join(client, mailbox, admin, "analyst@team.example", "analyst")
    viewer = await _invite_and_join(client, mailbox, admin, "viewer@team.example", "viewer")

    assert (await client.get("/tenants/me", headers=analyst.bearer)).status_code == 200
    forbidden = await client.put("/tenants/settings", json={"name": "Mine now"}, headers=analyst.bearer)
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["error"]["message"]
    for who in (analyst, viewer):
        assert (await client.post("/api-keys", json={"name": "x"}, headers=who.bearer)).status_code == 403
        assert (await client.post("/invitations", json={"email": "z@team.example"},
                                  headers=who.bearer)).status_code == 403
    viewer_key = await client.post("/api-keys", json={"name": "ro", "role": "viewer"}, headers=admin.bearer)
    as_key = {"X-API-Key": viewer_key.json()["api_key"]}
    assert (await client.post("/api-keys", json={"name": "x"}, headers=as_key)).status_code == 403
    assert (await client.get("/users", headers=as_key)).status_code == 200
    assert (await client.get("/tenants/me", headers=admin.bearer)).json()["name"] == "Acme Pools"

    users = {u["email"]: u for u in (await client.get("/users", headers=admin.bearer)).json()}
    assert {u["role"] for u in users.values()} == {"admin", "analyst", "viewer"}

    # promotion takes effect on the next request, with the same token
    promoted = await client.patch(f"/users/{users['analyst@team.example']['id']}", json={"role": "admin"},
                                  headers=admin.bearer)
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    assert (await client.put("/tenants/settings", json={"name": "Renamed"},
                             headers=analyst.bearer)).status_code == 200
    demoted = await client.patch(f"/users/{users['analyst@team.example']['id']}", json={"role": "viewer"},
                                 headers=admin.bearer)
    assert demoted.json()["role"] == "viewer"
    assert (await client.put("/tenants/settings", json={"name": "Again"},
                             headers=analyst.bearer)).status_code == 403

    # an admin cannot demote, deactivate or delete themselves
    me = users["owner@team.example"]
    for change in ({"role": "analyst"}, {"role": "viewer"}, {"is_active": False}):
        r = await client.patch(f"/users/{me['id']}", json=change, headers=admin.bearer)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["fields"][0]["field"] == "role"
    assert (await client.delete(f"/users/{me['id']}", headers=admin.bearer)).status_code == 422
    async with client.app.state.ctx.db.session() as s:
        row = (await s.execute(select(User).where(User.id == me["id"]))).scalar_one()
    assert (row.role, row.is_active, row.deleted_at) == ("admin", True, None)

    # deactivating another user locks them out at once
    off = await client.patch(f"/users/{users['viewer@team.example']['id']}", json={"is_active": False},
                             headers=admin.bearer)
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert (await client.get("/tenants/me", headers=viewer.bearer)).status_code == 401
    assert (await client.post("/auth/login", json={"email": viewer.email,
                                                   "password": PASSWORD})).status_code == 401


async def test_a_revoked_invitation_link_stops_working(make_client, mailbox):
    client = await make_client()
    admin = await signup(client, mailbox, "lead@team.example")
    other = await signup(client, mailbox, "else@other.example", name="Other")
    r = await client.post("/invitations", json={"email": "late@team.example", "role": "analyst"},
                          headers=admin.bearer)
    invite_id = r.json()["id"]
    token = parse_qs(urlsplit(mailbox.link("late@team.example", "/auth/accept-invite")).query)["token"][0]
    assert (await client.delete(f"/invitations/{invite_id}", headers=other.bearer)).status_code == 404
    r = await client.delete(f"/invitations/{invite_id}", headers=admin.bearer)
    assert r.status_code == 200 and r.json()["revoked_at"]
    refused = await client.post("/auth/accept-invite", json={"token": token, "password": PASSWORD})
    _field_error(refused, "token")
    listed = (await client.get("/invitations", headers=admin.bearer)).json()
    assert [i["revoked_at"] is not None for i in listed] == [True]
    # an accepted invitation is not revoked: the user is removed instead
    await _invite_and_join(client, mailbox, admin, "kept@team.example", "viewer")
    accepted = next(i for i in (await client.get("/invitations", headers=admin.bearer)).json()
                    if i["email"] == "kept@team.example")
    r = await client.delete(f"/invitations/{accepted['id']}", headers=admin.bearer)
    assert r.status_code == 409
