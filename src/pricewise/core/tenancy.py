"""Who is calling, and the one place that scopes queries to their tenant.

A row of another tenant is not found (404), never forbidden, so ids leak nothing. On PostgreSQL
the session also switches to the restricted role with `app.tenant_id` set for the transaction,
so row-level security policies are a second wall behind this helper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Row, Select, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.core.base import Base, utcnow
from pricewise.core.errors import Forbidden, NotFound
from pricewise.core.ids import new_id

ROLE_RANK = {"viewer": 0, "analyst": 1, "admin": 2}
APP_ROLE = "pricewise_app"
_BIND_SQL = text("SELECT set_config('role', :r, true), set_config('app.tenant_id', :t, true)")
_TENANT_PARAM = "scope_tenant_id"
# For statements built once (hot paths): they compare tenant columns with TENANT, and only
# Scope.rows / Scope.scalar fill it, with the scope's own tenant.
TENANT: BindParameter[str] = bindparam(_TENANT_PARAM)

M = TypeVar("M", bound=Base)
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    role: str
    kind: str  # "user" | "api_key" | "local" | "widget"
    user_id: str | None = None
    api_key_id: str | None = None
    verified: bool = True
    tier: str = "trial"
    has_llm_key: bool = False  # the tenant stored an LLM key of its own (BYOK)

    @property
    def actor(self) -> str:
        if self.user_id:
            return f"user:{self.user_id}"
        if self.api_key_id:
            return f"api_key:{self.api_key_id}"
        return self.kind

    def at_least(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]

    def require(self, role: str, *, writes: bool = True) -> None:
        if not self.at_least(role):
            raise Forbidden(f"this action needs the {role} role; you have {self.role}")
        if writes and not self.verified:
            raise Forbidden("verify your e-mail address first: until then the account is read-only",
                            code="email_not_verified")


def mark_bound(session: AsyncSession, tenant_id: str) -> None:
    """Record that the current transaction already ran the RLS settings for tenant_id (the
    credential look-up selects them along with the key: one round trip for both)."""
    session.info["rls_bound"] = (tenant_id, session.sync_session.get_transaction())


async def bind(session: AsyncSession, principal: Principal) -> None:
    """Tie the session to a tenant: the audit actor and, on PostgreSQL, the RLS setting."""
    session.info["principal"] = principal
    bind_dialect = session.get_bind().dialect.name
    if bind_dialect == "postgresql":
        # SET LOCAL ends with the transaction: done already only if done in this very one.
        transaction = session.sync_session.get_transaction()
        if transaction is not None and session.info.get("rls_bound") == (principal.tenant_id, transaction):
            return
        # One round trip: set_config('role', ..., true) is SET LOCAL ROLE.
        await session.execute(_BIND_SQL, {"r": APP_ROLE, "t": principal.tenant_id})
        mark_bound(session, principal.tenant_id)


class Prepared:
    """A tenant-scoped select built once, for hot read paths: building a statement and its cache
    key costs more than running it. The tenant is a bound parameter that only Scope.rows fills,
    soft-deleted rows are left out unless asked, and rows come in creation order, as Scope.list."""

    __slots__ = ("stmt",)

    def __init__(self, model: type[Base], *columns: Any, where: Sequence[Any] = (),
                 include_deleted: bool = False) -> None:
        stmt = select(*columns).where(model.tenant_id == bindparam(_TENANT_PARAM))  # type: ignore[attr-defined]
        if not include_deleted and hasattr(model, "deleted_at"):
            stmt = stmt.where(model.deleted_at.is_(None))
        order = [c for c in (getattr(model, "created_at", None), model.id) if c is not None]  # type: ignore[attr-defined]
        self.stmt: Select[Any] = stmt.where(*where).order_by(*order)


class Scope:
    """Tenant-scoped access to tenant-owned models: every query of a feature goes through here."""

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.tenant_id = principal.tenant_id

    def select(self, model: type[M], *, include_deleted: bool = False) -> Select[M]:
        stmt = select(model).where(model.tenant_id == self.tenant_id)  # type: ignore[attr-defined]
        if not include_deleted and hasattr(model, "deleted_at"):
            stmt = stmt.where(model.deleted_at.is_(None))  # type: ignore[attr-defined]
        return stmt

    def select_shared(self, model: type[M], *, include_deleted: bool = False) -> Select[M]:
        """Rows of this tenant and the platform's own (tenant_id NULL), for models that have both."""
        tenant_col = model.tenant_id  # type: ignore[attr-defined]
        stmt = select(model).where((tenant_col == self.tenant_id) | tenant_col.is_(None))
        if not include_deleted and hasattr(model, "deleted_at"):
            stmt = stmt.where(model.deleted_at.is_(None))  # type: ignore[attr-defined]
        return stmt

    def where(self, stmt: S, model: type[Base]) -> S:
        """Scope an arbitrary select (joins, aggregates) on one of its models."""
        return stmt.where(model.tenant_id == self.tenant_id)  # type: ignore[attr-defined]

    async def get(self, model: type[M], id_: str, *, include_deleted: bool = False,
                  label: str | None = None) -> M:
        row = (await self.session.execute(
            self.select(model, include_deleted=include_deleted).where(model.id == id_)  # type: ignore[attr-defined]
        )).scalar_one_or_none()
        if row is None:
            raise NotFound(f"{label or model.__name__} {id_} not found")
        return row

    async def one(self, stmt: Select[Any], what: str) -> Any:
        """The one row a select of this scope finds, or NotFound naming `what`."""
        row = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"{what} not found")
        return row

    async def list(self, model: type[M], *filters: Any, order_by: Any = None, limit: int | None = None,
                   offset: int = 0, include_deleted: bool = False) -> Sequence[M]:
        stmt = self.select(model, include_deleted=include_deleted).where(*filters)
        if order_by is None:  # stable pages: creation time, then id
            order_by = getattr(model, "created_at", None)
        stmt = stmt.order_by(*[c for c in (order_by, model.id) if c is not None])  # type: ignore[attr-defined]
        if limit is not None:
            stmt = stmt.limit(limit).offset(offset)
        return (await self.session.execute(stmt)).scalars().all()

    async def rows(self, prepared: Prepared, **params: Any) -> Sequence[Row[Any]]:
        """Plain rows of a Prepared select for this tenant (no ORM objects: read-only use)."""
        conn = await self.session.connection()
        result = await conn.execute(prepared.stmt, {**params, _TENANT_PARAM: self.tenant_id})
        rows: Sequence[Row[Any]] = result.all()
        return rows

    async def scalar(self, stmt: Any, **params: Any) -> Any:
        """The scalar of a statement built once with TENANT, for this tenant."""
        conn = await self.session.connection()
        return (await conn.execute(stmt, {**params, _TENANT_PARAM: self.tenant_id})).scalar()

    async def count(self, model: type[M], *filters: Any, include_deleted: bool = False) -> int:
        stmt = self.select(model, include_deleted=include_deleted).where(*filters)
        return int((await self.session.execute(
            select(func.count()).select_from(stmt.subquery()))).scalar_one())

    def add(self, obj: M) -> M:
        obj.tenant_id = self.tenant_id  # type: ignore[attr-defined]
        if getattr(obj, "id", "") is None:  # known now, so callers need no flush (a write) for it
            obj.id = new_id()  # type: ignore[attr-defined]
        self.session.add(obj)
        return obj

    def soft_delete(self, obj: Base) -> None:
        obj.deleted_at = utcnow()  # type: ignore[attr-defined]


async def system_scope(session: AsyncSession, tenant_id: str, kind: str = "system") -> Scope:
    """The scope a background job works in for one tenant (audited as `kind`)."""
    principal = Principal(tenant_id=tenant_id, role="admin", kind=kind, verified=True)
    await bind(session, principal)
    return Scope(session, principal)
