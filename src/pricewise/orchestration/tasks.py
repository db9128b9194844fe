"""Jobs of analysis runs: one `advance_run` per step, a sweep that resumes interrupted runs every
minute, and the same sweep when a worker starts (`pricewise worker`, or the consumer in `serve`)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from huey import crontab

from pricewise.core import jobs
from pricewise.core.jobs import huey
from pricewise.orchestration import engine

log = logging.getLogger("pricewise.orchestration.tasks")
T = TypeVar("T")


class _ThreadRunner:
    """An event loop and a database engine kept by one consumer thread across its tasks.

    core.jobs.run_async builds an engine per job, and its first connection costs 20 to 30 ms on
    PostgreSQL: more than everything else the engine does for a step. Steps are many and short,
    so each consumer thread keeps its own loop and engine (engines belong to one loop) for as long
    as it lives, and disposes of them when the consumer stops it."""

    def __init__(self, base: Any) -> None:
        from pricewise.core.db import Database
        from pricewise.core.events import EventBus

        self.base = base
        self.loop = asyncio.new_event_loop()
        events = EventBus(base.settings.redis_url) if base.settings.redis_url else base.events
        url = base.settings.database_url
        # PostgreSQL's asynchronous commit for the engine's own transactions: each stays atomic
        # and consistent, but a crash of the database server (not of a worker) within a fraction
        # of a second of a commit may lose it. A lost claim, or a lost step result together with
        # the step's own writes, leaves the run as it was before: it resumes and the step runs
        # again, still recorded once. Not waiting for the WAL flush is most of a step's
        # bookkeeping time on a busy disk.
        extra = {"connect_args": {"server_settings": {"synchronous_commit": "off"}}} if url.startswith(
            "postgresql") else {}
        self.ctx = dataclasses.replace(base, db=Database(url, **extra), events=events)

    def run(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        return self.loop.run_until_complete(fn(self.ctx))

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.ctx.db.dispose())
            if self.ctx.events is not self.base.events:
                self.loop.run_until_complete(self.ctx.events.stop())
        finally:
            self.loop.close()


_local = threading.local()


def run_kept(fn: Callable[[Any], Awaitable[T]]) -> T:
    base = jobs._job_context()  # the serving app's context when embedded, else the environment's
    runner: _ThreadRunner | None = getattr(_local, "runner", None)
    if runner is None or runner.base is not base:
        if runner is not None:
            runner.close()
        runner = _local.runner = _ThreadRunner(base)
    return runner.run(fn)


@huey.on_shutdown("orchestration_close")  # type: ignore[untyped-decorator]
def _close_runner() -> None:
    runner: _ThreadRunner | None = getattr(_local, "runner", None)
    _local.runner = None
    if runner is not None:
        runner.close()


def _queue(outcome: engine.Outcome) -> None:
    for run_id in outcome.enqueue:
        advance_run(run_id)
    if outcome.later is not None:
        run_id, delay = outcome.later
        advance_run.schedule(args=(run_id,), delay=delay)


@huey.task()  # type: ignore[untyped-decorator]
def advance_run(run_id: str) -> None:
    """Run the next step of a run (or finish it), then queue what comes next. Returns nothing, so
    huey keeps no result for it."""
    started, cpu = time.perf_counter(), time.thread_time()
    outcome = run_kept(lambda ctx: engine.advance(ctx, run_id))
    _queue(outcome)
    if outcome.step_ms is not None and engine.timing_log.isEnabledFor(logging.DEBUG):
        # The engine's own cost per step (claim, result, logs, events, queueing): what the bench reads.
        task_ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        engine.timing_log.debug("run %s step %s: task %.2f ms (cpu %.2f ms), step %.2f ms (cpu %.2f ms)", run_id,
                                outcome.step_order, task_ms, cpu_ms, outcome.step_ms, outcome.step_cpu_ms,
                                extra={"run_id": run_id, "step_order": outcome.step_order, "task_ms": task_ms,
                                       "task_cpu_ms": cpu_ms, "step_ms": outcome.step_ms,
                                       "step_cpu_ms": outcome.step_cpu_ms})


def resume_interrupted() -> int:
    ids = run_kept(engine.recover)
    _queue(engine.Outcome(enqueue=ids))
    return len(ids)


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def recover_runs() -> None:
    resume_interrupted()


@huey.on_startup("orchestration_resume")  # type: ignore[untyped-decorator]
def _resume_at_start() -> None:
    """Each consumer thread runs this as it starts; the sweep's conditional updates queue every
    interrupted run once however many threads sweep at the same time."""
    try:
        n = resume_interrupted()
    except Exception as exc:  # a worker without its database still consumes other jobs
        log.warning("could not look for interrupted runs at start-up (%s)", type(exc).__name__)
        return
    if n:
        log.info("queued %d run(s) at start-up", n)
