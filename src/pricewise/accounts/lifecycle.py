"""Tenant lifecycle: deactivation (soft), reactivation, purge after retention, export/import.

Export and import walk every table that has a tenant_id column, so a new feature's tables are
included without touching this module. An export is JSON lines: a header (format, tenant, number
of rows, the platform reference classes by id and name), then one row a line, read in one snapshot.
An import is all or nothing; it finds the platform classes the rows name by name, and lets the
database renumber integer keys nothing refers to when it already has rows of its own.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Integer, Table, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.models import AuditLog, Tenant
from pricewise.core.base import Base, utcnow
from pricewise.core.crypto import CryptoError, SecretBox
from pricewise.core.errors import Conflict, NotFound
from pricewise.core.ids import new_id
from pricewise.core.tenancy import Principal, Scope, bind

FORMAT = "pricewise-tenant-export/2"
# Files from before the header counted rows: still read, but nothing tells whether they are whole.
LEGACY_FORMAT = "pricewise-tenant-export/1"


def tenant_tables() -> list[Table]:
    """Tables owned by a tenant, parents before children (the order inserts need)."""
    import pricewise.models  # noqa: F401  (every feature's tables, not only those imported so far)

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


# --- export / import ----------------------------------------------------------------------
# Values JSON cannot carry are tagged: {"$date": iso} (UTC), {"$day": iso}, {"$decimal": text},
# {"$bytes": base64}. Tags are read back only in columns that are not JSON, so a tenant's own JSON
# that happens to look like a tag stays as it was.

def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": value.astimezone(UTC).isoformat()}
    if isinstance(value, date):
        return {"$day": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    return value


_DECODERS: dict[str, Callable[[str], Any]] = {
    "$date": datetime.fromisoformat, "$day": date.fromisoformat, "$decimal": Decimal,
    "$bytes": lambda raw: base64.b64decode(raw, validate=True)}


def _decode(column: Column[Any], value: Any) -> Any:
    if not isinstance(value, dict) or len(value) != 1 or isinstance(column.type, JSON):
        return value
    ((tag, raw),) = value.items()
    decoder = _DECODERS.get(tag)
    if decoder is None:
        return value
    try:
        return decoder(raw)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"{column.table.name}.{column.name}: unreadable {tag} value {raw!r}") from exc


def _surrogate_key(table: Table) -> Column[Any] | None:
    """An integer key the database numbers and nothing refers to (usage rows, chunks, logs)."""
    pk = list(table.primary_key.columns)
    if len(pk) != 1 or not isinstance(pk[0].type, Integer) or pk[0].autoincrement is False:
        return None
    referenced = any(fk.column is pk[0] for t in Base.metadata.sorted_tables for fk in t.foreign_keys)
    return None if referenced else pk[0]


async def _snapshot(session: AsyncSession) -> None:
    """Read every table in one snapshot (call first thing on a fresh session): rows written while
    the export runs cannot tear it, and a child without its parent would refuse to import."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ",
                                                    "postgresql_readonly": True})
    else:  # SQLite holds a read snapshot from BEGIN until the transaction ends
        await session.execute(text("BEGIN"))


async def export_rows(session: AsyncSession, tenant_id: str) -> AsyncIterator[dict[str, Any]]:
    """The header (with the number of rows, so that a cut file is refused), then every row."""
    await _snapshot(session)
    t = Base.metadata.tables["tenants"]
    row = (await session.execute(select(t).where(t.c.id == tenant_id))).mappings().first()
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found")
    total = 1
    for table in tenant_tables():
        total += (await session.execute(select(func.count()).select_from(table)
                                        .where(table.c.tenant_id == tenant_id))).scalar_one()
    # Platform classes are not the tenant's; its estimates name them, and ids differ between
    # installations: the names let an import find the same class wherever it goes.
    rc = Base.metadata.tables["reference_classes"]
    platform = {i: n for i, n in (await session.execute(select(rc.c.id, rc.c.name).where(rc.c.tenant_id.is_(None))))}
    yield {"format": FORMAT, "tenant_id": tenant_id, "rows": total, "platform_classes": platform}
    yield {"table": "tenants", "row": {k: _encode(v) for k, v in row.items()}}
    for table in tenant_tables():
        result = await session.stream(select(table).where(table.c.tenant_id == tenant_id)
                                      .order_by(*table.primary_key.columns))
        async for r in result.mappings():
            yield {"table": table.name, "row": {k: _encode(v) for k, v in r.items()}}


async def export_tenant(session: AsyncSession, tenant_id: str, path: str,
                        progress: Callable[[str], None] | None = None) -> int:
    """Write the export next to `path`, then move it there: a failed export leaves no file."""
    n = 0
    part = Path(f"{path}.part")
    try:
        # The CLI is the only caller; nothing else runs on this loop while it writes.
        with part.open("w", encoding="utf-8") as fh:  # noqa: ASYNC230
            async for line in export_rows(session, tenant_id):
                fh.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                n += 1
                if progress and "table" in line:
                    progress(line["table"])
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)  # noqa: ASYNC240
    return n - 1


def _swap(value: Any, ids: dict[str, str]) -> Any:
    """value with every string equal to a key of ids replaced (dict keys too, at any depth)."""
    if isinstance(value, str):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_swap(v, ids) for v in value]
    if isinstance(value, dict):
        return {ids.get(k, k): _swap(v, ids) for k, v in value.items()}
    return value


def _mentions(value: Any, ids: dict[str, str]) -> Iterator[str]:
    """The keys of ids that appear as a whole string in value (dict keys too, at any depth)."""
    if isinstance(value, str):
        if value in ids:
            yield value
    elif isinstance(value, list):
        for v in value:
            yield from _mentions(v, ids)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _mentions(k, ids)
            yield from _mentions(v, ids)


