"""Tenant lifecycle: deactivation (soft), reactivation, purge after retention, export/import.

Export and import walk every table that has a tenant_id column, so a new feature's tables are
included without touching this module.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.models import AuditLog, Tenant
from pricewise.core.base import Base, utcnow
from pricewise.core.errors import Conflict, NotFound
from pricewise.core.ids import new_id
from pricewise.core.tenancy import Principal, Scope, bind

FORMAT = "pricewise-tenant-export/1"


def tenant_tables() -> list[Table]:
    """Tables owned by a tenant, parents before children (the order inserts need)."""
    return [t for t in Base.metadata.sorted_tables if "tenant_id" in t.c and t.name != "audit_log"]


async def deactivate(session: AsyncSession, tenant: Tenant, retention_days: int) -> datetime:
    now = utcnow()
    if tenant.is_local:
        raise Conflict("the local workspace cannot be deactivated")
    tenant.is_active = False
    tenant.deactivated_at = tenant.deactivated_at or now
    tenant.deleted_at = tenant.deleted_at or now
    return tenant.deactivated_at + timedelta(days=retention_days)


async def reactivate(session: AsyncSession, tenant: Tenant) -> None:
    tenant.is_active = True
    tenant.deactivated_at = None
    tenant.deleted_at = None


async def find_tenant(session: AsyncSession, ref: str) -> Tenant:
    t = (await session.execute(select(Tenant).where((Tenant.id == ref) | (Tenant.email == ref.lower()))
                               )).scalar_one_or_none()
    if t is None:
        raise NotFound(f"tenant {ref} not found")
    return t


async def purge_tenant(session: AsyncSession, tenant_id: str) -> int:
    """Delete every row of the tenant (children first), then the tenant; one audit row says so."""
    removed = 0
    for table in reversed(tenant_tables()):
        result = await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
        removed += result.rowcount or 0  # type: ignore[attr-defined]
    tenants = Base.metadata.tables["tenants"]
    await session.execute(delete(tenants).where(tenants.c.id == tenant_id))
    session.add(AuditLog(id=new_id(), tenant_id=tenant_id, actor="system:retention", action="purge",
                         entity_type="Tenant", entity_id=tenant_id, old_values={"rows": removed},
                         created_at=utcnow()))
    return removed


async def purge_expired(session: AsyncSession, retention_days: int, now: datetime | None = None) -> list[str]:
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    ids = (await session.execute(select(Tenant.id).where(
        Tenant.is_active.is_(False), Tenant.deactivated_at.is_not(None),
        Tenant.deactivated_at <= cutoff))).scalars().all()
    for tid in ids:
        await purge_tenant(session, tid)
    return list(ids)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": value.astimezone(UTC).isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$date"}:
        return datetime.fromisoformat(value["$date"])
    return value


async def export_rows(session: AsyncSession, tenant_id: str) -> AsyncIterator[dict[str, Any]]:
    t = Base.metadata.tables["tenants"]
    row = (await session.execute(select(t).where(t.c.id == tenant_id))).mappings().first()
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found")
    yield {"format": FORMAT, "tenant_id": tenant_id}
    yield {"table": "tenants", "row": {k: _encode(v) for k, v in row.items()}}
    for table in tenant_tables():
        result = await session.stream(select(table).where(table.c.tenant_id == tenant_id)
                                      .order_by(*table.primary_key.columns))
        async for r in result.mappings():
            yield {"table": table.name, "row": {k: _encode(v) for k, v in r.items()}}


async def export_tenant(session: AsyncSession, tenant_id: str, path: str,
                        progress: Callable[[str], None] | None = None) -> int:
    n = 0
    # The CLI is the only caller; nothing else runs on this loop while it writes.
    with open(path, "w", encoding="utf-8") as fh:  # noqa: ASYNC230
        async for line in export_rows(session, tenant_id):
            fh.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
            if progress and "table" in line:
                progress(line["table"])
    return n - 1


async def import_tenant(session: AsyncSession, lines: list[str],
                        progress: Callable[[str], None] | None = None) -> tuple[str, int]:
    """Load an export into this database, all or nothing (the caller commits)."""
    if not lines:
        raise ValueError("empty export file")
    head = json.loads(lines[0])
    if head.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    tenant_id = head["tenant_id"]
    if (await session.execute(select(Tenant.id).where(Tenant.id == tenant_id))).first():
        raise Conflict(f"tenant {tenant_id} already exists here; purge it first or import elsewhere")
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    count = 0
    batch: dict[str, list[dict[str, Any]]] = {}
    order: list[str] = []
    for raw in lines[1:]:
        item = json.loads(raw)
        name = item["table"]
        if name not in tables:
            raise ValueError(f"unknown table {name} in export")
        row = {k: _decode(v) for k, v in item["row"].items()}
        owner = row.get("id") if name == "tenants" else row.get("tenant_id")
        if owner != tenant_id:
            raise ValueError(f"row of another tenant in {name}")
        if name not in batch:
            order.append(name)
        batch.setdefault(name, []).append(row)
    for name in sorted(order, key=lambda n: [t.name for t in Base.metadata.sorted_tables].index(n)):
        table = tables[name]
        valid = set(table.c.keys())
        rows = [{k: v for k, v in r.items() if k in valid} for r in batch[name]]
        for i in range(0, len(rows), 500):
            await session.execute(insert(table), rows[i:i + 500])
        count += len(rows)
        if progress:
            progress(name)
    session.add(AuditLog(id=new_id(), tenant_id=tenant_id, actor=str(session.info.get("actor", "system")),
                         action="import", entity_type="Tenant", entity_id=tenant_id,
                         new_values={"rows": count}, created_at=utcnow()))
    return tenant_id, count


async def operator_scope(session: AsyncSession, ref: str | None) -> Scope:
    """The scope a CLI command works in: the tenant named by id or e-mail, else the local one."""
    from pricewise.accounts.service import ensure_local_tenant

    tenant = await find_tenant(session, ref) if ref else await ensure_local_tenant(session)
    principal = Principal(tenant_id=tenant.id, role="admin", kind="cli", verified=True, tier=tenant.tier)
    await bind(session, principal)
    return Scope(session, principal)
