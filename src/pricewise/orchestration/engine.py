"""The run engine: one step per task invocation, persisted step by step.

`advance(run_id)` claims the run (a conditional UPDATE: status running and no live lease), runs
its next step under a lease it keeps renewing, and commits the step's own writes together with
its OrchestrationResult and the run's progress, on condition that it still holds the lease. The
result is unique per (run, step_order), so a completed step never runs again; whoever finds the
lease taken simply stops. The caller then queues the next invocation, so many runs interleave
step by step on few workers, and a worker that dies loses at most the step it was running: its
lease lapses and `recover` queues the run again, from its last completed step.

Between steps a run holds no worker and a longer lease (`queue_grace`), the time its queued task
may wait in the queue before `recover` assumes the task was lost and queues another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.core.base import utcnow
from pricewise.core.db import commit
from pricewise.core.errors import AppError
from pricewise.core.tenancy import system_scope
from pricewise.orchestration import workflows
from pricewise.orchestration.admission import admit, queue_grace
from pricewise.orchestration.models import OrchestrationLog, OrchestrationResult, OrchestrationRun
from pricewise.orchestration.records import (
    RETRY_PREFIX,
    RunRef,
    add_log,
    add_result,
    jsonable,
    updated,
    updated_event,
)
from pricewise.orchestration.workflows import PermanentStepError, PlannedStep, StepEnv, StepInput

log = logging.getLogger("pricewise.orchestration")
timing_log = logging.getLogger("pricewise.orchestration.timing")
RUNS = cast(Table, OrchestrationRun.__table__)
R = RUNS.c


@dataclass
class Outcome:
    """What the task does once the transaction is over: queue runs now, or one run later."""

    enqueue: list[str] = field(default_factory=list)
    later: tuple[str, float] | None = None
    step_ms: float | None = None  # the step function's own time, wall clock
    step_cpu_ms: float = 0.0  # and this thread's CPU time during it
    step_order: int | None = None


def worker_id() -> str:
    """Unique per claim: two threads of one process never mistake each other's lease for their own."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _lease(settings: Any) -> timedelta:
    return timedelta(seconds=settings.orchestration_lease_seconds)


async def _x(s: AsyncSession, stmt: Any) -> Any:
    """Core statements on the session's connection: the ORM's statement handling costs more
    than the round trip on these hot, simple statements."""
    return await (await s.connection()).execute(stmt)


_CLAIM = (update(RUNS).where(R.id == bindparam("rid"), R.status == "running",
                             or_(R.worker.is_(None), R.lease_until.is_(None), R.lease_until < bindparam("now")))
          .values(worker=bindparam("wid"), lease_until=bindparam("lease"))
          .returning(R.tenant_id, R.id, R.invocation_id, R.product_id, R.workflow_type, R.parameters, R.requested,
                     R.deadline_at, R.completed_steps, R.total_steps, R.started_at, R.current_step))
_OWNED = (R.id == bindparam("rid"), R.worker == bindparam("wid"), R.status == "running")
_STEP_DONE = update(RUNS).where(*_OWNED).values(
    completed_steps=bindparam("done"), current_step=bindparam("next"), worker=None, lease_until=bindparam("lease"))
_LAST_STEP_DONE = update(RUNS).where(*_OWNED).values(
    completed_steps=bindparam("done"), current_step=None, worker=None, lease_until=None, status="completed",
    completed_at=bindparam("now"))


async def _claim(ctx: Any, run_id: str, wid: str) -> Row[Any] | None:
    """One statement in autocommit: the run's row, if this worker now holds its lease."""
    now = utcnow()
    async with ctx.db.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        row: Row[Any] | None = (await auto.execute(_CLAIM, {
            "rid": run_id, "now": now, "wid": wid, "lease": now + _lease(ctx.settings)})).first()
    return row


