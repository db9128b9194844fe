"""Audit rows written by the session itself, in the same flush as the change they record.

Hooking before_flush means no service can forget it: every insert, update, soft delete and
restore of an audited model gets a row with the actor, old and new values, secrets masked.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from pricewise.core.base import Base, utcnow
from pricewise.core.ids import new_id

MASK = "***"
_SKIP = {"created_at", "updated_at"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _values(obj: Base, keys: list[str] | None = None) -> dict[str, Any]:
    mapper = inspect(type(obj))
    out: dict[str, Any] = {}
    for col in mapper.column_attrs:
        if col.key in _SKIP or (keys is not None and col.key not in keys):
            continue
        v = getattr(obj, col.key)
        out[col.key] = MASK if (col.key in obj.__secret_fields__ and v is not None) else _plain(v)
    return out


def _actor(session: Session) -> tuple[str, str | None]:
    principal = session.info.get("principal")
    if principal is not None:
        return principal.actor, session.info.get("request_id")
    return session.info.get("actor", "system"), session.info.get("request_id")


def _tenant_of(obj: Base) -> str | None:
    if obj.__tablename__ == "tenants":
        return getattr(obj, "id", None)
    return getattr(obj, "tenant_id", None)


@event.listens_for(Session, "before_flush")
def _audit(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    from pricewise.accounts.models import AuditLog

    actor, request_id = _actor(session)
    rows: list[AuditLog] = []
    now = utcnow()
    for obj in list(session.new):
        if not isinstance(obj, Base) or not obj.__audited__:
            continue
        if getattr(obj, "id", None) is None and hasattr(obj, "id"):
            obj.id = new_id()
        rows.append(AuditLog(id=new_id(), tenant_id=_tenant_of(obj), actor=actor, action="create",
                             entity_type=type(obj).__name__, entity_id=str(obj.id),
                             new_values=_values(obj), request_id=request_id, created_at=now))
    for obj in list(session.dirty):
        if not isinstance(obj, Base) or not obj.__audited__ or not session.is_modified(obj):
            continue
        state = inspect(obj)
        old: dict[str, Any] = {}
        changed: list[str] = []
        for attr in state.mapper.column_attrs:
            hist = state.attrs[attr.key].history
            if not hist.has_changes() or attr.key in _SKIP:
                continue
            changed.append(attr.key)
            prev = hist.deleted[0] if hist.deleted else None
            old[attr.key] = MASK if (attr.key in obj.__secret_fields__ and prev is not None) else _plain(prev)
        if not changed:
            continue
        action = "update"
        if "deleted_at" in changed:
            action = "delete" if getattr(obj, "deleted_at", None) is not None else "restore"
        rows.append(AuditLog(id=new_id(), tenant_id=_tenant_of(obj), actor=actor, action=action,
                             entity_type=type(obj).__name__, entity_id=str(obj.id),  # type: ignore[attr-defined]
                             old_values=old, new_values=_values(obj, changed), request_id=request_id,
                             created_at=now))
    for obj in list(session.deleted):
        if not isinstance(obj, Base) or not obj.__audited__:
            continue
        rows.append(AuditLog(id=new_id(), tenant_id=_tenant_of(obj), actor=actor, action="purge",
                             entity_type=type(obj).__name__, entity_id=str(obj.id),  # type: ignore[attr-defined]
                             old_values=_values(obj), request_id=request_id, created_at=now))
    session.add_all(rows)


def record(session: Any, tenant_id: str, action: str, entity_type: str, entity_id: str,
           new_values: dict[str, Any]) -> None:
    """An explicit audit row, for writes done in bulk outside the ORM's unit of work."""
    from pricewise.accounts.models import AuditLog

    actor, request_id = _actor(session)
    session.add(AuditLog(id=new_id(), tenant_id=tenant_id, actor=actor, action=action, entity_type=entity_type,
                         entity_id=entity_id, created_at=utcnow(), new_values=new_values, request_id=request_id))
