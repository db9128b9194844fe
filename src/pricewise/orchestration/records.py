"""Log rows, events and result rows of runs: written the same way by the engine and the API."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.core.base import utcnow
from pricewise.core.events import Event, emit
from pricewise.core.ids import new_id
from pricewise.core.schemas import _iso_z
from pricewise.orchestration.models import OrchestrationLog, OrchestrationResult, OrchestrationRun

TERMINAL = frozenset({"completed", "failed", "cancelled"})
RETRY_PREFIX = "Attempt "  # the message of a retry's log line; attempts are counted from them
LOGS = cast(Table, OrchestrationLog.__table__)
RESULTS = cast(Table, OrchestrationResult.__table__)


@dataclass(frozen=True)
class RunRef:
    """The identity of a run that every log row and event carries."""

    tenant_id: str
    run_id: str
    invocation_id: str
    product_id: str | None

    @classmethod
    def of(cls, run: OrchestrationRun | Any) -> RunRef:
        return cls(run.tenant_id, run.id, run.invocation_id, run.product_id)

    def data(self) -> dict[str, Any]:
        return {"invocation_id": self.invocation_id, "product_id": self.product_id, "run_id": self.run_id}


def progress(completed: int, total: int, current: str | None) -> dict[str, Any]:
    return {"completed_steps": completed, "total_steps": total, "current_step": current}


async def add_log(session: AsyncSession, ref: RunRef, level: str, message: str, step_name: str | None = None,
                  details: dict[str, Any] | None = None) -> None:
    """A log row, and its `orchestration_log` event (delivered once the transaction commits)."""
    now = utcnow()
    await (await session.connection()).execute(_LOG_INSERT, {
        "tenant_id": ref.tenant_id, "run_id": ref.run_id, "invocation_id": ref.invocation_id, "timestamp": now,
        "level": level, "message": message[:4000], "step_name": step_name,
        "details": jsonable(details) if details else None})
    emit(session, ref.tenant_id, "orchestration_log", {**ref.data(), "timestamp": _iso_z(now), "level": level,
                                                       "message": message, "step_name": step_name})


def updated(session: AsyncSession, ref: RunRef, status: str, completed: int, total: int,
            current: str | None) -> None:
    emit(session, ref.tenant_id, "orchestration_updated",
         {**ref.data(), "status": status, "progress": progress(completed, total, current)})


def updated_event(ref: RunRef, status: str, completed: int, total: int, current: str | None) -> Event:
    """The same event, for a change already committed outside a session."""
    return Event(ref.tenant_id, "orchestration_updated",
                 {**ref.data(), "status": status, "progress": progress(completed, total, current)})


def _result_insert(dialect: str, count_attempts: bool) -> Any:
    ins = pg_insert(RESULTS) if dialect == "postgresql" else sqlite_insert(RESULTS)
    if count_attempts:  # this attempt's number: one more than the retries logged for the step
        ins = ins.values(attempts=select(func.count() + 1).select_from(LOGS).where(
            LOGS.c.run_id == bindparam("a_run"), LOGS.c.step_name == bindparam("a_step"),
            LOGS.c.level == "WARNING", LOGS.c.message.like(f"{RETRY_PREFIX}%")).scalar_subquery())
    return ins.on_conflict_do_nothing(index_elements=["run_id", "step_order"])


# Built once: building a statement and its cache key costs more than running it.
_LOG_INSERT = LOGS.insert()
_RESULT_INSERTS = {(d, c): _result_insert(d, c) for d in ("postgresql", "sqlite") for c in (True, False)}


async def add_result(session: AsyncSession, ref: RunRef, *, name: str, order: int, step_input: dict[str, Any],
                     output: dict[str, Any], status: str, duration_ms: int, attempts: int | None = None) -> bool:
    """Insert the step's result unless one exists for (run, order): False when it did (then the
    caller rolls back, so the step's other writes are not kept twice). Without `attempts`, the
    attempt is counted from the retries logged for the step, in the same statement."""
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    params: dict[str, Any] = {
        "id": new_id(), "tenant_id": ref.tenant_id, "run_id": ref.run_id, "invocation_id": ref.invocation_id,
        "step_name": name, "step_order": order, "product_id": ref.product_id, "step_input": jsonable(step_input),
        "step_output": jsonable(output), "status": status, "duration_ms": duration_ms, "created_at": utcnow()}
    if attempts is None:
        params.update(a_run=ref.run_id, a_step=name)
    else:
        params["attempts"] = attempts
    result: Any = await (await session.connection()).execute(_RESULT_INSERTS[(dialect, attempts is None)], params)
    inserted = bool(result.rowcount)
    if inserted:
        emit(session, ref.tenant_id, "orchestration_step_completed",
             {**ref.data(), "step_name": name, "step_order": order, "status": status, "duration_ms": duration_ms})
    return inserted


def jsonable(value: Any) -> Any:
    """Step outputs as JSON both databases accept: numpy scalars as numbers, dates as ISO text,
    NaN and infinities (which JSON has not) as null."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _iso_z(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return jsonable(float(value))
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return jsonable(item())
    tolist = getattr(value, "tolist", None)  # numpy arrays
    if callable(tolist):
        return jsonable(tolist())
    return str(value)
