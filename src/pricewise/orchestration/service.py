"""Runs as the API sees them: start, read, logs, and cancel / pause / resume requests.

A run starts "queued"; admission moves it to "running" when the tenant and the service have a
free slot. Requests on a running run are recorded in `requested` and seen by the engine between
steps; on a queued or paused run they take effect at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.catalog.models import Product
from pricewise.core import audit
from pricewise.core.base import utcnow
from pricewise.core.db import after_commit
from pricewise.core.errors import Conflict, NotFound, invalid
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope
from pricewise.orchestration import product_scope, workflows
from pricewise.orchestration.admission import admit
from pricewise.orchestration.models import OrchestrationLog, OrchestrationResult, OrchestrationRun
from pricewise.orchestration.records import TERMINAL, RunRef, add_log, progress, updated
from pricewise.orchestration.schemas import StartIn

log = logging.getLogger("pricewise.orchestration")
Run = OrchestrationRun
STATUSES = ("queued", "running", "paused", "completed", "failed", "cancelled")
# The client knows running | completed | failed | paused: a queued run is shown as running (it is
# under way, waiting for a slot), a cancelled one as failed (it did not complete).
UI_STATUS = {"queued": "running", "cancelled": "failed"}


async def _product(scope: Scope, product_id: str | None, wf: workflows.Workflow) -> str | None:
    if product_id:
        return (await scope.get(Product, product_id, label="product")).id
    if not wf.needs_product:
        return None
    rows = await scope.list(Product, limit=2)
    if len(rows) == 1:
        return rows[0].id
    raise invalid("product_id", "is required: the workspace has no product yet" if not rows else
                  "is required: the workspace has several products; say which one to analyse")


async def start(scope: Scope, ctx: Any, body: StartIn) -> dict[str, Any]:
    workflows.load_modules(ctx.settings.orchestration_workflow_modules)
    wf = workflows.get(body.workflow_type)
    params = workflows.parse_parameters(body.parameters)
    product_id = await _product(scope, body.product_id, wf)
    if params.target_segments:
        ids = await product_scope.resolve_targets(scope, product_id, params.target_segments)
        params = params.model_copy(update={"target_segments": ids})
    plan = workflows.plan(wf, params)
    first = next((p.step.name for p in plan if not p.skip_reason), None)
    run = scope.add(Run(invocation_id=str(uuid.uuid4()), workflow_type=wf.name, product_id=product_id,
                        parameters=params.model_dump(), status="queued", total_steps=len(plan), completed_steps=0,
                        current_step=first, created_by=scope.principal.actor))
    await scope.session.flush()
    ref = RunRef.of(run)
    skipped = [{"step": p.step.name, "reason": p.skip_reason} for p in plan if p.skip_reason]
    await add_log(scope.session, ref, "INFO", f"Run queued: {wf.title}, {len(plan)} step(s)"
                  + (f", {len(skipped)} skipped by its parameters" if skipped else ""), None,
                  {"parameters": params.model_dump(), "steps": [p.step.name for p in plan], "skipped": skipped})
    updated(scope.session, ref, "queued", 0, len(plan), first)
    session = scope.session
    after_commit(session, lambda: start_queued(ctx, session))
    return {"invocation_id": run.invocation_id, "status": "started",
            "message": await _start_message(scope, ctx, wf, len(plan))}


async def _start_message(scope: Scope, ctx: Any, wf: workflows.Workflow, steps: int) -> str:
    """Whether the run will start at once or wait for a slot, as far as can be told now."""
    settings = ctx.settings
    mine = await scope.count(Run, Run.status == "running")
    if mine >= settings.max_concurrent_orchestrations:
        return (f"{wf.title} queued: {mine} run(s) of this workspace are running (limit "
                f"{settings.max_concurrent_orchestrations}); it starts when one ends")
    async with ctx.db.session() as s:  # every tenant's runs: the service's own connection
        everyone = int((await s.execute(select(func.count()).select_from(Run).where(Run.status == "running")))
                       .scalar_one())
    if everyone >= settings.max_concurrent_orchestrations_total:
        return (f"{wf.title} queued: the service is running {everyone} run(s) (limit "
                f"{settings.max_concurrent_orchestrations_total}); it starts when one ends")
    return f"{wf.title} started: {steps} step(s)"


async def start_queued(ctx: Any, session: AsyncSession | None = None) -> None:
    """After the commit: start what the limits allow and queue the first step of each."""
    from pricewise.orchestration.tasks import advance_run

    if session is not None:  # the request's own events first: "queued" is heard before "running"
        await ctx.events.publish_all(session.info.pop("events", []))
    try:
        ids = await admit(ctx)
        for run_id in ids:
            await asyncio.to_thread(advance_run, run_id)  # the queue is file or network I/O
    except Exception as exc:  # the run is saved as queued: the minute sweep starts it
        log.warning("could not start queued runs now (%s)", type(exc).__name__)


async def get_run(scope: Scope, invocation_id: str) -> OrchestrationRun:
    row = (await scope.session.execute(scope.select(Run).where(Run.invocation_id == invocation_id))).scalar()
    if row is None:
        raise NotFound(f"run {invocation_id} not found")
    return row


async def _results(scope: Scope, run_ids: list[str]) -> dict[str, list[OrchestrationResult]]:
    out: dict[str, list[OrchestrationResult]] = {r: [] for r in run_ids}
    if run_ids:
        stmt = scope.select(OrchestrationResult).where(OrchestrationResult.run_id.in_(run_ids)).order_by(
            OrchestrationResult.run_id, OrchestrationResult.step_order)
        for r in (await scope.session.execute(stmt)).scalars():
            out[r.run_id].append(r)
    return out


def result_out(r: OrchestrationResult) -> dict[str, Any]:
    return {"_id": r.id, "invocation_id": r.invocation_id, "step_name": r.step_name, "step_order": r.step_order,
            "product_id": r.product_id, "step_input": r.step_input, "step_output": r.step_output,
            "created_at": _iso_z(r.created_at), "status": r.status, "attempts": r.attempts,
            "duration_ms": r.duration_ms}


def run_out(run: OrchestrationRun, results: Sequence[OrchestrationResult] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"_id": run.id, "invocation_id": run.invocation_id, "workflow_type": run.workflow_type,
           "product_id": run.product_id, "parameters": run.parameters, "status": run.status,
           "progress": progress(run.completed_steps, run.total_steps, run.current_step), "error": run.error,
           "requested": run.requested, "created_at": _iso_z(run.created_at), "started_at": _iso_z(run.started_at),
           "completed_at": _iso_z(run.completed_at), "deadline_at": _iso_z(run.deadline_at)}
    if results is not None:
        out["steps"] = [result_out(r) for r in results]
    return out


async def listing(scope: Scope, invocation_id: str | None, product_id: str | None, status: str | None, limit: int,
                  offset: int) -> tuple[list[dict[str, Any]], int]:
    filters = []
    if status is not None:
        if status not in STATUSES:
            raise invalid("status", f"must be one of {', '.join(STATUSES)}")
        filters.append(Run.status == status)
    if invocation_id:
        filters.append(Run.invocation_id == invocation_id)
    if product_id:
        filters.append(Run.product_id == product_id)
    rows = list(await scope.list(Run, *filters, order_by=Run.created_at.desc(), limit=limit, offset=offset))
    results = await _results(scope, [r.id for r in rows])
    return [run_out(r, results[r.id]) for r in rows], await scope.count(Run, *filters)


async def detail(scope: Scope, invocation_id: str) -> dict[str, Any]:
    run = await get_run(scope, invocation_id)
    return run_out(run, (await _results(scope, [run.id]))[run.id])


async def logs(scope: Scope, invocation_id: str, after: int | None, limit: int) -> tuple[OrchestrationRun,
                                                                                        list[OrchestrationLog]]:
    run = await get_run(scope, invocation_id)
    stmt = scope.select(OrchestrationLog).where(OrchestrationLog.run_id == run.id)
    if after is not None:
        stmt = stmt.where(OrchestrationLog.id > after)
    rows = list((await scope.session.execute(stmt.order_by(OrchestrationLog.id).limit(limit))).scalars())
    return run, rows


def log_out(row: OrchestrationLog) -> dict[str, Any]:
    return {"_id": str(row.id), "invocation_id": row.invocation_id, "timestamp": _iso_z(row.timestamp),
            "level": row.level, "message": row.message, "step_name": row.step_name, "details": row.details}


async def control(scope: Scope, ctx: Any, invocation_id: str, action: str) -> dict[str, Any]:
    """cancel | pause | resume, as transitions conditional on the status, so a request and the
    engine (or two requests) never both apply to the same state."""
    run = await get_run(scope, invocation_id)
    if run.status in TERMINAL:
        raise Conflict(f"run {invocation_id} is already {run.status}")
    if run.requested == "cancel" and action != "cancel":
        raise Conflict(f"run {invocation_id} is being cancelled")
    s, ref = scope.session, RunRef.of(run)

    async def move(frm: Sequence[str], **values: Any) -> bool:
        res: Any = await s.execute(update(Run).where(Run.id == run.id, Run.status.in_(list(frm)), *(
            [Run.requested.is_distinct_from("cancel")] if action != "cancel" else [])).values(**values)
            .execution_options(synchronize_session=False))
        return bool(res.rowcount)

    note: str | None = None
    if action == "cancel":
        if await move(("queued", "paused"), status="cancelled", completed_at=utcnow(), requested=None, worker=None,
                      lease_until=None):
            note = "Run cancelled"
        elif await move(("running",), requested="cancel"):
            note = "Cancellation requested: the run stops after its current step"
    elif action == "pause":
        if await move(("queued",), status="paused"):
            note = "Run paused"
        elif await move(("running",), requested="pause"):
            note = "Pause requested: the run pauses after its current step"
    else:
        if await move(("paused",), status="queued", requested=None):
            note = "Run resumed: queued for a free slot"
            session = s
            after_commit(s, lambda: start_queued(ctx, session))
        elif run.requested == "pause" and await move(("running",), requested=None):
            note = "Pause withdrawn"
    await s.refresh(run)
    if note:
        audit.record(s, scope.tenant_id, action, "OrchestrationRun", run.id, {"status": run.status,
                                                                             "requested": run.requested})
        await add_log(s, ref, "WARNING" if action == "cancel" else "INFO", note)
        updated(s, ref, run.status, run.completed_steps, run.total_steps, run.current_step)
    return run_out(run)


# --- the client's shapes (ui-client-contract.md) --------------------------------------------

def _duration(run: OrchestrationRun) -> str | None:
    if run.started_at is None:
        return None
    secs = max(int(((run.completed_at or utcnow()) - run.started_at).total_seconds()), 0)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s" if m else f"{s}s"


def _details(run: OrchestrationRun) -> str:
    done, total = run.completed_steps, run.total_steps
    if run.status == "running":
        return f"Step {min(done + 1, total)} of {total}: {run.current_step}" if run.current_step else \
            f"{done} of {total} step(s) done"
    return {"queued": f"Waiting for a free slot; {total} step(s) to run",
            "paused": f"Paused after {done} of {total} step(s)",
            "completed": f"{total} step(s) completed",
            "cancelled": f"Cancelled after {done} of {total} step(s)"}.get(run.status, run.error or "Failed")


async def historical(scope: Scope, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    rows = list(await scope.list(Run, order_by=Run.created_at.desc(), limit=limit, offset=offset))
    pids = list({r.product_id for r in rows if r.product_id})
    names: dict[str, str] = {}
    if pids:
        stmt = scope.select(Product).with_only_columns(Product.id, Product.name).where(Product.id.in_(pids))
        names = {pid: name for pid, name in (await scope.session.execute(stmt)).all()}
    out = []
    for r in rows:
        item: dict[str, Any] = {
            "_id": r.id, "invocation_id": r.invocation_id, "task_type": r.workflow_type,
            "task_name": workflows.title(r.workflow_type) + (f": {names[r.product_id]}" if r.product_id in names
                                                             else ""),
            "status": UI_STATUS.get(r.status, r.status), "started_at": _iso_z(r.started_at or r.created_at),
            "task_details": _details(r), "progress": progress(r.completed_steps, r.total_steps, r.current_step)}
        if r.completed_at is not None:
            item["completed_at"] = _iso_z(r.completed_at)
        if (d := _duration(r)) is not None:
            item["duration"] = d
        out.append(item)
    return out, await scope.count(Run)


async def run_logs(scope: Scope, invocation_id: str, limit: int) -> dict[str, Any]:
    run, rows = await logs(scope, invocation_id, None, limit)
    entries = []
    for row in rows:
        e: dict[str, Any] = {"timestamp": _iso_z(row.timestamp), "level": row.level, "message": row.message}
        if row.step_name:
            e["step_name"] = row.step_name
        if row.details:
            e["details"] = row.details
        entries.append(e)
    return {"invocation_id": run.invocation_id, "logs": entries, "status": UI_STATUS.get(run.status, run.status)}

