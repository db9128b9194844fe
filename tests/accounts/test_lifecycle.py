"""Tenant lifecycle: deactivation shuts every credential out, reactivation brings everything back,
and the retention purge removes a tenant's rows only once the window has passed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from pricewise.accounts import lifecycle, tasks
from pricewise.accounts.models import AuditLog, Tenant
from pricewise.core.base import Base, utcnow
from pricewise.core.db import commit
from tests.support import PASSWORD, Account, signup


def _owned_tables() -> list[Any]:
    return [Base.metadata.tables["tenants"], *lifecycle.tenant_tables()]


async def _rows_of(client: Any, tenant_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row a tenant owns, table by table (the audit log is kept apart, as designed)."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with client.app.state.ctx.db.session() as s:
        for table in _owned_tables():
            owner = table.c.id if table.name == "tenants" else table.c.tenant_id
            rows = await s.execute(select(table).where(owner == tenant_id).order_by(table.c.id))
            out[table.name] = [dict(r._mapping) for r in rows]
    return out


async def _deactivated_at(client: Any, tenant_id: str) -> datetime:
    async with client.app.state.ctx.db.session() as s:
        when = (await s.execute(select(Tenant.deactivated_at).where(Tenant.id == tenant_id))).scalar_one()
    assert when is not None
    return when


async def _set_deactivated_at(client: Any, tenant_id: str, when: datetime) -> None:
    async with client.app.state.ctx.db.session() as s:
        await s.execute(update(Tenant).where(Tenant.id == tenant_id).values(deactivated_at=when))
        await s.commit()


async def _full_account(client: Any, mailbox: Any, email: str) -> tuple[Account, str]:
    """A verified tenant with a second API key (role analyst)."""
    acct = await signup(client, mailbox, email)
    extra = await client.post("/api-keys", json={"name": "ci", "role": "analyst"}, headers=acct.bearer)
    assert extra.status_code == 201, extra.text
    return acct, extra.json()["api_key"]


async def test_deactivate_shuts_out_keys_and_tokens_and_reactivate_restores_all(make_client, mailbox):
    client = await make_client()
    a, a_ci_key = await _full_account(client, mailbox, "owner@a.example")
    b = await signup(client, mailbox, "owner@b.example", name="Other Co")
    # a viewer may not do it
    viewer = await client.post("/api-keys", json={"name": "ro", "role": "viewer"}, headers=a.bearer)
    refused = await client.post("/tenants/deactivate", headers={"X-API-Key": viewer.json()["api_key"]})
    assert refused.status_code == 403
    assert (await client.get("/tenants/me", headers=a.key_headers)).json()["is_active"] is True

    users = (await client.get("/users", headers=a.bearer)).json()
    keys = (await client.get("/api-keys", headers=a.bearer)).json()
    assert len(keys) == 3
    before = await _rows_of(client, a.tenant_id)

    r = await client.post("/tenants/deactivate", headers=a.bearer)
    assert r.status_code == 200, r.text
    purge_after = datetime.fromisoformat(r.json()["purge_after"].replace("Z", "+00:00"))
    assert abs(purge_after - (utcnow() + timedelta(days=90))) < timedelta(minutes=5)

    for headers in (a.key_headers, {"X-API-Key": a_ci_key}, a.bearer,
                    {"Authorization": f"Bearer {a.api_key}"}):
        me = await client.get("/tenants/me", headers=headers)
        assert me.status_code == 401, (headers, me.text)
        assert (await client.get("/users", headers=headers)).status_code == 401
    login = await client.post("/auth/login", json={"email": a.email, "password": PASSWORD})
    assert login.status_code == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": a.refresh_token})).status_code == 401
    # the other tenant does not notice
    assert (await client.get("/tenants/me", headers=b.key_headers)).status_code == 200
    assert (await client.get("/tenants/me", headers=b.bearer)).status_code == 200

    # nothing was deleted while deactivated
    during = await _rows_of(client, a.tenant_id)
    for table in ("users", "api_keys", "refresh_tokens", "invitations"):
        assert during[table] == before[table], table

    async with client.app.state.ctx.db.session() as s:
        await lifecycle.reactivate(s, await lifecycle.find_tenant(s, a.email))
        await commit(s)

    for headers in (a.key_headers, {"X-API-Key": a_ci_key}, a.bearer):
        assert (await client.get("/tenants/me", headers=headers)).status_code == 200
    me = (await client.get("/tenants/me", headers=a.key_headers)).json()
    assert me["is_active"] is True and me["email_verified"] is True
    assert (await client.get("/users", headers=a.bearer)).json() == users
    assert (await client.get("/api-keys", headers=a.bearer)).json() == keys
    after = await _rows_of(client, a.tenant_id)
    for table in ("users", "api_keys", "invitations"):
        assert after[table] == before[table], table
    login = await client.post("/auth/login", json={"email": a.email, "password": PASSWORD})
    assert login.status_code == 200


async def test_purge_waits_for_the_retention_window_then_removes_every_row(make_client, mailbox):
    client = await make_client()
    a, _ = await _full_account(client, mailbox, "owner@a.example")
    b, _ = await _full_account(client, mailbox, "owner@b.example")
    assert (await client.post("/invitations", json={"email": "new@a.example", "role": "viewer"},
                              headers=a.bearer)).status_code == 201
    assert (await client.post("/tenants/deactivate", headers=a.bearer)).status_code == 200
    a_rows = await _rows_of(client, a.tenant_id)
    assert all(a_rows[t] for t in ("tenants", "users", "api_keys", "refresh_tokens", "invitations"))
    b_rows = await _rows_of(client, b.tenant_id)
    deactivated = await _deactivated_at(client, a.tenant_id)

    async with client.app.state.ctx.db.session() as s:
        assert await lifecycle.purge_expired(s, 90, now=deactivated + timedelta(days=89)) == []
        await commit(s)
    assert await _rows_of(client, a.tenant_id) == a_rows

    async with client.app.state.ctx.db.session() as s:
        purged = await lifecycle.purge_expired(s, 90, now=deactivated + timedelta(days=91))
        await commit(s)
    assert purged == [a.tenant_id]
    gone = await _rows_of(client, a.tenant_id)
    assert gone == {t: [] for t in gone}, "rows of the purged tenant remain"
    assert await _rows_of(client, b.tenant_id) == b_rows
    assert (await client.get("/tenants/me", headers=b.key_headers)).status_code == 200
    assert (await client.get("/tenants/me", headers=a.key_headers)).status_code == 401
    async with client.app.state.ctx.db.session() as s:
        purges = (await s.execute(select(AuditLog).where(AuditLog.action == "purge"))).scalars().all()
    assert len(purges) == 1
    assert (purges[0].tenant_id, purges[0].entity_type, purges[0].entity_id) == \
        (a.tenant_id, "Tenant", a.tenant_id)
    assert purges[0].actor == "system:retention"
    assert purges[0].old_values == {"rows": sum(len(v) for k, v in a_rows.items() if k != "tenants")}

    # a second run has nothing left to do
    async with client.app.state.ctx.db.session() as s:
        assert await lifecycle.purge_expired(s, 90, now=deactivated + timedelta(days=400)) == []
        await commit(s)


async def test_purge_job_honours_the_configured_retention(make_client, mailbox):
    client = await make_client(tenant_retention_days=30)
    old = await signup(client, mailbox, "old@a.example")
    recent = await signup(client, mailbox, "recent@b.example")
    active = await signup(client, mailbox, "active@c.example")
    for acct in (old, recent):
        assert (await client.post("/tenants/deactivate", headers=acct.bearer)).status_code == 200
    now = utcnow()
    await _set_deactivated_at(client, old.tenant_id, now - timedelta(days=31))
    await _set_deactivated_at(client, recent.tenant_id, now - timedelta(days=29))

    uploads = client.app.state.ctx.settings.var_dir / "uploads"
    for acct in (old, recent):  # files of uploads still waiting for ingestion
        (uploads / acct.tenant_id).mkdir(parents=True, exist_ok=True)
        (uploads / acct.tenant_id / "6b0000000000000000000001").write_bytes(b"%PDF-1.4 waiting")

    assert await tasks._purge(client.app.state.ctx) == [old.tenant_id]
    assert not (uploads / old.tenant_id).exists()  # gone with the tenant's rows
    assert (uploads / recent.tenant_id / "6b0000000000000000000001").exists()

    async with client.app.state.ctx.db.session() as s:
        left = set((await s.execute(select(Tenant.id))).scalars())
        purge_rows = (await s.execute(select(func.count()).select_from(AuditLog)
                                      .where(AuditLog.action == "purge"))).scalar_one()
    assert left == {recent.tenant_id, active.tenant_id}
    assert purge_rows == 1
    # the recently deactivated tenant can still come back
    async with client.app.state.ctx.db.session() as s:
        await lifecycle.reactivate(s, await lifecycle.find_tenant(s, recent.tenant_id))
        await commit(s)
    assert (await client.get("/tenants/me", headers=recent.key_headers)).status_code == 200
    assert (await client.get("/tenants/me", headers=active.key_headers)).status_code == 200