async def advance(ctx: Any, run_id: str) -> Outcome:
    """Run the next step of a run, if this worker can claim it."""
    settings = ctx.settings
    workflows.load_modules(settings.orchestration_workflow_modules)
    wid = worker_id()
    run = await _claim(ctx, run_id, wid)
    if run is None:
        return Outcome()
    ref = RunRef.of(run)
    wf: workflows.Workflow | None = None
    with contextlib.suppress(AppError):
        wf = workflows.get(run.workflow_type)
    params = workflows.Parameters.model_validate(run.parameters)
    steps = workflows.plan(wf, params) if wf is not None else []
    order = run.completed_steps
    expired = run.deadline_at is not None and utcnow() >= run.deadline_at
    if (run.requested is None and not expired and wf is not None and order < len(steps)
            and not steps[order].skip_reason and run.current_step == steps[order].step.name):
        # The usual case: nothing to write before the step. Its start is an event, not a log row
        # (the progress says which step runs; its log line comes when it ends).
        await ctx.events.publish(updated_event(ref, "running", order, len(steps), steps[order].step.name))
    else:
        async with ctx.db.session() as s:
            if run.requested in ("cancel", "pause"):
                status = "cancelled" if run.requested == "cancel" else "paused"
                await _stop(s, ref, run, status, "Run cancelled" if status == "cancelled" else "Run paused")
                return await _done(ctx, s, then_admit=True)
            if expired:
                await _fail_run(s, ref, run, _timeout_message(settings), order)
                return await _done(ctx, s, then_admit=True)
            if wf is None:
                await _fail_run(s, ref, run, f"workflow {run.workflow_type} is not available on this worker", order)
                return await _done(ctx, s, then_admit=True)
            while order < len(steps) and steps[order].skip_reason:
                planned = steps[order]
                await add_result(s, ref, name=planned.step.name, order=order, step_input={"skipped": True},
                                 output={"skipped": True, "reason": planned.skip_reason}, status="skipped",
                                 attempts=0, duration_ms=0)
                await add_log(s, ref, "INFO", f"Skipped: {planned.skip_reason}", planned.step.name)
                order += 1
            if order >= len(steps):
                await _complete(s, ref, run, order)
                return await _done(ctx, s, then_admit=True)
            await _x(s, update(RUNS).where(R.id == run_id).values(completed_steps=order,
                                                                  current_step=steps[order].step.name))
            updated(s, ref, "running", order, len(steps), steps[order].step.name)
            await _done(ctx, s)
    planned = steps[order]
    inp = StepInput(run.id, run.invocation_id, run.tenant_id, run.product_id, run.workflow_type, params,
                    await _previous(ctx, ref, steps, planned), planned.order)
    return await _run_step(ctx, ref, run, wid, steps, planned, inp)


async def _done(ctx: Any, s: AsyncSession, outcome: Outcome | None = None, *, then_admit: bool = False) -> Outcome:
    """Commit, deliver the events, and when a slot was freed, start queued runs (after the
    commit: admission counts committed runs, and on SQLite this session holds the write lock)."""
    await commit(s)  # with its after-commit hooks: jobs a step queued (a report) start now
    await ctx.events.publish_all(s.info.pop("events", []))
    outcome = outcome or Outcome()
    if then_admit:
        outcome.enqueue += await admit(ctx)
    return outcome


async def _previous(ctx: Any, ref: RunRef, steps: list[PlannedStep], planned: PlannedStep) -> dict[str, Any]:
    if not planned.step.needs:
        return {}
    orders = {p.order: p.step.key for p in steps if p.step.key in planned.step.needs and p.order < planned.order}
    if not orders:
        return {}
    async with ctx.db.session() as s:
        rows = (await _x(s, select(OrchestrationResult.step_order, OrchestrationResult.step_output).where(
            OrchestrationResult.run_id == ref.run_id, OrchestrationResult.step_order.in_(list(orders)),
            OrchestrationResult.status == "completed"))).all()
    return {orders[o]: out for o, out in rows}


async def _renew(ctx: Any, run_id: str, wid: str) -> None:
    lease = _lease(ctx.settings)
    every = max(lease.total_seconds() / 3, 0.2)
    while True:
        await asyncio.sleep(every)
        try:
            async with ctx.db.session() as s:
                await _x(s, update(RUNS).where(R.id == run_id, R.worker == wid)
                                .values(lease_until=utcnow() + lease))
                await s.commit()
        except Exception as exc:  # the step goes on; its commit checks the lease anyway
            log.warning("could not renew the lease of run %s (%s)", run_id, type(exc).__name__)


