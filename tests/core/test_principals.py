"""Authentication stays exact while the per-request look-up gets cheaper: changes to keys made
anywhere take effect on the next request, PostgreSQL sessions stay behind row-level security in
every transaction, and dropped database connections are replaced without failing requests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from pricewise.accounts.auth import authenticate, make_api_key
from pricewise.accounts.models import ApiKey, Tenant, User
from pricewise.app import create_app
from pricewise.core.base import utcnow
from pricewise.core.context import AppContext
from pricewise.core.ids import new_id
from pricewise.core.principals import AUTH_TABLES
from pricewise.core.tenancy import APP_ROLE, bind
from tests.conftest import PG_ADMIN_URL, _truncate, make_settings
from tests.support import Mailbox, signup

# What another API process (serve --workers N), a job worker or the CLI does: its own engine,
# its own session, the ORM.
REVOKE_ELSEWHERE = """
import asyncio, sys
from sqlalchemy import select
import pricewise.models
from pricewise.accounts.models import ApiKey
from pricewise.core.base import utcnow
from pricewise.core.db import Database

async def main(url, key_id):
    db = Database(url)
    async with db.session() as s:
        key = (await s.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one()
        key.revoked_at = utcnow()
        await s.commit()
    await db.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_the_invalidation_watches_the_tables_a_principal_is_read_from() -> None:
    assert {Tenant.__tablename__, User.__tablename__, ApiKey.__tablename__} == AUTH_TABLES


async def _key_in_use(client: httpx.AsyncClient, mailbox: Mailbox, email: str) -> tuple[Any, str, dict[str, str]]:
    acct = await signup(client, mailbox, email)
    created = await client.post("/api-keys", json={"name": "ci", "role": "analyst"}, headers=acct.bearer)
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["api_key"]}
    for _ in range(3):  # used again and again: this process knows the key by now
        assert (await client.get("/tenants/me", headers=key)).status_code == 200
    return acct, created.json()["id"], key


async def test_a_key_revoked_by_another_process_is_refused_on_the_next_request(make_client, mailbox):
    client = await make_client()
    acct, key_id, key = await _key_in_use(client, mailbox, "procs@tenant.example")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEWISE_")}
    subprocess.run([sys.executable, "-c", REVOKE_ELSEWHERE, client.app.state.ctx.settings.database_url, key_id],
                   env=env, check=True, capture_output=True, timeout=60)
    refused = await client.get("/tenants/me", headers=key)
    assert refused.status_code == 401 and refused.json()["error"]["message"] == "API key revoked or expired"
    assert (await client.get("/tenants/me", headers=acct.key_headers)).status_code == 200


async def test_a_key_revoked_by_a_bulk_update_is_refused_on_the_next_request(make_client, mailbox):
    client = await make_client()
    acct, key_id, key = await _key_in_use(client, mailbox, "bulk@tenant.example")
    async with client.app.state.ctx.db.session() as s:
        await s.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
        await s.commit()
    assert (await client.get("/tenants/me", headers=key)).status_code == 401
    assert (await client.get("/tenants/me", headers=acct.key_headers)).status_code == 200


async def test_a_rotated_key_and_its_successor_both_list_and_the_list_is_the_tenants_own(make_client, mailbox):
    client = await make_client()
    a = await signup(client, mailbox, "list-a@tenant.example")
    b = await signup(client, mailbox, "list-b@tenant.example", name="Other Co")
    first = (await client.get("/api-keys", headers=a.key_headers)).json()
    rotated = await client.post(f"/api-keys/{first[0]['id']}/rotate", headers=a.bearer)
    await client.post("/api-keys", json={"name": "ci", "role": "viewer"}, headers=a.bearer)
    listed = (await client.get("/api-keys", headers=a.key_headers)).json()
    assert [k["name"] for k in listed] == [first[0]["name"], rotated.json()["name"], "ci"]  # creation order
    assert listed[0]["expires_at"] is not None and listed[1]["masked_key"].endswith(rotated.json()["api_key"][-4:])
    assert "api_key" not in listed[1] and "key_hash" not in listed[1]
    theirs = (await client.get("/api-keys", headers=b.key_headers)).json()
    assert len(theirs) == 1 and theirs[0]["id"] not in {k["id"] for k in listed}


@pytest.fixture
async def two_tenants(pg_database: str) -> AsyncIterator[tuple[str, str, str]]:
    """PostgreSQL with tenants a and b, one admin key each; yields (a, b, b's raw key)."""
    await _truncate(pg_database)
    engine = create_async_engine(pg_database)
    raw_b = ""
    async with AsyncSession(engine) as s:
        ids = []
        for name in ("alpha", "beta"):
            tenant = Tenant(id=new_id(), name=name, email=f"{name}@wall.example", region_preferences=[],
                            branding={}, email_verified_at=utcnow())
            s.add(tenant)
            await s.flush()
            key, raw_b = make_api_key(tenant.id, "default", "admin")
            s.add(key)
            ids.append(tenant.id)
        await s.commit()
    await engine.dispose()
    yield ids[0], ids[1], raw_b


async def test_an_authenticated_session_is_behind_the_wall_in_every_transaction(
        two_tenants: tuple[str, str, str], pg_database: str, tmp_path: Path) -> None:
    """On PostgreSQL the key look-up also sets the transaction's role and tenant; a later
    transaction of the same session is bound again, never left with the owner's rights."""
    a, b, raw_b = two_tenants
    ctx = AppContext.build(make_settings(pg_database, tmp_path))
    try:
        async with ctx.db.session() as s:
            principal = await authenticate(s, ctx, raw_b)
            await bind(s, principal)
            assert principal.tenant_id == b
            assert (await s.execute(text("SELECT current_user"))).scalar_one() == APP_ROLE
            assert (await s.execute(select(Tenant.id))).scalars().all() == [b]
            await s.commit()
            assert sorted((await s.execute(select(Tenant.id))).scalars().all()) == sorted([a, b])  # owner again
            await s.commit()
            await bind(s, principal)
            assert (await s.execute(select(Tenant.id))).scalars().all() == [b]
            assert (await s.execute(select(ApiKey.tenant_id))).scalars().all() == [b]
            await s.rollback()
    finally:
        await ctx.db.dispose()


async def test_requests_keep_working_when_the_database_drops_the_apps_connections(
        pg_database: str, tmp_path: Path, mailbox: Mailbox) -> None:
    await _truncate(pg_database)
    settings = make_settings(pg_database, tmp_path, smtp_host="127.0.0.1", smtp_port=mailbox.port)
    app = create_app(settings, auth_mode="required")
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        acct = await signup(client, mailbox, "drop@tenant.example")
        for _ in range(3):
            assert (await client.get("/api-keys", headers=acct.key_headers)).status_code == 200
        admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:  # what a server restart does to every session
            pids = (await conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                {"db": pg_database.rsplit("/", 1)[1]})).scalars().all()
            assert pids
            ours = {"p": list(pids)}
            await conn.execute(text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:p AS int[])) AS pid"), ours)
            alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:p AS int[]))")
            for _ in range(200):  # until the server has hung up on every one of them
                if not (await conn.execute(alive, ours)).scalar_one():
                    break
                await asyncio.sleep(0.05)
        await admin.dispose()
        await asyncio.sleep(0.05)  # the app's event loop reads the hang-ups (it is idle meanwhile)
        for _ in range(3):
            r = await client.get("/api-keys", headers=acct.key_headers)
            assert r.status_code == 200, r.text
