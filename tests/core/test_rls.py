"""PostgreSQL row-level security, the second wall behind core.tenancy: in the restricted role a
transaction sees no tenant's rows until app.tenant_id is set, then only that tenant's, and it
cannot write rows of another tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine

from pricewise.accounts.auth import make_api_key
from pricewise.accounts.models import ApiKey, Invitation, Tenant, User
from pricewise.core.base import utcnow
from pricewise.core.ids import new_id
from pricewise.core.tenancy import APP_ROLE, Principal, bind
from pricewise.models import Base

TABLES = ("tenants", "users", "api_keys", "invitations", "refresh_tokens", "audit_log")


@dataclass
class Seeded:
    engine: AsyncEngine
    a: str
    b: str
    users: dict[str, int]  # tenant id -> number of users


async def _seed_tenant(session: AsyncSession, name: str, n_users: int) -> str:
    tenant = Tenant(id=new_id(), name=name, email=f"{name}@rls.example", region_preferences=[], branding={})
    session.add(tenant)
    await session.flush()
    for i in range(n_users):
        session.add(User(id=new_id(), tenant_id=tenant.id, email=f"{name}-{i}@rls.example",
                         password_hash="x", role="admin"))
    key, _ = make_api_key(tenant.id, "default", "admin")
    session.add(key)
    session.add(Invitation(id=new_id(), tenant_id=tenant.id, email=f"{name}-new@rls.example",
                           role="viewer", token_hash=new_id() + name, expires_at=utcnow()))
    await session.flush()
    return tenant.id


@pytest.fixture
async def seeded(pg_database: str) -> AsyncIterator[Seeded]:
    engine = create_async_engine(pg_database)
    async with engine.begin() as conn:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    async with AsyncSession(engine) as s:  # the owner role: RLS does not apply to it
        a = await _seed_tenant(s, "alpha", 2)
        b = await _seed_tenant(s, "beta", 3)
        await s.commit()
    yield Seeded(engine, a, b, {a: 2, b: 3})
    await engine.dispose()


async def _count(conn: AsyncConnection, table: str) -> int:
    return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_restricted_role_sees_nothing_without_a_tenant(seeded: Seeded) -> None:
    async with seeded.engine.connect() as conn:
        # as the owner every row is there (so the zeros below are the policy's doing)
        assert await _count(conn, "users") == 5 and await _count(conn, "tenants") == 2
        await conn.rollback()
        async with conn.begin() as tx:
            await conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
            assert (await conn.execute(text("SELECT current_user"))).scalar_one() == APP_ROLE
            for table in TABLES:
                assert await _count(conn, table) == 0, f"{table} visible without app.tenant_id"
            await tx.rollback()


async def test_only_the_bound_tenants_rows_are_visible(seeded: Seeded) -> None:
    async with seeded.engine.connect() as conn, conn.begin() as tx:
        await conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": seeded.a})
        assert await _count(conn, "users") == seeded.users[seeded.a]
        owners = set((await conn.execute(text(
            "SELECT tenant_id FROM users UNION SELECT tenant_id FROM api_keys "
            "UNION SELECT tenant_id FROM invitations"))).scalars())
        assert owners == {seeded.a}
        assert list((await conn.execute(text("SELECT id FROM tenants"))).scalars()) == [seeded.a]
        # updates and deletes cannot reach the other tenant's rows either
        hit = await conn.execute(text("UPDATE users SET name = 'taken' WHERE tenant_id = :b"),
                                 {"b": seeded.b})
        assert hit.rowcount == 0
        gone = await conn.execute(text("DELETE FROM api_keys WHERE tenant_id = :b"), {"b": seeded.b})
        assert gone.rowcount == 0
        await tx.rollback()
    async with seeded.engine.connect() as conn:
        assert await _count(conn, "api_keys") == 2


async def test_rows_of_another_tenant_cannot_be_written(seeded: Seeded) -> None:
    async with seeded.engine.connect() as conn, conn.begin() as tx:
        await conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": seeded.a})
        insert_b = text("INSERT INTO users (id, tenant_id, email, name, password_hash, role, is_active, "
                        "created_at, updated_at) VALUES (:id, :t, :e, '', 'x', 'admin', true, now(), now())")
        nested = await conn.begin_nested()
        with pytest.raises(DBAPIError, match="row-level security"):
            await conn.execute(insert_b, {"id": new_id(), "t": seeded.b, "e": "intruder@rls.example"})
        await nested.rollback()
        # moving one of A's rows to B is refused as well
        nested = await conn.begin_nested()
        with pytest.raises(DBAPIError, match="row-level security"):
            await conn.execute(text("UPDATE api_keys SET tenant_id = :b"), {"b": seeded.b})
        await nested.rollback()
        # while A's own rows are writable
        await conn.execute(insert_b, {"id": new_id(), "t": seeded.a, "e": "colleague@rls.example"})
        assert await _count(conn, "users") == seeded.users[seeded.a] + 1
        await tx.rollback()
    async with seeded.engine.connect() as conn:
        assert await _count(conn, "users") == 5


async def test_bind_puts_a_session_behind_the_wall(seeded: Seeded) -> None:
    """core.tenancy.bind, which every authenticated request goes through, is enough on its own:
    even a query that forgets the tenant filter sees only the bound tenant."""
    async with AsyncSession(seeded.engine) as s:
        await bind(s, Principal(tenant_id=seeded.b, role="admin", kind="user"))
        users = (await s.execute(select(User))).scalars().all()
        assert {u.tenant_id for u in users} == {seeded.b} and len(users) == seeded.users[seeded.b]
        assert (await s.execute(select(func.count()).select_from(ApiKey))).scalar_one() == 1
        assert (await s.execute(select(Tenant.id))).scalars().all() == [seeded.b]
        assert await s.get(Tenant, seeded.a) is None
        await s.rollback()