async def _run_step(ctx: Any, ref: RunRef, run: Row[Any], wid: str, steps: list[PlannedStep],
                    planned: PlannedStep, inp: StepInput) -> Outcome:
    remaining = None
    if run.deadline_at is not None:
        remaining = max((run.deadline_at - utcnow()).total_seconds(), 0.001)
    renewer = asyncio.create_task(_renew(ctx, ref.run_id, wid))
    error: BaseException | None = None
    timed_out = False
    step_ms = step_cpu = 0.0
    try:
        async with ctx.db.session() as s:
            scope = await system_scope(s, ref.tenant_id, "system:orchestration")
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                output = await asyncio.wait_for(planned.step.fn(StepEnv(scope, ctx), inp), remaining)
            except TimeoutError as exc:
                error, timed_out = exc, True
            except Exception as exc:
                error = exc
            step_ms, step_cpu = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
            if error is not None:
                # A step cancelled by the timeout may leave its connection mid-statement: the
                # failure is recorded in a fresh session either way.
                with contextlib.suppress(Exception):
                    await s.rollback()
            else:
                outcome = await _record(ctx, s, ref, wid, steps, planned, inp, output, step_ms)
                outcome.step_ms, outcome.step_cpu_ms, outcome.step_order = step_ms, step_cpu, planned.order
                return outcome
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
    outcome = await _on_failure(ctx, ref, run, wid, planned, error, timed_out, step_ms)
    outcome.step_ms, outcome.step_cpu_ms, outcome.step_order = step_ms, step_cpu, planned.order
    return outcome


async def _record(ctx: Any, s: AsyncSession, ref: RunRef, wid: str, steps: list[PlannedStep], planned: PlannedStep,
                  inp: StepInput, output: Any, step_ms: float) -> Outcome:
    """Commit the step's writes, its result and the run's progress, if the lease is still ours."""
    settings = ctx.settings
    order, total = planned.order, len(steps)
    last = order + 1 == total
    now = utcnow()
    nxt = steps[order + 1].step.name if not last else None
    conn = await s.connection()
    params = {"rid": ref.run_id, "wid": wid, "done": order + 1}
    if last:
        res: Any = await conn.execute(_LAST_STEP_DONE, {**params, "now": now})
    else:
        res = await conn.execute(_STEP_DONE, {**params, "next": nxt, "lease": now + queue_grace(settings)})
    if res.rowcount != 1:
        await s.rollback()
        log.warning("run %s: lease lost while step %s ran; its work is discarded", ref.run_id, planned.step.name)
        return Outcome()
    duration = round(step_ms)
    if not await add_result(s, ref, name=planned.step.name, order=order, step_input=inp.recorded(),
                            output=output if isinstance(output, dict) else {"value": jsonable(output)},
                            status="completed", duration_ms=duration):
        await s.rollback()
        log.warning("run %s: step %s was already recorded; this run of it is discarded", ref.run_id, order)
        return Outcome()
    await add_log(s, ref, "INFO", f"Step completed: {planned.step.name} in {_took(step_ms)}", planned.step.name,
                  {"duration_ms": duration})
    if last:
        await add_log(s, ref, "INFO", f"Run completed: {total} step(s)")
        updated(s, ref, "completed", total, total, None)
        return await _done(ctx, s, then_admit=True)
    updated(s, ref, "running", order + 1, total, nxt)
    return await _done(ctx, s, Outcome(enqueue=[ref.run_id]))


async def _attempt(s: AsyncSession, ref: RunRef, planned: PlannedStep) -> int:
    """This attempt's number: one more than the retries logged for the step."""
    return int((await _x(s, select(func.count() + 1).select_from(OrchestrationLog).where(
        OrchestrationLog.run_id == ref.run_id, OrchestrationLog.step_name == planned.step.name,
        OrchestrationLog.level == "WARNING", OrchestrationLog.message.like(f"{RETRY_PREFIX}%")))).scalar_one())


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, AppError):
        return exc.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _timeout_message(settings: Any) -> str:
    return (f"timed out: the run exceeded ORCHESTRATION_TIMEOUT_MINUTES "
            f"({settings.orchestration_timeout_minutes:g} min)")