async def _platform_ids(session: AsyncSession, named: dict[str, str], used: set[str]) -> dict[str, str]:
    """{exported id: id here} for the platform classes the tenant's rows refer to. A class this
    database lacks is seeded from the platform set, under the exported id when that is free."""
    from pricewise.estimation import priors
    from pricewise.estimation.classes_service import _from_spec

    rc = Base.metadata.tables["reference_classes"]
    live = {n: i for n, i in (await session.execute(select(rc.c.name, rc.c.id).where(
        rc.c.tenant_id.is_(None), rc.c.deleted_at.is_(None))))}
    specs = {s.name: s for s in priors.platform_classes()}
    out: dict[str, str] = {}
    for old in sorted(used):
        name = named[old]
        if name not in live:
            if name not in specs:
                raise ValueError(f"the export refers to the platform reference class {name!r}, "
                                 "which this installation does not have")
            taken = (await session.execute(select(rc.c.id).where(rc.c.id == old))).first()
            obj = _from_spec(specs[name], None)
            values = {c.name: getattr(obj, c.key) for c in rc.c if getattr(obj, c.key) is not None}
            values["id"] = new_id() if taken else old
            await session.execute(insert(rc), [values])  # Core: platform rows are not audited
            live[name] = values["id"]
        out[old] = live[name]
    return out


def _parse(lines: list[str]) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The header and the (table, row) pairs; a file cut short or garbled is refused."""
    if not lines:
        raise ValueError("empty export file")

    def load(i: int) -> Any:
        try:
            return json.loads(lines[i])
        except ValueError:
            raise ValueError(f"line {i + 1} is not valid JSON: the file is cut short or damaged") from None

    head = load(0)
    if not isinstance(head, dict) or head.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise ValueError(f"not a {FORMAT} file")
    items: list[tuple[str, dict[str, Any]]] = []
    for i in range(1, len(lines)):
        item = load(i)
        if not isinstance(item, dict) or not isinstance(item.get("table"), str) \
                or not isinstance(item.get("row"), dict):
            raise ValueError(f"line {i + 1} is not a row of an export")
        items.append((item["table"], item["row"]))
    return head, items


def _check_secrets(batch: dict[str, list[dict[str, Any]]], box: SecretBox) -> None:
    """Refuse secrets this installation's key ring cannot read: imported, they would be lost."""
    from pricewise.core.keyrotation import encrypted_models

    for model in encrypted_models():
        for row in batch.get(model.__tablename__, []):
            for col in sorted(model.__encrypted_fields__):
                if row.get(col) is None:
                    continue
                try:
                    box.decrypt(row[col], aad=row["id"])
                except CryptoError as exc:
                    raise ValueError(f"{model.__tablename__}.{col} of row {row['id']}: {exc}; import with the "
                                     "encryption keys of the exporting installation in the ring") from None


async def import_tenant(session: AsyncSession, lines: list[str], progress: Callable[[str], None] | None = None,
                        box: SecretBox | None = None) -> tuple[str, int]:
    """Load an export into this database, all or nothing (the caller commits). With `box`, every
    encrypted value must decrypt with it."""
    head, items = _parse(lines)
    tenant_id = head["tenant_id"]
    if (await session.execute(select(Tenant.id).where(Tenant.id == tenant_id))).first():
        raise Conflict(f"tenant {tenant_id} already exists here; purge it first or import elsewhere")
    owned = {"tenants", *(t.name for t in tenant_tables())}
    batch: dict[str, list[dict[str, Any]]] = {}
    for name, row in items:
        if name not in owned:
            raise ValueError(f"unknown table {name} in export")
        owner = row.get("id") if name == "tenants" else row.get("tenant_id")
        if owner != tenant_id:
            raise ValueError(f"row of another tenant in {name}")
        batch.setdefault(name, []).append(row)
    if head["format"] == FORMAT and head.get("rows") != len(items):
        raise ValueError(f"the file holds {len(items)} rows where its header says {head.get('rows')}: "
                         "it is cut short or damaged")
    if box is not None:
        _check_secrets(batch, box)
    named: dict[str, str] = head.get("platform_classes") or {}
    if named:
        used = {pid for rows in batch.values() for r in rows for pid in _mentions(r, named)}
        ids = {old: new for old, new in (await _platform_ids(session, named, used)).items() if old != new}
        if ids:
            batch = {name: [_swap(r, ids) for r in rows] for name, rows in batch.items()}
    count = 0
    for table in Base.metadata.sorted_tables:
        if table.name not in batch:
            continue
        cols = {c.name: c for c in table.c}
        rows = [{k: _decode(cols[k], v) for k, v in r.items() if k in cols} for r in batch[table.name]]
        key = _surrogate_key(table)
        renumber = key is not None and (await session.execute(select(key).limit(1))).first() is not None
        if renumber and key is not None:  # this database numbered rows of its own: it numbers these too
            rows = [{k: v for k, v in r.items() if k != key.name} for r in rows]
        for i in range(0, len(rows), 500):
            await session.execute(insert(table), rows[i:i + 500])
        if key is not None and not renumber and session.get_bind().dialect.name == "postgresql":
            # Rows came with their numbers: move the sequence past them, or the next insert collides.
            await session.execute(select(func.setval(func.pg_get_serial_sequence(table.name, key.name),
                                                     select(func.max(key)).scalar_subquery())))
        count += len(rows)
        if progress:
            progress(table.name)
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
