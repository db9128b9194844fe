"""Registration, e-mail verification, login, refresh rotation, API keys."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from pricewise.accounts.models import ApiKey, AuditLog, Tenant
from tests.support import PASSWORD, signup


async def test_register_returns_key_once_and_stores_only_hash(make_client, mailbox):
    client = await make_client()
    r = await client.post("/tenants/register", json={"name": "Acme Contractors", "email": "Admin@Acme.com",
                                                     "password": PASSWORD, "tier": "trial"})
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"tenant_id", "api_key", "message"}
    assert re.fullmatch(r"[0-9a-f]{24}", body["tenant_id"])
    assert body["api_key"].startswith("efofx_") and len(body["api_key"]) > 30
    assert body["message"] == "Account created. Verify email to activate."
    async with client.app.state.ctx.db.session() as s:
        keys = (await s.execute(select(ApiKey))).scalars().all()
        assert len(keys) == 1 and body["api_key"] not in keys[0].key_hash
        assert len(keys[0].key_hash) == 64
        tenant = (await s.execute(select(Tenant))).scalar_one()
        assert tenant.email == "admin@acme.com" and tenant.email_verified_at is None
    # the key works, and the tenant reads its own data
    me = await client.get("/tenants/me", headers={"X-API-Key": body["api_key"]})
    assert me.status_code == 200 and me.json()["email_verified"] is False
    assert me.json()["tenant_id"] == body["tenant_id"]
    # listing keys shows only the masked form
    keys = await client.get("/api-keys", headers={"Authorization": f"Bearer {body['api_key']}"})
    assert keys.status_code == 200
    assert body["api_key"] not in keys.text and keys.json()[0]["masked_key"].endswith(body["api_key"][-4:])


async def test_unverified_tenant_is_read_only_until_link_clicked(make_client, mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "owner@pools.example", verify=False)
    blocked = await client.post("/api-keys", json={"name": "ci"}, headers=acct.key_headers)
    assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "email_not_verified"
    link = mailbox.link("owner@pools.example", "/auth/verify-email")
    assert (await client.get(link.replace("http://testserver", ""))).status_code == 200
    ok = await client.post("/api-keys", json={"name": "ci"}, headers=acct.key_headers)
    assert ok.status_code == 201, ok.text
    # a tampered link is refused
    bad = await client.get("/auth/verify-email", params={"token": link.split("token=")[1][:-3] + "abc"})
    assert bad.status_code == 422 and "token" in bad.text


async def test_login_jwt_claims_and_refresh_rotation(make_client, mailbox):
    import jwt

    client = await make_client()
    acct = await signup(client, mailbox, "a@tenant.example")
    claims = jwt.decode(acct.access_token, options={"verify_signature": False})
    assert claims["tid"] == acct.tenant_id and claims["role"] == "admin" and claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] <= 15 * 60
    assert (await client.get("/tenants/me", headers=acct.bearer)).status_code == 200

    r1 = await client.post("/auth/refresh", json={"refresh_token": acct.refresh_token})
    assert r1.status_code == 200
    new_refresh = r1.json()["refresh_token"]
    assert new_refresh != acct.refresh_token
    # replaying the spent token revokes the whole family, including the new one
    replay = await client.post("/auth/refresh", json={"refresh_token": acct.refresh_token})
    assert replay.status_code == 401
    after = await client.post("/auth/refresh", json={"refresh_token": new_refresh})
    assert after.status_code == 401

    wrong = await client.post("/auth/login", json={"email": "a@tenant.example", "password": "Wrong-pass-99"})
    unknown = await client.post("/auth/login",
                                json={"email": "nobody@x.example", "password": "Wrong-pass-99"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]


async def test_api_key_rotation_overlap_and_revoke(make_client, mailbox):
    client = await make_client(api_key_rotation_overlap_hours=1)
    acct = await signup(client, mailbox, "rot@tenant.example")
    keys = (await client.get("/api-keys", headers=acct.bearer)).json()
    rotated = await client.post(f"/api-keys/{keys[0]['id']}/rotate", headers=acct.bearer)
    assert rotated.status_code == 201
    new_key = rotated.json()["api_key"]
    # both work during the overlap window
    assert (await client.get("/tenants/me", headers={"X-API-Key": acct.api_key})).status_code == 200
    assert (await client.get("/tenants/me", headers={"X-API-Key": new_key})).status_code == 200
    listed = (await client.get("/api-keys", headers=acct.bearer)).json()
    old = next(k for k in listed if k["id"] == keys[0]["id"])
    assert old["expires_at"] is not None
    # past the window the old key is refused: move its expiry into the past
    async with client.app.state.ctx.db.session() as s:
        from pricewise.core.base import utcnow

        row = await s.get(ApiKey, keys[0]["id"])
        row.expires_at = utcnow()
        await s.commit()
    assert (await client.get("/tenants/me", headers={"X-API-Key": acct.api_key})).status_code == 401
    revoke = await client.delete(f"/api-keys/{rotated.json()['id']}", headers=acct.bearer)
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
    assert (await client.get("/tenants/me", headers={"X-API-Key": new_key})).status_code == 401


async def test_every_mutation_is_audited_with_secrets_masked(make_client, mailbox):
    client = await make_client()
    acct = await signup(client, mailbox, "audit@tenant.example")
    await client.post("/api-keys", json={"name": "reporting", "role": "viewer"}, headers=acct.bearer)
    async with client.app.state.ctx.db.session() as s:
        rows = (await s.execute(select(AuditLog).where(AuditLog.tenant_id == acct.tenant_id)
                                .order_by(AuditLog.created_at))).scalars().all()
        kinds = {(r.action, r.entity_type) for r in rows}
        assert {("create", "Tenant"), ("create", "User"), ("create", "ApiKey"), ("update", "User")} <= kinds
        user_row = next(r for r in rows if r.entity_type == "User" and r.action == "create")
        assert user_row.new_values["password_hash"] == "***"
        key_rows = [r for r in rows if r.entity_type == "ApiKey"]
        assert all(r.new_values["key_hash"] == "***" for r in key_rows)
        assert any(r.actor.startswith("user:") for r in key_rows)
        assert (await s.execute(select(func.count()).select_from(AuditLog))).scalar_one() >= 5