async def _on_failure(ctx: Any, ref: RunRef, run: Row[Any], wid: str, planned: PlannedStep,
                      exc: BaseException | None, timed_out: bool, step_ms: float) -> Outcome:
    settings = ctx.settings
    message = _timeout_message(settings) if timed_out or exc is None else _error_text(exc)
    if not timed_out and exc is not None and not isinstance(exc, AppError | PermanentStepError):
        log.warning("run %s step %s failed", ref.run_id, planned.step.name, exc_info=exc)
    async with ctx.db.session() as s:
        attempt = await _attempt(s, ref, planned)
        permanent = timed_out or isinstance(exc, AppError | PermanentStepError)
        if not permanent and attempt < settings.orchestration_max_attempts:
            delay = settings.orchestration_retry_seconds * 2 ** (attempt - 1)
            res: Any = await _x(s,
                update(RUNS).where(R.id == ref.run_id, R.worker == wid, R.status == "running")
                .values(worker=None, lease_until=utcnow() + timedelta(seconds=delay) + queue_grace(settings)))
            if res.rowcount != 1:
                return Outcome()
            await add_log(s, ref, "WARNING", f"{RETRY_PREFIX}{attempt} of {settings.orchestration_max_attempts} "
                          f"failed: {message}; retrying in {delay:g}s", planned.step.name,
                          {"attempt": attempt, "error": message, "retry_in_seconds": delay})
            return await _done(ctx, s, Outcome(later=(ref.run_id, delay)))
        res = await _x(s,
            update(RUNS).where(R.id == ref.run_id, R.worker == wid, R.status == "running")
            .values(status="failed", error=message, completed_at=utcnow(), worker=None, lease_until=None))
        if res.rowcount != 1:
            return Outcome()
        await add_result(s, ref, name=planned.step.name, order=planned.order, step_input={"attempts": attempt},
                         output={"error": message}, status="failed", attempts=attempt, duration_ms=round(step_ms))
        await add_log(s, ref, "ERROR", f"Step failed after {attempt} attempt(s): {message}", planned.step.name,
                      {"attempts": attempt, "error": message})
        await add_log(s, ref, "ERROR", f"Run failed: {message}")
        updated(s, ref, "failed", planned.order, run.total_steps, planned.step.name)
        return await _done(ctx, s, then_admit=True)


async def _stop(s: AsyncSession, ref: RunRef, run: Row[Any], status: str, message: str) -> None:
    values: dict[str, Any] = {"status": status, "worker": None, "lease_until": None, "requested": None}
    if status == "cancelled":
        values["completed_at"] = utcnow()
    await _x(s, update(RUNS).where(R.id == ref.run_id).values(**values))
    await add_log(s, ref, "WARNING" if status == "cancelled" else "INFO",
                  f"{message} after {run.completed_steps} of {run.total_steps} step(s)")
    updated(s, ref, status, run.completed_steps, run.total_steps, None)


async def _fail_run(s: AsyncSession, ref: RunRef, run: Row[Any], message: str, completed: int) -> None:
    await _x(s, update(RUNS).where(R.id == ref.run_id).values(
        status="failed", error=message, completed_at=utcnow(), worker=None, lease_until=None))
    await add_log(s, ref, "ERROR", f"Run failed: {message}")
    updated(s, ref, "failed", completed, run.total_steps, None)


async def _complete(s: AsyncSession, ref: RunRef, run: Row[Any], total: int) -> None:
    await _x(s, update(RUNS).where(R.id == ref.run_id).values(
        status="completed", completed_at=utcnow(), completed_steps=total, current_step=None, worker=None,
        lease_until=None))
    await add_log(s, ref, "INFO", f"Run completed: {total} step(s)")
    updated(s, ref, "completed", total, total, None)


def _took(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


async def recover(ctx: Any) -> list[str]:
    """Runs left 'running' with a lapsed lease (their worker died, or their queued task was lost):
    each is taken over by one conditional update, so concurrent sweeps queue it once."""
    now = utcnow()
    out: list[str] = []
    async with ctx.db.session() as s:
        rows = (await _x(s, select(R.id, R.tenant_id, R.invocation_id, R.product_id, R.worker,
                                       R.lease_until).where(
            R.status == "running", or_(R.lease_until.is_(None), R.lease_until < now)).limit(1000))).all()
        for r in rows:
            res: Any = await _x(s,
                update(RUNS).where(R.id == r.id, R.status == "running",
                                  or_(R.lease_until.is_(None), R.lease_until < now))
                .values(worker=None, lease_until=now + queue_grace(ctx.settings)))
            if res.rowcount == 1:
                out.append(r.id)
                who = f" (worker {r.worker} stopped)" if r.worker else ""
                await add_log(s, RunRef(r.tenant_id, r.id, r.invocation_id, r.product_id), "WARNING",
                              f"Resuming from the last completed step{who}", None,
                              {"lease_until": _iso(r.lease_until)})
        await s.commit()
        await ctx.events.publish_all(s.info.pop("events", []))
    if out:
        log.warning("resuming %d interrupted run(s)", len(out))
    return out + await admit(ctx)


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()
